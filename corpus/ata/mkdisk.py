#!/usr/bin/env python3
"""Build the ata guest's disk image: 1 MiB (2048 sectors, 2 cylinders of 16 heads x 63
sectors as QEMU guesses it), sector N starting with "sector N" (NUL padded to 16 bytes) and
filled with the bytes (N * 7 + i) & 0xff. Stdlib only; the image is the same on every build.

    python3 corpus/ata/mkdisk.py OUT
"""
import sys

SECTORS = 2048


def sector(n):
    head = f"sector {n}".encode().ljust(16, b"\0")
    return head + bytes((n * 7 + i) & 0xFF for i in range(16, 512))


def main():
    with open(sys.argv[1], "wb") as f:
        for n in range(SECTORS):
            f.write(sector(n))


if __name__ == "__main__":
    main()
