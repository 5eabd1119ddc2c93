"""The arguments of ``bt diff`` and ``bt fuzz``, kept apart from their machinery.

Building the ``bt`` parser must stay cheap (start-up of ``bt run``): this module imports
nothing of btvmm but the status tables and value checks the CLI has already loaded
(:mod:`runtime.endings`, :mod:`runtime.validate`), and each command's module (:mod:`~runtime.check.diff`,
:mod:`~runtime.check.fuzz`, which pull in capstone, the machine, the fuzz generator and
keystone) is imported only when that command runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable
from pathlib import Path

from runtime.endings import DIFF_STATUSES, FUZZ_STATUSES, status_lines
from runtime.validate import non_negative
from runtime.validate import seconds as finite_seconds

REGRESSIONS = Path(__file__).resolve().parents[2] / "corpus" / "regressions"


def _command(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """``module.name(args)``, the module imported at the call."""

    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module), name)(args)

    return run


def add_diff_parser(sub: object, int_type: object, positive: object) -> None:
    """Register ``bt diff`` on the CLI's subparsers."""
    p = sub.add_parser(  # type: ignore[attr-defined]
        "diff", help="compare a guest's native, monitored and qemu runs",
        description="Run GUEST natively, under the monitor (both with the deterministic clock) "
                    "and under qemu-system-i386 when installed; compare output, exit status, "
                    "final registers and a guest RAM digest; on a difference, find the first "
                    "guest instruction after which native and monitor differ. Exit 0 only if "
                    "all agree.",
        epilog="exit statuses:\n" + status_lines(DIFF_STATUSES),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("guest", help="guest image (ELF, multiboot, or flat with --load-addr), or a "
                                 "static i386 Linux program: then the host CPU, the bare machine "
                                 "and the monitor run it (runtime/linux/compare.py)")
    p.add_argument("args", nargs="...", metavar="ARGS",
                   help="a Linux program's arguments (a first '--' is dropped)")
    p.add_argument("--fs", metavar="DIR", default=None, help="a Linux program's / (see bt run)")
    p.add_argument("--stdin", metavar="FILE", default=None,
                   help="a Linux program's stdin in every run (default /dev/null)")
    p.add_argument("--timeout", type=finite_seconds, default=None, metavar="SECONDS",
                   help="a Linux program's time limit per run")
    p.add_argument("--mem", type=positive, default=128, metavar="MiB", help="guest RAM (default 128)")
    p.add_argument("--load-addr", type=int_type, default=None, metavar="ADDR",
                   help="load a flat binary at this physical address")
    p.add_argument("--entry", type=int_type, default=None, metavar="ADDR", help="flat binary entry")
    p.add_argument("--max-insns", type=positive, default=None, metavar="N",
                   help="stop both runs after N guest instructions")
    p.add_argument("--no-qemu", action="store_true", help="skip the qemu run")
    p.add_argument("--no-search", action="store_true", help="do not look for the first divergence")
    p.add_argument("--replay", metavar="FILE", default=None,
                   help="both runs (and the divergence search) take the serial input of a "
                        "recording (bt run --record FILE), each batch at its guest "
                        "instruction count; qemu cannot replay one, so its comparison is "
                        "skipped with a note")
    p.set_defaults(func=_command("runtime.check.diff", "cmd_diff"))


def add_fuzz_parser(sub: object, int_type: object, positive: object, seconds: object) -> None:
    """Register ``bt fuzz`` on the CLI's subparsers."""
    p = sub.add_parser(  # type: ignore[attr-defined]
        "fuzz", help="differential campaign: random guests, native, monitor and qemu",
        description="Generate random guest kernels (ALU, memory, stack and string work mixed "
                    "with sensitive and privileged instructions), run each natively, under "
                    "the monitor and under qemu-system-i386 (when installed), and report "
                    "divergences (a qemu difference no triaged row explains is one); diverging "
                    "programs are shrunk and saved to corpus/regressions. Exit 0 only if none "
                    "diverged.",
        epilog="exit statuses:\n" + status_lines(FUZZ_STATUSES),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=seconds, default=30.0, metavar="N", help="run time (default 30)")
    p.add_argument("--programs", type=positive, default=None, metavar="N",
                   help="stop after N programs")
    p.add_argument("--seed", type=int_type, default=0, metavar="S", help="first seed (default 0)")
    p.add_argument("--workers", type=positive, default=os.cpu_count() or 1, metavar="N",
                   help="worker processes (default: one per CPU)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on a Dask distributed scheduler (needs dask installed)")
    p.add_argument("--no-qemu", action="store_true",
                   help="do not run the programs under qemu-system-i386 (default: every one)")
    p.add_argument("--save-dir", default=str(REGRESSIONS), metavar="DIR",
                   help="where shrunk reproducers go (default corpus/regressions)")
    p.add_argument("--shrink", type=non_negative, default=3, metavar="N",
                   help="shrink and save at most N diverging programs (default 3)")
    p.add_argument("--avoid-known", action="store_true",
                   help="step around the known divergences (runtime/check/fuzzgen.py KNOWN)")
    p.set_defaults(func=_command("runtime.check.fuzz", "cmd_fuzz"))
