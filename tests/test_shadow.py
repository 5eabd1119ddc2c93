"""Shadow paging under the monitor: small paging guests against their native runs.

The corpus covers the architecture (tests/test_monitor.py runs the paging,
smc and exceptions guests); these check the monitor's own mechanisms:
adaptive translation of a store that keeps hitting a traced page table, and
the monitor moving out of a range the guest maps.
"""

from __future__ import annotations

from pcguest import RESULT, Scenario, exit_code, result_words

PD, PT = 0x20000, 0x21000

#: identity-map the first 4 MiB (supervisor, writable) and turn paging on
PAGING_ON = (
    f"mov edi, {PT}; mov eax, 3; mov ecx, 1024;"
    "fill: mov [edi], eax; add eax, 0x1000; add edi, 4; loop fill;"
    f"mov dword ptr [{PD}], {PT | 3};"
    f"mov eax, {PD}; mov cr3, eax; mov eax, cr0; or eax, 0x80000000; mov cr0, eax;"
)

#: frames 0x200000 + k*0x1000 hold k; one virtual page (0x300000) is remapped to each in turn
PTE_LOOP = (
    "mov ecx, 60; seed: mov eax, ecx; shl eax, 12; mov [eax + 0x200000], ecx; loop seed;"
    + PAGING_ON +
    "xor edx, edx; mov ecx, 60;"
    f"remap: mov eax, ecx; shl eax, 12; add eax, 0x200003; mov [{PT + 0x300 * 4:#x}], eax;"
    "invlpg [0x300000]; add edx, [0x300000]; loop remap;"
    f"mov [{RESULT:#x}], edx;" + exit_code()
)


def test_pte_writing_loop_is_adapted() -> None:
    sc = Scenario(main=PTE_LOOP)
    native, want = sc.run(max_insns=1_000_000)
    mon, got = sc.run(max_insns=1_000_000, monitor=True)
    assert want.outcome.name == got.outcome.name == "GUEST_EXIT", got.report()
    assert result_words(native, 1) == result_words(mon, 1) == (sum(range(1, 61)),)
    assert got.regs == want.regs
    assert mon.ram_digest() == native.ram_digest()
    shadow, monitor = got.stats["shadow_paging"], got.stats["monitor"]
    assert monitor["adaptive_retranslations"] == 1
    assert monitor["callouts"].get("adapted store", 0) >= 50
    # after the retranslation the PTE store no longer faults: trace faults stop growing
    assert shadow["trace_faults"] <= 8, shadow


def test_monitor_moves_out_of_a_range_the_guest_maps() -> None:
    """The guest maps 0xffc00000 (its page directory, recursively) and reads through it."""
    main = (PAGING_ON +
            f"mov dword ptr [{PD + 4 * 1023}], {PD | 3};"   # PDE 1023 -> the PD itself
            "mov eax, cr3; mov cr3, eax;"
            f"mov eax, [0xfffff000]; mov [{RESULT:#x}], eax;"   # PDE 0 through the recursion
            f"mov eax, [0xffc00004]; mov [{RESULT + 4:#x}], eax;"  # PTE 1 of the first table
            + exit_code())
    native, want = Scenario(main=main).run()
    mon, got = Scenario(main=main).run(monitor=True)
    # PDE 0 used (A set); page 1 never touched: its PTE keeps A clear
    assert result_words(native, 2) == result_words(mon, 2) == (PT | 0x23, 0x1003)
    assert got.stats["monitor"]["relocations"] >= 1
    assert mon.space.base != 0xFFC00000 and not mon.space.contains(0xFFC00000)
    assert mon.ram_digest() == native.ram_digest()
