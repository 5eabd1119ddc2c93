"""Record and replay (``bt run --record/--replay/--stop-at``, issue 17).

The guest polls COM1 and, for each byte, echoes it and prints how many polls it waited
(mod 8): its output depends on when, in guest instructions, each byte arrived, which a
wall-clock-paced writer makes different on every recording. A replay must reproduce the
output and the final state digest of its recording, and a replay stopped at instruction N
the registers of the recorded run stopped at N.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODES = [pytest.param(True, id="native"), pytest.param(False, id="monitor")]
#: poll LSR.DR; read RBR; '\n' -> exit; else echo it and '0' + polls % 8
ECHO = bytes.fromhex("31db" "43" "66bafd03" "ec" "a801" "74f6" "66baf803" "ec" "3c0a" "740b"
                     "ee" "89d8" "83e007" "0430" "ee" "ebe2" "b000" "e6f4" "f4")
LOAD = "0x100000"
FEED = "import sys,time\nfor c in (b'a', b'b', b'c', b'\\n'):\n" \
       "    sys.stdout.buffer.write(c); sys.stdout.flush(); time.sleep(0.15)\n"


def _bt(image: Path, native: bool, *extra: str, feed: bool = False) -> subprocess.CompletedProcess[bytes]:
    cmd = [sys.executable, "-m", "runtime.cli", "run", str(image), "--load-addr", LOAD, *extra,
           *(["--native"] if native else [])]
    if not feed:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=300,
                              stdin=subprocess.DEVNULL)
    writer = subprocess.Popen([sys.executable, "-c", FEED], stdout=subprocess.PIPE)
    try:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=300, stdin=writer.stdout)
    finally:
        writer.wait()


@pytest.mark.parametrize("native", MODES)
def test_replay_reproduces_output_and_digest(native: bool, tmp_path: Path) -> None:
    image = tmp_path / "echo.bin"
    image.write_bytes(ECHO)
    rec = tmp_path / "run.rec"
    orig = _bt(image, native, "--record", str(rec), feed=True)
    assert orig.stdout[::2] == b"abc", orig  # the echo; between, the guest's poll counts
    end = json.loads(rec.read_text().splitlines()[-1])
    again = _bt(image, native, "--replay", str(rec), "--json", str(tmp_path / "r.json"))
    assert again.stdout == orig.stdout and again.returncode == orig.returncode
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["stats"]["replay"] == {"digest": end["digest"], "matches_recording": True}
    assert b"matches the recording" in again.stderr


@pytest.mark.parametrize("native", MODES)
def test_replay_stopped_at_n_has_the_recorded_registers(native: bool, tmp_path: Path) -> None:
    image = tmp_path / "echo.bin"
    image.write_bytes(ECHO)
    rec, n = tmp_path / "run.rec", "1000000"  # while the writer is still writing, mostly
    _bt(image, native, "--record", str(rec), "--stop-at", n, "--json",
        str(tmp_path / "o.json"), feed=True)
    _bt(image, native, "--replay", str(rec), "--stop-at", n, "--json",
        str(tmp_path / "r.json"))
    want = json.loads((tmp_path / "o.json").read_text())
    got = json.loads((tmp_path / "r.json").read_text())
    assert got["registers"] == want["registers"] and got["output"] == want["output"]
    assert got["outcome"] == want["outcome"]
    assert got["stats"]["instructions"] == want["stats"]["instructions"]


def test_a_bad_recording_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rec"
    bad.write_text("hello\n")
    image = tmp_path / "echo.bin"
    image.write_bytes(ECHO)
    res = _bt(image, True, "--replay", str(bad))
    assert res.returncode == 2 and res.stderr.count(b"\n") == 1 and b"bad.rec" in res.stderr
