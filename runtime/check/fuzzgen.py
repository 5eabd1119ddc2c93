"""Random guest kernels for differential testing: a seed in, a flat binary out.

A program is a fixed *skeleton* (a multiboot a.out header, a prologue that
loads its own GDT/IDT/TSS and masks the PIC, interrupt and fault handlers,
ring-3 routines, a dump routine) around a list of independent *chunks* of
random instructions at ring 0. Chunks mix ALU, memory, stack, string and
branch work with the sensitive and privileged instructions a monitor must
get right: pushf/popf with random IF/IOPL bits, cli/sti, segment register
loads and reads, lar/lsl/verr/verw on random selectors, sgdt/sidt/smsw/
str/sldt, ``int n`` into handlers that edit the saved flags, ``iret`` to ring
3 and back, far calls, jumps and returns (direct and through call gates), and
system work: mov to and from control and debug registers, clts, lmsw, invlpg,
wbinvd/invd, lldt, lds/lss, int3/into/int1, loope/loopne/jecxz/jcxz, port and
string I/O on devices whose answers are deterministic, cpuid, rdtsc (its value
dropped) and rdmsr/wrmsr of MSRs no program depends on. Every system chunk is
meant to behave the same natively, under the monitor and under qemu-system-i386:
where unicorn and the SDM part ways (icebp, loopz/loopnz), the programs are
shaped so that no result depends on it.

Every chunk leaves the machine in a state the next one can start from (flat
DS/ES/SS, the kernel stack balanced), so a chunk can be dropped without
breaking the program: that is what shrinking does. The program ends by
printing its registers, a fault record and a checksum of its data pages on
COM1 and writing 0 to port 0xf4 (a fault anywhere jumps to the same dump).

The image is loaded at :data:`BASE` either as a flat binary
(``RunOptions(load_addr=BASE, entry=BASE)``) or, through its multiboot
header, by ``qemu-system-i386 -kernel``.
"""

from __future__ import annotations

import functools
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from keystone import KS_ARCH_X86, KS_MODE_32, Ks

from runtime.check import fuzzrings

BASE = 0x100000
IMAGE_SIZE = 0x10000
MAIN = BASE + 0x40  # the prologue and the chunks
RUNTIME = BASE + 0x6000  # handlers, far-call targets, dump
USER = BASE + 0x7000  # ring-3 routines (their own page)
GDT = BASE + 0x8000
IDT = BASE + 0x8800
TSS = BASE + 0x9000
TABLE_PTRS = BASE + 0x9100  # lgdt/lidt operands
HEXTAB = BASE + 0x9200
SCRATCH = BASE + 0xA000  # 4 KiB the chunks read and write
USTACK_TOP = BASE + 0xC000
KSTACK_TOP = BASE + 0xD000
KSTACK0_TOP = BASE + 0xE000  # the TSS ring-0 stack (interrupts from ring 3)
SAVE = BASE + 0xE000  # dump area (outside the checksum)
FAULT = SAVE + 0x80  # vector of the fault that ended the program, or -1
RESUME, KESP = SAVE + 0x84, SAVE + 0x88  # where int 0x80 from ring 3 returns to
CHECK_START, CHECK_END = GDT, KSTACK0_TOP  # tables, scratch and stacks

KCODE, KDATA, UCODE, UDATA, TSSSEL = 0x08, 0x10, 0x1B, 0x23, 0x28
SCRATCH_SEG, RO_SEG, GATE0, GATE3 = 0x30, 0x38, 0x48, 0x50
#: selectors ring-0 code may load into FS and GS (null included)
FSGS_SELECTORS = (0x00, 0x10, 0x30, 0x38, 0x60, 0x68, 0x6B, 0x70, 0x23)
DSES_SELECTORS = (0x10, 0x23, 0x68)
#: Known divergences of the unmodified monitor (saved in corpus/regressions, xfail there):
#: generate(avoid_known=True) steps around them so that a campaign can find new ones.
#: ds_base: inline sgdt/sidt/str to memory ignore a nonzero DS base (the ring-0 chunks that
#: load DS = 0x68 are left out). (smsw r32 keeping bits 31:16 was fixed in d5f94c2.)
#: (The system chunks found six more, fixed in 9fd6b43 and 9c1b81f: DR6/DR7 fixed bits, DR4/DR5
#: aliases, unsupported CR4 bits, MSRs shared by every monitor of a process, icebp, the scratch
#: engine's stale code after a CR4 write: corpus/regressions.)
KNOWN = ("ds_base",)
_avoid: set[str] = set()
GDT_ENTRIES = 22  # 16 rows of ring 0 and 3, 6 of rings 1 and 2 (runtime/check/fuzzrings.py)
HANDLER_VECTORS = tuple(range(0x30, 0x3C))
#: exception vectors whose handlers return (#DB from icebp, #BP from int3, #OF from into);
#: the others record the fault and dump. #BP and #OF have DPL 3 gates (ring 3 uses them).
TRAP_VECTORS = (1, 3, 4)
USER_ROUTINES = 5

_GPRS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")
REGS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp")
_R8 = ("al", "bl", "cl", "dl")
_CC = ("o", "no", "b", "ae", "z", "nz", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g")
#: EFLAGS bits a chunk may set with popfd at ring 0 (no TF, NT, RF, VM)
_FLAG_BITS = (0x1, 0x4, 0x10, 0x40, 0x80, 0x200, 0x400, 0x800, 0x1000, 0x2000, 0x40000, 0x200000)
DUMPED = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eflags", "cs", "ds", "es",
          "fs", "gs", "ss", "fault", "sum")

@functools.cache
def _keystone() -> Ks:
    """The assembler, made on first use: importing this module assembles nothing."""
    return Ks(KS_ARCH_X86, KS_MODE_32)


def assemble(source: str, address: int) -> bytes:
    encoding, _ = _keystone().asm(source, address)
    return bytes(encoding or b"")


def _num(reg: str) -> int:
    return _GPRS.index(reg)


def _bytes(*values: int) -> str:
    return ".byte " + ", ".join(f"{v & 0xFF:#x}" for v in values) + "\n"


def _d32(value: int) -> tuple[int, ...]:
    return tuple(struct.pack("<I", value & 0xFFFFFFFF))


# --- descriptors --------------------------------------------------------------------------------
def seg_desc(base: int, limit: int, access: int, flags: int = 0xC) -> bytes:
    return struct.pack("<HHBBBB", limit & 0xFFFF, base & 0xFFFF, (base >> 16) & 0xFF, access,
                       ((limit >> 16) & 0xF) | (flags << 4), base >> 24)


def gate(offset: int, selector: int = KCODE, gate_type: int = 0xE, dpl: int = 0) -> bytes:
    return struct.pack("<HHBBH", offset & 0xFFFF, selector, 0, 0x80 | (dpl << 5) | gate_type,
                       offset >> 16)


def gdt_image(gate_target: int, code_accessed: bool = True) -> bytes:
    """The programs' GDT. ``code_accessed`` presets the accessed bit of the code descriptors:
    the monitor sets it on far transfers as the SDM says and unicorn (the native run) does
    not, a known divergence (corpus/regressions/cs_accessed_bit) the campaign steps around."""
    a = 1 if code_accessed else 0
    entries = [
        seg_desc(0, 0, 0, 0),
        seg_desc(0, 0xFFFFF, 0x9A | a),  # 0x08 kernel code
        seg_desc(0, 0xFFFFF, 0x92),  # 0x10 kernel data
        seg_desc(0, 0xFFFFF, 0xFA | a),  # 0x18 user code
        seg_desc(0, 0xFFFFF, 0xF2),  # 0x20 user data
        seg_desc(TSS, 0x67, 0x89, 0),  # 0x28 TSS
        seg_desc(SCRATCH, 0xFFF, 0x92, 0x4),  # 0x30 the scratch page, byte granular
        seg_desc(0, 0xFFFFF, 0x90),  # 0x38 read-only data
        seg_desc(0, 0xFFFFF, 0x9E | a),  # 0x40 conforming code
        gate(gate_target, KCODE, 0xC, 0),  # 0x48 call gate, DPL 0
        gate(gate_target, KCODE, 0xC, 3),  # 0x50 call gate, DPL 3
        seg_desc(0, 0xFFFFF, 0x12),  # 0x58 not present
        seg_desc(0x2000, 0xFFFF, 0x92, 0x0),  # 0x60 16-bit data, base 0x2000
        seg_desc(BASE, 0xFFF, 0xF2, 0x4),  # 0x68 DPL 3 data at BASE, limit 0xfff
        seg_desc(SCRATCH, 0xF, 0x96, 0x4),  # 0x70 expand-down
        seg_desc(SCRATCH, 0x7, 0x82, 0x0),  # 0x78 an LDT descriptor (never loaded)
        *fuzzrings.gdt_rows(code_accessed, _slot(RING1_SERVICE), gate_target),  # 0x80-0xa8
    ]
    assert len(entries) == GDT_ENTRIES
    return b"".join(entries)


