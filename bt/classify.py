"""The classification table: what the translator does with each guest kernel instruction.

Rules are rows, not branches (in the manner of pyvex's per-instruction
classes and QEMU's ``X86_OP_ENTRY`` tables). Every instruction is one of:

* ``IDENT``: copied byte for byte into the translation cache;
* control flow: ends a translation unit and is rewritten so that the
  translated code reaches the translated successor (direct or through the
  inline lookup for indirect targets);
* ``SENSITIVE``: one of the 17 sensitive-but-unprivileged IA-32
  instructions of Robin & Irvine ("Analysis of the Intel Pentium's ability
  to support a secure virtual machine monitor", USENIX Security 2000), plus
  ``iret``: they do not trap at ring 1 yet show or change state the monitor
  virtualizes, so they must be rewritten;
* ``PRIVILEGED``: they trap at ring 1 (or, for I/O, unicorn lets them
  through and the monitor must intercept them: see shared/notes/unicorn.md)
  and are emulated against the virtual CPU;
* ``VIRTUALIZED``: unprivileged instructions whose result the monitor
  chooses (rdtsc, cpuid).

A rule names how the translator handles the instruction: ``ident``,
``inline`` (an assembled sequence with no Python on the path) or
``callout`` (a trap into the monitor's Python handler).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from capstone import CsInsn
from capstone import x86_const as C


class Kind(Enum):
    IDENT = "ident"
    JUMP = "jump"  # direct jmp
    BRANCH = "branch"  # jcc, loop, jecxz: two successors
    CALL = "call"  # direct near call
    RET = "ret"
    INDIRECT_JUMP = "indirect-jump"
    INDIRECT_CALL = "indirect-call"
    SENSITIVE = "sensitive"
    PRIVILEGED = "privileged"
    VIRTUALIZED = "virtualized"


class Handling(Enum):
    IDENT = "ident"
    CHAINED = "chained"  # direct control flow: retargeted to the translated successor
    LOOKUP = "lookup"  # indirect control flow: inline table lookup
    INLINE = "inline"
    CALLOUT = "callout"


@dataclass(frozen=True)
class Rule:
    """What the translator does with one instruction form."""

    name: str
    kind: Kind
    handling: Handling
    ends_unit: bool = False
    #: Robin & Irvine's group, for the sensitive-unprivileged instructions.
    group: str = ""


IDENT = Rule("ident", Kind.IDENT, Handling.IDENT)


def _sensitive(name: str, group: str, handling: Handling = Handling.CALLOUT,
               ends_unit: bool = False) -> Rule:
    return Rule(name, Kind.SENSITIVE, handling, ends_unit, group)


def _privileged(name: str, ends_unit: bool = False) -> Rule:
    return Rule(name, Kind.PRIVILEGED, Handling.CALLOUT, ends_unit)


# --- the table: capstone instruction id -> rule -----------------------------------
#: The 17 sensitive-unprivileged instructions (Robin & Irvine, section 4), by group.
SENSITIVE_UNPRIVILEGED = (
    "sgdt", "sidt", "sldt", "smsw", "str", "pushf", "popf", "lar", "lsl", "verr", "verw",
    "push sreg", "pop sreg", "mov sreg", "far call", "far jmp", "far ret", "int n",
)  # 18 names: Robin & Irvine count push/pop of segment registers as one ("push/pop")

TABLE: dict[int, Rule] = {
    # register reads of system state: the monitor keeps the guest's values where
    # translated code loads them (inline, no Python)
    C.X86_INS_SGDT: _sensitive("sgdt", "system register read", Handling.INLINE),
    C.X86_INS_SIDT: _sensitive("sidt", "system register read", Handling.INLINE),
    C.X86_INS_SLDT: _sensitive("sldt", "system register read", Handling.INLINE),
    C.X86_INS_SMSW: _sensitive("smsw", "system register read", Handling.INLINE),
    C.X86_INS_STR: _sensitive("str", "system register read", Handling.INLINE),
    # flags: the hot ones, inline against the virtual IF/IOPL
    C.X86_INS_PUSHF: _sensitive("pushf", "flags", Handling.INLINE),
    C.X86_INS_PUSHFD: _sensitive("pushf", "flags", Handling.INLINE),
    C.X86_INS_POPF: _sensitive("popf", "flags", Handling.INLINE),
    C.X86_INS_POPFD: _sensitive("popf", "flags", Handling.INLINE),
    # descriptor checks: their result depends on CPL
    C.X86_INS_LAR: _sensitive("lar", "descriptor check"),
    C.X86_INS_LSL: _sensitive("lsl", "descriptor check"),
    C.X86_INS_VERR: _sensitive("verr", "descriptor check"),
    C.X86_INS_VERW: _sensitive("verw", "descriptor check"),
    # far transfers and software interrupts: CPL and the guest's own tables
    C.X86_INS_LCALL: _sensitive("far call", "far transfer", ends_unit=True),
    C.X86_INS_LJMP: _sensitive("far jmp", "far transfer", ends_unit=True),
    C.X86_INS_RETF: _sensitive("far ret", "far transfer", ends_unit=True),
    C.X86_INS_INT: _sensitive("int n", "interrupt", ends_unit=True),
    C.X86_INS_INT3: _sensitive("int3", "interrupt", ends_unit=True),
    C.X86_INS_INTO: _sensitive("into", "interrupt", ends_unit=True),
    C.X86_INS_INT1: _sensitive("int1", "interrupt", ends_unit=True),
    C.X86_INS_IRET: _sensitive("iret", "interrupt return", ends_unit=True),
    C.X86_INS_IRETD: _sensitive("iret", "interrupt return", ends_unit=True),
    # far pointer loads set a segment register like mov to sreg does
    C.X86_INS_LDS: _sensitive("lds", "segment register"),
    C.X86_INS_LES: _sensitive("les", "segment register"),
    C.X86_INS_LFS: _sensitive("lfs", "segment register"),
    C.X86_INS_LGS: _sensitive("lgs", "segment register"),
    C.X86_INS_LSS: _sensitive("lss", "segment register", ends_unit=True),
    # privileged: trap at ring 1 (or pass through unicorn, for I/O) -> emulated
    C.X86_INS_CLI: Rule("cli", Kind.PRIVILEGED, Handling.INLINE),
    # sti (and mov/pop ss) hold interrupts for one instruction: the next guest
    # instruction must follow in the same block, not an exit jump (see bt/scan.py)
    C.X86_INS_STI: Rule("sti", Kind.PRIVILEGED, Handling.INLINE),
    C.X86_INS_HLT: _privileged("hlt", ends_unit=True),
    C.X86_INS_IN: _privileged("in"),
    C.X86_INS_INSB: _privileged("ins"),
    C.X86_INS_INSW: _privileged("ins"),
    C.X86_INS_INSD: _privileged("ins"),
    C.X86_INS_OUT: _privileged("out"),
    C.X86_INS_OUTSB: _privileged("outs"),
    C.X86_INS_OUTSW: _privileged("outs"),
    C.X86_INS_OUTSD: _privileged("outs"),
    C.X86_INS_LGDT: _privileged("lgdt"),
    C.X86_INS_LIDT: _privileged("lidt"),
    C.X86_INS_LLDT: _privileged("lldt"),
    C.X86_INS_LTR: _privileged("ltr"),
    C.X86_INS_INVLPG: _privileged("invlpg"),
    C.X86_INS_RDMSR: _privileged("rdmsr"),
    C.X86_INS_WRMSR: _privileged("wrmsr"),
    C.X86_INS_CLTS: _privileged("clts"),
    C.X86_INS_LMSW: _privileged("lmsw"),
    C.X86_INS_WBINVD: _privileged("wbinvd"),
    C.X86_INS_INVD: _privileged("invd"),
    C.X86_INS_RDTSC: Rule("rdtsc", Kind.VIRTUALIZED, Handling.CALLOUT),
    C.X86_INS_CPUID: Rule("cpuid", Kind.VIRTUALIZED, Handling.CALLOUT),
    # near control flow
    C.X86_INS_RET: Rule("ret", Kind.RET, Handling.LOOKUP, ends_unit=True),
    C.X86_INS_LOOP: Rule("loop", Kind.BRANCH, Handling.CHAINED, ends_unit=True),
    C.X86_INS_LOOPE: Rule("loope", Kind.BRANCH, Handling.CHAINED, ends_unit=True),
    C.X86_INS_LOOPNE: Rule("loopne", Kind.BRANCH, Handling.CHAINED, ends_unit=True),
    C.X86_INS_JECXZ: Rule("jecxz", Kind.BRANCH, Handling.CHAINED, ends_unit=True),
    C.X86_INS_JCXZ: Rule("jcxz", Kind.BRANCH, Handling.CHAINED, ends_unit=True),
}

_JCC = (
    C.X86_INS_JA, C.X86_INS_JAE, C.X86_INS_JB, C.X86_INS_JBE, C.X86_INS_JE, C.X86_INS_JG,
    C.X86_INS_JGE, C.X86_INS_JL, C.X86_INS_JLE, C.X86_INS_JNE, C.X86_INS_JNO, C.X86_INS_JNP,
    C.X86_INS_JNS, C.X86_INS_JO, C.X86_INS_JP, C.X86_INS_JS,
)
for _id in _JCC:
    TABLE[_id] = Rule("jcc", Kind.BRANCH, Handling.CHAINED, ends_unit=True)

_SEGMENT_REGS = frozenset({C.X86_REG_CS, C.X86_REG_DS, C.X86_REG_ES, C.X86_REG_FS,
                           C.X86_REG_GS, C.X86_REG_SS})
_CONTROL_REGS = frozenset(getattr(C, f"X86_REG_CR{i}") for i in range(16))
_DEBUG_REGS = frozenset(getattr(C, f"X86_REG_DR{i}") for i in range(16))


def _register_operands(insn: CsInsn) -> list[int]:
    return [op.reg for op in insn.operands if op.type == C.X86_OP_REG]


def _modrm_reg(insn: CsInsn) -> int:
    return (insn.modrm >> 3) & 7


# --- rules that depend on operands (need capstone detail) ------------------------------
def _mov(insn: CsInsn) -> Rule:
    regs = _register_operands(insn)
    if any(r in _SEGMENT_REGS for r in regs):
        dest_is_seg = insn.operands[0].type == C.X86_OP_REG and insn.operands[0].reg in _SEGMENT_REGS
        if not dest_is_seg:
            # the real selector is the guest's (the monitor loads guest selectors into the
            # real registers, only the CS base and CPL differ): the read is exact in place
            return _sensitive("mov from sreg", "segment register", Handling.INLINE)
        return _sensitive("mov to sreg", "segment register")
    if any(r in _CONTROL_REGS for r in regs):
        return _privileged("mov crN")
    if any(r in _DEBUG_REGS for r in regs):
        return _privileged("mov drN")
    return IDENT


def _push_pop(insn: CsInsn) -> Rule:
    regs = _register_operands(insn)
    if len(insn.operands) == 1 and regs and regs[0] in _SEGMENT_REGS:
        if insn.id == C.X86_INS_PUSH:  # exact in place, as mov from sreg
            return _sensitive("push sreg", "segment register", Handling.INLINE)
        return _sensitive("pop sreg", "segment register")
    return IDENT


def _jmp(insn: CsInsn) -> Rule:
    if insn.opcode[0] == 0xFF and _modrm_reg(insn) == 5:
        return TABLE[C.X86_INS_LJMP]  # jmp m16:32, capstone's "jmp ptr [..]"
    if insn.operands and insn.operands[0].type == C.X86_OP_IMM:
        return Rule("jmp", Kind.JUMP, Handling.CHAINED, ends_unit=True)
    return Rule("jmp indirect", Kind.INDIRECT_JUMP, Handling.LOOKUP, ends_unit=True)


def _call(insn: CsInsn) -> Rule:
    if insn.opcode[0] == 0xFF and _modrm_reg(insn) == 3:
        return TABLE[C.X86_INS_LCALL]  # call m16:32
    if insn.operands and insn.operands[0].type == C.X86_OP_IMM:
        return Rule("call", Kind.CALL, Handling.CHAINED, ends_unit=True)
    return Rule("call indirect", Kind.INDIRECT_CALL, Handling.LOOKUP, ends_unit=True)


OPERAND_RULES: dict[int, Callable[[CsInsn], Rule]] = {
    C.X86_INS_MOV: _mov,
    C.X86_INS_PUSH: _push_pop,
    C.X86_INS_POP: _push_pop,
    C.X86_INS_JMP: _jmp,
    C.X86_INS_CALL: _call,
}


def classify(insn: CsInsn) -> Rule:
    """The rule for one decoded instruction (capstone with ``detail`` on)."""
    rule = TABLE.get(insn.id)
    if rule is not None:
        return rule
    refine = OPERAND_RULES.get(insn.id)
    if refine is not None:
        return refine(insn)
    return IDENT


# --- floating point: trapped only while the guest's CR0.TS or CR0.EM is set ----------------------
_SIMD_GROUPS = frozenset({C.X86_GRP_MMX, C.X86_GRP_SSE1, C.X86_GRP_SSE2, C.X86_GRP_SSE3,
                          C.X86_GRP_SSSE3, C.X86_GRP_SSE41, C.X86_GRP_SSE42, C.X86_GRP_SSE4A,
                          C.X86_GRP_3DNOW, C.X86_GRP_AVX, C.X86_GRP_AVX2})
_PREFIXES = frozenset({0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3})


def fpu_class(insn: CsInsn) -> str | None:
    """"x87" (opcodes d8-df, fxsave/fxrstor), "wait" (9b), "simd" (MMX/SSE) or None.

    The monitor keeps the real CR0.TS/EM clear while translated code runs (it
    uses xmm registers), so while the guest has either set these become
    callouts raising the fault the guest's CR0 asks for (SDM vol 3A, table 2-2).
    """
    code = bytes(insn.bytes)
    i = 0
    while i < len(code) and code[i] in _PREFIXES:
        i += 1
    op = code[i:i + 2]
    if not op:
        return None
    if 0xD8 <= op[0] <= 0xDF or op[:2] == b"\x0f\xae":
        return "x87"
    if op[0] == 0x9B:
        return "wait"
    if any(g in _SIMD_GROUPS for g in insn.groups):
        return "simd"
    return None
