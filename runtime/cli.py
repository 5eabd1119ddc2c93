"""The ``bt`` command: run guests on the bare machine (and, later, under the monitor).

Every failure the user can cause (bad options, a bad guest file) is one
line on stderr and a non-zero status, never a traceback; every way a guest
run can end has its own status (see :mod:`runtime.report`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import BinaryIO, NoReturn

from runtime import endings, sigint, validate
from runtime.errors import GuestLoadError, StaleBuildError
from runtime.pc.devices.disk import DiskSpec
from runtime.report import OUTCOMES, Outcome, RunResult, status_table

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GUEST = REPO_ROOT / "corpus" / "build" / "hello.elf"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and the documented bad-input status."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        validate.allow_negative_values(self)

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(OUTCOMES[Outcome.BAD_INPUT][0])


_int, _positive, _seconds, _address = (validate.number, validate.positive, validate.seconds,
                                       validate.address)


def _disk(text: str) -> DiskSpec:
    from runtime.pc.devices.disk import parse_disk_spec

    try:
        return parse_disk_spec(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--disk ")) from None


def _trace_categories(text: str) -> frozenset[str]:
    from runtime.debug.trace import parse_categories

    try:
        return parse_categories(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("btvmm")
    except metadata.PackageNotFoundError:
        return "unknown"


class _VersionAction(argparse.Action):
    """``--version``: btvmm's version and the libunicorn it runs on (loaded only when asked)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show bt's version and which libunicorn runs, and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> NoReturn:
        from runtime.pc.libunicorn import loaded

        sys.stdout.write(f"bt (btvmm) {_version()}\n{loaded().describe()}\n")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bt",
        description="btvmm: a binary-translating hypervisor for 32-bit x86 guests, on unicorn.",
        epilog="exit statuses of 'bt run':\n" + status_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    run = sub.add_parser(
        "run", help="run a guest",
        description="Run a guest kernel (ELF32 i386, multiboot, or flat binary) and stream "
                    "its serial console to stdout (on a terminal, an interactive console: "
                    "Ctrl-A x quits, Ctrl-A h help; piped stdin feeds COM1); or run a "
                    "static i386 Linux program (bt run PROG [--] ARGS) under the bundled "
                    "guest kernel, with its stdin, stdout, stderr and exit status passed "
                    "through.",
        epilog="exit statuses:\n" + status_table() + "\n  a Linux program's run ends with "
               "the program's own status (128 + N when signal N killed it)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("guest", nargs="?", help=f"guest image (default: {DEFAULT_GUEST.name}, "
                                               "the bundled hello guest), or a static i386 "
                                               "Linux program")
    run.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                     help="a Linux program's arguments: everything after PROG (a first '--' "
                          "is dropped); bt's options go before PROG")
    run.add_argument("--fs", metavar="DIR", default=None,
                     help="a Linux program sees host directory DIR as its / (default: the "
                          "host's file system, read only)")
    run.add_argument("--native", action="store_true",
                     help="run on the bare machine: guest kernel at real ring 0, no monitor")
    run.add_argument("--mem", type=_positive, default=128, metavar="MiB",
                     help=f"guest RAM in MiB (default 128; at most "
                          f"{validate.NATIVE_MEM_MAX_MIB} natively, "
                          f"{validate.MONITOR_MEM_MAX_MIB} under the monitor)")
    run.add_argument("--module", action="append", default=[], metavar="FILE",
                     help="multiboot module (repeatable)")
    run.add_argument("--cmdline", default=None, metavar="S", help="multiboot command line")
    run.add_argument("--load-addr", type=_address, default=None, metavar="ADDR",
                     help="load a flat binary at this physical address")
    run.add_argument("--entry", type=_address, default=None, metavar="ADDR",
                     help="entry point of a flat binary (default: the load address)")
    run.add_argument("--max-insns", type=_positive, default=None, metavar="N",
                     help="stop after N guest instructions")
    run.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                     help="stop after this much wall-clock time")
    run.add_argument("--deterministic", action="store_true",
                     help="time is guest instructions retired: every run takes every "
                          "interrupt at the same guest instruction")
    run.add_argument("--disk", type=_disk, action="append", default=[], metavar="FILE[,index=N]",
                     help="raw disk image as an IDE drive (repeatable; index 0/1: primary "
                          "master/slave, 2/3: secondary; default: the next free one)")
    run.add_argument("--disk-write", action="store_true",
                     help="let guest writes reach the --disk files (default: a copy-on-write "
                          "overlay in memory; the files are never modified)")
    run.add_argument("--serial-in", metavar="FILE", default=None,
                     help="replay FILE into COM1's receiver instead of stdin (read whole at "
                          "the start and paced at the guest's line rate in virtual time: "
                          "the same instructions every run under --deterministic)")
    run.add_argument("--screen", action="store_true",
                     help="print the final text screen (0xb8000, 80x25) on stdout after the run")
    run.add_argument("--gdb", metavar="[HOST:]PORT", default=None,
                     help="serve a gdb remote stub (127.0.0.1 by default), as QEMU's -gdb: "
                          "gdb -ex 'target remote :PORT'")
    run.add_argument("--wait", action="store_true",
                     help="with --gdb: stop before the first guest instruction until gdb "
                          "attaches (QEMU's -S)")
    run.add_argument("--trace", type=_trace_categories, default=frozenset(), metavar="CATS",
                     help="trace log, as QEMU's -d: comma-separated in_asm, out_asm, exec, int, "
                          "callout, fault, io, tb, or all (see runtime/debug/trace.py)")
    run.add_argument("--trace-file", metavar="FILE", default=None,
                     help="write the trace log to FILE (default: stderr)")
    run.add_argument("--record", metavar="FILE", default=None,
                     help="record the run's inputs (serial bytes, with the guest instruction "
                          "at which each arrived) to FILE; implies --deterministic")
    run.add_argument("--replay", metavar="FILE", default=None,
                     help="replay a recording: the same inputs at the same instructions, the "
                          "same output and final state; implies --deterministic")
    run.add_argument("--stop-at", type=_positive, default=None, metavar="N",
                     help="stop at guest instruction N (with --gdb: gdb's first stop)")
    run.add_argument("--coverage", metavar="FILE", default=None,
                     help="write the guest blocks executed to FILE in drcov format "
                          "(DynamoRIO's; Lighthouse reads it)")
    run.add_argument("--stats", action="store_true", help="print counters at the end (stderr)")
    run.add_argument("--json", metavar="FILE", default=None,
                     help="write the outcome and counters as JSON")
    run.add_argument("--quiet", action="store_true",
                     help="do not stream the guest console (it is still captured for --json)")
    run.set_defaults(func=cmd_run)

    explain = sub.add_parser(
        "explain", help="show a guest block beside its translation",
        description="Translate the guest block at ADDR (as the monitor would at boot) and show "
                    "each guest instruction beside what it became: IDENT, inline, callout, "
                    "chained or lookup.",
        epilog="exit statuses:\n" + endings.status_lines(endings.EXPLAIN_STATUSES),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    explain.add_argument("guest", help="guest image")
    explain.add_argument("--addr", required=True, metavar="ADDR",
                         help="guest address of the block (0x..., decimal, or an ELF symbol)")
    explain.add_argument("--mem", type=_positive, default=128, metavar="MiB",
                         help="guest RAM in MiB (default 128)")
    explain.set_defaults(func=cmd_explain)

    from runtime.bench import command as bench
    from runtime.check.commands import add_diff_parser, add_fuzz_parser

    add_diff_parser(sub, _address, _positive)
    add_fuzz_parser(sub, _int, _positive, _seconds)
    bench.add_parser(sub, _positive)
    return parser


def _format_stats(stats: dict[str, object]) -> str:
    """Counters as an indented listing (QEMU's ``info jit`` style); empty groups are left out."""
    lines = ["--- bt stats ---"]

    def walk(d: dict[str, object], depth: int) -> None:
        pad = "  " * depth
        for key, value in d.items():
            if isinstance(value, dict):
                if value:
                    lines.append(f"{pad}{key}:")
                    walk(value, depth + 1)
            else:
                lines.append(f"{pad}{key:<{34 - len(pad)}} {value}")

    walk(stats, 0)
    return "\n".join(lines)


def run_guest(args: argparse.Namespace) -> RunResult:
    """Load and run one guest as the options say; raises GuestLoadError for bad input."""
    from runtime.session import RunOptions, run_file

    path = args.guest or str(DEFAULT_GUEST)
    if args.guest is None and not DEFAULT_GUEST.exists():
        raise GuestLoadError(path, "the default guest is not built: run 'make corpus'")
    stdin: BinaryIO | None = None
    terminal = None
    if args.serial_in is not None:
        try:
            stdin = open(args.serial_in, "rb")  # noqa: SIM115 - read whole by the UART
        except OSError as err:
            raise GuestLoadError(args.serial_in, f"cannot read serial input: {err.strerror}") from None
    elif sys.stdin is not None and not sys.stdin.closed and hasattr(sys.stdin, "buffer"):
        if sys.stdin.isatty() and not args.argv:
            terminal = sys.stdin.fileno()  # the interactive console feeds COM1
        else:
            stdin = sys.stdin.buffer
    console = None  # --quiet, or bt's stdout is closed (``bt run G >&-``): captured only
    if not args.quiet and sys.stdout is not None and hasattr(sys.stdout, "buffer"):
        console = sys.stdout.buffer
    if args.replay is not None:
        stdin, terminal = None, None  # the recording is the input
    max_insns = args.max_insns
    if args.stop_at is not None and args.gdb is None:
        max_insns = min(max_insns or args.stop_at, args.stop_at)
    options = RunOptions(native=args.native, mem_mib=args.mem,
                         deterministic=args.deterministic or bool(args.record or args.replay),
                         max_insns=max_insns, timeout_s=args.timeout, cmdline=args.cmdline,
                         modules=tuple(args.module), load_addr=args.load_addr, entry=args.entry,
                         console=console, stdin=stdin, argv=tuple(args.argv), fs_root=args.fs,
                         disks=tuple(args.disk), disk_write=args.disk_write, terminal=terminal,
                         gdb=args.gdb, gdb_wait=args.wait, trace=args.trace,
                         trace_file=args.trace_file, record=args.record, replay=args.replay,
                         stop_at=args.stop_at, coverage=args.coverage)
    return run_file(path, options)


def _linux_args(args: argparse.Namespace) -> None:
    """Split what follows PROG: a Linux program's arguments, or (for a kernel) bt's own
    options, as before."""
    from runtime.linux.detect import HostFs, guest_program_path, is_linux_program

    rest = list(args.args)
    path = args.guest
    if path is not None and args.load_addr is None and is_linux_program(
            guest_program_path(path, HostFs(args.fs))[0]):
        if rest[:1] == ["--"]:
            rest = rest[1:]
        args.argv = [path, *rest]
        return
    args.argv = []
    reparse_after_guest(args, "run")


def reparse_after_guest(args: argparse.Namespace, command: str) -> None:
    """For a kernel, what follows GUEST on the command line is bt's own options (the
    ARGS remainder took them): parse them as such, refusing anything else."""
    rest, guest = list(args.args), args.guest
    if not rest:
        return
    sub = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    args.args = []
    sub.parse_args([*rest, guest], namespace=args)
    if args.args or args.guest != guest:
        sub.error(f"unrecognized arguments: {' '.join(rest)} (a kernel takes no arguments; "
                  "a Linux program's go after it)")


def check_run(args: argparse.Namespace) -> None:
    """What ``bt run`` checks before anything runs (GuestLoadError: one line, status 2)."""
    from runtime.linux.boot import HostFs, guest_program_path

    problem = validate.mem_limit(args.mem, args.native)
    if problem:
        raise GuestLoadError(args.guest or str(DEFAULT_GUEST), problem)
    if args.guest is not None:
        host = args.guest if args.fs is None else guest_program_path(args.guest, HostFs(args.fs))[0]
        validate.input_file_if_present(host, "guest")
    for module in args.module:
        validate.input_file(module, "module")
    for disk in args.disk:
        validate.input_file(disk.path, "disk image")
    if args.serial_in is not None:
        validate.input_file(args.serial_in, "serial input file")
    if args.json:
        validate.output_file(args.json, "--json")


def _flush_stdout() -> None:
    """Flush bt's stdout; a closed or broken one changes nothing (the status stays the
    guest's): later writes go to /dev/null."""
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except (BrokenPipeError, OSError, ValueError):
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def cmd_run(args: argparse.Namespace) -> int:
    try:
        check_run(args)
        _linux_args(args)
        result = run_guest(args)
    except GuestLoadError as err:
        sys.stderr.write(f"bt: {err}\n")
        return OUTCOMES[Outcome.BAD_INPUT][0]
    if args.screen and sys.stdout is not None:
        try:
            sys.stdout.write(result.screen)
        except OSError:
            pass  # a closed or broken stdout: the guest's status stands
    _flush_stdout()
    report = result.report()
    if report:
        sys.stderr.write(report + "\n")
    if args.stats:
        sys.stderr.write(_format_stats(result.stats) + "\n")
    if args.json:
        doc = {
            "outcome": result.outcome.value,
            "status": result.status,
            "message": result.message,
            "output": result.output.decode("latin-1"),
            "registers": result.regs,
            "stats": result.stats,
        }
        try:
            Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        except OSError as err:  # checked before the run: it went away since; the status stands
            sys.stderr.write(f"bt: {args.json}: cannot write: {err.strerror}\n")
    return result.status


def cmd_explain(args: argparse.Namespace) -> int:
    from runtime.explain import explain, resolve_address
    from runtime.pc.paging import PageFault, PhysicalAccessError
    from runtime.pc.runloop import StopRun
    from runtime.session import RunOptions

    try:
        validate.input_file(args.guest)
        problem = validate.mem_limit(args.mem, native=False)
        if problem:
            raise GuestLoadError(args.guest, problem)
        address = resolve_address(args.guest, args.addr)
        text = explain(args.guest, address, RunOptions(native=False, mem_mib=args.mem,
                                                       deterministic=True))
    except GuestLoadError as err:
        sys.stderr.write(f"bt: {err}\n")
        return OUTCOMES[Outcome.BAD_INPUT][0]
    except (PageFault, PhysicalAccessError):
        sys.stderr.write(f"bt: {args.guest}: address {args.addr} is outside guest RAM\n")
        return OUTCOMES[Outcome.BAD_INPUT][0]
    except StopRun as stop:  # the guest cannot even be booted (its entry outside RAM, ...)
        sys.stderr.write(f"bt: {args.guest}: cannot boot: {stop.message}\n")
        return OUTCOMES[Outcome.BAD_INPUT][0]
    sys.stdout.write(text + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The ``bt`` command: every ending is a status of :mod:`runtime.endings`."""
    # a closed stdout or stderr (``bt run G >&- 2>&-``): Python gives None; bt's messages and
    # the guest's console then go nowhere, and the status stays the guest's
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    try:
        parser = build_parser()
        words = sys.argv[1:] if argv is None else argv
        if not words:
            parser.print_help(sys.stderr)
            return OUTCOMES[Outcome.BAD_INPUT][0]
        args = parser.parse_args(words)
        with sigint.handling():
            status = args.func(args)
            if sigint.requested() and status == 0:
                status = endings.INTERRUPTED_STATUS  # Ctrl-C outside any guest run
        _flush_stdout()
        return status
    except KeyboardInterrupt:
        sys.stderr.write("bt: interrupted\n")
        return endings.INTERRUPTED_STATUS
    except BrokenPipeError:  # bt diff / explain / fuzz lost its stdout: its report is lost
        _flush_stdout()
        return OUTCOMES[Outcome.BAD_INPUT][0]
    except StaleBuildError as err:  # a native module older than its source: rebuild
        sys.stderr.write(f"bt: {err}\n")
        return OUTCOMES[Outcome.BAD_INPUT][0]
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - a bug of btvmm: one line and a crash report
        return endings.internal_error(exc)


if __name__ == "__main__":
    sys.exit(main())