# --- the chunks ------------------------------------------------------------------------------------
Chunk = Callable[[random.Random, str], str]


def _reg(rng: random.Random) -> str:
    return rng.choice(REGS)


def _imm(rng: random.Random) -> int:
    return rng.choice((rng.getrandbits(32), rng.getrandbits(8), rng.randrange(-4, 4) & 0xFFFFFFFF,
                       0x80000000, 0x7FFFFFFF))


def _scratch(rng: random.Random, align: int = 4) -> int:
    return SCRATCH + rng.randrange(0, 0xFF0, align)


def chunk_alu(rng: random.Random, _tag: str) -> str:
    lines = []
    for _ in range(rng.randint(1, 4)):
        a, b = _reg(rng), _reg(rng)
        form = rng.randrange(12)
        if form == 0:
            lines.append(f"{rng.choice(('add', 'sub', 'xor', 'and', 'or', 'adc', 'sbb', 'cmp', 'test'))}"
                         f" {a}, {b}")
        elif form == 1:
            lines.append(f"{rng.choice(('add', 'sub', 'xor', 'and', 'or', 'adc', 'sbb', 'cmp'))}"
                         f" {a}, {_imm(rng):#x}")
        elif form == 2:
            op = rng.choice(("shl", "shr", "sar", "rol", "ror", "rcl", "rcr"))
            lines.append(f"{op} {a}, {rng.randint(1, 31)}" if rng.random() < 0.7 else f"{op} {a}, cl")
        elif form == 3:
            lines.append(f"{rng.choice(('inc', 'dec', 'neg', 'not', 'bswap'))} {a}")
        elif form == 4:
            lines.append(f"lea {a}, [{b} + {_reg(rng)}*{rng.choice((1, 2, 4, 8))} + {rng.getrandbits(12)}]")
        elif form == 5:
            lines.append(f"set{rng.choice(_CC)} {rng.choice(_R8)}")
        elif form == 6:
            lines.append(f"cmov{rng.choice(_CC)} {a}, {b}")
        elif form == 7:
            lines.append(f"{rng.choice(('bt', 'bts', 'btr', 'btc'))} {a}, {rng.randrange(32)}")
        elif form == 8:
            lines.append(rng.choice(("mul ebx", "imul ecx", f"imul {a}, {b}", "cdq", "cwde",
                                     f"imul {a}, {b}, {rng.getrandbits(16)}")))
        elif form == 9:
            lines.append(f"{rng.choice(('xchg', 'xadd', 'bsf', 'bsr'))} {a}, {b}")
        elif form == 10:
            lines.append(rng.choice(("daa", "das", "aaa", "aas", "cmc", "clc", "stc", "lahf", "sahf")))
        else:
            lines.append(f"mov {a}, {_imm(rng):#x}")
        if form in _UNDEFINED_FLAGS:
            # the SDM leaves some flags of these undefined, and unicorn's value depends on
            # where its blocks begin (lazy flags): define them all before anyone looks
            lines.append(f"cmp {a}, {b}")
    return "\n".join(lines) + "\n"


#: ALU forms above that leave arithmetic flags undefined (shifts/rotates by more than 1,
#: bt*, mul/imul, bsf/bsr, decimal adjusts; SDM vol 2, each instruction's "Flags Affected")
_UNDEFINED_FLAGS = frozenset({2, 7, 8, 9, 10})


def chunk_memory(rng: random.Random, _tag: str) -> str:
    a, addr = _reg(rng), _scratch(rng)
    return rng.choice((
        f"mov dword ptr [{addr:#x}], {a}\n",
        f"mov {a}, dword ptr [{addr:#x}]\n",
        f"add dword ptr [{addr:#x}], {a}\n",
        f"movzx {a}, byte ptr [{addr + rng.randrange(4):#x}]\n",
        f"movsx {a}, word ptr [{addr:#x}]\n",
        f"inc dword ptr [{addr:#x}]\n",
        f"xchg dword ptr [{addr:#x}], {a}\n",
        f"mov {a}, {addr:#x}\nmov {_reg(rng)}, dword ptr [{a} + {rng.randrange(0, 12, 4)}]\n",
        f"mov eax, {_imm(rng):#x}\ncmpxchg dword ptr [{addr:#x}], {'ebx' if a == 'eax' else a}\n",
        f"mov ax, {SCRATCH_SEG:#x}\nmov fs, ax\nmov dword ptr fs:[{addr - SCRATCH:#x}], {a}\n"
        f"mov {_reg(rng)}, dword ptr fs:[{_scratch(rng) - SCRATCH:#x}]\n",
    ))


def chunk_stack(rng: random.Random, tag: str) -> str:
    a, b = _reg(rng), _reg(rng)
    return rng.choice((
        f"push {a}\npush {_imm(rng):#x}\npop {b}\npop {a}\n",
        "pushad\npopad\n",
        f"pushad\nmov {a}, {_imm(rng):#x}\npopad\n",
        "enter 16, 0\nmov dword ptr [ebp - 4], esi\nleave\n",
        f"call {tag}_f\njmp {tag}_end\n{tag}_f:\nadd {a}, {rng.getrandbits(8)}\nret\n{tag}_end:\n",
        f"mov {a}, {tag}_f\ncall {a}\njmp {tag}_end\n{tag}_f:\nxor {b}, {a}\nret 0\n{tag}_end:\n",
        f"mov dword ptr [{SCRATCH + 0xFF8:#x}], {tag}_t\njmp dword ptr [{SCRATCH + 0xFF8:#x}]\n"
        f"inc {a}\n{tag}_t:\n",
        f"mov {a}, {tag}_t\npush {a}\nret\n{tag}_t:\n",
    ))


def chunk_branch(rng: random.Random, tag: str) -> str:
    a, b = _reg(rng), _reg(rng)
    if rng.random() < 0.5:
        return f"cmp {a}, {b}\nj{rng.choice(_CC)} {tag}_l\nadd {a}, 7\n{tag}_l:\n"
    k = rng.randint(1, 6)
    a, b = rng.choice(("eax", "ebx", "edx", "esi")), rng.choice(("eax", "ebx", "edx", "edi"))
    return f"mov ecx, {k}\n{tag}_l:\nadd {a}, {b}\nrol {a}, 3\nloop {tag}_l\n"


def chunk_string(rng: random.Random, _tag: str) -> str:
    n = rng.randint(0, 32)
    down = rng.random() < 0.3
    src, dst = SCRATCH + rng.randrange(0x200, 0x700, 4), SCRATCH + rng.randrange(0x800, 0xE00, 4)
    op = rng.choice(("rep movsb", ".byte 0xf3, 0xa5", "rep stosb", "rep stosd", "lodsd", ".byte 0xa5",
                     "repe cmpsb", "repne scasb", "stosw"))
    return (f"{'std' if down else 'cld'}\nmov esi, {src:#x}\nmov edi, {dst:#x}\nmov ecx, {n}\n"
            f"mov eax, {_imm(rng):#x}\n{op}\n")


