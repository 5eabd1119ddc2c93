"""Hardware interrupts on the bare machine: PIT -> PIC -> IDT, hlt, IF and the sti shadow.

Expected behaviour from the SDM (vol 3A 6.8.3: interrupts are recognised
after the instruction following sti; vol 2 POPF/HLT) and from the 8254/8259A
datasheets (vector = ICW2 base + line; mode 2 period = divisor / 1193182 s).
"""

from __future__ import annotations

import pytest
from pcguest import Scenario, exit_code, result_words

from runtime.report import Outcome

PIC_PIT_1KHZ = (
    "mov al, 0x11; out 0x20, al; out 0xa0, al; mov al, 0x20; out 0x21, al; mov al, 0x28;"
    "out 0xa1, al; mov al, 4; out 0x21, al; mov al, 2; out 0xa1, al; mov al, 1; out 0x21, al;"
    "out 0xa1, al; mov al, 0xfe; out 0x21, al; mov al, 0xff; out 0xa1, al;"
    "mov al, 0x34; out 0x43, al; mov al, 0xa9; out 0x40, al; mov al, 0x04; out 0x40, al;"
)
TICK = "inc dword ptr [0x5000]; push eax; mov al, 0x20; out 0x20, al; pop eax; iretd;"


def _hlt_then_spin() -> Scenario:
    main = (PIC_PIT_1KHZ + "mov dword ptr [0x5000], 0; sti;"
            "w: hlt; cmp dword ptr [0x5000], 10; jb w;"
            "mov ecx, 0; b: inc ecx; cmp dword ptr [0x5000], 20; jb b; mov [0x5008], ecx;"
            + exit_code(0))
    return Scenario(main, handlers={0x20: TICK})


@pytest.mark.parametrize("deterministic", [True, False], ids=["deterministic", "realtime"])
def test_timer_interrupts_reach_hlt_and_a_spinning_guest(deterministic: bool) -> None:
    m, r = _hlt_then_spin().run(max_insns=None, deterministic=deterministic, timeout_s=20)
    assert r.outcome is Outcome.GUEST_EXIT, r.report()
    assert result_words(m, 1)[0] == 20
    assert r.stats["interrupts"] == {"0x20": 20}
    assert result_words(m, 1, 8)[0] > 0  # the spin loop ran between ticks


def test_deterministic_ticks_land_on_the_same_instruction() -> None:
    runs = [_hlt_then_spin().run(max_insns=None, deterministic=True) for _ in range(2)]
    (m1, r1), (m2, r2) = runs
    # 1 kHz at 10 ns per instruction: 100,000 instructions a tick; the spin loop is 3
    spins = result_words(m1, 1, 8)[0]
    assert spins == result_words(m2, 1, 8)[0]
    assert r1.stats["instructions"] == r2.stats["instructions"]
    assert abs(spins - 10 * 100_000 // 3) < 100


def _masked_then(enable: str) -> Scenario:
    # IRQ0 becomes pending while IF=0; `enable` turns IF on; the handler records where it landed
    main = (PIC_PIT_1KHZ + "cli; mov ecx, 100000; s: dec ecx; jnz s;"  # > 1 tick with IF=0
            + enable + "mark1: mov ebx, 1; mark2: mov ebx, 2; mark3: mov ebx, 3;" + exit_code(1))
    handler = "mov eax, [esp]; mov [0x5000], eax; mov [0x5004], ebx;" + exit_code(0)
    return Scenario(main, handlers={0x20: handler})


def test_sti_shadow_delays_the_interrupt_by_one_instruction() -> None:
    sc = _masked_then("sti;")
    m, r = sc.run(max_insns=None)
    assert r.status == 1, r.report()
    eip, ebx = result_words(m, 2)
    assert eip == sc.address_of("mark2") and ebx == 1


def test_popfd_enabling_if_takes_the_interrupt_at_once() -> None:
    sc = _masked_then("push 0x202; popfd;")
    m, r = sc.run(max_insns=None)
    assert r.status == 1, r.report()
    eip, _ = result_words(m, 2)
    assert eip == sc.address_of("mark1")


def test_iret_enabling_if_takes_the_interrupt_at_once() -> None:
    frame = "push 0x202; push 0x08; push {:#x}; iretd;"
    placeholder = _masked_then(frame.format(0x12345678))  # same encoding length as the real one
    sc = _masked_then(frame.format(placeholder.address_of("mark1")))
    m, r = sc.run(max_insns=None)
    assert r.status == 1, r.report()
    eip, _ = result_words(m, 2)
    assert eip == sc.address_of("mark1")
