"""The GDB remote serial protocol's framing: ``$data#cs`` packets, ``+``/``-`` acks, and
the out-of-band interrupt byte ``\\x03`` (GDB manual, Appendix E "Overview").

One connection, one thread reading at a time: the stub reads commands while the guest is
stopped; while it runs, :class:`InterruptWatch` reads only to catch ``\\x03``.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable

INTERRUPT = 0x03


class Disconnected(Exception):
    """gdb closed the connection."""


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def escape(data: bytes) -> bytes:
    """Binary data escaped as the protocol asks (``}`` then byte ^ 0x20 for ``#$}*``)."""
    out = bytearray()
    for b in data:
        if b in b"#$}*":
            out += bytes([0x7D, b ^ 0x20])
        else:
            out.append(b)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    out = bytearray()
    it = iter(data)
    for b in it:
        out.append(next(it) ^ 0x20 if b == 0x7D else b)
    return bytes(out)


class Connection:
    """A gdb client on a TCP socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = bytearray()
        self.interrupted = False
        self.no_ack = False

    def _byte(self) -> int:
        if not self._buf:
            data = self.sock.recv(4096)
            if not data:
                raise Disconnected
            self._buf += data
        b = self._buf[0]
        del self._buf[0]
        return b

    def read_packet(self) -> bytes:
        """The next command (acks consumed, a stray ``\\x03`` noted as an interrupt)."""
        while True:
            b = self._byte()
            if b == INTERRUPT:
                self.interrupted = True
                return b"\x03"
            if b != ord("$"):
                continue
            data = bytearray()
            while (b := self._byte()) != ord("#"):
                data.append(b)
            cs = bytes([self._byte(), self._byte()])
            if not self.no_ack:
                ok = int(cs, 16) == checksum(bytes(data))
                self.sock.sendall(b"+" if ok else b"-")
                if not ok:
                    continue
            return bytes(data)

    def send(self, data: bytes) -> None:
        self.sock.sendall(b"$" + data + b"#" + b"%02x" % checksum(data))
        if self.no_ack:
            return
        while True:
            b = self._byte()
            if b == ord("+"):
                return
            if b == ord("-"):
                self.sock.sendall(b"$" + data + b"#" + b"%02x" % checksum(data))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class InterruptWatch:
    """While the guest runs: a thread waiting for gdb's ``\\x03``; ``on_interrupt`` is called
    from that thread (it must only request a stop)."""

    def __init__(self, conn: Connection, on_interrupt: Callable[[], None]) -> None:
        self.conn = conn
        self.on_interrupt = on_interrupt
        self._running = True
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        conn = self.conn
        while self._running:
            try:
                ready, _, _ = select.select([conn.sock], [], [], 0.05)
            except (OSError, ValueError):
                return
            if not ready or not self._running:
                continue
            try:
                data = conn.sock.recv(1, socket.MSG_PEEK)
            except OSError:
                return
            if not data:
                conn.interrupted = True  # gdb went away: stop the guest, the stub sees EOF
                self.on_interrupt()
                return
            if data[0] == INTERRUPT:
                conn.sock.recv(1)
                conn.interrupted = True
                self.on_interrupt()
                return
            return  # a packet: left for the stub to read once the guest stops

    def stop(self) -> None:
        self._running = False
        self._thread.join()


def listen(address: str) -> socket.socket:
    """A listening socket on ``[HOST:]PORT`` (host 127.0.0.1 by default)."""
    host, _, port = address.rpartition(":")
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host or "127.0.0.1", int(port)))
    srv.listen(1)
    return srv
