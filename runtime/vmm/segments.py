"""Protected-mode segment semantics, emulated against the guest's virtual CPU.

The monitor runs translated guest kernel code at ring 1, so the real
processor's segment checks would use the wrong privilege level and the
monitor's own descriptor tables. This module plays the processor for the
instructions that load segment registers or change privilege, over a small
:class:`Processor` record holding the guest's *virtual* state: its CPL
(0..3), its segment-register caches, its GDT/LDT/TR and its EFLAGS. Every
function follows the pseudo-code of the Intel SDM volume 2 (MOV, POP, JMP,
CALL, RET, IRET, LAR, LSL, VERR/VERW) and the protection rules of SDM
volume 3A chapter 5 (5.5-5.10), and raises :class:`~runtime.pc.delivery.Fault`
with the architectural vector and error code where the processor would
fault. A fault leaves the :class:`Processor` unchanged (memory written by a
push before a later #PF may stay written, as on the processor).

32-bit protected mode only: no virtual-8086 mode, no IA-32e mode. Task
switches (JMP/CALL to a task gate or TSS, IRET with NT = 1) and IRET back
to virtual-8086 mode raise :class:`~runtime.pc.delivery.Unsupported` once every
check that precedes the switch has passed.

Where the SDM leaves a detail open, this module does what QEMU (and so the
unicorn reference the tests compare against) does, and says so:

* the bits LAR leaves undefined (19:16 of the access rights) are zero;
* a 32-bit push of a segment selector writes it zero-extended to a dword;
* a segment register nulled by a return to an outer privilege level gets
  the cache a null selector loads (base, limit and flags 0);
* returning to a 16-bit stack segment replaces only SP: the upper half of
  ESP keeps the value it had (the behaviour Linux's "espfix" works around).

Descriptor-table, TSS and stack accesses all go through ``Processor.read``
and ``Processor.write`` (linear, supervisor); a :class:`PageFault` they
raise propagates unchanged. The interrupt shadow after a load of SS is the
caller's business.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from runtime.pc.cpustate import (
    SEG_CS,
    SEG_DS,
    SEG_ES,
    SEG_FS,
    SEG_GDT,
    SEG_GS,
    SEG_LDT,
    SEG_SS,
    SEG_TR,
    SegCache,
)
from runtime.pc.delivery import Fault, Unsupported
from runtime.pc.paging import PageFault
from runtime.pc.x86 import (
    AC,
    AF,
    CF,
    DESC_CODE_READABLE,
    DF,
    EFLAGS_FIXED1,
    ID,
    IF,
    IOPL_MASK,
    IOPL_SHIFT,
    NT,
    OF,
    PAGE_SIZE,
    PF,
    RF,
    SF,
    SYS_CALL_GATE16,
    SYS_CALL_GATE32,
    SYS_LDT,
    SYS_TASK_GATE,
    SYS_TSS16_AVAIL,
    SYS_TSS16_BUSY,
    SYS_TSS32_AVAIL,
    SYS_TSS32_BUSY,
    TF,
    VIF,
    VIP,
    VM,
    ZF,
    Descriptor,
    Vector,
    tss32_stack_offset,
)

__all__ = [
    "Processor",
    "load_segment",
    "far_jmp",
    "far_call",
    "far_ret",
    "iret",
    "lar",
    "lsl",
    "verr",
    "verw",
    "LAR_MASK",
]

# bits of a descriptor's high dword, which is also the cache's flags word
_ACCESSED = 1 << 8
_CODE = 1 << 11
_CONFORMING = 1 << 10      # code: conforming; data: expand-down
_BIG = 1 << 22             # D/B

#: LAR returns the descriptor's high dword masked thus (SDM vol 2, LAR: 00FxFF00H, x = 0).
LAR_MASK = 0x00F0FF00

#: System types LAR and LSL accept (SDM vol 2, LAR and LSL, "valid for instruction" tables).
_LAR_SYSTEM = frozenset({SYS_TSS16_AVAIL, SYS_LDT, SYS_TSS16_BUSY, SYS_CALL_GATE16, SYS_TASK_GATE,
                         SYS_TSS32_AVAIL, SYS_TSS32_BUSY, SYS_CALL_GATE32})
_LSL_SYSTEM = frozenset({SYS_TSS16_AVAIL, SYS_LDT, SYS_TSS16_BUSY, SYS_TSS32_AVAIL, SYS_TSS32_BUSY})
_CALL_GATES = frozenset({SYS_CALL_GATE16, SYS_CALL_GATE32})
_TSS_AVAIL = frozenset({SYS_TSS16_AVAIL, SYS_TSS32_AVAIL})
_TSS_ANY = frozenset({SYS_TSS16_AVAIL, SYS_TSS16_BUSY, SYS_TSS32_AVAIL, SYS_TSS32_BUSY})

#: EFLAGS bits IRET always loads, and those only a 32-bit IRET loads (SDM vol 2, IRET).
_IRET_ALWAYS = CF | PF | AF | ZF | SF | TF | DF | OF | NT
_IRET_32 = RF | AC | ID

_DATA_SEGS = (SEG_ES, SEG_FS, SEG_GS, SEG_DS)  # the order the SDM walks them on a return


@dataclass
class Processor:
    """What segment operations read and change (32-bit protected mode, no V86)."""

    cpl: int
    segs: list[SegCache]  # indexed by SEG_ES..SEG_IDT; CS cache holds the guest's real base
    eflags: int           # the guest's EFLAGS as it believes them (true IF and IOPL)
    esp: int
    eip: int              # on entry: EIP of the next instruction; on exit: target EIP
    read: Callable[[int, int], bytes]     # linear supervisor read; may raise PageFault
    write: Callable[[int, bytes], None]   # linear supervisor write; may raise PageFault


# --- descriptors ------------------------------------------------------------------
def _fetch(p: Processor, selector: int) -> tuple[int, Descriptor] | None:
    """The descriptor ``selector`` names and its linear address, or None past the table limit.

    SDM vol 3A 3.5.1: the index selects an 8-byte entry of the GDT (TI = 0) or
    of the LDT (TI = 1); an entry not wholly within the table's limit, or any
    LDT reference while LDTR is null, is outside the table.
    """
    if selector & 4:
        table = p.segs[SEG_LDT]
        if table.selector & 0xFFFC == 0:
            return None
    else:
        table = p.segs[SEG_GDT]
    index = selector & 0xFFF8
    if index + 7 > table.limit:
        return None
    addr = (table.base + index) & 0xFFFFFFFF
    return addr, Descriptor.from_bytes(_read(p, addr, 8))


def _fetch_or_gp(p: Processor, selector: int) -> tuple[int, Descriptor]:
    found = _fetch(p, selector)
    if found is None:
        raise Fault(Vector.GP, selector & 0xFFFC)
    return found


def _mark_accessed(p: Processor, addr: int, desc: Descriptor) -> Descriptor:
    """Set the accessed bit of a code or data descriptor being loaded (SDM vol 3A 3.4.5.1).

    Only the access-rights byte is written, and only when the bit is clear.
    """
    if desc.high & _ACCESSED:
        return desc
    high = desc.high | _ACCESSED
    p.write((addr + 5) & 0xFFFFFFFF, bytes([(high >> 8) & 0xFF]))
    return Descriptor(desc.low, high)


def _mark_accessed_on_transfer(p: Processor, addr: int, desc: Descriptor) -> Descriptor:
    """CS loaded by a far transfer, SS by a stack switch: the SDM sets the accessed bit, but
    the processor the guest runs on natively (unicorn) does not, nor does qemu TCG; the
    monitor must equal the native run, so it leaves the bit as it is."""
    del p, addr
    return desc


def _readable(desc: Descriptor) -> bool:
    """A data segment, or a code segment with R = 1."""
    return desc.is_data or (desc.is_code and bool(desc.type & DESC_CODE_READABLE))


def _read(p: Processor, linear: int, n: int) -> bytes:
    """A linear read that wraps at 4 GiB as the processor's address arithmetic does."""
    linear &= 0xFFFFFFFF
    if linear + n <= 1 << 32:
        return p.read(linear, n)
    first = (1 << 32) - linear
    return p.read(linear, first) + p.read(0, n - first)


