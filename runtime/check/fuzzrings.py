"""Random stretches of guest code at rings 1 and 2, for the random-guest generator.

A monitor that translates every guest CPL below 3 at one real ring must
apply the guest's CPL to every privilege rule itself (SDM vol 3A, 5.5-5.9;
vol 1, 19.5), so :mod:`runtime.check.fuzzgen` programs leave ring 0 for
rings 1 and 2 too. A stretch is entered with ``iretd`` (a random IOPL 0-3,
IF and arithmetic flags), loads a data segment its CPL may use, then runs
random operations there: ALU and memory work, pushf/popf with random IF and
IOPL bits, cli/sti, port and string I/O (IOPL decides: the programs' TSS has
no I/O bitmap; each I/O ends its unicorn block, so that nothing depends on
unicorn running the rest of a block after a denied one), push cs / mov from
cs and ss, lar/lsl/verr/verw, segment loads of selectors of every DPL,
``int 0x81`` (a DPL-3 trap gate into ring 0 and back), far calls through
call gates of DPL 2 (into a ring-1 service) and DPL 1 (into ring 0), a far
return from ring 1 to ring 2, a same-ring ``iretd``, and now and then a
privileged instruction (#GP(0): the fault ends the program through the
dump, as any fault does). It ends with ``int 0x80`` (DPL 3) back to the
ring-0 chunk that entered it.

No stretch pops VM = 1 with iretd: at CPL > 0 the SDM ignores it, while
unicorn and qemu-system-i386 (QEMU's ``helper_ret_protected``, which checks
no CPL) enter virtual-8086 mode, which the bare machine reports (status 14)
and the monitor, following the SDM, does not (found by this generator when a
16-bit ``push cs`` left garbage in an iretd frame).

The GDT rows the stretches use (appended to the programs' GDT) and the TSS
ring-1/2 stacks are :data:`GDT_ROWS` and :func:`tss_stacks`.
"""

from __future__ import annotations

import random
import struct

R1_CODE, R1_DATA, R2_CODE, R2_DATA = 0x80, 0x88, 0x90, 0x98
GATE_DPL2, GATE_DPL1 = 0xA0, 0xA8  # -> the ring-1 service; -> ring 0's far target
CODE_SEL = {1: R1_CODE | 1, 2: R2_CODE | 2}
STACK_SEL = {1: R1_DATA | 1, 2: R2_DATA | 2}
#: data selectors a stretch may load into DS/ES at its CPL (DPL >= CPL, RPL <= DPL)
DATA_OK = {1: (0x23, R1_DATA | 1, R2_DATA | 2, 0x6B), 2: (0x23, R2_DATA | 2, 0x6B)}
#: any selector for FS/GS (some fault at CPL 1/2: #GP(sel) ends the program)
FSGS_ANY = (0x00, 0x23, R1_DATA | 1, R2_DATA | 2, R1_DATA | 2, 0x10, 0x30, 0x6B, R1_CODE | 1)
#: privileged at CPL 1/2: #GP(0)
PRIVILEGED = ("hlt", "mov eax, cr0", "mov cr3, eax", "clts", "wbinvd", "invd", "lmsw ax",
              "rdmsr", "mov eax, dr7", "invlpg [0x10a000]")


def gdt_rows(code_accessed: bool, ring1_service: int, far_target: int) -> list[bytes]:
    """Ring-1 and ring-2 flat code and data, a DPL-2 gate to the ring-1 service and a DPL-1
    gate to ring 0's far-call target (GDT selectors 0x80-0xa8)."""
    from runtime.check.fuzzgen import KCODE, gate, seg_desc

    a = 1 if code_accessed else 0
    return [seg_desc(0, 0xFFFFF, 0xBA | a), seg_desc(0, 0xFFFFF, 0xB2),
            seg_desc(0, 0xFFFFF, 0xDA | a), seg_desc(0, 0xFFFFF, 0xD2),
            gate(ring1_service, R1_CODE, 0xC, 2), gate(far_target, KCODE, 0xC, 1)]


def tss_stacks(ustack_top: int) -> bytes:
    """TSS bytes 0x0C..0x1B: ESP1, SS1, ESP2, SS2 (below the stretch's own stack)."""
    return struct.pack("<IIII", ustack_top - 0x400, STACK_SEL[1], ustack_top - 0x200, STACK_SEL[2])


def chunk_rings(rng: random.Random, tag: str) -> str:
    """Enter ring 1 or 2 with iretd, run random operations there, come back with int 0x80."""
    from runtime.check import fuzzgen as G  # the generator imports this module

    ring = rng.choice((1, 2))
    flags = (0x2 | rng.choice((0, 0x200)) | rng.choice((0, 0x1000, 0x2000, 0x3000))
             | rng.choice((0, 0x1, 0x40, 0x881, 0x400)))
    iopl = (flags >> 12) & 3
    text = (f"mov dword ptr ss:[{G.RESUME:#x}], {tag}_back\nmov dword ptr ss:[{G.KESP:#x}], esp\n"
            f"push {STACK_SEL[ring]:#x}\npush {G.USTACK_TOP - 0x100:#x}\npush {flags:#x}\n"
            f"push {CODE_SEL[ring]:#x}\nmov eax, {tag}_r\npush eax\niretd\n{tag}_r:\n")
    data = rng.choice(DATA_OK[ring])
    text += f"mov ax, {data:#x}\nmov ds, ax\nmov es, ax\n"
    for i in range(rng.randint(2, 8)):
        op = rng.choices(_OPS, _WEIGHTS)[0]
        piece, ring = op(rng, f"{tag}_{i}", ring, iopl, G)
        text += piece
    return text + f"int 0x80\n{tag}_back:\n"


