"""The terminal report: one line a row in three tables (time, translation cache,
monitor), then the targets, met or missed.

Times are processor seconds (user + system) of the run loop for native and monitor,
of the whole process for qemu and the host; ``±`` is the spread (max - min) / median
over the repeats. ``mon/nat`` is the monitor's run loop over the native one's;
``mon/ref`` the monitor's whole process over the reference's (qemu-system-i386, or the
host CPU for a Linux row).
"""

from __future__ import annotations

from typing import Any

from runtime.bench.runner import RowResult


def _k(n: float) -> str:
    n = float(n)
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.1f}{unit}"
    return f"{n:.0f}"


def _t(side: dict[str, Any] | None, key: str = "loop_cpu_stat") -> str:
    if side is None:
        return "-"
    st = side[key]
    return f"{st['median']:.2f}±{st['spread'] * 100:.0f}%"


_RATIOS = ("ratio_native", "rss_native", "rss_reference")


def _pct(x: float) -> str:
    return f"{x * 100:.3f}"


def time_table(results: list[RowResult]) -> list[str]:
    lines = [f"{'row':<15} {'native s':>11} {'monitor s':>11} {'ref s':>11} {'mon/nat':>8} "
             f"{'mon/ref':>8} {'wall n/m/r s':>17} {'start-up n/m s':>15} {'guest insns':>11} "
             f"{'unicorn%':>8} {'ctr miss n/m':>13}"]
    for r in results:
        if not r.ok:
            lines.append(f"{r.row.name:<15} {r.problem}")
            continue
        s = r.summary
        sd = s["sides"]
        ref = sd.get(r.row.reference)
        walls = "/".join(f"{sd[x]['wall_stat']['median']:.2f}" if x in sd else "-"
                         for x in ("native", "monitor", r.row.reference))
        starts = "/".join(f"{sd[x]['startup_wall_stat']['median']:.2f}" for x in ("native", "monitor"))
        rr = s["ratio_reference"]
        lines.append(
            f"{r.row.name:<15} {_t(sd['native']):>11} {_t(sd['monitor']):>11} "
            f"{_t(ref, 'cpu_stat'):>11} {s['ratio_native']:>7.2f}x "
            f"{(f'{rr:.2f}x' if rr is not None else '-'):>8} {walls:>17} {starts:>15} "
            f"{_k(sd['native']['instructions']):>11} {sd['monitor']['unicorn_share'] * 100:>7.1f}% "
            f"{sd['native']['counter_misses']:>6}/{sd['monitor']['counter_misses']:<6}")
    return lines


def cache_table(results: list[RowResult]) -> list[str]:
    lines = [f"{'row':<15} {'hit%':>8} {'warm%':>8} {'chained':>8} {'inline':>8} {'l-miss':>7} "
             f"{'dispatch':>8} {'blocks':>7} {'insns xl':>8} {'xl/s':>7} {'expand':>6} "
             f"{'inval':>6} {'flush':>5}"]
    for r in results:
        if not r.ok:
            continue
        m = r.summary["monitor"]
        lk = m["lookups"]
        lines.append(
            f"{r.row.name:<15} {_pct(m['hit_rate']):>8} {_pct(m['hit_rate_warm']):>8} "
            f"{_k(lk['chained']):>8} {_k(lk['inline_hits']):>8} {_k(lk['inline_misses']):>7} "
            f"{_k(lk['dispatch_hits'] + lk['dispatch_misses']):>8} {_k(m['blocks_translated']):>7} "
            f"{_k(m['guest_insns_translated']):>8} {_k(m['translation_ips']):>7} "
            f"{m['expansion']:>5.1f}x {m['invalidations']:>6} {m['flushes']:>5}")
    return lines


def monitor_table(results: list[RowResult]) -> list[str]:
    lines = [f"{'row':<15} {'exits/Mi':>9} {'us/exit':>8} {'inline':>7} {'faults h/t/tr':>16} "
             f"{'adapt':>5}  callouts by kind"]
    for r in results:
        if not r.ok:
            continue
        m = r.summary["monitor"]
        top = sorted(m["callouts"].items(), key=lambda kv: -kv[1])[:4]
        callouts = ", ".join(f"{k} {_k(v)}" for k, v in top) or "-"
        faults = f"{_k(m['hidden_faults'])}/{_k(m['true_faults'])}/{_k(m['trace_faults'])}"
        lines.append(f"{r.row.name:<15} {m['exits_per_mi']:>9.1f} {m['us_per_exit']:>8.1f} "
                     f"{m['inline_emulations']:>7} {faults:>16} {m['adaptive_retranslations']:>5}  "
                     f"{callouts}")
    return lines


def memory_table(results: list[RowResult]) -> list[str]:
    """Peak RSS of each side (MiB) and the monitor's over native and the reference; the
    translation cache's live and resident blocks and metadata bytes per guest insn."""
    lines = [f"{'row':<15} {'native MiB':>10} {'monitor MiB':>11} {'ref MiB':>8} {'mon/nat':>8} "
             f"{'mon/ref':>8} {'live blk':>8} {'resident':>8} {'reclaimed':>9} {'meta B/insn':>11}"]
    for r in results:
        if not r.ok:
            continue
        s, m = r.summary, r.summary["monitor"]
        rss = s.get("peak_rss_kb", {})
        ref = rss.get(r.row.reference)
        rr = s.get("rss_reference")
        lines.append(
            f"{r.row.name:<15} {rss.get('native', 0) / 1024:>10.1f} {rss.get('monitor', 0) / 1024:>11.1f} "
            f"{(f'{ref / 1024:.1f}' if ref else '-'):>8} {s.get('rss_native', 0.0):>7.2f}x "
            f"{(f'{rr:.2f}x' if rr else '-'):>8} {_k(m['live_blocks']):>8} "
            f"{_k(m['resident_blocks']):>8} {_k(m['reclaimed_blocks']):>9} "
            f"{m['metadata_per_insn']:>11.1f}")
    return lines


def targets_table(results: list[RowResult]) -> list[str]:
    lines = []
    for r in results:
        for t in r.summary.get("targets", []):
            v, lim = t["value"], t["limit"]
            fmt = (lambda x: f"{x * 100:.3f}%") if t["target"] == "hit_rate_warm" else \
                  (lambda x: f"{x:.2f}x") if t["target"] in _RATIOS else \
                  (lambda x: f"{x:.1f}") if t["target"] == "metadata_per_insn" else _k
            lines.append(f"{r.row.name:<15} {t['target']:<16} {fmt(v):>10} {t['op']} "
                         f"{fmt(lim):<10} {'met' if t['met'] else 'MISSED'}")
    return lines


def render(results: list[RowResult]) -> str:
    met = sum(t["met"] for r in results for t in r.summary.get("targets", []))
    total = sum(len(r.summary.get("targets", [])) for r in results)
    parts = ["time (processor seconds, user + system; ± spread over repeats)",
             *time_table(results), "",
             "translation cache (monitor; hit% = hits / lookups, warm% leaves out compulsory "
             "misses)", *cache_table(results), "",
             "monitor (exits to Python per Mi guest instructions, Python us per exit, "
             "faults hidden/true/trace)", *monitor_table(results), "",
             "memory (peak RSS of each process; translation metadata, Python side, per "
             "translated guest insn)", *memory_table(results), "",
             f"targets: {met} of {total} met", *targets_table(results)]
    return "\n".join(parts)
