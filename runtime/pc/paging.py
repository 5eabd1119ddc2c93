"""The guest's view of linear memory, for accesses the machine makes itself.

When the bare machine plays the CPU (pushing an exception frame, reading a
gate from the IDT, a stack pointer from the TSS), it must go through the
guest's own page tables exactly as the processor would, setting accessed
and dirty bits and raising #PF with the architectural error code when the
walk fails. 32-bit paging with 4 KiB and 4 MiB (CR4.PSE) pages: SDM vol 3A,
4.3 (structure), 4.6 (access rights, CR0.WP), 4.7 (#PF error code) and
4.8 (accessed and dirty flags).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import NamedTuple

from runtime.pc.x86 import (
    CR0_PG,
    CR0_WP,
    CR4_PSE,
    PAGE_SIZE,
    PDE_RSVD_4M,
    PF_P,
    PF_RSVD,
    PF_U,
    PF_W,
    PTE_A,
    PTE_D,
    PTE_P,
    PTE_PS,
    PTE_U,
    PTE_W,
)


class PageFault(Exception):
    """A #PF the walk would raise: ``cr2`` is the linear address, ``error_code`` per SDM 4.7;
    ``entry`` is the entry the walk stopped at (not present, a reserved bit set, or
    lacking the rights), when a walk raised it."""

    def __init__(self, cr2: int, error_code: int, entry: int | None = None) -> None:
        super().__init__(f"#PF at {cr2:#010x} error {error_code:#x}")
        self.cr2 = cr2
        self.error_code = error_code
        self.entry = entry


class PhysicalAccessError(Exception):
    """The guest (or its tables) named physical memory outside its RAM."""

    def __init__(self, paddr: int) -> None:
        super().__init__(f"physical address {paddr:#010x} is outside guest RAM")
        self.paddr = paddr


class Walk(NamedTuple):
    """A successful walk of the guest's 32-bit tables for one linear address (SDM vol 3A 4.3)."""

    frame: int    # physical address of the 4 KiB frame that holds the byte
    entry: int    # the leaf entry (the PTE, or the PDE of a 4 MiB page), as now in memory
    rights: int   # U/S and R/W of the walk: PDE & PTE (the PDE alone for a 4 MiB page)
    pd_page: int  # physical page of the page directory
    pt_page: int  # physical page of the page table; -1 for a 4 MiB page


