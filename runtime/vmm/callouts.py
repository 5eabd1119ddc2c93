"""Callout handlers: the monitor's emulation of guest kernel instructions, one row each.

Translated code reaches these through a software interrupt at the callout
site (:mod:`bt.rewrite`). A handler emulates the guest instruction against
the virtual CPU (:mod:`runtime.vmm.vcpu`) and guest memory, and returns
``True`` when it has already sent the guest somewhere else (a far
transfer, an interrupt, an iret), ``False`` to continue with the
translated code after the site. It raises :class:`runtime.pc.delivery.Fault`
or :class:`runtime.pc.paging.PageFault` for the exception the instruction
raises: the monitor reflects it at the instruction's guest EIP.

Handlers run inside the INTR hook, registers read through the C API.
The table :data:`HANDLERS` maps a rule name of :mod:`bt.classify` to its
handler; a new instruction is a new row.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

from capstone import CsInsn
from capstone import x86_const as C
from unicorn import UC_ARCH_X86, UC_HOOK_INTR, UC_MODE_32, Uc
from unicorn import x86_const as X

from bt.rewrite import CalloutSite
from runtime.pc.cpustate import (
    SEG_CS,
    SEG_DS,
    SEG_ES,
    SEG_FS,
    SEG_GDT,
    SEG_GS,
    SEG_IDT,
    SEG_LDT,
    SEG_SS,
    SEG_TR,
    SegCache,
)
from runtime.pc.delivery import Event, Fault
from runtime.pc.x86 import (
    AC,
    AF,
    CF,
    CR0_EM,
    CR0_ET,
    CR0_MP,
    CR0_PE,
    CR0_PG,
    CR0_TS,
    CR0_WP,
    CR4_DE,
    CR4_PAE,
    CR4_PGE,
    CR4_PSE,
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
    Descriptor,
    Vector,
)
from runtime.vmm import segments

if TYPE_CHECKING:
    from runtime.vmm.monitor import Monitor

Handler = Callable[["Monitor", CalloutSite], bool]
MASK32 = 0xFFFFFFFF

_SEG_INDEX = {C.X86_REG_ES: SEG_ES, C.X86_REG_CS: SEG_CS, C.X86_REG_SS: SEG_SS,
              C.X86_REG_DS: SEG_DS, C.X86_REG_FS: SEG_FS, C.X86_REG_GS: SEG_GS}


# --- operands ---------------------------------------------------------------------------------
@cache
def _uc_reg(name: str) -> int:
    return getattr(X, f"UC_X86_REG_{name.upper()}")


def read_reg(mon: Monitor, insn: CsInsn, reg: int) -> int:
    return mon.uc.reg_read(_uc_reg(insn.reg_name(reg)))


def write_reg(mon: Monitor, insn: CsInsn, reg: int, value: int) -> None:
    name = insn.reg_name(reg)
    size = 4 if name.startswith("e") else (1 if name.endswith(("l", "h")) else 2)
    mon.uc.reg_write(_uc_reg(name), value & ((1 << (8 * size)) - 1))


def effective_address(mon: Monitor, insn: CsInsn, op: object) -> int:
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
    return (mon.vcpu.seg(_SEG_INDEX[seg]).base + (offset & MASK32)) & MASK32


def read_operand(mon: Monitor, insn: CsInsn, index: int, size: int | None = None) -> int:
    op = insn.operands[index]
    if op.type == C.X86_OP_REG:
        return read_reg(mon, insn, op.reg)
    if op.type == C.X86_OP_IMM:
        return op.imm & MASK32
    n = size or op.size
    raw = mon.mem.read(effective_address(mon, insn, op), n)
    return int.from_bytes(raw, "little")


def write_operand(mon: Monitor, insn: CsInsn, index: int, value: int, size: int | None = None) -> None:
    op = insn.operands[index]
    if op.type == C.X86_OP_REG:
        write_reg(mon, insn, op.reg, value)
        return
    n = size or op.size
    mon.mem.write(effective_address(mon, insn, op), (value & ((1 << (8 * n)) - 1)).to_bytes(n, "little"))


def _stack(mon: Monitor) -> tuple[int, int]:
    """(SS base, ESP)."""
    return mon.vcpu.seg(SEG_SS).base, mon.cpu.reg(X.UC_X86_REG_ESP)


def push(mon: Monitor, value: int, size: int = 4) -> None:
    base, esp = _stack(mon)
    esp = (esp - size) & MASK32
    mon.mem.write((base + esp) & MASK32, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))
    mon.cpu.set_reg(X.UC_X86_REG_ESP, esp)


def pop(mon: Monitor, size: int = 4) -> int:
    base, esp = _stack(mon)
    value = int.from_bytes(mon.mem.read((base + esp) & MASK32, size), "little")
    mon.cpu.set_reg(X.UC_X86_REG_ESP, (esp + size) & MASK32)
    return value


def opsize(insn: CsInsn) -> int:
    return 2 if insn.prefix[2] == 0x66 else 4


# --- segment operations through runtime.vmm.segments --------------------------------------------------
def _processor(mon: Monitor, next_eip: int) -> segments.Processor:
    mon.cpu.load()
    return segments.Processor(
        cpl=mon.vcpu.v.cpl, segs=[mon.vcpu.seg(i) for i in range(10)],
        eflags=mon.vcpu.reg(X.UC_X86_REG_EFLAGS), esp=mon.cpu.reg(X.UC_X86_REG_ESP),
        eip=next_eip, read=mon.mem.read, write=mon.mem.write)


def _commit(mon: Monitor, p: segments.Processor, before: list[SegCache], cpl: int,
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


def _transfer(mon: Monitor, co: CalloutSite, op: Callable[[segments.Processor], None]) -> bool:
    p = _processor(mon, co.next_eip)
    before, cpl = list(p.segs), p.cpl
    op(p)
    _commit(mon, p, before, cpl, transfer=True)
    mon.vcpu.pending_eip = p.eip
    mon._enter_guest()
    return True


def _far_pointer(mon: Monitor, insn: CsInsn) -> tuple[int, int]:
    """(selector, offset) of a far jmp/call: ptr16:32 immediate or m16:32."""
    ops = insn.operands
    if len(ops) == 2 and ops[0].type == C.X86_OP_IMM:
        return ops[0].imm & 0xFFFF, ops[1].imm & MASK32
    size = opsize(insn)
    raw = mon.mem.read(effective_address(mon, insn, ops[0]), size + 2)
    offset = int.from_bytes(raw[:size], "little")
    return int.from_bytes(raw[size:], "little"), offset


def far_jmp(mon: Monitor, co: CalloutSite) -> bool:
    sel, off = _far_pointer(mon, co.ginsn.insn)  # type: ignore[union-attr]
    return _transfer(mon, co, lambda p: segments.far_jmp(p, sel, off))


def far_call(mon: Monitor, co: CalloutSite) -> bool:
    insn = co.ginsn.insn  # type: ignore[union-attr]
    sel, off = _far_pointer(mon, insn)
    return _transfer(mon, co, lambda p: segments.far_call(p, sel, off, opsize(insn) * 8))


def far_ret(mon: Monitor, co: CalloutSite) -> bool:
    insn = co.ginsn.insn  # type: ignore[union-attr]
    n = insn.operands[0].imm if insn.operands else 0
    return _transfer(mon, co, lambda p: segments.far_ret(p, n, opsize(insn) * 8))


def iret(mon: Monitor, co: CalloutSite) -> bool:
    insn = co.ginsn.insn  # type: ignore[union-attr]
    return _transfer(mon, co, lambda p: segments.iret(p, opsize(insn) * 8))


def load_sreg(mon: Monitor, co: CalloutSite) -> bool:
    """mov sreg, r/m16 and pop sreg."""
    insn = co.ginsn.insn  # type: ignore[union-attr]
    is_pop = insn.id == C.X86_INS_POP
    seg = _SEG_INDEX[insn.operands[0].reg]
    if seg == SEG_CS:
        raise Fault(Vector.UD)  # mov cs / pop cs do not exist
    size = opsize(insn)
    if is_pop:
        base, esp = _stack(mon)
        selector = int.from_bytes(mon.mem.read((base + esp) & MASK32, size), "little") & 0xFFFF
    else:
        selector = read_operand(mon, insn, 1, 2) & 0xFFFF
    p = _processor(mon, co.next_eip)
    before, cpl = list(p.segs), p.cpl
    segments.load_segment(p, seg, selector)
    if is_pop:
        p.esp = (p.esp + size) & MASK32
    _commit(mon, p, before, cpl, transfer=False, hold_interrupts=seg == SEG_SS)
    return False


def load_far_pointer(mon: Monitor, co: CalloutSite) -> bool:
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
    segments.load_segment(p, seg, selector)
    _commit(mon, p, before, cpl, transfer=False)
    write_reg(mon, insn, insn.operands[0].reg, offset)
    return False


def _descriptor_check(kind: str) -> Handler:
    def handler(mon: Monitor, co: CalloutSite) -> bool:
        insn = co.ginsn.insn  # type: ignore[union-attr]
        sel_op = 0 if kind in ("verr", "verw") else 1
        selector = read_operand(mon, insn, sel_op, 2) & 0xFFFF
        p = _processor(mon, co.next_eip)
        result = getattr(segments, kind)(p, selector)
        ok = result is not None and result is not False
        eflags = mon.cpu.reg(X.UC_X86_REG_EFLAGS)
        mon.cpu.set_reg(X.UC_X86_REG_EFLAGS, (eflags | ZF) if ok else (eflags & ~ZF))
        if ok and kind in ("lar", "lsl"):
            write_operand(mon, insn, 0, int(result))
        return False
    return handler


# --- flags -------------------------------------------------------------------------------------------
_POPF_MASK_CPL0 = CF | PF | AF | ZF | SF | TF | IF | DF | OF | IOPL_MASK | NT | AC | ID


def popf(mon: Monitor, co: CalloutSite) -> bool:
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


def pushf(mon: Monitor, co: CalloutSite) -> bool:
    insn = co.ginsn.insn  # type: ignore[union-attr]
    value = mon.vcpu.reg(X.UC_X86_REG_EFLAGS) & ~0x30000  # the image has VM and RF clear
    push(mon, value, opsize(insn))
    return False


# --- system registers --------------------------------------------------------------------------------
def _table_register(index: int) -> Handler:
    def handler(mon: Monitor, co: CalloutSite) -> bool:
        insn = co.ginsn.insn  # type: ignore[union-attr]
        raw = mon.mem.read(effective_address(mon, insn, insn.operands[0]), 6)
        limit, base = struct.unpack("<HI", raw)
        if opsize(insn) == 2:
            base &= 0xFFFFFF
        mon.cpu.load()
        if index == SEG_GDT:
            mon.vcpu.set_seg(SEG_GDT, SegCache(0, base, limit, 0))
        else:
            mon.cpu.set_seg(SEG_IDT, SegCache(0, base, limit, 0))
        mon.cpu.store()
        if index == SEG_GDT:
            mon._sync_shadow_tables()
        mon._check_monitor_range()
        mon.write_vcpu_page()
        return False
    return handler



def _store_table_register(index: int) -> Handler:
    """sgdt/sidt through the callout (when the inline form could not take the operand)."""
    def handler(mon: Monitor, co: CalloutSite) -> bool:
        insn = co.ginsn.insn  # type: ignore[union-attr]
        mon.cpu.load()
        reg = mon.vcpu.seg(index)
        base = reg.base & (0xFFFFFF if opsize(insn) == 2 else MASK32)  # 16-bit: 24-bit base
        mon.mem.write(effective_address(mon, insn, insn.operands[0]),
                      struct.pack("<HI", reg.limit & 0xFFFF, base))
        return False
    return handler


def _store_selector_register(what: str) -> Handler:
    """smsw/str/sldt through the callout: r16/r32 or m16."""
    def handler(mon: Monitor, co: CalloutSite) -> bool:
        insn = co.ginsn.insn  # type: ignore[union-attr]
        mon.cpu.load()
        value = {"smsw": lambda: mon.vcpu.v.cr[0], "str": lambda: mon.vcpu.v.tr.selector,
                 "sldt": lambda: mon.vcpu.v.ldtr.selector}[what]()
        op = insn.operands[0]
        write_operand(mon, insn, 0, value, 2 if op.type == C.X86_OP_MEM else None)
        return False
    return handler


def _system_descriptor(mon: Monitor, selector: int) -> tuple[int, Descriptor]:
    """A GDT descriptor for lldt/ltr (#GP(sel) outside the GDT or TI=1)."""
    base, limit = mon.vcpu.v.gdtr
    index = selector & 0xFFF8
    if selector & 4 or index + 7 > limit:
        raise Fault(Vector.GP, selector & 0xFFFC)
    addr = (base + index) & MASK32
    return addr, Descriptor.from_bytes(mon.mem.read(addr, 8))


def lldt(mon: Monitor, co: CalloutSite) -> bool:
    """LLDT (SDM vol 2): null loads an unusable LDTR; else an LDT descriptor (type 2)."""
    selector = read_operand(mon, co.ginsn.insn, 0, 2) & 0xFFFF  # type: ignore[union-attr]
    if selector & 0xFFFC == 0:
        cache_ = SegCache(selector, 0, 0, 0)
    else:
        _, desc = _system_descriptor(mon, selector)
        if not desc.system or desc.type != 2:
            raise Fault(Vector.GP, selector & 0xFFFC)
        if not desc.present:
            raise Fault(Vector.NP, selector & 0xFFFC)
        cache_ = SegCache.from_descriptor(selector, desc)
    mon.cpu.load()
    mon.vcpu.set_seg(SEG_LDT, cache_)
    mon.cpu.store()
    mon._ldt_image = b""
    mon._sync_shadow_tables()
    mon._check_monitor_range()
    mon.write_vcpu_page()
    return False


def ltr(mon: Monitor, co: CalloutSite) -> bool:
    """LTR (SDM vol 2): an available TSS (type 1 or 9), marked busy in the guest's GDT."""
    selector = read_operand(mon, co.ginsn.insn, 0, 2) & 0xFFFF  # type: ignore[union-attr]
    if selector & 0xFFFC == 0:
        raise Fault(Vector.GP, 0)
    addr, desc = _system_descriptor(mon, selector)
    if not desc.system or desc.type not in (1, 9):
        raise Fault(Vector.GP, selector & 0xFFFC)
    if not desc.present:
        raise Fault(Vector.NP, selector & 0xFFFC)
    busy = desc.high | (2 << 8)
    mon.mem.write(addr + 4, struct.pack("<I", busy))
    mon.cpu.load()
    mon.vcpu.set_seg(SEG_TR, SegCache(selector, desc.base, desc.limit, busy))
    mon.cpu.store()
    mon._check_monitor_range()
    mon.write_vcpu_page()
    return False


def mov_cr_dr(mon: Monitor, co: CalloutSite) -> bool:
    insn = co.ginsn.insn  # type: ignore[union-attr]
    dst, src = insn.operands[0], insn.operands[1]
    names = (insn.reg_name(dst.reg), insn.reg_name(src.reg))
    v = mon.vcpu.v
    if names[1].startswith("dr"):  # the debug registers are the real ones (DR6 as unicorn
        n = _debug_register(mon, int(names[1][2:]))  # sets it on traps; ring 3 uses them)
        write_reg(mon, insn, dst.reg, mon.uc.reg_read(_uc_reg(f"dr{n}")))
        return False
    if names[1].startswith("cr"):  # read
        n = int(names[1][2:])
        write_reg(mon, insn, dst.reg, v.cr[n])
        return False
    n = int(names[0][2:])
    value = read_reg(mon, insn, src.reg)
    if names[0].startswith("dr"):
        n = _debug_register(mon, n)
        value |= _DR_FIXED_1.get(n, 0)
        mon.uc.reg_write(_uc_reg(f"dr{n}"), value)
        v.dr[n] = value
        return False
    if n == 0:
        set_cr0(mon, value)
    elif n == 2:
        v.cr[2] = value
    elif n == 3:
        v.cr[3] = value
        if v.cr[0] & CR0_PG:  # a new address space (or the same one, flushed)
            mon.paging_changed()
    elif n == 4:
        value = _kept_cr4(mon, value)
        old, v.cr[4] = v.cr[4], value
        if (old ^ value) & (CR4_PSE | CR4_PGE) and v.cr[0] & CR0_PG:
            mon.shadow.flush_all()
        if (old ^ value) & CR4_PAE and v.cr[0] & CR0_PG:
            mon.paging_changed()  # another paging mode
    else:
        raise Fault(Vector.UD)
    return False


#: bits of DR6 and DR7 that always read as 1 (SDM vol 3B 17.2.3, 17.2.4)
_DR_FIXED_1 = {6: 0xFFFF0FF0, 7: 0x400}


def _debug_register(mon: Monitor, n: int) -> int:
    """DR4/DR5 are DR6/DR7 while CR4.DE is clear and #UD while it is set (SDM vol 3B
    17.2.2)."""
    if n in (4, 5):
        if mon.vcpu.v.cr[4] & CR4_DE:
            raise Fault(Vector.UD)
        return n + 2
    return n


def _kept_cr4(mon: Monitor, value: int) -> int:
    """What the processor keeps of a CR4 write: the bare machine's CPU drops the bits of
    features it lacks (SMAP, PKE, OSFXSR without SSE); asked of the monitor's scratch engine,
    the same CPU model (corpus/regressions/cr4_unsupported_bits)."""
    out = _oracle(mon).run(b"\x0f\x22\xe0\x0f\x20\xe0", {X.UC_X86_REG_EAX: value})
    return out[X.UC_X86_REG_EAX]


def set_cr0(mon: Monitor, value: int) -> None:
    """mov cr0 as unicorn does it: ET reads as 1; PG without PE is #GP(0)."""
    if value & CR0_PG and not value & CR0_PE:
        raise Fault(Vector.GP, 0)
    old = mon.vcpu.v.cr[0]
    mon.vcpu.v.cr[0] = (value | CR0_ET) & MASK32
    mon.write_vcpu_page()
    if (old ^ value) & CR0_PG:
        if value & CR0_PG:  # page tables written while paging was off were not traced:
            mon.shadow.flush_all()  # no shadow kept from before is known to be current
        mon.paging_changed()
    elif (old ^ value) & CR0_WP and value & CR0_PG:
        mon.shadow.flush_all()  # write permissions of the kernel change


def clts(mon: Monitor, co: CalloutSite) -> bool:
    set_cr0(mon, mon.vcpu.v.cr[0] & ~CR0_TS)
    return False


def lmsw(mon: Monitor, co: CalloutSite) -> bool:
    """LMSW: loads PE (never clears it), MP, EM, TS."""
    value = read_operand(mon, co.ginsn.insn, 0, 2) & 0xF  # type: ignore[union-attr]
    cr0 = mon.vcpu.v.cr[0]
    set_cr0(mon, (cr0 & ~(CR0_MP | CR0_EM | CR0_TS)) | value | (cr0 & CR0_PE))
    return False


def nop(mon: Monitor, co: CalloutSite) -> bool:
    """wbinvd, invd: no caches to write back."""
    return False


def invlpg(mon: Monitor, co: CalloutSite) -> bool:
    """INVLPG m: drop the shadow entry for that linear address."""
    insn = co.ginsn.insn  # type: ignore[union-attr]
    if mon.vcpu.v.cr[0] & CR0_PG:
        linear = effective_address(mon, insn, insn.operands[0])
        mon.shadow.invlpg(linear)
        mon._revalidate_code_mappings(linear & ~0xFFF)
    return False


def hlt(mon: Monitor, co: CalloutSite) -> bool:
    """Idle until the next interrupt: the run loop does it, after this run stops."""
    mon._halted = True
    mon.uc.emu_stop()
    return False


# --- I/O ----------------------------------------------------------------------------------------------
def _port_and_size(mon: Monitor, insn: CsInsn) -> tuple[int, int, int]:
    """(port, size, index of the data register operand) for in/out."""
    ops = insn.operands
    if insn.id == C.X86_INS_IN:
        data, port_op = ops[0], ops[1]
        di = 0
    else:
        port_op, data = ops[0], ops[1]
        di = 1
    port = port_op.imm & 0xFF if port_op.type == C.X86_OP_IMM else mon.cpu.reg(X.UC_X86_REG_EDX) & 0xFFFF
    return port, data.size, di


def _after_io(mon: Monitor) -> None:
    if mon.pic.pending():
        mon._request_stop()
    else:
        mon._retarget()


def port_in(mon: Monitor, co: CalloutSite) -> bool:
    insn = co.ginsn.insn  # type: ignore[union-attr]
    port, size, di = _port_and_size(mon, insn)
    write_reg(mon, insn, insn.operands[di].reg, mon.bus.read(port, size))
    _after_io(mon)
    return False


def port_out(mon: Monitor, co: CalloutSite) -> bool:
    insn = co.ginsn.insn  # type: ignore[union-attr]
    port, size, di = _port_and_size(mon, insn)
    mon.bus.write(port, size, read_reg(mon, insn, insn.operands[di].reg))
    _after_io(mon)
    return False


def string_io(mon: Monitor, co: CalloutSite) -> bool:
    """ins/outs, with rep: one element per iteration (SDM vol 2, INS/OUTS)."""
    insn = co.ginsn.insn  # type: ignore[union-attr]
    size = {C.X86_INS_INSB: 1, C.X86_INS_OUTSB: 1, C.X86_INS_INSW: 2, C.X86_INS_OUTSW: 2}.get(insn.id, 4)
    is_in = insn.id in (C.X86_INS_INSB, C.X86_INS_INSW, C.X86_INS_INSD)
    rep = insn.prefix[0] in (0xF2, 0xF3)
    port = mon.cpu.reg(X.UC_X86_REG_EDX) & 0xFFFF
    step = -size if mon.cpu.reg(X.UC_X86_REG_EFLAGS) & DF else size
    count = mon.cpu.reg(X.UC_X86_REG_ECX) if rep else 1
    if rep and count:  # the native clock counts every iteration of a rep string instruction
        mon.counter.insns += count  # and the pass with ECX = 0 that leaves it (unicorn)
    index_reg = X.UC_X86_REG_EDI if is_in else X.UC_X86_REG_ESI
    if is_in:
        seg = mon.vcpu.seg(SEG_ES).base
    else:
        mem_ops = [op for op in insn.operands if op.type == C.X86_OP_MEM]
        seg_reg = mem_ops[0].mem.segment if mem_ops and mem_ops[0].mem.segment else C.X86_REG_DS
        seg = mon.vcpu.seg(_SEG_INDEX[seg_reg]).base
    while count:
        index = mon.cpu.reg(index_reg)
        linear = (seg + index) & MASK32
        if is_in:
            mon.mem.write(linear, mon.bus.read(port, size).to_bytes(size, "little"))
        else:
            mon.bus.write(port, size, int.from_bytes(mon.mem.read(linear, size), "little"))
        mon.cpu.set_reg(index_reg, (index + step) & MASK32)
        count -= 1
        if rep:
            mon.cpu.set_reg(X.UC_X86_REG_ECX, count)
    _after_io(mon)
    return False


# --- interrupts ---------------------------------------------------------------------------------------
def software_interrupt(mon: Monitor, co: CalloutSite) -> bool:
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
    mon._deliver(event)
    return True


def near16(mon: Monitor, co: CalloutSite) -> bool:
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
    mon._enter_kernel(target & 0xFFFF)
    return True


def undefined(mon: Monitor, co: CalloutSite) -> bool:
    """Bytes capstone cannot decode: #UD, or #GP(0) for an instruction longer than 15 bytes
    (SDM vol 2A, 2.3.11), which capstone cannot decode either."""
    from bt.encode import PREFIXES

    try:
        code = mon._read_code(co.guest_eip, 15)
    except Exception:  # noqa: BLE001 - unreadable tail: the #UD stands
        code = b""
    if len(code) == 15 and all(b in PREFIXES for b in code):
        raise Fault(Vector.GP, 0)
    raise Fault(Vector.UD)


def breakpoint(mon: Monitor, co: CalloutSite) -> bool:
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


def adapted_store(mon: Monitor, co: CalloutSite) -> bool:
    """A store adaptive translation took over (it kept faulting on a guest page table):
    write through the guest's view; the monitor's write path drops the shadow entries
    built from that page, which stays traced (no fault, no untrace)."""
    insn = co.ginsn.insn  # type: ignore[union-attr]
    size = insn.operands[0].size
    write_operand(mon, insn, 0, read_operand(mon, insn, 1, size), size)
    return False


def fpu(mon: Monitor, co: CalloutSite) -> bool:
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


# --- instructions whose result the monitor takes from the processor itself --------------------------------
class _Oracle:
    """A scratch engine at CPL 0 that runs one cpuid/rdtsc/rdmsr/wrmsr for real, so that the
    guest sees exactly what the bare machine would give it."""

    CODE = 0x1000

    def __init__(self) -> None:
        self.uc = Uc(UC_ARCH_X86, UC_MODE_32)
        self.uc.mem_map(0, 0x2000)
        self.fault: int | None = None
        self.uc.hook_add(UC_HOOK_INTR, self._intr)

    def _intr(self, uc: Uc, vector: int, _data: object) -> None:
        self.fault = vector
        uc.emu_stop()

    def run(self, code: bytes, regs: dict[int, int]) -> dict[int, int]:
        self.uc.mem_write(self.CODE, code + b"\xf4")
        # mem_write leaves unicorn's translation of the old bytes (notes/unicorn.md): drop it,
        # or the next instruction run here is the last one (corpus/regressions/oracle_stale_code)
        self.uc.ctl_remove_cache(self.CODE, self.CODE + len(code) + 1)
        for reg, value in regs.items():
            self.uc.reg_write(reg, value)
        self.fault = None
        self.uc.emu_start(self.CODE, self.CODE + len(code) + 1)
        if self.fault is not None:
            raise Fault(self.fault, 0 if self.fault == Vector.GP else None)
        return {r: self.uc.reg_read(r) for r in _ORACLE_OUT}


_ORACLE_OUT = (X.UC_X86_REG_EAX, X.UC_X86_REG_EBX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX)


def _oracle(mon: Monitor) -> _Oracle:
    """The monitor's own scratch engine: the MSRs a guest writes live there, so each
    virtual CPU keeps its own (one engine for the whole process leaked them from one
    guest to the next: corpus/regressions/msr_oracle_leak)."""
    oracle: _Oracle | None = getattr(mon, "oracle", None)
    if oracle is None:
        oracle = mon.oracle = _Oracle()  # type: ignore[attr-defined]
    return oracle


def by_oracle(mon: Monitor, co: CalloutSite) -> bool:
    insn = co.ginsn.insn  # type: ignore[union-attr]
    regs = {r: mon.cpu.reg(r) for r in _ORACLE_OUT}
    regs[X.UC_X86_REG_CR4] = mon.vcpu.v.cr[4]  # cpuid leaf 1 reports CR4.OSXSAVE
    out = _oracle(mon).run(bytes(insn.bytes), regs)
    for r, value in out.items():
        mon.cpu.set_reg(r, value)
    return False


# --- ring-3 transfers through guest gates --------------------------------------------------------------
@cache
def _decoder() -> object:
    from capstone import CS_ARCH_X86, CS_MODE_32, Cs

    cs = Cs(CS_ARCH_X86, CS_MODE_32)
    cs.detail = True
    return cs


def user_far_transfer(mon: Monitor, eip: int) -> bool:
    """A ring-3 instruction faulted on a shadow descriptor (a gate or a TSS, which the shadow
    keeps from being used by the processor): if it is a far call/jmp, emulate it against the
    guest's own descriptor tables and return True; otherwise the fault is the guest's."""
    from bt.classify import classify
    from bt.scan import GuestInsn

    try:
        code = mon._read_code(eip, 15)
    except Exception:  # noqa: BLE001 - unreadable: the fault is the guest's
        return False
    insn = next(_decoder().disasm(code, eip, 1), None)  # type: ignore[attr-defined]
    if insn is None:
        return False
    g = GuestInsn(eip, insn, classify(insn))
    if g.rule.name not in ("far call", "far jmp"):
        return False
    mon.mstats.gate_emulations += 1
    mon.cpu.clear_exception_in_flight()
    mon.cpu.store()
    co = CalloutSite(g.rule.name, g, eip, g.next_eip, -1, -1)
    mon.counter.after_run(mon._pc(eip), faulted=True)
    mon.counter.insns += 1  # the far transfer retires here
    try:
        HANDLERS[g.rule.name](mon, co)
    except Fault as fault:
        mon.counter.insns -= 1
        mon._deliver(Event(fault.vector, eip, fault.error_code, eip))
    return True


HANDLERS: dict[str, Handler] = {
    "far jmp": far_jmp, "far call": far_call, "far ret": far_ret, "iret": iret,
    "mov to sreg": load_sreg, "pop sreg": load_sreg,
    "lds": load_far_pointer, "les": load_far_pointer, "lfs": load_far_pointer,
    "lgs": load_far_pointer, "lss": load_far_pointer,
    "lar": _descriptor_check("lar"), "lsl": _descriptor_check("lsl"),
    "verr": _descriptor_check("verr"), "verw": _descriptor_check("verw"),
    "popf": popf, "pushf": pushf,
    "lgdt": _table_register(SEG_GDT), "lidt": _table_register(SEG_IDT),
    "sgdt": _store_table_register(SEG_GDT), "sidt": _store_table_register(SEG_IDT),
    "smsw": _store_selector_register("smsw"), "str": _store_selector_register("str"),
    "sldt": _store_selector_register("sldt"),
    "lldt": lldt, "ltr": ltr, "mov crN": mov_cr_dr, "mov drN": mov_cr_dr,
    "clts": clts, "lmsw": lmsw, "invlpg": invlpg, "wbinvd": nop, "invd": nop, "hlt": hlt,
    "in": port_in, "out": port_out, "ins": string_io, "outs": string_io,
    "int n": software_interrupt, "int3": software_interrupt, "into": software_interrupt,
    "int1": software_interrupt, "undefined": undefined, "fpu": fpu,
    "breakpoint": breakpoint, "adapted store": adapted_store,
    "ret": near16, "jmp": near16, "call": near16, "jmp indirect": near16, "call indirect": near16,
    "cpuid": by_oracle, "rdtsc": by_oracle, "rdmsr": by_oracle, "wrmsr": by_oracle,
}
