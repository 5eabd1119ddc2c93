"""The host end of the paravirtual channel between the guest kernel and ``bt``.

The guest kernel (``runtime/linux/kernel``) reaches the host only for what a
guest cannot have: the host's files (read only), the console streams, the
wall clock, random bytes, the program's image, arguments and environment, and
its exit status. Everything else, system calls included, runs in the guest.

Protocol: a *request block* in guest physical memory (``struct hostreq`` in
``kernel/kernel.h``)::

    0   u32 op          an operation of OPS below
    4   s32 ret         written by the host: >= 0, or -errno (Linux values)
    8   u32 a[6]        arguments; some operations write results back here
    32  u32 nseg        number of buffer segments that follow (at most 64)
    36  {u32 phys, u32 len} seg[nseg]   guest physical buffers

The guest writes the block's physical address to port 0x500 with one 32-bit
OUT (``port_map`` below names it ``linux-channel``). The host serves the
whole request inside that OUT: it reads the block, reads or writes the
segments directly in guest RAM (one ``mem_read``/``mem_write`` per segment,
never a word per port access) and writes ``ret`` and ``a[]`` back. One exit
per request: a 64 KiB ``read()`` of a host file is one exit, with the data
scattered straight into the process's own frames.

Which segments are inputs and which outputs is per operation (the table's
docstrings). Writes into guest RAM go through the machine's guest-memory
writer, so that the monitor sees them as it sees its own.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import termios
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from runtime import sigint
from runtime.linux.hostfs import FsError, HostFs
from runtime.pc.devices.base import Device
from runtime.pc.paging import GuestMemory

PORT = 0x500
HEADER = struct.Struct("<Ii6II")
SEG = struct.Struct("<II")
MAX_SEGS = 64


@dataclass
class Request:
    """One decoded request: its operation, arguments and buffers."""

    addr: int
    op: int
    args: list[int]
    segs: list[tuple[int, int]]
    out: list[int] = field(default_factory=list)  # a[] written back when set


@dataclass
class Program:
    """What the guest kernel runs: the guest path of the image, argv, envp, ids."""

    path: str
    argv: list[bytes]
    envp: list[bytes]
    uid: int = 0
    gid: int = 0


class HostChannel(Device):
    """The ``linux-channel`` device: port 0x500, one request per 32-bit OUT."""

    name = "linux-channel"
    ports = (range(PORT, PORT + 4),)

    def __init__(self, mem: GuestMemory, program: Program, fs: HostFs,
                 stdout: BinaryIO | None, stderr: BinaryIO | None, stdin: BinaryIO | None,
                 log: BinaryIO | None = None) -> None:
        self.mem = mem
        self.program = program
        self.fs = fs
        self.streams: dict[int, BinaryIO | None] = {1: stdout, 2: stderr}
        self.stdin = stdin
        self.log = log if log is not None else stderr
        self.exit_status: int | None = None
        self.syscalls: list[int] = []
        self.implemented: list[int] = []
        self.far_syscalls: dict[int, int] = {}
        self.panicked = False
        self.requests: Counter[str] = Counter()
        self.captured: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
        self.capture = False

    # --- the port --------------------------------------------------------------------
    def io_write(self, port: int, size: int, value: int) -> None:
        if port != PORT or size != 4:
            return
        head = self.mem.read_phys(value, HEADER.size)
        op, _ret, *rest = HEADER.unpack(head)
        args, nseg = list(rest[:6]), min(rest[6], MAX_SEGS)
        raw = self.mem.read_phys(value + HEADER.size, nseg * SEG.size) if nseg else b""
        segs = [SEG.unpack_from(raw, i * SEG.size) for i in range(nseg)]
        req = Request(value, op, args, segs)
        row = OPS.get(op)
        if row is None:
            ret = -errno.ENOSYS
        else:
            name, handler = row
            self.requests[name] += 1
            try:
                ret = handler(self, req)
            except FsError as e:
                ret = -e.errno
        block = struct.pack("<i", ret) + (struct.pack("<6I", *[a & 0xFFFFFFFF for a in req.out])
                                          if req.out else b"")
        self.mem.write_phys(value + 4, block)

    # --- buffers ---------------------------------------------------------------------
    def read_seg(self, req: Request, i: int) -> bytes:
        phys, length = req.segs[i]
        return self.mem.read_phys(phys, length)

    def gather(self, req: Request, first: int = 0) -> bytes:
        return b"".join(self.read_seg(req, i) for i in range(first, len(req.segs)))

    def scatter(self, req: Request, data: bytes, first: int = 0) -> int:
        """Write ``data`` across segments ``first``...; the bytes written."""
        done = 0
        for phys, length in req.segs[first:]:
            if done >= len(data):
                break
            chunk = data[done:done + length]
            self.mem.write_phys(phys, chunk)
            done += len(chunk)
        return done

    def capacity(self, req: Request, first: int = 0) -> int:
        return sum(length for _, length in req.segs[first:])

    def path(self, req: Request, i: int) -> str:
        return os.fsdecode(self.read_seg(req, i))

    # --- operations ------------------------------------------------------------------
    def op_log(self, req: Request) -> int:
        """seg0: text for bt's stderr (the kernel's own messages)."""
        if self.log is not None:
            self.log.write(self.gather(req))
            self.log.flush()
        return 0

    def op_args(self, req: Request) -> int:
        """seg0 out: path, argv, envp as NUL-terminated strings; a[0..3] = argc, envc, uid, gid."""
        p = self.program
        blob = b"".join(s + b"\0" for s in [os.fsencode(p.path), *p.argv, *p.envp])
        if len(blob) > self.capacity(req):
            return -errno.E2BIG
        self.scatter(req, blob)
        req.out = [len(p.argv), len(p.envp), p.uid, p.gid, 0, 0]
        return 0

    def op_exit(self, req: Request) -> int:
        """a[0]: the wait status of the first process (exit code << 8, or the signal);
        a[1] = 1: the guest kernel panicked (its message came through ``log``)."""
        self.exit_status = req.args[0]
        self.panicked = bool(req.args[1])
        return 0

    def op_open(self, req: Request) -> int:
        """seg0: path; a[0]: open flags. Returns a handle; a[1] = 1 for a directory."""
        handle, is_dir = self.fs.open(self.path(req, 0), req.args[0])
        req.out = [0, int(is_dir), 0, 0, 0, 0]
        return handle

    def op_close(self, req: Request) -> int:
        """a[0]: handle."""
        self.fs.close(req.args[0])
        return 0

    def op_pread(self, req: Request) -> int:
        """a[0]: handle, a[1..2]: 64-bit offset; segs out. Returns the bytes read."""
        data = self.fs.pread(req.args[0], self.capacity(req), req.args[1] | req.args[2] << 32)
        return self.scatter(req, data)

    def op_stat(self, req: Request) -> int:
        """seg0: path, seg1 out: struct kstat; a[0]: follow the last symbolic link."""
        return self._put(req, self.fs.stat(self.path(req, 0), bool(req.args[0])), 1)

    def op_fstat(self, req: Request) -> int:
        """a[0]: handle (or console stream with a[1] = 1); seg0 out: struct kstat."""
        if req.args[1]:
            from runtime.linux.hostfs import pack_stat

            try:
                st = os.fstat(self._stream_fd(req.args[0]))
            except (OSError, ValueError):
                return -errno.EBADF
            return self._put(req, pack_stat(st), 0)
        return self._put(req, self.fs.fstat(req.args[0]), 0)

    def _put(self, req: Request, data: bytes, seg: int) -> int:
        self.scatter(req, data, seg)
        return 0

    def op_getdents(self, req: Request) -> int:
        """a[0]: handle; a[1] = 0: segs out get linux_dirent64 records (a[5]: size);
        a[1] = 1: seek to a[2..3] whence a[4], the new offset in a[2..3]."""
        if req.args[1] == 1:
            off = req.args[2] | req.args[3] << 32
            if off >= 1 << 63:
                off -= 1 << 64
            pos = self.fs.seek(req.args[0], off, req.args[4])
            req.out = [0, 0, pos & 0xFFFFFFFF, pos >> 32, 0, 0]
            return 0
        if req.args[1] != 0:
            return -errno.ENOSYS
        return self.scatter(req, self.fs.getdents64(req.args[0], self.capacity(req)))

    def op_readlink(self, req: Request) -> int:
        """seg0: path; seg1 out: the link's contents. Returns their length."""
        return self.scatter(req, self.fs.readlink(self.path(req, 0)), 1)

    def op_access(self, req: Request) -> int:
        """seg0: path; a[0]: mode (R_OK 4, W_OK 2, X_OK 1, F_OK 0)."""
        self.fs.access(self.path(req, 0), req.args[0])
        return 0

    def _stream_fd(self, stream: int) -> int:
        if stream == 0:
            if self.stdin is None:
                raise ValueError("no stdin")
            return self.stdin.fileno()
        s = self.streams.get(stream)
        if s is None:
            raise ValueError("no stream")
        return s.fileno()

    def op_write(self, req: Request) -> int:
        """a[0]: console stream (1 stdout, 2 stderr); segs in. Written and flushed at once."""
        data = self.gather(req)
        stream = self.streams.get(req.args[0])
        if self.capture:
            self.captured.setdefault(req.args[0], bytearray()).extend(data)
        if stream is not None:
            try:
                stream.write(data)
                stream.flush()
            except BrokenPipeError:
                return -errno.EPIPE
        return len(data)

    def _stdin_ready(self, timeout: float) -> bool:
        if self.stdin is None:
            return True  # end of file at once
        try:
            fd = self.stdin.fileno()
        except (OSError, ValueError):
            return True
        try:
            return sigint.readable(fd, timeout)
        except (OSError, ValueError):
            return True

    def op_read(self, req: Request) -> int:
        """a[0]: 0 (stdin); segs out. -EAGAIN when no input is ready (the kernel then blocks
        the process and runs others)."""
        if self.stdin is None:
            return 0
        if not self._stdin_ready(0):
            return -errno.EAGAIN
        try:
            data = os.read(self.stdin.fileno(), self.capacity(req))
        except (OSError, ValueError):
            return 0
        return self.scatter(req, data)

    def op_clock(self, req: Request) -> int:
        """a[0]: clock id (CLOCK_REALTIME 0, MONOTONIC 1, ...). a[0..1] = seconds, a[2] = ns."""
        clk = req.args[0]
        try:
            ns = time.clock_gettime_ns(clk)
        except OSError:
            ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        sec, nsec = divmod(ns, 10**9)
        req.out = [sec & 0xFFFFFFFF, sec >> 32 & 0xFFFFFFFF, nsec, 0, 0, 0]
        return 0

    def op_random(self, req: Request) -> int:
        """segs out: random bytes (the host's getrandom)."""
        return self.scatter(req, os.urandom(self.capacity(req)))

    def op_wait(self, req: Request) -> int:
        """a[0]: microseconds (0xffffffff: no limit). Waits for console input; 1 when ready."""
        us = req.args[0]
        timeout = None if us == 0xFFFFFFFF else us / 1e6
        if self.stdin is None:
            if timeout:
                sigint.sleep(timeout)
            return 1 if timeout is None else 0
        return int(self._stdin_ready(timeout if timeout is not None else 3600.0))

    def op_tty(self, req: Request) -> int:
        """a[0]: console stream, a[1]: ioctl request; seg0 out. TCGETS and TIOCGWINSZ are the
        host terminal's (read only); -ENOTTY when the stream is not a terminal."""
        try:
            fd = self._stream_fd(req.args[0])
        except (OSError, ValueError):
            return -errno.ENOTTY
        if not os.isatty(fd):
            return -errno.ENOTTY
        size = {termios.TCGETS: 36, termios.TIOCGWINSZ: 8}.get(req.args[1])
        if size is None:
            return 0
        try:
            data = fcntl.ioctl(fd, req.args[1], bytes(size))
        except OSError as e:
            return -(e.errno or errno.ENOTTY)
        self.scatter(req, data)
        return len(data)

    def op_stats(self, req: Request) -> int:
        """seg0: u32 counts per system call number; seg1: u8 1 where the kernel has a row;
        seg2: (u32 number, u32 count) pairs for numbers past the table (count 0: unused;
        number 0xffffffff: all the others)."""
        counts = self.read_seg(req, 0)
        self.syscalls = list(struct.unpack(f"<{len(counts) // 4}I", counts))
        self.implemented = list(self.read_seg(req, 1))
        self.far_syscalls = {}
        if len(req.segs) > 2:
            raw = self.read_seg(req, 2)
            for nr, count in struct.iter_unpack("<II", raw[:len(raw) // 8 * 8]):
                if count:
                    self.far_syscalls[nr] = self.far_syscalls.get(nr, 0) + count
        return 0

    def syscall_counts(self) -> dict[int, int]:
        """System calls made, by number (reported by the kernel at exit)."""
        counts = {n: c for n, c in enumerate(self.syscalls) if c}
        counts.update(self.far_syscalls)
        return counts

    def has_row(self, nr: int) -> bool:
        """Whether the guest kernel implements system call ``nr`` (not -ENOSYS)."""
        return nr < len(self.implemented) and bool(self.implemented[nr])

    def op_getcwd(self, req: Request) -> int:
        """seg0 out; no seg1: the program's initial cwd; seg1 (a path): its canonical form,
        for chdir (-ENOTDIR, -ENOENT, -EACCES). Returns the length."""
        if len(req.segs) > 1:
            name = self.fs.canonical_dir(self.path(req, 1))
        else:
            name = self.fs.cwd()
        return self.scatter(req, os.fsencode(name))

    def op_uname(self, req: Request) -> int:
        """seg0 out: struct new_utsname (6 x 65 bytes): the host's, as the host CPU's run of
        the program sees it (a 32-bit program on x86-64 Linux is told x86_64)."""
        u = os.uname()
        fields = (u.sysname, u.nodename, u.release, u.version, u.machine, "(none)")
        blob = b"".join(os.fsencode(f)[:64].ljust(65, b"\0") for f in fields)
        return self._put(req, blob, 0)


#: op -> (name, handler); the numbers are the H_ enum of kernel/kernel.h
OPS: dict[int, tuple[str, Callable[[HostChannel, Request], int]]] = {
    1: ("log", HostChannel.op_log),
    2: ("args", HostChannel.op_args),
    3: ("exit", HostChannel.op_exit),
    4: ("open", HostChannel.op_open),
    5: ("close", HostChannel.op_close),
    6: ("pread", HostChannel.op_pread),
    7: ("stat", HostChannel.op_stat),
    8: ("fstat", HostChannel.op_fstat),
    9: ("getdents", HostChannel.op_getdents),
    10: ("readlink", HostChannel.op_readlink),
    11: ("access", HostChannel.op_access),
    12: ("write", HostChannel.op_write),
    13: ("read", HostChannel.op_read),
    14: ("clock", HostChannel.op_clock),
    15: ("random", HostChannel.op_random),
    16: ("wait", HostChannel.op_wait),
    17: ("tty", HostChannel.op_tty),
    18: ("stats", HostChannel.op_stats),
    19: ("getcwd", HostChannel.op_getcwd),
    20: ("uname", HostChannel.op_uname),
}

