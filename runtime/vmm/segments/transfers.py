"""Far JMP and far CALL: direct to code, through call gates, and the task targets.

SDM vol 2 JMP and CALL, vol 3A 5.8.1-5.8.6: a direct transfer to a
conforming or nonconforming code segment, a call gate (with a stack switch
to an inner ring, the new stack read from the TSS, vol 3A 7.2.1), and the
checks before a task switch (task gate or TSS), which then raises
:class:`~runtime.pc.delivery.Unsupported`.
"""

from __future__ import annotations

import struct

from runtime.pc.cpustate import SEG_CS, SEG_SS, SEG_TR, SegCache
from runtime.pc.delivery import Fault, Unsupported
from runtime.pc.x86 import (
    CALL_GATE_TYPES,
    SYS_CALL_GATE32,
    SYS_TASK_GATE,
    TSS16_TYPES,
    TSS_AVAIL_TYPES,
    TSS_TYPES,
    Descriptor,
    Vector,
    tss32_stack_offset,
)
from runtime.vmm.segments.descriptors import (
    FLAG_BIG,
    Processor,
    fetch,
    fetch_or_gp,
    mark_accessed_on_transfer,
    read_linear,
)
from runtime.vmm.segments.stack import Stack


def _inner_stack(p: Processor, ring: int) -> tuple[int, int]:
    """SSn and ESPn for ``ring`` from the current TSS (SDM vol 2 CALL, MORE-PRIVILEGE; vol 3A 7.2.1).

    #TS(TR selector) when the 8-byte ESPn/SSn slot of a 32-bit TSS, or the
    4-byte SPn/SSn slot at 2 + 4n of a 16-bit TSS, is not within the TSS
    limit ("TSSstackAddress + 7 > TSS limit"; the same test as QEMU's and
    runtime.pc.delivery's).
    """
    tr = p.segs[SEG_TR]
    if (tr.flags >> 8) & 0xF in TSS16_TYPES:
        off = 2 + 4 * ring
        if off + 3 > tr.limit:
            raise Fault(Vector.TS, tr.selector & 0xFFFC)
        sp, ss = struct.unpack("<HH", read_linear(p, tr.base + off, 4))
        return ss, sp
    off = tss32_stack_offset(ring)
    if off + 7 > tr.limit:
        raise Fault(Vector.TS, tr.selector & 0xFFFC)
    esp, ss = struct.unpack("<II", read_linear(p, tr.base + off, 8))
    return ss & 0xFFFF, esp


def _check_direct_code(desc: Descriptor, selector: int, cpl: int) -> None:
    """CONFORMING-/NONCONFORMING-CODE-SEGMENT of JMP and CALL (SDM vol 2; vol 3A 5.8.1)."""
    if desc.conforming:
        if desc.dpl > cpl:
            raise Fault(Vector.GP, selector & 0xFFFC)
    elif selector & 3 > cpl or desc.dpl != cpl:
        raise Fault(Vector.GP, selector & 0xFFFC)
    if not desc.present:
        raise Fault(Vector.NP, selector & 0xFFFC)


def _gate_target(p: Processor, gate: Descriptor, selector: int) -> tuple[int, int, Descriptor]:
    """The checks a call gate and its code segment share for JMP and CALL (SDM vol 3A 5.8.4).

    Gate DPL >= CPL and >= RPL (#GP(gate)), gate present (#NP(gate)), code
    selector not null (#GP(0)) and within its table (#GP(code)), the target
    a code segment. Returns (code selector, descriptor address, descriptor).
    """
    if gate.dpl < p.cpl or gate.dpl < selector & 3:
        raise Fault(Vector.GP, selector & 0xFFFC)
    if not gate.present:
        raise Fault(Vector.NP, selector & 0xFFFC)
    code_sel = gate.gate_selector
    if code_sel & 0xFFFC == 0:
        raise Fault(Vector.GP, 0)
    addr, code = fetch_or_gp(p, code_sel)
    if not code.is_code:
        raise Fault(Vector.GP, code_sel & 0xFFFC)
    return code_sel, addr, code