# --- stacks -------------------------------------------------------------------------
def _within(cache: SegCache, offset: int, size: int, top: int) -> bool:
    """True when bytes offset..offset+size-1 lie inside a data segment's limits (SDM vol 3A 5.3).

    ``top`` is the segment's address-space end (0xFFFF or 0xFFFFFFFF by its
    B flag); expand-down segments span limit+1..top.
    """
    last = offset + size - 1
    if last > top:
        return False
    if cache.flags & _CONFORMING and not cache.flags & _CODE:  # expand-down data
        return offset > cache.limit
    return last <= cache.limit


class _Stack:
    """Pushes and pops on one stack segment, nothing written until :meth:`flush`.

    The stack-address size follows the segment's B flag: with B = 0 only SP
    moves and the upper half of ESP is kept (SDM vol 3A 6.2.3 and vol 1 6.2).
    Every push and pop is checked against the segment's limits first; a
    failed check raises #SS with ``error_code`` (0 for the current stack,
    the new SS selector for a stack being switched to).
    """

    def __init__(self, p: Processor, cache: SegCache, esp: int, error_code: int) -> None:
        self.p = p
        self.cache = cache
        self.mask = 0xFFFFFFFF if cache.flags & _BIG else 0xFFFF
        self.esp = esp & 0xFFFFFFFF
        self.error_code = error_code
        self._pushes: list[list[int]] = []  # [linear, value, size] in push order

    @property
    def sp(self) -> int:
        return self.esp & self.mask

    def _move(self, delta: int) -> None:
        self.esp = (self.esp & ~self.mask & 0xFFFFFFFF) | ((self.esp + delta) & self.mask)

    def require(self, nbytes: int) -> None:
        """#SS unless the top ``nbytes`` of the stack lie within its limits ("top N bytes")."""
        if not _within(self.cache, self.sp, nbytes, self.mask):
            raise Fault(Vector.SS, self.error_code)

    def push(self, value: int, size: int) -> int:
        """Reserve one push (checked now, written by :meth:`flush`); returns its slot."""
        self._move(-size)
        if not _within(self.cache, self.sp, size, self.mask):
            raise Fault(Vector.SS, self.error_code)
        self._pushes.append([(self.cache.base + self.sp) & 0xFFFFFFFF, value, size])
        return len(self._pushes) - 1

    def fill(self, slot: int, value: int) -> None:
        self._pushes[slot][1] = value

    def pop(self, count: int, size: int) -> list[int]:
        """Pop ``count`` items of ``size`` bytes: one limit check, one read."""
        self.require(count * size)
        data = _read(self.p, self.cache.base + self.sp, count * size)
        self._move(count * size)
        fmt = "<" + ("I" if size == 4 else "H") * count
        return list(struct.unpack(fmt, data))

    def skip(self, nbytes: int) -> None:
        self._move(nbytes)

    def flush(self) -> None:
        """Write the pushes. A frame within one page is written at once; a #PF then names
        the first push's address, the one the processor would have faulted on."""
        pushes = self._pushes
        if not pushes:
            return
        write = self.p.write
        low = pushes[-1][0]
        size = sum(item[2] for item in pushes)
        contiguous = all(pushes[i][0] == pushes[i + 1][0] + pushes[i + 1][2]
                         for i in range(len(pushes) - 1))
        if contiguous and (low & (PAGE_SIZE - 1)) + size <= PAGE_SIZE:
            data = b"".join(_pack(value, n) for _, value, n in reversed(pushes))
            try:
                write(low, data)
            except PageFault as pf:
                raise PageFault(pushes[0][0], pf.error_code) from None
            return
        for linear, value, n in pushes:
            raw = _pack(value, n)
            if linear + n <= 1 << 32:
                write(linear, raw)
            else:
                first = (1 << 32) - linear
                write(linear, raw[:first])
                write(0, raw[first:])


