"""The monitor's range in the guest's linear address space, and its moves.

The monitor lives in a 4 MiB slot of every address space the guest uses
(:mod:`runtime.vmm.monitor_space` lays it out): the identity map while the
guest's paging is off, every shadow root while it is on. The guest owns its
whole address space, so when its page directory maps that slot, or one of its
system tables (GDT, IDT, LDT, TSS) lies in it, the monitor moves to the highest
slot the guest leaves unmapped and unused, as VirtualBox's raw mode moved its
hypervisor area: every structure that holds the monitor's linear addresses is
rebuilt or flushed.

A guest may map all 4 GiB (kvm-unit-tests' start-up code identity-maps it with
4 MiB pages). Then no slot is unmapped, and the monitor borrows a slot whose
guest mapping leads to no RAM and no device (:meth:`MonitorRange._slot_open_bus`):
on the bare PC an access there reaches nothing, and the bare machine ends the
run at it. Under the monitor the slot's pages are the monitor's, supervisor and
read-only: every guest write there faults, and the monitor reports it as the
bare machine does ("write to memory outside guest RAM"); so does every access
to the parts of the range the processor does not reach by address (page
tables, shadow pool: not mapped). **The remaining difference**: a guest
*read* of the parts the processor must reach by linear address (the
virtual-CPU page, the shadow GDT/LDT, the lookup table, the translation
cache; :data:`~runtime.vmm.monitor_space.LINEAR_MAPPED`) by translated kernel
code returns the monitor's bytes instead of ending the run, as unicorn has no
segment limits to fence them off (VMware's monitor used a truncated guest data
segment). Guest user code (CPL 3) cannot read any of it (supervisor pages).

Also here: switching what the processor walks when the guest's CR0.PG or CR3
changes (a shadow root, or the identity map), and the fetch walk the
processor would make through the new tables.

A mixin of :class:`runtime.vmm.monitor.Monitor`; owns ``space`` (the
:class:`~runtime.vmm.monitor_space.MonitorSpace` now in use). Runs inside
unicorn hooks (callouts, faults) or between runs.
"""

from __future__ import annotations

import struct
from dataclasses import replace

from unicorn import x86_const as X
from unicorn.unicorn_const import UC_CTL_IO_WRITE, UC_CTL_TLB_FLUSH

from runtime.pc.cpustate import SEG_GDT, SEG_IDT, SEG_LDT, SEG_TR
from runtime.pc.paging import PageFault, PhysicalAccessError
from runtime.pc.runloop import StopRun
from runtime.pc.x86 import CR0_PG, CR4_PAE, CR4_PSE, PTE_PS
from runtime.report import Outcome
from runtime.vmm.monitor_space import (
    CODE_PAGE,
    LOOKUP_L1,
    LOOKUP_MISS_L2,
    MON_SIZE,
    SHADOW_GDT,
    SHADOW_LDT,
    TC_END,
    TC_START,
    TRAP_TSS,
)

MASK32 = 0xFFFFFFFF


