"""Guest code at CPL 1 and 2: one instruction per privilege rule, the bare machine as reference.

Each case drops from ring 0 to ring 1 or 2 with ``iretd`` (under a chosen
IOPL), runs one instruction there and reaches a ring-0 handler: the #GP
handler when the instruction faults (it records the error code, EIP, CS and
EFLAGS the processor pushed), else the ``int 0x41`` "done" gate of DPL 3.
The expected result is the SDM's rule (vol 3A 5.9: privileged instructions
are #GP(0) at CPL > 0; vol 2 CLI/STI/POPF/IN/OUT against IOPL and the TSS
I/O bitmap, vol 1 19.5), checked on the bare machine, whose processor
(unicorn) implements them; the monitor, which runs all of it translated at
real CPL 1, must give the same words. The corpus guest ``rings`` runs the
same rules under qemu-system-i386 (corpus/expected/rings.out).
"""

from __future__ import annotations

import struct

import pytest
from pcguest import CODE, RESULT, TSS, Scenario, asm, exit_code, gate, result_words, seg_desc

from runtime.report import Outcome

# ring-1 and ring-2 code and data, after pcguest's GDT (null, k code, k data, u code, u data, TSS)
RING_GDT = [seg_desc(0, 0xFFFFF, 0xBA), seg_desc(0, 0xFFFFF, 0xB2),
            seg_desc(0, 0xFFFFF, 0xDA), seg_desc(0, 0xFFFFF, 0xD2)]
CS_SEL = {1: 0x31, 2: 0x42}
SS_SEL = {1: 0x39, 2: 0x4A}
STACK = {1: 0x88000, 2: 0x84000}
MARK = RESULT + 0x60  # the handler that ended the case: 13 (#GP) or 0x41 (done)


def _handler(vector: int, words: int) -> str:
    lines = [f"mov dword ptr [{MARK:#x}], {vector};"]
    lines += [f"mov eax, [esp + {4 * i}]; mov [{RESULT + 4 * i:#x}], eax;" for i in range(words)]
    return "".join(lines) + exit_code(0)


def ring_case(cpl: int, body: str, iopl: int = 0, eflags_if: bool = False,
              prologue: str = "", monitor: bool = False) -> tuple[tuple[int, ...], object]:
    """Run ``body`` at ``cpl`` under ``iopl``; (mark, frame words) and the run result."""
    eflags = 0x2 | (iopl << 12) | (0x200 if eflags_if else 0)
    main = (prologue +
            f"mov dword ptr [{TSS + 0xC:#x}], {STACK[1]}; mov dword ptr [{TSS + 0x10:#x}], {SS_SEL[1]};"
            f"mov dword ptr [{TSS + 0x14:#x}], {STACK[2]}; mov dword ptr [{TSS + 0x18:#x}], {SS_SEL[2]};"
            f"push {SS_SEL[cpl]}; push {STACK[cpl]}; push {eflags}; push {CS_SEL[cpl]};"
            "push 0x12345678; iretd; ring:" + body + "; int 0x41;")
    gp, done = _handler(13, 4), _handler(0x41, 3)
    done_addr = CODE + 0x1000 + ((len(asm(gp, CODE + 0x1000)) + 0xFF) & ~0xFF)
    ring = Scenario(main).address_of("ring")
    main = main.replace("0x12345678", hex(ring))
    scen = Scenario(main, handlers={13: gp, 0x41: done}, extra_gdt=RING_GDT,
                    gates={0x41: gate(done_addr, dpl=3)})
    m, r = scen.run(monitor=monitor)
    mark = result_words(m, 1, MARK - RESULT)[0]
    r.retired = m.counter.insns  # type: ignore[attr-defined]
    return (mark, *result_words(m, 4), *result_words(m, 3, 0x50)), r


