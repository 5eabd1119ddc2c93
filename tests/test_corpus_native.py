"""Every corpus guest's native run equals its qemu-system-i386 output byte for byte.

The expected files in corpus/expected were produced by qemu-system-i386
(corpus/reference.py --regen); test_reference.py re-checks them against a
live qemu where one is installed. A guest that shows a triaged defect of
unicorn or deviation of qemu (runtime/check/defects.py, deviations.py) is no
whole-guest expected failure: it is compared line by line, and its difference
from qemu must be exactly the row's pinned signature (every other line and the
status equal), so a new regression in that guest fails, and so does a fixed
defect until its row goes.
"""

from __future__ import annotations

import pytest
from conftest import corpus_guests, expected, guest_elf

from runtime.check.defects import BY_GUEST, hunks
from runtime.report import Outcome
from runtime.session import RunOptions, run_file


def assert_matches_reference(name: str, output: bytes, status: int) -> None:
    """``output``/``status`` equal qemu's (corpus/expected) but for exactly the pinned
    signature of the guest's triaged row, if it has one."""
    want_out, want_status = expected(name)
    row = BY_GUEST.get(name)
    if row is None:
        assert output.decode("latin-1") == want_out.decode("latin-1")
        assert status == want_status
        return
    found = hunks(want_out, output)
    assert found, f"{name} now equals qemu: {row.party} {row.name!r} is gone, remove its row"
    assert found == row.hunks, f"{name} differs from qemu beyond {row.name!r}: {found}"
    assert (want_status, status) == row.status


@pytest.mark.parametrize("deterministic", [False, True], ids=["realtime", "deterministic"])
@pytest.mark.parametrize("name", corpus_guests())
def test_native_run_matches_qemu(name: str, deterministic: bool) -> None:
    result = run_file(str(guest_elf(name)),
                      RunOptions(deterministic=deterministic, timeout_s=600))
    assert result.outcome is Outcome.GUEST_EXIT, result.report()
    assert_matches_reference(name, result.output, result.status)


@pytest.mark.parametrize("name", corpus_guests())
def test_deterministic_runs_repeat_exactly(name: str) -> None:
    """Two deterministic runs retire the same instructions and end in the same state.

    Both must end by the guest's own exit: a wall-clock limit ending a deterministic run
    stops it wherever the load has let it get, so two runs that both hit it differ in
    their instruction counts while their outputs may still agree (the timer guest takes
    over 60 s of wall time on a loaded 2-core machine: 4130801 against 3830842
    instructions, once). The limit here is a safety net, not part of the comparison."""
    runs = [run_file(str(guest_elf(name)), RunOptions(deterministic=True, timeout_s=600))
            for _ in range(2)]
    a, b = runs
    assert a.outcome is Outcome.GUEST_EXIT and b.outcome is Outcome.GUEST_EXIT, a.report() + b.report()
    assert a.output == b.output
    assert a.stats["instructions"] == b.stats["instructions"]
    assert a.stats["interrupts"] == b.stats["interrupts"]
    assert a.regs == b.regs