def chunk_flags(rng: random.Random, _tag: str) -> str:
    value = 0x2
    for bit in _FLAG_BITS:
        if rng.random() < 0.4:
            value |= bit
    a = _reg(rng)
    return rng.choice((
        f"push {value:#x}\npopfd\npushfd\npop {a}\n",
        f"push {value:#x}\npopfd\n",
        f"pushfd\npop {a}\n",
        f"push {value & 0xFFFF:#x}\n" + _bytes(0x66, 0x9D) + f"pushfd\npop {a}\nadd esp, 2\n",
        _bytes(0x66, 0x9C) + f"pop {a[1:] if a != 'ebp' else 'bp'}\n"
        if a not in ("esi", "edi", "ebp") else "pushfd\npopfd\n",
        f"pushfd\nxor dword ptr [esp], {rng.choice((0x3000, 0x1000, 0x200, 0x201)):#x}\npopfd\n",
    ))


def chunk_interrupt_flag(rng: random.Random, _tag: str) -> str:
    return rng.choice(("cli\n", "sti\n", "sti\nnop\n", "cli\npushfd\npop eax\n",
                       "sti\ncli\n", f"sti\nmov {_reg(rng)}, 1\n"))


def chunk_segments(rng: random.Random, _tag: str) -> str:
    a = _reg(rng)
    addr = _scratch(rng)
    sreg = rng.choice(("fs", "gs"))
    return rng.choice((
        f"mov ax, {rng.choice(FSGS_SELECTORS):#x}\nmov {sreg}, ax\n",
        f"mov ax, {rng.choice(DSES_SELECTORS[:2] if 'ds_base' in _avoid else DSES_SELECTORS):#x}\n"
        f"mov {rng.choice(('ds', 'es'))}, ax\n",
        f"mov ax, {KDATA:#x}\nmov ss, ax\nmov {_reg(rng)}, esp\n",
        "push ds\npop es\n",
        f"push {rng.choice(('ds', 'es', 'ss', 'fs', 'gs'))}\npop {sreg}\n",
        f"mov {a}, {rng.choice(('cs', 'ds', 'ss', 'fs', 'gs'))}\n",
        f"push cs\npop {a}\n",
        f"mov word ptr [{addr:#x}], {rng.choice(('cs', 'ss', 'gs'))}\n",
        f"mov dword ptr [{addr:#x}], {_imm(rng):#x}\n"
        f"mov word ptr [{addr + 4:#x}], {rng.choice(FSGS_SELECTORS):#x}\n"
        f"{rng.choice(('lfs', 'lgs'))} {'ebx' if a == 'esp' else a}, fword ptr [{addr:#x}]\n",
        f"mov dword ptr [{addr:#x}], {_imm(rng):#x}\nmov word ptr [{addr + 4:#x}], {KDATA:#x}\n"
        f"les {a}, fword ptr [{addr:#x}]\n",
    ))


def random_selector(rng: random.Random) -> int:
    pick = rng.random()
    if pick < 0.8:
        return rng.randrange(GDT_ENTRIES) * 8 | rng.randrange(4)
    if pick < 0.9:
        return rng.choice((GDT_ENTRIES * 8, 0x1F8, 0xFFF8)) | rng.randrange(4)
    return rng.randrange(4) * 8 | 4 | rng.randrange(4)  # LDT selectors: no LDT loaded


def descriptor_check(rng: random.Random, in_user: bool = False) -> str:
    """lar/lsl/verr/verw on a random selector; the result and ZF land in registers."""
    sel = random_selector(rng)
    dst = rng.choice(("ebx", "edx", "esi", "edi"))
    kind = rng.choice(("lar", "lsl", "verr", "verw", "lar_m", "lsl_m"))
    text = f"mov eax, {sel:#x}\nmov {dst}, {rng.getrandbits(32):#x}\n"
    if kind in ("lar", "lsl"):
        text += _bytes(0x0F, 2 if kind == "lar" else 3, 0xC0 | _num(dst) << 3 | _num("eax"))
    elif kind in ("lar_m", "lsl_m"):
        where = (BASE + 0xB800 if in_user else _scratch(rng))
        text += f"mov word ptr [{where:#x}], ax\n"
        text += _bytes(0x0F, 2 if kind == "lar_m" else 3, 0x05 | _num(dst) << 3, *_d32(where))
    else:
        text += f"{kind} ax\n"
    return text + "setz cl\n"


def chunk_descriptor(rng: random.Random, _tag: str) -> str:
    return descriptor_check(rng)


def chunk_system_reads(rng: random.Random, _tag: str) -> str:
    r = rng.choice(("eax", "ecx", "edx", "ebx", "esi", "edi"))
    addr = _scratch(rng)
    return rng.choice((
        _bytes(0x0F, 0x01, 0x05, *_d32(addr)),  # sgdt [addr]
        _bytes(0x0F, 0x01, 0x0D, *_d32(addr)),  # sidt [addr]
        # smsw r32 leaves bits 31:16 undefined (SDM vol 2B SMSW: unicorn keeps them, qemu
        # clears them): the program zero-extends the defined half before anything looks
        _bytes(0x0F, 0x01, 0xE0 | _num(r)) + f"movzx {r}, {r[1:]}\n",  # smsw r32
        _bytes(0x0F, 0x01, 0x25, *_d32(addr)),  # smsw m16
        _bytes(0x0F, 0x00, 0xC8 | _num(r)),  # str r32
        _bytes(0x0F, 0x00, 0x0D, *_d32(addr)),  # str m16
        _bytes(0x0F, 0x00, 0xC0 | _num(r)),  # sldt r32
        _bytes(0x66, 0x0F, 0x00, 0xC8 | _num(r)),  # str r16
    ))


def chunk_int(rng: random.Random, _tag: str) -> str:
    return f"int {rng.choice(HANDLER_VECTORS):#x}\n"


def chunk_ring3(rng: random.Random, tag: str) -> str:
    """iretd to a ring-3 routine, back through int 0x80. RESUME and KESP are stored through
    SS: a chunk may have left DS = 0x68 (based at BASE), and a store through it would leave
    an older RESUME for int 0x80 to jump to (an endless loop)."""
    flags = 0x2 | rng.choice((0, 0x200)) | rng.choice((0, 0x1000, 0x2000, 0x3000)) | rng.choice(
        (0, 0x1, 0x40, 0x881, 0x400))
    routine = USER + 0x100 * rng.randrange(USER_ROUTINES)
    return (f"mov dword ptr ss:[{RESUME:#x}], {tag}_back\nmov dword ptr ss:[{KESP:#x}], esp\n"
            f"mov {_reg(rng)}, {_imm(rng):#x}\n"
            f"push {UDATA:#x}\npush {USTACK_TOP:#x}\npush {flags:#x}\npush {UCODE:#x}\n"
            f"push {routine:#x}\niretd\n{tag}_back:\n")


def chunk_far(rng: random.Random, tag: str) -> str:
    addr = _scratch(rng)
    return rng.choice((
        _bytes(0x9A, *_d32(RUNTIME_FAR), KCODE, 0),  # call 0x08:far
        _bytes(0x9A, 0, 0, 0, 0, GATE0, 0),  # call through the DPL 0 gate
        _bytes(0x9A, 0, 0, 0, 0, GATE3, 0),  # through the DPL 3 gate
        f"mov dword ptr [{addr:#x}], {RUNTIME_FAR:#x}\nmov word ptr [{addr + 4:#x}], {KCODE:#x}\n"
        + _bytes(0xFF, 0x1D, *_d32(addr)),  # call far [addr]
        f"push {KCODE:#x}\nmov eax, {tag}_t\npush eax\nretf\n{tag}_t:\n",
        f"mov dword ptr [{addr:#x}], {tag}_t\nmov word ptr [{addr + 4:#x}], {KCODE:#x}\n"
        + _bytes(0xFF, 0x2D, *_d32(addr)) + f"{tag}_t:\n",  # jmp far [addr]
    ))


def chunk_io(rng: random.Random, _tag: str) -> str:
    return rng.choice((f"mov al, {rng.getrandbits(8):#x}\nout 0x80, al\n",
                       f"mov dx, 0x3f8\nmov al, {ord('a') + rng.randrange(26):#x}\nout dx, al\n"))


# --- system state: control and debug registers, ports, MSRs, cpuid, traps ------------------------
CR0_MP, CR0_EM, CR0_TS, CR0_NE, CR0_WP, CR0_AM, CR0_CD = (0x2, 0x4, 0x8, 0x20, 0x10000, 0x40000,
                                                          0x40000000)