class GuestMemory:
    """Linear-address reads and writes through the guest's page tables.

    ``read_phys``/``write_phys`` reach guest RAM (of ``ram_size`` bytes);
    ``regs`` returns the current (CR0, CR3, CR4).
    """

    def __init__(self, read_phys: Callable[[int, int], bytes],
                 write_phys: Callable[[int, bytes], None], ram_size: int,
                 regs: Callable[[], tuple[int, int, int]],
                 write_ad: Callable[[int, bytes], None] | None = None) -> None:
        self._read = read_phys
        self._write = write_phys
        #: where accessed/dirty updates go (the monitor sends them past its write traces:
        #: they change no mapping)
        self._write_ad = write_ad or write_phys
        self.ram_size = ram_size
        self._regs = regs

    def read_phys(self, paddr: int, n: int) -> bytes:
        if paddr + n > self.ram_size:
            raise PhysicalAccessError(paddr)
        return self._read(paddr, n)

    def write_phys(self, paddr: int, data: bytes) -> None:
        if paddr + len(data) > self.ram_size:
            raise PhysicalAccessError(paddr)
        self._write(paddr, data)

    def _entry(self, paddr: int) -> int:
        return struct.unpack("<I", self.read_phys(paddr, 4))[0]

    def walk(self, linear: int, *, write: bool = False, user: bool = False,
             peek: bool = False) -> Walk:
        """Walk the guest's tables for one access with paging on (the caller checks CR0.PG).

        The one 32-bit page walker: as the processor, it sets the PDE's accessed bit
        as soon as it uses the PDE (even when the PTE then faults), and A (and D on a
        write, only when clear) in the leaf entry once the access is allowed; a ``peek``
        (the monitor looking, not the processor accessing) sets nothing. Raises
        PageFault with the architectural error code, PhysicalAccessError for a table
        outside guest RAM."""
        cr0, cr3, cr4 = self._regs()
        return self._walk(linear & 0xFFFFFFFF, cr0, cr3, cr4, write, user, peek)

    def _walk(self, linear: int, cr0: int, cr3: int, cr4: int, write: bool, user: bool,
              peek: bool) -> Walk:
        err = (PF_W if write else 0) | (PF_U if user else 0)
        pd_page = cr3 & 0xFFFFF000
        pde_addr = pd_page + ((linear >> 22) << 2)
        pde = self._entry(pde_addr)
        if not pde & PTE_P:
            raise PageFault(linear, err, pde)
        if pde & PTE_PS and cr4 & CR4_PSE:  # a 4 MiB page: the PDE is the leaf
            if pde & PDE_RSVD_4M:  # SDM 4.7: a reserved bit set -> RSVD, P=1
                raise PageFault(linear, PF_RSVD | PF_P | err, pde)
            entry_addr, entry, rights, pt_page = pde_addr, pde, pde, -1
            frame = (pde & 0xFFC00000) | (linear & 0x3FF000)
        else:
            if not pde & PTE_A and not peek:  # set as soon as the PDE is used
                pde |= PTE_A
                self._write_ad(pde_addr, struct.pack("<I", pde))
            pt_page = pde & 0xFFFFF000
            entry_addr = pt_page + (((linear >> 12) & 0x3FF) << 2)
            entry = self._entry(entry_addr)
            if not entry & PTE_P:
                raise PageFault(linear, err, entry)
            rights = pde & entry
            frame = entry & 0xFFFFF000
        if user and not rights & PTE_U:
            raise PageFault(linear, PF_P | err, entry)
        if write and not rights & PTE_W and (user or cr0 & CR0_WP):
            raise PageFault(linear, PF_P | err, entry)
        if not peek:  # accessed and dirty flags (SDM 4.8): A (and D) in the leaf entry
            want = PTE_A | (PTE_D if write else 0)
            if entry & want != want:
                entry |= want
                self._write_ad(entry_addr, struct.pack("<I", entry))
        return Walk(frame, entry, rights, pd_page, pt_page)

    def translate(self, linear: int, *, write: bool = False, user: bool = False,
                  peek: bool = False) -> int:
        """The physical address of one access (linear itself with paging off); see walk."""
        cr0, cr3, cr4 = self._regs()
        linear &= 0xFFFFFFFF
        if not cr0 & CR0_PG:
            return linear
        return self._walk(linear, cr0, cr3, cr4, write, user, peek).frame | (linear & 0xFFF)

    def leaf(self, linear: int) -> int:
        """The entry that maps ``linear`` (its PTE, or the PDE of a 4 MiB page), read without
        setting anything: the entry the walk stopped at when nothing maps it; 0 with paging
        off."""
        cr0, cr3, cr4 = self._regs()
        if not cr0 & CR0_PG:
            return 0
        try:
            return self._walk(linear & 0xFFFFFFFF, cr0, cr3, cr4, False, False, True).entry
        except PageFault as pf:
            assert pf.entry is not None
            return pf.entry

    def read(self, linear: int, n: int, *, user: bool = False, peek: bool = False) -> bytes:
        linear &= 0xFFFFFFFF
        if not self._regs()[0] & CR0_PG and linear + n <= self.ram_size:
            return self._read(linear, n)  # paging off: linear is physical (the common case)
        out = b""
        while n > 0:
            chunk = min(n, PAGE_SIZE - (linear & (PAGE_SIZE - 1)))
            out += self.read_phys(self.translate(linear, user=user, peek=peek), chunk)
            linear, n = linear + chunk, n - chunk
        return out

    def write(self, linear: int, data: bytes, *, user: bool = False) -> None:
        linear &= 0xFFFFFFFF
        if not self._regs()[0] & CR0_PG and linear + len(data) <= self.ram_size:
            self._write(linear, data)
            return
        # translate every page first, so that a fault leaves memory unchanged
        pieces = []
        pos = 0
        while pos < len(data):
            chunk = min(len(data) - pos, PAGE_SIZE - ((linear + pos) & (PAGE_SIZE - 1)))
            pieces.append((self.translate(linear + pos, write=True, user=user),
                           data[pos:pos + chunk]))
            pos += chunk
        for paddr, piece in pieces:
            self.write_phys(paddr, piece)
