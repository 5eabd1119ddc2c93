"""The Python API (``import btvmm``, issue 17): runs in steps equal a run in one go, the
guest's view, and the hooks see what the counters count."""

from __future__ import annotations

from collections import Counter

import btvmm
import pytest
from conftest import expected, guest_elf

MODES = [pytest.param(False, id="native"), pytest.param(True, id="monitor")]


@pytest.mark.parametrize("monitor", MODES)
def test_run_in_steps_equals_one_run(monitor: bool) -> None:
    elf = str(guest_elf("usermode"))
    whole = btvmm.Guest(elf, monitor=monitor)
    end = whole.run()
    parts = btvmm.Guest(elf, monitor=monitor)
    r = parts.run(max_insns=50_000)
    assert r.outcome.value == "insn-limit" and parts.insns == 50_000
    before = parts.insns
    parts.step()
    assert parts.insns == before + 1
    final = parts.run()
    want, status = expected("usermode")  # qemu-system-i386's output
    assert parts.output == whole.output == want and final.status == end.status == status
    assert parts.insns == whole.insns
    assert parts.machine.ram_digest() == whole.machine.ram_digest()


def test_hooks_count_what_the_monitor_counts() -> None:
    g = btvmm.Guest(str(guest_elf("usermode")), monitor=True)
    rules: Counter[str] = Counter()
    blocks: list[int] = []
    ports: Counter[bool] = Counter()
    g.on_callout(lambda rule, insn: rules.update([rule]))
    g.on_translate(lambda block: blocks.append(block.guest_eip))
    g.on_io(lambda port, value, write: ports.update([write]))
    g.run()
    assert rules == Counter(g.stats["monitor"]["callouts"])
    assert len(blocks) == g.stats["translator"]["translations"] > 0
    io = g.stats["port_io"].values()
    assert ports[True] == sum(c["writes"] for c in io) and ports[False] == sum(c["reads"] for c in io)


def test_exceptions_delivered_are_the_same_natively_and_under_the_monitor() -> None:
    seen: dict[bool, list[tuple[int, int | None, int | None]]] = {}
    for monitor in (False, True):
        g = btvmm.Guest(str(guest_elf("usermode")), monitor=monitor)
        events: list[tuple[int, int | None, int | None]] = []
        g.on_exception(lambda v, f, events=events: events.append((v, f["eip"], f["error_code"])))
        g.run()
        seen[monitor] = events
    assert seen[True] == seen[False] and len(seen[True]) > 10


def test_guest_view_at_a_stop() -> None:
    """At instruction 0 the guest is where a multiboot loader leaves it (Multiboot 0.6.96
    3.2: EIP the entry, CS a flat 32-bit code segment, EFLAGS IF=0)."""
    elf = guest_elf("usermode")
    for monitor in (False, True):
        g = btvmm.Guest(str(elf), monitor=monitor)
        g.run(max_insns=1)
        regs = g.registers
        assert regs["cs"] == 0x08 and not regs["eflags"] & 0x200  # after the first cli
        assert regs["eip"] == 0x103091  # _start + 1 (nm corpus/build/usermode.elf)
        assert g.read(regs["eip"] - 1, 1) == b"\xfa"  # cli, read through the guest's view
    with pytest.raises(ValueError):
        btvmm.Guest(str(elf), monitor=False).on_callout(lambda r, i: None)
