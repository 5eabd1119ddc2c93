"""Running the suite: every side of a row interleaved per repeat (native, monitor, the
reference, then again), so that a change in the machine's load hits all sides alike;
the median and spread of each side; the targets met or missed.

A row whose runs disagree (the monitor's or the reference's output differs from the
native run's, a run fails) gets a problem instead of a time: a wrong answer fast is
no benchmark.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runtime.bench.columns import monitor_columns, run_columns
from runtime.bench.measure import Sample, missing, run_side
from runtime.bench.suite import Row, Targets

Progress = Callable[[str], None]


@dataclass
class RowResult:
    row: Row
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    problem: str = ""
    #: the row cannot run here (a program not built or fetched): reported, not a failure
    skipped: bool = False
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problem


def sides(row: Row, qemu: bool) -> list[str]:
    return ["native", "monitor"] + ([row.reference] if qemu or row.linux else [])


def _checksum_line(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.startswith("bench ")]
    return lines[-1] if lines else ""


def _median_sample(samples: list[Sample], key: str) -> Sample:
    ordered = sorted(samples, key=lambda s: getattr(s, key))
    return ordered[(len(ordered) - 1) // 2]


def _stat(values: list[float]) -> dict[str, float]:
    med = statistics.median(values)
    return {"median": med, "min": min(values), "max": max(values),
            "spread": (max(values) - min(values)) / med if med else 0.0}


def measure_row(row: Row, repeat: int, qemu: bool, progress: Progress) -> RowResult:
    res = RowResult(row)
    why = missing(row)
    if why:
        res.problem, res.skipped = f"skipped: {why}", True
        return res
    names = sides(row, qemu)
    for k in range(repeat):
        for side in names:
            progress(f"{row.name}: {side}, repeat {k + 1} of {repeat}")
            s = run_side(row, side)
            res.samples.setdefault(side, []).append(s)
            if s.problem:
                res.problem = f"{side}: {s.problem}"
                return res
    native = res.samples["native"][0]
    for side in names[1:]:
        for s in res.samples[side]:
            if s.output != native.output:
                a, b = _checksum_line(native.output), _checksum_line(s.output)
                res.problem = (f"{side} output differs from native"
                               + (f" ({b!r} vs {a!r})" if a != b else ""))
                return res
    if native.status != res.samples["monitor"][0].status:
        res.problem = "monitor exit status differs from native"
        return res
    res.summary = summarize(res)
    return res


def summarize(res: RowResult) -> dict[str, Any]:
    out: dict[str, Any] = {"sides": {}}
    for side, samples in res.samples.items():
        key = "loop_cpu" if side in ("native", "monitor") else "cpu"
        med = _median_sample(samples, key)
        out["sides"][side] = {
            **run_columns(med),
            "loop_cpu_stat": _stat([s.loop_cpu for s in samples]),
            "loop_wall_stat": _stat([s.loop_wall for s in samples]),
            "cpu_stat": _stat([s.cpu for s in samples]),
            "wall_stat": _stat([s.wall for s in samples]),
            "startup_wall_stat": _stat([s.startup_wall for s in samples]),
            "repeats": len(samples),
        }
    sd = out["sides"]
    n, m = sd["native"], sd["monitor"]
    out["ratio_native"] = m["loop_cpu_stat"]["median"] / n["loop_cpu_stat"]["median"] \
        if n["loop_cpu_stat"]["median"] else 0.0
    out["ratio_native_wall"] = m["loop_wall_stat"]["median"] / n["loop_wall_stat"]["median"] \
        if n["loop_wall_stat"]["median"] else 0.0
    ref = res.row.reference
    if ref in sd:
        r = sd[ref]["cpu_stat"]["median"]
        out["ratio_reference"] = m["cpu_stat"]["median"] / r if r else 0.0
    else:
        out["ratio_reference"] = None
    out["monitor"] = monitor_columns(_median_sample(res.samples["monitor"], "loop_cpu"))
    rss = {side: statistics.median(s.peak_rss_kb for s in samples)
           for side, samples in res.samples.items()}
    out["peak_rss_kb"] = rss
    out["rss_native"] = rss["monitor"] / rss["native"] if rss.get("native") else 0.0
    out["rss_reference"] = rss["monitor"] / rss[ref] if rss.get(ref) else None
    return out


def judge(res: RowResult, targets: Targets) -> list[dict[str, Any]]:
    """The targets of this row: what, the value reached, the limit, met or not."""
    if not res.ok:
        return []
    s, name = res.summary, res.row.name
    out = [{"target": "hit_rate_warm", "value": s["monitor"]["hit_rate_warm"],
            "limit": targets.hit_rate_min, "op": ">=",
            "met": s["monitor"]["hit_rate_warm"] >= targets.hit_rate_min}]
    if name in targets.ratio_max:
        lim = targets.ratio_max[name]
        out.append({"target": "ratio_native", "value": s["ratio_native"], "limit": lim,
                    "op": "<=", "met": s["ratio_native"] <= lim})
    if name in targets.translation_min:
        lim = targets.translation_min[name]
        v = s["monitor"]["translation_ips"]
        out.append({"target": "translation_ips", "value": v, "limit": lim, "op": ">=",
                    "met": v >= lim})
    mem = targets.memory
    if "rss_native_max" in mem and s.get("rss_native"):
        lim = mem["rss_native_max"]
        out.append({"target": "rss_native", "value": s["rss_native"], "limit": lim,
                    "op": "<=", "met": s["rss_native"] <= lim})
    if "rss_reference_max" in mem and s.get("rss_reference"):
        lim = mem["rss_reference_max"]
        out.append({"target": "rss_reference", "value": s["rss_reference"], "limit": lim,
                    "op": "<=", "met": s["rss_reference"] <= lim})
    if "metadata_per_insn_max" in mem and s["monitor"].get("guest_insns_translated"):
        lim, v = mem["metadata_per_insn_max"], s["monitor"]["metadata_per_insn"]
        out.append({"target": "metadata_per_insn", "value": v, "limit": lim, "op": "<=",
                    "met": v <= lim})
    return out


class ProgressLine:
    """One line on stderr, rewritten in place, when stderr is a terminal."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, text: str) -> None:
        if self.live:
            self.stream.write(f"\r\x1b[K[bt bench] {text}")
            self.stream.flush()

    def clear(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def run_suite(rows: list[Row], targets: Targets, repeat: int, qemu: bool,
              progress: Progress | None = None,
              done: Callable[[RowResult], None] | None = None) -> list[RowResult]:
    results = []
    for row in rows:
        res = measure_row(row, repeat, qemu, progress or (lambda _t: None))
        res.summary["targets"] = judge(res, targets)
        results.append(res)
        if done is not None:
            done(res)
    return results
