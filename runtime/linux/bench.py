"""The Linux benchmark rows, for ``bt bench``: a program timed on the host CPU, on the bare
machine (guest kernel at real ring 0) and under the monitor.

    .venv/bin/python -m runtime.linux.bench                  # both rows
    .venv/bin/python -m runtime.linux.bench linux-syscalls --repeat 3

Rows are data (:data:`ROWS`): ``linux-syscalls`` is ``tests/linux/bench_syscalls``
making 100,000 ``getppid`` calls through ``int 0x80`` (each one a trap into the guest
kernel and back: under the monitor, a ring-3 trap, a translated kernel path and an
``iret`` callout); ``busybox-sha256`` is Debian's busybox ``sha256sum`` of a 16 MiB file
(user compute, direct at ring 3, plus 64 KiB reads through the channel). A time is the
processor time (user + system) of the best of ``--repeat`` whole runs, boot included;
wall-clock seconds follow it (on a machine shared with other work they measure the load
as much as the run). Each guest run's output must equal the host CPU's, or the row
reports the difference instead of a time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runtime.linux.compare import ProgramRun, guest_run, host_run

ROOT = Path(__file__).resolve().parent.parent.parent
MIB = 1 << 20


@dataclass(frozen=True)
class Row:
    name: str
    program: Path
    #: the arguments, given a scratch directory the row may fill first
    args: Callable[[Path], list[str]]
    what: str


def _sha256_input(scratch: Path) -> list[str]:
    data = scratch / "16m.bin"
    if not data.exists():
        block = bytes((i * 2654435761 >> 13) & 0xFF for i in range(MIB))
        with open(data, "wb") as f:
            for _ in range(16):
                f.write(block)
    return ["sha256sum", str(data)]


ROWS: dict[str, Row] = {r.name: r for r in (
    Row("linux-syscalls", ROOT / "tests" / "linux" / "build" / "bench_syscalls",
        lambda _d: ["100000"], "100,000 getppid system calls (int 0x80)"),
    Row("busybox-sha256", ROOT / ".cache" / "busybox" / "bin" / "busybox", _sha256_input,
        "busybox sha256sum of a 16 MiB file"),
)}


RUNS = ("host", "native", "monitor")


@dataclass
class Timing:
    """A row's best runs (by processor time), or why it has none."""

    row: str
    runs: dict[str, ProgramRun] = field(default_factory=dict)
    problem: str = ""

    def line(self) -> str:
        if self.problem:
            return f"{self.row:<16} {self.problem}"
        cpu = [self.runs[r].cpu_seconds for r in RUNS]
        wall = "/".join(f"{self.runs[r].seconds:.2f}" for r in RUNS)
        return (f"{self.row:<16} {cpu[0]:>9.3f} {cpu[1]:>9.3f} {cpu[2]:>9.3f} "
                f"{cpu[1] / cpu[0]:>11.1f}x {cpu[2] / cpu[0]:>11.1f}x "
                f"{cpu[2] / cpu[1]:>11.2f}x   {wall}")


HEADER = (f"{'row':<16} {'host s':>9} {'native s':>9} {'monitor s':>9} "
          f"{'native/host':>12} {'monitor/host':>12} {'mon/native':>12}   wall s h/n/m\n"
          f"{'':<16} (processor seconds, user + system: fair on a shared machine)")


def measure(row: Row, scratch: Path, repeat: int = 1) -> Timing:
    if not row.program.exists():
        return Timing(row.name, problem=f"{row.program} is not built ('make linux', "
                                        "'make busybox')")
    args = row.args(scratch)
    best: dict[str, ProgramRun] = {}
    for _ in range(repeat):
        runs = {"host": host_run(str(row.program), args),
                "native": guest_run(str(row.program), args, True),
                "monitor": guest_run(str(row.program), args, False)}
        for name, run in runs.items():
            if name != "host" and run.key() != runs["host"].key():
                return Timing(row.name, problem=f"{name} differs from the host CPU: "
                                                f"{run.message or run.stdout[:60]!r}")
            if name not in best or run.cpu_seconds < best[name].cpu_seconds:
                best[name] = run
    return Timing(row.name, best)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m runtime.linux.bench",
                                description="time the Linux benchmark rows")
    p.add_argument("rows", nargs="*", metavar="ROW",
                   help=f"rows to run (default all: {', '.join(ROWS)})")
    p.add_argument("--repeat", type=int, default=1, help="best of N runs (default 1)")
    a = p.parse_args(argv)
    unknown = [r for r in a.rows if r not in ROWS]
    if unknown or a.repeat < 1:
        p.error(f"unknown row {unknown[0]!r}" if unknown else "--repeat must be positive")
    print(HEADER)
    ok = True
    with tempfile.TemporaryDirectory() as scratch:
        for name in a.rows or ROWS:
            t = measure(ROWS[name], Path(scratch), a.repeat)
            ok &= not t.problem
            print(t.line(), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