class MonitorRange:
    """Where the monitor sits in the guest's address space; guest paging switches."""

    def _read_phys_raw(self, paddr: int, n: int) -> bytes:
        return bytes(self.uc.mem_read(paddr, n))

    def _flush_tlb(self) -> None:
        self.uc.ctl(UC_CTL_TLB_FLUSH, UC_CTL_IO_WRITE)

    def _load_real_cr3(self, root: int) -> None:
        """The page directory the processor walks (a shadow root or the identity map)."""
        self.uc.reg_write(X.UC_X86_REG_CR3, root)
        self.cpu.load()  # keep the blob in step (a later store must not undo it)

    def paging_changed(self) -> None:
        """The guest's CR0.PG or CR3 changed: walk its shadow, or the identity map."""
        if self.vcpu.v.cr[0] & CR0_PG:
            if self.vcpu.v.cr[4] & CR4_PAE:
                raise StopRun(Outcome.UNSUPPORTED, "PAE paging (CR4.PAE with CR0.PG): the "
                                                 "monitor shadows 32-bit two-level tables only")
            self.shadow.activate(self.vcpu.v.cr[3])
            self._check_monitor_range()
            self._fetch_walk()
        else:
            self._load_real_cr3(self.space.cr3)
            self._check_monitor_range()
        self._revalidate_code_mappings()

    def _fetch_walk(self) -> None:
        """The processor fetches the next instruction through the new tables, setting their
        accessed bits; translated code never fetches from guest addresses, so the monitor
        walks the current guest code page itself (a fault there is the guest's, later)."""
        if not self.vcpu.translated:
            return
        try:
            eip = self.guest_eip_now()
            self.mem.translate((self.vcpu.v.cs.base + eip) & MASK32)
        except (PageFault, PhysicalAccessError, StopRun):
            pass

    #: set while the monitor occupies a slot the guest maps to no RAM and no device
    borrowed_slot = False

    def _check_monitor_range(self) -> None:
        """The guest owns its whole address space: if its page directory maps the 4 MiB the
        monitor occupies, or one of its system tables (GDT, IDT, LDT, TSS) lies there, the
        monitor moves to a range the guest leaves unmapped and unused. (A table there would
        otherwise be read by the processor from the monitor's pages, e.g. ring-3 selector
        loads through an LDT the guest based in unmapped memory, which natively fault.)"""
        try:
            tables = self._system_table_slots()
            index = self.space.pde_index
            free = self._slot_free(index, tables)
            if not free and self.borrowed_slot and index not in tables and \
                    self._slot_open_bus(index):
                return  # still leads nowhere: the monitor may stay
        except PhysicalAccessError:
            return
        if not free:
            self._relocate()

    def _system_table_slots(self) -> set[int]:
        """The 4 MiB slots (PDE indexes) the guest's GDT, IDT, LDT and TSS occupy."""
        v = self.vcpu.v
        idt = self.cpu.seg(SEG_IDT)  # changed only by lidt, which stores it
        tables = [v.gdtr, (idt.base, idt.limit)]
        if v.ldtr.selector & 0xFFFC:
            tables.append((v.ldtr.base, v.ldtr.limit))
        if v.tr.selector & 0xFFFC:
            tables.append((v.tr.base, v.tr.limit))
        slots: set[int] = set()
        for base, limit in tables:
            first, last = base >> 22, ((base + limit) & MASK32) >> 22
            slots.update(range(first, last + 1) if first <= last else (first, last))
        return slots

    def _slot_free(self, index: int, tables: set[int]) -> bool:
        """Whether the guest leaves the 4 MiB slot ``index`` to the monitor: not one of
        ``tables`` (its system tables' slots), and (paging on) its PDE not present."""
        if index in tables:
            return False
        if not self.vcpu.v.cr[0] & CR0_PG:
            return True
        pd = self.vcpu.v.cr[3] & 0xFFFFF000
        return not struct.unpack("<I", self.mem.read_phys(pd + 4 * index, 4))[0] & 1

    def _slot_open_bus(self, index: int) -> bool:
        """Whether the guest maps the 4 MiB slot ``index`` (paging on) with one 4 MiB page
        whose frames are neither RAM nor a device: accesses there reach nothing."""
        if not self.vcpu.v.cr[0] & CR0_PG or not self.vcpu.v.cr[4] & CR4_PSE:
            return False
        pd = self.vcpu.v.cr[3] & 0xFFFFF000
        pde = struct.unpack("<I", self.mem.read_phys(pd + 4 * index, 4))[0]
        if not pde & 1 or not pde & PTE_PS:
            return False
        start = pde & 0xFFC00000
        end = start + (4 << 20)
        if start < self.ram_size + MON_SIZE:  # RAM, or the monitor's own memory behind it
            return False
        return not any(r.start < end and start < r.stop for r, _ in self.mmio.regions)

    def open_bus_access(self, linear: int, write: bool) -> None:
        """A guest access the processor refused in the borrowed slot: what the bare machine
        reports for an access that reaches no memory (runtime.pc.machine._after_error)."""
        what = "write to memory outside guest RAM" if write else "read of memory outside guest RAM"
        self.mstats.open_bus_accesses += 1
        raise StopRun(Outcome.GUEST_ERROR, f"{what} (at {linear:#010x}, a 4 MiB page the guest "
                                         f"maps to no RAM and no device)")

    def _relocate(self) -> None:
        """Move the monitor's range to the highest 4 MiB slot the guest leaves unmapped (as
        VirtualBox's raw mode moved its hypervisor area), flushing what holds its addresses."""
        lowest = (self.ram_size + MON_SIZE - 1) >> 22  # never over guest RAM (paging off)
        old_index = self.space.pde_index
        tables = self._system_table_slots()
        slots = range(1023, lowest - 1, -1)
        index = next((i for i in slots if i != old_index and self._slot_free(i, tables)), None)
        borrowed = index is None
        if index is None:
            index = next((i for i in slots if i not in tables and self._slot_open_bus(i)), None)
        if index is None:
            raise StopRun(Outcome.UNSUPPORTED, "the guest maps every 4 MiB of its address space "
                                             "above its RAM to RAM or devices: no room left "
                                             "for the monitor")
        self.borrowed_slot = borrowed
        if borrowed:
            self.mstats.borrowed_slots += 1
        if index == old_index:
            return
        self.space = replace(self.space, base=index << 22)
        # map the new place first: unicorn walks the tables for ctl_remove_cache, and a walk
        # that fails there leaves a #PF "in flight" (the next fault would become #DF)
        identity = self.space.cr3
        self.uc.mem_write(identity + 4 * old_index, bytes(4))
        self.uc.mem_write(identity + 4 * index, struct.pack("<I", self.space.pde))
        self.shadow.move_monitor(old_index)
        lin = self.space.linear
        self.miss = lin(CODE_PAGE)
        self.rewriter.layout = self._layout()
        self.tc.relocate(lin(TC_START), lin(TC_END), lin(LOOKUP_L1), self.miss,
                         lin(LOOKUP_MISS_L2), self._l2_pool())
        self.counter.forget_code()
        vcpu = self.vcpu
        vcpu.shadow_gdt, vcpu.shadow_ldt, vcpu.trap_tss = (lin(SHADOW_GDT), lin(SHADOW_LDT),
                                                           lin(TRAP_TSS))
        self.cpu.load()
        self.cpu.set_seg(SEG_GDT, vcpu.real_gdtr())
        self.cpu.set_seg(SEG_LDT, vcpu.real_ldtr())
        vcpu.set_seg(SEG_TR, vcpu.v.tr)
        self.cpu.store()
        self.uc.ctl_flush_tb()
        self._flush_tlb()
        self.mstats.relocations += 1
