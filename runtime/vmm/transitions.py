"""Kernel/user transitions: entering the guest, translated or direct, and finding it again.

Every way back into the guest passes here: after a delivery through the
guest's IDT, an emulated far transfer or iret, a callout that ends its block.
The guest kernel continues translated at ring 1 from the translation cache;
guest user code continues direct at ring 3 at its own addresses. The real
processor is brought in step with the virtual CPU first: CR0/CR4 (the
monitor's PG/WP, the guest's low bits), the scratch xmm registers translated
code borrows, the shadow GDT/LDT when the guest's tables would let ring 3
switch tasks, the modes translations assume (virtual IOPL 0 or not, the
guest's CR0.TS/EM, its instruction breakpoints), and the monitor's vCPU page
that inline sequences read (smsw/str/sldt/sgdt/sidt). Going the other way,
:meth:`Transitions.guest_eip_now` and :meth:`Transitions._recover` turn a stop
inside translated code back into the guest's EIP and registers.

A mixin of :class:`runtime.vmm.monitor.Monitor`; owns ``_real_cr04``,
``_in_user``, ``_user_xmm``, ``_gdt_image``, ``_ldt_image`` and
``_final_eip``. Runs inside unicorn hooks or between runs.
"""

from __future__ import annotations

import struct

from unicorn import x86_const as X

from bt.rewrite import FIX_ENTRY, MapEntry
from runtime.pc.cpustate import SEG_GDT, SEG_IDT, SEG_LDT
from runtime.pc.delivery import Event
from runtime.pc.paging import PageFault, PhysicalAccessError
from runtime.pc.runloop import StopRun
from runtime.pc.x86 import (
    CR0_EM,
    CR0_ET,
    CR0_PE,
    CR0_PG,
    CR0_TS,
    CR0_WP,
    CR4_OSFXSR,
    CR4_PCE,
    CR4_TSD,
    Vector,
)
from runtime.report import Outcome
from runtime.vmm.monitor_space import (
    SHADOW_GDT,
    SHADOW_LDT,
    VCPU_PAGE,
    ring3_task_switch_possible,
    shadow_table,
)

MASK32 = 0xFFFFFFFF
_SCRATCH_XMM = (X.UC_X86_REG_XMM5, X.UC_X86_REG_XMM6, X.UC_X86_REG_XMM7)
_GPR = (X.UC_X86_REG_EAX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX, X.UC_X86_REG_EBX,
        X.UC_X86_REG_ESP, X.UC_X86_REG_EBP, X.UC_X86_REG_ESI, X.UC_X86_REG_EDI)


def exec_breakpoints(dr: list[int]) -> frozenset[int]:
    """Linear addresses of the enabled instruction breakpoints in DR0-DR3 / DR7 (SDM vol
    3B, 17.2.4: L/G bits 2i, 2i+1; R/W bits 16+4i = 00 is an instruction breakpoint)."""
    dr7 = dr[7]
    return frozenset(dr[i] & 0xFFFFFFFF for i in range(4)
                     if dr7 & (3 << (2 * i)) and not (dr7 >> (16 + 4 * i)) & 3)


class Transitions:
    """Entering the guest where the virtual CPU says, and the real CPU made to match."""

    def _check_iopl_mode(self) -> None:
        """Translations assume a flags mode (guest CPL 0 or 1/2, virtual IOPL 0 or not, the
        real IOPL equal to the virtual one or not: the pushfd/popfd sequences) and the
        guest's CR0.TS/EM clear or not (floating point as callouts): keep them true."""
        vcpu = self.vcpu
        mode = (vcpu.v.cpl == 0, vcpu.v.iopl == 0, vcpu.iopl_exact())
        fpu_traps = bool(vcpu.v.cr[0] & (CR0_TS | CR0_EM))
        breakpoints = exec_breakpoints(vcpu.v.dr)
        rw = self.rewriter
        if (fpu_traps, breakpoints) != (rw.fpu_traps, rw.breakpoints):
            (rw.cpl0, rw.viopl0, rw.iopl_exact), rw.fpu_traps, rw.breakpoints = (
                mode, fpu_traps, breakpoints)
            self.tc.flush()  # the instruction clock forgets the old code (tc.on_flush)
            self.mstats.mode_flushes += 1
        elif mode != (rw.cpl0, rw.viopl0, rw.iopl_exact):
            # only pushf/popf translate differently: their blocks go, the rest stays
            rw.cpl0, rw.viopl0, rw.iopl_exact = mode
            self.tc.invalidate_flags_blocks()
            self.mstats.flags_mode_changes += 1

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
            raise StopRun(Outcome.GUEST_ERROR, "fetch from memory outside guest RAM") from None
        self.cpu.set_reg(X.UC_X86_REG_EIP, block.body)
        self.mstats.translated_entries += 1
        self.tc.reclaim()  # the processor leaves whatever block it was in: free the dead

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
        except StopRun as stop:
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

    def write_vcpu_page(self) -> None:
        """The values translated code loads for smsw/str/sldt/sgdt/sidt (no Python on the path)."""
        v = self.vcpu.v
        self.cpu.load()
        tr = v.tr.selector
        idt = self.cpu.seg(SEG_IDT)
        page = struct.pack("<IIIIHIxxHI", v.cr[0], tr, v.ldtr.selector, 0,
                           v.gdtr[1], v.gdtr[0], idt.limit, idt.base)
        self.uc.mem_write(self.space.phys + VCPU_PAGE, page)

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
            raise StopRun(Outcome.INTERNAL, f"stopped at {eip:#010x}, outside any block")
        return self._recover(entry, eip)
