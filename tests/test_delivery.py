"""Exception and interrupt delivery on the bare machine, checked against the Intel SDM.

Each case is a small guest (tests/pcguest.py) whose handler records the
frame the "processor" pushed; the expected frames are the ones SDM vol 3A
chapter 6 specifies (6.12 figure 6-4, 6.13 error codes, 6.15 #DF/#TS/#NP,
table 6-5 double faults).
"""

from __future__ import annotations

from pcguest import (
    CODE,
    KCODE,
    KDATA,
    KSTACK,
    UCODE,
    UDATA,
    USER_CODE,
    USTACK,
    Scenario,
    asm,
    exit_code,
    gate,
    record_frame,
    result_words,
    seg_desc,
    to_ring3,
)

from runtime.report import Outcome

HANDLER = CODE + 0x1000  # where the first handler lands


def test_int_same_privilege_frame() -> None:
    # int 0x40 through a ring-0 interrupt gate: EIP after the int, CS, EFLAGS; no stack switch
    main = "mov esp, 0x70000; push 0x202; popfd; int 0x40; after: nop;" + exit_code(1)
    sc = Scenario(main, handlers={0x40: record_frame(3)})
    m, r = sc.run()
    assert r.outcome is Outcome.GUEST_EXIT and r.status == 1, r.report()
    eip, cs, eflags = result_words(m, 3)
    assert cs == KCODE and eflags & 0x200
    assert eip == sc.address_of("after")  # the instruction after the int (SDM vol 2A INT n)
    esp, ss = result_words(m, 2, 0x40)
    assert esp == 0x70000 - 12 and ss == KDATA
    assert m.guest_registers()["eflags"] & 0x200 == 0  # interrupt gate cleared IF


def test_trap_gate_keeps_if_interrupt_gate_clears_it() -> None:
    main = "push 0x202; popfd; int 0x41;" + exit_code(1)
    handler = "pushfd; pop eax; mov [0x5000], eax;" + exit_code()
    m, _ = Scenario(main, handlers={0x41: handler}).run()
    assert result_words(m, 1)[0] & 0x200 == 0
    m, _ = Scenario(main, handlers={0x41: handler},
                    gates={0x41: gate(HANDLER, gate_type=0xF)}).run()
    assert result_words(m, 1)[0] & 0x200


def test_privilege_change_switches_to_tss_stack() -> None:
    # int 0x80 from ring 3 through a DPL-3 gate: SS:ESP from TSS.esp0, five-dword frame
    user = "mov eax, 7; int 0x80;"
    m, r = Scenario(to_ring3(), user=user, handlers={0x80: record_frame(5)},
                    gates={0x80: gate(HANDLER, dpl=3)}).run()
    assert r.outcome is Outcome.GUEST_EXIT, r.report()
    eip, cs, eflags, esp3, ss3 = result_words(m, 5)
    assert (cs, ss3, esp3) == (UCODE, UDATA, USTACK)
    assert eip == USER_CODE + len(asm(user, USER_CODE))
    assert eflags & 0x200
    assert result_words(m, 3, 0x40) == (KSTACK - 20, KDATA, KCODE)


def test_int_through_dpl0_gate_from_ring3_is_gp_with_idt_error_code() -> None:
    # software int to a gate with DPL < CPL: #GP(vector*8 + 2), EIP at the int (SDM 6.12.1.1)
    user = "int 0x40;"
    m, r = Scenario(to_ring3(), user=user, handlers={0x40: exit_code(9), 13: record_frame(6)}).run()
    assert r.outcome is Outcome.GUEST_EXIT and r.status == 1, r.report()
    err, eip, cs, _, esp3, ss3 = result_words(m, 6)
    assert err == 0x40 * 8 + 2
    assert (eip, cs, esp3, ss3) == (USER_CODE, UCODE, USTACK, UDATA)


def test_gp_error_code_is_the_selector() -> None:
    # mov ds, 0x28 (a TSS) -> #GP(0x28), EIP at the faulting mov (SDM vol 2, MOV: #GP(selector))
    main = "mov ax, 0x28; mov ds, ax;"
    m, r = Scenario(main, handlers={13: record_frame(2)}).run()
    err, eip = result_words(m, 2)
    assert err == 0x28
    insn = asm("mov ds, ax", eip)
    assert bytes(m.uc.mem_read(eip, len(insn))) == insn


def test_page_fault_during_delivery_is_reflected_with_cr2() -> None:
    # paging on, the handler's stack page unmapped: the frame push faults -> #PF (benign first)
    # page directory at 0x10000 maps 0-4 MiB with a 4 MiB page; the stack is at 8 MiB - unmapped
    main = ("mov dword ptr [0x10000], 0x87; mov eax, cr4; or eax, 0x10; mov cr4, eax;"
            "mov eax, 0x10000; mov cr3, eax; mov eax, cr0; or eax, 0x80000000; mov cr0, eax;"
            "mov esp, 0x800000; int 0x40;")
    handler_pf = "mov eax, cr2; mov [0x5000], eax;" + exit_code(2)
    m, r = Scenario(main, handlers={0x40: exit_code(1), 14: handler_pf}).run()
    # the #PF itself cannot be delivered on the same unmapped stack: #PF while delivering #PF
    # is a double fault; the #DF push faults again: triple fault (SDM 6.15, table 6-5).
    # CR2 holds the address of the last failed push: #DF's first push, EFLAGS at ESP-4.
    assert r.outcome is Outcome.TRIPLE_FAULT, r.report()
    assert r.regs["cr2"] == 0x800000 - 4
    assert "#PF" in r.message and "#DF" in r.message


