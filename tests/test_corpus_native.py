"""Every corpus guest's native run equals its qemu-system-i386 output byte for byte.

The expected files in corpus/expected were produced by qemu-system-i386
(corpus/reference.py --regen); test_reference.py re-checks them against a
live qemu where one is installed.
"""

from __future__ import annotations

import pytest
from conftest import corpus_guests, expected, guest_elf

from runtime.check.defects import BY_GUEST
from runtime.report import Outcome
from runtime.session import RunOptions, run_file

#: Guests whose qemu output the bare machine cannot equal because of a defect of the
#: hardware itself (unicorn 2.1.4), measured and triaged in runtime/check/defects.py. Strict
#: xfail: a unicorn that fixes it makes the test fail until the row is removed.
UNICORN_DEFECTS = {guest: d.summary for guest, d in BY_GUEST.items()}


def _known_defect(name: str) -> list[pytest.MarkDecorator]:
    if name in UNICORN_DEFECTS:
        return [pytest.mark.xfail(strict=True, reason=UNICORN_DEFECTS[name])]
    return []


@pytest.mark.parametrize("deterministic", [False, True], ids=["realtime", "deterministic"])
@pytest.mark.parametrize("name", [pytest.param(n, marks=_known_defect(n)) for n in corpus_guests()])
def test_native_run_matches_qemu(name: str, deterministic: bool) -> None:
    want_out, want_status = expected(name)
    result = run_file(str(guest_elf(name)),
                      RunOptions(deterministic=deterministic, timeout_s=600))
    assert result.output.decode("latin-1") == want_out.decode("latin-1"), result.report()
    assert result.status == want_status, result.report()
    assert result.outcome is Outcome.GUEST_EXIT


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
