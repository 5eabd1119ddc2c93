"""Far RET and IRET in protected mode: to the same or an outer privilege level.

SDM vol 2 RET and IRET, vol 3A 5.8.6 and 6.14: the return code and stack
segment checks, the EFLAGS IRET loads at each CPL, the switch to the outer
stack and the data segment registers nulled that the new CPL may not use.
"""

from __future__ import annotations

from runtime.pc.cpustate import SEG_CS, SEG_DS, SEG_ES, SEG_FS, SEG_GS, SEG_SS, SegCache
from runtime.pc.delivery import Fault, Unsupported
from runtime.pc.x86 import (
    AC,
    AF,
    CF,
    DF,
    EFLAGS_FIXED1,
    ID,
    IF,
    IOPL_MASK,
    IOPL_SHIFT,
    NT,
    OF,
    PF,
    RF,
    SF,
    TF,
    VIF,
    VIP,
    VM,
    ZF,
    Descriptor,
    Vector,
)
from runtime.vmm.segments.descriptors import (
    FLAG_BIG,
    FLAG_CODE,
    FLAG_CONFORMING,
    Processor,
    fetch_or_gp,
    mark_accessed_on_transfer,
)
from runtime.vmm.segments.stack import Stack

#: EFLAGS bits IRET always loads, and those only a 32-bit IRET loads (SDM vol 2, IRET).
_IRET_ALWAYS = CF | PF | AF | ZF | SF | TF | DF | OF | NT
_IRET_32 = RF | AC | ID

_DATA_SEGS = (SEG_ES, SEG_FS, SEG_GS, SEG_DS)  # the order the SDM walks them on a return


def _return_code(p: Processor, cs_sel: int) -> tuple[int, Descriptor]:
    """The return code segment checks shared by RET and IRET (SDM vol 2; vol 3A 5.8.6).

    Null: #GP(0); outside its table, not code, RPL < CPL, conforming with
    DPL > RPL, nonconforming with DPL != RPL: #GP(sel); not present: #NP(sel).
    """
    err = cs_sel & 0xFFFC
    if err == 0:
        raise Fault(Vector.GP, 0)
    addr, code = fetch_or_gp(p, cs_sel)
    rpl = cs_sel & 3
    if not code.is_code or rpl < p.cpl:
        raise Fault(Vector.GP, err)
    if code.dpl > rpl if code.conforming else code.dpl != rpl:
        raise Fault(Vector.GP, err)
    if not code.present:
        raise Fault(Vector.NP, err)
    return addr, code


def _return_stack(p: Processor, ss_sel: int, rpl: int) -> tuple[int, Descriptor]:
    """The outer stack checks of RET and IRET (SDM vol 2, RETURN-TO-OUTER-PRIVILEGE-LEVEL).

    Null: #GP(0); outside its table, RPL != the return CS's RPL, not
    writable data, DPL != that RPL: #GP(sel); not present: #SS(sel).
    """
    err = ss_sel & 0xFFFC
    if err == 0:
        raise Fault(Vector.GP, 0)
    addr, desc = fetch_or_gp(p, ss_sel)
    if ss_sel & 3 != rpl or not desc.writable or desc.dpl != rpl:
        raise Fault(Vector.GP, err)
    if not desc.present:
        raise Fault(Vector.SS, err)
    return addr, desc


def _invalidate_data_segments(p: Processor) -> None:
    """Null ES, FS, GS and DS that the new CPL may not use (SDM vol 2 RET and IRET).

    A null selector, or a data or nonconforming code segment whose cached
    DPL is below the new CPL, becomes selector 0 with a null cache, as a
    load of a null selector leaves it (QEMU 5 does the same).
    """
    for index in _DATA_SEGS:
        c = p.segs[index]
        conforming_code = c.flags & FLAG_CODE and c.flags & FLAG_CONFORMING
        if c.selector & 0xFFFC == 0 or (not conforming_code and (c.flags >> 13) & 3 < p.cpl):
            p.segs[index] = SegCache(0, 0, 0, 0)


def _merge_sp(old_esp: int, new_esp: int, ss_flags: int) -> int:
    """ESP after loading ``new_esp`` for a stack of the given B flag (SP only when B = 0)."""
    if ss_flags & FLAG_BIG:
        return new_esp & 0xFFFFFFFF
    return (old_esp & 0xFFFF0000) | (new_esp & 0xFFFF)


def _to_outer_level(p: Processor, stack: Stack, size: int, cs_sel: int, caddr: int,
                    code: Descriptor, eip: int) -> tuple[int, SegCache]:
    """RETURN-TO-OUTER-PRIVILEGE-LEVEL, shared by RET and IRET (SDM vol 2).

    Pops ESP and SS (``size`` bytes each), checks the stack segment
    (:func:`_return_stack`) and then EIP against the code limit (#GP(0)); only
    then loads CPL (the return CS's RPL), CS:EIP and SS. Returns the popped
    ESP and the new SS cache: ESP, EFLAGS and the data segments are the
    caller's.
    """
    new_esp, ss_sel = stack.pop(2, size)
    ss_sel &= 0xFFFF
    rpl = cs_sel & 3
    saddr, sdesc = _return_stack(p, ss_sel, rpl)
    if eip > code.limit:
        raise Fault(Vector.GP, 0)
    code = mark_accessed_on_transfer(p, caddr, code)
    sdesc = mark_accessed_on_transfer(p, saddr, sdesc)
    new_ss = SegCache.from_descriptor(ss_sel, sdesc)
    p.cpl = rpl
    p.segs[SEG_CS] = SegCache.from_descriptor(cs_sel, code)
    p.segs[SEG_SS] = new_ss
    p.eip = eip
    return new_esp, new_ss