#: CR0 bits a chunk may flip: no chunk uses the FPU (MP, EM, TS, NE), paging is off (WP), ring 3
#: never runs with EFLAGS.AC (AM), and caches are not modelled (CD). Not NW: NW without CD is
#: #GP(0) (SDM vol 2, MOV CRn) and neither unicorn nor qemu checks it.
_CR0_FLIP = (CR0_MP, CR0_EM, CR0_TS, CR0_NE, CR0_WP, CR0_AM, CR0_CD)
#: CR4 bits a chunk may flip: TSD, DE, PSE, PAE, MCE, PGE, PCE, OSFXSR, OSXMMEXCPT. Not VME/PVI
#: (they change CPL-3 interrupt and flag semantics), nor the bits of features qemu-system-i386's
#: CPU lacks (UMIP, VMXE, FSGSBASE, OSXSAVE, SMEP: #GP there, accepted by unicorn), nor SMAP/PKE
#: (#GP there, dropped silently by unicorn and the monitor: corpus/regressions/cr4_unsupported_bits).
_CR4_FLIP = (0x4, 0x8, 0x10, 0x20, 0x40, 0x80, 0x100, 0x200, 0x400)
#: linear addresses no program touches (above its image and stacks, inside 4 MiB of RAM):
#: breakpoints armed there never fire
_UNTOUCHED = 0x300000
#: the DR7 bit that reads as 1 whatever is written (SDM vol 3B, 17.2.4)
DR7_FIXED = 0x400
LDT_SEL = 0x78  # the GDT's LDT descriptor: base SCRATCH, limit 7 (one descriptor)


def _two_regs(rng: random.Random, pool: tuple[str, ...] = ("eax", "ebx", "edx", "esi", "edi")
              ) -> tuple[str, str]:
    a, b = rng.sample(pool, 2)
    return a, b


def _some_bits(rng: random.Random, bits: tuple[int, ...]) -> int:
    value = 0
    for bit in rng.sample(bits, rng.randint(1, 2)):
        value |= bit
    return value


def chunk_control_regs(rng: random.Random, _tag: str) -> str:
    """mov to/from CR0, CR2, CR3 (paging is off) and CR4, clts, lmsw (register and memory)."""
    r, t = _two_regs(rng)
    r16 = r[1:]
    addr = _scratch(rng)
    kind = rng.randrange(9)
    if kind == 0:
        return f"mov {r}, cr0\nxor {r}, {_some_bits(rng, _CR0_FLIP):#x}\nmov cr0, {r}\nmov {t}, cr0\n"
    if kind == 1:
        return f"mov {r}, cr0\nor {r}, {CR0_TS:#x}\nmov cr0, {r}\nclts\nmov {t}, cr0\n"
    if kind == 2:
        return "clts\n"
    if kind == 3:  # lmsw loads MP, EM, TS and can set PE but never clear it
        bits = rng.choice((CR0_MP, CR0_EM, CR0_TS, CR0_MP | CR0_TS, 0x1, 0xF))
        return (_bytes(0x66, 0x0F, 0x01, 0xE0 | _num(r)) + f"xor {r16}, {bits:#x}\n"
                + _bytes(0x0F, 0x01, 0xF0 | _num(r)) + f"mov {t}, cr0\n")  # smsw r16; lmsw r16
    if kind == 4:
        return (f"mov word ptr [{addr:#x}], {rng.getrandbits(16):#x}\n"
                + _bytes(0x0F, 0x01, 0x35, *_d32(addr)) + f"mov {t}, cr0\n")  # lmsw [addr]
    if kind == 5:
        return f"mov {r}, {_imm(rng):#x}\nmov cr2, {r}\nmov {t}, cr2\n"
    if kind == 6:  # paging is off: CR3 is only stored (page-aligned, PWT/PCD as they come)
        value = rng.randrange(0, 0x400000, 0x1000) | rng.choice((0, 0x8, 0x10, 0x18))
        return f"mov {r}, {value:#x}\nmov cr3, {r}\nmov {t}, cr3\n"
    if kind == 7:
        return f"mov {r}, cr4\nxor {r}, {_some_bits(rng, _CR4_FLIP):#x}\nmov cr4, {r}\nmov {t}, cr4\n"
    return f"mov {r}, cr{rng.choice((0, 2, 3, 4))}\n"


def chunk_debug_regs(rng: random.Random, _tag: str) -> str:
    """mov to/from DR0-DR3, DR6, DR7; breakpoints armed only on addresses nothing touches."""
    r, t = _two_regs(rng)
    n = rng.randrange(4)
    kind = rng.randrange(6)
    if kind == 0:
        return f"mov {r}, {_imm(rng):#x}\nmov dr{n}, {r}\nmov {t}, dr{n}\n"
    if kind == 1:
        return f"mov {r}, dr{rng.choice((6, 7))}\n"
    if kind == 2:  # the bits that read as 1 come back whatever is written
        return f"mov {r}, {rng.getrandbits(32):#x}\nmov dr6, {r}\nmov {t}, dr6\n"
    if kind == 3:  # arm DRn: execute, write or read/write, 1, 2 or 4 bytes, local or global
        rw = rng.choice((0, 1, 3))
        length = 0 if rw == 0 else rng.choice((0, 1, 3))
        address = _UNTOUCHED + rng.randrange(0, 0x10000, 4)
        dr7 = (rng.choice((1, 2, 3)) << (2 * n)) | ((length << 2 | rw) << (16 + 4 * n)) \
            | rng.choice((0, 0x100, 0x200, 0x300)) | DR7_FIXED
        if rng.random() < 0.5:
            dr7 &= ~DR7_FIXED
        return (f"mov {r}, {address:#x}\nmov dr{n}, {r}\nmov {r}, {dr7:#x}\nmov dr7, {r}\n"
                f"mov {t}, dr7\n" + rng.choice(("", f"mov {r}, {DR7_FIXED:#x}\nmov dr7, {r}\n")))
    if kind == 4:  # DR4/DR5 are DR6/DR7 while CR4.DE is clear, #UD while it is set
        clear_de = f"mov {r}, cr4\nand {r}, {~0x8 & 0xFFFFFFFF:#x}\nmov cr4, {r}\n"
        return (rng.choice((clear_de, clear_de, clear_de, "")) + f"mov {r}, {rng.getrandbits(32):#x}\n"
                + _bytes(0x0F, 0x23, 0xE0 | _num(r)) + _bytes(0x0F, 0x21, 0xE0 | _num(t))
                + _bytes(0x0F, 0x21, 0xE8 | _num(r)))  # mov dr4, r; mov t, dr4; mov r, dr5
    return f"mov {r}, dr{rng.randrange(4)}\nmov {t}, dr7\n"


#: CMOS registers whose value is the same in the native run, the monitor and qemu (status
#: registers, shutdown byte, base memory size, unused NVRAM)
_CMOS_READ = (0x0A, 0x0B, 0x0C, 0x0D, 0x0F, 0x15, 0x16, 0x40, 0x4F, 0x5F)
_CMOS_NVRAM = range(0x40, 0x50)  # free bytes of CMOS RAM: written and read back


