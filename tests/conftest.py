"""Shared test fixtures: the corpus, its expected outputs, and qemu availability."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

import runtime  # noqa: F401  (BTVMM_LIBUNICORN takes effect before a test imports unicorn)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
BUILD = CORPUS / "build"
EXPECTED = CORPUS / "expected"

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(CORPUS))


def corpus_guests(attacks: bool = False) -> list[str]:
    """Guests with a committed expected output (produced by qemu-system-i386).

    The attack guests (corpus/attack_*) are left out unless asked for: some end the bare
    machine's run where qemu goes on (memory outside guest RAM, a triple fault) and some
    expose monitor bugs; tests/test_isolation.py checks them against qemu and the native run.
    """
    return sorted(p.stem for p in EXPECTED.glob("*.out")
                  if attacks or not p.stem.startswith("attack_"))


def expected(name: str) -> tuple[bytes, int]:
    return (EXPECTED / f"{name}.out").read_bytes(), int((EXPECTED / f"{name}.status").read_text())


def guest_elf(name: str) -> Path:
    elf = BUILD / f"{name}.elf"
    if not elf.exists():
        pytest.fail(f"{elf} is not built: run 'make corpus'")
    return elf


needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-i386") is None,
                                reason="qemu-system-i386 is not installed (apt-get install "
                                       "qemu-system-x86): the independent reference is absent")


needs_gdb = pytest.mark.skipif(shutil.which("gdb") is None,
                               reason="gdb is not installed (apt-get install gdb): the gdb stub "
                                      "tests need a real gdb")
