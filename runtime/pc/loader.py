"""Guest loader: put a guest image into guest RAM and say how the CPU starts.

Three kinds of image, tried in this order:

1. ``load_addr`` given: a flat binary, the whole file copied there
   (entry = ``entry`` or ``load_addr``), whatever the file contains.
2. A Multiboot v1 header in the first 8 KiB (Multiboot 0.6.96 section 3.1):
   loaded by its address fields when flag bit 16 is set (any file format),
   else as an ELF; then boot modules and the boot information block are
   placed and EAX/EBX are set as a multiboot boot loader does (section 3.2).
3. An ELF32 i386 executable without a multiboot header: PT_LOAD segments
   only, EAX = EBX = 0.

Header flags (spec 3.1.2) are treated as QEMU treats them: modules are
always page-aligned (bit 0) and memory information is always given (bit 1);
a video mode request (bit 2) and unknown required bits are ignored.

Everything is checked and planned before the first byte is written, so a
GuestLoadError leaves guest RAM untouched. ELF headers are read with
``struct`` (exact messages, no surprises on garbage input); lief only names
foreign machines. QEMU's ``-kernel`` is the reference where the Multiboot
spec leaves a choice (see :mod:`runtime.pc.multiboot`).

Runs before the machine starts, never inside a unicorn hook.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from runtime.errors import GuestLoadError
from runtime.pc import multiboot

#: Writes bytes into guest physical memory at an address.
RamWrite = Callable[[int, bytes], None]

#: What the boot information's boot_loader_name says (QEMU says "qemu").
LOADER_NAME = b"btvmm"

PAGE_SIZE = 0x1000
#: Low memory below the EBDA where the boot information block may go (QEMU: 0x9000).
LOW_MEMORY = (0x1000, 0x9FC00)
#: Largest bss chunk written at once, to bound the zero buffer.
_ZERO_CHUNK = 1 << 20

# ELF constants (System V ABI, "ELF Header" and "Program Header" chapters).
ELF_MAGIC = b"\x7fELF"
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2
EV_CURRENT = 1
ET_REL, ET_EXEC, ET_DYN, ET_CORE = 1, 2, 3, 4
EM_386 = 3
PT_LOAD, PT_INTERP = 1, 3
PN_XNUM = 0xFFFF
ELF32_EHDR = struct.Struct("<16sHHIIIIIHHHHHH")  # 52 bytes
ELF32_PHDR = struct.Struct("<8I")  # 32 bytes: type offset vaddr paddr filesz memsz flags align

#: Machine names for messages: e_machine -> (what people call it, the EM_ name).
_MACHINES: dict[int, tuple[str, str]] = {
    2: ("SPARC", "EM_SPARC"),
    3: ("i386", "EM_386"),
    6: ("Intel MCU", "EM_IAMCU"),
    8: ("MIPS", "EM_MIPS"),
    20: ("PowerPC", "EM_PPC"),
    21: ("64-bit PowerPC", "EM_PPC64"),
    22: ("S/390", "EM_S390"),
    40: ("ARM", "EM_ARM"),
    42: ("SuperH", "EM_SH"),
    50: ("IA-64", "EM_IA_64"),
    62: ("x86-64", "EM_X86_64"),
    183: ("AArch64", "EM_AARCH64"),
    243: ("RISC-V", "EM_RISCV"),
    258: ("LoongArch", "EM_LOONGARCH"),
}
_FILE_TYPES = {
    0: "no file type (ET_NONE)",
    ET_REL: "a relocatable object (ET_REL), not an executable: link it first",
    ET_DYN: "a shared object or PIE (ET_DYN), not an executable (ET_EXEC): "
    "link it with -static -no-pie at a fixed address",
    ET_CORE: "a core dump (ET_CORE), not an executable",
}


@dataclass
class BootState:
    """What the bare machine sets up before the first guest instruction.

    ``segments`` lists the (paddr, memsz) ranges of the guest image itself,
    for reports. ``modules`` (start, end) and ``info`` (address, size of the
    whole boot information block) are filled for multiboot guests only.
    For a multiboot guest the machine must also provide the rest of the
    Multiboot 0.6.96 section 3.2 state: protected mode, paging off, flat
    4 GiB CS (execute/read) and DS/ES/FS/GS/SS (read/write), A20 on,
    EFLAGS.IF = EFLAGS.VM = 0.
    """

    entry: int
    eax: int
    ebx: int
    kind: str  # "multiboot" | "elf" | "flat"
    segments: list[tuple[int, int]]
    modules: list[tuple[int, int]] = field(default_factory=list)
    info: tuple[int, int] | None = None


@dataclass(frozen=True)
class _Piece:
    """Guest memory to fill: ``data`` at ``addr``, then zeros up to ``addr + memsz``.

    ``label`` names it in messages ("segment 2", "image").
    """

    addr: int
    data: bytes
    memsz: int
    label: str = "image"


def load_guest(
    path: str,
    ram_write: RamWrite,
    ram_size: int,
    *,
    cmdline: str = "",
    modules: Sequence[str] = (),
    load_addr: int | None = None,
    entry: int | None = None,
) -> BootState:
    """Load the guest image at ``path`` into RAM through ``ram_write``.

    ``ram_size``: guest RAM is [0, ram_size). ``cmdline`` and ``modules``
    are for multiboot kernels only; each module is "FILE [ARGS]" as in
    QEMU's ``-initrd``: FILE is loaded, the whole string is its command line.
    ``load_addr`` makes the file a flat binary loaded there; ``entry``
    overrides the entry point of any kind of image.

    Returns the BootState. Raises GuestLoadError (one line, "PATH: problem")
    for anything that prevents loading; nothing is written in that case.
    """
    image = _read(path, "cannot read guest image")
    if not image:
        raise GuestLoadError(path, "empty file")
    if load_addr is not None:
        pieces, kind, start = _plan_flat(path, image, load_addr, ram_size), "flat", load_addr
        header = None
    else:
        header = multiboot.find_header(image, path)
        if header is not None and header.has_address_fields:
            layout = multiboot.aout_layout(header, len(image), path)
            data = image[layout.file_offset : layout.file_offset + layout.load_size]
            pieces = [_Piece(layout.load_addr, data, layout.mem_size)]
            start = layout.entry
        elif image[:4] == ELF_MAGIC:
            pieces, start = _plan_elf(path, image)
        elif header is not None:
            raise GuestLoadError(
                path,
                "has a multiboot header without address fields (flags bit 16 clear) but "
                "is not an ELF file, so there is no way to know where to load it "
                "(Multiboot 0.6.96 section 3.1.3)",
            )
        else:
            raise GuestLoadError(
                path,
                f"not an ELF file (magic {image[:4].hex(' ')}, expected 7f 45 4c 46) and "
                "no multiboot header in its first 8192 bytes; a flat binary needs a load "
                "address (--load-addr)",
            )
        kind = "multiboot" if header is not None else "elf"
        _check_fits(path, pieces, ram_size)
    if entry is not None:
        start = entry

    state = BootState(
        entry=start & 0xFFFFFFFF,
        eax=0,
        ebx=0,
        kind=kind,
        segments=[(p.addr, p.memsz) for p in pieces],
    )
    if kind == "multiboot":
        extra = _plan_multiboot(path, pieces, ram_size, cmdline, modules, state)
    else:
        if cmdline or modules:
            what = "--cmdline" if cmdline else "--module"
            raise GuestLoadError(
                path,
                f"{what} needs a multiboot kernel, and this {kind} image has no multiboot header",
            )
        extra = []
    for piece in pieces + extra:
        _write(ram_write, piece)
    return state


def _read(path: str, what: str) -> bytes:
    """The whole file, or GuestLoadError naming the OS error."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise GuestLoadError(path, f"{what}: {e.strerror or e}") from None