def chunk_port_io(rng: random.Random, _tag: str) -> str:
    """in/out (immediate and dx ports) and ins/outs (rep or not, both directions, a segment
    override) on ports with deterministic contents: the UART scratch register 0x3ff, CMOS
    RAM, the PIC masks (restored to 0xff with interrupts off), the POST port 0x80. Only byte
    reads: wider ones combine neighbouring ports, which the bare machine and qemu do apart."""
    r = rng.choice(("ebx", "esi", "edi", "ebp"))
    src, dst = SCRATCH + rng.randrange(0x100, 0x180, 4), SCRATCH + rng.randrange(0x200, 0x280, 4)
    n = rng.randint(0, 6)
    direction = rng.choice(("cld", "std"))
    kind = rng.randrange(8)
    if kind == 0:
        return (f"mov dx, 0x3ff\nmov al, {rng.getrandbits(8):#x}\nout dx, al\n"
                f"xor eax, eax\nin al, dx\nmov {r}, eax\n")
    if kind == 1:
        index = rng.choice(_CMOS_NVRAM) | rng.choice((0, 0x80))  # bit 7: NMI off, ignored
        return (f"mov al, {index:#x}\nout 0x70, al\nmov al, {rng.getrandbits(8):#x}\nout 0x71, al\n"
                f"mov al, {index:#x}\nout 0x70, al\nxor eax, eax\nin al, 0x71\nmov {r}, eax\n")
    if kind == 2:
        return (f"mov al, {rng.choice(_CMOS_READ):#x}\nout 0x70, al\nmov dx, 0x71\nin al, dx\n"
                f"movzx {r}, al\nin al, 0x70\n")
    if kind == 3:  # a PIC mask written and read back while interrupts are off, then all masked
        port = rng.choice((0x21, 0xA1))
        return (f"pushfd\ncli\nin al, {port:#x}\nmov al, {rng.getrandbits(8):#x}\nout {port:#x}, al\n"
                f"xor eax, eax\nin al, {port:#x}\nmov {r}, eax\nmov al, 0xff\nout {port:#x}, al\n"
                "popfd\n")
    if kind == 4:
        width = rng.choice(("al", "ax", "eax"))
        return rng.choice((f"mov al, {rng.getrandbits(8):#x}\nout 0x80, al\n",
                           f"mov dx, 0x80\nmov eax, {_imm(rng):#x}\nout dx, {width}\n"))
    if kind == 5:  # outs to the POST port, any width
        op = rng.choice(("outsb", "outsw", "outsd"))
        return (f"{direction}\nmov esi, {src:#x}\nmov dx, 0x80\nmov ecx, {n}\n"
                f"{rng.choice(('rep ', ''))}{op}\n")
    if kind == 6:  # ins of bytes from a port that reads the same each time
        port, setup = rng.choice(((0x3FF, ""), (0x21, ""), (0x70, ""),
                                  (0x71, f"mov al, {rng.choice(_CMOS_READ):#x}\nout 0x70, al\n")))
        return (f"{setup}{direction}\nmov edi, {dst:#x}\nmov dx, {port:#x}\nmov ecx, {n}\n"
                f"{rng.choice(('rep ', ''))}insb\nmov {r}, dword ptr [{dst:#x}]\n")
    # outsb into the scratch register, through DS or FS (base SCRATCH), and read back
    seg = rng.choice(("", "fs"))
    base = SCRATCH if seg else 0
    return ((f"mov ax, {SCRATCH_SEG:#x}\nmov fs, ax\n" if seg else "")
            + f"mov esi, {src - base:#x}\nmov dx, 0x3ff\n{direction}\n"
            + _bytes(*((0x64,) if seg else ()), 0x6E)
            + f"mov {r}, esi\nxor eax, eax\nin al, dx\nxor {r}, eax\n")


def chunk_cache(rng: random.Random, _tag: str) -> str:
    """invlpg (paging is off: nothing to drop), wbinvd, invd (no caches are modelled)."""
    r = rng.choice(("eax", "ebx", "esi"))
    return rng.choice((
        f"invlpg byte ptr [{_scratch(rng):#x}]\n",
        f"mov {r}, {rng.randrange(0, 0x400000):#x}\ninvlpg byte ptr [{r} + {rng.getrandbits(8)}]\n",
        "wbinvd\n",
        "invd\n",
    ))


def chunk_ldt(rng: random.Random, _tag: str) -> str:
    """lldt: null, the GDT's LDT descriptor (register and memory operand), and a data
    descriptor written into that LDT, loaded into FS and checked with lar/lsl/verr."""
    addr = _scratch(rng)
    kind = rng.randrange(4)
    if kind == 0:
        return "xor eax, eax\nlldt ax\n"
    if kind == 1:
        return f"mov ax, {LDT_SEL:#x}\nlldt ax\n" + _bytes(0x0F, 0x00, 0xC3)  # sldt ebx
    if kind == 2:
        return (f"mov word ptr [{addr:#x}], {rng.choice((0, LDT_SEL)):#x}\n"
                f"lldt word ptr [{addr:#x}]\n")
    dpl = rng.randrange(4)
    lo, hi = struct.unpack("<II", seg_desc(SCRATCH, 0xFFF, 0x92 | dpl << 5, 0x4))
    sel = 4 | dpl
    return (f"mov dword ptr [{SCRATCH:#x}], {lo:#x}\nmov dword ptr [{SCRATCH + 4:#x}], {hi:#x}\n"
            f"mov ax, {LDT_SEL:#x}\nlldt ax\nmov ax, {sel:#x}\nmov fs, ax\n"
            f"mov ebx, dword ptr fs:[{rng.randrange(8, 0xFF0, 4):#x}]\n"
            f"mov eax, {sel:#x}\n" + _bytes(0x0F, 0x02, 0xD0) + _bytes(0x0F, 0x03, 0xF0)  # lar, lsl
            + "verr ax\nsetz cl\n" + f"mov ax, {KDATA:#x}\nmov fs, ax\n"
            + rng.choice(("", "xor eax, eax\nlldt ax\n")))


def chunk_far_pointer(rng: random.Random, _tag: str) -> str:
    """lds/les/lss (and lfs/lgs) from far pointers prepared in memory: 32- and 16-bit offsets,
    the null selector (DS reloaded before it is used), a second stack for lss."""
    r, t = _two_regs(rng, ("eax", "ebx", "ecx", "edx", "esi", "edi"))
    addr = _scratch(rng)
    sels = DSES_SELECTORS[:2]  # flat: the based 0x68 in DS (chunk_segments) derails later chunks
    kind = rng.randrange(5)
    if kind == 0:
        op = rng.choice(("lds", "les"))
        return (f"mov dword ptr [{addr:#x}], {_imm(rng):#x}\nmov word ptr [{addr + 4:#x}], "
                f"{rng.choice(sels):#x}\n{op} {r}, fword ptr [{addr:#x}]\n")
    if kind == 1:
        op = rng.choice(("lds", "les"))
        return (f"mov dword ptr [{addr:#x}], {_imm(rng):#x}\nmov word ptr [{addr + 4:#x}], 0\n"
                f"{op} {r}, fword ptr [{addr:#x}]\nmov ax, {KDATA:#x}\nmov {op[1:]}, ax\n")
    if kind == 2:
        return (f"mov dword ptr [{addr:#x}], esp\nmov word ptr [{addr + 4:#x}], {KDATA:#x}\n"
                f"lss esp, fword ptr [{addr:#x}]\n")
    if kind == 3:  # a stack 0x40 bytes lower, then back
        return (f"lea {r}, [esp - 0x40]\nmov dword ptr [{addr:#x}], {r}\n"
                f"mov word ptr [{addr + 4:#x}], {KDATA:#x}\nlss esp, fword ptr [{addr:#x}]\n"
                f"push {t}\npush {_imm(rng):#x}\npop {t}\npop {r}\nadd esp, 0x40\n")
    # 16-bit operand size: a 16-bit offset into the low half of the register, then the selector
    op, opcode = rng.choice((("lds", (0xC5,)), ("les", (0xC4,)), ("lfs", (0x0F, 0xB4)),
                             ("lgs", (0x0F, 0xB5))))
    sel = rng.choice(sels if op in ("lds", "les") else FSGS_SELECTORS)
    return (f"mov word ptr [{addr:#x}], {rng.getrandbits(16):#x}\nmov word ptr [{addr + 2:#x}], {sel:#x}\n"
            + _bytes(0x66, *opcode, 0x05 | _num(r) << 3, *_d32(addr)))


def chunk_trap(rng: random.Random, _tag: str) -> str:
    """int3, into (OF set and clear), int1 (icebp) and int 1/3/4 into handlers that return."""
    r = rng.choice(("eax", "ebx", "edx", "edi"))
    return rng.choice((
        _bytes(0xCC),
        f"mov {r}, 0x7fffffff\nadd {r}, {rng.randint(1, 0x100)}\n" + _bytes(0xCE),
        f"xor {r}, {r}\n" + _bytes(0xCE),
        f"push {rng.choice((0x802, 0x2, 0x8d7, 0xad7)):#x}\npopfd\n" + _bytes(0xCE),
        _bytes(0xF1),
        f"int {rng.choice(TRAP_VECTORS)}\n",
    ))