def far_ret(p: Processor, pop_bytes: int = 0, opsize: int = 32) -> None:
    """RET far (RETF, RETF imm16) in protected mode (SDM vol 2 RET; vol 3A 5.8.6).

    Pops EIP and CS (#SS(0) unless the top 8 (4 for ``opsize`` 16) bytes lie
    within the stack), checks the return code segment; to the same
    privilege it releases ``pop_bytes``. To an outer privilege (RPL > CPL)
    it needs 16 + ``pop_bytes`` bytes (#SS(0)), skips ``pop_bytes``, pops ESP
    and SS, checks the stack segment, loads CS:EIP and SS:ESP, releases
    ``pop_bytes`` from the new stack and nulls the data segment registers
    the new CPL may not use.
    """
    size = 2 if opsize == 16 else 4
    stack = Stack(p, p.segs[SEG_SS], p.esp, 0)
    stack.require(2 * size)
    eip, cs_sel = stack.pop(2, size)
    cs_sel &= 0xFFFF
    caddr, code = _return_code(p, cs_sel)
    rpl = cs_sel & 3
    if rpl == p.cpl:
        if eip > code.limit:
            raise Fault(Vector.GP, 0)
        stack.skip(pop_bytes)
        code = mark_accessed_on_transfer(p, caddr, code)
        p.segs[SEG_CS] = SegCache.from_descriptor(cs_sel, code)
        p.esp, p.eip = stack.esp, eip
        return
    Stack(p, p.segs[SEG_SS], p.esp, 0).require(4 * size + pop_bytes)
    stack.skip(pop_bytes)
    new_esp, new_ss = _to_outer_level(p, stack, size, cs_sel, caddr, code, eip)
    esp = _merge_sp(p.esp, new_esp, new_ss.flags)
    new_mask = 0xFFFFFFFF if new_ss.flags & FLAG_BIG else 0xFFFF
    p.esp = (esp & ~new_mask & 0xFFFFFFFF) | ((esp + pop_bytes) & new_mask)
    _invalidate_data_segments(p)


def _iret_eflags(old: int, popped: int, cpl: int, opsize: int) -> int:
    """EFLAGS after a protected-mode IRET (SDM vol 2 IRET, RETURN-TO-SAME/OUTER-PRIVILEGE-LEVEL).

    CF PF AF ZF SF TF DF OF NT always; RF AC ID for a 32-bit IRET; IF when
    CPL <= IOPL; IOPL only at CPL 0, and VIF VIP at CPL 0 for a 32-bit IRET.
    CPL and IOPL are the ones before the IRET. VM is never loaded here.
    """
    mask = _IRET_ALWAYS
    if opsize != 16:
        mask |= _IRET_32
    if cpl <= (old & IOPL_MASK) >> IOPL_SHIFT:
        mask |= IF
    if cpl == 0:
        mask |= IOPL_MASK
        if opsize != 16:
            mask |= VIF | VIP
    return (old & ~mask) | (popped & mask) | EFLAGS_FIXED1


def iret(p: Processor, opsize: int = 32) -> None:
    """IRET/IRETD in protected mode (SDM vol 2 IRET; vol 3A 6.14).

    NT = 1 (return from a nested task) and a popped VM = 1 at CPL 0 (return
    to virtual-8086 mode) raise :class:`Unsupported`. Otherwise pops EIP, CS
    and EFLAGS (#SS(0) unless the top 12 (6) bytes are within the stack),
    checks the return code segment as RET does; to an outer privilege pops
    ESP and SS (#SS(0) unless 8 (4) more bytes fit) and checks them, then
    nulls the data segment registers the new CPL may not use. EFLAGS are
    updated by :func:`_iret_eflags`.
    """
    if p.eflags & NT:
        raise Unsupported("iret with EFLAGS.NT = 1 (return from a nested task)")
    if p.eflags & VM:
        raise Unsupported("iret in virtual-8086 mode")
    size = 2 if opsize == 16 else 4
    stack = Stack(p, p.segs[SEG_SS], p.esp, 0)
    eip, cs_sel, popped = stack.pop(3, size)
    cs_sel &= 0xFFFF
    if size == 4 and popped & VM and p.cpl == 0:
        raise Unsupported("iret to virtual-8086 mode")
    caddr, code = _return_code(p, cs_sel)
    rpl = cs_sel & 3
    eflags = _iret_eflags(p.eflags, popped, p.cpl, opsize)
    if rpl == p.cpl:
        if eip > code.limit:
            raise Fault(Vector.GP, 0)
        code = mark_accessed_on_transfer(p, caddr, code)
        p.segs[SEG_CS] = SegCache.from_descriptor(cs_sel, code)
        p.esp, p.eip, p.eflags = stack.esp, eip, eflags
        return
    new_esp, new_ss = _to_outer_level(p, stack, size, cs_sel, caddr, code, eip)
    p.esp, p.eflags = _merge_sp(p.esp, new_esp, new_ss.flags), eflags
    _invalidate_data_segments(p)
