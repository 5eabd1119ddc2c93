"""Operands of an emulated instruction: registers, memory through the guest's view, the stack.

Memory operands are linear addresses from the virtual CPU's segment bases
(32-bit addressing only: 16-bit addressing in kernel code raises #UD), read
and written through the guest's page tables as supervisor accesses.
"""

from __future__ import annotations

from functools import cache

from capstone import CsInsn
from capstone import x86_const as C
from unicorn import x86_const as X

from runtime.pc.cpustate import SEG_CS, SEG_DS, SEG_ES, SEG_FS, SEG_GS, SEG_SS
from runtime.pc.delivery import Fault
from runtime.pc.x86 import Vector
from runtime.vmm.callouts.host import CalloutHost

MASK32 = 0xFFFFFFFF

#: capstone's segment registers -> the machine's segment indexes
SEG_INDEX = {C.X86_REG_ES: SEG_ES, C.X86_REG_CS: SEG_CS, C.X86_REG_SS: SEG_SS,
             C.X86_REG_DS: SEG_DS, C.X86_REG_FS: SEG_FS, C.X86_REG_GS: SEG_GS}


@cache
def uc_reg(name: str) -> int:
    return getattr(X, f"UC_X86_REG_{name.upper()}")


def read_reg(mon: CalloutHost, insn: CsInsn, reg: int) -> int:
    return mon.uc.reg_read(uc_reg(insn.reg_name(reg)))


def write_reg(mon: CalloutHost, insn: CsInsn, reg: int, value: int) -> None:
    name = insn.reg_name(reg)
    size = 4 if name.startswith("e") else (1 if name.endswith(("l", "h")) else 2)
    mon.uc.reg_write(uc_reg(name), value & ((1 << (8 * size)) - 1))


def effective_address(mon: CalloutHost, insn: CsInsn, op: object) -> int:
    """Linear address of memory operand ``op`` (segment base from the virtual CPU)."""
    mem = op.mem  # type: ignore[attr-defined]
    if insn.addr_size != 4:
        raise Fault(Vector.UD)  # 16-bit addressing in kernel code: not supported
    offset = mem.disp
    if mem.base:
        offset += read_reg(mon, insn, mem.base)
    if mem.index:
        offset += read_reg(mon, insn, mem.index) * (mem.scale or 1)
    seg = mem.segment or (C.X86_REG_SS if mem.base in (C.X86_REG_ESP, C.X86_REG_EBP)
                          else C.X86_REG_DS)
    return (mon.vcpu.seg(SEG_INDEX[seg]).base + (offset & MASK32)) & MASK32


def read_operand(mon: CalloutHost, insn: CsInsn, index: int, size: int | None = None) -> int:
    op = insn.operands[index]
    if op.type == C.X86_OP_REG:
        return read_reg(mon, insn, op.reg)
    if op.type == C.X86_OP_IMM:
        return op.imm & MASK32
    n = size or op.size
    raw = mon.mem.read(effective_address(mon, insn, op), n)
    return int.from_bytes(raw, "little")


def write_operand(mon: CalloutHost, insn: CsInsn, index: int, value: int, size: int | None = None) -> None:
    op = insn.operands[index]
    if op.type == C.X86_OP_REG:
        write_reg(mon, insn, op.reg, value)
        return
    n = size or op.size
    mon.mem.write(effective_address(mon, insn, op), (value & ((1 << (8 * n)) - 1)).to_bytes(n, "little"))


def stack(mon: CalloutHost) -> tuple[int, int]:
    """(SS base, ESP)."""
    return mon.vcpu.seg(SEG_SS).base, mon.cpu.reg(X.UC_X86_REG_ESP)


def push(mon: CalloutHost, value: int, size: int = 4) -> None:
    base, esp = stack(mon)
    esp = (esp - size) & MASK32
    mon.mem.write((base + esp) & MASK32, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))
    mon.cpu.set_reg(X.UC_X86_REG_ESP, esp)


def pop(mon: CalloutHost, size: int = 4) -> int:
    base, esp = stack(mon)
    value = int.from_bytes(mon.mem.read((base + esp) & MASK32, size), "little")
    mon.cpu.set_reg(X.UC_X86_REG_ESP, (esp + size) & MASK32)
    return value


def opsize(insn: CsInsn) -> int:
    return 2 if insn.prefix[2] == 0x66 else 4
