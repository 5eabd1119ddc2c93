"""Timing one process as a user would: wall time, and processor time (user + system)
from the kernel's rusage of that process alone (``os.wait4``), which a shared machine
disturbs far less than wall time.

A :class:`Sample` is one side of one row, once: the child's JSON (outcome, output,
counters, run loop times) for native and monitor, or the serial output for qemu.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from runtime.bench.suite import ROOT, Row

QEMU = "qemu-system-i386"
#: the command line corpus/reference.py runs guests with (the corpus's reference)
QEMU_ARGS = ["-display", "none", "-serial", "stdio",
             "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-no-reboot", "-m", "128",
             "-kernel"]
TIMEOUT_S = 300.0


@dataclass
class Sample:
    side: str
    wall: float          # the whole process
    cpu: float           # the whole process: user + system
    loop_wall: float = 0.0   # the run loop alone (native and monitor)
    loop_cpu: float = 0.0
    output: str = ""
    status: int = 0
    problem: str = ""    # why this sample is not a valid run (empty: valid)
    stats: dict[str, object] = field(default_factory=dict)
    unicorn_s: float = 0.0
    python_s: float = 0.0
    peak_rss_kb: int = 0  # the process's peak resident set (ru_maxrss)

    @property
    def startup_wall(self) -> float:
        return max(0.0, self.wall - self.loop_wall)


def _timed(cmd: list[str], stdin: int | None = subprocess.DEVNULL
           ) -> tuple[float, float, int, bytes, int]:
    """Run ``cmd``; its wall time, processor time, status, stdout and peak RSS (KiB, the
    kernel's ``ru_maxrss`` of that process alone)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _pid, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    return wall, ru.ru_utime + ru.ru_stime, proc.returncode, out, ru.ru_maxrss


def qemu_extra_args(row: Row) -> list[str]:
    """qemu's options for a row's command line and disk (as corpus/reference.py boots
    btos: snapshot=on, so the image is never written or locked)."""
    args = []
    if row.disk is not None:
        args += ["-drive", f"file={row.disk},format=raw,if=ide,index=0,snapshot=on"]
    return args + (["-append", row.cmdline] if row.cmdline else [])


def run_side(row: Row, side: str) -> Sample:
    """One run of ``row`` on ``side`` (native, monitor, qemu or host)."""
    if side == "qemu":
        assert row.guest is not None
        wall, cpu, status, out, rss = _timed([QEMU, *QEMU_ARGS, str(row.guest),
                                              *qemu_extra_args(row)])
        return Sample(side, wall, cpu, wall, cpu, out.decode("latin-1"), status, peak_rss_kb=rss)
    if side == "host":
        from runtime.linux.bench import ROWS

        r = ROWS[str(row.linux)]
        with tempfile.TemporaryDirectory() as scratch:
            args = r.args(Path(scratch))
            wall, cpu, status, out, rss = _timed([str(r.program), *args])
        return Sample(side, wall, cpu, wall, cpu, out.decode("latin-1"), status, peak_rss_kb=rss)
    with tempfile.TemporaryDirectory() as tmp:
        out_json = Path(tmp) / "run.json"
        cmd = [sys.executable, "-m", "runtime.bench.child", "--side", side, "--out", str(out_json)]
        cmd += ["--linux", str(row.linux)] if row.linux else [str(row.guest)]
        cmd += ["--cmdline", row.cmdline] if row.cmdline else []
        cmd += ["--disk", str(row.disk)] if row.disk else []
        wall, cpu, status, _out, rss = _timed(cmd)
        if status != 0 or not out_json.exists():
            return Sample(side, wall, cpu, problem=f"the {side} run failed (status {status})")
        doc = json.loads(out_json.read_text())
    return Sample(side, wall, cpu, float(doc["loop_wall"]), float(doc["loop_cpu"]),
                  str(doc["output"]), int(doc["status"]), str(doc.get("message") or ""),
                  dict(doc["stats"]), float(doc["unicorn_s"]), float(doc["python_s"]), rss)


def missing(row: Row) -> str:
    """Why ``row`` cannot run here (empty: it can)."""
    if row.guest is not None:
        for path in (row.guest, row.disk):
            if path is not None and not path.exists():
                return f"{path.relative_to(ROOT)} is not built ('make corpus')"
        return ""
    from runtime.linux.bench import ROWS

    r = ROWS.get(str(row.linux))
    if r is None:
        return f"no Linux row {row.linux!r} in runtime/linux/bench.py"
    return "" if r.program.exists() else f"{r.program} is not built ('make linux', 'make busybox')"
