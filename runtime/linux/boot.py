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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from runtime.errors import GuestLoadError
from runtime.linux.channel import HostChannel, Program
from runtime.linux.detect import PT_INTERP, guest_program_path, is_linux_program  # noqa: F401 (this module's API)
from runtime.linux.hostfs import HostFs
from runtime.linux.syscall_names import name as syscall_name
from runtime.pc.loader import BootState, load_guest
from runtime.pc.machine import MIB, Machine, MachineConfig
from runtime.report import OUTCOMES, Outcome, RunResult

KERNEL = Path(__file__).resolve().parent / "kernel" / "build" / "linuxk.elf"


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
    """What a Linux run needs beyond the machine's own options.

    ``stdout``/``stderr`` default to bt's own (live, unbuffered by the host: each write
    of the program is written and flushed at once); ``quiet`` writes them nowhere;
    ``capture`` also keeps what the program wrote (``RunResult.output`` is its stdout,
    ``stats["linux"]`` stays counters only). ``log`` receives the guest kernel's own
    messages (bt's stderr by default: never mixed into a captured program stderr).
    """

    argv: Sequence[str] = ()
    fs_root: str | None = None
    stdout: BinaryIO | None = None
    stderr: BinaryIO | None = None
    stdin: BinaryIO | None = None
    env: dict[str, str] | None = None
    capture: bool = False
    quiet: bool = False
    log: BinaryIO | None = None


def kernel_path() -> Path:
    if not KERNEL.exists():
        raise GuestLoadError(str(KERNEL), "the guest kernel for Linux programs is not built: "
                                          "run 'make' (or 'make -C runtime/linux/kernel')")
    return KERNEL


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
    if opts.quiet:
        stdout = stderr = None
    log = opts.log if opts.log is not None else sys.stderr.buffer
    channel = HostChannel(machine.mem, program, fs, stdout, stderr, opts.stdin, log)
    channel.capture = opts.capture
    machine.bus.attach(channel)
    state = load_guest(str(kernel_path()), machine.uc.mem_write, mem_mib * MIB)
    return state, channel


def finish(result: RunResult, channel: HostChannel) -> RunResult:
    """The program's exit status and the kernel's counters in the result."""
    status = channel.exit_status
    if result.outcome is Outcome.GUEST_EXIT and channel.panicked:
        result.outcome = Outcome.INTERNAL
        result.status = OUTCOMES[Outcome.INTERNAL][0]
        result.message = "the guest kernel panicked (its message is above)"
    elif result.outcome is Outcome.GUEST_EXIT and status is not None:
        if status & 0x7F:
            result.status = 128 + (status & 0x7F)
            result.message = f"the program was killed by signal {status & 0x7F}"
        else:
            result.status = status >> 8 & 0xFF
            result.message = f"the program exited with status {result.status}"
    elif result.outcome is Outcome.GUEST_EXIT:
        result.outcome = Outcome.INTERNAL
        result.status = OUTCOMES[Outcome.INTERNAL][0]
        result.message = "the guest kernel stopped without an exit status"
    channel.fs.close_all()
    counts = channel.syscall_counts()
    calls = {syscall_name(n): c for n, c in counts.items()}
    unknown = {f"{n} {syscall_name(n)}": c for n, c in counts.items()
               if not channel.has_row(n)}
    result.stats["linux"] = {
        "rings": rings(result.stats),
        "syscalls_total": sum(counts.values()),
        "syscalls": dict(sorted(calls.items(), key=lambda kv: (-kv[1], kv[0]))),
        "enosys": unknown,
        "channel_requests": dict(sorted(channel.requests.items())),
    }
    if channel.capture:
        result.output = bytes(channel.captured[1])
    return result


def rings(stats: dict[str, object]) -> dict[str, str]:
    """Where the guest kernel and the program ran, from the machine's own counters: under
    the monitor the kernel is translated (ring 1) and the program runs direct at ring 3
    (``user_blocks_translated`` is 0 by design); natively both run as they are."""
    mon = stats.get("monitor")
    if not isinstance(mon, dict):
        return {"guest kernel": "ran as it is at real ring 0 (--native: no monitor)",
                "program": "ran as it is at real ring 3"}
    tr = stats.get("translator", {})
    assert isinstance(tr, dict)
    return {"guest kernel": f"translated, ran at ring 1: {tr.get('translations', 0)} "
                            f"blocks of {tr.get('guest_insns_translated', 0)} guest "
                            f"instructions, entered {mon.get('kernel_entries', 0)} times",
            "program": f"direct at ring 3: entered {mon.get('user_entries', 0)} times, "
                       f"{mon.get('user_blocks_translated', 0)} blocks translated"}


def run(path: str, config: MachineConfig, native: bool, opts: LinuxOptions) -> RunResult:
    """Run Linux program ``path`` on the bare machine or under the monitor.

    The machine's COM1 gets no stdin: the program's stdin is the channel's."""
    from runtime.session import new_machine

    machine = new_machine(path, replace(config, stdin=None), native)
    state, channel = prepare(path, machine, config.mem_mib, opts)
    return finish(machine.run(state), channel)
