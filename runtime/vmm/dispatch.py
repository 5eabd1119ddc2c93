"""Dispatch: why the monitor got control, and where the guest goes next.

The monitor's ``cpu-exec``: the bare machine's run loop
(:meth:`runtime.pc.runloop.RunLoop._loop`) calls ``emu_start`` and hands every
unicorn stop here. Translated code leaves the cache by one software interrupt
(``int 0xf1``) at a named place: a **callout** site (an instruction the
monitor emulates, :mod:`runtime.vmm.callouts`), an **exit** of a block whose
successor is not yet chained (translate it, chain the exit), or the **lookup
miss** stub of the inline indirect-branch lookup (translate the target,
install it). Any other exception is a fault (:mod:`runtime.vmm.faults`); an
external interrupt is injected at the guest EIP the processor stopped at; an
emulated ``hlt`` makes the loop idle.

A mixin of :class:`runtime.vmm.monitor.Monitor`; owns ``_halted``. Runs inside
the INTR hook or between runs.
"""

from __future__ import annotations

from unicorn import x86_const as X

from bt.cache import Block
from bt.rewrite import CalloutSite
from runtime.pc.delivery import Event, Fault
from runtime.pc.paging import PageFault, PhysicalAccessError
from runtime.pc.runloop import StopRun
from runtime.pc.x86 import Vector
from runtime.report import Outcome
from runtime.vmm.callouts import privilege
from runtime.vmm.callouts.table import HANDLERS
from runtime.vmm.monitor_space import CALLOUT_VECTOR


class Dispatch:
    """The monitor's side of the run loop: callouts, exits, lookup misses, interrupts, hlt."""

    def halt(self) -> None:
        """The guest kernel executed hlt: idle until the next interrupt, once this run stops."""
        self._halted = True
        self.uc.emu_stop()

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
        raise StopRun(Outcome.INTERNAL, f"callout from {eip - 2:#010x} matches no site")

    def _run_handler(self, block: Block, co: CalloutSite) -> None:
        handler = HANDLERS.get(co.handler)
        if handler is None:
            raise StopRun(Outcome.UNSUPPORTED, f"no emulation for {co.handler!r} at guest EIP "
                                             f"{co.guest_eip:#010x}")
        try:
            privilege.check(self, co)  # the guest's CPL and IOPL, not the real CPL 1
            redirected = handler(self, co)
        except Fault as fault:
            self._fault_at(co.guest_eip, fault.vector, fault.error_code, co.retires)
            return
        except PageFault as pf:
            self.vcpu.set_cr2(pf.cr2)
            self._fault_at(co.guest_eip, Vector.PF, pf.error_code, co.retires)
            return
        except PhysicalAccessError as exc:
            raise StopRun(Outcome.GUEST_ERROR, f"{co.handler} at guest EIP {co.guest_eip:#010x}: "
                                             f"{exc}") from None
        if redirected:
            return
        self._check_iopl_mode()
        if block.valid:
            self.cpu.set_reg(X.UC_X86_REG_EIP, block.addr + co.resume)
        else:
            self._enter_kernel(co.next_eip)

    def _inject(self) -> None:
        vector = self.pic.acknowledge()
        self.stats.interrupts[vector] = self.stats.interrupts.get(vector, 0) + 1
        eip = self.guest_eip_now()
        self._deliver(Event(vector, eip, None, eip, external=True))

    def _halted_at(self, eip: int) -> bool:
        halted, self._halted = self._halted, False
        return halted
