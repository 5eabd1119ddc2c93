"""Run one guest file from start to end: load it, boot the machine, collect the result.

The one entry point shared by the CLI and the tests, so that both run a
guest exactly the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from runtime.errors import GuestLoadError
from runtime.pc.devices.disk import DiskError, DiskSpec, assign_positions
from runtime.pc.loader import BootState, load_guest
from runtime.pc.machine import MIB, GuestMemoryUnavailable, Machine, MachineConfig
from runtime.report import RunResult


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
    #: a Linux program's arguments (argv, argv[0] included) and --fs root
    argv: Sequence[str] = field(default_factory=tuple)
    fs_root: str | None = None
    #: IDE disks (--disk FILE[,index=N]) and whether guest writes reach the files
    disks: Sequence[DiskSpec] = field(default_factory=tuple)
    disk_write: bool = False
    #: a terminal's descriptor for the interactive console (runtime.console), or None
    terminal: int | None = None
    #: a gdb remote stub on [HOST:]PORT (runtime.debug.gdbstub); wait for gdb before the
    #: first instruction
    gdb: str | None = None
    gdb_wait: bool = False
    #: trace log categories (runtime.debug.trace) and where the log goes (None: stderr)
    trace: frozenset[str] = frozenset()
    trace_file: str | None = None
    #: record the run's inputs to / replay them from a file (runtime.debug.replay)
    record: str | None = None
    replay: str | None = None
    #: with gdb: the first stop is at this guest instruction count
    stop_at: int | None = None
    #: write the guest blocks executed as a drcov file (runtime.debug.drcov)
    coverage: str | None = None


def run_file(path: str, options: RunOptions | None = None) -> RunResult:
    """Run the guest at ``path``; raises GuestLoadError for a file that cannot be loaded.

    A Linux program (:func:`runtime.linux.detect.is_linux_program`) boots the bundled guest
    kernel with it instead of being loaded as a kernel itself: ``console`` takes its
    stdout (None: written nowhere), bt's stderr its stderr, and ``output`` of the result
    is its stdout, as for a kernel's console."""
    opts = options or RunOptions()
    from runtime.linux.detect import HostFs, guest_program_path, is_linux_program

    if opts.load_addr is None and is_linux_program(guest_program_path(path, HostFs(opts.fs_root))[0]):
        from runtime.linux import boot as linux

        return linux.run(path, _config(opts), opts.native,
                         linux.LinuxOptions(argv=opts.argv, fs_root=opts.fs_root,
                                            stdin=opts.stdin, stdout=opts.console,
                                            quiet=opts.console is None, capture=True))
    machine, state = prepare(path, opts)
    return _run_observed(path, machine, state, opts)


def _run_observed(path: str, machine: Machine, state: BootState, opts: RunOptions) -> RunResult:
    """Run with what issue 17 attaches (runtime.debug): a gdb stub, a trace log, a
    recording or a replay of the inputs. Each is installed only when asked for."""
    import sys

    from runtime.debug.replay import Recorder, RecordingError, Replayer

    if opts.gdb is not None:
        from runtime.debug.gdbstub import GdbStub

        try:
            stub = GdbStub(opts.gdb, opts.gdb_wait or opts.stop_at is not None)
        except (OSError, ValueError) as err:
            raise GuestLoadError(path, f"--gdb {opts.gdb}: cannot listen: {err}") from None
        stub.attach(machine, opts.stop_at)
    recorder = replayer = None
    trace_out = None
    try:
        if opts.record is not None:
            try:
                rec_out = open(opts.record, "w")  # noqa: SIM115 - closed below
            except OSError as err:
                raise GuestLoadError(path, f"--record {opts.record}: {err.strerror}") from None
            recorder = Recorder(machine, rec_out, {"guest": path, "native": opts.native,
                                                   "mem_mib": opts.mem_mib})
        if opts.replay is not None:
            try:
                replayer = Replayer(machine, opts.replay)
            except RecordingError as err:
                raise GuestLoadError(path, str(err)) from None
        if opts.trace:
            from runtime.debug.trace import Tracer

            try:
                trace_out = open(opts.trace_file, "w") if opts.trace_file else sys.stderr  # noqa: SIM115
            except OSError as err:
                raise GuestLoadError(path, f"--trace-file {opts.trace_file}: {err.strerror}") from None
            tracer = Tracer(machine, opts.trace, trace_out)
        coverage = None
        if opts.coverage is not None:
            from runtime.debug.drcov import Coverage

            coverage = Coverage(machine)
        if opts.terminal is None:
            result = machine.run(state)
        else:
            from runtime.console import Console

            machine.uart.live = True
            with Console(opts.terminal, machine.uart.feed, machine.request_quit):
                result = machine.run(state)
        if coverage is not None:
            try:
                coverage.write(opts.coverage, path)  # type: ignore[arg-type]
            except OSError as err:
                raise GuestLoadError(path, f"--coverage {opts.coverage}: {err.strerror}") from None
            result.stats["coverage"] = {"blocks": len(coverage.blocks)}
        if opts.trace:
            result.stats["trace"] = {"lines": tracer.lines}
        if recorder is not None:
            recorder.finish(result.outcome.value, machine.ram_digest())
        if replayer is not None and opts.stop_at is None:
            digest = machine.ram_digest()
            same = digest == replayer.end.get("digest") and result.outcome.value == replayer.end.get("end")
            result.stats["replay"] = {"digest": digest, "matches_recording": same}
            sys.stderr.write(f"bt: replay of {opts.replay}: final state "
                             f"{'matches' if same else 'DIFFERS FROM'} the recording\n")
        return result
    finally:
        if recorder is not None:
            recorder.out.close()
        if trace_out is not None and trace_out is not sys.stderr:
            trace_out.close()


def _config(opts: RunOptions) -> MachineConfig:
    try:
        disks = assign_positions(opts.disks)
    except ValueError as err:
        raise GuestLoadError("--disk", str(err).removeprefix("--disk ")) from None
    return MachineConfig(mem_mib=opts.mem_mib, deterministic=opts.deterministic,
                         max_insns=opts.max_insns, timeout_s=opts.timeout_s,
                         console=opts.console, stdin=opts.stdin, cmdline=opts.cmdline or "",
                         disks=disks, disk_write=opts.disk_write)


def new_machine(path: str, config: MachineConfig, native: bool) -> Machine:
    """The bare machine, or the monitor (checking that it can hold the RAM asked for)."""
    from runtime.validate import mem_limit

    problem = mem_limit(config.mem_mib, native)
    if problem:
        raise GuestLoadError(path, problem)
    try:
        if native:
            return Machine(config)
        from runtime.vmm.monitor import Monitor

        return Monitor(config)
    except GuestMemoryUnavailable as err:
        raise GuestLoadError(path, str(err)) from None
    except DiskError as err:
        raise GuestLoadError(err.path, err.problem) from None


def prepare(path: str, options: RunOptions | None = None) -> tuple[Machine, BootState]:
    """The machine (bare or monitored) with the guest loaded, ready to ``run``."""
    opts = options or RunOptions()
    machine = new_machine(path, _config(opts), opts.native)
    state = load_guest(path, machine.uc.mem_write, opts.mem_mib * MIB, cmdline=opts.cmdline or "",
                       modules=opts.modules, load_addr=opts.load_addr, entry=opts.entry)
    return machine, state
