"""The translation cache: where translation blocks live, how they find each other.

Monitor memory holds the translated code (a bump-allocated region, flushed
whole when full), and this module keeps the books: the map from guest
address to translation block, the exact map from every translated address
back to guest state, chaining of direct exits, the direct-mapped lookup
table that ret and indirect branches read, and invalidation by guest page
(QEMU's ``tb-maint.c`` is the model: invalidation is one ordered function).

The monitor owns the unicorn engine; this module reaches code memory only
through :class:`CodeMemory`, whose ``write`` is followed by a
``drop_cached`` wherever code unicorn may already have compiled changes
(``uc.mem_write`` does not invalidate unicorn's own blocks).
"""

from __future__ import annotations

import bisect
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bt.blockmap import BlockMap, MapEntry
from bt.rewrite import FLAGS_MODE_RULES, Annotation, CalloutSite, Rewriter
from bt.scan import Scanner, Stop

SLOTS = 1 << 16  # entries in each level of the lookup table


def l1_index(eip: int) -> int:
    """The first-level slot translated code computes (``bswap ecx; movzx ecx, cx``)."""
    return ((eip >> 24) & 0xFF) | (((eip >> 16) & 0xFF) << 8)


class CodeMemory(Protocol):
    def write(self, linear: int, data: bytes) -> None: ...
    def drop_cached(self, linear: int, size: int) -> None: ...


@dataclass
class TranslatorStats:
    """The translator's counters (``bt run --stats``), as QEMU's ``info jit`` shows."""

    lookups: int = 0
    hits: int = 0
    misses: int = 0
    translations: int = 0
    guest_insns_translated: int = 0
    bytes_emitted: int = 0
    chained_jumps: int = 0
    exits_taken: int = 0
    indirect_lookups_installed: int = 0
    indirect_misses: int = 0
    invalidations: int = 0
    invalidated_pages: int = 0
    flushes: int = 0
    #: dead blocks (invalidated, one-off) whose books were dropped before a flush
    reclaimed_blocks: int = 0
    #: translations of a guest address never translated before (the compulsory misses)
    first_translations: int = 0
    #: lookup-table installs of a guest EIP never installed before
    first_installs: int = 0
    #: guest code bytes translated (for the expansion ratio: bytes_emitted / this)
    guest_bytes_translated: int = 0
    #: seconds spent scanning and rewriting (translation speed: guest insns / this)
    translate_seconds: float = 0.0
    #: blocks dropped because the flags mode changed (they held pushf/popf)
    mode_invalidations: int = 0
    stop_reasons: Counter[str] = field(default_factory=Counter)
    #: translation-time: how many guest instructions each handling took
    handling: Counter[str] = field(default_factory=Counter)
    #: translation-time: rewritten instructions by rule (everything but ident)
    rules: Counter[str] = field(default_factory=Counter)
    #: the guest addresses translated / installed so far (for first_translations/installs)
    seen: set[tuple[int, int]] = field(default_factory=set, repr=False)
    installed: set[int] = field(default_factory=set, repr=False)

    def as_dict(self) -> dict[str, object]:
        """The counters (a dict for ``--stats`` and ``--json``)."""
        d = {k: v for k, v in self.__dict__.items() if not isinstance(v, Counter | set)}
        d["translate_seconds"] = round(self.translate_seconds, 6)
        d["stop_reasons"] = dict(self.stop_reasons)
        d["handling"] = dict(self.handling)
        d["rules"] = dict(sorted(self.rules.items()))
        if self.translations:
            d["avg_guest_insns_per_block"] = round(self.guest_insns_translated / self.translations, 2)
        if self.guest_insns_translated:
            d["bytes_per_guest_insn"] = round(self.bytes_emitted / self.guest_insns_translated, 2)
        return d


@dataclass(eq=False, slots=True)
class Exit:
    block: Block
    kind: str
    guest_target: int
    site: int  # linear address of the rel32
    stub: int  # linear address of the stub's int
    chained: Block | None = None