def _pack(value: int, size: int) -> bytes:
    return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def _inner_stack(p: Processor, ring: int) -> tuple[int, int]:
    """SSn and ESPn for ``ring`` from the current TSS (SDM vol 2 CALL, MORE-PRIVILEGE; vol 3A 7.2.1).

    #TS(TR selector) when the 8-byte ESPn/SSn slot of a 32-bit TSS, or the
    4-byte SPn/SSn slot at 2 + 4n of a 16-bit TSS, is not within the TSS
    limit ("TSSstackAddress + 7 > TSS limit"; the same test as QEMU's and
    runtime.pc.delivery's).
    """
    tr = p.segs[SEG_TR]
    if (tr.flags >> 8) & 0xF in (SYS_TSS16_AVAIL, SYS_TSS16_BUSY):
        off = 2 + 4 * ring
        if off + 3 > tr.limit:
            raise Fault(Vector.TS, tr.selector & 0xFFFC)
        sp, ss = struct.unpack("<HH", _read(p, tr.base + off, 4))
        return ss, sp
    off = tss32_stack_offset(ring)
    if off + 7 > tr.limit:
        raise Fault(Vector.TS, tr.selector & 0xFFFC)
    esp, ss = struct.unpack("<II", _read(p, tr.base + off, 8))
    return ss & 0xFFFF, esp