def chunk_loops(rng: random.Random, tag: str) -> str:
    """loope/loopne ended by ZF, jecxz, jcxz, and loop with CX (address size 16).

    loope/loopne never run ECX down to 0: unicorn (QEMU 5's loopz/loopnz) leaves that way
    without storing its lazy-flags state, so flags computed later from that stale state are
    wrong (`mov ecx, 1; cmp esi, esi; loope x; x:` then shows ZF clear; qemu 7.2 is right);
    the monitor reads and writes EFLAGS between blocks and so makes them visible where the
    native run redefines them first (reserved bits set, even VM: corpus/regressions/
    loopz_stale_flags). A counter in EDX ends these loops with ECX still above 0.
    """
    a, b = rng.choice(("ebx", "esi", "ebp")), rng.choice(("ebx", "esi", "edi"))
    k = rng.randint(1, 6)
    kind = rng.randrange(5)
    if kind in (0, 1):
        count = f"mov ecx, {k + rng.randint(1, 3)}\nmov edx, {k}\n{tag}_l:\nadd {a}, {b}\nrol {a}, 3\n"
        if kind == 0:  # ZF = 1 while EDX is not yet 0
            return count + f"dec edx\nsetz al\ntest al, al\nloope {tag}_l\n"
        return count + f"dec edx\nloopne {tag}_l\n"  # ZF = 0 while EDX is not yet 0
    if kind == 2:
        count = rng.choice((0, k, 0x10000))
        return f"mov ecx, {count:#x}\njecxz {tag}_s\nadd {a}, {_imm(rng):#x}\n{tag}_s:\n"
    if kind == 3:  # jcxz tests CX only
        count = rng.choice((0, k, 0x10000, 0x30000 | k))
        return f"mov ecx, {count:#x}\njcxz {tag}_s\nxor {a}, {_imm(rng):#x}\n{tag}_s:\n"
    # loop with address size 16 counts in CX and leaves the upper half of ECX alone
    return (f"mov ecx, {(rng.randrange(0x10) << 16) | k:#x}\n{tag}_l:\nadd {a}, {b}\n"
            f"ror {a}, 5\n" + _bytes(0x67) + f"loop {tag}_l\n")


#: cpuid leaves (subleaf in ECX) and masks of the output registers: the bits unicorn's CPU
#: model and qemu-system-i386's default one report alike (vendor, features both have, cache
#: parameters); the native run and the monitor must agree on all of them in any case
_CPUID = (
    (0x0, (0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)),
    (0x1, (0, 0xFFFFFFFF, 0x80000001, 0x0781ABFD)),
    (0x4, (0xFFFFFFFF,) * 4),
    (0x80000000, (0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)),
)


def chunk_cpuid(rng: random.Random, _tag: str) -> str:
    """cpuid of a leaf in :data:`_CPUID`, its outputs masked and left for the dump."""
    leaf, masks = rng.choice(_CPUID)
    # ECX selects the cache level of leaf 4 (L1d, L1i, L2: unicorn reports no L3, qemu does)
    # and is ignored by the others
    sub = rng.randrange(3) if leaf == 4 else rng.getrandbits(32)
    text = f"mov eax, {leaf:#x}\nmov ecx, {sub:#x}\ncpuid\n"
    for reg, mask in zip(("eax", "ebx", "ecx", "edx"), masks, strict=True):
        if mask != 0xFFFFFFFF:
            text += f"and {reg}, {mask:#x}\n"
    return text


#: MSRs a chunk writes (SYSENTER_CS/ESP/EIP, PAT) and reads only (platform id, EFER);
#: SYSENTER_ESP/EIP are 32 bits wide in qemu-system-i386: EDX is 0
_MSR_WRITE = (0x174, 0x175, 0x176, 0x277)
_MSR_READ = (0x17, 0xC0000080)
_PAT_TYPES = (0, 1, 4, 5, 6, 7)


def chunk_msr(rng: random.Random, _tag: str) -> str:
    """rdmsr/wrmsr of MSRs no program depends on, rdtsc with its value dropped (the native
    and monitored clocks differ)."""
    r = rng.choice(("ebx", "esi", "edi", "ebp"))
    kind = rng.randrange(4)
    if kind == 0:
        return "rdtsc\n" + rng.choice(("xor eax, eax\nxor edx, edx\n",
                                        f"mov eax, {_imm(rng):#x}\nmov edx, ecx\n"))
    if kind == 1:
        return f"mov ecx, {rng.choice(_MSR_READ):#x}\nrdmsr\nmov {r}, eax\nxor {r}, edx\n"
    msr = rng.choice(_MSR_WRITE)
    if msr == 0x277:
        lo, hi = (sum(rng.choice(_PAT_TYPES) << (8 * i) for i in range(4)) for _ in range(2))
    elif msr == 0x174:
        lo, hi = rng.getrandbits(16), 0
    else:
        lo, hi = rng.getrandbits(32), 0
    write = f"mov ecx, {msr:#x}\nmov eax, {lo:#x}\nmov edx, {hi:#x}\nwrmsr\n"
    read = f"mov ecx, {msr:#x}\nrdmsr\nmov {r}, eax\nxor {r}, edx\n"
    if kind == 2:
        return write + read
    return read + write  # what reset (or an earlier chunk) left there


# --- paging and self-modifying code ----------------------------------------------------------------
#: page tables the paging chunks build (RAM above the image, outside the checksum and below
#: the addresses debug-register chunks arm): two directories sharing an identity-mapped
#: first 4 MiB (PT0); PT1 maps 4-8 MiB, where ALIAS is the page the chunks remap
PD0, PD1, PT0, PT1 = 0x200000, 0x201000, 0x202000, 0x203000
ALIAS = 0x400000


def _page_tables(tag: str) -> str:
    return ("mov eax, cr4\nand eax, 0xffffffdf\nmov cr4, eax\n"  # no PAE paging
            f"mov edi, {PD0:#x}\nxor eax, eax\nmov ecx, 4096\ncld\nrep stosd\n"
            f"mov edi, {PT0:#x}\nmov eax, 7\nmov ecx, 1024\n"
            f"{tag}_fill:\nmov dword ptr [edi], eax\nadd eax, 0x1000\nadd edi, 4\ndec ecx\n"
            f"jnz {tag}_fill\n"
            f"mov dword ptr [{PD0:#x}], {PT0 | 7:#x}\nmov dword ptr [{PD0 + 4:#x}], {PT1 | 7:#x}\n"
            f"mov dword ptr [{PD1:#x}], {PT0 | 7:#x}\nmov dword ptr [{PD1 + 4:#x}], {PT1 | 7:#x}\n")


def chunk_paging(rng: random.Random, tag: str) -> str:
    """Paging on for a while: PTE writes (each followed by invlpg, so that what a real TLB
    holds never matters), CR3 switches and reloads, stores and loads through an alias page
    remapped onto the scratch page, accessed/dirty bits read back from the guest's own
    entries; paging off again at the end (the next chunk starts as it would have)."""
    out = [_page_tables(tag), f"mov eax, {PD0:#x}\nmov cr3, eax\n",
           "mov eax, cr0\nor eax, 0x80000000\nmov cr0, eax\n"]
    for _ in range(rng.randrange(2, 7)):
        op = rng.randrange(6)
        off = rng.randrange(0, 0x1000, 4)
        if op == 0:  # the alias read-write onto scratch, written through it
            out.append(f"mov dword ptr [{PT1:#x}], {SCRATCH | 7:#x}\ninvlpg [{ALIAS:#x}]\n"
                       f"mov dword ptr [{ALIAS + off:#x}], {_imm(rng):#x}\n"
                       f"mov ebx, dword ptr [{SCRATCH + off:#x}]\n")
        elif op == 1:  # read through it, then the PTE's accessed/dirty bits
            out.append(f"mov dword ptr [{PT1:#x}], {SCRATCH | 7:#x}\ninvlpg [{ALIAS:#x}]\n"
                       f"mov ecx, dword ptr [{ALIAS + off:#x}]\nmov edx, dword ptr [{PT1:#x}]\n")
        elif op == 2:  # another address space and back
            out.append(f"mov eax, {PD1:#x}\nmov cr3, eax\nmov esi, dword ptr [{SCRATCH + off:#x}]\n"
                       f"mov eax, {PD0:#x}\nmov cr3, eax\n")
        elif op == 3:  # a CR3 reload (a full flush), then the PDE's accessed bit
            out.append(f"mov eax, cr3\nmov cr3, eax\nmov edi, dword ptr [{PD0 + 4:#x}]\n")
        elif op == 4:  # the scratch page's own PTE (accessed and dirty by now, or not)
            out.append(f"mov ebp, dword ptr [{PT0 + 4 * (SCRATCH >> 12):#x}]\n")
        else:  # a read-only alias, read through
            out.append(f"mov dword ptr [{PT1:#x}], {SCRATCH | 5:#x}\ninvlpg [{ALIAS:#x}]\n"
                       f"mov ebp, dword ptr [{ALIAS + off:#x}]\n")
    out.append("mov eax, cr0\nand eax, 0x7fffffff\nmov cr0, eax\n")
    return "".join(out)


