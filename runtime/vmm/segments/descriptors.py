"""The segment machinery's processor record and its descriptor-table reads.

:class:`Processor` is the guest's *virtual* state the segment operations
work on (CPL, segment-register caches, GDT/LDT/TR, EFLAGS, ESP, EIP, and
linear supervisor read/write). Here: fetching the descriptor a selector
names (SDM vol 3A 3.5.1), the accessed bit (3.4.5.1), readability, the
cache flag bits, and linear reads that wrap at 4 GiB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from runtime.pc.cpustate import SEG_GDT, SEG_LDT, SegCache
from runtime.pc.delivery import Fault
from runtime.pc.x86 import DESC_CODE_READABLE, Descriptor, Vector

# bits of a descriptor's high dword, which is also the cache's flags word
FLAG_ACCESSED = 1 << 8
FLAG_CODE = 1 << 11
FLAG_CONFORMING = 1 << 10      # code: conforming; data: expand-down
FLAG_BIG = 1 << 22             # D/B


@dataclass
class Processor:
    """What segment operations read and change (32-bit protected mode, no V86)."""

    cpl: int
    segs: list[SegCache]  # indexed by SEG_ES..SEG_IDT; CS cache holds the guest's real base
    eflags: int           # the guest's EFLAGS as it believes them (true IF and IOPL)
    esp: int
    eip: int              # on entry: EIP of the next instruction; on exit: target EIP
    read: Callable[[int, int], bytes]     # linear supervisor read; may raise PageFault
    write: Callable[[int, bytes], None]   # linear supervisor write; may raise PageFault


def fetch(p: Processor, selector: int) -> tuple[int, Descriptor] | None:
    """The descriptor ``selector`` names and its linear address, or None past the table limit.

    SDM vol 3A 3.5.1: the index selects an 8-byte entry of the GDT (TI = 0) or
    of the LDT (TI = 1); an entry not wholly within the table's limit, or any
    LDT reference while LDTR is null, is outside the table.
    """
    if selector & 4:
        table = p.segs[SEG_LDT]
        if table.selector & 0xFFFC == 0:
            return None
    else:
        table = p.segs[SEG_GDT]
    index = selector & 0xFFF8
    if index + 7 > table.limit:
        return None
    addr = (table.base + index) & 0xFFFFFFFF
    return addr, Descriptor.from_bytes(read_linear(p, addr, 8))


def fetch_or_gp(p: Processor, selector: int) -> tuple[int, Descriptor]:
    found = fetch(p, selector)
    if found is None:
        raise Fault(Vector.GP, selector & 0xFFFC)
    return found


def mark_accessed(p: Processor, addr: int, desc: Descriptor) -> Descriptor:
    """Set the accessed bit of a code or data descriptor being loaded (SDM vol 3A 3.4.5.1).

    Only the access-rights byte is written, and only when the bit is clear.
    """
    if desc.high & FLAG_ACCESSED:
        return desc
    high = desc.high | FLAG_ACCESSED
    p.write((addr + 5) & 0xFFFFFFFF, bytes([(high >> 8) & 0xFF]))
    return Descriptor(desc.low, high)


def mark_accessed_on_transfer(p: Processor, addr: int, desc: Descriptor) -> Descriptor:
    """CS loaded by a far transfer, SS by a stack switch: the SDM sets the accessed bit, but
    the processor the guest runs on natively (unicorn) does not, nor does qemu TCG; the
    monitor must equal the native run, so it leaves the bit as it is."""
    del p, addr
    return desc


def readable(desc: Descriptor) -> bool:
    """A data segment, or a code segment with R = 1."""
    return desc.is_data or (desc.is_code and bool(desc.type & DESC_CODE_READABLE))


def read_linear(p: Processor, linear: int, n: int) -> bytes:
    """A linear read that wraps at 4 GiB as the processor's address arithmetic does."""
    linear &= 0xFFFFFFFF
    if linear + n <= 1 << 32:
        return p.read(linear, n)
    first = (1 << 32) - linear
    return p.read(linear, first) + p.read(0, n - first)
