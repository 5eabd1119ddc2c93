"""Faults and their reflection: hidden faults the monitor absorbs, true faults the guest takes.

Every exception unicorn reports while the guest runs comes here (translated
kernel code, direct user code, or an invalid opcode out of ``emu_start``) and
ends one of two ways (SDM vol 3A, chapter 6, is what the guest must see):

* a **hidden fault** is the monitor's own doing: a shadow page table not yet
  filled (:mod:`runtime.vmm.shadow`), a write to a traced page (translated
  code or a guest page table), the processor setting a descriptor's accessed
  bit in a read-only shadow GDT/LDT, a ring-3 far call through a guest gate the
  shadow tables keep from the processor. The monitor fixes what it must and
  the instruction runs again (or is emulated), the guest none the wiser;
* a **true fault** is the guest's: it is reflected through the guest's IDT at
  the guest EIP of the faulting instruction, with the guest's error code and
  CR2, by the bare machine's delivery code on the virtual CPU.

Adaptive translation (:mod:`runtime.vmm.adaptive`) takes over the stores that
keep faulting on traced page tables.

A mixin of :class:`runtime.vmm.monitor.Monitor`; owns ``user_eips`` (guest user
code addresses seen trapping). Runs inside the INTR hook (the blob is loaded)
or after ``emu_start`` failed.
"""

from __future__ import annotations

from functools import cache

from capstone import CS_ARCH_X86, CS_MODE_32, Cs
from unicorn import UC_ERR_INSN_INVALID, UcError
from unicorn import x86_const as X

from bt.classify import classify
from bt.rewrite import CalloutSite
from bt.scan import GuestInsn
from runtime.pc.cpustate import SEG_CS, SegCache
from runtime.pc.delivery import Event, Fault
from runtime.pc.paging import PageFault, PhysicalAccessError
from runtime.pc.runloop import StopRun
from runtime.pc.x86 import CR0_PG, ERROR_CODE_VECTORS, PF_U, PF_W, Vector, vector_name
from runtime.report import Outcome
from runtime.vmm.callouts.table import HANDLERS
from runtime.vmm.monitor_space import SHADOW_GDT, SHADOW_LDT, TRAP_SELECTOR
from runtime.vmm.shadow import MonitorRangeConflict, ShadowRetry

MASK32 = 0xFFFFFFFF


@cache
def _decoder() -> Cs:
    cs = Cs(CS_ARCH_X86, CS_MODE_32)
    cs.detail = True
    return cs


class Faults:
    """Exceptions in translated and in direct guest code: hidden or reflected."""

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
            raise StopRun(Outcome.INTERNAL, f"{vector_name(vector)} at {eip:#010x} in the "
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

    def _paging_fault(self, cr2: int, err: int) -> bool:
        """A #PF with guest paging on: True when it was hidden (the shadow now allows the
        access: run it again); raises PageFault for a true fault (reflect it)."""
        try:
            self.shadow.fault(cr2, bool(err & PF_W), bool(err & PF_U), self.space.contains(cr2))
        except MonitorRangeConflict:
            if self.borrowed_slot:  # the guest's own mapping there leads nowhere
                self.open_bus_access(cr2, bool(err & PF_W))
            self._relocate()
        except ShadowRetry:
            self.paging_changed()
        except PhysicalAccessError as exc:
            raise StopRun(Outcome.GUEST_ERROR, f"access at {cr2:#010x}: {exc}") from None
        return self._absorbed()

    def _absorbed(self) -> bool:
        """A hidden fault fixed: count it and clear unicorn's exception in flight, so that
        the instruction runs again as if it had never faulted. Returns True (handled)."""
        self.mstats.hidden_faults += 1
        self.cpu.load()
        self.cpu.clear_exception_in_flight()
        self.cpu.store()
        return True

    def _hidden_fault(self, cr2: int, err: int) -> bool:
        """A write to a traced code page: invalidate, let the write through, re-run it."""
        page = cr2 & ~0xFFF
        if not err & PF_W or page not in self.traced:
            return False
        self._code_written(page)
        return self._absorbed()

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
                return self._absorbed()
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
        raise StopRun(Outcome.GUEST_ERROR, f"{what} {where} at {cr2:#010x}")

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
                and self._user_far_transfer(eip)):
            return
        self.mstats.traps_in_user_code[vector_name(vector)] += 1
        super()._take_exception(vector)

    def _user_far_transfer(self, eip: int) -> bool:
        """A ring-3 instruction faulted on a shadow descriptor (a gate or a TSS, which the shadow
        keeps from being used by the processor): if it is a far call/jmp, emulate it against the
        guest's own descriptor tables (the callout handler of the same instruction in kernel
        code) and return True; otherwise the fault is the guest's."""
        try:
            code = self._read_code(eip, 15)
        except Exception:  # noqa: BLE001 - unreadable: the fault is the guest's
            return False
        insn = next(_decoder().disasm(code, eip, 1), None)
        if insn is None:
            return False
        g = GuestInsn(eip, insn, classify(insn))
        if g.rule.name not in ("far call", "far jmp"):
            return False
        self.mstats.gate_emulations += 1
        self.cpu.clear_exception_in_flight()
        self.cpu.store()
        co = CalloutSite(g.rule.name, g, eip, g.next_eip, -1, -1)
        self.counter.after_run(self._pc(eip), faulted=True)
        self.counter.insns += 1  # the far transfer retires here
        try:
            HANDLERS[g.rule.name](self, co)
        except Fault as fault:
            self.counter.insns -= 1
            self._deliver(Event(fault.vector, eip, fault.error_code, eip))
        return True

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
