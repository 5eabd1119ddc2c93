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

from runtime.pc.x86 import (
    CR0_PG,
    CR0_WP,
    CR4_PSE,
    PAGE_SIZE,
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
    """A #PF the walk would raise: ``cr2`` is the linear address, ``error_code`` per SDM 4.7."""

    def __init__(self, cr2: int, error_code: int) -> None:
        super().__init__(f"#PF at {cr2:#010x} error {error_code:#x}")
        self.cr2 = cr2
        self.error_code = error_code


class PhysicalAccessError(Exception):
    """The guest (or its tables) named physical memory outside its RAM."""

    def __init__(self, paddr: int) -> None:
        super().__init__(f"physical address {paddr:#010x} is outside guest RAM")
        self.paddr = paddr


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

    def translate(self, linear: int, *, write: bool = False, user: bool = False,
                  peek: bool = False) -> int:
        """Walk the guest tables for one access; set A (and D on write); return the physical address."""
        cr0, cr3, cr4 = self._regs()
        linear &= 0xFFFFFFFF
        if not cr0 & CR0_PG:
            return linear
        err_access = (PF_W if write else 0) | (PF_U if user else 0)
        pde_addr = (cr3 & 0xFFFFF000) + ((linear >> 22) << 2)
        pde = self._entry(pde_addr)
        if not pde & PTE_P:
            raise PageFault(linear, err_access)
        big = bool(pde & PTE_PS) and bool(cr4 & CR4_PSE)
        if big and pde & (1 << 21):  # reserved in a 4 MiB PDE (SDM vol 3A, table 4-5)
            raise PageFault(linear, PF_RSVD | PF_P | err_access)
        if big:
            rights = pde
            pte_addr, pte = pde_addr, pde
            phys = (pde & 0xFFC00000) | (linear & 0x3FFFFF)
        else:
            if not pde & PTE_A and not peek:  # set as soon as the PDE is used
                pde |= PTE_A
                self._write_ad(pde_addr, struct.pack("<I", pde))
            pte_addr = (pde & 0xFFFFF000) + (((linear >> 12) & 0x3FF) << 2)
            pte = self._entry(pte_addr)
            if not pte & PTE_P:
                raise PageFault(linear, err_access)
            rights = pde & pte
            phys = (pte & 0xFFFFF000) | (linear & 0xFFF)
        if user and not rights & PTE_U:
            raise PageFault(linear, PF_P | err_access)
        if write and not rights & PTE_W and (user or cr0 & CR0_WP):
            raise PageFault(linear, PF_P | err_access)
        if peek:  # the monitor looking, not the processor accessing: no A/D updates
            return phys
        # accessed and dirty flags (SDM 4.8): A (and D) in the PTE
        want = PTE_A | (PTE_D if write else 0)
        if pte & want != want:
            self._write_ad(pte_addr, struct.pack("<I", pte | want))
        return phys

    def leaf(self, linear: int) -> int:
        """The entry that maps ``linear`` (its PTE, or the PDE of a 4 MiB page), read without
        setting anything; 0 when paging is off or nothing maps it."""
        cr0, cr3, cr4 = self._regs()
        if not cr0 & CR0_PG:
            return 0
        pde = self._entry((cr3 & 0xFFFFF000) + (((linear & 0xFFFFFFFF) >> 22) << 2))
        if not pde & PTE_P or (pde & PTE_PS and cr4 & CR4_PSE):
            return pde
        return self._entry((pde & 0xFFFFF000) + (((linear >> 12) & 0x3FF) << 2))

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
