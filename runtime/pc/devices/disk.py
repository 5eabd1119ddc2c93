"""Disk images behind the emulated drives: raw files of 512-byte sectors.

A :class:`DiskImage` reads its file on demand (an image may be far larger
than the sectors a guest touches). Writes go to an in-memory copy-on-write
overlay unless the image was opened writable (``bt run --disk-write``):
by default the file is never modified, as with QEMU's ``snapshot=on``.
A trailing partial sector is not part of the disk (QEMU rounds the size
down the same way).

:func:`parse_disk_spec` reads the ``--disk FILE[,index=N]`` syntax.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

SECTOR = 512

#: IDE positions: index 0/1 = primary master/slave, 2/3 = secondary (as QEMU's if=ide).
MAX_DISKS = 4


class DiskError(Exception):
    """A disk image that cannot be used: ``path`` and a one-line ``problem``."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class DiskSpec:
    """One ``--disk`` option: the image and its IDE position (None: the next free one)."""

    path: str
    index: int | None = None


def parse_disk_spec(text: str) -> DiskSpec:
    """``FILE`` or ``FILE,index=N`` (N 0-3); raises ValueError with a one-line reason."""
    path, *opts = text.split(",")
    if not path:
        raise ValueError(f"--disk {text!r}: no file named")
    index = None
    for opt in opts:
        key, _, value = opt.partition("=")
        if key != "index" or not value.isdigit() or not 0 <= int(value) < MAX_DISKS:
            raise ValueError(f"--disk {text!r}: expected FILE[,index=0..{MAX_DISKS - 1}]")
        index = int(value)
    return DiskSpec(path, index)


def open_disks(paths: dict[int, str], writable: bool) -> dict[int, DiskImage]:
    """Open the images of an IDE position map; closes what it opened if one fails."""
    opened: dict[int, DiskImage] = {}
    try:
        for index, path in paths.items():
            opened[index] = DiskImage(path, writable)
    except DiskError:
        for image in opened.values():
            image.close()
        raise
    return opened


def assign_positions(specs: Sequence[DiskSpec]) -> dict[int, str]:
    """IDE position -> image path: explicit indexes first, the rest in order to free slots."""
    slots: dict[int, str] = {}
    for spec in specs:
        if spec.index is not None:
            if spec.index in slots:
                raise ValueError(f"--disk {spec.path}: index {spec.index} is already taken")
            slots[spec.index] = spec.path
    free = (i for i in range(MAX_DISKS) if i not in slots)
    for spec in specs:
        if spec.index is None:
            index = next(free, None)
            if index is None:
                raise ValueError(f"--disk {spec.path}: all {MAX_DISKS} IDE positions are taken")
            slots[index] = spec.path
    return dict(sorted(slots.items()))


class DiskImage:
    """A raw image file as a sequence of sectors; ``writable`` writes through to the file."""

    def __init__(self, path: str, writable: bool = False) -> None:
        self.path = path
        self.writable = writable
        try:
            self._fd = os.open(path, os.O_RDWR if writable else os.O_RDONLY)
            size = os.fstat(self._fd).st_size
        except OSError as exc:
            raise DiskError(path, f"cannot open disk image: {exc.strerror}") from None
        self.sectors = size // SECTOR
        if self.sectors == 0:
            os.close(self._fd)
            raise DiskError(path, f"disk image is smaller than one sector ({size} bytes)")
        self._overlay: dict[int, bytes] = {}
        self.sectors_read = 0
        self.sectors_written = 0

    def read(self, lba: int, count: int) -> bytes:
        """``count`` sectors from ``lba`` (the caller checks the range)."""
        self.sectors_read += count
        data = bytearray(os.pread(self._fd, count * SECTOR, lba * SECTOR))
        for i in range(count):
            over = self._overlay.get(lba + i)
            if over is not None:
                data[i * SECTOR:(i + 1) * SECTOR] = over
        return bytes(data)

    def write(self, lba: int, data: bytes) -> None:
        """Whole sectors at ``lba``: to the file if writable, else to the overlay."""
        count = len(data) // SECTOR
        self.sectors_written += count
        if self.writable:
            os.pwrite(self._fd, data, lba * SECTOR)
            return
        for i in range(count):
            self._overlay[lba + i] = bytes(data[i * SECTOR:(i + 1) * SECTOR])

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
