"""Shadow page tables: the real x86 tables unicorn walks while the guest has paging on.

The guest's page tables say what the guest believes; the processor walks
*shadow* tables the monitor builds from them, lazily (SDM vol 3A, chapter
4, is the contract both must honour):

* a #PF the guest's tables would not raise is a **hidden fault**: the
  monitor walks the guest's tables (setting accessed and dirty bits in the
  guest's entries as the hardware would), fills the shadow entry and lets
  the instruction run again;
* one they would raise is a **true fault**: reflected to the guest with the
  guest's error code and CR2.

Permissions are composed exactly: the shadow PTE is user when the guest's
PDE and PTE both are, writable when both are (or, with the guest's CR0.WP
clear, for the guest kernel, which runs at CPL 1 and is a supervisor to
the MMU); a page whose guest PTE is not yet dirty is mapped read-only until
the first write, so that the monitor sets D exactly then.

**Traces**: guest physical pages that hold the guest's page tables, and
those holding guest code the translator has translated, are mapped
read-only in every shadow. A write there faults into the monitor: for a
page-table page, the shadow entries derived from it are dropped and the
page is untraced until a walk reads it again; for a code page, the
translations are dropped (the monitor's callback).

Shadows are kept per guest CR3 (a small LRU), so switching address spaces
back is cheap; every shadow maps the monitor's own range (its 4 MiB PDE).
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from runtime.pc.paging import GuestMemory, PageFault, PhysicalAccessError
from runtime.pc.x86 import (
    CR0_WP,
    PTE_A,
    PTE_D,
    PTE_P,
    PTE_U,
    PTE_W,
)

MAX_ROOTS = 8


@dataclass
class ShadowStats:
    hidden_faults: int = 0
    true_faults: int = 0
    trace_faults: int = 0
    shadow_ptes_filled: int = 0
    device_ptes_filled: int = 0
    shadow_pts_dropped: int = 0
    roots_created: int = 0
    roots_reused: int = 0
    cr3_switches: int = 0
    invlpg: int = 0
    pool_flushes: int = 0


@dataclass(eq=False)
class Root:
    guest_cr3: int
    pd: int  # physical address of the shadow page directory
    pts: dict[int, int] = field(default_factory=dict)  # PDE index -> shadow PT physical


class MonitorRangeConflict(Exception):
    """The guest maps the linear range the monitor occupies."""

    def __init__(self, linear: int) -> None:
        super().__init__(f"the guest maps {linear:#010x}, inside the monitor's range")
        self.linear = linear


class ShadowMMU:
    """Shadow roots and their pages, in a pool of monitor pages (physical addresses).

    ``mem`` is the guest's view (its own tables, its CR0/CR3/CR4);
    ``write``/``read`` reach unicorn physical memory directly; ``monitor_pde``
    gives the PDE index and the PDE that map the monitor; ``set_root`` loads
    the real CR3; ``flush_tlb`` drops unicorn's TLB; ``code_written`` drops
    the translations of a guest page. All may run inside a unicorn hook.
    """

    def __init__(self, mem: GuestMemory, read: Callable[[int, int], bytes],
                 write: Callable[[int, bytes], None], pool: list[int],
                 monitor_pde: Callable[[], tuple[int, int]], set_root: Callable[[int], None],
                 flush_tlb: Callable[[], None], code_written: Callable[[int], None],
                 guest_regs: Callable[[], tuple[int, int, int]],
                 is_device: Callable[[int], bool] = lambda frame: False) -> None:
        self.mem = mem
        self.read, self.write = read, write
        self.pool = pool
        self.monitor_pde = monitor_pde
        self.set_root = set_root
        self.flush_tlb = flush_tlb
        self.code_written = code_written
        self.guest_regs = guest_regs
        #: frames a device decodes (the APICs): mapped to the device's MMIO region, never RAM
        self.is_device = is_device
        self.stats = ShadowStats()
        self.roots: OrderedDict[int, Root] = OrderedDict()
        self.free = list(pool)
        self.current: Root | None = None
        self.table_pages: set[int] = set()  # guest page-table pages, traced
        self.code_pages: set[int] = set()  # guest code pages with translations, traced
        self.rmap: dict[int, set[int]] = {}  # guest frame -> shadow PTE addresses mapping it
        self.derived: dict[int, set[tuple[Root, int]]] = {}  # guest table page -> (root, pdi)
        self.pd_of: dict[int, set[Root]] = {}  # guest PD page -> roots shadowing it
        #: shadow PTEs made writable for the guest kernel under CR0.WP=0 on user pages
        self.kernel_only_writes: set[int] = set()
        #: the last fault was a write to a guest page-table page (a trace fault)
        self.last_table_write = False

    # --- roots ----------------------------------------------------------------------------
    def _page(self) -> int:
        if not self.free:
            self.reset()
            self.stats.pool_flushes += 1
        page = self.free.pop()
        self.write(page, bytes(4096))
        return page

    def reset(self) -> None:
        """Drop every shadow (the pool ran dry, or the monitor moved)."""
        self.roots.clear()
        self.free = list(self.pool)
        self.rmap.clear()
        self.derived.clear()
        self.pd_of.clear()
        self.kernel_only_writes.clear()
        self.current = None

    def activate(self, guest_cr3: int) -> None:
        """Load the shadow of the guest's CR3 (creating it empty but for the monitor)."""
        self.stats.cr3_switches += 1
        key = guest_cr3 & 0xFFFFF000
        root = self.roots.get(key)
        if root is None:
            if len(self.roots) >= MAX_ROOTS:
                _, old = self.roots.popitem(last=False)
                self._free_root(old)
            pd = self._page()
            root = Root(key, pd)
            index, pde = self.monitor_pde()
            self.write(pd + 4 * index, struct.pack("<I", pde))
            self.roots[key] = root
            self.pd_of.setdefault(key, set()).add(root)
            self.stats.roots_created += 1
        else:
            self.roots.move_to_end(key)
            self.stats.roots_reused += 1
        self.current = root
        self.set_root(root.pd)

    def _free_root(self, root: Root) -> None:
        for pt in root.pts.values():
            self._forget_pt(pt)
            self.free.append(pt)
        self.free.append(root.pd)
        self.pd_of.get(root.guest_cr3, set()).discard(root)
        if self.current is root:
            self.current = None

    def _forget_pt(self, pt: int) -> None:
        for ptes in self.rmap.values():
            for a in [a for a in ptes if pt <= a < pt + 4096]:
                ptes.discard(a)
        self.kernel_only_writes = {a for a in self.kernel_only_writes if not pt <= a < pt + 4096}

    def move_monitor(self, old_index: int) -> None:
        """The monitor moved: every shadow maps it at its new PDE, the old one emptied."""
        index, pde = self.monitor_pde()
        for root in self.roots.values():
            self.write(root.pd + 4 * old_index, bytes(4))
            self.write(root.pd + 4 * index, struct.pack("<I", pde))
        self.flush_tlb()

    # --- filling --------------------------------------------------------------------------------
    def fault(self, linear: int, write: bool, user: bool, in_monitor_range: bool) -> None:
        """A #PF at ``linear`` with guest paging on: fix the shadow (hidden fault) or raise
        the guest's PageFault (true fault). Raises MonitorRangeConflict when the guest maps
        the monitor's range, PhysicalAccessError for a frame outside guest RAM."""
        self.last_table_write = False
        try:  # the guest's translation, A (and D on a write) set as the processor would
            walk = self.mem.walk(linear, write=write, user=user)
        except PageFault:
            self.stats.true_faults += 1
            raise
        frame, pte, pd_page, pt_page = walk.frame, walk.entry, walk.pd_page, walk.pt_page
        user_ok, write_ok = bool(walk.rights & PTE_U), bool(walk.rights & PTE_W)
        if in_monitor_range:
            raise MonitorRangeConflict(linear)
        device = frame + 4096 > self.mem.ram_size and self.is_device(frame)
        if frame + 4096 > self.mem.ram_size and not device:
            raise PhysicalAccessError(frame)
        self.stats.hidden_faults += 1
        root = self.current
        assert root is not None, "guest paging on without a shadow root"
        if device:
            self.stats.device_ptes_filled += 1
        table_page = pt_page if pt_page >= 0 else pd_page
        self.last_table_write = write and frame in self.table_pages
        if write and (frame in self.table_pages or frame in self.code_pages):
            self.stats.trace_faults += 1
            self._untrace(frame)  # may drop this root's shadow tables too
        for page in {pd_page, table_page}:
            if not (write and page == frame):  # a table written through itself stays open
                self._trace_table(page)
        self.pd_of.setdefault(pd_page, set()).add(root)
        self.derived.setdefault(table_page, set()).add((root, linear >> 22))
        pdi = linear >> 22
        pt = root.pts.get(pdi)
        if pt is None:
            pt = self._page()
            if self.current is not root:  # the pool was reset under us: start again
                raise ShadowRetry
            root.pts[pdi] = pt
            self.write(root.pd + 4 * pdi, struct.pack("<I", pt | PTE_P | PTE_W | PTE_U | PTE_A))
        cr0 = self.guest_regs()[0]
        writable = write_ok or (not user and not cr0 & CR0_WP)
        entry = frame | PTE_P | PTE_A | PTE_D | (PTE_U if user_ok else 0)
        traced = frame in self.table_pages or frame in self.code_pages
        if writable and not traced and (pte & PTE_D or write):
            entry |= PTE_W
        addr = pt + 4 * ((linear >> 12) & 0x3FF)
        old = struct.unpack("<I", self.read(addr, 4))[0]
        self.write(addr, struct.pack("<I", entry))
        self.rmap.setdefault(frame, set()).add(addr)
        if entry & PTE_W and user_ok and not write_ok:
            self.kernel_only_writes.add(addr)  # CR0.WP=0: the guest kernel may, user code not
        self.stats.shadow_ptes_filled += 1
        if old & PTE_P and (old & ~entry & (PTE_W | PTE_U) or (old ^ entry) & 0xFFFFF000):
            self.flush_tlb()

    def entering_user(self) -> None:
        """Before guest user code runs: take back kernel-only writes (CR0.WP=0 upgrades)."""
        if not self.kernel_only_writes:
            return
        for addr in self.kernel_only_writes:
            value = struct.unpack("<I", self.read(addr, 4))[0]
            self.write(addr, struct.pack("<I", value & ~PTE_W))
        self.kernel_only_writes.clear()
        self.flush_tlb()

    # --- traces --------------------------------------------------------------------------------
    def _trace_table(self, page: int) -> None:
        if page not in self.table_pages:
            self.table_pages.add(page)
            self._write_protect(page)

    def trace_code(self, page: int) -> None:
        if page not in self.code_pages:
            self.code_pages.add(page)
            self._write_protect(page)

    def _write_protect(self, frame: int) -> None:
        changed = False
        for addr in self.rmap.get(frame, ()):
            value = struct.unpack("<I", self.read(addr, 4))[0]
            if value & PTE_W:
                self.write(addr, struct.pack("<I", value & ~PTE_W))
                changed = True
        if changed:
            self.flush_tlb()

    def _untrace(self, frame: int) -> None:
        """A traced page is being written: drop what depends on it."""
        if frame in self.code_pages:
            self.code_pages.discard(frame)
            self.code_written(frame)
        if frame in self.table_pages:
            self.table_pages.discard(frame)
            self.table_written(frame)

    def table_written(self, page: int) -> None:
        """The guest changed (or will change) a page-table page: drop the shadows built
        from it (they refill from the new contents on the next fault)."""
        dropped = False
        for root in list(self.pd_of.pop(page, set())):
            for pdi, pt in list(root.pts.items()):
                self._forget_pt(pt)
                self.free.append(pt)
                self.write(root.pd + 4 * pdi, bytes(4))
                del root.pts[pdi]
                self.stats.shadow_pts_dropped += 1
            dropped = True
        for root, pdi in self.derived.pop(page, set()):
            pt = root.pts.pop(pdi, None)
            if pt is not None:
                self._forget_pt(pt)
                self.free.append(pt)
                self.write(root.pd + 4 * pdi, bytes(4))
                self.stats.shadow_pts_dropped += 1
                dropped = True
        if dropped:
            self.flush_tlb()

    def invlpg(self, linear: int) -> None:
        """Drop the current shadow's entry for ``linear`` (INVLPG)."""
        self.stats.invlpg += 1
        root = self.current
        if root is None:
            return
        pt = root.pts.get(linear >> 22)
        if pt is not None:
            self.write(pt + 4 * ((linear >> 12) & 0x3FF), bytes(4))
        self.flush_tlb()

    def flush_all(self) -> None:
        """A TLB flush the guest asked for where the monitor cannot tell what changed (a
        CR4.PGE/PSE change): rebuild every shadow lazily."""
        for root in list(self.roots.values()):
            for pdi, pt in list(root.pts.items()):
                self._forget_pt(pt)
                self.free.append(pt)
                self.write(root.pd + 4 * pdi, bytes(4))
            root.pts.clear()
        self.derived.clear()
        self.flush_tlb()


class ShadowRetry(Exception):
    """The shadow pool was reset while filling: the fault is retried from the start."""
