"""The JSON report of ``bt bench --json F`` and its schema (:data:`SCHEMA`, JSON Schema
draft 2020-12; ``version`` changes whenever a field changes meaning or goes away).

    {"version": 1, "tool": "bt bench", "repeat": N, "qemu": bool,
     "rows": [{"name", "what", "reference": "qemu"|"host", "ok", "skipped", "problem",
               "sides": {SIDE: {"wall", "cpu", "loop_wall", "loop_cpu", "startup_wall",
                                "instructions", "unicorn_share", "python_share",
                                "counter_misses", "counter_evictions", "repeats",
                                "loop_cpu_stat", "loop_wall_stat", "cpu_stat", "wall_stat",
                                "startup_wall_stat": {"median", "min", "max", "spread"}}},
               "ratio_native", "ratio_native_wall", "ratio_reference",
               "monitor": {hit_rate, hit_rate_warm, lookups: {chained, inline_hits,
                           inline_misses, dispatch_hits, dispatch_misses, lookups, hits,
                           misses, compulsory}, blocks_translated, guest_insns_translated,
                           translation_ips, translate_seconds, expansion, invalidations,
                           flushes, exits, exits_per_mi, us_per_exit, callouts {kind: n},
                           inline_emulations, hidden_faults, true_faults, trace_faults,
                           adaptive_retranslations, counter_misses, counter_evictions},
               "targets": [{"target", "value", "limit", "op", "met"}]}]}

Times are seconds; ``cpu`` is user + system; a side's single values are those of its
median repeat. A row with a problem has ``ok`` false and no sides.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runtime.bench.runner import RowResult

VERSION = 1

_NUM = {"type": "number"}
_INT = {"type": "integer", "minimum": 0}
_STAT = {"type": "object", "required": ["median", "min", "max", "spread"],
         "properties": {k: _NUM for k in ("median", "min", "max", "spread")}}
_SIDE = {
    "type": "object",
    "required": ["wall", "cpu", "loop_wall", "loop_cpu", "startup_wall", "instructions",
                 "unicorn_share", "python_share", "counter_misses", "counter_evictions",
                 "repeats", "loop_cpu_stat", "loop_wall_stat", "cpu_stat", "wall_stat",
                 "startup_wall_stat"],
    "properties": {**{k: _NUM for k in ("wall", "cpu", "loop_wall", "loop_cpu", "startup_wall",
                                        "unicorn_share", "python_share")},
                   **{k: _INT for k in ("instructions", "counter_misses", "counter_evictions",
                                        "repeats")},
                   **{k: _STAT for k in ("loop_cpu_stat", "loop_wall_stat", "cpu_stat",
                                         "wall_stat", "startup_wall_stat")}},
}
_LOOKUP_KEYS = ["chained", "inline_hits", "inline_misses", "dispatch_hits", "dispatch_misses",
                "lookups", "hits", "misses", "compulsory"]
_MONITOR = {
    "type": "object",
    "required": ["hit_rate", "hit_rate_warm", "lookups", "blocks_translated",
                 "guest_insns_translated", "translation_ips", "translate_seconds", "expansion",
                 "invalidations", "flushes", "exits", "exits_per_mi", "us_per_exit", "callouts",
                 "inline_emulations", "hidden_faults", "true_faults", "trace_faults",
                 "adaptive_retranslations", "counter_misses", "counter_evictions"],
    "properties": {
        "hit_rate": {"type": "number", "minimum": 0, "maximum": 1},
        "hit_rate_warm": {"type": "number", "minimum": 0, "maximum": 1},
        "lookups": {"type": "object", "required": _LOOKUP_KEYS,
                    "properties": {k: _INT for k in _LOOKUP_KEYS}},
        "callouts": {"type": "object", "additionalProperties": _INT},
        **{k: _NUM for k in ("translation_ips", "translate_seconds", "expansion",
                             "exits_per_mi", "us_per_exit")},
        **{k: _INT for k in ("blocks_translated", "guest_insns_translated", "invalidations",
                             "flushes", "exits", "inline_emulations", "hidden_faults",
                             "true_faults", "trace_faults", "adaptive_retranslations",
                             "counter_misses", "counter_evictions")},
    },
}
_TARGET = {"type": "object", "required": ["target", "value", "limit", "op", "met"],
           "properties": {"target": {"enum": ["hit_rate_warm", "ratio_native", "translation_ips",
                                                "rss_native", "rss_reference", "metadata_per_insn"]},
                          "value": _NUM, "limit": _NUM, "op": {"enum": ["<=", ">="]},
                          "met": {"type": "boolean"}}}
_ROW = {
    "type": "object",
    "required": ["name", "what", "reference", "ok", "skipped", "problem", "targets"],
    "properties": {
        "name": {"type": "string"}, "what": {"type": "string"},
        "reference": {"enum": ["qemu", "host"]}, "ok": {"type": "boolean"},
        "skipped": {"type": "boolean"},
        "problem": {"type": "string"},
        "sides": {"type": "object", "required": ["native", "monitor"],
                  "additionalProperties": _SIDE},
        "ratio_native": _NUM, "ratio_native_wall": _NUM,
        "ratio_reference": {"type": ["number", "null"]},
        "monitor": _MONITOR,
        "targets": {"type": "array", "items": _TARGET},
    },
    "if": {"properties": {"ok": {"const": True}}},
    "then": {"required": ["sides", "ratio_native", "ratio_native_wall", "ratio_reference",
                          "monitor"]},
}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "bt bench report",
    "type": "object",
    "required": ["version", "tool", "repeat", "qemu", "rows"],
    "properties": {"version": {"const": VERSION}, "tool": {"const": "bt bench"},
                   "repeat": {"type": "integer", "minimum": 1}, "qemu": {"type": "boolean"},
                   "rows": {"type": "array", "items": _ROW}},
}


def report(results: list[RowResult], repeat: int, qemu: bool) -> dict[str, Any]:
    rows = []
    for r in results:
        row: dict[str, Any] = {"name": r.row.name, "what": r.row.what,
                               "reference": r.row.reference, "ok": r.ok, "skipped": r.skipped,
                               "problem": r.problem,
                               "targets": r.summary.get("targets", [])}
        if r.ok:
            row.update({k: v for k, v in r.summary.items() if k != "targets"})
        rows.append(row)
    return {"version": VERSION, "tool": "bt bench", "repeat": repeat, "qemu": qemu, "rows": rows}


def write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=1) + "\n")