@dataclass(eq=False, slots=True)
class Block:
    """One translation block: guest ``cs_base:guest_eip`` up to ``guest_end``.

    Its map is a :class:`bt.blockmap.BlockMap` (compact arrays, not one object per
    emitted instruction); ``annotations`` (for ``bt explain``) are kept only when the
    cache's ``keep_annotations`` is set.
    """

    cs_base: int
    guest_eip: int
    guest_end: int
    pages: tuple[int, ...]  # guest pages its bytes came from
    addr: int  # the lookup entry (linear)
    body: int  # where chained jumps enter
    size: int
    stop: Stop
    map: BlockMap
    exits: Sequence[Exit] = ()
    callouts: Sequence[CalloutSite] = ()
    annotations: Sequence[Annotation] = ()
    incoming: list[Exit] | None = None  # exits chained to it (made at the first)
    valid: bool = True
    guest_insns: int = 0
    #: linear page, guest physical page it was translated from, ... (code tracing), flat;
    #: empty when every linear page is its physical page (``pages``)
    mapping: tuple[int, ...] = ()

    def chained_from(self, ex: Exit) -> None:
        if self.incoming is None:
            self.incoming = []
        self.incoming.append(ex)

    def unchain_from(self, ex: Exit) -> None:
        if self.incoming and ex in self.incoming:
            self.incoming.remove(ex)

    def entry_at(self, linear: int) -> MapEntry | None:
        """The map entry of the translated instruction at (or containing) ``linear``."""
        i = self.map.index_at(linear - self.addr)
        return self.map[i] if i >= 0 else None

    def retiring_offsets(self, start: int, size: int) -> tuple[int, ...]:
        """Offsets (from ``start``) of instructions in [start, start+size) that begin a guest
        instruction: what the instruction clock charges for a unicorn block there."""
        d = self.addr - start
        return tuple(o + d for o in self.map.retiring_between(start - self.addr,
                                                              start + size - self.addr))

    def first_of_insn(self, linear: int) -> int:
        """Linear address of the first translated instruction of the guest instruction that
        the translated instruction at ``linear`` belongs to."""
        m = self.map
        i = m.index_at(linear - self.addr)
        while i > 0 and not m.retires(i) and m.eips[i - 1] == m.eips[i]:
            i -= 1
        return self.addr + m.offsets[max(i, 0)]

    @property
    def metadata_bytes(self) -> int:
        """Python-side bytes of this block's books, by ``sys.getsizeof`` of each object it
        owns (the block, its map's arrays, exits, callout sites, annotations, lists, its
        page set and linear->physical mapping) plus one index slot for each exit and callout
        site: what ``--stats`` sums over resident blocks. The decoded guest instruction a
        callout site keeps (its handler reads the operands) is counted at its object size."""
        size = sys.getsizeof
        n = size(self) + sum(size(o) for o in self.map.objects()) + size(self.pages)
        for seq in (self.exits, self.callouts, self.annotations, self.incoming):
            n += size(seq) if seq else 0  # the empty tuple is shared
        n += sum(size(ex) + _INDEX_SLOT for ex in self.exits)
        for co in self.callouts:
            n += size(co) + size(co.__dict__) + _INDEX_SLOT
            if co.ginsn is not None:
                n += size(co.ginsn) + size(co.ginsn.__dict__) + size(co.ginsn.insn)
        n += sum(size(a) + size(a.__dict__) for a in self.annotations)
        n += size(self.mapping) if self.mapping else 0  # the empty tuple is shared
        return n + 3 * _INDEX_SLOT  # blocks, _by_start, _starts


#: a dict or list slot indexing an object (key, hash, value pointers: ~3 words)
_INDEX_SLOT = 24