def _range(start: int, size: int) -> str:
    return f"[{start:#x}, {start + size:#x})"


def _ram(ram_size: int) -> str:
    if ram_size % (1 << 20) == 0:
        return f"{ram_size >> 20} MiB ({ram_size:#x} bytes)"
    return f"{ram_size:#x} bytes"


def _plan_flat(path: str, image: bytes, load_addr: int, ram_size: int) -> list[_Piece]:
    """The whole file at ``load_addr``; it must lie inside guest RAM."""
    if load_addr < 0 or load_addr + len(image) > ram_size:
        raise GuestLoadError(
            path,
            f"flat image at {_range(load_addr, len(image))} lies beyond guest RAM "
            f"({_ram(ram_size)})",
        )
    return [_Piece(load_addr, image, len(image))]


def _machine(e_machine: int) -> tuple[str, str]:
    """(common name, EM_ name) of an ELF machine; lief knows the rare ones."""
    if e_machine in _MACHINES:
        return _MACHINES[e_machine]
    try:
        import lief

        lief.logging.disable()
        name = lief.ELF.ARCH(e_machine).name
    except (ImportError, ValueError, TypeError):
        return f"machine {e_machine}", f"e_machine={e_machine}"
    return name, f"EM_{name}"


def _plan_elf(path: str, image: bytes) -> tuple[list[_Piece], int]:
    """Validate an ELF32 i386 executable and return its PT_LOAD pieces and e_entry.

    Segments are loaded at p_paddr (as QEMU and GRUB do for multiboot
    kernels); e_entry is used as is, like QEMU (GRUB 2 would translate a
    virtual e_entry to physical). p_filesz bytes come from the file, the
    rest up to p_memsz is zero (.bss). ELF spec: p_filesz may not exceed
    p_memsz; PT_LOAD entries with p_memsz 0 load nothing and are skipped.
    """
    ident = image[:16].ljust(16, b"\0")
    elf_class, data, version = ident[4], ident[5], ident[6]
    if elf_class == ELFCLASS64:
        machine = ""
        if len(image) >= 20 and data == ELFDATA2LSB:
            name, em = _machine(struct.unpack_from("<H", image, 18)[0])
            machine = f" for {name} ({em})"
        raise GuestLoadError(
            path, f"ELF64 (64-bit) file{machine}: only 32-bit i386 ELF guests are supported"
        )
    if elf_class != ELFCLASS32:
        raise GuestLoadError(path, f"invalid ELF class {elf_class} (EI_CLASS), expected 1 (32-bit)")
    if data == ELFDATA2MSB:
        raise GuestLoadError(path, "big-endian ELF (ELFDATA2MSB), expected little-endian i386")
    if data != ELFDATA2LSB:
        raise GuestLoadError(path, f"invalid ELF data encoding {data} (EI_DATA)")
    if version != EV_CURRENT:
        raise GuestLoadError(path, f"unsupported ELF version {version} (EI_VERSION), expected 1")
    if len(image) < ELF32_EHDR.size:
        raise GuestLoadError(
            path, f"truncated file: {len(image)} bytes, shorter than the 52-byte ELF32 header"
        )
    (_, e_type, e_machine, _, e_entry, e_phoff, _, _, _, e_phentsize, e_phnum, _, _, _) = (
        ELF32_EHDR.unpack_from(image)
    )
    if e_machine != EM_386:
        name, em = _machine(e_machine)
        raise GuestLoadError(path, f"ELF for {name} ({em}), expected i386 (EM_386)")
    if e_type != ET_EXEC:
        problem = _FILE_TYPES.get(e_type, f"unknown ELF file type {e_type:#x}, not ET_EXEC")
        raise GuestLoadError(path, f"is {problem}")
    if e_phnum == 0:
        raise GuestLoadError(path, "no program headers, so no loadable segment")
    if e_phnum == PN_XNUM:
        raise GuestLoadError(path, "more than 65534 program headers (PN_XNUM) is not supported")
    if e_phentsize != ELF32_PHDR.size:
        raise GuestLoadError(
            path, f"program header entry size {e_phentsize} (e_phentsize), expected 32"
        )
    table_end = e_phoff + e_phnum * e_phentsize
    if table_end > len(image):
        raise GuestLoadError(
            path,
            f"truncated file: program header table {_range(e_phoff, table_end - e_phoff)} "
            f"runs past the end of the file ({len(image)} bytes)",
        )

    pieces: list[_Piece] = []
    for i in range(e_phnum):
        p_type, p_offset, _, p_paddr, p_filesz, p_memsz, _, _ = ELF32_PHDR.unpack_from(
            image, e_phoff + i * ELF32_PHDR.size
        )
        if p_type == PT_INTERP:
            raise GuestLoadError(
                path,
                "dynamically linked (has PT_INTERP): a bare-machine guest must be "
                "linked statically",
            )
        if p_type != PT_LOAD or p_memsz == 0:
            continue
        if p_filesz > p_memsz:
            raise GuestLoadError(
                path,
                f"segment {i}: p_filesz {p_filesz:#x} is larger than p_memsz {p_memsz:#x}",
            )
        if p_offset + p_filesz > len(image):
            raise GuestLoadError(
                path,
                f"truncated file: segment {i} file range {_range(p_offset, p_filesz)} runs "
                f"past the end of the file ({len(image)} bytes)",
            )
        pieces.append(
            _Piece(p_paddr, image[p_offset : p_offset + p_filesz], p_memsz, f"segment {i}")
        )
    if not pieces:
        raise GuestLoadError(path, "no loadable segment (no PT_LOAD with p_memsz > 0)")
    ordered = sorted(pieces, key=lambda p: p.addr)
    for low, high in zip(ordered, ordered[1:], strict=False):
        if low.addr + low.memsz > high.addr:
            raise GuestLoadError(
                path,
                f"{low.label} {_range(low.addr, low.memsz)} and "
                f"{high.label} {_range(high.addr, high.memsz)} overlap",
            )
    return pieces, e_entry


