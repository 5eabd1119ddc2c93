"""``bt bench [NAMES] [--repeat N] [--json F] [--html F] [--no-qemu]`` on the CLI.

Exit statuses: 0 every row ran and agreed with its native run, or was skipped because
its program is not built here (targets missed do not fail the command: they are
measurements, shown as MISSED); 1 a run failed or disagreed with the native run;
2 bad input (unknown row, a suite file that cannot be read, an unwritable report path).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from runtime.bench import html, jsonout
from runtime.bench.measure import QEMU
from runtime.bench.runner import ProgressLine, RowResult, run_suite
from runtime.bench.suite import SuiteError, load_suite, load_targets, select
from runtime.bench.table import render

BAD_INPUT = 2


def add_parser(sub: object, positive: object) -> None:
    """Register ``bt bench`` on the CLI's subparsers."""
    p = sub.add_parser(  # type: ignore[attr-defined]
        "bench", help="benchmark the monitor against the bare machine and qemu",
        description="Run the benchmark suite (bench/suite.toml): each row natively, under the "
                    "monitor and under qemu-system-i386, interleaved per repeat; print the "
                    "times (processor seconds of the run loop, whole-process and start-up "
                    "times beside them), the translation cache's hit rate and counters, the "
                    "monitor's exits and faults, and the targets (bench/targets.toml) met or "
                    "missed. Exit 0 when every row that could run here ran and agreed with its native run.")
    p.add_argument("names", nargs="*", metavar="NAME", help="rows to run (default: all)")
    p.add_argument("--repeat", type=positive, default=1, metavar="N",
                   help="runs of each side (median and spread; default 1)")
    p.add_argument("--json", metavar="FILE", default=None, help="write the report as JSON")
    p.add_argument("--html", metavar="FILE", default=None, help="write an HTML report with plots")
    p.add_argument("--no-qemu", action="store_true", help="skip the qemu-system-i386 runs")
    p.add_argument("--list", action="store_true", help="list the rows and exit")
    p.set_defaults(func=cmd_bench)


def _writable(path: str | None) -> str:
    if path is None:
        return ""
    parent = Path(path).resolve().parent
    return "" if parent.is_dir() else f"{path}: cannot write: no directory {parent}"


def cmd_bench(args: argparse.Namespace) -> int:
    try:
        rows = select(load_suite(), list(args.names))
        targets = load_targets()
    except SuiteError as err:
        sys.stderr.write(f"bt bench: {err}\n")
        return BAD_INPUT
    if args.list:
        for r in rows:
            sys.stdout.write(f"{r.name:<16} {r.what}\n")
        return 0
    for path in (args.json, args.html):
        why = _writable(path)
        if why:
            sys.stderr.write(f"bt bench: {why}\n")
            return BAD_INPUT
    qemu = not args.no_qemu
    if qemu and shutil.which(QEMU) is None:
        sys.stderr.write(f"bt bench: {QEMU} is not installed: reference runs skipped\n")
        qemu = False
    progress = ProgressLine()

    def done(res: RowResult) -> None:
        progress(f"{res.row.name}: done" + (f" ({res.problem})" if res.problem else ""))

    results = run_suite(rows, targets, args.repeat, qemu, progress, done)
    progress.clear()
    sys.stdout.write(render(results) + "\n")
    doc = jsonout.report(results, args.repeat, qemu)
    if args.json:
        jsonout.write(Path(args.json), doc)
        sys.stdout.write(f"JSON: {args.json}\n")
    if args.html:
        html.write(Path(args.html), results, doc, targets.ratio_max, targets.hit_rate_min)
        sys.stdout.write(f"HTML report: file://{Path(args.html).resolve()}\n")
    return 0 if all(r.ok or r.skipped for r in results) else 1
