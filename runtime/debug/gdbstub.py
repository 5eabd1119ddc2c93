"""The gdb remote stub: the commands gdb sends, each a row of a table (GDB manual,
Appendix E "Packets"), served at the machine's stop points.

The machine calls :meth:`GdbStub.stop_point` before each ``emu_start`` (only when a
debugger is attached: nothing is added to a run without ``--gdb``); the stub decides
whether the guest stops there (the first instruction with ``--wait``, a breakpoint, the
end of a single step, gdb's Ctrl-C) and, if so, serves gdb until it resumes the guest.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from runtime.debug.rsp import Connection, Disconnected, InterruptWatch, escape, listen, unescape
from runtime.debug.target import REGISTERS, WATCH_NAMES, Target, target_xml

if TYPE_CHECKING:
    from runtime.pc.machine import Machine

SIGINT, SIGTRAP = 2, 5


class GdbStub:
    """One gdb connection serving one machine."""

    def __init__(self, address: str, wait: bool) -> None:
        self.address = address
        self.wait = wait
        self.server: socket.socket | None = listen(address)
        self.conn: Connection | None = None
        self.target: Target | None = None
        self._watch: InterruptWatch | None = None
        self._first = True
        self._resume: str | None = None
        self._commands: dict[str, Callable[[bytes], bytes | None]] = {
            "?": lambda _: self._stop_reply(SIGTRAP), "g": self._read_registers,
            "G": self._write_registers, "p": self._read_register, "P": self._write_register,
            "m": self._read_memory, "M": self._write_memory, "X": self._write_binary,
            "Z": self._insert, "z": self._remove, "c": self._continue, "s": self._step,
            "v": self._v, "q": self._query, "Q": self._set, "H": lambda _: b"OK",
            "T": lambda _: b"OK", "D": self._detach, "k": self._kill,
        }

    # --- attaching ---------------------------------------------------------------------
    def attach(self, machine: Machine, stop_at: int | None = None) -> None:
        """Bind to the machine; with ``--wait`` block until gdb connects. ``stop_at``: the
        first stop is at that guest instruction count (a replay's ``--stop-at``)."""
        self.target = Target(machine)
        machine.debugger = self
        if stop_at is not None:
            self._first = False
            self.target.stop_at = machine._debug_stop_at = stop_at
        sys.stderr.write(f"bt: gdb stub listening on {self.address}\n")
        if self.wait:
            self._accept()

    def _accept(self) -> None:
        assert self.server is not None
        sock, _ = self.server.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = Connection(sock)

    def _request_stop(self) -> None:
        assert self.target is not None
        self.target.m._request_stop()

    # --- the machine's stop points -----------------------------------------------------
    def stop_point(self) -> None:
        """Called by the machine between two ``emu_start``: stop here for gdb or go on."""
        t = self.target
        if t is None or self.conn is None:
            if self.server is not None and not self.wait:
                self._poll_accept()
            if self.conn is None:
                return
        assert t is not None
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        if self._first:
            self._first = False
            signal = SIGTRAP
        elif self.conn.interrupted:
            self.conn.interrupted = False
            signal = SIGINT
        elif t.watch_hit is not None:
            signal = SIGTRAP
        elif t.hit is not None or t.stepped():
            signal = SIGTRAP
        else:
            self._run_on()
            return
        if self._resume is not None:  # a resume command is answered by this stop
            self._send(self._stop_reply(signal))
        self._serve()

    def _poll_accept(self) -> None:
        assert self.server is not None
        self.server.setblocking(False)
        try:
            self._accept()
        except BlockingIOError:
            return
        finally:
            self.server.setblocking(True)
        self._first = True

    def _run_on(self) -> None:
        assert self.conn is not None
        self._watch = InterruptWatch(self.conn, self._request_stop)

    def finished(self, exit_status: int | None) -> None:
        """The run ended: tell gdb (``W`` exit status) and close."""
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        if self.conn is not None:
            try:
                self._send(b"W%02x" % ((exit_status or 0) & 0xFF))
            except (OSError, Disconnected):
                pass
            self.conn.close()
            self.conn = None
        if self.server is not None:
            self.server.close()
            self.server = None

    # --- serving gdb while the guest is stopped ----------------------------------------
    def _send(self, data: bytes) -> None:
        assert self.conn is not None
        self.conn.send(data)

    def _serve(self) -> None:
        """Answer gdb until a command resumes the guest."""
        assert self.conn is not None and self.target is not None
        self._resume = None
        try:
            while self._resume is None:
                packet = self.conn.read_packet()
                if packet == b"\x03":
                    self._send(self._stop_reply(SIGINT))
                    continue
                handler = self._commands.get(chr(packet[0])) if packet else None
                reply = handler(packet[1:]) if handler is not None else b""
                if reply is not None:
                    self._send(reply)
        except (Disconnected, OSError):
            self._drop()
            return
        if self._resume == "detach":
            self._drop()
            return
        self.target.resume(step=self._resume == "step")
        self._run_on()

    def _drop(self) -> None:
        """gdb left (detach or a closed connection): the guest runs on without it."""
        assert self.conn is not None and self.target is not None
        self.conn.close()
        self.conn = None
        for bp in list(self.target.breakpoints):
            self.target.remove_breakpoint(bp)
        for wp in list(self.target.watchpoints):
            self.target.remove_watchpoint(*wp)
        self.target.resume(step=False)
        self.server = None if self.server is None else self.server

    def _stop_reply(self, signal: int) -> bytes:
        t = self.target
        assert t is not None
        extra = b"swbreak:;" if signal == SIGTRAP and t.hit is not None else b""
        if signal == SIGTRAP and t.watch_hit is not None:
            kind, addr = t.watch_hit
            extra = b"%s:%x;" % (WATCH_NAMES[kind].encode(), addr)
        return b"T%02xthread:01;%s" % (signal, extra)

    # --- registers -------------------------------------------------------------------------
    def _encode(self, regs: dict[str, int], name: str, size: int) -> bytes:
        value = regs.get(name, 0)
        return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little").hex().encode()

    def _read_registers(self, _: bytes) -> bytes:
        assert self.target is not None
        regs = self.target.registers()
        return b"".join(self._encode(regs, n, s) for n, s in REGISTERS)

    def _write_registers(self, args: bytes) -> bytes:
        assert self.target is not None
        data = bytes.fromhex(args.decode())
        regs = self.target.registers()
        at = 0
        for name, size in REGISTERS:
            value = int.from_bytes(data[at:at + size], "little")
            at += size
            if size == 4 and regs.get(name) != value and at <= len(data):
                self.target.set_register(name, value)
        return b"OK"

    def _read_register(self, args: bytes) -> bytes:
        assert self.target is not None
        n = int(args, 16)
        if n >= len(REGISTERS):
            return b"E01"
        name, size = REGISTERS[n]
        return self._encode(self.target.registers(), name, size)

    def _write_register(self, args: bytes) -> bytes:
        assert self.target is not None
        num, _, value = args.partition(b"=")
        n = int(num, 16)
        if n >= len(REGISTERS):
            return b"E01"
        name, size = REGISTERS[n]
        v = int.from_bytes(bytes.fromhex(value.decode()), "little")
        return b"OK" if size != 4 or self.target.set_register(name, v) else b"E01"

    # --- memory ------------------------------------------------------------------------
    def _read_memory(self, args: bytes) -> bytes:
        assert self.target is not None
        addr, _, length = args.partition(b",")
        try:
            return self.target.read(int(addr, 16), int(length, 16)).hex().encode()
        except Exception:  # noqa: BLE001 - a page the guest has not mapped: gdb's E reply
            return b"E14"

    def _write(self, addr: int, data: bytes) -> bytes:
        assert self.target is not None
        try:
            self.target.write(addr, data)
        except Exception:  # noqa: BLE001 - an unmapped page
            return b"E14"
        return b"OK"

    def _write_memory(self, args: bytes) -> bytes:
        where, _, hexdata = args.partition(b":")
        addr, _, _length = where.partition(b",")
        return self._write(int(addr, 16), bytes.fromhex(hexdata.decode()))

    def _write_binary(self, args: bytes) -> bytes:
        where, _, data = args.partition(b":")
        addr, _, length = where.partition(b",")
        if int(length, 16) == 0:
            return b"OK"
        return self._write(int(addr, 16), unescape(data))

    # --- breakpoints -------------------------------------------------------------------
    def _insert(self, args: bytes) -> bytes:
        assert self.target is not None
        kind, addr, length = args.split(b",", 2)
        if kind in (b"2", b"3", b"4"):
            self.target.add_watchpoint(int(kind), int(addr, 16), int(length.split(b";")[0], 16))
            return b"OK"
        if kind not in (b"0", b"1"):
            return b""
        self.target.add_breakpoint(int(addr, 16))
        return b"OK"

    def _remove(self, args: bytes) -> bytes:
        assert self.target is not None
        kind, addr, length = args.split(b",", 2)
        if kind in (b"2", b"3", b"4"):
            self.target.remove_watchpoint(int(kind), int(addr, 16), int(length.split(b";")[0], 16))
            return b"OK"
        if kind not in (b"0", b"1"):
            return b""
        self.target.remove_breakpoint(int(addr, 16))
        return b"OK"

    # --- running -----------------------------------------------------------------------
    def _continue(self, args: bytes) -> None:
        if args:
            self.target.set_register("eip", int(args, 16))  # type: ignore[union-attr]
        self._resume = "continue"

    def _step(self, args: bytes) -> None:
        if args:
            self.target.set_register("eip", int(args, 16))  # type: ignore[union-attr]
        self._resume = "step"

    def _v(self, args: bytes) -> bytes | None:
        if args == b"Cont?":
            return b"vCont;c;C;s;S"
        if args.startswith(b"Cont;"):
            action = args[5:6]
            self._resume = "step" if action in (b"s", b"S") else "continue"
            return None
        if args.startswith(b"Kill"):
            self._kill(b"")
            return b"OK"
        return b""

    def _detach(self, _: bytes) -> bytes:
        self._send(b"OK")
        self._resume = "detach"
        return None  # type: ignore[return-value]

    def _kill(self, _: bytes) -> None:
        from runtime.pc.runloop import StopRun
        from runtime.report import Outcome

        if self.conn is not None:
            self.conn.close()
            self.conn = None
        raise StopRun(Outcome.INSN_LIMIT, "killed by gdb")

    # --- queries -------------------------------------------------------------------------
    def _query(self, args: bytes) -> bytes:
        if args.startswith(b"Supported"):
            return b"PacketSize=4000;qXfer:features:read+;swbreak+;QStartNoAckMode+;vContSupported+"
        if args.startswith(b"Xfer:features:read:target.xml:"):
            offset, _, length = args.split(b":")[-1].partition(b",")
            xml = target_xml().encode()
            off, n = int(offset, 16), int(length, 16)
            chunk = xml[off:off + n]
            return (b"m" if off + n < len(xml) else b"l") + escape(chunk)
        if args in (b"Attached",):
            return b"1"
        if args == b"C":
            return b"QC01"
        if args in (b"fThreadInfo",):
            return b"m01"
        if args in (b"sThreadInfo",):
            return b"l"
        if args.startswith(b"Rcmd,"):
            return self._monitor(bytes.fromhex(args[5:].decode()).decode(errors="replace"))
        return b""

    def _set(self, args: bytes) -> bytes:
        if args == b"StartNoAckMode":
            self._send(b"OK")
            assert self.conn is not None
            self.conn.no_ack = True
            return None  # type: ignore[return-value]
        return b""

    def _monitor(self, command: str) -> bytes:
        """``monitor CMD``: ``info jit`` (the translator's counters), ``tb ADDR`` (a
        translation beside its guest code), ``info registers`` (the guest's view)."""
        from runtime.debug.monitor_cmds import run_command

        assert self.target is not None
        text = run_command(self.target, command)
        return text.encode().hex().encode()
