"""Instruction encodings the rewriter builds around a guest's own operands.

Templates (:mod:`bt.templates`) cover fixed sequences. A few rewrites need
an instruction around the guest's memory operand (``call [ebx+8]`` becomes
``mov ecx, [ebx+8]``; ``sgdt [eax]`` stores through ``[eax]`` and
``[eax+2]``): this module encodes ModRM/SIB forms from capstone's operand
detail (SDM vol 2A, 2.1.5, tables 2-2 and 2-3). Always the disp32 forms:
one encoding per operand, no special cases for short displacements.
"""

from __future__ import annotations

import struct

from capstone import CsInsn
from capstone import x86_const as C

#: capstone register id -> x86 register number (the ModRM encoding)
REG32 = {C.X86_REG_EAX: 0, C.X86_REG_ECX: 1, C.X86_REG_EDX: 2, C.X86_REG_EBX: 3,
         C.X86_REG_ESP: 4, C.X86_REG_EBP: 5, C.X86_REG_ESI: 6, C.X86_REG_EDI: 7}
REG16 = {C.X86_REG_AX: 0, C.X86_REG_CX: 1, C.X86_REG_DX: 2, C.X86_REG_BX: 3,
         C.X86_REG_SP: 4, C.X86_REG_BP: 5, C.X86_REG_SI: 6, C.X86_REG_DI: 7}
SEG_PREFIX = {C.X86_REG_ES: 0x26, C.X86_REG_CS: 0x2E, C.X86_REG_SS: 0x36, C.X86_REG_DS: 0x3E,
              C.X86_REG_FS: 0x64, C.X86_REG_GS: 0x65}
PREFIXES = frozenset({0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3})
ECX = 1


class EncodeError(ValueError):
    """A guest operand form the rewriter does not handle (16-bit addressing, ...)."""


def split_prefixes(code: bytes) -> tuple[bytes, bytes]:
    """(legacy prefixes, the rest) of an instruction's bytes."""
    i = 0
    while i < len(code) and code[i] in PREFIXES:
        i += 1
    return code[:i], code[i:]


def mem_operand(insn: CsInsn, index: int = 0) -> C.X86Op:  # type: ignore[name-defined]
    op = insn.operands[index]
    if op.type != C.X86_OP_MEM:
        raise EncodeError(f"{insn.mnemonic} {insn.op_str}: operand {index} is not in memory")
    if insn.addr_size != 4:
        raise EncodeError(f"{insn.mnemonic} {insn.op_str}: 16-bit addressing")
    return op


def modrm_mem(reg_field: int, op: object, disp_delta: int = 0) -> bytes:
    """Segment prefix + ModRM (+ SIB) + disp32 for memory operand ``op`` with ``reg_field``."""
    mem = op.mem  # type: ignore[attr-defined]
    prefix = bytes([SEG_PREFIX[mem.segment]]) if mem.segment in SEG_PREFIX else b""
    disp = struct.pack("<I", (mem.disp + disp_delta) & 0xFFFFFFFF)
    base = REG32.get(mem.base) if mem.base else None
    index = REG32.get(mem.index) if mem.index else None
    if (mem.base and base is None) or (mem.index and index is None):
        raise EncodeError("memory operand with a non-32-bit base or index")
    scale = {1: 0, 2: 1, 4: 2, 8: 3}[mem.scale or 1]
    if index is None and base is None:
        return prefix + bytes([(reg_field << 3) | 5]) + disp
    if index is None and base != 4:
        return prefix + bytes([0x80 | (reg_field << 3) | base]) + disp  # type: ignore[operator]
    sib_index = 4 if index is None else index
    if base is None:
        return prefix + bytes([(reg_field << 3) | 4, (scale << 6) | (sib_index << 3) | 5]) + disp
    return prefix + bytes([0x80 | (reg_field << 3) | 4, (scale << 6) | (sib_index << 3) | base]) + disp


def registers_used(op: object) -> set[int]:
    """x86 numbers of the registers a memory operand reads."""
    mem = op.mem  # type: ignore[attr-defined]
    return {REG32[r] for r in (mem.base, mem.index) if r in REG32}


def scratch_for(op: object) -> int:
    """A general register the operand does not use (never esp)."""
    used = registers_used(op)
    return next(r for r in (0, 1, 2, 3, 6, 7) if r not in used)


def load_ecx_from_operand(insn: CsInsn) -> bytes:
    """``mov ecx, <operand of the indirect jmp/call>``: the guest's own ModRM, reg field ecx.

    ``ff /2`` (call r/m32) and ``ff /4`` (jmp r/m32) share the ModRM layout of
    ``8b /r`` (mov r32, r/m32), so only the opcode and the reg field change.
    """
    prefixes, rest = split_prefixes(bytes(insn.bytes))
    if 0x66 in prefixes or 0x67 in prefixes:
        raise EncodeError(f"{insn.mnemonic} {insn.op_str}: 16-bit operand or address size")
    if rest[0] != 0xFF:
        raise EncodeError(f"{insn.mnemonic} {insn.op_str}: not an ff-group indirect branch")
    modrm = (rest[1] & 0xC7) | (ECX << 3)
    return prefixes + b"\x8b" + bytes([modrm]) + rest[2:]


def mov_reg_reg(dst: int, src: int) -> bytes:
    return bytes([0x8B, 0xC0 | (dst << 3) | src])


def mov_mem_reg32(reg: int, op: object, disp_delta: int = 0) -> bytes:
    enc = modrm_mem(reg, op, disp_delta)
    pre, body = (enc[:1], enc[1:]) if enc[0] in PREFIXES else (b"", enc)
    return pre + b"\x89" + body


def mov_mem_reg16(reg: int, op: object, disp_delta: int = 0) -> bytes:
    enc = modrm_mem(reg, op, disp_delta)
    pre, body = (enc[:1], enc[1:]) if enc[0] in PREFIXES else (b"", enc)
    return pre + b"\x66\x89" + body


def movd_xmm7_from(reg: int) -> bytes:
    """movd xmm7, r32 (66 0f 6e /r)."""
    return bytes([0x66, 0x0F, 0x6E, 0xC0 | (7 << 3) | reg])


def movd_to_from_xmm7(reg: int) -> bytes:
    """movd r32, xmm7 (66 0f 7e /r)."""
    return bytes([0x66, 0x0F, 0x7E, 0xC0 | (7 << 3) | reg])


def jmp_rel32(at: int, target: int) -> bytes:
    return b"\xe9" + struct.pack("<I", (target - (at + 5)) & 0xFFFFFFFF)


def jcc_rel32(cc: int, at: int, target: int) -> bytes:
    return bytes([0x0F, 0x80 | cc]) + struct.pack("<I", (target - (at + 6)) & 0xFFFFFFFF)


def condition_code(insn: CsInsn) -> int:
    """The 4-bit condition of a jcc (short 7x or near 0f 8x form)."""
    _, rest = split_prefixes(bytes(insn.bytes))
    if 0x70 <= rest[0] <= 0x7F:
        return rest[0] & 0xF
    if rest[0] == 0x0F and 0x80 <= rest[1] <= 0x8F:
        return rest[1] & 0xF
    raise EncodeError(f"{insn.mnemonic}: not a jcc")
