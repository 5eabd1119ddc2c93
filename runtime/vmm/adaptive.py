"""Adaptive binary translation: stores that keep faulting on traced page tables become callouts.

Guest page-table pages are traced (write-protected in every shadow), so each
kernel store into one takes a trace fault. A kernel instruction that keeps
doing so is retranslated as a callout that performs the store through the
guest's view and updates the shadow without faulting (the ``adapted store``
rule of :mod:`bt.rewrite`), as VMware's monitor did. A store into the page
directory the guest runs on is adapted at once: the monitor must see each new
PDE as it is written, so that one made present over the monitor's slot moves
the monitor before the guest can use it.

A mixin of :class:`runtime.vmm.monitor.Monitor`; owns ``_trace_faults_at``
(trace faults per guest instruction). Runs inside the INTR hook (the blob is
loaded).
"""

from __future__ import annotations

from bt.cache import Block
from bt.rewrite import adaptable_store
from runtime.pc.paging import PageFault, PhysicalAccessError
from runtime.pc.x86 import CR0_PG, PF_W

#: trace faults by one guest instruction before it is retranslated as a callout
ADAPT_AFTER = 4


class AdaptiveTranslation:
    """Retranslating the guest stores that fault on traced page tables."""

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
