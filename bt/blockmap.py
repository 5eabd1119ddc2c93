"""The map of one translation block, in compact arrays.

For every emitted (translated) instruction the block keeps where it starts,
the guest EIP it belongs to, whether it begins a guest instruction (the
instruction clock counts those) and its *fixup* (how to recover the guest's
registers if a fault, a callout or an interrupt stops the processor there).

One Python object per emitted instruction cost ~200 bytes each (a frozen
dataclass and its dict; issue 19 measured ~620 bytes of Python-side metadata
per translated guest instruction in all): here the same facts are 9 bytes per
emitted instruction in two ``array('I')`` and one ``bytearray``. A
:class:`MapEntry` is made only when asked for (a fault's recovery, ``bt
explain``, the tests).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

_RETIRES = 0x80  # flags byte: bit 7 = starts a guest instruction, bits 0-6 = fixup + 1


@dataclass(frozen=True, slots=True)
class MapEntry:
    offset: int
    guest_eip: int
    retires: bool
    fixup: int


class BlockMap:
    """Translated offset -> (guest EIP, retires, fixup), sorted by offset."""

    __slots__ = ("offsets", "eips", "flags")

    def __init__(self) -> None:
        self.offsets = array("I")
        self.eips = array("I")
        self.flags = bytearray()

    def append(self, offset: int, guest_eip: int, retires: bool, fixup: int) -> None:
        self.offsets.append(offset)
        self.eips.append(guest_eip & 0xFFFFFFFF)
        self.flags.append((_RETIRES if retires else 0) | (fixup + 1))

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, i: int) -> MapEntry:
        f = self.flags[i]
        return MapEntry(self.offsets[i], self.eips[i], bool(f & _RETIRES), (f & 0x7F) - 1)

    def __iter__(self) -> Iterator[MapEntry]:
        return (self[i] for i in range(len(self.offsets)))

    def retires(self, i: int) -> bool:
        return bool(self.flags[i] & _RETIRES)

    def index_at(self, offset: int) -> int:
        """Index of the entry at (or containing) ``offset``; -1 before the first."""
        return bisect.bisect_right(self.offsets, offset) - 1

    def retiring_between(self, lo: int, hi: int) -> list[int]:
        """Offsets in [lo, hi) of entries that begin a guest instruction."""
        a = bisect.bisect_left(self.offsets, lo)
        b = bisect.bisect_left(self.offsets, hi)
        flags, offsets = self.flags, self.offsets
        return [offsets[i] for i in range(a, b) if flags[i] & _RETIRES]

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays' contents (what the map costs beyond three fixed headers)."""
        return (len(self.offsets) * self.offsets.itemsize + len(self.eips) * self.eips.itemsize
                + len(self.flags))
