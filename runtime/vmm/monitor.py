"""The monitor: guest kernel code translated at ring 1, guest user code direct at ring 3.

A :class:`Monitor` is the bare :class:`runtime.pc.machine.Machine` (same
devices, clock, run loop, instruction counting and limits) with the guest
moved out of ring 0:

* guest kernel code never runs as it is: :mod:`bt` translates it into the
  translation cache, which runs at CPL 1 (ring compression); chained
  blocks and the inline lookup keep unicorn running many blocks per
  ``emu_start``; sensitive and privileged instructions reach Python only
  as *callouts* (:mod:`runtime.vmm.callouts`);
* guest user code runs direct at CPL 3 at its own addresses;
* every exception and interrupt is taken by the monitor and reflected
  through the guest's virtual IDT by the bare machine's own delivery code,
  working on the :class:`runtime.vmm.vcpu.VirtualCpu` view (guest EIP, guest
  CS and CPL, guest IOPL), then the guest resumes translated or direct;
* the monitor's memory is a reserved range of the linear address space
  (:mod:`runtime.vmm.monitor_space`), with pages of translated guest code
  write-protected so that a guest write invalidates their blocks.

Everything the Python side does runs inside unicorn hooks (callouts,
faults, I/O) or between ``emu_start`` calls (interrupt injection, hlt),
exactly as in the bare machine.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field, replace

from unicorn import UC_ERR_INSN_INVALID, UcError
from unicorn import x86_const as X
from unicorn.unicorn_const import UC_CTL_IO_WRITE, UC_CTL_TLB_FLUSH

from bt.cache import Block, TranslationCache
from bt.rewrite import FIX_ENTRY, CalloutSite, Layout, MapEntry, Rewriter, adaptable_store
from bt.scan import Scanner
from runtime.pc.cpustate import SEG_CS, SEG_GDT, SEG_IDT, SEG_LDT, SEG_SS, SEG_TR, SegCache
from runtime.pc.delivery import Event, Fault, InterruptDelivery
from runtime.pc.machine import BOOT_GDT, Machine, MachineConfig, _Stop
from runtime.pc.paging import GuestMemory, PageFault, PhysicalAccessError
from runtime.pc.x86 import (
    CR0_EM,
    CR0_ET,
    CR0_PE,
    CR0_PG,
    CR0_TS,
    CR0_WP,
    CR4_PAE,
    CR4_TSD,
    ERROR_CODE_VECTORS,
    PF_U,
    PF_W,
    PTE_A,
    Vector,
    vector_name,
)
from runtime.report import Outcome, RunResult
from runtime.vmm import callouts
from runtime.vmm.monitor_space import (
    CODE_PAGE,
    LOOKUP_L1,
    LOOKUP_L2_COUNT,
    LOOKUP_L2_POOL,
    LOOKUP_MISS_L2,
    MON_SIZE,
    SHADOW_GDT,
    SHADOW_LDT,
    TC_END,
    TC_START,
    TRAP_SELECTOR,
    TRAP_TSS,
    VCPU_PAGE,
    build_page_tables,
    place,
    protect_page,
    ring3_task_switch_possible,
    shadow_table,
)
from runtime.vmm.shadow import MonitorRangeConflict, ShadowMMU, ShadowRetry
from runtime.vmm.vcpu import VirtualCpu


def exec_breakpoints(dr: list[int]) -> frozenset[int]:
    """Linear addresses of the enabled instruction breakpoints in DR0-DR3 / DR7 (SDM vol
    3B, 17.2.4: L/G bits 2i, 2i+1; R/W bits 16+4i = 00 is an instruction breakpoint)."""
    dr7 = dr[7]
    return frozenset(dr[i] & 0xFFFFFFFF for i in range(4)
                     if dr7 & (3 << (2 * i)) and not (dr7 >> (16 + 4 * i)) & 3)


#: trace faults by one guest instruction before it is retranslated as a callout
ADAPT_AFTER = 4

#: the software interrupt translated code uses for callouts and exits
CALLOUT_VECTOR = 0xF1
CR4_OSFXSR = 1 << 9
CR4_PCE = 1 << 8
MASK32 = 0xFFFFFFFF


@dataclass
class MonitorStats:
    """The monitor's counters (``bt run --stats``)."""

    callouts: Counter[str] = field(default_factory=Counter)
    exits_to_monitor: int = 0
    lookup_misses: int = 0
    traps_in_translated_code: Counter[str] = field(default_factory=Counter)
    traps_in_user_code: Counter[str] = field(default_factory=Counter)
    hidden_faults: int = 0
    code_page_writes: int = 0
    traced_pages: int = 0
    one_off_blocks: int = 0
    kernel_entries: int = 0
    user_entries: int = 0
    mode_flushes: int = 0
    gate_emulations: int = 0
    relocations: int = 0
    adaptive_retranslations: int = 0
    remapped_code_invalidations: int = 0
    unaccessed_code_invalidations: int = 0
    user_blocks_translated: int = 0  # the design makes this 0: user code runs direct

    def as_dict(self) -> dict[str, object]:
        d: dict[str, object] = {}
        for k, v in self.__dict__.items():
            d[k] = dict(sorted(v.items())) if isinstance(v, Counter) else v
        return d