# --- MOV/POP/LDS.. to a data or stack segment register ------------------------------------
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
    addr, desc = _fetch_or_gp(p, selector)
    rpl, dpl, cpl = selector & 3, desc.dpl, p.cpl
    if index == SEG_SS:
        if rpl != cpl or not desc.writable or dpl != cpl:
            raise Fault(Vector.GP, err)
        if not desc.present:
            raise Fault(Vector.SS, err)
    else:
        if not _readable(desc):
            raise Fault(Vector.GP, err)
        if not desc.conforming and (rpl > dpl or cpl > dpl):
            raise Fault(Vector.GP, err)
        if not desc.present:
            raise Fault(Vector.NP, err)
    desc = _mark_accessed(p, addr, desc)
    p.segs[index] = SegCache.from_descriptor(selector, desc)


# --- JMP and CALL far -------------------------------------------------------------------------
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
    addr, code = _fetch_or_gp(p, code_sel)
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
        found = None if tss_sel & 4 else _fetch(p, tss_sel)
        if found is None or not found[1].system or found[1].type not in _TSS_AVAIL:
            raise Fault(Vector.GP, tss_sel & 0xFFFC)
        if not found[1].present:
            raise Fault(Vector.NP, tss_sel & 0xFFFC)
        raise Unsupported(f"far {kind} through task gate {selector:#06x} (task switch)")
    if desc.dpl < p.cpl or desc.dpl < selector & 3 or desc.type not in _TSS_AVAIL:
        raise Fault(Vector.GP, err)
    if not desc.present:
        raise Fault(Vector.NP, err)
    raise Unsupported(f"far {kind} to TSS {selector:#06x} (task switch)")


