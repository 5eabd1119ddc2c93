"""``.ci/references``: with CI=true a reference that cannot be installed fails the run.

The script runs from a copy in a scratch directory, on a PATH of stubs only (no
qemu-system-i386, no gdb, a gcc that cannot link -m32, no root so no apt-get, a no-op
make), so that the test decides what is "installed" and never touches the machine.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BASH = shutil.which("bash") or "/bin/bash"


def _stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!{BASH}\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "references", tmp_path / ".ci" / "references")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "rm"):
        os.symlink(shutil.which(tool), bin_dir / tool)  # type: ignore[arg-type]
    _stub(bin_dir, "id", "echo 1000")  # not root: apt-get is never tried
    _stub(bin_dir, "make", "exit 0")
    _stub(bin_dir, "gcc", "exit 1")
    return tmp_path


def _run(sandbox: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(sandbox / "bin")}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([BASH, str(sandbox / ".ci" / "references")], env=env,
                          capture_output=True, text=True, timeout=60)


def test_ci_fails_when_a_reference_is_missing(sandbox: Path) -> None:
    r = _run(sandbox, "true")
    assert r.returncode == 1, r.stdout + r.stderr
    for what in ("qemu-system-i386", "gdb", "gcc-multilib", "busybox-static", "bash-static"):
        assert what in r.stderr
    assert "5 reference(s) missing" in r.stderr


def test_a_local_run_skips_with_a_message(sandbox: Path) -> None:
    r = _run(sandbox, None)
    assert r.returncode == 0, r.stderr
    assert "qemu-system-i386 (qemu-system-x86) could not be installed" in r.stdout
    assert r.stderr == ""


def test_ci_passes_when_every_reference_is_there(sandbox: Path) -> None:
    for name in ("qemu-system-i386", "gdb", "gcc"):
        _stub(sandbox / "bin", name, "exit 0")
    for pkg in ("busybox", "bash-static"):
        (sandbox / ".cache" / pkg).mkdir(parents=True)
        (sandbox / ".cache" / pkg / ".done").write_text("Package: x\n")
    r = _run(sandbox, "true")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "could not be installed" not in r.stdout
