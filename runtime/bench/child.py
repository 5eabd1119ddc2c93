"""One side of one benchmark row, in a process of its own (``bt bench`` starts it).

    python -m runtime.bench.child --side native|monitor --out F [--cmdline S] [--disk IMG] GUEST
    python -m runtime.bench.child --side native|monitor --out F --linux ROW

Writes F (JSON): the run's outcome, status, console output and counters (as ``bt run
--json`` has them), the run loop's wall and processor time (boot and load excluded:
that is start-up, which the parent gets as the whole process less the run loop), and
the Python/unicorn split of the run loop (:mod:`runtime.bench.sampler`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from runtime.bench.sampler import TimeSplit


def _kernel(guest: str, native: bool, cmdline: str, disk: str | None) -> dict[str, object]:
    from runtime.pc.devices.disk import DiskSpec
    from runtime.session import RunOptions, prepare

    disks = (DiskSpec(disk),) if disk else ()
    machine, state = prepare(guest, RunOptions(native=native, console=None,
                                               cmdline=cmdline or None, disks=disks))
    split = TimeSplit().start()
    wall, cpu = time.perf_counter(), time.process_time()
    result = machine.run(state)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    split.stop()
    return {"outcome": result.outcome.value, "status": result.status,
            "output": result.output.decode("latin-1"), "stats": result.stats,
            "loop_wall": wall, "loop_cpu": cpu, "unicorn_s": split.unicorn_s,
            "python_s": split.python_s, "samples": split.samples}


def _linux(row: str, native: bool) -> dict[str, object]:
    from runtime.linux.bench import ROWS
    from runtime.linux.compare import guest_run

    r = ROWS[row]
    with tempfile.TemporaryDirectory() as scratch:
        args = r.args(Path(scratch))
        split = TimeSplit().start()
        run = guest_run(str(r.program), args, native)
        split.stop()
    return {"outcome": "guest-exit" if not run.message else "error", "status": run.status,
            "output": run.stdout.decode("latin-1"), "stats": run.stats,
            "loop_wall": run.seconds, "loop_cpu": run.cpu_seconds,
            "unicorn_s": split.unicorn_s, "python_s": split.python_s,
            "samples": split.samples, "message": run.message}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m runtime.bench.child")
    p.add_argument("--side", choices=("native", "monitor"), required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--linux", default=None, metavar="ROW")
    p.add_argument("--cmdline", default="")
    p.add_argument("--disk", default=None)
    p.add_argument("guest", nargs="?")
    a = p.parse_args(argv)
    native = a.side == "native"
    doc = _linux(a.linux, native) if a.linux else _kernel(a.guest, native, a.cmdline, a.disk)
    Path(a.out).write_text(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