def _task_target(p: Processor, desc: Descriptor, selector: int, kind: str) -> None:
    """TASK-GATE and TASK-STATE-SEGMENT of JMP/CALL: the checks, then :class:`Unsupported`.

    SDM vol 2 JMP/CALL and vol 3A 7.3: DPL >= CPL and >= RPL and an available
    TSS (#GP), present (#NP); a task gate must name an available TSS in the
    GDT (#GP(TSS selector)), present (#NP(TSS selector)).
    """
    err = selector & 0xFFFC
    if desc.type == SYS_TASK_GATE:
        if desc.dpl < p.cpl or desc.dpl < selector & 3:
            raise Fault(Vector.GP, err)
        if not desc.present:
            raise Fault(Vector.NP, err)
        tss_sel = desc.gate_selector
        found = None if tss_sel & 4 else fetch(p, tss_sel)
        if found is None or not found[1].system or found[1].type not in TSS_AVAIL_TYPES:
            raise Fault(Vector.GP, tss_sel & 0xFFFC)
        if not found[1].present:
            raise Fault(Vector.NP, tss_sel & 0xFFFC)
        raise Unsupported(f"far {kind} through task gate {selector:#06x} (task switch)")
    if desc.dpl < p.cpl or desc.dpl < selector & 3 or desc.type not in TSS_AVAIL_TYPES:
        raise Fault(Vector.GP, err)
    if not desc.present:
        raise Fault(Vector.NP, err)
    raise Unsupported(f"far {kind} to TSS {selector:#06x} (task switch)")


def _is_task_target(desc: Descriptor) -> bool:
    return desc.system and (desc.type == SYS_TASK_GATE or desc.type in TSS_TYPES)


def _far_target(p: Processor, selector: int) -> tuple[int, Descriptor]:
    """The descriptor a far JMP or CALL names: #GP(0) for a null selector, #GP(selector)
    outside its table (SDM vol 2 JMP and CALL). Returns its address and the descriptor."""
    if selector & 0xFFFC == 0:
        raise Fault(Vector.GP, 0)
    return fetch_or_gp(p, selector)


def far_jmp(p: Processor, selector: int, offset: int, opsize: int = 32) -> None:
    """JMP ptr16:32 / m16:32 in protected mode (SDM vol 2 JMP; vol 3A 5.8.1-5.8.4).

    To a code segment: conforming needs DPL <= CPL, nonconforming RPL <= CPL
    and DPL = CPL; CS.RPL becomes CPL. Through a call gate: the gate's DPL
    >= CPL and >= RPL, the code segment's DPL <= CPL if conforming or = CPL
    otherwise (JMP never changes privilege); the offset comes from the gate.
    ``opsize`` 16 truncates a direct offset to 16 bits.
    """
    selector &= 0xFFFF
    err = selector & 0xFFFC
    addr, desc = _far_target(p, selector)
    cpl = p.cpl
    if desc.is_code:
        _check_direct_code(desc, selector, cpl)
        eip = offset & (0xFFFF if opsize == 16 else 0xFFFFFFFF)
        if eip > desc.limit:
            raise Fault(Vector.GP, 0)
        desc = mark_accessed_on_transfer(p, addr, desc)
        p.segs[SEG_CS] = SegCache.from_descriptor(err | cpl, desc)
        p.eip = eip
        return
    if desc.system and desc.type in CALL_GATE_TYPES:
        code_sel, caddr, code = _gate_target(p, desc, selector)
        if code.conforming and code.dpl > cpl or not code.conforming and code.dpl != cpl:
            raise Fault(Vector.GP, code_sel & 0xFFFC)
        if not code.present:
            raise Fault(Vector.NP, code_sel & 0xFFFC)
        eip = desc.gate_offset if desc.type == SYS_CALL_GATE32 else desc.gate_offset & 0xFFFF
        if eip > code.limit:
            raise Fault(Vector.GP, 0)
        code = mark_accessed_on_transfer(p, caddr, code)
        p.segs[SEG_CS] = SegCache.from_descriptor((code_sel & 0xFFFC) | cpl, code)
        p.eip = eip
        return
    if _is_task_target(desc):
        _task_target(p, desc, selector, "jmp")
    raise Fault(Vector.GP, err)


def _call_same_privilege(p: Processor, size: int, cs_selector: int, addr: int, code: Descriptor,
                         eip: int) -> None:
    """CALL to the same privilege (SDM vol 2 CALL, direct or through a gate): push CS and
    EIP (``size`` bytes each) on the current stack, #SS(0) when they do not fit, then
    #GP(0) unless ``eip`` is within the code segment; write the pushes, load CS:EIP."""
    stack = Stack(p, p.segs[SEG_SS], p.esp, 0)
    stack.push(p.segs[SEG_CS].selector, size)
    stack.push(p.eip, size)
    if eip > code.limit:
        raise Fault(Vector.GP, 0)
    stack.flush()
    code = mark_accessed_on_transfer(p, addr, code)
    p.segs[SEG_CS] = SegCache.from_descriptor(cs_selector, code)
    p.esp, p.eip = stack.esp, eip


