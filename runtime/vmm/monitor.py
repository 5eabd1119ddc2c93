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

This module builds the monitor and boots the guest into it; each concern of
the running monitor is a mixin of its own module, in the manner of QEMU's
``cpu-exec.c`` / ``translate-all.c`` / ``tb-maint.c``:

* :mod:`runtime.vmm.dispatch`: why the monitor got control (callout, exit,
  lookup miss, fault, interrupt, hlt) and where the guest goes next;
* :mod:`runtime.vmm.faults`: hidden and true faults, reflection into the guest;
* :mod:`runtime.vmm.adaptive`: adaptive translation of faulting stores;
* :mod:`runtime.vmm.transitions`: entering the guest translated or direct,
  the real CPU made to match the virtual one, the guest EIP recovered;
* :mod:`runtime.vmm.codetrace`: translating, tracing translated code pages,
  invalidation;
* :mod:`runtime.vmm.relocate`: the monitor's range, its relocation, guest
  paging switches.

Everything the Python side does runs inside unicorn hooks (callouts,
faults, I/O) or between ``emu_start`` calls (interrupt injection, hlt),
exactly as in the bare machine.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from unicorn import x86_const as X

from bt.cache import Block, TranslationCache
from bt.rewrite import Layout, Rewriter
from bt.scan import Scanner
from runtime.pc.cpustate import SEG_CS, SEG_GDT, SEG_LDT, SEG_SS, SEG_TR, SegCache
from runtime.pc.delivery import Event, InterruptDelivery
from runtime.pc.machine import BOOT_GDT, Machine, MachineConfig
from runtime.pc.paging import GuestMemory
from runtime.pc.runloop import StopRun
from runtime.report import Outcome, RunResult
from runtime.vmm.adaptive import AdaptiveTranslation
from runtime.vmm.codetrace import CodeMemory, CodeTracing
from runtime.vmm.dispatch import Dispatch
from runtime.vmm.faults import Faults
from runtime.vmm.monitor_space import (
    CALLOUT_VECTOR,
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
    TRAP_TSS,
    build_page_tables,
    mapped_pages,
    place,
)
from runtime.vmm.oracle import Oracle
from runtime.vmm.relocate import MonitorRange
from runtime.vmm.shadow import ShadowMMU
from runtime.vmm.transitions import Transitions
from runtime.vmm.vcpu import VirtualCpu


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
    #: the monitor starting translated code at a block body (after an exit, a miss, a
    #: delivery, a callout that left its block): the dispatches of the hit-rate split
    translated_entries: int = 0
    user_entries: int = 0
    mode_flushes: int = 0
    flags_mode_changes: int = 0  # guest CPL 0 <-> 1/2 or IOPL: pushf/popf blocks dropped
    gate_emulations: int = 0
    relocations: int = 0
    borrowed_slots: int = 0
    open_bus_accesses: int = 0
    adaptive_retranslations: int = 0
    remapped_code_invalidations: int = 0
    unaccessed_code_invalidations: int = 0
    user_blocks_translated: int = 0  # the design makes this 0: user code runs direct

    def as_dict(self) -> dict[str, object]:
        d: dict[str, object] = {}
        for k, v in self.__dict__.items():
            d[k] = dict(sorted(v.items())) if isinstance(v, Counter) else v
        return d


