"""The columns of a row, derived from one run's counters (``bt run --json`` stats).

The translation cache's **hit rate** splits every transfer of control between
translations into four kinds (the C block hook counts the first two inside unicorn,
by the kind of block start, see :data:`runtime.pc.icount.BLOCK_KINDS`):

* chained jumps: runs of a translation body less the monitor's own entries there;
* inline lookup-table hits: runs of a translation's lookup entry (only ret and
  indirect branches jump there, through the two-level table);
* lookup misses: the table's miss stub (a call into the monitor);
* monitor dispatches: the monitor looking a guest EIP up in its map (after an exit,
  a miss, a delivery, a callout leaving its block), a hit or a miss.

``hits + misses == lookups``. The hit rate *after the first pass* leaves out the
compulsory misses (a block's first translation, an EIP's first table install),
which no cache avoids; targets are set on it.
"""

from __future__ import annotations

from typing import Any

from runtime.bench.measure import Sample


def _d(stats: dict[str, Any], key: str) -> dict[str, Any]:
    v = stats.get(key)
    return v if isinstance(v, dict) else {}


def hit_split(stats: dict[str, Any]) -> dict[str, int]:
    """Lookups by kind, hits, misses and compulsory misses of a monitor run."""
    tr, mon, runs = _d(stats, "translator"), _d(stats, "monitor"), _d(stats, "block_runs")
    entries = int(mon.get("translated_entries", 0))
    chained = max(0, int(runs.get("block_body", 0)) - entries)
    inline_hits = int(runs.get("lookup_entry", 0))
    inline_misses = int(mon.get("lookup_misses", 0))
    dispatch_hits, dispatch_misses = int(tr.get("hits", 0)), int(tr.get("misses", 0))
    lookups = chained + inline_hits + inline_misses + dispatch_hits + dispatch_misses
    compulsory = int(tr.get("first_translations", 0)) + int(tr.get("first_installs", 0))
    return {"chained": chained, "inline_hits": inline_hits, "inline_misses": inline_misses,
            "dispatch_hits": dispatch_hits, "dispatch_misses": dispatch_misses,
            "lookups": lookups, "hits": chained + inline_hits + dispatch_hits,
            "misses": inline_misses + dispatch_misses,
            "compulsory": min(compulsory, inline_misses + dispatch_misses)}


def monitor_columns(s: Sample) -> dict[str, Any]:
    """Everything the report shows about one monitor run."""
    st = s.stats
    tr, mon, sh = _d(st, "translator"), _d(st, "monitor"), _d(st, "shadow_paging")
    split = hit_split(st)
    lookups = split["lookups"]
    warm = lookups - split["compulsory"]
    insns = int(st.get("instructions", 0))
    translated = int(tr.get("guest_insns_translated", 0))
    t_secs = float(tr.get("translate_seconds", 0.0))
    guest_bytes = int(tr.get("guest_bytes_translated", 0))
    exits = (int(mon.get("exits_to_monitor", 0)) + int(mon.get("lookup_misses", 0))
             + sum(_d(mon, "callouts").values()) + sum(_d(mon, "traps_in_translated_code").values())
             + sum(_d(mon, "traps_in_user_code").values()))
    python_s = s.python_s
    return {
        "hit_rate": split["hits"] / lookups if lookups else 1.0,
        "hit_rate_warm": (split["hits"] / warm) if warm > 0 else 1.0,
        "lookups": split,
        "blocks_translated": int(tr.get("translations", 0)),
        "guest_insns_translated": translated,
        "translation_ips": translated / t_secs if t_secs > 0 else 0.0,
        "translate_seconds": t_secs,
        "expansion": (int(tr.get("bytes_emitted", 0)) / guest_bytes) if guest_bytes else 0.0,
        "invalidations": int(tr.get("invalidations", 0)),
        "flushes": int(tr.get("flushes", 0)),
        "exits": exits,
        "exits_per_mi": exits / (insns / 1e6) if insns else 0.0,
        "us_per_exit": (python_s / exits * 1e6) if exits else 0.0,
        "callouts": dict(_d(mon, "callouts")),
        "inline_emulations": _inline(tr),
        "hidden_faults": int(sh.get("hidden_faults", mon.get("hidden_faults", 0))),
        "true_faults": int(sh.get("true_faults", 0)),
        "trace_faults": int(sh.get("trace_faults", 0)),
        "adaptive_retranslations": int(mon.get("adaptive_retranslations", 0)),
        "counter_misses": int(st.get("block_table_misses", 0)),
        "counter_evictions": int(st.get("block_table_evictions", 0)),
        "live_blocks": int(_d(tr, "memory").get("live_blocks", 0)),
        "resident_blocks": int(_d(tr, "memory").get("resident_blocks", 0)),
        "metadata_bytes": int(_d(tr, "memory").get("metadata_bytes", 0)),
        "metadata_per_insn": float(_d(tr, "memory").get("metadata_bytes_per_guest_insn", 0.0)),
        "reclaimed_blocks": int(tr.get("reclaimed_blocks", 0)),
    }


def _inline(tr: dict[str, Any]) -> int:
    """Guest instructions the translator turned into inline sequences (translation time)."""
    return int(_d(tr, "handling").get("inline", 0))


def run_columns(s: Sample) -> dict[str, Any]:
    """What every side shows: times, instructions, the Python/unicorn split, counter misses."""
    total = s.unicorn_s + s.python_s
    st = s.stats
    return {"wall": s.wall, "cpu": s.cpu, "loop_wall": s.loop_wall, "loop_cpu": s.loop_cpu,
            "startup_wall": s.startup_wall,
            "instructions": int(st.get("instructions", 0)),
            "unicorn_share": s.unicorn_s / total if total else 0.0,
            "python_share": s.python_s / total if total else 0.0,
            "counter_misses": int(st.get("block_table_misses", 0)),
            "counter_evictions": int(st.get("block_table_evictions", 0)),
            "peak_rss_kb": s.peak_rss_kb}
