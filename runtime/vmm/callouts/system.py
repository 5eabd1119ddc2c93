"""System registers and instructions: descriptor-table registers, CRn/DRn, TLB, hlt, cpuid.

lgdt/lidt/lldt/ltr load the virtual CPU's table registers (the shadow GDT/LDT,
the monitor's range and the vCPU page follow); sgdt/sidt/smsw/str/sldt reach a
callout where the inline form cannot take the operand; mov to and from CRn and
DRn, clts, lmsw and invlpg act on the virtual CPU and the shadow MMU; hlt idles
the run loop; cpuid, rdtsc, rdmsr, wrmsr and the bits a CR4 write keeps come
from the processor itself (:mod:`runtime.vmm.oracle`).
"""

from __future__ import annotations

import struct

from capstone import x86_const as C
from unicorn import x86_const as X

from bt.rewrite import CalloutSite
from runtime.pc.cpustate import SEG_GDT, SEG_IDT, SEG_LDT, SEG_TR, SegCache
from runtime.pc.delivery import Fault
from runtime.pc.x86 import (
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
    Descriptor,
    Vector,
)
from runtime.vmm.callouts.host import CalloutHost, Handler
from runtime.vmm.callouts.operands import (
    MASK32,
    effective_address,
    opsize,
    read_operand,
    read_reg,
    uc_reg,
    write_operand,
    write_reg,
)
from runtime.vmm.oracle import OUT_REGS, Oracle


def table_register(index: int) -> Handler:
    def handler(mon: CalloutHost, co: CalloutSite) -> bool:
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
            mon.sync_shadow_tables()
        mon.check_monitor_range()
        mon.write_vcpu_page()
        return False
    return handler


def store_table_register(index: int) -> Handler:
    """sgdt/sidt through the callout (when the inline form could not take the operand)."""
    def handler(mon: CalloutHost, co: CalloutSite) -> bool:
        insn = co.ginsn.insn  # type: ignore[union-attr]
        mon.cpu.load()
        reg = mon.vcpu.seg(index)
        base = reg.base & (0xFFFFFF if opsize(insn) == 2 else MASK32)  # 16-bit: 24-bit base
        mon.mem.write(effective_address(mon, insn, insn.operands[0]),
                      struct.pack("<HI", reg.limit & 0xFFFF, base))
        return False
    return handler


def store_selector_register(what: str) -> Handler:
    """smsw/str/sldt through the callout: r16/r32 or m16."""
    def handler(mon: CalloutHost, co: CalloutSite) -> bool:
        insn = co.ginsn.insn  # type: ignore[union-attr]
        mon.cpu.load()
        value = {"smsw": lambda: mon.vcpu.v.cr[0], "str": lambda: mon.vcpu.v.tr.selector,
                 "sldt": lambda: mon.vcpu.v.ldtr.selector}[what]()
        op = insn.operands[0]
        write_operand(mon, insn, 0, value, 2 if op.type == C.X86_OP_MEM else None)
        return False
    return handler


def _system_descriptor(mon: CalloutHost, selector: int) -> tuple[int, Descriptor]:
    """A GDT descriptor for lldt/ltr (#GP(sel) outside the GDT or TI=1)."""
    base, limit = mon.vcpu.v.gdtr
    index = selector & 0xFFF8
    if selector & 4 or index + 7 > limit:
        raise Fault(Vector.GP, selector & 0xFFFC)
    addr = (base + index) & MASK32
    return addr, Descriptor.from_bytes(mon.mem.read(addr, 8))


def lldt(mon: CalloutHost, co: CalloutSite) -> bool:
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
    mon.sync_shadow_tables(new_ldt=True)
    mon.check_monitor_range()
    mon.write_vcpu_page()
    return False


def ltr(mon: CalloutHost, co: CalloutSite) -> bool:
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
    mon.check_monitor_range()
    mon.write_vcpu_page()
    return False


def mov_cr_dr(mon: CalloutHost, co: CalloutSite) -> bool:
    insn = co.ginsn.insn  # type: ignore[union-attr]
    dst, src = insn.operands[0], insn.operands[1]
    names = (insn.reg_name(dst.reg), insn.reg_name(src.reg))
    v = mon.vcpu.v
    if names[1].startswith("dr"):  # the debug registers are the real ones (DR6 as unicorn
        n = _debug_register(mon, int(names[1][2:]))  # sets it on traps; ring 3 uses them)
        write_reg(mon, insn, dst.reg, mon.uc.reg_read(uc_reg(f"dr{n}")))
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
        mon.uc.reg_write(uc_reg(f"dr{n}"), value)
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


