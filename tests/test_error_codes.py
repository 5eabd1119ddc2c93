"""Error codes of every delivery path that faults, against the SDM (vol 3A 6.13).

corpus/errcodes and corpus/ssfault break one thing between an event and its
handler per case (the gate, the IDT limit, the gate's code segment, the gate's
DPL for software interrupts, the inner stack of a stack switch) for int n,
int3, into, ud2's #UD and IRQ0, at CPL 0 and 3, and check the exception and
error code they get against the SDM's rule (EXT for external events and
exceptions, the IDT bit, selector+EXT, #TS/#SS for the inner stack). The
expectation is the SDM's, written in the guest: the bare machine and the
monitor share runtime/pc/delivery.py, so comparing them with each other could
not see a wrong error code. qemu departs from two of these rules
(runtime/check/deviations.py); test_corpus_native pins that.
"""

from __future__ import annotations

import pytest
from conftest import guest_elf

from runtime.report import Outcome
from runtime.session import RunOptions, run_file

#: the cases each guest checks (a dropped case must be a decision, not an accident)
CASES = {"errcodes": 27, "ssfault": 2}


@pytest.mark.parametrize("native", [True, False], ids=["native", "monitor"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_every_error_code_is_the_sdm_one(name: str, native: bool) -> None:
    result = run_file(str(guest_elf(name)), RunOptions(native=native, deterministic=True,
                                                       timeout_s=600))
    assert result.outcome is Outcome.GUEST_EXIT, result.report()
    lines = result.output.decode("latin-1").splitlines()
    checks = [ln for ln in lines if ln.startswith(("ok: ", "FAIL: "))]
    assert [ln for ln in checks if ln.startswith("FAIL")] == []
    assert len(checks) == CASES[name]
    assert lines[-1] == "done" and result.status == 1  # exit(0): every check passed


def test_the_not_present_gate_cases_are_there() -> None:
    """The two error codes of the issue, by value: ud2 through a not-present #UD gate gives
    #NP(6*8+2+EXT) = 0x33, IRQ0 through a not-present vector-0x20 gate 0x103."""
    out = run_file(str(guest_elf("errcodes")), RunOptions(deterministic=True)).output
    assert b"ok: ud2, #UD gate not present: #NP(33), SDM #NP(33)" in out
    assert b"ok: IRQ0, vector 0x20 gate not present: #NP(103), SDM #NP(103)" in out
