"""The monitor's address space: its reserved range, its page tables, its shadow descriptors.

The monitor lives in the top 4 MiB of the linear address space, as
VMware's did (0xFFC00000-0xFFFFFFFF), backed by 4 MiB of unicorn memory
placed above guest RAM. Every address space the guest runs in maps it
supervisor-only, so guest user code (CPL 3) cannot reach it at all, and
read-only (CR0.WP is always 1 in the real CR0), so translated guest kernel
code (CPL 1) can read its virtual-CPU page and lookup table but write
nothing there. The monitor itself writes through physical addresses.

Until guests with paging are supported (the shadow-paging issue), guest
linear addresses map one to one onto guest RAM through the page tables
built here, every page user-writable except the pages that hold guest code
the translator has translated: those are write-protected (traced) so that
a guest write there faults and invalidates the translations.

The real GDT and LDT are *shadows* of the guest's: the same selectors,
guest DPL 0 become DPL 1 (ring compression: translated kernel code runs at
CPL 1), gates retargeted so that the processor never transfers control
through them on its own (a ring-3 ``lcall`` through a guest call gate
faults into the monitor, which emulates it), see :func:`shadow_descriptor`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from runtime.pc.x86 import PTE_A, PTE_D, PTE_P, PTE_U, PTE_W

MIB = 1 << 20
MON_LINEAR = 0xFFC00000
MON_SIZE = 4 * MIB

# offsets inside the monitor range
PAGE_DIRECTORY = 0x000000
MONITOR_PT = 0x001000
VCPU_PAGE = 0x002000
TRAP_TSS = 0x002800  # a TSS of zeros: null inner stacks (see runtime/vmm/vcpu.py)
CODE_PAGE = 0x003000  # the miss stub: int CALLOUT_VECTOR
DEVICE_PT = 0x004000  # the identity map's page table of the 4 MiB holding the APICs' pages
SHADOW_GDT = 0x010000
SHADOW_LDT = 0x020000
#: the lookup table: a first level of 64 Ki pointers (by the guest EIP's high half), each to a
#: second level of 64 Ki translated entries (by the low half); see bt/cache.py
LOOKUP_L1 = 0x040000
LOOKUP_MISS_L2 = 0x080000  # the second level every empty first-level slot names: all misses
LOOKUP_L2_POOL = 0x0C0000
LOOKUP_L2_COUNT = 4
GUEST_PTS = 0x1C0000  # one page table per 4 MiB of guest RAM
SHADOW_POOL = 0x240000  # pages for shadow page directories and tables
SHADOW_POOL_PAGES = 128
TC_START = 0x2C0000
TC_END = MON_SIZE
MAX_GUEST_RAM = (TC_START - GUEST_PTS) // 4096 * 4 * MIB  # 1024 MiB

#: the parts of the range the processor reaches by linear address (read-only, supervisor),
#: mapped from the start: the virtual-CPU page and trap TSS, the miss stub, the shadow
#: GDT/LDT. The lookup table and the translation cache (ON_DEMAND) are mapped page by page
#: as the translator first writes them (:func:`map_written`): a TC page holding no code yet,
#: a second-level lookup table not yet in use, stay unmapped. The rest (page tables, shadow
#: pool) is reached only physically and never mapped: a guest access to an unmapped page of
#: the range faults as an access to an unmapped address would (the read leak, reduced).
LINEAR_MAPPED = ((VCPU_PAGE, CODE_PAGE + 0x1000), (SHADOW_GDT, SHADOW_LDT + 0x10000))
ON_DEMAND = ((LOOKUP_L1, GUEST_PTS), (TC_START, TC_END))

#: the software interrupt translated code uses for callouts and exits
CALLOUT_VECTOR = 0xF1
#: fields of the virtual-CPU page that translated code loads (offsets)
VCPU_FIELDS = {"smsw": 0x00, "str": 0x04, "sldt": 0x08, "sgdt": 0x10, "sidt": 0x18}

_SUPERVISOR_RO = PTE_P | PTE_A | PTE_D
_USER_RW = PTE_P | PTE_W | PTE_U | PTE_A | PTE_D


@dataclass(frozen=True)
class MonitorSpace:
    """Where the monitor range sits: ``phys`` is its unicorn physical address."""

    phys: int
    ram_size: int
    #: where the range sits in the linear address space (moves when the guest needs it)
    base: int = MON_LINEAR

    def linear(self, offset: int) -> int:
        return self.base + offset

    def to_phys(self, linear: int) -> int:
        return self.phys + (linear - self.base)

    def contains(self, linear: int) -> bool:
        return self.base <= linear < self.base + MON_SIZE

    @property
    def pde_index(self) -> int:
        return self.base >> 22

    @property
    def pde(self) -> int:
        """The PDE that maps the range (supervisor; the PTEs say read-only)."""
        return (self.phys + MONITOR_PT) | PTE_P | PTE_W | PTE_A

    def shadow_pool(self) -> list[int]:
        return [self.phys + SHADOW_POOL + 4096 * i for i in range(SHADOW_POOL_PAGES)]

    @property
    def cr3(self) -> int:
        return self.phys + PAGE_DIRECTORY

    def vcpu_field(self, name: str) -> int:
        return self.base + VCPU_PAGE + VCPU_FIELDS[name]

    def guest_pte_phys(self, page: int) -> int:
        """Physical address of the identity PTE that maps guest page ``page`` (linear)."""
        return self.phys + GUEST_PTS + (page >> 12) * 4


def place(ram_size: int) -> MonitorSpace:
    """Put the monitor's 4 MiB right above guest RAM (4 MiB aligned)."""
    if ram_size > MAX_GUEST_RAM:
        raise ValueError(f"the monitor supports at most {MAX_GUEST_RAM >> 20} MiB of guest RAM")
    phys = (ram_size + MON_SIZE - 1) & ~(MON_SIZE - 1)
    return MonitorSpace(phys, ram_size)


