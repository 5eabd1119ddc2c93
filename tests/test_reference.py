"""The independent reference itself: live qemu-system-i386 against the committed outputs and our machine.

corpus/expected was produced by qemu-system-i386; these tests re-run qemu
now (skipped where it is absent) so that a stale expected file, or a guest
whose qemu output is not deterministic, shows up.
"""

from __future__ import annotations

import pytest
from conftest import corpus_guests, expected, guest_elf, needs_qemu

pytestmark = [needs_qemu, pytest.mark.qemu, pytest.mark.slow]


@pytest.mark.parametrize("name", corpus_guests(attacks=True))
def test_live_qemu_matches_committed_output(name: str) -> None:
    from reference import run_qemu  # corpus/reference.py

    out, status = run_qemu(str(guest_elf(name)), timeout=60)
    want_out, want_status = expected(name)
    assert out == want_out
    assert status == want_status