class TranslationCache:
    """Blocks in the region [start, end) of monitor memory."""

    def __init__(self, memory: CodeMemory, start: int, end: int, scanner: Scanner,
                 rewriter: Rewriter, table: int, miss: int, miss_l2: int,
                 l2_pool: list[int]) -> None:
        self.memory = memory
        self.start, self.end = start, end
        self.scanner = scanner
        self.rewriter = rewriter
        self.table, self.miss = table, miss
        self.miss_l2 = miss_l2
        self.l2_pool = l2_pool
        self.memory.write(miss_l2, struct.pack("<I", miss) * SLOTS)
        self.stats = TranslatorStats()
        self.generation = 0  # bumped by every flush
        #: called after every flush: translated code at an address may now be different
        #: code (the instruction clock drops what it cached about the old)
        self.on_flush: Callable[[], None] | None = None
        #: called for every block invalidated (the monitor drops its own references to it)
        self.on_invalidate: Callable[[Block], None] | None = None
        #: keep each block's annotations (``bt explain``); off, they are counted and dropped
        self.keep_annotations = False
        self._reset()

    def _reset(self) -> None:
        self.free = self.start
        self.blocks: dict[tuple[int, int], Block] = {}
        self._starts: list[int] = []
        self._by_start: dict[int, Block] = {}
        self.pages: dict[int, set[Block]] = {}
        self.callouts: dict[int, tuple[Block, CalloutSite]] = {}
        self.exits: dict[int, Exit] = {}
        self._slots: dict[int, Block] = {}  # guest EIP -> block installed in the table
        self._l2: dict[int, int] = {}  # first-level slot -> its second-level table
        self.table_cs_base = 0
        #: blocks no lookup can reach any more (invalidated, one-off) whose books are kept
        #: until :meth:`reclaim`: the processor may still be inside one until it next
        #: leaves through the monitor
        self._dead: list[Block] = []
        #: blocks whose code depends on the rewriter's flags mode (pushf/popf in them)
        self.flags_blocks: set[Block] = set()

    # --- finding blocks -------------------------------------------------------------------------
    def lookup(self, cs_base: int, eip: int) -> Block | None:
        self.stats.lookups += 1
        block = self.blocks.get((cs_base, eip))
        if block is not None:
            self.stats.hits += 1
        else:
            self.stats.misses += 1
        return block

    def get(self, cs_base: int, eip: int) -> Block:
        """The block at ``cs_base:eip``, translated now if there is none (may raise what the
        scanner's first fetch raises)."""
        return self.lookup(cs_base, eip) or self.translate(cs_base, eip)

    def block_at(self, linear: int) -> Block | None:
        """The block whose code contains translated address ``linear``."""
        i = bisect.bisect_right(self._starts, linear) - 1
        if i < 0:
            return None
        block = self._by_start[self._starts[i]]
        return block if linear < block.addr + block.size else None

    def __iter__(self) -> Iterator[Block]:
        return iter(self.blocks.values())

    def memory_stats(self) -> dict[str, object]:
        """What the cache holds now (``--stats``): live (valid) blocks, blocks resident in
        the code region (valid or invalidated, until the flush reclaims them), their
        Python-side metadata bytes, and those bytes per guest instruction they translate."""
        resident = self._by_start.values()
        insns = sum(b.guest_insns for b in resident)
        meta = sum(b.metadata_bytes for b in resident)
        return {"live_blocks": len(self.blocks), "resident_blocks": len(self._by_start),
                "metadata_bytes": meta,
                "map_bytes": sum(b.map.nbytes for b in resident),
                "metadata_bytes_per_guest_insn":
                    round(meta / insns, 1) if insns else 0.0,
                "code_bytes": self.free - self.start}

    # --- translating ----------------------------------------------------------------------------
    def translate(self, cs_base: int, eip: int, cap: int | None = None,
                  register: bool = True, to_phys: Callable[[int], int] | None = None) -> Block:
        """Scan, rewrite and install the block at ``cs_base:eip``.

        ``register=False`` makes a one-off block that is neither found by
        lookups nor traced (the monitor uses it to re-run a single guest
        instruction that wrote its own page).
        """
        t0 = time.perf_counter()
        unit = self.scanner.scan(cs_base, eip, cap)
        if to_phys is not None:  # index blocks by the guest physical pages they came from
            unit.pages = frozenset(to_phys(p) for p in unit.pages)
        base = self.free
        emission = self.rewriter.rewrite(unit, base)
        if base + len(emission.code) > self.end:
            self.flush()
            base = self.free
            emission = self.rewriter.rewrite(unit, base)
        self.stats.translate_seconds += time.perf_counter() - t0
        code = emission.code
        emission.map.freeze()
        block = Block(cs_base, eip, unit.end_eip, tuple(sorted(unit.pages)), base,
                      base + emission.body, len(code), unit.stop, emission.map,
                      callouts=tuple(emission.callouts),
                      annotations=tuple(emission.annotations) if self.keep_annotations else (),
                      guest_insns=len(unit.insns))
        exits = []
        for site in emission.exits:
            ex = Exit(block, site.kind, site.guest_target, base + site.site, base + site.stub)
            exits.append(ex)
            self.exits[ex.stub + 2] = ex
            target = self.blocks.get((cs_base, site.guest_target)) if register else None
            if target is not None:
                struct.pack_into("<i", code, site.site, target.body - (ex.site + 4))
                ex.chained = target
                target.chained_from(ex)
                self.stats.chained_jumps += 1
        block.exits = tuple(exits)
        for co in emission.callouts:
            self.callouts[base + co.at + 2] = (block, co)
        self.memory.write(base, bytes(code))
        self.memory.drop_cached(base, len(code))
        self.free = (base + len(code) + 15) & ~15
        self._starts.append(base)
        self._by_start[base] = block
        st = self.stats
        st.translations += 1
        st.guest_insns_translated += len(unit.insns)
        st.guest_bytes_translated += unit.end_eip - eip
        if register and (cs_base, eip) not in st.seen:
            st.seen.add((cs_base, eip))
            st.first_translations += 1
        st.bytes_emitted += len(code)
        st.stop_reasons[unit.stop.value] += 1
        st.handling.update(emission.handling)
        for note in emission.annotations:
            if note.handling != "ident":
                st.rules[f"{note.rule} ({note.handling})"] += 1
        if register:
            self.blocks[(cs_base, eip)] = block
            for page in unit.pages:
                self.pages.setdefault(page, set()).add(block)
            if any(note.rule in FLAGS_MODE_RULES for note in emission.annotations):
                self.flags_blocks.add(block)
        else:
            self._dead.append(block)  # one run, then nothing reaches it
        return block

    def invalidate_flags_blocks(self) -> int:
        """The rewriter's flags mode changed (the guest moved between CPL 0 and CPL 1/2, or
        its IOPL changed): drop only the blocks translated for the old one; returns how many.
        Every other block is the same in every flags mode and stays."""
        blocks, self.flags_blocks = self.flags_blocks, set()
        for block in blocks:
            self.invalidate(block)
        self.stats.mode_invalidations += len(blocks)
        return len(blocks)

    def chain(self, ex: Exit, target: Block) -> None:
        """Patch exit ``ex`` to jump straight to ``target`` (same code segment base only)."""
        if not ex.block.valid or not target.valid or ex.chained is not None:
            return
        if target.cs_base != ex.block.cs_base:
            return
        self.memory.write(ex.site, struct.pack("<i", target.body - (ex.site + 4)))
        self.memory.drop_cached(ex.site, 4)
        ex.chained = target
        target.chained_from(ex)
        self.stats.chained_jumps += 1

    # --- the lookup table -------------------------------------------------------------------------
    def install_lookup(self, block: Block) -> None:
        """Make ret/indirect branches to ``block.guest_eip`` enter it without the monitor.

        The table is exact (no tag to compare, so no flags touched and no
        block split at the destination): first level by the guest EIP's high
        half, second level by its low half. Second levels come from a small
        pool; when it runs dry the whole table is emptied and refilled by
        misses.
        """
        if block.cs_base != self.table_cs_base:
            self.clear_lookup(block.cs_base)
        eip = block.guest_eip
        hi = l1_index(eip)
        l2 = self._l2.get(hi)
        if l2 is None:
            if len(self._l2) == len(self.l2_pool):
                self.clear_lookup(block.cs_base)
            l2 = self.l2_pool[len(self._l2)]
            self.memory.write(l2, struct.pack("<I", self.miss) * SLOTS)
            self._l2[hi] = l2
            self.memory.write(self.table + 4 * hi, struct.pack("<I", l2))
        self._slots[eip] = block
        self.memory.write(l2 + 4 * (eip & 0xFFFF), struct.pack("<I", block.addr))
        self.stats.indirect_lookups_installed += 1
        if eip not in self.stats.installed:
            self.stats.installed.add(eip)
            self.stats.first_installs += 1

    def clear_lookup(self, cs_base: int) -> None:
        """Empty the table (every slot to the miss stub): entries hold for one CS base."""
        self.memory.write(self.table, struct.pack("<I", self.miss_l2) * SLOTS)
        self._slots.clear()
        self._l2.clear()
        self.table_cs_base = cs_base

    # --- invalidation -----------------------------------------------------------------------------
    def invalidate_page(self, page: int) -> int:
        """Drop every block with guest bytes on ``page``; returns how many."""
        blocks = self.pages.pop(page, set())
        for block in list(blocks):
            self.invalidate(block)
        if blocks:
            self.stats.invalidated_pages += 1
        return len(blocks)

    def invalidate(self, block: Block) -> None:
        """Mark invalid, drop from the map and the page index, clear its lookup slot,
        unlink incoming chains (back to their stubs), count it."""
        if not block.valid:
            return
        block.valid = False
        self.flags_blocks.discard(block)
        if self.blocks.get((block.cs_base, block.guest_eip)) is block:
            del self.blocks[(block.cs_base, block.guest_eip)]
        for page in block.pages:
            others = self.pages.get(page)
            if others is not None:
                others.discard(block)
                if not others:
                    del self.pages[page]
        if self._slots.get(block.guest_eip) is block:
            del self._slots[block.guest_eip]
            l2 = self._l2[l1_index(block.guest_eip)]
            self.memory.write(l2 + 4 * (block.guest_eip & 0xFFFF), struct.pack("<I", self.miss))
        for ex in block.incoming or ():
            if ex.block.valid and ex.chained is block:
                self.memory.write(ex.site, struct.pack("<i", ex.stub - (ex.site + 4)))
                self.memory.drop_cached(ex.site, 4)
            ex.chained = None
        block.incoming = None
        for ex in block.exits:
            if ex.chained is not None:
                ex.chained.unchain_from(ex)
                ex.chained = None
        self.stats.invalidations += 1
        self._dead.append(block)
        if self.on_invalidate is not None:
            self.on_invalidate(block)

    def reclaim(self) -> int:
        """Drop the books of dead blocks (invalidated or one-off): their map, exits and
        callout sites leave the cache's indexes, so memory follows the live blocks and not
        the number of retranslations. Only safe when the processor is in none of them (the
        monitor calls it as it enters a valid block); their code bytes stay until the
        flush (the region is bump-allocated), never entered again. Returns how many."""
        if not self._dead:
            return 0
        dead, self._dead = self._dead, []
        for block in dead:
            block.valid = False
            if self._by_start.pop(block.addr, None) is None:
                continue
            i = bisect.bisect_left(self._starts, block.addr)
            if i < len(self._starts) and self._starts[i] == block.addr:
                del self._starts[i]
            for ex in block.exits:
                self.exits.pop(ex.stub + 2, None)
                if ex.chained is not None:  # a one-off's exit chained before it died
                    ex.chained.unchain_from(ex)
                    ex.chained = None
            for co in block.callouts:
                self.callouts.pop(block.addr + co.at + 2, None)
            self.stats.reclaimed_blocks += 1
        return len(dead)

    def relocate(self, start: int, end: int, table: int, miss: int, miss_l2: int,
                 l2_pool: list[int]) -> None:
        """The monitor moved in the linear address space: drop every block (they hold
        absolute addresses) and rebuild the lookup table at its new place."""
        self.start, self.end, self.table, self.miss = start, end, table, miss
        self.miss_l2, self.l2_pool = miss_l2, l2_pool
        self.memory.write(miss_l2, struct.pack("<I", miss) * SLOTS)
        self.flush()

    def flush(self) -> None:
        """Drop everything (the cache is full)."""
        for block in self._by_start.values():
            block.valid = False
        self.memory.drop_cached(self.start, self.end - self.start)
        cs_base = self.table_cs_base
        self._reset()
        self.clear_lookup(cs_base)
        self.generation += 1
        self.stats.flushes += 1
        if self.on_flush is not None:
            self.on_flush()