def _check_fits(path: str, pieces: list[_Piece], ram_size: int) -> None:
    """Every piece must lie inside guest RAM [0, ram_size)."""
    for piece in pieces:
        if piece.addr + piece.memsz > ram_size:
            raise GuestLoadError(
                path,
                f"{piece.label} {_range(piece.addr, piece.memsz)} lies beyond guest RAM "
                f"({_ram(ram_size)})",
            )


def _overlaps(start: int, size: int, used: list[tuple[int, int]]) -> int | None:
    """End of the first used range that [start, start+size) overlaps, or None."""
    for base, length in used:
        if start < base + length and base < start + max(size, 1):
            return base + length
    return None


def _place(
    size: int, start: int, limit: int, used: list[tuple[int, int]], align: int
) -> int | None:
    """Lowest ``align``-aligned address >= start where ``size`` bytes fit below ``limit``
    without touching ``used``; None if there is none."""
    addr = -(-start // align) * align
    while addr + size <= limit:
        end = _overlaps(addr, size, used)
        if end is None:
            return addr
        addr = -(-end // align) * align
    return None


def _plan_multiboot(
    path: str,
    pieces: list[_Piece],
    ram_size: int,
    cmdline: str,
    modules: Sequence[str],
    state: BootState,
) -> list[_Piece]:
    """Place modules and the boot information block; set EAX/EBX (spec 3.2, 3.3).

    As QEMU: the kernel command line is "FILE CMDLINE" (the image path as
    given, a space, then ``cmdline``, so "FILE " when it is empty); each
    module's command line is its whole "FILE [ARGS]" string. Modules go
    page-aligned (header flag bit 0 asks for it; QEMU always does it) one
    after the other from the first page above the kernel, in usable RAM of
    the memory map. The block goes at 0x9000 like QEMU's (EBX = 0x9500)
    unless the image covers it, then at the lowest free page below 640 KiB,
    then above the modules.

    Returns the extra pieces to write (modules, the block) and fills
    ``state``.
    """
    if not multiboot.MIN_RAM <= ram_size < multiboot.MAX_RAM:
        raise GuestLoadError(
            path,
            f"multiboot needs between 2 MiB and 3.5 GiB of guest RAM (the PC memory "
            f"map it is given is modelled for that range), not {_ram(ram_size)}",
        )
    if "\0" in cmdline:
        raise GuestLoadError(path, "the kernel command line contains a NUL character")
    mmap = multiboot.pc_memory_map(ram_size)
    usable = [(r.base, r.end) for r in mmap if r.type == multiboot.E820_RAM]
    used = [(p.addr, p.memsz) for p in pieces]
    extra: list[_Piece] = []

    loaded: list[multiboot.Module] = []
    cursor = max(p.addr + p.memsz for p in pieces)
    for spec in modules:
        file = spec.split(" ", 1)[0]
        data = _read(file, "cannot read module")
        addr = None
        for low, high in usable:
            addr = _place(len(data), max(cursor, low), high, used, PAGE_SIZE)
            if addr is not None:
                break
        if addr is None:
            raise GuestLoadError(
                file,
                f"module of {len(data)} bytes does not fit in usable guest RAM above "
                f"{cursor:#x} (RAM {_ram(ram_size)})",
            )
        extra.append(_Piece(addr, data, len(data)))
        used.append((addr, len(data)))
        loaded.append(multiboot.Module(addr, addr + len(data), os.fsencode(spec)))
        cursor = addr + len(data)

    kernel_cmdline = os.fsencode(path) + b" " + cmdline.encode("utf-8", "surrogateescape")
    size = multiboot.block_size(kernel_cmdline, loaded, LOADER_NAME)
    low_start, low_end = LOW_MEMORY
    base: int | None = multiboot.DEFAULT_BLOCK_ADDR
    default_end = multiboot.DEFAULT_BLOCK_ADDR + size
    if default_end > low_end or _overlaps(multiboot.DEFAULT_BLOCK_ADDR, size, used) is not None:
        base = _place(size, low_start, low_end, used, PAGE_SIZE)
    if base is None:
        top = usable[-1]
        base = _place(size, max(cursor, top[0]), top[1], used, PAGE_SIZE)
    if base is None:
        raise GuestLoadError(
            path, f"no free guest RAM left for the {size}-byte multiboot information block"
        )
    block, info_addr = multiboot.build_block(base, mmap, kernel_cmdline, loaded, LOADER_NAME)
    extra.append(_Piece(base, block, len(block)))

    state.eax = multiboot.BOOTLOADER_MAGIC
    state.ebx = info_addr
    state.modules = [(m.start, m.end) for m in loaded]
    state.info = (base, len(block))
    return extra


def _write(ram_write: RamWrite, piece: _Piece) -> None:
    """Copy a piece into guest RAM and zero its tail (the .bss)."""
    if piece.data:
        ram_write(piece.addr, piece.data)
    addr = piece.addr + len(piece.data)
    end = piece.addr + piece.memsz
    while addr < end:
        n = min(_ZERO_CHUNK, end - addr)
        ram_write(addr, bytes(n))
        addr += n
