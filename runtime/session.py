"""Run one guest file from start to end: load it, boot the machine, collect the result.

The one entry point shared by the CLI and the tests, so that both run a
guest exactly the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from runtime.errors import GuestLoadError
from runtime.pc.loader import BootState, load_guest
from runtime.pc.machine import MIB, Machine, MachineConfig
from runtime.report import RunResult
from runtime.vmm.monitor_space import MAX_GUEST_RAM


@dataclass
class RunOptions:
    native: bool = True
    mem_mib: int = 128
    deterministic: bool = False
    max_insns: int | None = None
    timeout_s: float | None = None
    cmdline: str | None = None
    modules: Sequence[str] = field(default_factory=tuple)
    load_addr: int | None = None
    entry: int | None = None
    console: BinaryIO | None = None
    stdin: BinaryIO | None = None


def run_file(path: str, options: RunOptions | None = None) -> RunResult:
    """Run the guest at ``path``; raises GuestLoadError for a file that cannot be loaded."""
    machine, state = prepare(path, options)
    return machine.run(state)


def prepare(path: str, options: RunOptions | None = None) -> tuple[Machine, BootState]:
    """The machine (bare or monitored) with the guest loaded, ready to ``run``."""
    opts = options or RunOptions()
    config = MachineConfig(mem_mib=opts.mem_mib, deterministic=opts.deterministic,
                           max_insns=opts.max_insns, timeout_s=opts.timeout_s,
                           console=opts.console, stdin=opts.stdin)
    if opts.native:
        machine = Machine(config)
    else:
        from runtime.vmm.monitor import Monitor

        if config.mem_mib * MIB > MAX_GUEST_RAM:
            raise GuestLoadError(path, f"the monitor supports at most {MAX_GUEST_RAM // MIB} MiB "
                                       "of guest RAM (--mem)")
        machine = Monitor(config)
    state = load_guest(path, machine.uc.mem_write, opts.mem_mib * MIB, cmdline=opts.cmdline or "",
                       modules=opts.modules, load_addr=opts.load_addr, entry=opts.entry)
    return machine, state