def _alu(rng: random.Random, tag: str, ring: int, iopl: int, G) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    return rng.choice((G.chunk_alu, G.chunk_memory))(rng, tag), ring


def _flags(rng: random.Random, tag: str, ring: int, iopl: int, G) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    value = 0x2 | G._some_bits(rng, G._FLAG_BITS)
    r = G._reg(rng)
    return rng.choice((f"push {value:#x}\npopfd\n", f"pushfd\npop {r}\n",
                       f"push {value:#x}\npopfd\npushfd\npop {r}\n")), ring


def _interrupt_flag(rng: random.Random, tag: str, ring: int, iopl: int, G) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    if ring > iopl and rng.random() < 0.85:  # a #GP ends the program: not too often
        return "", ring
    return rng.choice(("cli\n", "sti\nnop\n", "cli\npushfd\npop ecx\n")), ring


def _io(rng: random.Random, tag: str, ring: int, iopl: int, G) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    if ring > iopl and rng.random() < 0.85:
        return "", ring
    scratch = G._scratch(rng)
    forms = ["in al, 0x80\n", f"mov al, {rng.getrandbits(8):#x}\nout 0x80, al\n",
             "mov dx, 0x80\nin al, dx\n", f"mov dx, 0x80\nmov esi, {scratch:#x}\ncld\noutsb\n"]
    if ring <= iopl:  # unicorn stores a denied insb's element all the same: only where allowed
        forms.append(f"mov dx, 0x80\nmov edi, {scratch:#x}\ncld\ninsb\n")
    # a jmp ends unicorn's block: after a denied IN/OUT unicorn runs the rest of its block
    # before the #GP (a known defect: README), so no store may follow in the same block; and
    # the EFLAGS unicorn shows in the hook come from its lazy flags state, stale after an
    # arithmetic instruction (the #GP frame's EFLAGS, VM included, were garbage natively):
    # pushfd/popfd first makes them exact
    fence = "pushfd\npopfd\n" if ring > iopl else ""
    return fence + rng.choice(forms) + f"jmp {tag}_j\n{tag}_j:\n", ring


def _selectors(rng: random.Random, tag: str, ring: int, iopl: int, G) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    r = G._reg(rng)
    # push cs / push ss as bytes: keystone gives them a 0x66 prefix (a 16-bit push)
    return rng.choice((G._bytes(0x0E) + f"pop {r}\n", f"mov {r}, cs\n", f"mov {r}, ss\n",
                       G._bytes(0x16) + f"pop {r}\n")), ring


def _descriptor(rng: random.Random, tag: str, ring: int, iopl: int, G) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    return G.descriptor_check(rng), ring


def _segment(rng: random.Random, tag: str, ring: int, iopl: int, G) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    if rng.random() < 0.9:
        sel = rng.choice(DATA_OK[ring])
        return f"mov ax, {sel:#x}\nmov {rng.choice(('ds', 'es', 'fs', 'gs'))}, ax\n", ring
    return f"mov ax, {rng.choice(FSGS_ANY):#x}\nmov {rng.choice(('fs', 'gs'))}, ax\n", ring


def _gates(rng: random.Random, tag: str, ring: int, iopl: int, G) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    """int 0x81 (to ring 0 and back), lcall through the DPL-2 gate (into ring 1) or, at ring 1,
    the DPL-1 gate (into ring 0)."""
    choices = ["int 0x81\n", G._bytes(0x9A, 0, 0, 0, 0, GATE_DPL2 | ring, 0)]
    if ring == 1:
        choices.append(G._bytes(0x9A, 0, 0, 0, 0, GATE_DPL1 | 1, 0))
    return rng.choice(choices), ring


def _return_outward(rng: random.Random, tag: str, ring: int, iopl: int, G) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    """At ring 1: retf to ring 2 (an outer return: SS:ESP popped too). At either: a same-ring
    iretd (IOPL kept, IF moved only at CPL <= IOPL)."""
    if ring == 1 and rng.random() < 0.6:
        return (f"push {STACK_SEL[2]:#x}\npush {G.USTACK_TOP - 0x180:#x}\npush {CODE_SEL[2]:#x}\n"
                f"mov eax, {tag}_o\npush eax\nretf\n{tag}_o:\nmov ax, {rng.choice(DATA_OK[2]):#x}\n"
                "mov ds, ax\nmov es, ax\n", 2)
    value = 0x2 | G._some_bits(rng, G._FLAG_BITS)
    return (f"push {value:#x}\n" + G._bytes(0x0E) + f"mov eax, {tag}_i\npush eax\niretd\n{tag}_i:\n",
            ring)


def _privileged(rng: random.Random, tag: str, ring: int, iopl: int, G) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    if rng.random() < 0.85:  # #GP(0) ends the program: rare
        return "", ring
    return rng.choice(PRIVILEGED) + "\n", ring


_OPS = (_alu, _flags, _interrupt_flag, _io, _selectors, _descriptor, _segment, _gates,
        _return_outward, _privileged)
_WEIGHTS = (6, 4, 2, 2, 3, 3, 3, 3, 2, 1)
