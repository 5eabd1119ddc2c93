"""The virtual CPU: the processor state the guest believes it has.

Ring compression makes the real processor differ from the guest's belief in
a few places only, and the monitor keeps exactly those here:

* the CPL: guest code at CPL 0, 1 and 2 runs translated at real CPL 1 (ring
  compression, as VMware's monitor translated any CPL < 3); guest user code
  runs direct at CPL 3, real = virtual. The guest's CPL lives here, and every
  privilege check a translation or callout makes is against it (SDM vol 3A,
  5.5-5.9): privileged instructions are #GP(0) at virtual CPL 1 and 2 however
  the real CPL 1 would let them run (:mod:`runtime.vmm.privilege`);
* CS: the real selector is the guest's, but while translated code runs the
  real CS cache is flat (base 0, DPL 1) because the code runs from the
  translation cache; the guest's CS cache (its base) lives here;
* EFLAGS.IOPL: chosen so that the real processor at CPL 1 makes the guest's
  IOPL-sensitive decision for cli/sti/popfd itself (SDM vol 3A, 2.5 and vol 2,
  CLI/STI/POPF: allowed when CPL <= IOPL): at virtual CPL 0 the real IOPL is 1
  under a virtual IOPL 0 (so cli/sti/popfd run and move the real IF, which *is*
  the virtual IF), else the virtual one; at virtual CPL 1 and 2 it is 1 when
  virtual CPL <= virtual IOPL and 0 otherwise (then cli/sti fault #GP(0) at
  the real CPL 1 exactly where the guest's would, and popfd keeps IF). The
  pushed image of pushf is given the virtual IOPL back where the two differ
  (:meth:`VirtualCpu.iopl_exact`); real = virtual in user code;
* GDTR and LDTR: the real ones are the guest's own (``sgdt`` at ring 3 shows
  the guest's GDT, as it must for direct execution) unless the guest's tables
  hold descriptors the processor must not act on by itself (a task gate or
  available TSS that ring 3 may use): then they point at shadow tables;
* CR0 (the real one has PG and WP for the monitor's page tables), CR2,
  CR3, CR4, the debug registers and MSRs.

The other segment registers and IDTR are loaded with the guest's own
values (unicorn never reads the IDT itself: the monitor delivers every
interrupt), so the real ones are the virtual ones. The real TR keeps the
guest's selector (``str`` at ring 3 shows it) but names a monitor TSS with
null inner stacks, so that the processor never switches to an inner ring
through a guest call gate on its own.

:class:`VirtualCpu` also presents the interface of
:class:`runtime.pc.cpustate.CpuState` that :class:`runtime.pc.delivery.InterruptDelivery`
uses, with the virtual values: the bare machine's delivery code reflects
interrupts into the guest's virtual IDT unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unicorn import x86_const as X

from runtime.pc.cpustate import SEG_CS, SEG_GDT, SEG_LDT, SEG_TR, CpuState, SegCache
from runtime.pc.x86 import CR0_ET, CR0_PE, IOPL_MASK, IOPL_SHIFT

#: the real CS cache flags while translated code runs: present, DPL 1, code
#: execute/read accessed, 32-bit, 4 KiB granular (limit 4 GiB)
TC_CODE_FLAGS = 0x00CFBB00
#: the real TR's type: a 32-bit TSS marked *available* (unicorn aborts the process on an
#: inner-ring gate call when TR is typed busy: see shared/notes/unicorn.md)
TRAP_TSS_FLAGS = 0x00008900


@dataclass
class VirtualState:
    cpl: int = 0
    iopl: int = 0
    cs: SegCache = field(default_factory=lambda: SegCache(0, 0, 0xFFFFFFFF, 0x00CF9B00))
    gdtr: tuple[int, int] = (0, 0xFFFF)
    ldtr: SegCache = field(default_factory=lambda: SegCache(0, 0, 0, 0))
    tr: SegCache = field(default_factory=lambda: SegCache(0, 0, 0xFFFF, 0x00008B00))
    cr: list[int] = field(default_factory=lambda: [CR0_PE | CR0_ET, 0, 0, 0, 0])
    dr: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0, 0, 0xFFFF0FF0, 0x400])
    msr: dict[int, int] = field(default_factory=dict)


class VirtualCpu:
    """Virtual state over the real :class:`CpuState`; the delivery code's view of the guest."""

    def __init__(self, real: CpuState, shadow_gdt: int, shadow_ldt: int, trap_tss: int) -> None:
        self.real = real
        self.v = VirtualState()
        self.shadow_gdt = shadow_gdt
        self.shadow_ldt = shadow_ldt
        self.trap_tss = trap_tss
        #: the real GDTR/LDTR point at the shadow tables (else at the guest's own)
        self.gdt_shadowed = False
        self.ldt_shadowed = False
        #: the guest EIP the last delivery (or emulated transfer) chose
        self.pending_eip: int | None = None

    # --- derived real values -----------------------------------------------------------
    @property
    def translated(self) -> bool:
        """Guest code at this CPL runs translated (kernel) rather than direct (user)."""
        return self.v.cpl < 3

    def real_iopl(self) -> int:
        """The real IOPL for the current virtual CPL and IOPL (see the module docstring)."""
        cpl, iopl = self.v.cpl, self.v.iopl
        if cpl == 3 or (cpl == 0 and iopl):
            return iopl
        if cpl == 0:
            return 1
        return 1 if cpl <= iopl else 0

    def iopl_exact(self) -> bool:
        """The real IOPL equals the virtual one (pushf's image needs no fix-up)."""
        return self.real_iopl() == self.v.iopl

    def real_eflags(self, eflags: int) -> int:
        return (eflags & ~IOPL_MASK) | (self.real_iopl() << IOPL_SHIFT)

    def real_cs(self, cs: SegCache, cpl: int) -> SegCache:
        if cpl == 3:
            return cs
        return SegCache(cs.selector, 0, 0xFFFFFFFF, TC_CODE_FLAGS)

    def real_gdtr(self) -> SegCache:
        base = self.shadow_gdt if self.gdt_shadowed else self.v.gdtr[0]
        return SegCache(0, base, self.v.gdtr[1], 0)

    def real_ldtr(self) -> SegCache:
        ldt = self.v.ldtr
        return SegCache(ldt.selector, self.shadow_ldt if self.ldt_shadowed else ldt.base,
                        ldt.limit, ldt.flags)

    # --- the CpuState interface, virtualized ------------------------------------------------
    def load(self) -> None:
        self.real.load()

    def store(self) -> None:
        self.real.store()

    @property
    def cpl(self) -> int:
        return self.v.cpl

    @property
    def error_code(self) -> int:
        return self.real.error_code

    @property
    def exception_is_int(self) -> bool:
        return self.real.exception_is_int

    @property
    def interrupt_shadow(self) -> bool:
        return self.real.interrupt_shadow

    def seg(self, index: int) -> SegCache:
        if index == SEG_CS:
            return self.v.cs
        if index == SEG_GDT:
            return SegCache(0, self.v.gdtr[0], self.v.gdtr[1], 0)
        if index == SEG_LDT:
            return self.v.ldtr
        if index == SEG_TR:
            return self.v.tr
        return self.real.seg(index)

    def set_seg(self, index: int, cache: SegCache) -> None:
        """Set a virtual segment register (the caller ``store()`` s)."""
        if index == SEG_CS:
            self.v.cs = cache
            self.real.set_seg(SEG_CS, self.real_cs(cache, self.v.cpl))
        elif index == SEG_GDT:
            self.v.gdtr = (cache.base, cache.limit)
            self.real.set_seg(SEG_GDT, self.real_gdtr())
        elif index == SEG_LDT:
            self.v.ldtr = cache
            self.real.set_seg(SEG_LDT, self.real_ldtr())
        elif index == SEG_TR:
            # the real TR names a monitor TSS whose inner stacks are null: a ring-3 call
            # through a guest gate to an inner ring faults #TS instead of entering the
            # guest kernel untranslated (the monitor then emulates the call)
            self.v.tr = cache
            self.real.set_seg(SEG_TR, SegCache(cache.selector, self.trap_tss, 0x67, TRAP_TSS_FLAGS))
        else:
            self.real.set_seg(index, cache)

    def reg(self, regid: int) -> int:
        value = self.real.reg(regid)
        if regid == X.UC_X86_REG_EFLAGS:
            return (value & ~IOPL_MASK) | (self.v.iopl << IOPL_SHIFT)
        return value

    def set_reg(self, regid: int, value: int) -> None:
        if regid == X.UC_X86_REG_EFLAGS:
            self.v.iopl = (value >> IOPL_SHIFT) & 3
            self.real.set_reg(regid, self.real_eflags(value))
        elif regid == X.UC_X86_REG_EIP:
            self.pending_eip = value & 0xFFFFFFFF
        else:
            self.real.set_reg(regid, value)

    def load_code_and_stack(self, cs: SegCache, ss: SegCache, cpl: int) -> None:
        """A privilege change (the caller sets EFLAGS after it, which gives the real IOPL
        for the new CPL)."""
        self.v.cs = cs
        self.v.cpl = cpl
        self.real.load_code_and_stack(self.real_cs(cs, cpl), ss, 3 if cpl == 3 else 1)

    def clear_exception_in_flight(self) -> None:
        self.real.clear_exception_in_flight()

    def set_cr2(self, value: int) -> None:
        self.v.cr[2] = value & 0xFFFFFFFF

    def cr(self, n: int) -> int:
        return self.v.cr[n]

    def paging_regs(self) -> tuple[int, int, int]:
        """The guest's CR0, CR3, CR4 (for walks of the guest's own tables)."""
        return self.v.cr[0], self.v.cr[3], self.v.cr[4]
