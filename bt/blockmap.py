"""The map of one translation block, in compact arrays.

For every emitted (translated) instruction the block keeps where it starts,
the guest EIP it belongs to, whether it begins a guest instruction (the
instruction clock counts those) and its *fixup* (how to recover the guest's
registers if a fault, a callout or an interrupt stops the processor there).

One Python object per emitted instruction cost ~200 bytes each (a frozen
dataclass and its dict; issue 19 measured ~620 bytes of Python-side metadata
per translated guest instruction in all): here the same facts are 9 bytes per
emitted instruction, packed in one ``bytes`` once the block is installed. A
:class:`MapEntry` is made only when asked for (a fault's recovery, ``bt
explain``, the tests).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

_RETIRES = 0x80  # flags byte: bit 7 = starts a guest instruction, bits 0-6 = fixup + 1


@dataclass(frozen=True, slots=True)
class MapEntry:
    offset: int
    guest_eip: int
    retires: bool
    fixup: int


class BlockMap:
    """Translated offset -> (guest EIP, retires, fixup), sorted by offset.

    Built by :meth:`append` into two ``array('I')`` and a ``bytearray``; :meth:`freeze`
    (when the block is installed) packs the three into one ``bytes`` (9 bytes an entry
    and one object header), read back through memoryview casts when asked.
    """

    __slots__ = ("_build", "_data", "_n")

    def __init__(self) -> None:
        #: while building: offsets, guest EIPs, flags; None once frozen
        self._build: tuple[array[int], array[int], bytearray] | None = (
            array("I"), array("I"), bytearray())
        self._data = b""
        self._n = 0

    def append(self, offset: int, guest_eip: int, retires: bool, fixup: int) -> None:
        assert self._build is not None, "the map is frozen"
        offsets, eips, flags = self._build
        offsets.append(offset)
        eips.append(guest_eip & 0xFFFFFFFF)
        flags.append((_RETIRES if retires else 0) | (fixup + 1))
        self._n += 1

    def freeze(self) -> None:
        """Pack into one ``bytes`` (no more appends)."""
        if self._build is None:
            return
        offsets, eips, flags = self._build
        self._data = offsets.tobytes() + eips.tobytes() + bytes(flags)
        self._build = None

    @property
    def offsets(self) -> Sequence[int]:
        if self._build is not None:
            return self._build[0]
        return memoryview(self._data)[:4 * self._n].cast("I")

    @property
    def eips(self) -> Sequence[int]:
        if self._build is not None:
            return self._build[1]
        return memoryview(self._data)[4 * self._n:8 * self._n].cast("I")

    @property
    def flags(self) -> Sequence[int]:
        if self._build is not None:
            return self._build[2]
        return memoryview(self._data)[8 * self._n:]

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> MapEntry:
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        f = self.flags[i]
        return MapEntry(self.offsets[i], self.eips[i], bool(f & _RETIRES), (f & 0x7F) - 1)

    def __iter__(self) -> Iterator[MapEntry]:
        return (self[i] for i in range(self._n))

    def retires(self, i: int) -> bool:
        return bool(self.flags[i] & _RETIRES)

    def index_at(self, offset: int) -> int:
        """Index of the entry at (or containing) ``offset``; -1 before the first."""
        return bisect.bisect_right(self.offsets, offset) - 1

    def retiring_between(self, lo: int, hi: int) -> list[int]:
        """Offsets in [lo, hi) of entries that begin a guest instruction."""
        offsets, flags = self.offsets, self.flags
        a = bisect.bisect_left(offsets, lo)
        b = bisect.bisect_left(offsets, hi)
        return [offsets[i] for i in range(a, b) if flags[i] & _RETIRES]

    @property
    def nbytes(self) -> int:
        """Bytes of the entries' contents (9 an entry)."""
        return 9 * self._n

    def objects(self) -> tuple[object, ...]:
        """The objects holding the map (for measuring its size)."""
        if self._build is not None:
            return (self, self._build, *self._build)
        return (self, self._data)
