"""Booting a Linux program: recognise one, start the guest kernel with it, and read the result.

A *Linux program* is an ELF32 i386 executable (ET_EXEC, or a static PIE:
ET_DYN without PT_INTERP) with no multiboot header: a kernel has one, a
program does not. It is not loaded by the bare machine's loader: the guest
kernel (``kernel/build/linuxk.elf``, a multiboot kernel) is, and the program
reaches it through the channel (``H_ARGS``, then the kernel's own execve
reads the image from the host file system).

The run's exit status is the program's: its exit code, or 128 + the signal
that killed it (as a shell reports it).
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from runtime.pc import multiboot
from runtime.errors import GuestLoadError
from runtime.linux.channel import HostChannel, Program
from runtime.linux.hostfs import HostFs
from runtime.linux.syscall_names import name as syscall_name
from runtime.pc.loader import BootState, load_guest
from runtime.pc.machine import MIB, Machine, MachineConfig
from runtime.report import Outcome, RunResult

KERNEL = Path(__file__).resolve().parent / "kernel" / "build" / "linuxk.elf"
EM_386, ET_EXEC, ET_DYN, PT_INTERP = 3, 2, 3, 3


def is_linux_program(path: str) -> bool:
    """An ELF32 little-endian i386 executable or PIE without a multiboot header."""
    try:
        with open(path, "rb") as f:
            head = f.read(multiboot.HEADER_SEARCH_BYTES)
    except OSError:
        return False
    if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] != 1 or head[5] != 1:
        return False
    e_type, e_machine = struct.unpack_from("<HH", head, 16)
    if e_machine != EM_386 or e_type not in (ET_EXEC, ET_DYN):
        return False
    try:
        return multiboot.find_header(head, path) is None
    except GuestLoadError:
        return False


def check_program(path: str) -> None:
    """GuestLoadError for a program the guest kernel cannot run (dynamically linked)."""
    with open(path, "rb") as f:
        image = f.read(1 << 16)
    phoff, = struct.unpack_from("<I", image, 28)
    phentsize, phnum = struct.unpack_from("<HH", image, 42)
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + 4 <= len(image) and struct.unpack_from("<I", image, off)[0] == PT_INTERP:
            raise GuestLoadError(path, "dynamically linked (PT_INTERP): bt runs static i386 "
                                       "programs only (link with -static)")


@dataclass
class LinuxOptions:
    """What a Linux run needs beyond the machine's own options."""

    argv: Sequence[str] = ()
    fs_root: str | None = None
    stdout: BinaryIO | None = None
    stderr: BinaryIO | None = None
    stdin: BinaryIO | None = None
    env: dict[str, str] | None = None
    capture: bool = False


def kernel_path() -> Path:
    if not KERNEL.exists():
        raise GuestLoadError(str(KERNEL), "the guest kernel for Linux programs is not built: "
                                          "run 'make' (or 'make -C runtime/linux/kernel')")
    return KERNEL


def guest_program_path(path: str, fs: HostFs) -> tuple[str, str]:
    """(host path of the image, the path the guest kernel opens)."""
    if fs.root is None:
        return path, os.path.abspath(path)
    guest = path if path.startswith("/") else "/" + path
    return fs.host_path(guest), guest


def prepare(path: str, machine: Machine, mem_mib: int,
            opts: LinuxOptions) -> tuple[BootState, HostChannel]:
    """Load the guest kernel into ``machine`` and put the channel for ``path`` on its bus."""
    fs = HostFs(opts.fs_root)
    host, guest = guest_program_path(path, fs)
    if not os.path.isfile(host):
        raise GuestLoadError(path, "no such program" + (f" under --fs {opts.fs_root}"
                                                        if opts.fs_root else ""))
    check_program(host)
    env = os.environ if opts.env is None else opts.env
    program = Program(guest, [os.fsencode(a) for a in (opts.argv or [path])],
                      [os.fsencode(f"{k}={v}") for k, v in env.items()], os.getuid(), os.getgid())
    stdout = opts.stdout if opts.stdout is not None else sys.stdout.buffer
    stderr = opts.stderr if opts.stderr is not None else sys.stderr.buffer
    channel = HostChannel(machine.mem, program, fs, stdout, stderr, opts.stdin)
    channel.capture = opts.capture
    machine.bus.attach(channel)
    state = load_guest(str(kernel_path()), machine.uc.mem_write, mem_mib * MIB)
    return state, channel


def finish(result: RunResult, channel: HostChannel) -> RunResult:
    """The program's exit status and the kernel's counters in the result."""
    status = channel.exit_status
    if result.outcome is Outcome.GUEST_EXIT and status is not None:
        if status & 0x7F:
            result.status = 128 + (status & 0x7F)
            result.message = f"the program was killed by signal {status & 0x7F}"
        else:
            result.status = status >> 8 & 0xFF
            result.message = f"the program exited with status {result.status}"
    elif result.outcome is Outcome.GUEST_EXIT:
        result.outcome = Outcome.INTERNAL
        result.message = "the guest kernel stopped without an exit status"
    channel.fs.close_all()
    calls = {syscall_name(n): c for n, c in enumerate(channel.syscalls) if c}
    unknown = {f"{n} {syscall_name(n)}": c for n, c in enumerate(channel.syscalls)
               if c and n < len(channel.implemented) and not channel.implemented[n]}
    result.stats["linux"] = {
        "syscalls_total": sum(channel.syscalls),
        "syscalls": dict(sorted(calls.items(), key=lambda kv: -kv[1])),
        "enosys": unknown,
        "channel_requests": dict(sorted(channel.requests.items())),
    }
    if channel.capture:
        result.output = bytes(channel.captured[1])
    return result


def run(path: str, config: MachineConfig, native: bool, opts: LinuxOptions) -> RunResult:
    """Run Linux program ``path`` on the bare machine or under the monitor."""
    from runtime.session import new_machine

    machine = new_machine(path, config, native)
    state, channel = prepare(path, machine, config.mem_mib, opts)
    return finish(machine.run(state), channel)