def build_page_tables(space: MonitorSpace, write: Callable[[int, bytes], None],
                      devices: tuple[range, ...] = ()) -> None:
    """The identity map of guest RAM (user, writable), of the memory-mapped devices' pages
    (``devices``: physical ranges, all in one 4 MiB slot; unicorn's MMIO regions there reach
    the device models, never RAM) and of the monitor range (supervisor, read-only)."""
    ram_pages = space.ram_size >> 12
    tables = (ram_pages + 1023) // 1024
    pd = bytearray(4096)
    for i in range(tables):
        struct.pack_into("<I", pd, 4 * i, (space.phys + GUEST_PTS + 4096 * i) | _USER_RW)
    if devices:
        slots = {r.start >> 22 for r in devices} | {(r.stop - 1) >> 22 for r in devices}
        assert len(slots) == 1 and space.pde_index not in slots, "device pages: one 4 MiB slot"
        dev_pt = bytearray(4096)
        for r in devices:
            for page in range(r.start, r.stop, 4096):
                struct.pack_into("<I", dev_pt, 4 * ((page >> 12) & 0x3FF), page | _USER_RW)
        write(space.phys + DEVICE_PT, bytes(dev_pt))
        struct.pack_into("<I", pd, 4 * slots.pop(), (space.phys + DEVICE_PT) | _USER_RW)
    struct.pack_into("<I", pd, 4 * space.pde_index, space.pde)
    write(space.phys + PAGE_DIRECTORY, bytes(pd))
    # (page << 12) | _USER_RW for every page, packed at once (a loop of pack_into cost
    # ~10 ms of start-up for 128 MiB), then the last table's unused entries
    ptes = struct.pack(f"<{ram_pages}I", *range(_USER_RW, (ram_pages << 12) + _USER_RW, 4096))
    write(space.phys + GUEST_PTS, ptes + bytes(4 * (tables * 1024 - ram_pages)))
    mon = bytearray(4096)
    for start, end in LINEAR_MAPPED:
        for off in range(start, end, 4096):
            struct.pack_into("<I", mon, 4 * (off >> 12), (space.phys + off) | _SUPERVISOR_RO)
    write(space.phys + MONITOR_PT, bytes(mon))


def map_written(space: MonitorSpace, offset: int, size: int, mapped: set[int],
                write: Callable[[int, bytes], None]) -> None:
    """Map (supervisor, read-only) the ON_DEMAND pages of [offset, offset + size) of the range
    that are not yet in ``mapped`` (page offsets). Only ever adds mappings, so no TLB flush
    is needed (a not-present walk is not cached)."""
    for page in range(offset & ~0xFFF, offset + size, 0x1000):
        if page in mapped or not any(lo <= page < hi for lo, hi in ON_DEMAND):
            continue
        mapped.add(page)
        write(space.phys + MONITOR_PT + 4 * (page >> 12),
              struct.pack("<I", (space.phys + page) | _SUPERVISOR_RO))


