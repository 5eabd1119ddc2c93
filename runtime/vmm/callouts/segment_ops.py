"""Segment loads and far transfers, emulated through :mod:`runtime.vmm.segments`.

mov/pop to a segment register, lds/les/lfs/lgs/lss, far jmp/call/ret, iret
and the descriptor checks lar/lsl/verr/verw: the guest's virtual state is
copied into a :class:`runtime.vmm.segments.descriptors.Processor`, the SDM's pseudo-code
runs on it, and what changed is committed to the virtual CPU.
"""

from __future__ import annotations

from collections.abc import Callable

from capstone import CsInsn
from capstone import x86_const as C
from unicorn import x86_const as X

from bt.rewrite import CalloutSite
from runtime.pc.cpustate import SEG_CS, SEG_DS, SEG_ES, SEG_FS, SEG_GS, SEG_SS, SegCache
from runtime.pc.delivery import Fault
from runtime.pc.x86 import ZF, Vector
from runtime.vmm.callouts.host import CalloutHost, Handler
from runtime.vmm.callouts.operands import (
    MASK32,
    SEG_INDEX,
    effective_address,
    opsize,
    read_operand,
    stack,
    write_operand,
    write_reg,
)
from runtime.vmm.segments import loads, returns, transfers
from runtime.vmm.segments.descriptors import Processor


def _processor(mon: CalloutHost, next_eip: int) -> Processor:
    mon.cpu.load()
    return Processor(
        cpl=mon.vcpu.v.cpl, segs=[mon.vcpu.seg(i) for i in range(10)],
        eflags=mon.vcpu.reg(X.UC_X86_REG_EFLAGS), esp=mon.cpu.reg(X.UC_X86_REG_ESP),
        eip=next_eip, read=mon.mem.read, write=mon.mem.write)


def _commit(mon: CalloutHost, p: Processor, before: list[SegCache], cpl: int,
            transfer: bool, hold_interrupts: bool = False) -> None:
    """Apply an operation's result to the virtual CPU (the blob is loaded)."""
    vcpu = mon.vcpu
    for i in (SEG_ES, SEG_DS, SEG_FS, SEG_GS):
        if p.segs[i] != before[i]:
            vcpu.set_seg(i, p.segs[i])
    if transfer or p.segs[SEG_SS] != before[SEG_SS] or p.cpl != cpl:
        vcpu.load_code_and_stack(p.segs[SEG_CS], p.segs[SEG_SS], p.cpl)
    if hold_interrupts:  # mov ss / pop ss (SDM vol 3A, 6.8.3)
        mon.cpu.hold_interrupts()
    mon.cpu.store()
    mon.cpu.set_reg(X.UC_X86_REG_ESP, p.esp)
    vcpu.set_reg(X.UC_X86_REG_EFLAGS, p.eflags)


def _transfer(mon: CalloutHost, co: CalloutSite, op: Callable[[Processor], None]) -> bool:
    p = _processor(mon, co.next_eip)
    before, cpl = list(p.segs), p.cpl
    op(p)
    _commit(mon, p, before, cpl, transfer=True)
    mon.vcpu.pending_eip = p.eip
    mon.enter_guest()
    return True


def _far_pointer(mon: CalloutHost, insn: CsInsn) -> tuple[int, int]:
    """(selector, offset) of a far jmp/call: ptr16:32 immediate or m16:32."""
    ops = insn.operands
    if len(ops) == 2 and ops[0].type == C.X86_OP_IMM:
        return ops[0].imm & 0xFFFF, ops[1].imm & MASK32
    size = opsize(insn)
    raw = mon.mem.read(effective_address(mon, insn, ops[0]), size + 2)
    offset = int.from_bytes(raw[:size], "little")
    return int.from_bytes(raw[size:], "little"), offset