def _is_task_target(desc: Descriptor) -> bool:
    return desc.system and (desc.type == SYS_TASK_GATE or desc.type in _TSS_ANY)


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
    if err == 0:
        raise Fault(Vector.GP, 0)
    addr, desc = _fetch_or_gp(p, selector)
    cpl = p.cpl
    if desc.is_code:
        _check_direct_code(desc, selector, cpl)
        eip = offset & (0xFFFF if opsize == 16 else 0xFFFFFFFF)
        if eip > desc.limit:
            raise Fault(Vector.GP, 0)
        desc = _mark_accessed_on_transfer(p, addr, desc)
        p.segs[SEG_CS] = SegCache.from_descriptor(err | cpl, desc)
        p.eip = eip
        return
    if desc.system and desc.type in _CALL_GATES:
        code_sel, caddr, code = _gate_target(p, desc, selector)
        if code.conforming and code.dpl > cpl or not code.conforming and code.dpl != cpl:
            raise Fault(Vector.GP, code_sel & 0xFFFC)
        if not code.present:
            raise Fault(Vector.NP, code_sel & 0xFFFC)
        eip = desc.gate_offset if desc.type == SYS_CALL_GATE32 else desc.gate_offset & 0xFFFF
        if eip > code.limit:
            raise Fault(Vector.GP, 0)
        code = _mark_accessed_on_transfer(p, caddr, code)
        p.segs[SEG_CS] = SegCache.from_descriptor((code_sel & 0xFFFC) | cpl, code)
        p.eip = eip
        return
    if _is_task_target(desc):
        _task_target(p, desc, selector, "jmp")
    raise Fault(Vector.GP, err)


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
    if err == 0:
        raise Fault(Vector.GP, 0)
    addr, desc = _fetch_or_gp(p, selector)
    cpl = p.cpl
    old_cs = p.segs[SEG_CS].selector
    if desc.is_code:
        _check_direct_code(desc, selector, cpl)
        size = 2 if opsize == 16 else 4
        stack = _Stack(p, p.segs[SEG_SS], p.esp, 0)
        stack.push(old_cs, size)
        stack.push(p.eip, size)
        eip = offset & (0xFFFF if opsize == 16 else 0xFFFFFFFF)
        if eip > desc.limit:
            raise Fault(Vector.GP, 0)
        stack.flush()
        desc = _mark_accessed_on_transfer(p, addr, desc)
        p.segs[SEG_CS] = SegCache.from_descriptor(err | cpl, desc)
        p.esp, p.eip = stack.esp, eip
        return
    if _is_task_target(desc):
        _task_target(p, desc, selector, "call")
    if not (desc.system and desc.type in _CALL_GATES):
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
        stack = _Stack(p, p.segs[SEG_SS], p.esp, 0)
        stack.push(old_cs, size)
        stack.push(p.eip, size)
        if eip > code.limit:
            raise Fault(Vector.GP, 0)
        stack.flush()
        code = _mark_accessed_on_transfer(p, caddr, code)
        p.segs[SEG_CS] = SegCache.from_descriptor(code_err | cpl, code)
        p.esp, p.eip = stack.esp, eip
        return

    # MORE-PRIVILEGE: the stack for the new CPL from the TSS
    new_cpl = code.dpl
    ss_sel, new_esp = _inner_stack(p, new_cpl)
    ss_err = ss_sel & 0xFFFC
    if ss_err == 0:
        raise Fault(Vector.TS, 0)
    found = _fetch(p, ss_sel)
    if found is None:
        raise Fault(Vector.TS, ss_err)
    saddr, sdesc = found
    if ss_sel & 3 != new_cpl or sdesc.dpl != new_cpl or not sdesc.writable:
        raise Fault(Vector.TS, ss_err)
    if not sdesc.present:
        raise Fault(Vector.SS, ss_err)
    new_ss = SegCache.from_descriptor(ss_sel, sdesc)
    old_ss = p.segs[SEG_SS]
    stack = _Stack(p, new_ss, new_esp, ss_err)
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
        old_mask = 0xFFFFFFFF if old_ss.flags & _BIG else 0xFFFF
        start = p.esp & old_mask
        if start + count * size - 1 <= old_mask:
            raw = _read(p, old_ss.base + start, count * size)
        else:
            raw = b"".join(_read(p, old_ss.base + ((start + i * size) & old_mask), size)
                           for i in range(count))
        params = struct.unpack("<" + ("I" if size == 4 else "H") * count, raw)
        for slot, value in zip(slots, reversed(params), strict=True):
            stack.fill(slot, value)
    stack.flush()
    code = _mark_accessed_on_transfer(p, caddr, code)
    sdesc = _mark_accessed_on_transfer(p, saddr, sdesc)
    p.cpl = new_cpl
    p.segs[SEG_CS] = SegCache.from_descriptor(code_err | new_cpl, code)
    p.segs[SEG_SS] = SegCache.from_descriptor(ss_sel, sdesc)
    p.esp, p.eip = stack.esp, eip


# --- RET far and IRET -----------------------------------------------------------------------------
def _return_code(p: Processor, cs_sel: int) -> tuple[int, Descriptor]:
    """The return code segment checks shared by RET and IRET (SDM vol 2; vol 3A 5.8.6).

    Null: #GP(0); outside its table, not code, RPL < CPL, conforming with
    DPL > RPL, nonconforming with DPL != RPL: #GP(sel); not present: #NP(sel).
    """
    err = cs_sel & 0xFFFC
    if err == 0:
        raise Fault(Vector.GP, 0)
    addr, code = _fetch_or_gp(p, cs_sel)
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
    addr, desc = _fetch_or_gp(p, ss_sel)
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
        conforming_code = c.flags & _CODE and c.flags & _CONFORMING
        if c.selector & 0xFFFC == 0 or (not conforming_code and (c.flags >> 13) & 3 < p.cpl):
            p.segs[index] = SegCache(0, 0, 0, 0)


