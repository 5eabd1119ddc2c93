"""The trace log (``bt run --trace``, issue 17): every callout and fault is in it, and the
events the guest can see (interrupts and exceptions delivered, port accesses) are the same
natively and under the monitor."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import guest_elf

ROOT = Path(__file__).resolve().parent.parent


def _traced(tmp_path: Path, native: bool, cats: str) -> tuple[list[str], dict]:
    log, doc = tmp_path / f"trace-{native}.log", tmp_path / f"run-{native}.json"
    cmd = [sys.executable, "-m", "runtime.cli", "run", str(guest_elf("usermode")), "--quiet",
           "--trace", cats, "--trace-file", str(log), "--json", str(doc),
           *(["--native"] if native else [])]
    subprocess.run(cmd, cwd=ROOT, check=False, timeout=300)
    return log.read_text().splitlines(), json.loads(doc.read_text())


def _count(lines: list[str], cat: str) -> int:
    return sum(1 for line in lines if re.match(rf"^\s*\d+ {cat}: ", line))


@pytest.mark.slow
def test_trace_shows_every_callout_and_fault(tmp_path: Path) -> None:
    lines, doc = _traced(tmp_path, False, "callout,fault,int,io,tb")
    mon = doc["stats"]["monitor"]
    assert _count(lines, "callout") == sum(mon["callouts"].values()) > 0
    traps = sum(mon["traps_in_translated_code"].values()) + sum(mon["traps_in_user_code"].values())
    assert _count(lines, "fault") == traps > 0
    assert _count(lines, "tb") >= doc["stats"]["translator"]["translations"] > 0
    native, _ = _traced(tmp_path, True, "int,io")
    for cat in ("int", "io"):
        strip = [re.sub(r"^\s*\d+ ", "", x) for x in native if f" {cat}: " in x]
        mine = [re.sub(r"^\s*\d+ ", "", x) for x in lines if f" {cat}: " in x]
        if cat == "int":  # the handler's ESP is the guest's in both; compare vector and EIPs
            strip = [x.split(" esp ")[0] for x in strip]
            mine = [x.split(" esp ")[0] for x in mine]
        assert mine == strip, cat


def test_unknown_trace_category_is_a_one_line_error() -> None:
    res = subprocess.run([sys.executable, "-m", "runtime.cli", "run", "--trace", "nope"],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "nope" in res.stderr
