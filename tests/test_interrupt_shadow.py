"""The interrupt shadow of mov ss, pop ss and sti at CPL 0 and 3 (SDM vol 3A 6.8.3, vol 2B STI).

corpus/shadow lets a fast PIT interrupt arbitrary boundaries of windows of
``mov ss``/``pop ss``/``sti`` followed by one instruction, and checks in its
IRQ handler that no interrupt was taken between a shadowing instruction and
the next one: the expectation is the SDM's rule, checked by the guest itself
and confirmed by qemu-system-i386 (corpus/expected/shadow.out). A monitor
that takes the IRQ one instruction early (its emulated ``mov ss`` not holding
interrupts) fails two of its lines; the bare machine cannot show that bug,
so both runs are checked against the reference, on both clocks.
"""

from __future__ import annotations

import pytest
from conftest import expected, guest_elf, needs_qemu

from runtime.report import Outcome
from runtime.session import RunOptions, run_file


@pytest.mark.parametrize("native", [True, False], ids=["native", "monitor"])
@pytest.mark.parametrize("deterministic", [True, False], ids=["deterministic", "realtime"])
def test_shadow_holds_the_irq_for_one_instruction(native: bool, deterministic: bool) -> None:
    result = run_file(str(guest_elf("shadow")),
                      RunOptions(native=native, deterministic=deterministic, timeout_s=600))
    want_out, want_status = expected("shadow")
    assert result.outcome is Outcome.GUEST_EXIT, result.report()
    assert result.output == want_out, result.output.decode("latin-1")
    assert result.status == want_status
    assert result.stats["interrupts"], "no IRQ was taken: the guest checked nothing"


@needs_qemu
def test_qemu_agrees_with_the_sdm_rule() -> None:
    from reference import run_qemu

    out, status = run_qemu(str(guest_elf("shadow")), timeout=60)
    assert (out, status) == expected("shadow")
    assert b"FAIL" not in out
