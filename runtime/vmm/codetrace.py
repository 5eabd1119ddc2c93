"""Code tracing and invalidation: translated guest code stays equal to guest memory.

The monitor's ``tb-maint``: every guest physical page that holds translated
code is write-protected, in the identity map and in every shadow; a guest
write there faults into the monitor, which drops the page's blocks and lets
writes through until code there is translated again. Every write the monitor
itself makes into guest RAM goes the same way. Blocks are found by linear
address, so a change of the guest's mapping of a linear page with translated
code (invlpg, another CR3, paging on or off) drops the blocks translated from
another frame.

A mixin of :class:`runtime.vmm.monitor.Monitor`; owns ``traced`` (guest
physical pages write-protected for their code), ``_code_lpages`` (linear page
-> blocks translated from it) and ``last_block``. Runs inside unicorn hooks
(faults, callouts) or between runs.
"""

from __future__ import annotations

from bt.cache import Block
from runtime.pc.paging import PageFault, PhysicalAccessError
from runtime.pc.runloop import StopRun
from runtime.pc.x86 import CR0_PG, PTE_A, SEG_DB
from runtime.report import Outcome
from runtime.vmm.monitor_space import map_written, protect_page

MASK32 = 0xFFFFFFFF


class CodeMemory:
    """The translation cache's access to monitor memory (linear addresses)."""

    def __init__(self, mon: CodeTracing) -> None:
        self.mon = mon
        #: offsets of the range's lookup-table and TC pages mapped so far (map_written)
        self.mapped: set[int] = set()

    def write(self, linear: int, data: bytes) -> None:
        space = self.mon.space
        map_written(space, linear - space.base, len(data), self.mapped, self.mon.uc.mem_write)
        self.mon.uc.mem_write(space.to_phys(linear), data)

    def drop_cached(self, linear: int, size: int) -> None:
        if self.mon.booted:
            self.mon.uc.ctl_remove_cache(linear, linear + size)
            self.mon._scrub_exception_in_flight()


class CodeTracing:
    """Translating guest code and keeping the translations true to guest memory."""

    def _block(self, eip: int) -> Block:
        """The translation of guest ``eip`` in the current code segment (translating it now)."""
        base = self.vcpu.v.cs.base
        if self.vcpu.v.cpl == 3:  # never by design: user code runs direct
            self.mstats.user_blocks_translated += 1
        if not self.vcpu.v.cs.flags & SEG_DB:
            self._refuse_code16(eip)
        block = self.tc.lookup(base, eip)
        if block is None:
            mapping: dict[int, int] = {}

            def to_phys(linear_page: int) -> int:
                mapping[linear_page] = self._phys_page(linear_page)
                return mapping[linear_page]

            block = self.tc.translate(base, eip, to_phys=to_phys)
            if any(lp != pp for lp, pp in mapping.items()):  # () for the identity, the usual
                block.mapping = tuple(x for pair in mapping.items() for x in pair)
            for lp in mapping:
                self._code_lpages.setdefault(lp, set()).add(block)
            for page in block.pages:
                self._trace(page)
        self.last_block = block
        return block

    def _block_invalidated(self, block: Block) -> None:
        """The cache dropped ``block``: so does the index of linear code pages (an
        invalidated block kept there would live, with its metadata, forever)."""
        for lp in _linear_pages(block):
            blocks = self._code_lpages.get(lp)
            if blocks is not None:
                blocks.discard(block)
                if not blocks:
                    del self._code_lpages[lp]

    def _translations_flushed(self) -> None:
        """The cache was flushed: every block is gone, and what the instruction clock
        cached about translated code."""
        self._code_lpages.clear()
        self.counter.forget_code()

    def _refuse_code16(self, eip: int) -> None:
        """A 16-bit code segment (D clear) at CPL 0-2: decoded as 16-bit code and reported
        (status 14), never translated as 32-bit code (the rewriter emits 32-bit code only)."""
        cs = self.vcpu.v.cs
        try:
            unit = self.scanner.scan(cs.base, eip, cap=1, code16=True)
            first = f": {unit.insns[0].text}" if unit.insns else ""
        except Exception:  # noqa: BLE001 - an unreadable first instruction: the report stands
            first = ""
        raise StopRun(Outcome.UNSUPPORTED,
                    f"16-bit code at guest EIP {eip:#06x} in code segment {cs.selector:#06x} "
                    f"(base {cs.base:#010x}, D=0){first}: 16-bit guest code at CPL "
                    f"{self.vcpu.v.cpl} is not translated")

    def _tc_offsets(self, address: int, size: int) -> tuple[int, ...] | None:
        """For the instruction clock: retiring instructions of translated code at ``address``."""
        if not self.space.contains(address):
            return None
        block = self.tc.block_at(address)
        return block.retiring_offsets(address, size) if block is not None else ()

    def _tc_kind(self, address: int) -> int:
        """For the instruction clock's block runs: what a unicorn block start at ``address``
        is (an index of :data:`runtime.pc.icount.BLOCK_KINDS`): guest code, a translation's
        lookup entry (only ret and indirect branches jump there, through the table), its
        body (chained jumps and the monitor enter there) or other translated code."""
        if not self.space.contains(address):
            return 0
        block = self.tc.block_at(address)
        if block is None:
            return 3
        return 1 if address == block.addr else 2 if address == block.body else 3

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
                elif _mapped(block, lp) != now:
                    self.tc.invalidate(block)
                    blocks.discard(block)
                    self.mstats.remapped_code_invalidations += 1
                elif unaccessed and now >= 0:
                    self.tc.invalidate(block)
                    blocks.discard(block)
                    self.mstats.unaccessed_code_invalidations += 1

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


def _linear_pages(block: Block) -> tuple[int, ...]:
    """The linear pages ``block`` was translated from (its mapping, or the identity)."""
    return block.mapping[::2] if block.mapping else block.pages


def _mapped(block: Block, linear_page: int) -> int | None:
    """The guest physical page ``block`` was translated from at ``linear_page``."""
    m = block.mapping
    if not m:  # the identity
        return linear_page if linear_page in block.pages else None
    for i in range(0, len(m), 2):
        if m[i] == linear_page:
            return m[i + 1]
    return None