def test_double_fault_on_np_while_delivering_gp() -> None:
    # #GP whose gate is not present -> #NP (contributory) while delivering #GP -> #DF(0)
    main = "mov ax, 0x28; mov ds, ax;"
    m, r = Scenario(main, handlers={8: record_frame(2)},
                    gates={13: gate(HANDLER, present=False)}).run()
    assert r.outcome is Outcome.GUEST_EXIT, r.report()
    err, _eip = result_words(m, 2)
    assert err == 0
    assert m.delivery.double_faults == 1


def test_benign_then_contributory_is_serial_not_double() -> None:
    # int 0x40 with a not-present gate -> #NP(0x40*8+2) delivered normally (table 6-5: benign)
    main = "int 0x40;"
    m, r = Scenario(main, handlers={11: record_frame(2)},
                    gates={0x40: gate(HANDLER + 0x100, present=False)}).run()
    assert r.outcome is Outcome.GUEST_EXIT, r.report()
    err, _ = result_words(m, 2)
    assert err == 0x40 * 8 + 2
    assert m.delivery.double_faults == 0


def test_triple_fault_ends_the_run_with_a_report() -> None:
    # an empty IDT: #GP -> #GP while delivering -> #DF -> #GP while delivering #DF: shutdown
    m, r = Scenario("mov ax, 0x28; mov ds, ax;", idt_limit=0).run()
    assert r.outcome is Outcome.TRIPLE_FAULT and r.status == 4
    text = r.report()
    assert "triple fault" in text and "guest EIP" in text and "mov ds, ax" in text


def test_ud2_is_delivered_as_invalid_opcode() -> None:
    m, r = Scenario("ud2;", handlers={6: record_frame(1)}).run()
    assert r.outcome is Outcome.GUEST_EXIT, r.report()
    assert bytes(m.uc.mem_read(result_words(m, 1)[0], 2)) == b"\x0f\x0b"


def test_in_from_ring3_without_iopl_is_gp() -> None:
    # I/O at CPL 3 > IOPL 0 with no I/O bitmap: #GP(0) at the in (SDM vol 1, 19.5.1)
    user = "mov dx, 0x3f8; in al, dx; int 0x80;"
    m, r = Scenario(to_ring3(), user=user, handlers={13: record_frame(3)},
                    gates={0x80: gate(HANDLER, dpl=3)}).run()
    assert r.outcome is Outcome.GUEST_EXIT, r.report()
    err, eip, cs = result_words(m, 3)
    assert (err, cs) == (0, UCODE)
    assert eip == USER_CODE + len(asm("mov dx, 0x3f8", USER_CODE))


def test_hlt_with_interrupts_off_is_reported() -> None:
    m, r = Scenario("cli; hlt;").run()
    assert r.outcome is Outcome.HALTED and r.status == 6


def test_instruction_limit() -> None:
    m, r = Scenario("l: jmp l;").run(max_insns=5000)
    assert r.outcome is Outcome.INSN_LIMIT and r.status == 8
    assert r.stats["instructions"] == 5000


def test_frame_across_a_page_boundary() -> None:
    """A frame whose words straddle a page boundary (ESP 0x70006: the 12 bytes at 0x6fffa)
    is pushed word by word, highest first (the multi-page path of delivery.py), and every
    word lands where a one-page frame's would."""
    main = "mov esp, 0x70006; push 0x202; popfd; int 0x40; after: nop;" + exit_code(1)
    sc = Scenario(main, handlers={0x40: record_frame(3)})
    m, r = sc.run()
    assert r.outcome is Outcome.GUEST_EXIT and r.status == 1, r.report()
    eip, cs, eflags = result_words(m, 3)
    assert (eip, cs) == (sc.address_of("after"), KCODE) and eflags & 0x200
    esp, _ = result_words(m, 2, 0x40)
    assert esp == 0x70006 - 12


def test_frame_on_an_expand_down_stack() -> None:
    """SS an expand-down 32-bit data segment (limit 0xfff, G=1, B=1: offsets 0x1000 to
    0xffffffff valid, SDM vol 3A 3.4.5.1): the frame at 0x6fff4 is inside it and is pushed;
    an expand-up reading of the same limit, or a 16-bit upper bound, would raise #SS."""
    main = ("mov ax, 0x30; mov ss, ax; mov esp, 0x70000; push 0x202; popfd; int 0x40;"
            "after: nop;" + exit_code(1))
    sc = Scenario(main, handlers={0x40: record_frame(3)},
                  extra_gdt=[seg_desc(0, 0, 0x96, 0xC)])
    m, r = sc.run()
    assert r.outcome is Outcome.GUEST_EXIT and r.status == 1, r.report()
    eip, cs, _ = result_words(m, 3)
    assert (eip, cs) == (sc.address_of("after"), KCODE)
    esp, ss = result_words(m, 2, 0x40)
    assert (esp, ss) == (0x70000 - 12, 0x30)