def mapped_pages(space: MonitorSpace, read: Callable[[int, int], bytes]) -> int:
    """How many pages of the range guest kernel code can read (present PTEs)."""
    ptes = struct.unpack("<1024I", read(space.phys + MONITOR_PT, 4096))
    return sum(1 for pte in ptes if pte & PTE_P)


def protect_page(space: MonitorSpace, page: int, writable: bool,
                 write: Callable[[int, bytes], None]) -> None:
    """Make guest page ``page`` writable or read-only in the identity map (caller flushes)."""
    flags = _USER_RW if writable else _USER_RW & ~PTE_W
    write(space.guest_pte_phys(page), struct.pack("<I", (page & ~0xFFF) | flags))


# --- shadow descriptors ------------------------------------------------------------------
#: the selector shadow gates point at: beyond any GDT limit the monitor accepts, so that
#: the processor faults #GP(TRAP_SELECTOR) instead of transferring through a guest gate
TRAP_SELECTOR = 0xFFF8
_CALL_GATES = (0x4, 0xC)
_TASK_GATE = 0x5
_AVAILABLE_TSS = (0x1, 0x9)


def shadow_descriptor(raw: bytes) -> bytes:
    """The real descriptor for a guest descriptor (8 bytes), per the module docstring.

    Nonconforming code and data segments of DPL 0 become DPL 1; conforming code
    keeps its DPL (no privilege change happens through it, and lar shows it).
    Call and task gates keep everything ``lar`` shows but name TRAP_SELECTOR, so
    a ring-3 ``lcall`` through them faults into the monitor; an available TSS is
    shown busy, so that no ``ljmp`` switches tasks behind the monitor's back. The
    accessed bit stays the guest's: the processor's write of it faults (the page
    is read-only) and the monitor sets it in both tables.
    """
    lo, hi = struct.unpack("<II", raw)
    access = (hi >> 8) & 0xFF
    kind = access & 0xF
    if not access & 0x10:  # system descriptor
        if kind in _CALL_GATES or kind == _TASK_GATE:
            lo = (lo & 0x0000FFFF) | (TRAP_SELECTOR << 16)
        elif kind in _AVAILABLE_TSS:
            hi |= 0x2 << 8
        return struct.pack("<II", lo, hi)
    dpl = (access >> 5) & 3
    conforming_code = access & 0x8 and access & 0x4
    if dpl == 0 and not conforming_code:
        hi = (hi & ~(3 << 13)) | (1 << 13)
    return struct.pack("<II", lo, hi)


def ring3_task_switch_possible(raw: bytes) -> bool:
    """Does this descriptor table let ring-3 code switch tasks (a DPL-3 task gate or
    available TSS)? The processor would do it behind the monitor's back: such a
    table is used through its shadow."""
    for i in range(0, len(raw) - 7, 8):
        access = raw[i + 5]
        if access & 0x90 == 0x80 and access >> 5 & 3 == 3 and access & 0xF in (0x1, 0x5, 0x9):
            return True
    return False


def shadow_table(raw: bytes) -> bytes:
    """The shadow of a whole table. When the table itself reaches TRAP_SELECTOR, a gate
    retargeted there would reach the guest's own descriptor: gates then name the null
    selector instead (SDM vol 2 CALL/JMP: a null code-segment or TSS selector in a gate
    is #GP(0)), so that the ring-3 transfer still faults into the monitor while lar, lsl
    and verr see every bit they show of the gate unchanged."""
    full = len(raw) > (TRAP_SELECTOR & ~7)
    out = []
    for i in range(0, len(raw) - 7, 8):
        d = shadow_descriptor(raw[i:i + 8])
        if full and not raw[i + 5] & 0x10 and raw[i + 5] & 0xF in (*_CALL_GATES, _TASK_GATE):
            lo, hi = struct.unpack("<II", d)
            d = struct.pack("<II", lo & 0x0000FFFF, hi)
        out.append(d)
    return b"".join(out)
