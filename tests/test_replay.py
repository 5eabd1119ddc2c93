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


# --- bt diff --replay: both runs take one recording's inputs --------------------------------------------
def _diff(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "runtime.cli", "diff", *args], cwd=ROOT,
                          capture_output=True, timeout=300, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    """The echo guest, a recording of it under the monitor fed at wall-clock pace, its output."""
    tmp = tmp_path_factory.mktemp("diffreplay")
    image = tmp / "echo.bin"
    image.write_bytes(ECHO)
    rec = tmp / "run.rec"
    orig = _bt(image, False, "--record", str(rec), feed=True)
    assert orig.stdout[::2] == b"abc", orig
    return image, rec, orig.stdout


def test_diff_replay_is_equivalent(recorded: tuple[Path, Path, bytes]) -> None:
    image, rec, _ = recorded
    res = _diff(str(image), "--load-addr", LOAD, "--replay", str(rec))
    assert res.returncode == 0, res
    assert b"verdict: EQUIVALENT" in res.stdout
    assert b"cannot replay a recording" in res.stdout  # qemu skipped, said so


def test_diff_replay_runs_both_take_the_recorded_input(recorded: tuple[Path, Path, bytes]) -> None:
    """Both runs of bt diff see the recording's bytes when they arrived: the output of the
    recorded session (the guest's own poll counts), natively too."""
    from runtime.check.diff import run_state
    from runtime.session import RunOptions

    image, rec, output = recorded
    opts = RunOptions(load_addr=int(LOAD, 16), replay=str(rec))
    for native in (True, False):
        state, _ = run_state(str(image), opts, native)
        assert state.output == output and state.status == 1, (native, state.output)


def test_diff_replay_finds_a_planted_difference(recorded: tuple[Path, Path, bytes],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A monitor whose replay loses the last byte before the newline must be DIFFERENT."""
    from runtime.check.diff import diff_guest
    from runtime.debug import replay
    from runtime.session import RunOptions

    image, rec, _ = recorded
    admit = replay.Replayer.admit

    def lossy(self: replay.Replayer) -> None:
        if type(self.m).__name__ == "Monitor":
            self.batches = replay.deque(b for b in self.batches if b[2] != b"c")
        admit(self)

    monkeypatch.setattr(replay.Replayer, "admit", lossy)
    report = diff_guest(str(image), RunOptions(load_addr=int(LOAD, 16), replay=str(rec)),
                        use_qemu=False, search=False)
    assert not report.equivalent and "console output" in report.problems


@pytest.mark.parametrize("content", ["hello\n", '{"btvmm_recording": 1}\n{"seen": 1}\n', None])
def test_diff_replay_bad_recording_is_one_line(content: str | None, tmp_path: Path) -> None:
    image = tmp_path / "echo.bin"
    image.write_bytes(ECHO)
    bad = tmp_path / "bad.rec"
    if content is not None:
        bad.write_text(content)
    res = _diff(str(image), "--load-addr", LOAD, "--replay", str(bad), "--no-qemu")
    assert res.returncode == 2 and res.stderr.count(b"\n") == 1 and b"bad.rec" in res.stderr, res
    assert res.stdout == b""


def test_diff_replay_refuses_another_guests_recording(recorded: tuple[Path, Path, bytes],
                                                      tmp_path: Path) -> None:
    _image, rec, _ = recorded
    other = tmp_path / "other.bin"
    other.write_bytes(ECHO)
    res = _diff(str(other), "--load-addr", LOAD, "--replay", str(rec))
    assert res.returncode == 2 and res.stderr.count(b"\n") == 1 and b"recorded for" in res.stderr, res