class Monitor(Dispatch, Faults, AdaptiveTranslation, Transitions, CodeTracing, MonitorRange,
              Machine):
    """The PC with a VMware-style binary-translating monitor between it and the guest."""

    def __init__(self, config: MachineConfig) -> None:
        super().__init__(config)
        self.booted = False
        #: the guest EIP the run ended at when a triple fault stopped it in the monitor
        self._final_eip: int | None = None
        self.space = place(self.ram_size)
        self.uc.mem_map(self.space.phys, MON_SIZE)
        build_page_tables(self.space, self.uc.mem_write, tuple(r for r, _ in self.mmio.regions))
        self.counter.on_decode = None  # rdmsr/wrmsr are callouts here (runtime.pc.msr)
        self.msr_sites = None
        lin = self.space.linear
        self.vcpu = VirtualCpu(self.cpu, lin(SHADOW_GDT), lin(SHADOW_LDT), lin(TRAP_TSS))
        self.mem = GuestMemory(self._read_phys, self._write_guest, self.ram_size,
                               self.vcpu.paging_regs, write_ad=self.uc.mem_write)
        self.delivery = InterruptDelivery(self.uc, self.vcpu, self.mem)
        self.uc.mem_write(self.space.phys + CODE_PAGE, bytes([0xCD, CALLOUT_VECTOR]))
        self.miss = lin(CODE_PAGE)
        self.rewriter = Rewriter(self._layout())
        self.scanner = Scanner(self._read_linear)
        self.tc = TranslationCache(CodeMemory(self), lin(TC_START), lin(TC_END), self.scanner,
                                   self.rewriter, lin(LOOKUP_L1), self.miss,
                                   lin(LOOKUP_MISS_L2), self._l2_pool())
        self.tc.clear_lookup(0)
        self.shadow = ShadowMMU(self.mem, self._read_phys_raw, self.uc.mem_write,
                                self.space.shadow_pool(),
                                lambda: (self.space.pde_index, self.space.pde),
                                self._load_real_cr3, self._flush_tlb, self._shadow_code_written,
                                self.vcpu.paging_regs,
                                lambda frame: self.mmio.device_at(frame) is not None)
        self.counter.provider = self._tc_offsets
        self.counter.classifier = self._tc_kind
        self.tc.on_flush = self._translations_flushed
        self.tc.on_invalidate = self._block_invalidated
        self.counter.state.weighted = 1
        self.mstats = MonitorStats()
        #: the scratch engine of the instructions the processor itself answers (made at first use)
        self.oracle: Oracle | None = None
        # state of each concern (its module says what it means)
        self._halted = False  # dispatch
        self.user_eips: set[int] = set()  # faults: guest user code addresses seen trapping
        self._trace_faults_at: Counter[tuple[int, int]] = Counter()  # adaptive
        self._real_cr04 = (0, 0)  # transitions
        self._in_user = False
        self._user_xmm: list[int] | None = None
        self._gdt_image = b""
        self._ldt_image = b""
        self.traced: set[int] = set()  # codetrace
        self._code_lpages: dict[int, set[Block]] = {}
        self.last_block: Block | None = None

    def _layout(self) -> Layout:
        lin = self.space.linear
        fields = {name: self.space.vcpu_field(name) for name in ("smsw", "str", "sldt", "sgdt", "sidt")}
        return Layout(lin(LOOKUP_L1), self.miss, fields, CALLOUT_VECTOR)

    def _l2_pool(self) -> list[int]:
        return [self.space.linear(LOOKUP_L2_POOL + i * 0x40000) for i in range(LOOKUP_L2_COUNT)]

    def _task_register(self) -> SegCache:
        return self.vcpu.v.tr

    # --- what callout handlers see (runtime.vmm.callouts.host.CalloutHost) ---------------------
    def enter_guest(self) -> None:
        self._enter_guest()

    def enter_kernel(self, eip: int) -> None:
        self._enter_kernel(eip)

    def deliver(self, event: Event) -> None:
        self._deliver(event)

    def read_code(self, eip: int, size: int) -> bytes:
        return self._read_code(eip, size)

    def check_monitor_range(self) -> None:
        self._check_monitor_range()

    def sync_shadow_tables(self, new_ldt: bool = False) -> None:
        if new_ldt:
            self._ldt_image = b""
        self._sync_shadow_tables()

    def revalidate_code_mappings(self, only: int | None = None) -> None:
        self._revalidate_code_mappings(only)

    def after_io(self) -> None:
        self.after_device_access()

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

    def guest_registers(self) -> dict[str, int]:
        if self._final_eip is not None:
            eip = self._final_eip
        elif self.booted:
            try:
                eip = self.guest_eip_now()
            except StopRun:  # stopped outside any block: the processor's EIP is all there is
                eip = self.cpu.reg(X.UC_X86_REG_EIP)
        else:
            eip = self.cpu.reg(X.UC_X86_REG_EIP)
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
        result.stats["translator"]["memory"] = self.tc.memory_stats()
        result.stats["monitor"] = self.mstats.as_dict()
        result.stats["shadow_paging"] = dict(self.shadow.stats.__dict__)
        # what translated guest kernel code could read of the monitor's 4 MiB at the end
        result.stats["monitor"]["readable_monitor_pages"] = mapped_pages(self.space,
                                                                         self._read_phys)
        block = self.last_block
        if block is not None:
            result.last_block = (block.guest_eip, block.guest_end - block.guest_eip)
        return result
