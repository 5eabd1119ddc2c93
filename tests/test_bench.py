"""bt bench: the benchmark guests' own checks against qemu-system-i386's output, the
report's completeness and consistency (JSON schema, hits + misses = lookups, every row
every column), bad input, and the honest native baseline (instruction-counter misses).
No timing is asserted: speed goals live in bench/targets.toml and `bt bench` shows them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, needs_qemu

from runtime.bench.columns import hit_split
from runtime.bench.jsonout import SCHEMA
from runtime.bench.suite import load_suite, load_targets
from runtime.session import RunOptions, run_file

BENCH = ROOT / "bench"
BT = [sys.executable, "-m", "runtime.cli"]
GUESTS = sorted(p.stem for p in (BENCH / "expected").glob("*.out"))


def _elf(name: str) -> Path:
    elf = BENCH / "build" / f"{name}.elf"
    if not elf.exists():
        pytest.fail(f"{elf} is not built: run 'make corpus'")
    return elf


def test_every_suite_guest_has_a_reference_output() -> None:
    rows = load_suite()
    built_here = {r.name for r in rows if r.guest is not None and "bench/build" in str(r.guest)}
    assert built_here == set(GUESTS)
    targets = load_targets()
    assert set(targets.ratio_max) <= {r.name for r in rows}
    assert set(targets.translation_min) <= {r.name for r in rows}


@pytest.mark.slow
@pytest.mark.parametrize("name", GUESTS)
def test_guest_checks_itself_natively(name: str) -> None:
    """The guest's own checks pass on the bare machine and its output is qemu's."""
    result = run_file(str(_elf(name)), RunOptions(native=True))
    out = result.output.decode("latin-1")
    assert "FAIL" not in out, out
    assert result.status == 1, result.report()
    assert out == (BENCH / "expected" / f"{name}.out").read_text()


def test_hit_split_adds_up() -> None:
    stats = {"block_runs": {"guest": 5, "lookup_entry": 40, "block_body": 110, "other": 3},
             "monitor": {"translated_entries": 10, "lookup_misses": 4},
             "translator": {"hits": 7, "misses": 3, "first_translations": 3, "first_installs": 2}}
    s = hit_split(stats)
    assert s["chained"] == 100 and s["inline_hits"] == 40
    assert s["hits"] + s["misses"] == s["lookups"] == 100 + 40 + 4 + 7 + 3
    assert s["compulsory"] == 5


def _bench(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict, str]:
    j, h = tmp_path / "b.json", tmp_path / "b.html"
    proc = subprocess.run([*BT, "bench", *args, "--repeat", "1", "--json", str(j), "--html", str(h)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, json.loads(j.read_text()), h.read_text()


def _consistent(doc: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(doc, SCHEMA)
    for row in doc["rows"]:
        assert row["ok"], row
        lk = row["monitor"]["lookups"]
        assert lk["hits"] + lk["misses"] == lk["lookups"] > 0
        assert lk["chained"] + lk["inline_hits"] + lk["inline_misses"] + lk["dispatch_hits"] \
            + lk["dispatch_misses"] == lk["lookups"]
        assert row["monitor"]["blocks_translated"] > 0
        native, monitor = row["sides"]["native"], row["sides"]["monitor"]
        assert native["instructions"] == monitor["instructions"] > 0
        assert 0 < monitor["unicorn_share"] <= 1
        assert native["loop_cpu"] > 0 and native["cpu"] >= native["loop_cpu"]
        assert {t["target"] for t in row["targets"]} >= {"hit_rate_warm"}


@pytest.mark.slow
def test_report_without_qemu(tmp_path: Path) -> None:
    proc, doc, html = _bench(tmp_path, "kernel-compute", "calls", "--no-qemu")
    _consistent(doc)
    assert [r["name"] for r in doc["rows"]] == ["kernel-compute", "calls"]
    assert doc["qemu"] is False and all(r["ratio_reference"] is None for r in doc["rows"])
    calls = doc["rows"][1]
    assert calls["monitor"]["lookups"]["inline_hits"] > 0  # ret through the lookup table
    assert "ratio_native" in {t["target"] for t in calls["targets"]}
    assert html.count("data:image/png;base64,") == 4
    assert "HTML report: file://" in proc.stdout and "targets:" in proc.stdout


@needs_qemu
@pytest.mark.slow
def test_report_with_qemu(tmp_path: Path) -> None:
    _proc, doc, _html = _bench(tmp_path, "io")
    _consistent(doc)
    row = doc["rows"][0]
    assert row["reference"] == "qemu" and "qemu" in row["sides"]
    assert row["ratio_reference"] > 0


def test_unknown_row_is_bad_input() -> None:
    proc = subprocess.run([*BT, "bench", "no-such-row"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "no-such-row" in proc.stderr


def test_native_counter_pays_nothing_for_code_layout() -> None:
    """calls.S puts fib across a page boundary where the old direct-mapped counter table
    missed on every call (635,715 misses, each a call into Python): the set-associative
    table misses only on first sight of each block."""
    result = run_file(str(_elf("calls")), RunOptions(native=True))
    assert result.status == 1
    assert result.stats["block_table_evictions"] == 0
    assert result.stats["block_table_misses"] < 1000
    assert result.stats["block_runs"]["guest"] == result.stats["blocks"]


def test_os_boot_row_boots_btos_as_its_qemu_transcripts_were_made() -> None:
    """The os-boot row (issue 16: btos's boot in the bench) runs qemu with the command line
    corpus/reference.py made btos's autorun transcript with: the same kernel, -append and
    IDE drive options."""
    sys.path.insert(0, str(ROOT / "corpus"))
    import reference

    from runtime.bench.measure import QEMU, QEMU_ARGS, qemu_extra_args

    (row,) = [r for r in load_suite() if r.name == "os-boot"]
    assert row.guest is not None and row.disk is not None and row.cmdline == "autorun"
    ours = [QEMU, *QEMU_ARGS, str(row.guest), *qemu_extra_args(row)]
    theirs = reference.os_qemu_cmd("autorun", str(row.guest), str(row.disk))
    assert ours[1:] == theirs[1:]