def both(cpl: int, body: str, **kw: object) -> tuple[int, ...]:
    """The case natively and under the monitor: they must agree; the native words."""
    native, rn = ring_case(cpl, body, **kw)  # type: ignore[arg-type]
    mon, rm = ring_case(cpl, body, monitor=True, **kw)  # type: ignore[arg-type]
    assert rn.outcome is Outcome.GUEST_EXIT, rn.report()  # type: ignore[attr-defined]
    assert rm.outcome is Outcome.GUEST_EXIT, rm.report()  # type: ignore[attr-defined]
    assert mon == native, f"monitor {[hex(w) for w in mon]} != native {[hex(w) for w in native]}"
    # the same guest instructions retired (the deterministic clock takes interrupts there)
    assert rm.retired == rn.retired  # type: ignore[attr-defined]
    return native


def assert_gp0(words: tuple[int, ...], cpl: int) -> None:
    mark, err, _eip, cs, _eflags = words[:5]
    assert mark == 13 and err == 0 and cs == CS_SEL[cpl], [hex(w) for w in words]


def assert_done(words: tuple[int, ...], cpl: int) -> None:
    mark, _eip, cs, _eflags = words[:4]
    assert mark == 0x41 and cs == CS_SEL[cpl], [hex(w) for w in words]


# --- privileged instructions: #GP(0) at CPL 1 and 2 (SDM vol 3A, 5.9) ------------------------
PRIVILEGED = {
    "cli": "cli", "sti": "sti", "hlt": "hlt", "lgdt": f"lgdt [{RESULT - 16:#x}]",
    "lidt": f"lidt [{RESULT - 8:#x}]", "lldt": "xor eax, eax; lldt ax", "ltr": "mov ax, 0x28; ltr ax",
    "invlpg": "invlpg [0x1000]", "mov cr3": "mov eax, 0; mov cr3, eax", "mov from cr0": "mov eax, cr0",
    "mov from cr4": "mov eax, cr4", "mov dr7": "mov eax, dr7", "clts": "clts", "lmsw": "lmsw ax",
    "wbinvd": "wbinvd", "invd": "invd", "rdmsr": "mov ecx, 0x10; rdmsr",
    "wrmsr": "mov ecx, 0x174; xor eax, eax; xor edx, edx; wrmsr",
}


@pytest.mark.parametrize("cpl", [1, 2])
@pytest.mark.parametrize("name", sorted(PRIVILEGED))
def test_privileged_instruction_faults_gp0(name: str, cpl: int) -> None:
    assert_gp0(both(cpl, PRIVILEGED[name]), cpl)


# --- IOPL-sensitive instructions ---------------------------------------------------------------
@pytest.mark.parametrize(("cpl", "iopl", "allowed"),
                         [(1, 0, False), (1, 1, True), (1, 3, True), (2, 1, False), (2, 2, True),
                          (2, 3, True)])
@pytest.mark.parametrize("insn", ["cli", "sti"])
def test_cli_sti_obey_iopl(insn: str, cpl: int, iopl: int, allowed: bool) -> None:
    words = both(cpl, insn, iopl=iopl)
    if allowed:
        assert_done(words, cpl)
        assert bool(words[3] & 0x200) == (insn == "sti")  # the IF int 0x41 pushed
    else:
        assert_gp0(words, cpl)


SCRATCH = RESULT + 0x50  # what the ring-1/2 code stored: three words


@pytest.mark.parametrize(("cpl", "iopl"), [(1, 0), (1, 1), (2, 1), (2, 2), (2, 3)])
@pytest.mark.parametrize("eflags_if", [False, True], ids=["if0", "if1"])
def test_pushf_shows_guest_iopl_and_if(cpl: int, iopl: int, eflags_if: bool) -> None:
    words = both(cpl, f"pushfd; pop eax; mov [{SCRATCH:#x}], eax", iopl=iopl, eflags_if=eflags_if)
    assert_done(words, cpl)
    image = words[5]
    assert (image >> 12) & 3 == iopl and bool(image & 0x200) == eflags_if


@pytest.mark.parametrize(("cpl", "iopl"), [(1, 0), (1, 1), (2, 1), (2, 3)])
def test_popf_keeps_iopl_and_if_as_cpl_allows(cpl: int, iopl: int) -> None:
    # popf of an image with IF=1 and IOPL=3: IOPL never changes at CPL > 0; IF only at CPL <= IOPL
    words = both(cpl, "push 0x3202; popfd", iopl=iopl)
    assert_done(words, cpl)
    eflags = words[3]
    assert (eflags >> 12) & 3 == iopl
    assert bool(eflags & 0x200) == (cpl <= iopl)


