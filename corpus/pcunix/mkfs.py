#!/usr/bin/env python3
"""Build a pcfs disk image for pcunix (the format: include/pcfs.h).

    python3 mkfs.py OUTPUT FILE...

Each FILE goes in under its base name; mkfs adds two generated files:
data.bin (DATA_SIZE pseudo-random bytes, so that reading it takes many
multi-sector READ SECTORS commands) and data.crc, the line pcunix's `sum
data.bin` must print, computed here with zlib's CRC-32: an independent
check of the whole disk path.  The directory is sorted by name; the image
is IMAGE_SIZE bytes.  Stdlib only.
"""
import os
import struct
import sys
import zlib

BLOCK = 1024
MAGIC = 0x53464350          # "PCFS"
VERSION = 1
NAMELEN = 24
DIRENT = struct.Struct(f"<{NAMELEN}sII")        # name, start block, size
SUPER = struct.Struct("<IIIIII16s")     # magic, version, nblocks, nfiles, dir_start, dir_blocks, label
IMAGE_SIZE = 1024 * 1024
DATA_SIZE = 20000


def data_bin() -> bytes:
    """DATA_SIZE bytes from a 32-bit LCG (Numerical Recipes constants): the same everywhere."""
    x, out = 12345, bytearray()
    for _ in range(DATA_SIZE):
        x = (1664525 * x + 1013904223) & 0xFFFFFFFF
        out.append(x >> 24)
    return bytes(out)


def build(files: dict[str, bytes]) -> bytes:
    names = sorted(files)
    per_block = BLOCK // DIRENT.size
    dir_blocks = max(1, -(-len(names) // per_block))
    directory, blobs = bytearray(), bytearray()
    block = 1 + dir_blocks
    for name in names:
        data = files[name]
        raw = name.encode()
        if not 0 < len(raw) < NAMELEN:
            raise ValueError(f"{name}: name must be 1-{NAMELEN - 1} bytes")
        directory += DIRENT.pack(raw, block, len(data))
        padded = data + bytes(-len(data) % BLOCK)
        blobs += padded
        block += len(padded) // BLOCK
    nblocks = IMAGE_SIZE // BLOCK
    if block > nblocks:
        raise ValueError(f"{block} blocks of files do not fit in {nblocks}")
    sb = SUPER.pack(MAGIC, VERSION, nblocks, len(names), 1, dir_blocks, b"pcunix")
    image = sb.ljust(BLOCK, b"\0") + bytes(directory).ljust(dir_blocks * BLOCK, b"\0") + blobs
    return image.ljust(IMAGE_SIZE, b"\0")


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: mkfs.py OUTPUT FILE...", file=sys.stderr)
        return 2
    out, paths = argv[0], argv[1:]
    files: dict[str, bytes] = {}
    for path in paths:
        try:
            with open(path, "rb") as f:
                files[os.path.basename(path)] = f.read()
        except OSError as e:
            print(f"mkfs.py: {path}: {e.strerror}", file=sys.stderr)
            return 1
    data = data_bin()
    files["data.bin"] = data
    files["data.crc"] = f"data.bin: {len(data)} bytes, crc32 0x{zlib.crc32(data):08x}\n".encode()
    try:
        image = build(files)
    except ValueError as e:
        print(f"mkfs.py: {out}: {e}", file=sys.stderr)
        return 1
    with open(out, "wb") as f:
        f.write(image)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
