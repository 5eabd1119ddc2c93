"""Flags, interrupts and the rest: popf/pushf, int n, 16-bit near transfers, #UD, #DB, #NM.

popf/pushf as at the guest's CPL and IOPL (the virtual EFLAGS); int n, int3,
into and int1 through the guest's IDT; near jmp/call/ret with a 16-bit
operand size; undecodable bytes; instruction breakpoints of DR0-DR3; the
stores adaptive translation took over; floating point while the guest's
CR0.TS or EM is set.
"""

from __future__ import annotations

from capstone import x86_const as C
from unicorn import x86_const as X

from bt.rewrite import CalloutSite
from runtime.pc.delivery import Event, Fault
from runtime.pc.x86 import (
    AC,
    AF,
    CF,
    CR0_EM,
    CR0_MP,
    CR0_TS,
    DF,
    ID,
    IF,
    IOPL_MASK,
    NT,
    OF,
    PF,
    SF,
    TF,
    ZF,
    Vector,
)
from runtime.vmm.callouts.host import CalloutHost
from runtime.vmm.callouts.operands import MASK32, opsize, pop, push, read_operand, write_operand

# --- flags ---------------------------------------------------------------------------------
_POPF_MASK_CPL0 = CF | PF | AF | ZF | SF | TF | IF | DF | OF | IOPL_MASK | NT | AC | ID


def popf(mon: CalloutHost, co: CalloutSite) -> bool:
    """popf/popfd as at the guest's CPL (SDM vol 2, POPF; unicorn keeps RF, VM, VIF, VIP)."""
    insn = co.ginsn.insn  # type: ignore[union-attr]
    size = opsize(insn)
    value = pop(mon, size)
    v = mon.vcpu.v
    old = mon.vcpu.reg(X.UC_X86_REG_EFLAGS)
    mask = _POPF_MASK_CPL0
    if v.cpl > 0:
        mask &= ~IOPL_MASK
        if v.cpl > v.iopl:
            mask &= ~IF
    if size == 2:
        mask &= 0xFFFF
    mon.vcpu.set_reg(X.UC_X86_REG_EFLAGS, (old & ~mask) | (value & mask) | 2)
    return False


def pushf(mon: CalloutHost, co: CalloutSite) -> bool:
    insn = co.ginsn.insn  # type: ignore[union-attr]
    value = mon.vcpu.reg(X.UC_X86_REG_EFLAGS) & ~0x30000  # the image has VM and RF clear
    push(mon, value, opsize(insn))
    return False



# --- interrupts and the rest ----------------------------------------------------------------
def software_interrupt(mon: CalloutHost, co: CalloutSite) -> bool:
    """int n, int3, into (only with OF=1): through the guest's IDT. int1 (icebp, 0xf1)
    raises #UD, as the bare machine's processor does (unicorn 2.1.4, and qemu's TCG, which
    decodes 0xf1 only when built with WANT_ICEBP), where the SDM makes it a #DB trap: the
    monitor equals the hardware it runs on (corpus/regressions/icebp_ud)."""
    insn = co.ginsn.insn  # type: ignore[union-attr]
    if insn.id == C.X86_INS_INT1:
        raise Fault(Vector.UD)
    if insn.id == C.X86_INS_INTO and not mon.cpu.reg(X.UC_X86_REG_EFLAGS) & OF:
        return False
    vector = {C.X86_INS_INT3: 3, C.X86_INS_INTO: 4}.get(insn.id)
    if vector is None:
        vector = insn.operands[0].imm & 0xFF
    mon.stats.software_ints[vector] = mon.stats.software_ints.get(vector, 0) + 1
    event = Event(vector, co.next_eip, None, co.guest_eip, software=True)
    mon.deliver(event)
    return True