def far_jmp(mon: CalloutHost, co: CalloutSite) -> bool:
    sel, off = _far_pointer(mon, co.ginsn.insn)  # type: ignore[union-attr]
    return _transfer(mon, co, lambda p: transfers.far_jmp(p, sel, off))


def far_call(mon: CalloutHost, co: CalloutSite) -> bool:
    insn = co.ginsn.insn  # type: ignore[union-attr]
    sel, off = _far_pointer(mon, insn)
    return _transfer(mon, co, lambda p: transfers.far_call(p, sel, off, opsize(insn) * 8))


def far_ret(mon: CalloutHost, co: CalloutSite) -> bool:
    insn = co.ginsn.insn  # type: ignore[union-attr]
    n = insn.operands[0].imm if insn.operands else 0
    return _transfer(mon, co, lambda p: returns.far_ret(p, n, opsize(insn) * 8))


def iret(mon: CalloutHost, co: CalloutSite) -> bool:
    insn = co.ginsn.insn  # type: ignore[union-attr]
    return _transfer(mon, co, lambda p: returns.iret(p, opsize(insn) * 8))


def load_sreg(mon: CalloutHost, co: CalloutSite) -> bool:
    """mov sreg, r/m16 and pop sreg."""
    insn = co.ginsn.insn  # type: ignore[union-attr]
    is_pop = insn.id == C.X86_INS_POP
    seg = SEG_INDEX[insn.operands[0].reg]
    if seg == SEG_CS:
        raise Fault(Vector.UD)  # mov cs / pop cs do not exist
    size = opsize(insn)
    if is_pop:
        base, esp = stack(mon)
        selector = int.from_bytes(mon.mem.read((base + esp) & MASK32, size), "little") & 0xFFFF
    else:
        selector = read_operand(mon, insn, 1, 2) & 0xFFFF
    p = _processor(mon, co.next_eip)
    before, cpl = list(p.segs), p.cpl
    loads.load_segment(p, seg, selector)
    if is_pop:
        p.esp = (p.esp + size) & MASK32
    _commit(mon, p, before, cpl, transfer=False, hold_interrupts=seg == SEG_SS)
    return False


def load_far_pointer(mon: CalloutHost, co: CalloutSite) -> bool:
    """lds/les/lfs/lgs/lss r, m16:32."""
    insn = co.ginsn.insn  # type: ignore[union-attr]
    seg = {C.X86_INS_LDS: SEG_DS, C.X86_INS_LES: SEG_ES, C.X86_INS_LFS: SEG_FS,
           C.X86_INS_LGS: SEG_GS, C.X86_INS_LSS: SEG_SS}[insn.id]
    size = opsize(insn)
    raw = mon.mem.read(effective_address(mon, insn, insn.operands[1]), size + 2)
    offset = int.from_bytes(raw[:size], "little")
    selector = int.from_bytes(raw[size:], "little")
    p = _processor(mon, co.next_eip)
    before, cpl = list(p.segs), p.cpl
    loads.load_segment(p, seg, selector)
    _commit(mon, p, before, cpl, transfer=False)
    write_reg(mon, insn, insn.operands[0].reg, offset)
    return False


def descriptor_check(kind: str) -> Handler:
    def handler(mon: CalloutHost, co: CalloutSite) -> bool:
        insn = co.ginsn.insn  # type: ignore[union-attr]
        sel_op = 0 if kind in ("verr", "verw") else 1
        selector = read_operand(mon, insn, sel_op, 2) & 0xFFFF
        p = _processor(mon, co.next_eip)
        result = getattr(loads, kind)(p, selector)
        ok = result is not None and result is not False
        eflags = mon.cpu.reg(X.UC_X86_REG_EFLAGS)
        mon.cpu.set_reg(X.UC_X86_REG_EFLAGS, (eflags | ZF) if ok else (eflags & ~ZF))
        if ok and kind in ("lar", "lsl"):
            write_operand(mon, insn, 0, int(result))
        return False
    return handler