def _merge_sp(old_esp: int, new_esp: int, ss_flags: int) -> int:
    """ESP after loading ``new_esp`` for a stack of the given B flag (SP only when B = 0)."""
    if ss_flags & _BIG:
        return new_esp & 0xFFFFFFFF
    return (old_esp & 0xFFFF0000) | (new_esp & 0xFFFF)


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
    stack = _Stack(p, p.segs[SEG_SS], p.esp, 0)
    stack.require(2 * size)
    eip, cs_sel = stack.pop(2, size)
    cs_sel &= 0xFFFF
    caddr, code = _return_code(p, cs_sel)
    rpl = cs_sel & 3
    if rpl == p.cpl:
        if eip > code.limit:
            raise Fault(Vector.GP, 0)
        stack.skip(pop_bytes)
        code = _mark_accessed_on_transfer(p, caddr, code)
        p.segs[SEG_CS] = SegCache.from_descriptor(cs_sel, code)
        p.esp, p.eip = stack.esp, eip
        return
    _Stack(p, p.segs[SEG_SS], p.esp, 0).require(4 * size + pop_bytes)
    stack.skip(pop_bytes)
    new_esp, ss_sel = stack.pop(2, size)
    ss_sel &= 0xFFFF
    saddr, sdesc = _return_stack(p, ss_sel, rpl)
    if eip > code.limit:
        raise Fault(Vector.GP, 0)
    code = _mark_accessed_on_transfer(p, caddr, code)
    sdesc = _mark_accessed_on_transfer(p, saddr, sdesc)
    new_ss = SegCache.from_descriptor(ss_sel, sdesc)
    esp = _merge_sp(p.esp, new_esp, new_ss.flags)
    new_mask = 0xFFFFFFFF if new_ss.flags & _BIG else 0xFFFF
    esp = (esp & ~new_mask & 0xFFFFFFFF) | ((esp + pop_bytes) & new_mask)
    p.cpl = rpl
    p.segs[SEG_CS] = SegCache.from_descriptor(cs_sel, code)
    p.segs[SEG_SS] = new_ss
    p.esp, p.eip = esp, eip
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
    stack = _Stack(p, p.segs[SEG_SS], p.esp, 0)
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
        code = _mark_accessed_on_transfer(p, caddr, code)
        p.segs[SEG_CS] = SegCache.from_descriptor(cs_sel, code)
        p.esp, p.eip, p.eflags = stack.esp, eip, eflags
        return
    new_esp, ss_sel = stack.pop(2, size)
    ss_sel &= 0xFFFF
    saddr, sdesc = _return_stack(p, ss_sel, rpl)
    if eip > code.limit:
        raise Fault(Vector.GP, 0)
    code = _mark_accessed_on_transfer(p, caddr, code)
    sdesc = _mark_accessed_on_transfer(p, saddr, sdesc)
    new_ss = SegCache.from_descriptor(ss_sel, sdesc)
    p.cpl = rpl
    p.segs[SEG_CS] = SegCache.from_descriptor(cs_sel, code)
    p.segs[SEG_SS] = new_ss
    p.esp, p.eip, p.eflags = _merge_sp(p.esp, new_esp, new_ss.flags), eip, eflags
    _invalidate_data_segments(p)


# --- LAR, LSL, VERR, VERW -------------------------------------------------------------------------
def _visible(p: Processor, selector: int, system_types: frozenset[int]) -> Descriptor | None:
    """The descriptor when the instruction may see it, else None (ZF = 0).

    SDM vol 2 LAR/LSL/VERR: a null selector or one outside its table fails;
    system descriptors only of ``system_types``; except for conforming code
    segments, DPL must be >= CPL and >= RPL. Presence is not checked.
    """
    selector &= 0xFFFF
    if selector & 0xFFFC == 0:
        return None
    found = _fetch(p, selector)
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
    return desc is not None and _readable(desc)


def verw(p: Processor, selector: int) -> bool:
    """VERW: True (ZF = 1) when the segment is a writable data segment visible at CPL and RPL."""
    desc = _visible(p, selector, frozenset())
    return desc is not None and desc.writable
