"""The HTML report of ``bt bench --html F``: the tables and four plots (hit rate,
monitor/native and monitor/reference ratios against their targets, exits to Python per
Mi guest instructions, the Python/unicorn split of the monitor's time), drawn with
matplotlib (Agg) and inlined as base64 PNGs, so the file opens offline.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from runtime.bench.runner import RowResult
from runtime.bench.table import render

_CSS = ("body{font-family:sans-serif;margin:2em;max-width:1400px}"
        "pre{font-size:12px;background:#f6f6f6;padding:1em;overflow-x:auto}"
        "img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}"
        ".missed{color:#b00}.met{color:#070}")


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(results: list[RowResult], targets: dict[str, float], hit_min: float) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in results if r.ok]
    names = [r.row.name for r in ok]
    x = list(range(len(ok)))
    out = []

    fig, ax = plt.subplots(figsize=(11, 3.6))
    floor = 1e-7  # a row with no miss at all is drawn at the floor
    allm = [max(1 - r.summary["monitor"]["hit_rate"], floor) * 100 for r in ok]
    warm = [max(1 - min(1.0, r.summary["monitor"]["hit_rate_warm"]), floor) * 100 for r in ok]
    ax.bar([i - 0.2 for i in x], allm, 0.4, label="all lookups")
    ax.bar([i + 0.2 for i in x], warm, 0.4, label="after the first pass")
    ax.axhline((1 - hit_min) * 100, color="red", linestyle="--",
               label=f"target: hit rate >= {hit_min * 100:g}% after the first pass")
    ax.set_yscale("log")
    ax.set_ylabel("miss rate, % of lookups (log)")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.legend(fontsize=8)
    ax.set_title("translation cache: miss rate = 100% - hit rate (lower is better)")
    out.append(("Hit rate", _png(fig)))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(11, 3.6))
    rn = [r.summary["ratio_native"] for r in ok]
    rr = [r.summary["ratio_reference"] or 0.0 for r in ok]
    ax.bar([i - 0.2 for i in x], rn, 0.4, label="monitor / native (run loop)")
    ax.bar([i + 0.2 for i in x], rr, 0.4, label="monitor / reference (whole process)")
    for i, r in enumerate(ok):
        if r.row.name in targets:
            ax.plot([i - 0.4, i + 0.4], [targets[r.row.name]] * 2, color="red")
    ax.plot([], [], color="red", label="target (monitor / native)")
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_ylabel("ratio (log)")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.legend(fontsize=8)
    ax.set_title("speed: processor-time ratios")
    out.append(("Ratios", _png(fig)))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(11, 3.6))
    ex = [max(r.summary["monitor"]["exits_per_mi"], 1e-3) for r in ok]
    ax.bar(x, ex, color="tab:purple")
    ax.set_yscale("log")
    ax.set_ylabel("exits / Mi guest insns (log)")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_title("exits to Python per million guest instructions (monitor)")
    out.append(("Exits", _png(fig)))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(11, 3.6))
    uni = [r.summary["sides"]["monitor"]["unicorn_share"] * 100 for r in ok]
    nat = [r.summary["sides"]["native"]["unicorn_share"] * 100 for r in ok]
    ax.bar([i - 0.2 for i in x], uni, 0.4, label="monitor: in unicorn")
    ax.bar([i - 0.2 for i in x], [100 - u for u in uni], 0.4, bottom=uni, label="monitor: in Python")
    ax.bar([i + 0.2 for i in x], nat, 0.4, label="native: in unicorn")
    ax.bar([i + 0.2 for i in x], [100 - u for u in nat], 0.4, bottom=nat, label="native: in Python")
    ax.set_ylabel("% of run-loop wall time")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    ax.set_title("time split: Python against unicorn (sampled)")
    out.append(("Time split", _png(fig)))
    plt.close(fig)
    return out


def write(path: Path, results: list[RowResult], doc: dict[str, Any], ratio_max: dict[str, float],
          hit_min: float) -> None:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>bt bench</title>",
             f"<style>{_CSS}</style></head><body><h1>bt bench</h1>",
             f"<p>{len(results)} rows, {doc['repeat']} repeat(s), reference runs: "
             f"{'qemu-system-i386' if doc['qemu'] else 'none (--no-qemu)'}.</p>"]
    if any(r.ok for r in results):
        for title, png in _plots(results, ratio_max, hit_min):
            parts.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
                         f"src='data:image/png;base64,{png}'>")
    parts.append("<h2>Tables</h2><pre>" + html.escape(render(results)) + "</pre>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts))
