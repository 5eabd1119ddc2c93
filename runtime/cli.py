"""The ``bt`` command: run guests on the bare machine (and, later, under the monitor).

Every failure the user can cause (bad options, a bad guest file) is one
line on stderr and a non-zero status, never a traceback; every way a guest
run can end has its own status (see :mod:`runtime.report`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import BinaryIO, NoReturn

from runtime.errors import GuestLoadError
from runtime.pc.devices.disk import DiskSpec
from runtime.report import OUTCOMES, Outcome, RunResult, status_table

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GUEST = REPO_ROOT / "corpus" / "build" / "hello.elf"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and the documented bad-input status."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(OUTCOMES[Outcome.BAD_INPUT][0])


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _positive(text: str) -> int:
    value = _int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _disk(text: str) -> DiskSpec:
    from runtime.pc.devices.disk import parse_disk_spec

    try:
        return parse_disk_spec(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--disk ")) from None


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
                     help="guest RAM in MiB (default 128)")
    run.add_argument("--module", action="append", default=[], metavar="FILE",
                     help="multiboot module (repeatable)")
    run.add_argument("--cmdline", default=None, metavar="S", help="multiboot command line")
    run.add_argument("--load-addr", type=_int, default=None, metavar="ADDR",
                     help="load a flat binary at this physical address")
    run.add_argument("--entry", type=_int, default=None, metavar="ADDR",
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
                    "chained or lookup.")
    explain.add_argument("guest", help="guest image")
    explain.add_argument("--addr", required=True, metavar="ADDR",
                         help="guest address of the block (0x..., decimal, or an ELF symbol)")
    explain.add_argument("--mem", type=_positive, default=128, metavar="MiB",
                         help="guest RAM in MiB (default 128)")
    explain.set_defaults(func=cmd_explain)

    from runtime.bench import command as bench
    from runtime.check.commands import add_diff_parser, add_fuzz_parser

    add_diff_parser(sub, _int, _positive)
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
    options = RunOptions(native=args.native, mem_mib=args.mem, deterministic=args.deterministic,
                         max_insns=args.max_insns, timeout_s=args.timeout, cmdline=args.cmdline,
                         modules=tuple(args.module), load_addr=args.load_addr, entry=args.entry,
                         console=None if args.quiet else sys.stdout.buffer, stdin=stdin,
                         argv=tuple(args.argv), fs_root=args.fs, disks=tuple(args.disk),
                         disk_write=args.disk_write, terminal=terminal)
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


def cmd_run(args: argparse.Namespace) -> int:
    try:
        _linux_args(args)
        result = run_guest(args)
    except GuestLoadError as err:
        sys.stderr.write(f"bt: {err}\n")
        return OUTCOMES[Outcome.BAD_INPUT][0]
    if args.screen:
        sys.stdout.write(result.screen)
    sys.stdout.flush()
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
        except OSError as err:
            sys.stderr.write(f"bt: {args.json}: cannot write: {err.strerror}\n")
            return OUTCOMES[Outcome.BAD_INPUT][0]
    return result.status


def cmd_explain(args: argparse.Namespace) -> int:
    from runtime.explain import explain, resolve_address
    from runtime.pc.paging import PageFault, PhysicalAccessError
    from runtime.session import RunOptions

    try:
        address = resolve_address(args.guest, args.addr)
        text = explain(args.guest, address, RunOptions(native=False, mem_mib=args.mem,
                                                       deterministic=True))
    except GuestLoadError as err:
        sys.stderr.write(f"bt: {err}\n")
        return OUTCOMES[Outcome.BAD_INPUT][0]
    except (PageFault, PhysicalAccessError):
        sys.stderr.write(f"bt: {args.guest}: address {args.addr} is outside guest RAM\n")
        return OUTCOMES[Outcome.BAD_INPUT][0]
    sys.stdout.write(text + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        sys.stderr.write("bt: interrupted\n")
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