def chunk_smc(rng: random.Random, tag: str) -> str:
    """Self-modifying code: a store rewrites the immediate of an instruction about to run, or
    of one already run (a loop runs it before and after the store). The rewritten instruction
    is always in another block than the store (a jmp between them): a store that rewrites
    its own unicorn block is counted twice by the bare machine's clock (README), which a
    program that runs into the instruction bound would show as a divergence."""
    if rng.randrange(2):
        return (f"mov dword ptr [{tag}_p + 1], {_imm(rng):#x}\njmp {tag}_p\n"
                f"{tag}_p:\nmov {_reg(rng)}, 0x11111111\n")
    reg = rng.choice(("eax", "ebx", "edx", "esi", "edi", "ebp"))
    return (f"mov ecx, 2\n{tag}_l:\n{tag}_p:\nmov {reg}, 0x22222222\n"
            f"add dword ptr [{_scratch(rng):#x}], {reg}\njmp {tag}_s\n"
            f"{tag}_s:\nmov dword ptr [{tag}_p + 1], {_imm(rng):#x}\ndec ecx\njnz {tag}_l\n")

#: (weight, generator): what a program is made of
CHUNKS: tuple[tuple[int, Chunk], ...] = (
    (10, chunk_alu), (6, chunk_memory), (4, chunk_stack), (3, chunk_branch), (3, chunk_string),
    (6, chunk_flags), (3, chunk_interrupt_flag), (5, chunk_segments), (5, chunk_descriptor),
    (4, chunk_system_reads), (4, chunk_int), (3, chunk_ring3), (3, chunk_far), (1, chunk_io),
    (2, chunk_control_regs), (2, chunk_debug_regs), (2, chunk_port_io), (1, chunk_cache),
    (1, chunk_ldt), (2, chunk_far_pointer), (2, chunk_trap), (2, chunk_loops), (1, chunk_cpuid),
    (1, chunk_msr), (2, chunk_paging), (2, chunk_smc), (4, fuzzrings.chunk_rings),
)

# --- the skeleton --------------------------------------------------------------------------------------
SLOT = 0x20  # bytes per runtime entry point
RUNTIME_FAR = RUNTIME  # far-call target (also the call gates'): returns with retf
DUMP_ADDR = RUNTIME + 0x800
NAMES = BASE + 0x9300  # "eax=" ... 8 bytes a name


def _slot(i: int) -> int:
    return RUNTIME + SLOT * i


#: runtime slots: 0 far target, 1..12 int handlers, 13 int 0x80, 14 int 0x81, 16.. faults,
#: 48 the #UD gate's entry (icebp, below)
SLOT_OF = {**{v: 1 + i for i, v in enumerate(HANDLER_VECTORS)}, 0x80: 13, 0x81: 14,
           **{v: 16 + v for v in range(32)}}
UD_ENTRY = 48
RING1_SERVICE = 50  # the DPL-2 call gate's ring-1 target: returns with retf


def _handlers(rng: random.Random) -> dict[int, str]:
    """The body of every runtime slot by vector; int n handlers (0x30..0x3b) edit the saved
    EFLAGS (CF, IOPL, IF) before iret; faults record their vector and dump."""
    out = {}
    for v in HANDLER_VECTORS:
        edit = rng.choice(("", "xor dword ptr [esp + 8], 0x1\n", "xor dword ptr [esp + 8], 0x3000\n",
                           "or dword ptr [esp + 8], 0x200\n", "and dword ptr [esp + 8], 0xfffffdff\n",
                           "pushfd\npop ebp\n", "push ds\npop fs\n"))
        out[v] = (f"add esi, {rng.getrandbits(16):#x}\nrol edi, {v & 7}\n{edit}"
                  f"mov dword ptr [{SCRATCH + 0xF00 + 4 * (v - 0x30):#x}], esp\niretd\n")
    out[0x80] = (f"mov esp, dword ptr ss:[{KESP:#x}]\npush ss\npop ds\npush ss\npop es\n"
                 f"jmp dword ptr [{RESUME:#x}]\n")
    out[0x81] = "add ecx, 0x101\nxor dword ptr [esp + 8], 0x1\niretd\n"
    for v in range(32):
        out[v] = f"mov dword ptr ss:[{FAULT:#x}], {v}\njmp {DUMP_ADDR:#x}\n"
    for i, v in enumerate(TRAP_VECTORS):
        # int1 (icebp), int3 and into come back: the saved EIP and EFLAGS are recorded
        # (a trap's EIP is the next instruction's; no chunk arms a breakpoint that would
        # raise a #DB fault)
        record = SCRATCH + 0xF40 + 8 * i
        out[v] = (f"push eax\nmov eax, dword ptr [esp + 4]\nmov dword ptr ss:[{record:#x}], eax\n"
                  f"mov eax, dword ptr [esp + 12]\nmov dword ptr ss:[{record + 4:#x}], eax\n"
                  f"pop eax\nadd esi, {rng.getrandbits(16):#x}\niretd\n")
    return out


#: The #UD gate's entry. The SDM makes icebp (0xf1, INT1) a #DB trap; unicorn and qemu's TCG
#: (built without WANT_ICEBP) raise #UD, EIP at the icebp, and so does the monitor, as its
#: hardware (corpus/regressions/icebp_ud). This entry turns that #UD into the #DB trap the SDM
#: describes, so that a program's result is the same on a real processor too; other #UD
#: faults are recorded and end the program as before.
_UD_ENTRY = (f"push eax\nmov eax, dword ptr [esp + 4]\ncmp byte ptr cs:[eax], 0xf1\npop eax\n"
             f"jne {_slot(SLOT_OF[6]):#x}\ninc dword ptr [esp]\njmp {_slot(SLOT_OF[1]):#x}\n")


def _user_routines(rng: random.Random) -> list[str]:
    """Ring-3 code: each ends with int 0x80 back to the kernel chunk that entered it."""
    scratch = BASE + 0xB800  # on the user stack page, below the stack in use
    common = f"mov ax, {UDATA:#x}\nmov ds, ax\nmov es, ax\n"
    return [
        common + "add eax, ebx\npushfd\npop ecx\npush 0x3202\npopfd\npushfd\npop edx\nint 0x80\n",
        common + _bytes(0x0F, 0x01, 0x05, *_d32(scratch)) + _bytes(0x0F, 0x01, 0x0D, *_d32(scratch + 8))
        + _bytes(0x0F, 0x01, 0xE0) + "movzx eax, ax\n"  # smsw eax: bits 31:16 undefined
        + _bytes(0x0F, 0x00, 0xCB) + _bytes(0x0F, 0x00, 0xC1)
        + "int 0x80\n",
        common + "int 0x81\n" + descriptor_check(rng, True) + descriptor_check(rng, True) + "int 0x80\n",
        common + "push ds\npop es\nmov eax, cs\npush ss\npop ebx\nmov cx, 0x6b\nmov fs, cx\n"
        + _bytes(0x9A, 0, 0, 0, 0, GATE3 | 3, 0) + "int 0x80\n",
        common + f"mov dword ptr [{scratch:#x}], esp\nxor eax, eax\nmov edx, 7\nimul edx, edx\n"
                 "mov eax, 0x7fffffff\nadd eax, 1\ninto\nint3\nint 0x81\nint 0x80\n",
    ]