class _CodeMemory:
    """The translation cache's access to monitor memory (linear addresses)."""

    def __init__(self, mon: Monitor) -> None:
        self.mon = mon

    def write(self, linear: int, data: bytes) -> None:
        self.mon.uc.mem_write(self.mon.space.to_phys(linear), data)

    def drop_cached(self, linear: int, size: int) -> None:
        if self.mon.booted:
            self.mon.uc.ctl_remove_cache(linear, linear + size)
            self.mon._scrub_exception_in_flight()


class Monitor(Machine):
    """The PC with a VMware-style binary-translating monitor between it and the guest."""

    def __init__(self, config: MachineConfig) -> None:
        super().__init__(config)
        self.booted = False
        #: the guest EIP the run ended at when a triple fault stopped it in the monitor
        self._final_eip: int | None = None
        self.space = place(self.ram_size)
        self.uc.mem_map(self.space.phys, MON_SIZE)
        build_page_tables(self.space, self.uc.mem_write)
        lin = self.space.linear
        self.vcpu = VirtualCpu(self.cpu, lin(SHADOW_GDT), lin(SHADOW_LDT), lin(TRAP_TSS))
        self.mem = GuestMemory(self._read_phys, self._write_guest, self.ram_size,
                               self.vcpu.paging_regs, write_ad=self.uc.mem_write)
        self.delivery = InterruptDelivery(self.uc, self.vcpu, self.mem)
        self.uc.mem_write(self.space.phys + CODE_PAGE, bytes([0xCD, CALLOUT_VECTOR]))
        self.miss = lin(CODE_PAGE)
        self.rewriter = Rewriter(self._layout())
        self.scanner = Scanner(self._read_linear)
        self.tc = TranslationCache(_CodeMemory(self), lin(TC_START), lin(TC_END), self.scanner,
                                   self.rewriter, lin(LOOKUP_L1), self.miss,
                                   lin(LOOKUP_MISS_L2), self._l2_pool())
        self.tc.clear_lookup(0)
        self.shadow = ShadowMMU(self.mem, self._read_phys_raw, self.uc.mem_write,
                                self.space.shadow_pool(),
                                lambda: (self.space.pde_index, self.space.pde),
                                self._load_real_cr3, self._flush_tlb, self._shadow_code_written,
                                self.vcpu.paging_regs)
        self.counter.provider = self._tc_offsets
        self.counter.state.weighted = 1
        self.traced: set[int] = set()
        self.mstats = MonitorStats()
        self._halted = False
        self._real_cr04 = (0, 0)
        self._trace_faults_at: Counter[tuple[int, int]] = Counter()
        self._code_lpages: dict[int, set[Block]] = {}  # linear page -> blocks from it
        self._in_user = False
        self._user_xmm: list[int] | None = None
        self._gdt_image = b""
        self._ldt_image = b""
        self.last_block: Block | None = None
        #: linear addresses of guest user code the monitor saw trap (direct execution)
        self.user_eips: set[int] = set()

    def _layout(self) -> Layout:
        lin = self.space.linear
        fields = {name: self.space.vcpu_field(name) for name in ("smsw", "str", "sldt", "sgdt", "sidt")}
        return Layout(lin(LOOKUP_L1), self.miss, fields, CALLOUT_VECTOR)

    def _l2_pool(self) -> list[int]:
        return [self.space.linear(LOOKUP_L2_POOL + i * 0x40000) for i in range(LOOKUP_L2_COUNT)]

    # --- paging: the identity map (guest paging off) or the shadows ------------------------------
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
                raise _Stop(Outcome.UNSUPPORTED, "PAE paging (CR4.PAE with CR0.PG): the "
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
        except (PageFault, PhysicalAccessError, _Stop):
            pass

    def _check_monitor_range(self) -> None:
        """The guest owns its whole address space: if its page directory maps the 4 MiB the
        monitor occupies, or one of its system tables (GDT, IDT, LDT, TSS) lies there, the
        monitor moves to a range the guest leaves unmapped and unused. (A table there would
        otherwise be read by the processor from the monitor's pages, e.g. ring-3 selector
        loads through an LDT the guest based in unmapped memory, which natively fault.)"""
        try:
            free = self._slot_free(self.space.pde_index, self._system_table_slots())
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

    def _relocate(self) -> None:
        """Move the monitor's range to the highest 4 MiB slot the guest leaves unmapped (as
        VirtualBox's raw mode moved its hypervisor area), flushing what holds its addresses."""
        lowest = (self.ram_size + MON_SIZE - 1) >> 22  # never over guest RAM (paging off)
        old_index = self.space.pde_index
        tables = self._system_table_slots()
        for index in range(1023, lowest - 1, -1):
            if index != old_index and self._slot_free(index, tables):
                break
        else:
            raise _Stop(Outcome.UNSUPPORTED, "the guest maps every 4 MiB of its address space "
                                             "above its RAM: no room left for the monitor")
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

    def _shadow_code_written(self, page: int) -> None:
        """The shadow saw a write to a traced code page."""
        self.tc.invalidate_page(page)
        protect_page(self.space, page, True, self.uc.mem_write)
        self.traced.discard(page)
        self.mstats.code_page_writes += 1

    def _phys_page(self, linear_page: int) -> int:
        try:
            return self.mem.translate(linear_page, peek=True) & ~0xFFF
        except (PageFault, PhysicalAccessError):
            return -1

    def _revalidate_code_mappings(self, only: int | None = None) -> None:
        """Blocks are found by linear address: when the guest's mapping of a linear page with
        translated code changes (invlpg of it, another CR3, paging on or off), the blocks
        translated from another frame are dropped (the next run translates the new code).
        So are blocks on a page whose guest PTE has its accessed bit clear: after this TLB
        flush the processor's first fetch there walks the tables and sets it (SDM vol 3A
        4.8), which translated code, fetched from the cache, never does; translating the
        block again reads the page through the guest's tables."""
        pages = [only] if only is not None else list(self._code_lpages)
        paging = self.vcpu.v.cr[0] & CR0_PG
        for lp in pages:
            blocks = self._code_lpages.get(lp)
            if not blocks:
                self._code_lpages.pop(lp, None)
                continue
            now = self._phys_page(lp)
            unaccessed = bool(paging) and not self.mem.leaf(lp) & PTE_A
            for block in list(blocks):
                if not block.valid:
                    blocks.discard(block)
                elif block.mapping.get(lp) != now:  # type: ignore[attr-defined]
                    self.tc.invalidate(block)
                    blocks.discard(block)
                    self.mstats.remapped_code_invalidations += 1
                elif unaccessed and now >= 0:
                    self.tc.invalidate(block)
                    blocks.discard(block)
                    self.mstats.unaccessed_code_invalidations += 1

    def _paging_fault(self, cr2: int, err: int) -> bool:
        """A #PF with guest paging on: True when it was hidden (the shadow now allows the
        access: run it again); raises PageFault for a true fault (reflect it)."""
        try:
            self.shadow.fault(cr2, bool(err & PF_W), bool(err & PF_U), self.space.contains(cr2))
        except MonitorRangeConflict:
            self._relocate()
        except ShadowRetry:
            self.paging_changed()
        except PhysicalAccessError as exc:
            raise _Stop(Outcome.GUEST_ERROR, f"access at {cr2:#010x}: {exc}") from None
        self.mstats.hidden_faults += 1
        self.cpu.load()
        self.cpu.clear_exception_in_flight()
        self.cpu.store()
        return True

    # --- guest memory, as the guest sees it ---------------------------------------------------
    def _read_linear(self, linear: int, n: int) -> bytes:
        return self.mem.read(linear, n)

    def _write_guest(self, paddr: int, data: bytes) -> None:
        """Every write the monitor makes into guest RAM: translated code there is dropped,
        shadows built from a page-table page there are dropped."""
        self.uc.mem_write(paddr, data)
        first, last = paddr & ~0xFFF, (paddr + len(data) - 1) & ~0xFFF
        for page in range(first, last + 1, 0x1000):
            if page in self.traced:
                self._code_written(page)
            if page in self.shadow.table_pages:
                self.shadow.table_written(page)
        v = self.vcpu.v
        slot = (v.cr[3] & 0xFFFFF000) + 4 * self.space.pde_index
        if v.cr[0] & CR0_PG and paddr < slot + 4 and slot < paddr + len(data):
            self._check_monitor_range()  # its PDE over the monitor's slot was written

    def _read_code(self, eip: int, size: int) -> bytes:
        return self.mem.read((self.vcpu.v.cs.base + eip) & MASK32, size)

    # --- tracing guest code pages ----------------------------------------------------------------
    def _trace(self, page: int) -> None:
        """Write-protect guest physical ``page`` (it holds translated code) in the identity map
        and in every shadow."""
        if page in self.traced or page >= self.ram_size:
            return
        protect_page(self.space, page, False, self.uc.mem_write)
        self.shadow.trace_code(page)
        self._flush_tlb()  # a downgrade: drop the stale entry
        self.traced.add(page)
        self.mstats.traced_pages += 1

    def _code_written(self, page: int) -> None:
        """The guest wrote a page holding translated code: drop its blocks, let writes through."""
        self.tc.invalidate_page(page)
        protect_page(self.space, page, True, self.uc.mem_write)
        self.traced.discard(page)
        self.shadow.code_pages.discard(page)
        self.mstats.code_page_writes += 1

    # --- blocks ------------------------------------------------------------------------------------
    def _block(self, eip: int) -> Block:
        """The translation of guest ``eip`` in the current code segment (translating it now)."""
        base = self.vcpu.v.cs.base
        if self.vcpu.v.cpl == 3:  # never by design: user code runs direct
            self.mstats.user_blocks_translated += 1
        block = self.tc.lookup(base, eip)
        if block is None:
            mapping: dict[int, int] = {}

            def to_phys(linear_page: int) -> int:
                mapping[linear_page] = self._phys_page(linear_page)
                return mapping[linear_page]

            block = self.tc.translate(base, eip, to_phys=to_phys)
            block.mapping = mapping  # type: ignore[attr-defined]
            for lp in mapping:
                self._code_lpages.setdefault(lp, set()).add(block)
            for page in block.pages:
                self._trace(page)
        self.last_block = block
        return block

    def _tc_offsets(self, address: int, size: int) -> tuple[int, ...] | None:
        """For the instruction clock: retiring instructions of translated code at ``address``."""
        if not self.space.contains(address):
            return None
        block = self.tc.block_at(address)
        return block.retiring_offsets(address, size) if block is not None else ()

    # --- entering the guest ----------------------------------------------------------------------
    def _check_iopl_mode(self) -> None:
        """Translations assume a virtual IOPL of 0 or not (pushfd/popfd sequences) and the
        guest's CR0.TS/EM clear or not (floating point as callouts): keep them true."""
        viopl0 = self.vcpu.v.iopl == 0
        fpu_traps = bool(self.vcpu.v.cr[0] & (CR0_TS | CR0_EM))
        breakpoints = exec_breakpoints(self.vcpu.v.dr)
        rw = self.rewriter
        if (viopl0, fpu_traps, breakpoints) != (rw.viopl0, rw.fpu_traps, rw.breakpoints):
            rw.viopl0, rw.fpu_traps, rw.breakpoints = viopl0, fpu_traps, breakpoints
            self.tc.flush()
            self.counter.forget_code()
            self.mstats.mode_flushes += 1

    def _enter_kernel(self, eip: int) -> None:
        """Continue translated at guest ``eip`` (CPL, CS and the rest already set)."""
        self._check_iopl_mode()
        if self.vcpu.v.cs.base != self.tc.table_cs_base:
            self.tc.clear_lookup(self.vcpu.v.cs.base)
        try:
            block = self._block(eip)
        except PageFault as pf:
            self.vcpu.set_cr2(pf.cr2)
            self._deliver(Event(Vector.PF, eip, pf.error_code, eip))
            return
        except PhysicalAccessError:  # the bare machine's words for the same event
            raise _Stop(Outcome.GUEST_ERROR, "fetch from memory outside guest RAM") from None
        self.cpu.set_reg(X.UC_X86_REG_EIP, block.body)

    def _enter_guest(self) -> None:
        """After a delivery or an emulated transfer: run the guest where the virtual CPU says."""
        eip = self.vcpu.pending_eip
        assert eip is not None, "no guest EIP to enter"
        self.vcpu.pending_eip = None
        self._sync_real_cr0()
        self._swap_scratch_xmm()
        if self.vcpu.translated:
            self.mstats.kernel_entries += 1
            self._enter_kernel(eip)
        else:
            self.mstats.user_entries += 1
            self.shadow.entering_user()
            self._sync_shadow_tables()
            self.cpu.set_reg(X.UC_X86_REG_EIP, eip)

    def _swap_scratch_xmm(self) -> None:
        """Translated code uses xmm5-xmm7 as scratch: keep the guest's own values (its user
        code's, when the guest enabled SSE with CR4.OSFXSR) across kernel stretches."""
        user = not self.vcpu.translated
        if user == self._in_user:
            return
        self._in_user = user
        if not self.vcpu.v.cr[4] & CR4_OSFXSR:
            return
        if user and self._user_xmm is not None:
            for reg, value in zip(_SCRATCH_XMM, self._user_xmm, strict=True):
                self.uc.reg_write(reg, value)
        elif not user:
            self._user_xmm = [self.uc.reg_read(reg) for reg in _SCRATCH_XMM]

    def _deliver(self, event: Event) -> None:
        try:
            super()._deliver(event)
        except _Stop as stop:
            if stop.outcome is Outcome.TRIPLE_FAULT:  # the processor stays at the event's EIP
                self._final_eip = event.eip
            raise
        self._enter_guest()

    def _sync_real_cr0(self) -> None:
        """Real CR0: PG and WP for the monitor's tables; the guest's low bits (smsw at ring 3
        reads them) except TS/EM while translated code runs (it uses xmm6/xmm7)."""
        low = self.vcpu.v.cr[0] & 0xFFFF
        if self.vcpu.translated:
            low &= ~(CR0_TS | CR0_EM)
        want = CR0_PG | CR0_WP | CR0_PE | CR0_ET | low
        # CR4: OSFXSR for xmm6/xmm7; the guest's TSD and PCE (rdtsc/rdpmc at ring 3)
        want4 = CR4_OSFXSR | (self.vcpu.v.cr[4] & (CR4_TSD | CR4_PCE))
        if (want, want4) != self._real_cr04:  # only the monitor writes the real ones
            self.uc.reg_write(X.UC_X86_REG_CR4, want4)
            self.uc.reg_write(X.UC_X86_REG_CR0, want)
            self._real_cr04 = (want, want4)

    def _sync_shadow_tables(self) -> None:
        """Before guest user code runs: use the guest's GDT/LDT as they are, or their
        shadows when they would let ring 3 switch tasks (kept equal to the guest's)."""
        vcpu = self.vcpu
        base, limit = vcpu.v.gdtr
        self._gdt_image, gdt_shadow = self._shadow(base, limit, SHADOW_GDT, self._gdt_image)
        ldt = vcpu.v.ldtr
        ldt_shadow = False
        if ldt.selector & 0xFFFC:
            self._ldt_image, ldt_shadow = self._shadow(ldt.base, ldt.limit, SHADOW_LDT,
                                                       self._ldt_image)
        if (gdt_shadow, ldt_shadow) != (vcpu.gdt_shadowed, vcpu.ldt_shadowed):
            vcpu.gdt_shadowed, vcpu.ldt_shadowed = gdt_shadow, ldt_shadow
            self.cpu.load()
            self.cpu.set_seg(SEG_GDT, vcpu.real_gdtr())
            self.cpu.set_seg(SEG_LDT, vcpu.real_ldtr())
            self.cpu.store()

    def _shadow(self, base: int, limit: int, where: int, old: bytes) -> tuple[bytes, bool]:
        """(the guest table's bytes, whether it must be shadowed); the shadow kept current."""
        size = min(limit + 1, 0x10000) & ~7
        try:  # the processor reads nothing on lgdt: no accessed bits set by this look
            raw = self.mem.read(base, size, peek=True) if size else b""
        except (PageFault, PhysicalAccessError):
            raw = b"\0" * size
        shadowed = ring3_task_switch_possible(raw)
        if shadowed and raw != old:
            self.uc.mem_write(self.space.phys + where, shadow_table(raw))
        return raw, shadowed

    def _task_register(self) -> SegCache:
        return self.vcpu.v.tr

    def write_vcpu_page(self) -> None:
        """The values translated code loads for smsw/str/sldt/sgdt/sidt (no Python on the path)."""
        v = self.vcpu.v
        self.cpu.load()
        tr = v.tr.selector
        idt = self.cpu.seg(SEG_IDT)
        page = struct.pack("<IIIIHIxxHI", v.cr[0], tr, v.ldtr.selector, 0,
                           v.gdtr[1], v.gdtr[0], idt.limit, idt.base)
        self.uc.mem_write(self.space.phys + VCPU_PAGE, page)

    # --- boot ------------------------------------------------------------------------------------
    def boot(self, state: object) -> None:
        """The multiboot state of the bare machine, then the guest moved to ring 1."""
        super().boot(state)  # type: ignore[arg-type]
        cpu = self.cpu
        cpu.load()
        v = self.vcpu.v
        v.cr = [cpu.cr(n) for n in range(5)]  # unicorn's reset values, as the native run has
        v.cs = cpu.seg(SEG_CS)
        v.cpl = 0
        ss = cpu.seg(SEG_SS)
        self.vcpu.set_seg(SEG_GDT, SegCache(0, BOOT_GDT, cpu.seg(SEG_GDT).limit, 0))
        self.vcpu.set_seg(SEG_LDT, SegCache(0, 0, 0, 0))
        self.vcpu.set_seg(SEG_TR, cpu.seg(SEG_TR))
        self.vcpu.load_code_and_stack(v.cs, ss, 0)
        cpu.store()
        self._sync_shadow_tables()
        self.uc.reg_write(X.UC_X86_REG_CR3, self.space.cr3)
        self._sync_real_cr0()
        self.vcpu.set_reg(X.UC_X86_REG_EFLAGS, cpu.reg(X.UC_X86_REG_EFLAGS))
        self.write_vcpu_page()
        self.booted = True
        self._enter_kernel(cpu.reg(X.UC_X86_REG_EIP))

    # --- where the guest is -----------------------------------------------------------------------
    def _xmm(self, regid: int) -> int:
        return self.uc.reg_read(regid) & MASK32

    def _recover(self, entry: MapEntry | None, linear: int) -> int:
        """Apply the fixup of the translated instruction at ``linear``; the guest EIP there."""
        if linear in (self.miss, self.miss + 2) or (entry is not None and entry.fixup == FIX_ENTRY):
            self.cpu.set_reg(X.UC_X86_REG_ECX, self._xmm(X.UC_X86_REG_XMM7))
            return self._xmm(X.UC_X86_REG_XMM6)
        assert entry is not None
        if 0 <= entry.fixup < 8:
            self.cpu.set_reg(_GPR[entry.fixup], self._xmm(X.UC_X86_REG_XMM7))
        return entry.guest_eip

    def guest_eip_now(self) -> int:
        """The guest EIP of the stopped processor, with the guest's registers made whole."""
        eip = self.cpu.reg(X.UC_X86_REG_EIP)
        if not self.vcpu.translated or not self.space.contains(eip):
            return eip
        block = self.tc.block_at(eip)
        entry = block.entry_at(eip) if block is not None else None
        if block is None and eip not in (self.miss, self.miss + 2):
            raise _Stop(Outcome.INTERNAL, f"stopped at {eip:#010x}, outside any block")
        return self._recover(entry, eip)

    # --- the machine's hooks, monitored -------------------------------------------------------------
    def _inject(self) -> None:
        vector = self.pic.acknowledge()
        self.stats.interrupts[vector] = self.stats.interrupts.get(vector, 0) + 1
        eip = self.guest_eip_now()
        self._deliver(Event(vector, eip, None, eip, external=True))

    def _halted_at(self, eip: int) -> bool:
        halted, self._halted = self._halted, False
        return halted

    def _take_exception(self, vector: int) -> None:
        eip = self.cpu.reg(X.UC_X86_REG_EIP)
        if vector == CALLOUT_VECTOR and self.space.contains(eip):
            self.counter.after_run(eip, faulted=True, software_int=True)
            self._callout(eip)
            return
        self.cpu.load()
        if vector == Vector.DF and self._stale_double_fault():
            return
        if self.cpu.cpl == 3:
            self._user_exception(vector, eip)
        else:
            self._translated_exception(vector, eip)

    def _callout(self, eip: int) -> None:
        site = self.tc.callouts.get(eip)
        if site is not None:
            block, co = site
            self.mstats.callouts[co.handler] += 1
            if co.in_shadow:  # the shadow of sti / mov ss ends with this instruction
                self.cpu.load()
                self.cpu.end_interrupt_shadow()
                self.cpu.store()
            self._run_handler(block, co)
            return
        ex = self.tc.exits.get(eip)
        if ex is not None:
            self.mstats.exits_to_monitor += 1
            self.tc.stats.exits_taken += 1
            if not ex.block.valid or ex.block.cs_base != self.vcpu.v.cs.base:
                self._enter_kernel(ex.guest_target)
                return
            self._enter_kernel(ex.guest_target)
            target = self.last_block
            if target is not None and target.guest_eip == ex.guest_target:
                self.tc.chain(ex, target)
            return
        if eip == self.miss + 2:
            self.mstats.lookup_misses += 1
            self.tc.stats.indirect_misses += 1
            target = self._xmm(X.UC_X86_REG_XMM6)
            self.cpu.set_reg(X.UC_X86_REG_ECX, self._xmm(X.UC_X86_REG_XMM7))
            self._enter_kernel(target)
            block = self.last_block
            if block is not None and block.guest_eip == target and block.valid:
                self.tc.install_lookup(block)
            return
        raise _Stop(Outcome.INTERNAL, f"callout from {eip - 2:#010x} matches no site")

    def _run_handler(self, block: Block, co: CalloutSite) -> None:
        handler = callouts.HANDLERS.get(co.handler)
        if handler is None:
            raise _Stop(Outcome.UNSUPPORTED, f"no emulation for {co.handler!r} at guest EIP "
                                             f"{co.guest_eip:#010x}")
        try:
            redirected = handler(self, co)
        except Fault as fault:
            self._fault_at(co.guest_eip, fault.vector, fault.error_code, co.retires)
            return
        except PageFault as pf:
            self.vcpu.set_cr2(pf.cr2)
            self._fault_at(co.guest_eip, Vector.PF, pf.error_code, co.retires)
            return
        except PhysicalAccessError as exc:
            raise _Stop(Outcome.GUEST_ERROR, f"{co.handler} at guest EIP {co.guest_eip:#010x}: "
                                             f"{exc}") from None
        if redirected:
            return
        self._check_iopl_mode()
        if block.valid:
            self.cpu.set_reg(X.UC_X86_REG_EIP, block.addr + co.resume)
        else:
            self._enter_kernel(co.next_eip)

    def _fault_at(self, guest_eip: int, vector: int, error_code: int | None,
                  charged: bool = True) -> None:
        """Reflect an exception raised by the instruction at ``guest_eip`` (a callout's)."""
        if charged:  # the instruction did not retire: take back what the clock charged for it
            self.counter.insns -= 1
        name = vector_name(vector)
        self.stats.exceptions[name] = self.stats.exceptions.get(name, 0) + 1
        err = error_code if vector in ERROR_CODE_VECTORS else None
        if vector in ERROR_CODE_VECTORS and err is None:
            err = 0
        self._deliver(Event(vector, guest_eip, err, guest_eip))

    def _translated_exception(self, vector: int, eip: int) -> None:
        """A fault in translated code (the blob is loaded)."""
        cpu = self.cpu
        block = self.tc.block_at(eip)
        if block is None:
            raise _Stop(Outcome.INTERNAL, f"{vector_name(vector)} at {eip:#010x} in the "
                                                f"monitor, outside any translation block")
        err = cpu.error_code if vector in ERROR_CODE_VECTORS else None
        name = vector_name(vector)
        if vector == Vector.PF:
            cr2 = self.uc.reg_read(X.UC_X86_REG_CR2)
            if self._writes_current_pd(cr2, err or 0) and self._adapt_pd_store(block, eip):
                return
            hidden, err = self._page_fault(cr2, err or 0)
            if hidden:
                if self.shadow.last_table_write:
                    self._maybe_adapt(block, eip)
                if not block.valid:  # it wrote its own block: re-run it from fresh code
                    guest_eip = self._recover(block.entry_at(eip), eip)
                    one_off = self.tc.translate(self.vcpu.v.cs.base, guest_eip, cap=1,
                                                register=False)
                    self.mstats.one_off_blocks += 1
                    self.counter.after_run(block.first_of_insn(eip), faulted=True)
                    cpu.set_reg(X.UC_X86_REG_EIP, one_off.body)
                else:
                    self.counter.after_run(block.first_of_insn(eip), faulted=True)
                return
            self.vcpu.set_cr2(cr2)
        self.mstats.traps_in_translated_code[name] += 1
        self.stats.exceptions[name] = self.stats.exceptions.get(name, 0) + 1
        self.counter.after_run(block.first_of_insn(eip), faulted=True)
        guest_eip = self._recover(block.entry_at(eip), eip)
        self._deliver(Event(vector, guest_eip, err, guest_eip))

    def _writes_current_pd(self, cr2: int, err: int) -> bool:
        """A kernel write into the page directory the guest runs on (it is traced)."""
        if not err & PF_W or not self.vcpu.v.cr[0] & CR0_PG:
            return False
        try:
            frame = self.mem.translate(cr2, peek=True) & ~0xFFF
        except (PageFault, PhysicalAccessError):
            return False
        return frame == self.vcpu.v.cr[3] & 0xFFFFF000 and frame in self.shadow.pd_of

    def _adapt_pd_store(self, block: Block, eip: int) -> bool:
        """A kernel ``mov`` into the current page directory is retranslated at once into a
        callout (adaptive translation without waiting): the page directory stays traced,
        and the monitor sees each new PDE as it is written, so a PDE made present over the
        monitor's slot moves the monitor before the guest can use it (natively no flush is
        needed, SDM vol 3A 4.10.4.3). False (nothing done) for another kind of store,
        which takes the ordinary trace fault."""
        entry = block.entry_at(eip)
        if entry is None:
            return False
        try:
            unit = self.scanner.scan(block.cs_base, entry.guest_eip, cap=1)
        except (PageFault, PhysicalAccessError):
            return False
        if not unit.insns or not adaptable_store(unit.insns[0]):
            return False
        self.cpu.clear_exception_in_flight()
        self.cpu.store()
        guest_eip = self._recover(entry, eip)
        self.counter.after_run(block.first_of_insn(eip), faulted=True)
        self._adapt(block, (block.cs_base, guest_eip))
        self._enter_kernel(guest_eip)
        return True

    def _maybe_adapt(self, block: Block, eip: int) -> None:
        """Adaptive binary translation: a kernel instruction that keeps writing the guest's
        page tables (traced: every write faults) is retranslated into a callout that does
        the write and updates the shadow without faulting."""
        entry = block.entry_at(eip)
        if entry is None:
            return
        key = (block.cs_base, entry.guest_eip)
        self._trace_faults_at[key] += 1
        if self._trace_faults_at[key] == ADAPT_AFTER and key not in self.rewriter.adapted:
            self._adapt(block, key)

    def _adapt(self, block: Block, key: tuple[int, int]) -> None:
        """Retranslate the guest instruction ``key`` (CS base, EIP) of ``block`` as an
        adapted store (a callout), from the block's next run on."""
        if key not in self.rewriter.adapted:
            self.rewriter.adapted.add(key)
            self.mstats.adaptive_retranslations += 1
        self.tc.invalidate(block)

    def _page_fault(self, cr2: int, err: int) -> tuple[bool, int]:
        """(hidden, the guest's error code) for a #PF at ``cr2`` (the blob is loaded)."""
        if self.vcpu.v.cr[0] & CR0_PG:
            try:
                return self._paging_fault(cr2, err), err
            except PageFault as pf:
                return False, pf.error_code
        if self._hidden_fault(cr2, err):
            return True, err
        self._outside_ram(cr2, err)
        return False, err

    def _hidden_fault(self, cr2: int, err: int) -> bool:
        """A write to a traced code page: invalidate, let the write through, re-run it."""
        page = cr2 & ~0xFFF
        if not err & PF_W or page not in self.traced:
            return False
        self._code_written(page)
        self.mstats.hidden_faults += 1
        self.cpu.load()
        self.cpu.clear_exception_in_flight()
        self.cpu.store()
        return True

    def _accessed_bit(self, cr2: int, err: int) -> bool:
        """The processor set a descriptor's accessed bit in a (read-only) shadow table: set it
        in the guest's table and the shadow, then re-run the instruction (a hidden fault).
        Only the processor's own write (supervisor, even from ring 3) into a shadow in use
        qualifies: a guest access there is the guest's fault."""
        if not err & PF_W or err & PF_U:
            return False
        for where, table, used in ((SHADOW_GDT, SegCache(0, *self.vcpu.v.gdtr, 0),
                                    self.vcpu.gdt_shadowed),
                                   (SHADOW_LDT, self.vcpu.v.ldtr, self.vcpu.ldt_shadowed)):
            off = cr2 - self.space.linear(where)
            if used and 0 <= off <= table.limit and off < 0x10000 and off % 8 in (4, 5):
                desc = off & ~7
                self.mem.write(table.base + desc + 5,
                               bytes([self.mem.read(table.base + desc + 5, 1)[0] | 1]))
                shadow = self.space.phys + where + desc + 5
                self.uc.mem_write(shadow, bytes([self.uc.mem_read(shadow, 1)[0] | 1]))
                self._gdt_image = self._ldt_image = b""
                self.mstats.hidden_faults += 1
                self.cpu.load()
                self.cpu.clear_exception_in_flight()
                self.cpu.store()
                return True
        return False

    def _names_guest_system_descriptor(self, err: int) -> bool:
        """Does error code ``err`` name a gate or TSS of the guest's GDT/LDT?"""
        if err & 3 or not err & 0xFFF8:
            return False
        table = self.vcpu.v.ldtr if err & 4 else SegCache(0, *self.vcpu.v.gdtr, 0)
        if (err & 0xFFF8) + 7 > table.limit:
            return False
        try:
            access = self.mem.read(table.base + (err & 0xFFF8) + 5, 1)[0]
        except (PageFault, PhysicalAccessError):
            return False
        return not access & 0x10 and access & 0xF in (0x1, 0x4, 0x5, 0x9, 0xC)

    def _outside_ram(self, cr2: int, err: int) -> None:
        """With guest paging off, any other #PF is an access the bare PC has no memory for."""
        if self.vcpu.v.cr[0] & CR0_PG:
            return
        what = "write to" if err & PF_W else "access to"
        where = "monitor memory" if self.space.contains(cr2) else "memory outside guest RAM"
        raise _Stop(Outcome.GUEST_ERROR, f"{what} {where} at {cr2:#010x}")

    def _user_exception(self, vector: int, eip: int) -> None:
        """An exception or int n in guest user code (real = virtual state; the blob is loaded)."""
        cpu = self.cpu
        # user code runs direct: what it loaded itself (a ring-3 far transfer) is the guest's
        self.vcpu.v.cs = cpu.seg(SEG_CS)
        if len(self.user_eips) < 4096:
            self.user_eips.add((cpu.seg(SEG_CS).base + eip) & MASK32)
        err = cpu.error_code if vector in ERROR_CODE_VECTORS else None
        if vector == Vector.PF and not cpu.exception_is_int:
            cr2 = self.uc.reg_read(X.UC_X86_REG_CR2)
            if self._accessed_bit(cr2, err or 0):
                self.counter.after_run(self._pc(eip), faulted=True)
                return
            hidden, err = self._page_fault(cr2, err or 0)
            if hidden:
                self.counter.after_run(self._pc(eip), faulted=True)
                return
            self.vcpu.set_cr2(cr2)
            self.mstats.traps_in_user_code["#PF"] += 1
            self.stats.exceptions["#PF"] = self.stats.exceptions.get("#PF", 0) + 1
            self.counter.after_run(self._pc(eip), faulted=True)
            self._deliver(Event(Vector.PF, eip, err, eip))
            return
        if (vector in (Vector.GP, Vector.NP, Vector.TS) and not cpu.exception_is_int
                and (err == TRAP_SELECTOR or vector == Vector.TS
                     or self._names_guest_system_descriptor(err or 0)
                     or (err == 0 and (self.vcpu.gdt_shadowed or self.vcpu.ldt_shadowed)))
                and callouts.user_far_transfer(self, eip)):
            return
        self.mstats.traps_in_user_code[vector_name(vector)] += 1
        super()._take_exception(vector)

    def _after_error(self, err: UcError) -> None:
        eip = self.cpu.reg(X.UC_X86_REG_EIP)
        if err.errno == UC_ERR_INSN_INVALID and self.vcpu.translated and self.space.contains(eip):
            block = self.tc.block_at(eip)
            if block is not None:
                self.counter.after_run(block.first_of_insn(eip), faulted=True)
                guest_eip = self._recover(block.entry_at(eip), eip)
                self.stats.exceptions["#UD"] = self.stats.exceptions.get("#UD", 0) + 1
                self._deliver(Event(Vector.UD, guest_eip, None, guest_eip))
                return
        super()._after_error(err)

    # --- results ---------------------------------------------------------------------------------------
    def guest_registers(self) -> dict[str, int]:
        if self._final_eip is not None:
            eip = self._final_eip
        else:
            eip = self.guest_eip_now() if self.booted else self.cpu.reg(X.UC_X86_REG_EIP)
        regs = super().guest_registers()
        v = self.vcpu.v
        regs["eip"] = eip
        regs["cs"] = v.cs.selector
        regs["eflags"] = self.vcpu.reg(X.UC_X86_REG_EFLAGS)
        for n in (0, 2, 3, 4):
            regs[f"cr{n}"] = v.cr[n]
        regs["cpl"] = v.cpl
        regs.update(gdtr_base=v.gdtr[0], gdtr_limit=v.gdtr[1], ldtr=v.ldtr.selector,
                    tr=v.tr.selector)
        return regs

    def _result(self, outcome: Outcome, message: str, elapsed: float) -> RunResult:
        result = super()._result(outcome, message, elapsed)
        result.stats["translator"] = self.tc.stats.as_dict()
        result.stats["monitor"] = self.mstats.as_dict()
        result.stats["shadow_paging"] = dict(self.shadow.stats.__dict__)
        block = self.last_block
        if block is not None:
            result.last_block = (block.guest_eip, block.guest_end - block.guest_eip)
        return result


_SCRATCH_XMM = (X.UC_X86_REG_XMM5, X.UC_X86_REG_XMM6, X.UC_X86_REG_XMM7)
_GPR = (X.UC_X86_REG_EAX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX, X.UC_X86_REG_EBX,
        X.UC_X86_REG_ESP, X.UC_X86_REG_EBP, X.UC_X86_REG_ESI, X.UC_X86_REG_EDI)
