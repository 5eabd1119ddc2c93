"""IA-32 architectural facts as data: EFLAGS, CR bits, vectors, descriptors.

One place for every constant the machine and the monitor share, in the
manner of angr's archinfo. References are to the Intel SDM, volume 3A.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

# --- EFLAGS (SDM vol 1, 3.4.3) --------------------------------------------
CF, PF, AF, ZF, SF = 1 << 0, 1 << 2, 1 << 4, 1 << 6, 1 << 7
TF, IF, DF, OF = 1 << 8, 1 << 9, 1 << 10, 1 << 11
IOPL_SHIFT = 12
#: the D/B bit of a segment cache's flags (SDM vol 3A, 3.4.5): 32-bit code / stack segment
SEG_DB = 1 << 22
IOPL_MASK = 3 << IOPL_SHIFT
NT, RF, VM, AC, VIF, VIP, ID = 1 << 14, 1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 21
EFLAGS_FIXED1 = 1 << 1

# --- control registers (SDM vol 3A, 2.5) ------------------------------------
CR0_PE, CR0_MP, CR0_EM, CR0_TS, CR0_ET, CR0_NE = 1, 2, 4, 8, 0x10, 0x20
CR0_WP, CR0_AM, CR0_NW, CR0_CD, CR0_PG = 1 << 16, 1 << 18, 1 << 29, 1 << 30, 1 << 31
CR4_VME, CR4_PVI, CR4_TSD, CR4_DE, CR4_PSE, CR4_PAE, CR4_MCE, CR4_PGE = (
    1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80)
CR4_PCE, CR4_OSFXSR = 0x100, 0x200

# --- page-table entries (SDM vol 3A, 4.3) -----------------------------------
PTE_P, PTE_W, PTE_U, PTE_PWT, PTE_PCD, PTE_A, PTE_D, PTE_PS, PTE_G = (
    1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80, 0x100)
#: bit 21 of a 4 MiB PDE is reserved (bits 20:13 are physical address bits 39:32 with
#: PSE-36, as unicorn implements it; SDM vol 3A, table 4-5)
PDE_RSVD_4M = 1 << 21
# #PF error code bits (SDM vol 3A, 4.7)
PF_P, PF_W, PF_U, PF_RSVD, PF_I = 1, 2, 4, 8, 16

PAGE_SIZE = 0x1000


class Vector(IntEnum):
    """Exception vectors (SDM vol 3A, table 6-1)."""

    DE = 0
    DB = 1
    NMI = 2
    BP = 3
    OF = 4
    BR = 5
    UD = 6
    NM = 7
    DF = 8
    TS = 10
    NP = 11
    SS = 12
    GP = 13
    PF = 14
    MF = 16
    AC = 17
    MC = 18
    XM = 19


#: Vectors for which the processor pushes an error code (SDM vol 3A, 6.13).
ERROR_CODE_VECTORS = frozenset({8, 10, 11, 12, 13, 14, 17})

#: Exception classes for double-fault detection (SDM vol 3A, table 6-4/6-5).
CONTRIBUTORY = frozenset({0, 10, 11, 12, 13})
PAGE_FAULT = 14


def double_fault_class(vector: int) -> str:
    """'contributory', 'page fault' or 'benign', as table 6-4 classes them."""
    if vector in CONTRIBUTORY:
        return "contributory"
    if vector == PAGE_FAULT:
        return "page fault"
    return "benign"


def is_double_fault(first: int, second: int) -> bool:
    """True when ``second`` raised while delivering ``first`` escalates to #DF (table 6-5)."""
    a, b = double_fault_class(first), double_fault_class(second)
    if a == "contributory":
        return b == "contributory"
    if a == "page fault":
        return b in ("contributory", "page fault")
    return False


VECTOR_NAMES = {v.value: f"#{v.name}" for v in Vector}


def vector_name(vector: int) -> str:
    return VECTOR_NAMES.get(vector, f"vector {vector}")


# --- segment descriptors (SDM vol 3A, 3.4.5 and 5.8) ------------------------
DESC_TYPE_CODE = 0x8
DESC_CODE_CONFORMING = 0x4
DESC_CODE_READABLE = 0x2
DESC_DATA_WRITABLE = 0x2
DESC_DATA_EXPAND_DOWN = 0x4

