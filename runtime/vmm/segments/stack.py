"""Stack pushes and pops checked against a stack segment's limits (SDM vol 3A 5.3, 6.2.3).

:class:`Stack` reserves pushes (each checked, #SS on failure) and writes
them only in :meth:`Stack.flush`, so that a fault raised before the flush
leaves the guest's memory as the processor would.
"""

from __future__ import annotations

import struct

from runtime.pc.cpustate import SegCache
from runtime.pc.delivery import Fault
from runtime.pc.paging import PageFault
from runtime.pc.x86 import PAGE_SIZE, Vector
from runtime.vmm.segments.descriptors import FLAG_BIG, FLAG_CODE, FLAG_CONFORMING, Processor, read_linear


def _within(cache: SegCache, offset: int, size: int, top: int) -> bool:
    """True when bytes offset..offset+size-1 lie inside a data segment's limits (SDM vol 3A 5.3).

    ``top`` is the segment's address-space end (0xFFFF or 0xFFFFFFFF by its
    B flag); expand-down segments span limit+1..top.
    """
    last = offset + size - 1
    if last > top:
        return False
    if cache.flags & FLAG_CONFORMING and not cache.flags & FLAG_CODE:  # expand-down data
        return offset > cache.limit
    return last <= cache.limit


class Stack:
    """Pushes and pops on one stack segment, nothing written until :meth:`flush`.

    The stack-address size follows the segment's B flag: with B = 0 only SP
    moves and the upper half of ESP is kept (SDM vol 3A 6.2.3 and vol 1 6.2).
    Every push and pop is checked against the segment's limits first; a
    failed check raises #SS with ``error_code`` (0 for the current stack,
    the new SS selector for a stack being switched to).
    """

    def __init__(self, p: Processor, cache: SegCache, esp: int, error_code: int) -> None:
        self.p = p
        self.cache = cache
        self.mask = 0xFFFFFFFF if cache.flags & FLAG_BIG else 0xFFFF
        self.esp = esp & 0xFFFFFFFF
        self.error_code = error_code
        self._pushes: list[list[int]] = []  # [linear, value, size] in push order

    @property
    def sp(self) -> int:
        return self.esp & self.mask

    def _move(self, delta: int) -> None:
        self.esp = (self.esp & ~self.mask & 0xFFFFFFFF) | ((self.esp + delta) & self.mask)

    def require(self, nbytes: int) -> None:
        """#SS unless the top ``nbytes`` of the stack lie within its limits ("top N bytes")."""
        if not _within(self.cache, self.sp, nbytes, self.mask):
            raise Fault(Vector.SS, self.error_code)

    def push(self, value: int, size: int) -> int:
        """Reserve one push (checked now, written by :meth:`flush`); returns its slot."""
        self._move(-size)
        if not _within(self.cache, self.sp, size, self.mask):
            raise Fault(Vector.SS, self.error_code)
        self._pushes.append([(self.cache.base + self.sp) & 0xFFFFFFFF, value, size])
        return len(self._pushes) - 1

    def fill(self, slot: int, value: int) -> None:
        self._pushes[slot][1] = value

    def pop(self, count: int, size: int) -> list[int]:
        """Pop ``count`` items of ``size`` bytes: one limit check, one read."""
        self.require(count * size)
        data = read_linear(self.p, self.cache.base + self.sp, count * size)
        self._move(count * size)
        fmt = "<" + ("I" if size == 4 else "H") * count
        return list(struct.unpack(fmt, data))

    def skip(self, nbytes: int) -> None:
        self._move(nbytes)

    def flush(self) -> None:
        """Write the pushes. A frame within one page is written at once; a #PF then names
        the first push's address, the one the processor would have faulted on."""
        pushes = self._pushes
        if not pushes:
            return
        write = self.p.write
        low = pushes[-1][0]
        size = sum(item[2] for item in pushes)
        contiguous = all(pushes[i][0] == pushes[i + 1][0] + pushes[i + 1][2]
                         for i in range(len(pushes) - 1))
        if contiguous and (low & (PAGE_SIZE - 1)) + size <= PAGE_SIZE:
            data = b"".join(_pack(value, n) for _, value, n in reversed(pushes))
            try:
                write(low, data)
            except PageFault as pf:
                raise PageFault(pushes[0][0], pf.error_code) from None
            return
        for linear, value, n in pushes:
            raw = _pack(value, n)
            if linear + n <= 1 << 32:
                write(linear, raw)
            else:
                first = (1 << 32) - linear
                write(linear, raw[:first])
                write(0, raw[first:])


def _pack(value: int, size: int) -> bytes:
    return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
