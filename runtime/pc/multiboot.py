"""Multiboot v1 (spec 0.6.96): the OS image header and the boot information block.

This module is pure data and byte layout: it finds and checks the header of
an image (spec section 3.1), describes the PC memory map a guest is told
about, and builds the boot information block (section 3.3). Loading bytes
into guest RAM and choosing addresses is :mod:`runtime.pc.loader`'s job.

QEMU's ``-kernel`` multiboot loader (hw/i386/multiboot.c plus its option
ROM, with SeaBIOS providing the E820 map) is the reference for every value
the spec leaves to the boot loader: the flags set, mem_lower/mem_upper, the
memory map, the kernel command line and the module command lines. The
values were measured with the probe guest under tests/fixtures/multiboot_probe
on QEMU 7.2; tests/test_loader.py keeps them honest.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from runtime.errors import GuestLoadError

#: Magic of the OS image header (spec 3.1.2).
HEADER_MAGIC = 0x1BADB002
#: Value in EAX when the boot loader jumps to the OS (spec 3.2).
BOOTLOADER_MAGIC = 0x2BADB002
#: The header must lie, 4-byte aligned, within this many leading bytes (spec 3.1).
HEADER_SEARCH_BYTES = 8192

#: Header flag bit 16: the address fields at offsets 12..31 are valid (spec 3.1.3,
#: the "a.out kludge"); the loader then uses them instead of any ELF headers.
HEADER_FLAG_ADDRESS = 1 << 16

# Boot information flags (spec 3.3); QEMU sets exactly these six.
INFO_MEMORY = 1 << 0
INFO_BOOT_DEVICE = 1 << 1
INFO_CMDLINE = 1 << 2
INFO_MODS = 1 << 3
INFO_MMAP = 1 << 6
INFO_BOOT_LOADER_NAME = 1 << 9
INFO_FLAGS = (
    INFO_MEMORY | INFO_BOOT_DEVICE | INFO_CMDLINE | INFO_MODS | INFO_MMAP | INFO_BOOT_LOADER_NAME
)

#: boot_device as QEMU gives it: BIOS drive 0x80 (first hard disk), no partition.
BOOT_DEVICE = 0x8000FFFF

#: Size of the boot information structure up to and including the VBE fields.
INFO_SIZE = 88
#: One module descriptor: mod_start, mod_end, string, reserved (spec 3.3).
MODULE_DESC_SIZE = 16
#: One memory map entry: size (u32) then base_addr (u64), length (u64), type (u32).
#: ``size`` counts the 20 bytes after itself (spec 3.3, "mmap_*").
MMAP_ENTRY_SIZE = 24

#: Layout of the block, as QEMU does it: the memory map at the block's start, the
#: information structure 0x500 bytes further (QEMU: mmap at 0x9000, info at 0x9500),
#: then the module descriptors and the strings.
MMAP_OFFSET = 0
INFO_OFFSET = 0x500
MODULES_OFFSET = INFO_OFFSET + INFO_SIZE
#: Where QEMU puts the block; used unless the guest's own image is there.
DEFAULT_BLOCK_ADDR = 0x9000

#: E820 types (ACPI): usable RAM and reserved.
E820_RAM = 1
E820_RESERVED = 2

#: Smallest and (exclusive) largest RAM for which :func:`pc_memory_map` is QEMU's map.
MIN_RAM = 2 << 20
MAX_RAM = 0xE0000000


@dataclass(frozen=True)
class Header:
    """A Multiboot header found in an image (spec 3.1.1).

    ``offset`` is its position in the file. The address fields are only
    meaningful when :attr:`has_address_fields` is true.
    """

    offset: int
    flags: int
    header_addr: int = 0
    load_addr: int = 0
    load_end_addr: int = 0
    bss_end_addr: int = 0
    entry_addr: int = 0

    @property
    def has_address_fields(self) -> bool:
        """Flag bit 16: load by the address fields, whatever the file format is."""
        return bool(self.flags & HEADER_FLAG_ADDRESS)


def find_header(image: bytes, path: str) -> Header | None:
    """Return the first valid Multiboot header of ``image``, or None if it has none.

    Looks at every 4-byte aligned offset whose 12-byte magic/flags/checksum
    triple fits in the first 8192 bytes (spec 3.1). A triple is valid when
    magic + flags + checksum == 0 modulo 2**32 (spec 3.1.2). (QEMU stops
    looking at offset 8144 so that a 48-byte header always fits; we follow
    the spec's 8192.) QEMU silently
    ignores a magic with a wrong checksum; we refuse such an image instead,
    because booting it as a plain ELF would hide the kernel's mistake.

    Raises GuestLoadError for a bad checksum (when no valid header follows)
    and for a header whose address fields (flag bit 16) run past the end of
    the file.
    """
    limit = min(len(image), HEADER_SEARCH_BYTES)
    first_bad: tuple[int, int, int] | None = None
    for offset in range(0, limit - 11, 4):
        magic, flags, checksum = struct.unpack_from("<III", image, offset)
        if magic != HEADER_MAGIC:
            continue
        total = (magic + flags + checksum) & 0xFFFFFFFF
        if total != 0:
            if first_bad is None:
                first_bad = (offset, checksum, total)
            continue
        if not flags & HEADER_FLAG_ADDRESS:
            return Header(offset=offset, flags=flags)
        if offset + 32 > len(image):
            raise GuestLoadError(
                path,
                f"truncated multiboot header at file offset {offset:#x}: flags bit 16 "
                f"needs the address fields up to offset {offset + 32:#x}, but the file "
                f"has {len(image)} bytes",
            )
        fields = struct.unpack_from("<5I", image, offset + 12)
        return Header(offset, flags, *fields)
    if first_bad is not None:
        offset, checksum, total = first_bad
        raise GuestLoadError(
            path,
            f"multiboot header at file offset {offset:#x} has a bad checksum "
            f"{checksum:#010x}: magic + flags + checksum = {total:#010x}, must be 0 "
            "(Multiboot 0.6.96 section 3.1.2)",
        )
    return None


@dataclass(frozen=True)
class AoutLayout:
    """Where the address fields (spec 3.1.3) put the image.

    ``file_offset``/``load_size`` select the bytes copied to ``load_addr``;
    memory from there up to ``load_addr + mem_size`` (bss_end_addr) is zeroed.
    """

    load_addr: int
    file_offset: int
    load_size: int
    mem_size: int
    entry: int


def aout_layout(header: Header, file_size: int, path: str) -> AoutLayout:
    """Interpret the address fields of ``header`` as QEMU and the spec do (spec 3.1.3).

    - load_addr <= header_addr; the file offset of load_addr is the header's
      offset minus (header_addr - load_addr);
    - load_end_addr == 0: text and data run to the end of the file;
    - bss_end_addr == 0: no bss, else zeroed up to it.

    Raises GuestLoadError for fields that contradict each other or the file.
    """
    if header.header_addr < header.load_addr:
        raise GuestLoadError(
            path,
            f"multiboot header_addr {header.header_addr:#x} is below load_addr "
            f"{header.load_addr:#x} (Multiboot 0.6.96 section 3.1.3)",
        )
    file_offset = header.offset - (header.header_addr - header.load_addr)
    if file_offset < 0:
        raise GuestLoadError(
            path,
            f"multiboot header_addr - load_addr = {header.header_addr - header.load_addr:#x} "
            f"is larger than the header's file offset {header.offset:#x}",
        )
    if header.load_end_addr:
        if header.load_end_addr < header.load_addr:
            raise GuestLoadError(
                path,
                f"multiboot load_end_addr {header.load_end_addr:#x} is below load_addr "
                f"{header.load_addr:#x}",
            )
        load_size = header.load_end_addr - header.load_addr
    else:
        load_size = file_size - file_offset
    if file_offset + load_size > file_size:
        raise GuestLoadError(
            path,
            f"truncated file: the multiboot address fields load file bytes "
            f"[{file_offset:#x}, {file_offset + load_size:#x}) but the file has "
            f"{file_size} bytes",
        )
    mem_size = load_size
    if header.bss_end_addr:
        if header.bss_end_addr < header.load_addr + load_size:
            raise GuestLoadError(
                path,
                f"multiboot bss_end_addr {header.bss_end_addr:#x} is below load_end "
                f"{header.load_addr + load_size:#x}",
            )
        mem_size = header.bss_end_addr - header.load_addr
    return AoutLayout(header.load_addr, file_offset, load_size, mem_size, header.entry_addr)


@dataclass(frozen=True)
class MemoryRegion:
    """One E820 / multiboot memory map entry."""

    base: int
    length: int
    type: int

    @property
    def end(self) -> int:
        return self.base + self.length


def pc_memory_map(ram_size: int) -> list[MemoryRegion]:
    """The memory map QEMU's PC (SeaBIOS E820) reports for ``ram_size`` bytes of RAM.

    Measured on QEMU 7.2 with -m 2 ... 3000 (MiB): RAM below the EBDA, the
    EBDA (1 KiB below 640 KiB), the BIOS at 0xF0000, RAM from 1 MiB up to
    the 128 KiB SeaBIOS keeps at the top of RAM for its tables, and the
    256 KiB flash at the top of the 4 GiB space. The VGA window 0xA0000-
    0xEFFFF is in no entry. Valid for MIN_RAM <= ram_size < MAX_RAM (from
    3.5 GiB on QEMU splits RAM around the PCI hole, which we do not model).
    """
    top_reserved = 0x20000
    return [
        MemoryRegion(0x0, 0x9FC00, E820_RAM),
        MemoryRegion(0x9FC00, 0x400, E820_RESERVED),
        MemoryRegion(0xF0000, 0x10000, E820_RESERVED),
        MemoryRegion(0x100000, ram_size - 0x100000 - top_reserved, E820_RAM),
        MemoryRegion(ram_size - top_reserved, top_reserved, E820_RESERVED),
        MemoryRegion(0xFFFC0000, 0x40000, E820_RESERVED),
    ]


def mem_lower_upper(mmap: list[MemoryRegion]) -> tuple[int, int]:
    """mem_lower and mem_upper in KiB (spec 3.3): RAM from 0, and RAM from 1 MiB.

    Spec: mem_upper is "the first upper memory hole minus 1 megabyte", i.e.
    the length of the usable entry that starts at 1 MiB (QEMU: 129920 for
    -m 128, so the 128 KiB reserved at the top is excluded).
    """
    lower = next((r.length for r in mmap if r.base == 0 and r.type == E820_RAM), 0)
    upper = next((r.length for r in mmap if r.base == 0x100000 and r.type == E820_RAM), 0)
    return lower // 1024, upper // 1024


@dataclass(frozen=True)
class Module:
    """A boot module in guest memory: [start, end) and its command line (spec 3.3)."""

    start: int
    end: int
    cmdline: bytes


def block_size(cmdline: bytes, modules: list[Module], loader_name: bytes) -> int:
    """Bytes :func:`build_block` needs for these strings and modules."""
    strings = len(cmdline) + 1 + sum(len(m.cmdline) + 1 for m in modules) + len(loader_name) + 1
    return MODULES_OFFSET + MODULE_DESC_SIZE * len(modules) + strings


def build_block(
    base: int,
    mmap: list[MemoryRegion],
    cmdline: bytes,
    modules: list[Module],
    loader_name: bytes,
) -> tuple[bytes, int]:
    """Lay out the boot information block to live at guest address ``base``.

    Returns (the block's bytes, the guest address of the information
    structure, the value for EBX). All pointers in it are physical addresses
    inside the block. Fields are those QEMU fills (flags 0x24F): memory,
    boot_device, cmdline, mods, mmap, boot_loader_name; the others stay 0.
    """
    if len(mmap) * MMAP_ENTRY_SIZE > INFO_OFFSET - MMAP_OFFSET:
        raise ValueError("memory map does not fit before the information structure")
    block = bytearray(block_size(cmdline, modules, loader_name))
    for i, region in enumerate(mmap):
        struct.pack_into(
            "<IQQI",
            block,
            MMAP_OFFSET + i * MMAP_ENTRY_SIZE,
            MMAP_ENTRY_SIZE - 4,
            region.base,
            region.length,
            region.type,
        )

    cursor = MODULES_OFFSET + MODULE_DESC_SIZE * len(modules)

    def add_string(text: bytes) -> int:
        nonlocal cursor
        addr = base + cursor
        block[cursor : cursor + len(text)] = text
        cursor += len(text) + 1  # the NUL is already there
        return addr

    cmdline_addr = add_string(cmdline)
    for i, module in enumerate(modules):
        struct.pack_into(
            "<IIII",
            block,
            MODULES_OFFSET + i * MODULE_DESC_SIZE,
            module.start,
            module.end,
            add_string(module.cmdline),
            0,
        )
    name_addr = add_string(loader_name)

    mem_lower, mem_upper = mem_lower_upper(mmap)
    info = INFO_OFFSET
    struct.pack_into(
        "<7I",
        block,
        info,
        INFO_FLAGS,
        mem_lower,
        mem_upper,
        BOOT_DEVICE,
        cmdline_addr,
        len(modules),
        base + MODULES_OFFSET,
    )
    struct.pack_into("<II", block, info + 44, len(mmap) * MMAP_ENTRY_SIZE, base + MMAP_OFFSET)
    struct.pack_into("<I", block, info + 64, name_addr)
    return bytes(block), base + INFO_OFFSET
