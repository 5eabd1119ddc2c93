"""Port I/O on the bare machine: the IN/OUT hooks, their permission check and their timing.

Unicorn calls the IN/OUT hooks without the protected-mode I/O check (SDM
vol 1, 19.5) and without an exact EIP: this module checks CPL against IOPL
and the TSS I/O permission bitmap (a denied access is #GP(0) once the
engine stops), finds the instruction a hook runs for, gives a device the
exact instruction count in deterministic mode, and pulls the engine's stop
point forward when an access moves a device deadline.

A mixin of :class:`runtime.pc.machine.Machine`; its hooks run inside
``emu_start`` and never raise into C.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from capstone import CS_ARCH_X86, CS_MODE_16, CS_MODE_32, Cs
from unicorn import Uc
from unicorn import x86_const as X

from runtime.pc.clock import InsnClock
from runtime.pc.cpustate import SEG_CS, SEG_TR, SegCache
from runtime.pc.paging import PageFault, PhysicalAccessError
from runtime.pc.runloop import EXACT_WINDOW
from runtime.pc.x86 import IOPL_SHIFT

_CS = Cs(CS_ARCH_X86, CS_MODE_32)
_CS16 = Cs(CS_ARCH_X86, CS_MODE_16)  # for a code segment with D clear: never decoded as 32-bit
_PORT_IO = frozenset({"in", "out"})
_STRING_IO = frozenset({"insb", "insw", "insd", "outsb", "outsw", "outsd"})


def io_bitmap_allows(read: Callable[[int, int], bytes], tss_base: int, tss_limit: int,
                     port: int, size: int) -> bool:
    """The TSS's I/O permission bitmap clears bits ``port`` .. ``port + size - 1`` (SDM vol 1,
    19.5.2; a 32-bit TSS shorter than 0x68 bytes, or a map past the TSS limit, denies).
    ``read(linear, n)`` reads guest memory; a fault while reading it denies too. The bare
    machine and the monitor's I/O callouts both decide with it."""
    try:
        if tss_limit < 0x67:
            return False
        base_off = struct.unpack("<H", read(tss_base + 0x66, 2))[0]
        byte = base_off + port // 8
        if byte + 1 > tss_limit:
            return False
        bits = struct.unpack("<H", read(tss_base + byte, 2))[0] >> (port % 8)
        return bits & ((1 << size) - 1) == 0
    except (PageFault, PhysicalAccessError):
        return False


