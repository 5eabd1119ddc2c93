"""Loading data and stack segment registers, and the selector probes LAR, LSL, VERR, VERW.

MOV/POP/LDS.. to DS, ES, FS, GS or SS (SDM vol 2 MOV and POP) and the
instructions that test a selector without loading it (SDM vol 2 LAR, LSL,
VERR/VERW): neither changes CPL or CS.
"""

from __future__ import annotations

from runtime.pc.cpustate import SEG_DS, SEG_ES, SEG_FS, SEG_GS, SEG_SS, SegCache
from runtime.pc.delivery import Fault
from runtime.pc.x86 import CALL_GATE_TYPES, SYS_LDT, SYS_TASK_GATE, TSS_TYPES, Descriptor, Vector
from runtime.vmm.segments.descriptors import Processor, fetch, fetch_or_gp, mark_accessed, readable

#: LAR returns the descriptor's high dword masked thus (SDM vol 2, LAR: 00FxFF00H, x = 0).
LAR_MASK = 0x00F0FF00

#: System types LAR and LSL accept (SDM vol 2, LAR and LSL, "valid for instruction" tables).
_LSL_SYSTEM = TSS_TYPES | {SYS_LDT}
_LAR_SYSTEM = _LSL_SYSTEM | CALL_GATE_TYPES | {SYS_TASK_GATE}


def load_segment(p: Processor, index: int, selector: int) -> None:
    """Load DS, ES, FS, GS or SS in protected mode (SDM vol 2, MOV and POP "Operation").

    A null selector loads a null (unusable) cache into DS/ES/FS/GS, keeping
    the selector's RPL, and is #GP(0) for SS. Otherwise, for SS: #GP(sel)
    unless RPL = CPL, the segment is writable data and DPL = CPL; #SS(sel)
    if not present. For the others: #GP(sel) unless the segment is data or
    readable code, and (data or nonconforming code) RPL <= DPL and CPL <= DPL;
    #NP(sel) if not present. The descriptor's accessed bit is set.
    """
    if index not in (SEG_ES, SEG_SS, SEG_DS, SEG_FS, SEG_GS):
        raise ValueError(f"load_segment: segment register index {index} is not ES/SS/DS/FS/GS")
    selector &= 0xFFFF
    err = selector & 0xFFFC
    if err == 0:
        if index == SEG_SS:
            raise Fault(Vector.GP, 0)
        p.segs[index] = SegCache(selector, 0, 0, 0)
        return
    addr, desc = fetch_or_gp(p, selector)
    rpl, dpl, cpl = selector & 3, desc.dpl, p.cpl
    if index == SEG_SS:
        if rpl != cpl or not desc.writable or dpl != cpl:
            raise Fault(Vector.GP, err)
        if not desc.present:
            raise Fault(Vector.SS, err)
    else:
        if not readable(desc):
            raise Fault(Vector.GP, err)
        if not desc.conforming and (rpl > dpl or cpl > dpl):
            raise Fault(Vector.GP, err)
        if not desc.present:
            raise Fault(Vector.NP, err)
    desc = mark_accessed(p, addr, desc)
    p.segs[index] = SegCache.from_descriptor(selector, desc)


def _visible(p: Processor, selector: int, system_types: frozenset[int]) -> Descriptor | None:
    """The descriptor when the instruction may see it, else None (ZF = 0).

    SDM vol 2 LAR/LSL/VERR: a null selector or one outside its table fails;
    system descriptors only of ``system_types``; except for conforming code
    segments, DPL must be >= CPL and >= RPL. Presence is not checked.
    """
    selector &= 0xFFFF
    if selector & 0xFFFC == 0:
        return None
    found = fetch(p, selector)
    if found is None:
        return None
    desc = found[1]
    if desc.system:
        if desc.type not in system_types:
            return None
    elif desc.conforming:
        return desc
    if p.cpl > desc.dpl or selector & 3 > desc.dpl:
        return None
    return desc


def lar(p: Processor, selector: int) -> int | None:
    """LAR: the access rights (high dword & :data:`LAR_MASK`), or None for ZF = 0.

    A 16-bit LAR keeps the low word (``& 0xFF00``). Valid system types:
    TSS (16/32, available or busy), LDT, call gates and task gates.
    """
    desc = _visible(p, selector, _LAR_SYSTEM)
    return None if desc is None else desc.high & LAR_MASK


def lsl(p: Processor, selector: int) -> int | None:
    """LSL: the byte-granular segment limit, or None for ZF = 0.

    Valid system types: TSS (16/32, available or busy) and LDT; no gates.
    A 16-bit LSL keeps the low word.
    """
    desc = _visible(p, selector, _LSL_SYSTEM)
    return None if desc is None else desc.limit


def verr(p: Processor, selector: int) -> bool:
    """VERR: True (ZF = 1) when the segment is readable at CPL with this RPL (SDM vol 2 VERR)."""
    desc = _visible(p, selector, frozenset())
    return desc is not None and readable(desc)


def verw(p: Processor, selector: int) -> bool:
    """VERW: True (ZF = 1) when the segment is a writable data segment visible at CPL and RPL."""
    desc = _visible(p, selector, frozenset())
    return desc is not None and desc.writable
