"""The patched libunicorn (runtime/pc/libunicorn): the right library is loaded, and guests
run the same on it as on the PyPI wheel's, self-modifying code above all.

The reference for "the same" is the wheel's library (unicorn as released) and, for the
corpus guests, qemu-system-i386's committed output: output, exit status, final registers
and the ``--deterministic`` instruction count must be identical on both libraries, on the
bare machine and under the monitor. The store/load cost ratio the fix buys is a benchmark
figure (``python -m runtime.pc.libunicorn.measure``), never a timed assertion here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, expected, guest_elf

from runtime.check.fuzzgen import BASE
from runtime.pc import libunicorn
from runtime.pc.libunicorn import build

BT = [sys.executable, "-m", "runtime.cli"]
REGRESSIONS = ROOT / "corpus" / "regressions"
# the corpus guests that write code they then run (smc patches its own blocks; vmstress
# and sysmix carry code-patching phases)
SMC_GUESTS = ("smc", "vmstress", "sysmix")


def _installed() -> bool:
    lib_dir = libunicorn.binding_lib_dir()
    return (lib_dir / libunicorn.BUILD_ID_FILE).exists() and (lib_dir / "pypi" / libunicorn.LIBNAME).exists()


needs_patched = pytest.mark.skipif(
    not _installed(), reason="the patched libunicorn is not installed (make libunicorn could not build it)")


def _env(lib: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LIBUNICORN_PATH"}
    env[libunicorn.ENV] = lib
    return env


def _version(lib: str) -> str:
    p = subprocess.run([*BT, "--version"], capture_output=True, env=_env(lib), timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode()


@needs_patched
def test_default_is_the_patched_build_and_pypi_selects_the_wheel() -> None:
    assert f"patched build {build.build_id()} (fast stores)" in _version("patched")
    assert "PyPI wheel" in _version("pypi")
    assert "patched" not in _version("pypi")


def test_loaded_library_is_told_apart_by_the_patch_symbol() -> None:
    """In this process: the library the binding loaded has the patch's function exactly
    when it is not the wheel's (the wheel's sits in unicorn/lib/pypi once patched)."""
    lib = libunicorn.loaded()
    assert Path(lib.path).name == libunicorn.LIBNAME
    wheel = os.environ.get(libunicorn.ENV) == "pypi" or not _installed()
    assert lib.patched is not wheel
    assert ("PyPI wheel" in lib.describe()) is wheel


def test_unbuildable_is_one_warning_and_status_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """No cmake: one warning line naming the cause, nothing installed, status 0."""
    monkeypatch.setattr(build, "CACHE", tmp_path)
    monkeypatch.setattr(build.shutil, "which", lambda tool: None)
    installed: list[object] = []
    monkeypatch.setattr(build, "install", lambda *a: installed.append(a))
    assert build.main() == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("libunicorn: warning:") and "no cmake" in err[0]
    assert "PyPI wheel" in err[0] and not installed


def test_measure_reports_every_figure() -> None:
    p = subprocess.run([sys.executable, "-m", "runtime.pc.libunicorn.measure", "--json",
                        "--iterations", "2000"], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    m = json.loads(p.stdout)
    assert set(m) == {"library", "store_ns", "load_ns", "store_beside_code_ns", "loop_ns", "ratio"}
    assert m["library"].startswith("libunicorn 2.1.4 ")


def _run(lib: str, guest: Path, native: bool, tmp_path: Path, *extra: str) -> dict[str, object]:
    out = tmp_path / f"{guest.stem}.{lib}.{native}.json"
    cmd = [*BT, "run", "--deterministic", "--quiet", "--json", str(out), *extra]
    if native:
        cmd.append("--native")
    p = subprocess.run([*cmd, str(guest)], capture_output=True, env=_env(lib), timeout=900,
                       stdin=subprocess.DEVNULL)
    assert "Traceback" not in p.stderr.decode(), p.stderr
    result = json.loads(out.read_text())
    stats = result["stats"]
    return {"status": p.returncode, "output": result["output"], "registers": result["registers"],
            "instructions": stats["instructions"]}  # type: ignore[index]


def _same_on_both(guest: Path, native: bool, tmp_path: Path, *extra: str) -> dict[str, object]:
    wheel = _run("pypi", guest, native, tmp_path, *extra)
    patched = _run("patched", guest, native, tmp_path, *extra)
    assert patched == wheel
    return patched


@needs_patched
@pytest.mark.parametrize("native", [True, False], ids=["native", "monitor"])
@pytest.mark.parametrize("name", [pytest.param(g, marks=[] if g == "smc" else [pytest.mark.slow])
                                  for g in SMC_GUESTS])
def test_smc_guest_same_on_both_libraries(name: str, native: bool, tmp_path: Path) -> None:
    got = _same_on_both(guest_elf(name), native, tmp_path)
    want_out, want_status = expected(name)
    assert got["output"] == want_out.decode() and got["status"] == want_status


@needs_patched
@pytest.mark.slow
@pytest.mark.parametrize("native", [True, False], ids=["native", "monitor"])
@pytest.mark.parametrize("path", sorted(REGRESSIONS.glob("*.bin")), ids=lambda p: p.stem)
def test_regression_same_on_both_libraries(path: Path, native: bool, tmp_path: Path) -> None:
    _same_on_both(path, native, tmp_path, "--mem", "4", "--load-addr", hex(BASE), "--entry", hex(BASE),
                  "--max-insns", "400000")