PROLOGUE = (
    "cli\n"
    + _bytes(0x0F, 0x01, 0x15, *_d32(TABLE_PTRS))  # lgdt (keystone would add a 0x66 prefix)
    + _bytes(0x0F, 0x01, 0x1D, *_d32(TABLE_PTRS + 6))  # lidt
    + _bytes(0xEA, *_d32(MAIN + 0x20), KCODE, 0)  # ljmp 0x08:MAIN+0x20 (cli, lgdt, lidt: 15 bytes)
    + _bytes(*([0x90] * (0x20 - 15 - 7)))
    + f"mov ax, {KDATA:#x}\nmov ds, ax\nmov es, ax\nmov ss, ax\nmov fs, ax\nmov gs, ax\n"
    f"mov esp, {KSTACK_TOP:#x}\nmov ax, {TSSSEL:#x}\nltr ax\n"
    # LDTR null: a loader leaves it undefined (after reset it is base 0, limit 0xffff, and
    # qemu's lar/lsl/verr/verw then read "descriptors" from the real-mode IVT)
    "xor eax, eax\nlldt ax\n"
    "mov al, 0xff\nout 0x21, al\nout 0xa1, al\n"
    f"mov dword ptr [{FAULT:#x}], 0xffffffff\n"
    "xor eax, eax\nxor ebx, ebx\nxor ecx, ecx\nxor edx, edx\nxor esi, esi\nxor edi, edi\n"
    "xor ebp, ebp\npush 2\npopfd\n"
)
EPILOGUE = f"jmp {DUMP_ADDR:#x}\n"

_SAVE_SLOTS = {name: SAVE + 4 * i for i, name in enumerate(DUMPED)}


def _dump_source() -> str:
    """Save the registers, checksum the data pages, print "name=hex" lines, exit with 0."""
    s = _SAVE_SLOTS
    text = ""
    for r in ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp"):
        text += f"mov dword ptr ss:[{s[r]:#x}], {r}\n"
    text += f"pushfd\npop dword ptr ss:[{s['eflags']:#x}]\n"
    for r in ("cs", "ds", "es", "fs", "gs", "ss"):
        text += f"mov word ptr ss:[{s[r]:#x}], {r}\n"
    text += f"mov ax, {KDATA:#x}\nmov ds, ax\nmov es, ax\ncld\n"
    text += (f"mov esi, {CHECK_START:#x}\nmov ecx, {(CHECK_END - CHECK_START) // 4}\nxor edx, edx\n"
             "sum_loop:\nrol edx, 5\nxor edx, dword ptr [esi]\nadd esi, 4\ndec ecx\njnz sum_loop\n"
             f"mov dword ptr [{s['sum']:#x}], edx\nmov eax, dword ptr [{FAULT:#x}]\n"
             f"mov dword ptr [{s['fault']:#x}], eax\n")
    text += f"mov esi, {SAVE:#x}\nmov edi, {NAMES:#x}\nmov ebp, {len(DUMPED)}\nmov dx, 0x3f8\n"
    text += ("print_loop:\nmov ecx, 8\nname_loop:\nmov al, byte ptr [edi]\n"
             "test al, al\njz name_done\nout dx, al\ninc edi\ndec ecx\njnz name_loop\n"
             "name_done:\nadd edi, ecx\nmov ebx, dword ptr [esi]\nmov ecx, 8\nhex_loop:\n"
             f"rol ebx, 4\nmov eax, ebx\nand eax, 0xf\nmov al, byte ptr [eax + {HEXTAB:#x}]\n"
             "out dx, al\ndec ecx\njnz hex_loop\nmov al, 0x0a\nout dx, al\nadd esi, 4\n"
             "dec ebp\njnz print_loop\n"
             "xor eax, eax\nmov dx, 0xf4\nout dx, eax\nhlt\n")
    return text


@functools.cache
def _dump_code() -> bytes:
    return assemble(_dump_source(), DUMP_ADDR)


@dataclass
class Program:
    """One random guest: its seed (the skeleton's handlers and ring-3 routines) and its
    chunks (the part shrinking edits)."""

    seed: int
    chunks: list[str] = field(default_factory=list)
    code_accessed: bool = True

    def source(self, comments: bool = True) -> str:
        """The assembly text of the main code (prologue and chunks); comments for people
        (keystone reads ``;`` as a statement separator)."""
        return PROLOGUE + "".join((f"# chunk {i}\n" if comments else "") + c
                                  for i, c in enumerate(self.chunks)) + EPILOGUE

    def image(self) -> bytes:
        """The flat binary: load at :data:`BASE`, enter at :data:`BASE` (or boot it through
        its multiboot a.out header)."""
        rng = random.Random(self.seed ^ 0x5EED)
        img = bytearray(IMAGE_SIZE)

        def put(addr: int, data: bytes, room: int) -> None:
            if len(data) > room:
                raise ValueError(f"{len(data)} bytes at {addr:#x} overflow their {room:#x}")
            img[addr - BASE:addr - BASE + len(data)] = data

        put(BASE, bytes([0xE9]) + struct.pack("<i", MAIN - (BASE + 5)), 8)
        magic, flags = 0x1BADB002, 0x00010000
        put(BASE + 8, struct.pack("<8I", magic, flags, (-(magic + flags)) & 0xFFFFFFFF, BASE + 8,
                                  BASE, 0, 0, BASE), 0x38)
        put(MAIN, assemble(self.source(False), MAIN), RUNTIME - MAIN)
        put(RUNTIME_FAR, assemble("add ebx, 3\nretf\n", RUNTIME_FAR), SLOT)
        put(_slot(RING1_SERVICE), assemble("add ebx, 5\nretf\n", _slot(RING1_SERVICE)), SLOT)
        idt = bytearray(256 * 8)  # not-present gates
        for v, body in _handlers(rng).items():
            addr = _slot(SLOT_OF[v])
            put(addr, assemble(body, addr), SLOT)
            kind = 0xF if v >= 0x38 and v in HANDLER_VECTORS or v == 0x81 else 0xE
            idt[v * 8:v * 8 + 8] = gate(addr, KCODE, kind, 3 if v >= 0x80 or v in (3, 4) else 0)
        put(_slot(UD_ENTRY), assemble(_UD_ENTRY, _slot(UD_ENTRY)), SLOT)
        idt[6 * 8:6 * 8 + 8] = gate(_slot(UD_ENTRY), KCODE, 0xE, 0)  # before vector 6's slot
        put(DUMP_ADDR, _dump_code(), USER - DUMP_ADDR)
        for i, body in enumerate(_user_routines(rng)):
            put(USER + 0x100 * i, assemble(body, USER + 0x100 * i), 0x100)
        gdt = gdt_image(RUNTIME_FAR, self.code_accessed)
        put(GDT, gdt, IDT - GDT)
        put(IDT, bytes(idt), TSS - IDT)
        put(TSS, struct.pack("<III", 0, KSTACK0_TOP, KDATA) + fuzzrings.tss_stacks(USTACK_TOP),
            0x68)
        put(TABLE_PTRS, struct.pack("<HIHI", len(gdt) - 1, GDT, 256 * 8 - 1, IDT), 0x10)
        put(HEXTAB, b"0123456789abcdef", 16)
        put(NAMES, b"".join((n + "=").encode().ljust(8, b"\0") for n in DUMPED), 0x100)
        return bytes(img)


def generate(seed: int, n_chunks: int | None = None, avoid_known: bool = False) -> Program:
    """The program of ``seed``: its skeleton and 20-120 random chunks; ``avoid_known`` steps
    around the :data:`KNOWN` divergences."""
    _avoid.clear()
    if avoid_known:
        _avoid.update(KNOWN)
    rng = random.Random(seed)
    n = n_chunks if n_chunks is not None else rng.randint(20, 120)
    weights = [w for w, _ in CHUNKS]
    makers = [m for _, m in CHUNKS]
    chunks = []
    for i in range(n):
        maker = rng.choices(makers, weights)[0]
        chunks.append(maker(rng, f"c{seed & 0xFFFFFF:x}_{i}"))
    return Program(seed, chunks)