def _debug_register(mon: CalloutHost, n: int) -> int:
    """DR4/DR5 are DR6/DR7 while CR4.DE is clear and #UD while it is set (SDM vol 3B
    17.2.2)."""
    if n in (4, 5):
        if mon.vcpu.v.cr[4] & CR4_DE:
            raise Fault(Vector.UD)
        return n + 2
    return n


def _kept_cr4(mon: CalloutHost, value: int) -> int:
    """What the processor keeps of a CR4 write: the bare machine's CPU drops the bits of
    features it lacks (SMAP, PKE, OSFXSR without SSE); asked of the monitor's scratch engine,
    the same CPU model (corpus/regressions/cr4_unsupported_bits)."""
    out = _oracle(mon).run(b"\x0f\x22\xe0\x0f\x20\xe0", {X.UC_X86_REG_EAX: value})
    return out[X.UC_X86_REG_EAX]


def set_cr0(mon: CalloutHost, value: int) -> None:
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


def clts(mon: CalloutHost, co: CalloutSite) -> bool:
    set_cr0(mon, mon.vcpu.v.cr[0] & ~CR0_TS)
    return False


def lmsw(mon: CalloutHost, co: CalloutSite) -> bool:
    """LMSW: loads PE (never clears it), MP, EM, TS."""
    value = read_operand(mon, co.ginsn.insn, 0, 2) & 0xF  # type: ignore[union-attr]
    cr0 = mon.vcpu.v.cr[0]
    set_cr0(mon, (cr0 & ~(CR0_MP | CR0_EM | CR0_TS)) | value | (cr0 & CR0_PE))
    return False


def nop(mon: CalloutHost, co: CalloutSite) -> bool:
    """wbinvd, invd: no caches to write back."""
    return False


def invlpg(mon: CalloutHost, co: CalloutSite) -> bool:
    """INVLPG m: drop the shadow entry for that linear address."""
    insn = co.ginsn.insn  # type: ignore[union-attr]
    if mon.vcpu.v.cr[0] & CR0_PG:
        linear = effective_address(mon, insn, insn.operands[0])
        mon.shadow.invlpg(linear)
        mon.revalidate_code_mappings(linear & ~0xFFF)
    return False


def hlt(mon: CalloutHost, co: CalloutSite) -> bool:
    """Idle until the next interrupt: the run loop does it, after this run stops."""
    mon.halt()
    return False



def by_oracle(mon: CalloutHost, co: CalloutSite) -> bool:
    insn = co.ginsn.insn  # type: ignore[union-attr]
    regs = {r: mon.cpu.reg(r) for r in OUT_REGS}
    regs[X.UC_X86_REG_CR4] = mon.vcpu.v.cr[4]  # cpuid leaf 1 reports CR4.OSXSAVE
    out = _oracle(mon).run(bytes(insn.bytes), regs)
    for r, value in out.items():
        mon.cpu.set_reg(r, value)
    return False


def msr_access(mon: CalloutHost, co: CalloutSite) -> bool:
    """rdmsr/wrmsr: the MSRs the platform's devices own (IA32_APIC_BASE, runtime.pc.msr)
    from their models; every other one from the oracle, as the processor answers."""
    msr = mon.cpu.reg(X.UC_X86_REG_ECX)
    if not mon.msrs.handles(msr):
        return by_oracle(mon, co)
    if bytes(co.ginsn.insn.bytes)[-1] == 0x32:  # type: ignore[union-attr]  # rdmsr: 0f 32
        value = mon.msrs.read(msr)
        mon.cpu.set_reg(X.UC_X86_REG_EAX, value & 0xFFFFFFFF)
        mon.cpu.set_reg(X.UC_X86_REG_EDX, value >> 32)
    else:
        mon.msrs.write(msr, mon.cpu.reg(X.UC_X86_REG_EDX) << 32 | mon.cpu.reg(X.UC_X86_REG_EAX))
    return False


def _oracle(mon: CalloutHost) -> Oracle:
    """The monitor's own scratch engine, made at first use."""
    oracle = mon.oracle
    if oracle is None:
        oracle = mon.oracle = Oracle()
    return oracle
