#!/usr/bin/env python3
"""Build a btfs disk image for btos (the format: corpus/os/kernel/btfs.h).

    python3 corpus/os/mkfs.py OUT.img [--size BYTES] FILE[=NAME] ...

Each FILE goes into the image's one directory under NAME (default: its
base name), sorted by name.  The image has a fixed size (--size, default
1 MiB), so that the disk the kernel sees does not depend on how big the
programs on it happen to be.  Stdlib only; errors are one line and
status 1.
"""
from __future__ import annotations

import argparse
import os
import struct
import sys

SECTOR = 512
MAGIC = 0x53465442          # "BTFS"
VERSION = 1
NAMELEN = 24                # NUL-terminated
MAXFILES = 64
MAX_DIR_SECTORS = 8         # the kernel reads the directory with one command
SUPER = struct.Struct("<6I")            # magic version nfiles dir_lba dir_sectors total
DIRENT = struct.Struct(f"<{NAMELEN}sII")  # name lba size


class MkfsError(Exception):
    pass


def sectors(n: int) -> int:
    return (n + SECTOR - 1) // SECTOR


def build(files: list[tuple[str, bytes]], size: int) -> bytes:
    """The image: superblock, directory, then each file from a sector boundary."""
    if size % SECTOR:
        raise MkfsError(f"image size {size} is not a multiple of {SECTOR}")
    names = [n for n, _ in files]
    if len(set(names)) != len(names):
        raise MkfsError("two files have the same name")
    if len(files) > MAXFILES:
        raise MkfsError(f"{len(files)} files, at most {MAXFILES}")
    files = sorted(files)
    dir_sectors = sectors(len(files) * DIRENT.size)
    if dir_sectors > MAX_DIR_SECTORS:
        raise MkfsError("directory too large")
    lba = 1 + dir_sectors
    entries, data = [], []
    for name, content in files:
        raw = name.encode()
        if not raw or len(raw) >= NAMELEN or "/" in name or any(c in name for c in " \t\0"):
            raise MkfsError(f"{name!r}: a name has 1..{NAMELEN - 1} characters, no '/' or blanks")
        entries.append(DIRENT.pack(raw, lba, len(content)))
        data.append(content.ljust(sectors(len(content)) * SECTOR, b"\0"))
        lba += sectors(len(content))
    total = size // SECTOR
    if lba > total:
        raise MkfsError(f"the files need {lba * SECTOR} bytes, the image has {size} (--size)")
    image = SUPER.pack(MAGIC, VERSION, len(files), 1, dir_sectors, total).ljust(SECTOR, b"\0")
    image += b"".join(entries).ljust(dir_sectors * SECTOR, b"\0")
    image += b"".join(data)
    return image.ljust(size, b"\0")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=1 << 20)
    ap.add_argument("files", nargs="+", metavar="FILE[=NAME]")
    args = ap.parse_args(argv)
    files = []
    try:
        for spec in args.files:
            path, _, name = spec.partition("=")
            try:
                with open(path, "rb") as f:
                    files.append((name or os.path.basename(path), f.read()))
            except OSError as e:
                raise MkfsError(f"{path}: {e.strerror}") from None
        image = build(files, args.size)
        tmp = args.out + ".tmp"
        with open(tmp, "wb") as f:
            f.write(image)
        os.replace(tmp, args.out)
    except MkfsError as e:
        print(f"mkfs.py: {args.out}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