# system descriptor types (S = 0)
SYS_TSS16_AVAIL, SYS_LDT, SYS_TSS16_BUSY, SYS_CALL_GATE16, SYS_TASK_GATE = 1, 2, 3, 4, 5
SYS_INT_GATE16, SYS_TRAP_GATE16 = 6, 7
SYS_TSS32_AVAIL, SYS_TSS32_BUSY, SYS_CALL_GATE32, SYS_INT_GATE32, SYS_TRAP_GATE32 = (
    9, 11, 12, 14, 15)
GATE_TYPES = frozenset({SYS_INT_GATE16, SYS_TRAP_GATE16, SYS_INT_GATE32, SYS_TRAP_GATE32})
CALL_GATE_TYPES = frozenset({SYS_CALL_GATE16, SYS_CALL_GATE32})
TSS16_TYPES = frozenset({SYS_TSS16_AVAIL, SYS_TSS16_BUSY})
TSS_AVAIL_TYPES = frozenset({SYS_TSS16_AVAIL, SYS_TSS32_AVAIL})
TSS_TYPES = TSS16_TYPES | {SYS_TSS32_AVAIL, SYS_TSS32_BUSY}


@dataclass(frozen=True)
class Descriptor:
    """A decoded 8-byte segment or gate descriptor.

    ``low``/``high`` are the raw dwords (QEMU keeps ``high`` as the segment
    cache's flags word). ``limit`` is the effective byte limit, expanded for
    4 KiB granularity.
    """

    low: int
    high: int

    @classmethod
    def from_bytes(cls, raw: bytes) -> Descriptor:
        low, high = struct.unpack("<II", raw)
        return cls(low, high)

    @property
    def present(self) -> bool:
        return bool(self.high & (1 << 15))

    @property
    def dpl(self) -> int:
        return (self.high >> 13) & 3

    @property
    def system(self) -> bool:
        """True for system descriptors (S = 0): TSS, LDT and gates."""
        return not self.high & (1 << 12)

    @property
    def type(self) -> int:
        return (self.high >> 8) & 0xF

    @property
    def is_code(self) -> bool:
        return not self.system and bool(self.type & DESC_TYPE_CODE)

    @property
    def is_data(self) -> bool:
        return not self.system and not self.type & DESC_TYPE_CODE

    @property
    def conforming(self) -> bool:
        return self.is_code and bool(self.type & DESC_CODE_CONFORMING)

    @property
    def writable(self) -> bool:
        return self.is_data and bool(self.type & DESC_DATA_WRITABLE)

    @property
    def default_big(self) -> bool:
        """The D/B bit: 32-bit code or stack."""
        return bool(self.high & (1 << 22))

    @property
    def base(self) -> int:
        return ((self.low >> 16) | ((self.high & 0xFF) << 16) | (self.high & 0xFF000000)) & 0xFFFFFFFF

    @property
    def limit(self) -> int:
        raw = (self.low & 0xFFFF) | (self.high & 0x000F0000)
        return ((raw << 12) | 0xFFF) if self.high & (1 << 23) else raw

    # gates (SDM vol 3A, 5.8.3 and 6.11)
    @property
    def gate_selector(self) -> int:
        return (self.low >> 16) & 0xFFFF

    @property
    def gate_offset(self) -> int:
        return (self.low & 0xFFFF) | (self.high & 0xFFFF0000)

    @property
    def gate_param_count(self) -> int:
        return self.high & 0x1F


def selector_index(sel: int) -> int:
    return sel & ~7 & 0xFFFF


def selector_ti(sel: int) -> bool:
    """True when the selector names the LDT."""
    return bool(sel & 4)


def selector_rpl(sel: int) -> int:
    return sel & 3


# --- TSS (SDM vol 3A, 7.2.1): the ring-N stack pointers ----------------------
def tss32_stack_offset(ring: int) -> int:
    """Offset of ESPn in a 32-bit TSS; SSn follows 4 bytes later."""
    return 4 + 8 * ring