def far_call(p: Processor, selector: int, offset: int, opsize: int = 32) -> None:
    """CALL ptr16:32 / m16:32 in protected mode (SDM vol 2 CALL; vol 3A 5.8.5, 5.8.6).

    To a code segment (same checks as :func:`far_jmp`): push CS and EIP
    (``opsize`` wide) on the current stack, #SS(0) when they do not fit.
    Through a call gate (DPL >= CPL and >= RPL; code DPL <= CPL): to a
    nonconforming segment of DPL < CPL, switch to SS:ESP for the new CPL
    from the TSS (#TS(SS) unless RPL = DPL = new CPL and writable data,
    #SS(SS) if not present), push the old SS and ESP, copy the gate's
    parameter count of words or dwords from the old stack, push CS and EIP
    (#SS(new SS) when they do not fit); otherwise push CS and EIP on the
    current stack. The gate's size (16/32) sets the push size there.
    """
    selector &= 0xFFFF
    err = selector & 0xFFFC
    addr, desc = _far_target(p, selector)
    cpl = p.cpl
    old_cs = p.segs[SEG_CS].selector
    if desc.is_code:
        _check_direct_code(desc, selector, cpl)
        eip = offset & (0xFFFF if opsize == 16 else 0xFFFFFFFF)
        _call_same_privilege(p, 2 if opsize == 16 else 4, err | cpl, addr, desc, eip)
        return
    if _is_task_target(desc):
        _task_target(p, desc, selector, "call")
    if not (desc.system and desc.type in CALL_GATE_TYPES):
        raise Fault(Vector.GP, err)

    code_sel, caddr, code = _gate_target(p, desc, selector)
    code_err = code_sel & 0xFFFC
    if code.dpl > cpl:
        raise Fault(Vector.GP, code_err)
    if not code.present:
        raise Fault(Vector.NP, code_err)
    size = 4 if desc.type == SYS_CALL_GATE32 else 2
    eip = desc.gate_offset if size == 4 else desc.gate_offset & 0xFFFF

    if code.conforming or code.dpl == cpl:  # SAME-PRIVILEGE
        _call_same_privilege(p, size, code_err | cpl, caddr, code, eip)
        return

    # MORE-PRIVILEGE: the stack for the new CPL from the TSS
    new_cpl = code.dpl
    ss_sel, new_esp = _inner_stack(p, new_cpl)
    ss_err = ss_sel & 0xFFFC
    if ss_err == 0:
        raise Fault(Vector.TS, 0)
    found = fetch(p, ss_sel)
    if found is None:
        raise Fault(Vector.TS, ss_err)
    saddr, sdesc = found
    if ss_sel & 3 != new_cpl or sdesc.dpl != new_cpl or not sdesc.writable:
        raise Fault(Vector.TS, ss_err)
    if not sdesc.present:
        raise Fault(Vector.SS, ss_err)
    new_ss = SegCache.from_descriptor(ss_sel, sdesc)
    old_ss = p.segs[SEG_SS]
    stack = Stack(p, new_ss, new_esp, ss_err)
    stack.push(old_ss.selector, size)
    stack.push(p.esp, size)
    count = desc.gate_param_count
    slots = [stack.push(0, size) for _ in range(count)]
    stack.push(old_cs, size)
    stack.push(p.eip, size)
    if eip > code.limit:
        raise Fault(Vector.GP, 0)
    if count:
        # the parameters, read from the caller's stack as they lie (the highest is pushed first)
        old_mask = 0xFFFFFFFF if old_ss.flags & FLAG_BIG else 0xFFFF
        start = p.esp & old_mask
        if start + count * size - 1 <= old_mask:
            raw = read_linear(p, old_ss.base + start, count * size)
        else:
            raw = b"".join(read_linear(p, old_ss.base + ((start + i * size) & old_mask), size)
                           for i in range(count))
        params = struct.unpack("<" + ("I" if size == 4 else "H") * count, raw)
        for slot, value in zip(slots, reversed(params), strict=True):
            stack.fill(slot, value)
    stack.flush()
    code = mark_accessed_on_transfer(p, caddr, code)
    sdesc = mark_accessed_on_transfer(p, saddr, sdesc)
    p.cpl = new_cpl
    p.segs[SEG_CS] = SegCache.from_descriptor(code_err | new_cpl, code)
    p.segs[SEG_SS] = SegCache.from_descriptor(ss_sel, sdesc)
    p.esp, p.eip = stack.esp, eip