# --- port I/O: IOPL, then the TSS I/O permission bitmap (SDM vol 1, 19.5) --------------------
def _bitmap_prologue(allow_port: int | None) -> str:
    """A TSS limit covering an I/O bitmap at TSS+0x68 (ports 0..0x3ff), all denied but one."""
    lines = [f"mov dword ptr [{TSS + 0x64:#x}], {0x68 << 16:#x};"]
    lines += [f"mov dword ptr [{TSS + 0x68 + 4 * i:#x}], 0xffffffff;" for i in range(0x80 // 4)]
    lines.append(f"mov byte ptr [{TSS + 0x68 + 0x80:#x}], 0xff;")
    if allow_port is not None:
        lines.append(f"and byte ptr [{TSS + 0x68 + allow_port // 8:#x}], {~(1 << allow_port % 8) & 0xFF};")
    return "".join(lines)


@pytest.mark.parametrize(("cpl", "iopl", "allowed"),
                         [(1, 0, False), (1, 1, True), (2, 1, False), (2, 2, True)])
@pytest.mark.parametrize("insn", ["in al, 0x80", "out 0x80, al", "mov dx, 0x80; in al, dx",
                                  "mov dx, 0x80; out dx, al",
                                  "mov dx, 0x80; mov edi, 0x6000; insb",
                                  "mov dx, 0x80; mov esi, 0x6000; outsb"])
def test_port_io_obeys_iopl(insn: str, cpl: int, iopl: int, allowed: bool) -> None:
    words = both(cpl, insn, iopl=iopl)
    (assert_done if allowed else assert_gp0)(words, cpl)


@pytest.mark.parametrize("cpl", [1, 2])
@pytest.mark.parametrize(("port", "allowed"), [(0x80, True), (0x81, False)])
def test_port_io_obeys_tss_bitmap(cpl: int, port: int, allowed: bool) -> None:
    # IOPL 0 at CPL 1/2: only the bitmap decides; port 0x80 allowed, 0x81 denied
    tss_limit = 0x68 + 0x81  # the descriptor's limit must cover the map and its last byte
    prologue = (_bitmap_prologue(0x80) +
                f"mov word ptr [0x1028], {tss_limit:#x}; mov byte ptr [0x102d], 0x89;"
                "mov ax, 0x28; ltr ax;")
    words = both(cpl, f"in al, {port:#x}", prologue=prologue)
    (assert_done if allowed else assert_gp0)(words, cpl)


# --- what CPL 1/2 code sees of its own privilege -----------------------------------------------
@pytest.mark.parametrize("cpl", [1, 2])
def test_selectors_show_guest_rpl(cpl: int) -> None:
    body = (f"push cs; pop eax; mov [{SCRATCH:#x}], eax; mov eax, cs;"
            f"mov [{SCRATCH + 4:#x}], eax; mov eax, ss; mov [{SCRATCH + 8:#x}], eax")
    words = both(cpl, body)
    assert_done(words, cpl)
    assert words[5:] == (CS_SEL[cpl], CS_SEL[cpl], SS_SEL[cpl])


# --- 16-bit code: exact natively, reported under the monitor (status 14) -----------------------
CODE16 = 0x7000  # the 16-bit segment's base; its code at IP 0
#: 16-bit code: "mov eax, 0x10" needs the 0x66 prefix there (66 b8 10 00 00 00), which a
#: 32-bit decoder reads as "mov ax, 0x10; add [eax], al"; then "out 0xf4, eax" (66 e7 f4)
CODE16_BYTES = bytes.fromhex("66b810000000" "66e7f4" "f4")


def _code16_case(monitor: bool) -> tuple[object, object]:
    main = (f"mov esi, {CODE16:#x}; " +
            "".join(f"mov byte ptr [esi + {i}], {b:#x}; " for i, b in enumerate(CODE16_BYTES)) +
            ".byte 0xea, 0, 0, 0, 0, 0x50, 0")  # jmp far 0x50:0 (keystone spells it 16-bit)
    gdt16 = seg_desc(CODE16, 0xFFFF, 0x9A, flags=0x0)  # present code, D=0, byte granular
    scen = Scenario(main, extra_gdt=RING_GDT + [gdt16])
    return scen.run(monitor=monitor)


def test_far_jump_to_16bit_code_runs_natively() -> None:
    m, r = _code16_case(monitor=False)
    # exit status (0x10 << 1) | 1: the 16-bit decoding, where 32-bit decoding would end elsewhere
    assert r.outcome is Outcome.GUEST_EXIT and r.status == 0x21, r.report()  # type: ignore[attr-defined]
    # the instruction clock decodes the block as 16-bit code: mov eax, imm32 / out / hlt
    assert m.counter.offsets(CODE16, len(CODE16_BYTES)) == (0, 6, 9)  # type: ignore[attr-defined]


def test_far_jump_to_16bit_code_is_reported_by_the_monitor() -> None:
    _, r = _code16_case(monitor=True)
    assert r.outcome is Outcome.UNSUPPORTED, r.report()  # type: ignore[attr-defined]
    assert r.status == 14  # type: ignore[attr-defined]
    msg = r.message  # type: ignore[attr-defined]
    assert "16-bit code at guest EIP 0x0000" in msg and "0x0050" in msg and "mov eax, 0x10" in msg


# --- into ring 2 from ring 3: TSS.SS2:ESP2 (SDM vol 3A, 5.8.5 and 6.12.1) -------------------------
@pytest.mark.parametrize("how", ["call gate", "interrupt gate"])
def test_ring3_enters_ring2_on_the_tss_ring2_stack(how: str) -> None:
    """User code reaches ring-2 code through a DPL-3 call gate (lcall) or interrupt gate
    (int 0x42): the processor switches to TSS.SS2:ESP2 and pushes the caller's SS, ESP, (EFLAGS,)
    CS, EIP; the ring-2 code stores SS, ESP and the frame, then ends with int 0x41."""
    from pcguest import UCODE, to_ring3

    target = ("r2: mov eax, ss; mov [0x5050], eax; mov [0x5054], esp; mov eax, [esp + 4];"
              "mov [0x5058], eax; int 0x41;")
    main = (f"mov dword ptr [{TSS + 0x14:#x}], {STACK[2]}; mov dword ptr [{TSS + 0x18:#x}], {SS_SEL[2]};"
            + to_ring3() + target)
    r2 = Scenario(main).address_of("r2")
    gp, done = _handler(13, 4), _handler(0x41, 3)
    done_addr = CODE + 0x1000 + ((len(asm(gp, CODE + 0x1000)) + 0xFF) & ~0xFF)
    call_gate = struct.pack("<HHBBH", r2 & 0xFFFF, CS_SEL[2] & ~3, 0, 0xEC, r2 >> 16)  # DPL 3
    user = ".byte 0x9a, 0, 0, 0, 0, 0x53, 0" if how == "call gate" else "int 0x42"
    gates = {0x41: gate(done_addr, dpl=3), 0x42: gate(r2, selector=CS_SEL[2] & ~3, dpl=3)}
    words = []
    for monitor in (False, True):
        scen = Scenario(main, user=user, handlers={13: gp, 0x41: done},
                        extra_gdt=RING_GDT + [call_gate], gates=gates)
        m, r = scen.run(monitor=monitor)
        assert r.outcome is Outcome.GUEST_EXIT, r.report()
        words.append((result_words(m, 1, MARK - RESULT)[0], *result_words(m, 3, 0x50)))
    assert words[0] == words[1], words
    mark, ss, esp, cs = words[0]
    frame = 16 if how == "call gate" else 20  # SS, ESP, (EFLAGS,) CS, EIP
    assert (mark, ss, esp, cs) == (0x41, SS_SEL[2], STACK[2] - frame, UCODE), [hex(w) for w in words[0]]