class PortIO:
    """The port-I/O hooks of the bare machine and what they need."""

    def _io_allowed(self, port: int, size: int) -> bool:
        """The protected-mode I/O check unicorn skips (SDM vol 1, 19.5): CPL <= IOPL or the TSS bitmap."""
        self.cpu.load()
        cpl = self.cpu.cpl
        iopl = (self.cpu.reg(X.UC_X86_REG_EFLAGS) >> IOPL_SHIFT) & 3
        if cpl <= iopl:
            return True
        tr = self._task_register()
        return io_bitmap_allows(self.mem.read, tr.base, tr.limit, port, size)

    def _io_insn(self, port: int) -> tuple[int, int]:
        """(EIP, length) of the IN/OUT whose hook is running.

        Unicorn does not always sync EIP before an I/O hook in a block: it may
        still hold the start of the block, or an older value (measured: ``mov
        eax, [esp+4]; out 0xf4, eax`` reports the mov). With the per-instruction
        hook installed EIP is exact; otherwise the instruction is found by its
        rank: the n-th I/O hook since the block hook ran is the block's n-th
        I/O instruction (a rep ins/outs calls the hook once per element).
        """
        if self._io_here is not None:  # asked again within the same hook call
            return self._io_here
        self._io_here = self._locate_io_insn()
        return self._io_here

    def _locate_io_insn(self) -> tuple[int, int]:
        eip = self.cpu.reg(X.UC_X86_REG_EIP)
        s = self.counter.state
        if self.counter.exact:
            return eip, self._insn_length(eip)
        if s.blocks != self._io_mark:
            self._io_mark, self._io_rank = s.blocks, 0
        self.cpu.load()
        cs_base = self.cpu.seg(SEG_CS).base
        found = self._block_io(s.block_start, s.block_size)
        if self._io_rank < len(found):
            linear, size, repeats = found[self._io_rank]
            if not repeats:
                self._io_rank += 1
            return (linear - cs_base) & 0xFFFFFFFF, size
        return eip, self._insn_length(eip)

    def _block_io(self, start: int, size: int) -> list[tuple[int, int, bool]]:
        """The I/O instructions of the unicorn block at linear ``start`` (cached while its
        bytes stay the same): (linear address, length, repeated string instruction)."""
        try:
            code = self.read_linear(start, size)
        except (PageFault, PhysicalAccessError):
            return []
        code16 = self._code16()
        cached = self._io_blocks.get((start, size, code16))
        if cached is not None and cached[0] == code:
            return cached[1]
        found = []
        for addr, length, mnemonic, _ in (_CS16 if code16 else _CS).disasm_lite(code, start):
            if mnemonic in _PORT_IO:
                found.append((addr, length, False))
            elif mnemonic in _STRING_IO or mnemonic.split(" ")[-1] in _STRING_IO:
                found.append((addr, length, mnemonic.startswith("rep")))
        self._io_blocks[(start, size, code16)] = (code, found)
        return found

    def _insn_length(self, eip: int) -> int:
        try:
            decoder = _CS16 if self._code16() else _CS
            return next(decoder.disasm_lite(self._read_code(eip, 15), eip, 1))[1]
        except (PageFault, PhysicalAccessError, StopIteration):
            return 1

    def _clock_to_io(self, port: int) -> int | None:
        """In deterministic mode, let devices see the exact count at the I/O instruction.

        The block hook charges a whole unicorn block when it starts; a device
        access in the middle of it would see time that has not passed yet. For
        the access the count becomes the instructions retired before the I/O
        instruction plus the instruction itself (what the monitor's callouts
        see); returns the block's charge for :meth:`_clock_back`, or None.
        """
        s = self.counter.state
        if not self._insn_clock or self.counter.exact:
            return None
        charged = s.insns
        eip, _ = self._io_insn(port)  # loads the blob
        linear = (eip + self.cpu.seg(SEG_CS).base) & 0xFFFFFFFF  # hooks see linear addresses
        if s.block_start <= linear < s.block_start + s.block_size:
            offs = self.counter.offsets(s.block_start, s.block_size)
            s.insns = charged - s.block_insns + sum(1 for o in offs if s.block_start + o <= linear)
        return charged

    def _clock_back(self, charged: int | None) -> None:
        if charged is not None:
            self.counter.state.insns = charged

    def _task_register(self) -> SegCache:
        """The TR cache the guest believes in (the I/O permission bitmap lives in its TSS)."""
        return self.cpu.seg(SEG_TR)

    def _deny_io(self, port: int) -> None:
        """#GP(0) for a forbidden IN/OUT; delivered once the engine stops (end of the block)."""
        self.stats.io_denied += 1
        eip, _ = self._io_insn(port)
        self._io_fault = (self.uc.context_save(), eip)
        self.uc.emu_stop()

    def _on_in(self, uc: Uc, port: int, size: int, _data: object) -> int:
        if self._io_fault is not None:  # after a denied I/O in this block: see _on_intr
            return 0
        self._io_here = None
        try:
            if not self._io_allowed(port, size):
                self._deny_io(port)
                return 0
            charged = self._clock_to_io(port)
            value = None
            if self.bus.has_string_access(port) and uc.reg_read(X.UC_X86_REG_ECX) > 1:
                # perhaps a rep ins from a data buffer (the IDE data port): one batch
                value = self.string_io.rep_in(*self._io_insn(port), port, size)
            if value is None:
                value = self.bus.read(port, size)
            self._clock_back(charged)
            self.counter.state.insns += self.string_io.take_owed()
            if self.pic.pending():
                self._request_stop()  # not uc.emu_stop(): see _request_stop
            else:
                self._retarget()
            return value
        except BaseException as exc:  # noqa: BLE001
            self._hook_error = exc
            uc.emu_stop()
            return 0

    def _on_out(self, uc: Uc, port: int, size: int, value: int, _data: object) -> None:
        if self._io_fault is not None:  # after a denied I/O in this block: see _on_intr
            return
        self._io_here = None
        try:
            if not self._io_allowed(port, size):
                self._deny_io(port)
                return
            charged = self._clock_to_io(port)
            if not (self.bus.has_string_access(port)  # perhaps a rep outs: one batch
                    and uc.reg_read(X.UC_X86_REG_ECX) > 1
                    and self.string_io.rep_out(*self._io_insn(port), port, size, value)):
                self.bus.write(port, size, value)
            self._clock_back(charged)
            self.counter.state.insns += self.string_io.take_owed()
            if self._exit_value is not None and self._exit_at is None:
                self._exit_at = self._exact_stop_after_io(port)
            if self.pic.pending():
                self._request_stop()  # not uc.emu_stop(): see _request_stop
            else:
                self._retarget()
        except BaseException as exc:  # noqa: BLE001
            self._hook_error = exc
            uc.emu_stop()

    def _exact_stop_after_io(self, port: int) -> tuple[object, int, int]:
        """Where the guest stands right after the OUT that ended it: (context, EIP, count).

        The OUT hook cannot stop the rest of its unicorn block (a unicorn
        defect, see the notes), so the machine keeps the state at the
        instruction and puts it back when the run ends, as the guest (and
        qemu's isa-debug-exit) would have it.
        """
        eip, size = self._io_insn(port)
        s = self.counter.state
        insns = s.insns
        if not self.counter.exact and s.block_start <= eip < s.block_start + s.block_size:
            offs = self.counter.offsets(s.block_start, s.block_size)
            insns = s.insns - s.block_insns + sum(1 for o in offs if s.block_start + o <= eip)
        return self.uc.context_save(), (eip + size) & 0xFFFFFFFF, insns

    def _retarget(self) -> None:
        """A port access may have moved a device deadline earlier (a PIT reprogrammed):
        pull the running engine's stop point forward (the C hook reads it live)."""
        nxt = self.bus.next_event_ns()
        if nxt is None or nxt >= self._armed_deadline_ns:
            return
        self._armed_deadline_ns = nxt
        if isinstance(self.clock, InsnClock):
            target = self.counter.insns + self.clock.insns_until(nxt)
            st = self.counter.state
            st.stop_at = min(st.stop_at, max(self.counter.insns, target - EXACT_WINDOW))
        elif self._watchdog is not None:
            self._watchdog.arm(self._watchdog_deadline(nxt))