def near16(mon: CalloutHost, co: CalloutSite) -> bool:
    """Near jmp/call/ret with a 16-bit operand size (66 prefix): EIP is truncated to 16 bits
    (SDM vol 2, JMP/CALL/RET). Rare in 32-bit kernels: emulated, not translated inline."""
    insn = co.ginsn.insn  # type: ignore[union-attr]
    name = co.handler
    if name == "ret":
        target = pop(mon, 2)
        if insn.operands:
            mon.cpu.set_reg(X.UC_X86_REG_ESP, (mon.cpu.reg(X.UC_X86_REG_ESP)
                                               + (insn.operands[0].imm & 0xFFFF)) & MASK32)
    elif insn.operands[0].type == C.X86_OP_IMM:
        target = insn.operands[0].imm & 0xFFFF
    else:
        target = read_operand(mon, insn, 0, 2) & 0xFFFF
    if name.startswith("call"):
        push(mon, co.next_eip & 0xFFFF, 2)
    mon.enter_kernel(target & 0xFFFF)
    return True


def undefined(mon: CalloutHost, co: CalloutSite) -> bool:
    """Bytes capstone cannot decode: #UD, or #GP(0) for an instruction longer than 15 bytes
    (SDM vol 2A, 2.3.11), which capstone cannot decode either."""
    from bt.encode import PREFIXES

    try:
        code = mon.read_code(co.guest_eip, 15)
    except Exception:  # noqa: BLE001 - unreadable tail: the #UD stands
        code = b""
    if len(code) == 15 and all(b in PREFIXES for b in code):
        raise Fault(Vector.GP, 0)
    raise Fault(Vector.UD)


def breakpoint(mon: CalloutHost, co: CalloutSite) -> bool:
    """An enabled DR0-DR3 instruction breakpoint at the next guest instruction: #DB (a fault,
    EIP at the instruction), unless EFLAGS.RF suppresses it. Unicorn never clears RF after
    the instruction (a defect, see README); the monitor behaves as the native run does."""
    if mon.cpu.reg(X.UC_X86_REG_EFLAGS) & (1 << 16):
        return False
    linear = (mon.vcpu.v.cs.base + co.guest_eip) & MASK32
    v = mon.vcpu.v
    hits = sum(1 << i for i in range(4) if v.dr[i] & MASK32 == linear)
    dr6 = (mon.uc.reg_read(X.UC_X86_REG_DR6) & ~0xF) | hits
    mon.uc.reg_write(X.UC_X86_REG_DR6, dr6)
    raise Fault(Vector.DB)


def debugger_breakpoint(mon: CalloutHost, co: CalloutSite) -> bool:
    """A debugger's software breakpoint (gdb ``Z0``) in front of a guest instruction: stop
    the processor at the callout itself, so that the guest EIP recovered there is the
    instruction's; resumed, the same callout passes once (:mod:`runtime.debug.target`)."""
    debugger = getattr(mon, "debugger", None)
    if debugger is None or debugger.target is None:
        return False
    linear = (mon.vcpu.v.cs.base + co.guest_eip) & MASK32
    if not debugger.target.should_stop_at(linear):
        return False
    mon.cpu.set_reg(X.UC_X86_REG_EIP, mon.cpu.reg(X.UC_X86_REG_EIP) - 2)
    mon.uc.emu_stop()
    return True


def adapted_store(mon: CalloutHost, co: CalloutSite) -> bool:
    """A store adaptive translation took over (it kept faulting on a guest page table):
    write through the guest's view; the monitor's write path drops the shadow entries
    built from that page, which stays traced (no fault, no untrace)."""
    insn = co.ginsn.insn  # type: ignore[union-attr]
    size = insn.operands[0].size
    write_operand(mon, insn, 0, read_operand(mon, insn, 1, size), size)
    return False


def fpu(mon: CalloutHost, co: CalloutSite) -> bool:
    """A floating-point instruction while the guest's CR0.TS or EM is set (SDM vol 3A,
    table 2-2): x87 -> #NM; wait -> #NM only with TS and MP; MMX/SSE -> #UD with EM,
    else #NM."""
    from bt.classify import fpu_class

    cr0 = mon.vcpu.v.cr[0]
    kind = fpu_class(co.ginsn.insn)  # type: ignore[union-attr]
    if kind == "wait":
        if cr0 & CR0_TS and cr0 & CR0_MP:
            raise Fault(Vector.NM)
        return False
    if kind == "simd" and cr0 & CR0_EM:
        raise Fault(Vector.UD)
    raise Fault(Vector.NM)

