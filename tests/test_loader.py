"""Tests of runtime.pc.loader: ELF, Multiboot v1 and flat guests, and every load error.

Where the expected values come from:
- ELF layout and loading rules: the System V ABI (ELF) spec; the test images
  are built here byte by byte with ``struct``, or compiled with gcc.
- Multiboot: the Multiboot 0.6.96 spec for the layout, and QEMU 7.2 for
  every value the spec leaves open. tests/fixtures/multiboot_probe/ holds a
  probe guest that prints its boot information; expected/*.txt is what it
  printed under ``qemu-system-i386 -kernel`` (make_expected.sh, one run per
  line of cases.txt). The same probe is run here under unicorn after our
  loader has loaded it, and must print the same text. The only line allowed
  to differ is boot_loader_name ("qemu" there, "btvmm" here).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.errors import GuestLoadError
from runtime.pc.loader import BootState, load_guest

PROBE_SRC = Path(__file__).parent / "fixtures" / "multiboot_probe"
EXPECTED = PROBE_SRC / "expected"
MIB = 1 << 20
MB_MAGIC = 0x1BADB002
BOOT_MAGIC = 0x2BADB002


# --------------------------------------------------------------------------- helpers


class Ram:
    """Guest RAM as a bytearray, pre-filled with 0xAA so that zeroing shows."""

    def __init__(self, size: int, fill: int = 0xAA) -> None:
        self.size = size
        self.mem = bytearray([fill]) * size
        self.writes: list[tuple[int, int]] = []

    def write(self, addr: int, data: bytes) -> None:
        assert 0 <= addr and addr + len(data) <= self.size, f"write outside RAM at {addr:#x}"
        self.mem[addr : addr + len(data)] = data
        self.writes.append((addr, len(data)))

    def u32(self, addr: int) -> int:
        return int(struct.unpack_from("<I", self.mem, addr)[0])

    def cstr(self, addr: int) -> bytes:
        return bytes(self.mem[addr : self.mem.index(0, addr)])


def elf32(
    segments: list[tuple[int, bytes, int]],
    entry: int = 0x100000,
    *,
    e_type: int = 2,
    machine: int = 3,
    vaddr_offset: int = 0,
    extra_phdrs: list[tuple[int, ...]] | None = None,
) -> bytes:
    """An ELF32 little-endian file: one PT_LOAD per (paddr, data, memsz).

    Layout (ELF spec, "ELF Header" / "Program Header"): the 52-byte header,
    the program header table at 52, then each segment's bytes.
    """
    phdrs = [tuple(p) for p in extra_phdrs or []]
    nph = len(segments) + len(phdrs)
    offset = 52 + 32 * nph
    body = b""
    for paddr, data, memsz in segments:
        phdrs.append((1, offset, paddr + vaddr_offset, paddr, len(data), memsz, 7, 0x1000))
        body += data
        offset += len(data)
    ident = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)
    header = ident + struct.pack(
        "<HHIIIIIHHHHHH", e_type, machine, 1, entry, 52, 0, 0, 52, 32, nph, 40, 0, 0
    )
    return header + b"".join(struct.pack("<8I", *p) for p in phdrs) + body


def elf64_header(machine: int = 62) -> bytes:
    """A minimal ELF64 little-endian executable header (64 bytes)."""
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    return ident + struct.pack(
        "<HHIQQQIHHHHHH", 2, machine, 1, 0x400000, 64, 0, 0, 64, 56, 0, 64, 0, 0
    )


def mb_header(flags: int, *fields: int, checksum: int | None = None) -> bytes:
    """A Multiboot header (spec 3.1.1): magic, flags, checksum, then address fields."""
    if checksum is None:
        checksum = -(MB_MAGIC + flags) & 0xFFFFFFFF
    return struct.pack("<III", MB_MAGIC, flags, checksum) + struct.pack(f"<{len(fields)}I", *fields)


def kludge_image(load_addr: int = 0x100000, code: bytes = b"\xf4" * 16, bss: int = 0x2000) -> bytes:
    """A flat multiboot image using the address fields (flag bit 16, spec 3.1.3).

    The header is at file offset 0 = load_addr; text runs to the end of the
    file (load_end_addr 0); bss_end_addr adds ``bss`` zeroed bytes; entry is
    the first byte after the header.
    """
    size = 32 + len(code)
    return (
        mb_header(0x10003, load_addr, load_addr, 0, load_addr + size + bss, load_addr + 32) + code
    )


def load_error(path: Path | str, ram: Ram | None = None, **kw: object) -> str:
    """Load expecting GuestLoadError; check it is one line naming the file; return it."""
    ram = ram or Ram(4 * MIB)
    with pytest.raises(GuestLoadError) as info:
        load_guest(str(path), ram.write, ram.size, **kw)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert ram.writes == [], "a failed load must not write guest RAM"
    return message


@dataclass
class MbInfo:
    """The boot information fields, decoded per Multiboot 0.6.96 section 3.3."""

    flags: int
    mem_lower: int
    mem_upper: int
    boot_device: int
    cmdline: bytes
    modules: list[tuple[int, int, bytes]]
    mmap: list[tuple[int, int, int, int]]
    mmap_addr: int
    loader_name: bytes


def decode_info(ram: Ram, addr: int) -> MbInfo:
    flags = ram.u32(addr)
    mods = [
        (ram.u32(m), ram.u32(m + 4), ram.cstr(ram.u32(m + 8)))
        for m in range(ram.u32(addr + 24), ram.u32(addr + 24) + 16 * ram.u32(addr + 20), 16)
    ]
    mmap = []
    p, end = ram.u32(addr + 48), ram.u32(addr + 48) + ram.u32(addr + 44)
    while p < end:
        size, base, length, kind = struct.unpack_from("<IQQI", ram.mem, p)
        mmap.append((size, base, length, kind))
        p += size + 4
    return MbInfo(
        flags=flags,
        mem_lower=ram.u32(addr + 4),
        mem_upper=ram.u32(addr + 8),
        boot_device=ram.u32(addr + 12),
        cmdline=ram.cstr(ram.u32(addr + 16)),
        modules=mods,
        mmap=mmap,
        mmap_addr=ram.u32(addr + 48),
        loader_name=ram.cstr(ram.u32(addr + 64)),
    )


@dataclass(frozen=True)
class Case:
    """One QEMU reference run (a line of cases.txt)."""

    name: str
    ram_mib: int
    kernel: str
    cmdline: str
    modules: tuple[str, ...]


def qemu_cases() -> list[Case]:
    cases = []
    for line in (PROBE_SRC / "cases.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, ram, kernel, append, initrd = line.split("|")
        mods = tuple(initrd.split(",")) if initrd else ()
        cases.append(Case(name, int(ram), kernel, append, mods))
    return cases


CASES = qemu_cases()


def expected_lines(case: Case) -> list[str]:
    return (EXPECTED / f"{case.name}.txt").read_text().splitlines()


@pytest.fixture(scope="session")
def probe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The probe guest and its modules, built with gcc (skip when that cannot be done)."""
    for tool in ("gcc", "ld", "objcopy"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not found: cannot build the multiboot probe guest")
    out = tmp_path_factory.mktemp("probe")
    env = dict(os.environ, PYTHON=sys.executable)
    result = subprocess.run(
        ["sh", str(PROBE_SRC / "build.sh"), str(out)], capture_output=True, text=True, env=env
    )
    if result.returncode != 0:
        pytest.skip(f"cannot build the probe guest (gcc -m32 missing?): {result.stderr[-300:]}")
    return out


def run_probe(case: Case) -> tuple[str, BootState]:
    """Load the probe with our loader into a unicorn machine and return what it prints.

    The machine is as Multiboot 0.6.96 section 3.2 wants it: a fresh unicorn
    UC_MODE_32 CPU is in protected mode with flat zero-based segments and
    paging off; EIP, EAX and EBX come from the BootState. Port 0x3f8 is the
    serial output, a write to port 0xf4 stops the run (isa-debug-exit).
    """
    from unicorn import UC_ARCH_X86, UC_HOOK_INSN, UC_MODE_32, Uc
    from unicorn.x86_const import UC_X86_INS_OUT, UC_X86_REG_EAX, UC_X86_REG_EBX

    ram = case.ram_mib * MIB
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, ram)
    state = load_guest(case.kernel, uc.mem_write, ram, cmdline=case.cmdline, modules=case.modules)
    out = bytearray()

    def on_out(uc: Uc, port: int, size: int, value: int, _: object) -> None:
        if port == 0x3F8:
            out.append(value & 0xFF)
        elif port == 0xF4:
            uc.emu_stop()

    uc.hook_add(UC_HOOK_INSN, on_out, None, 1, 0, UC_X86_INS_OUT)
    uc.reg_write(UC_X86_REG_EAX, state.eax)
    uc.reg_write(UC_X86_REG_EBX, state.ebx)
    uc.emu_start(state.entry, 0xFFFFFFFF, count=5_000_000)
    return out.decode(), state


# --------------------------------------------------------------------------- QEMU reference


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_probe_prints_what_qemu_printed(
    case: Case, probe_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe guest sees the same boot information under btvmm as under QEMU."""
    monkeypatch.chdir(probe_dir)  # relative names: the kernel cmdline starts with the path
    text, state = run_probe(case)
    ours = text.splitlines()
    theirs = expected_lines(case)
    assert theirs[-1] == "probe end" and ours[-1] == "probe end"
    assert "boot_loader_name='qemu'" in theirs
    assert ours == [
        "boot_loader_name='btvmm'" if line == "boot_loader_name='qemu'" else line for line in theirs
    ]
    assert state.kind == "multiboot"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_info_block_matches_qemu_without_gcc(case: Case, tmp_path: Path) -> None:
    """Memory fields of the block against QEMU's, with a hand-made kernel (no gcc needed).

    Decodes our block from RAM per spec 3.3 and compares the lines of the
    QEMU text that do not depend on the kernel: magic, mbi address, flags,
    mem_lower/upper, boot_device, mmap address, length and entries.
    """
    kernel = tmp_path / "k.bin"
    kernel.write_bytes(kludge_image())
    ram = Ram(case.ram_mib * MIB, fill=0)
    state = load_guest(str(kernel), ram.write, ram.size)
    info = decode_info(ram, state.ebx)
    ours = [
        f"magic={state.eax:#010x}",
        f"mbi={state.ebx:#010x}",
        f"flags={info.flags:#010x}",
        f"mem_lower={info.mem_lower}",
        f"mem_upper={info.mem_upper}",
        f"boot_device={info.boot_device:#010x}",
        f"mmap_addr={info.mmap_addr:#010x}",
        f"mmap_length={24 * len(info.mmap)}",
    ] + [f"mmap size={s} base={b:#018x} len={n:#018x} type={t}" for s, b, n, t in info.mmap]
    keys = ("magic=", "mbi=", "flags=", "mem_", "boot_device=", "mmap")
    theirs = [line for line in expected_lines(case) if line.startswith(keys)]
    assert ours == theirs


@pytest.mark.qemu
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_expected_text_is_qemus(case: Case, probe_dir: Path) -> None:
    """The committed expected/*.txt is still what qemu-system-i386 prints."""
    if shutil.which("qemu-system-i386") is None:
        pytest.skip("qemu-system-i386 not installed")
    args = ["qemu-system-i386", "-display", "none", "-serial", "stdio", "-device",
            "isa-debug-exit,iobase=0xf4,iosize=4", "-no-reboot", "-m", str(case.ram_mib),
            "-kernel", case.kernel]  # fmt: skip
    if case.cmdline:
        args += ["-append", case.cmdline]
    if case.modules:
        args += ["-initrd", ",".join(case.modules)]
    run = subprocess.run(
        args, cwd=probe_dir, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert run.returncode == 1, run.stderr  # isa-debug-exit: (0 << 1) | 1
    assert run.stdout.splitlines() == expected_lines(case)


# --------------------------------------------------------------------------- ELF


def test_elf_segments_loaded_at_paddr_and_bss_zeroed(tmp_path: Path) -> None:
    text = bytes(range(1, 200))
    data = b"DATA" * 10
    path = tmp_path / "g.elf"
    path.write_bytes(
        elf32(
            [(0x100000, text, len(text)), (0x180000, data, 0x3000)],
            entry=0x100010,
            vaddr_offset=0xC0000000,
        )
    )
    ram = Ram(4 * MIB)
    state = load_guest(str(path), ram.write, ram.size)
    assert state == BootState(
        entry=0x100010,
        eax=0,
        ebx=0,
        kind="elf",
        segments=[(0x100000, len(text)), (0x180000, 0x3000)],
    )
    assert ram.mem[0x100000 : 0x100000 + len(text)] == text
    assert ram.mem[0x180000 : 0x180000 + len(data)] == data
    assert ram.mem[0x180000 + len(data) : 0x183000] == bytes(0x3000 - len(data))  # .bss
    assert ram.mem[0x183000] == 0xAA  # nothing beyond p_memsz
    assert ram.mem[0x100000 + len(text)] == 0xAA


def test_elf_skips_non_load_and_empty_segments(tmp_path: Path) -> None:
    path = tmp_path / "g.elf"
    note = (4, 0, 0, 0x5000, 0, 0x100, 4, 4)  # PT_NOTE at paddr 0x5000: not loaded
    path.write_bytes(elf32([(0x200000, b"\x90", 1), (0x300000, b"", 0)], extra_phdrs=[note]))
    ram = Ram(4 * MIB)
    state = load_guest(str(path), ram.write, ram.size)
    assert state.segments == [(0x200000, 1)]
    assert ram.writes == [(0x200000, 1)]


def test_compiled_probe_as_plain_loading(probe_dir: Path) -> None:
    """The gcc-built probe: both PT_LOADs as readelf would show them, bss zeroed."""
    raw = (probe_dir / "probe.elf").read_bytes()
    ram = Ram(4 * MIB)
    state = load_guest(str(probe_dir / "probe.elf"), ram.write, ram.size)
    (phoff,) = struct.unpack_from("<I", raw, 28)
    (phnum,) = struct.unpack_from("<H", raw, 44)
    loads = [struct.unpack_from("<8I", raw, phoff + 32 * i) for i in range(phnum)]
    loads = [p for p in loads if p[0] == 1]
    assert state.segments == [(p[3], p[5]) for p in loads]
    for _, off, _, paddr, filesz, memsz, _, _ in loads:
        assert ram.mem[paddr : paddr + filesz] == raw[off : off + filesz]
        assert ram.mem[paddr + filesz : paddr + memsz] == bytes(memsz - filesz)
    assert state.entry == struct.unpack_from("<I", raw, 24)[0]


def test_entry_override(tmp_path: Path) -> None:
    path = tmp_path / "g.elf"
    path.write_bytes(elf32([(0x100000, b"\x90" * 8, 8)], entry=0x100000))
    ram = Ram(4 * MIB)
    assert load_guest(str(path), ram.write, ram.size, entry=0x100004).entry == 0x100004


# --------------------------------------------------------------------------- multiboot


def test_multiboot_elf_entry_state_cmdline_and_modules(tmp_path: Path) -> None:
    """EAX/EBX per spec 3.2; cmdline and module strings as QEMU builds them.

    QEMU's strings (expected/m64_cmdline_mods.txt): the kernel gets
    "KERNEL CMDLINE", each module its whole "FILE ARGS" string.
    """
    code = mb_header(0x3) + b"\xf4" * 4
    kernel = tmp_path / "k.elf"
    kernel.write_bytes(elf32([(0x100000, code, 0x1800)], entry=0x10000C))
    (tmp_path / "m1").write_bytes(b"first module" * 100)
    (tmp_path / "m2").write_bytes(b"x")
    ram = Ram(8 * MIB)
    state = load_guest(
        str(kernel),
        ram.write,
        ram.size,
        cmdline="console=ttyS0 debug",
        modules=[f"{tmp_path}/m1 a b", f"{tmp_path}/m2"],
    )
    assert (state.kind, state.entry, state.eax) == ("multiboot", 0x10000C, BOOT_MAGIC)
    assert state.ebx == 0x9500  # where QEMU puts it (every expected/*.txt: mbi=0x00009500)
    info = decode_info(ram, state.ebx)
    assert info.flags & 0b1001101 == 0b1001101  # mem, cmdline, mods, mmap (spec 3.3)
    assert info.cmdline == f"{kernel} console=ttyS0 debug".encode()
    assert [m[2] for m in info.modules] == [
        f"{tmp_path}/m1 a b".encode(),
        f"{tmp_path}/m2".encode(),
    ]
    (s1, e1, _), (s2, e2, _) = info.modules
    assert s1 == 0x102000  # first page after the kernel's end 0x101800
    assert e1 - s1 == 1200 and ram.mem[s1:e1] == b"first module" * 100
    assert s2 % 0x1000 == 0 and s2 >= e1 and ram.mem[s2:e2] == b"x"
    assert state.modules == [(s1, e1), (s2, e2)]
    assert info.loader_name == b"btvmm"
    # the block is below 640 KiB and clear of everything else loaded
    base, size = state.info or (0, 0)
    assert base + size <= 0x9FC00
    for start, length in state.segments + [(s, e - s) for s, e in state.modules]:
        assert base + size <= start or start + length <= base


def test_multiboot_empty_cmdline_is_kernel_name_and_space(tmp_path: Path) -> None:
    """QEMU with no -append: cmdline='probe.elf ' (expected/m128.txt), trailing space."""
    kernel = tmp_path / "k.bin"
    kernel.write_bytes(kludge_image())
    ram = Ram(4 * MIB)
    state = load_guest(str(kernel), ram.write, ram.size)
    assert decode_info(ram, state.ebx).cmdline == f"{kernel} ".encode()


def test_aout_kludge_loading(tmp_path: Path) -> None:
    """Spec 3.1.3: file from the header's offset - (header_addr - load_addr), bss zeroed."""
    code = bytes(range(40))
    prefix = b"PADDING!" * 2  # 16 bytes of file before load_addr's byte
    load = 0x200000
    size = 32 + len(code)
    hdr = mb_header(0x10000, load, load, load + size, load + size + 0x100, load + 32)
    path = tmp_path / "k.img"
    path.write_bytes(prefix + hdr + code + b"TRAILER NOT LOADED")
    # header at file offset 16 = header_addr, so load_addr is file offset 16
    ram = Ram(4 * MIB)
    state = load_guest(str(path), ram.write, ram.size)
    assert (state.kind, state.entry, state.segments) == (
        "multiboot",
        load + 32,
        [(load, size + 0x100)],
    )
    assert ram.mem[load : load + size] == hdr + code
    assert ram.mem[load + size : load + size + 0x100] == bytes(0x100)
    assert ram.mem[load + size + 0x100] == 0xAA


def test_aout_kludge_wins_over_elf(probe_dir: Path) -> None:
    """Flag bit 16 in an ELF file: the address fields are used (spec 3.1.3, QEMU)."""
    ram = Ram(4 * MIB)
    state = load_guest(str(probe_dir / "probe_kludge.elf"), ram.write, ram.size)
    assert state.kind == "multiboot"
    assert len(state.segments) == 1 and state.segments[0][0] == 0x100000


def test_info_block_moves_when_the_kernel_covers_0x9000(tmp_path: Path) -> None:
    path = tmp_path / "low.bin"
    path.write_bytes(kludge_image(load_addr=0x8000, bss=0x4000))
    ram = Ram(4 * MIB)
    state = load_guest(str(path), ram.write, ram.size)
    (kbase, ksize), (ibase, isize) = state.segments[0], state.info or (0, 0)
    assert ibase + isize <= kbase or kbase + ksize <= ibase
    assert ibase + isize <= 0x9FC00
    assert decode_info(ram, state.ebx).mem_lower == 639
    assert ram.mem[kbase + 32] == 0xF4  # kernel intact


# --------------------------------------------------------------------------- flat


def test_flat_binary(tmp_path: Path) -> None:
    path = tmp_path / "flat.bin"
    path.write_bytes(b"\xfa\xf4" + bytes(range(50)))
    ram = Ram(4 * MIB)
    state = load_guest(str(path), ram.write, ram.size, load_addr=0x7C00)
    assert state == BootState(entry=0x7C00, eax=0, ebx=0, kind="flat", segments=[(0x7C00, 52)])
    assert ram.mem[0x7C00 : 0x7C00 + 52] == path.read_bytes()
    state = load_guest(str(path), ram.write, ram.size, load_addr=0x10000, entry=0x10002)
    assert (state.entry, state.segments) == (0x10002, [(0x10000, 52)])


def test_flat_load_addr_takes_an_elf_as_raw_bytes(tmp_path: Path) -> None:
    path = tmp_path / "g.elf"
    path.write_bytes(elf32([(0x100000, b"\x90", 1)]))
    ram = Ram(4 * MIB)
    state = load_guest(str(path), ram.write, ram.size, load_addr=0x1000)
    assert state.kind == "flat" and ram.mem[0x1000:0x1004] == b"\x7fELF"


# --------------------------------------------------------------------------- errors


def test_error_missing_file(tmp_path: Path) -> None:
    msg = load_error(tmp_path / "nope.elf")
    assert msg == f"{tmp_path}/nope.elf: cannot read guest image: No such file or directory"


def test_error_unreadable_directory(tmp_path: Path) -> None:
    assert load_error(tmp_path) == f"{tmp_path}: cannot read guest image: Is a directory"


def test_error_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e").write_bytes(b"")
    assert load_error(tmp_path / "e") == f"{tmp_path}/e: empty file"


def test_error_not_an_elf(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_bytes(b"hello, this is text\n")
    msg = load_error(tmp_path / "t.txt")
    assert msg.startswith(f"{tmp_path}/t.txt: not an ELF file (magic 68 65 6c 6c")
    assert "--load-addr" in msg


def test_error_elf64(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(elf64_header() + bytes(200))
    assert load_error(tmp_path / "x") == (
        f"{tmp_path}/x: ELF64 (64-bit) file for x86-64 (EM_X86_64): "
        "only 32-bit i386 ELF guests are supported"
    )


def test_error_big_endian(tmp_path: Path) -> None:
    raw = bytearray(elf32([(0x100000, b"\x90", 1)]))
    raw[5] = 2  # EI_DATA = ELFDATA2MSB
    (tmp_path / "be").write_bytes(raw)
    assert "big-endian ELF" in load_error(tmp_path / "be")


@pytest.mark.parametrize(
    ("machine", "words"),
    [(62, "ELF for x86-64 (EM_X86_64), expected i386"), (40, "ELF for ARM (EM_ARM), expected i386"),
     (92, "(EM_OPENRISC), expected i386"), (0x7777, "ELF for machine 30583")],
)  # fmt: skip
def test_error_wrong_machine(tmp_path: Path, machine: int, words: str) -> None:
    (tmp_path / "m").write_bytes(elf32([(0x100000, b"\x90", 1)], machine=machine))
    assert words in load_error(tmp_path / "m")


@pytest.mark.parametrize(("e_type", "words"), [(1, "relocatable object (ET_REL)"),
                                                (3, "shared object or PIE (ET_DYN)"),
                                                (4, "core dump (ET_CORE)")])  # fmt: skip
def test_error_not_executable(tmp_path: Path, e_type: int, words: str) -> None:
    (tmp_path / "o").write_bytes(elf32([(0x100000, b"\x90", 1)], e_type=e_type))
    msg = load_error(tmp_path / "o")
    assert words in msg and "not an executable" in msg


def test_error_real_object_file(probe_dir: Path) -> None:
    assert "relocatable object (ET_REL)" in load_error(probe_dir / "probe.o")


def test_error_no_loadable_segment(tmp_path: Path) -> None:
    note = (4, 0, 0, 0, 0, 0x10, 4, 4)
    (tmp_path / "n").write_bytes(elf32([], extra_phdrs=[note]))
    assert "no loadable segment" in load_error(tmp_path / "n")
    (tmp_path / "z").write_bytes(elf32([]))
    assert "no loadable segment" in load_error(tmp_path / "z")


def test_error_segment_beyond_ram(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(elf32([(0x100000, b"\x90", 1), (0x300000, b"", 0x200000)]))
    assert load_error(tmp_path / "big") == (
        f"{tmp_path}/big: segment 1 [0x300000, 0x500000) lies beyond guest RAM "
        "(4 MiB (0x400000 bytes))"
    )


def test_error_overlapping_segments(tmp_path: Path) -> None:
    (tmp_path / "ov").write_bytes(elf32([(0x100000, b"a" * 16, 0x2000), (0x101000, b"b", 1)]))
    assert load_error(tmp_path / "ov") == (
        f"{tmp_path}/ov: segment 0 [0x100000, 0x102000) and segment 1 [0x101000, 0x101001) overlap"
    )


def test_error_truncated_segment(tmp_path: Path) -> None:
    raw = elf32([(0x100000, b"\x90" * 100, 100)])
    (tmp_path / "t").write_bytes(raw[:-10])
    msg = load_error(tmp_path / "t")
    assert msg.startswith(f"{tmp_path}/t: truncated file: segment 0 file range [0x54, 0xb8)")


def test_error_truncated_phdr_table(tmp_path: Path) -> None:
    raw = elf32([(0x100000, b"\x90", 1)])
    (tmp_path / "t").write_bytes(raw[:60])
    assert "truncated file: program header table [0x34, 0x54)" in load_error(tmp_path / "t")
    (tmp_path / "h").write_bytes(raw[:30])
    assert "truncated file: 30 bytes" in load_error(tmp_path / "h")


def test_error_truncated_real_probe(probe_dir: Path, tmp_path: Path) -> None:
    raw = (probe_dir / "probe.elf").read_bytes()
    (tmp_path / "cut.elf").write_bytes(raw[:0x1100])
    assert "truncated file: segment 0" in load_error(tmp_path / "cut.elf")


def test_error_filesz_above_memsz(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(elf32([(0x100000, b"\x90" * 8, 4)]))
    assert "p_filesz 0x8 is larger than p_memsz 0x4" in load_error(tmp_path / "f")


def test_error_dynamically_linked(tmp_path: Path) -> None:
    interp = (3, 0, 0, 0, 0, 0, 4, 1)
    (tmp_path / "d").write_bytes(elf32([(0x100000, b"\x90", 1)], extra_phdrs=[interp]))
    assert "dynamically linked (has PT_INTERP)" in load_error(tmp_path / "d")


def test_error_module_cannot_be_read(tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(kludge_image())
    msg = load_error(tmp_path / "k", modules=[f"{tmp_path}/missing.mod some args"])
    assert msg == f"{tmp_path}/missing.mod: cannot read module: No such file or directory"


def test_error_module_too_big_for_ram(tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(kludge_image())
    (tmp_path / "big").write_bytes(bytes(3 * MIB))
    msg = load_error(tmp_path / "k", modules=[str(tmp_path / "big")])
    assert msg.startswith(f"{tmp_path}/big: module of {3 * MIB} bytes does not fit")


def test_error_multiboot_bad_checksum(tmp_path: Path) -> None:
    (tmp_path / "b").write_bytes(mb_header(0x10003, checksum=0x12345678) + bytes(64))
    assert load_error(tmp_path / "b") == (
        f"{tmp_path}/b: multiboot header at file offset 0x0 has a bad checksum 0x12345678: "
        "magic + flags + checksum = 0x2de3067d, must be 0 (Multiboot 0.6.96 section 3.1.2)"
    )


def test_error_multiboot_header_in_non_elf_without_address_fields(tmp_path: Path) -> None:
    (tmp_path / "m").write_bytes(mb_header(0x3) + bytes(64))
    assert "not an ELF file" in load_error(tmp_path / "m")


@pytest.mark.parametrize(
    ("fields", "words"),
    [((0x1000, 0x2000, 0, 0, 0x2000), "header_addr 0x1000 is below load_addr 0x2000"),
     ((0x2000, 0x1000, 0, 0, 0x2000), "larger than the header's file offset"),
     ((0x1000, 0x1000, 0x800, 0, 0x1000), "load_end_addr 0x800 is below load_addr"),
     ((0x1000, 0x1000, 0x1100, 0, 0x1000), "truncated file"),
     ((0x1000, 0x1000, 0x1010, 0x1008, 0x1000), "bss_end_addr 0x1008 is below")],
)  # fmt: skip
def test_error_bad_address_fields(tmp_path: Path, fields: tuple[int, ...], words: str) -> None:
    (tmp_path / "a").write_bytes(mb_header(0x10000, *fields) + bytes(32))
    assert words in load_error(tmp_path / "a")


def test_error_aout_image_beyond_ram(tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(kludge_image(load_addr=0x3FF000, bss=0x2000))
    assert load_error(tmp_path / "k") == (
        f"{tmp_path}/k: image [0x3ff000, 0x401030) lies beyond guest RAM (4 MiB (0x400000 bytes))"
    )


def test_error_nul_in_cmdline(tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(kludge_image())
    assert "contains a NUL" in load_error(tmp_path / "k", cmdline="a\0b")


def test_error_flat_beyond_ram(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(bytes(0x100))
    assert load_error(tmp_path / "f", load_addr=0x3FFF80) == (
        f"{tmp_path}/f: flat image at [0x3fff80, 0x400080) lies beyond guest RAM "
        "(4 MiB (0x400000 bytes))"
    )


def test_error_cmdline_for_plain_elf(tmp_path: Path) -> None:
    (tmp_path / "g").write_bytes(elf32([(0x100000, b"\x90", 1)]))
    assert "--cmdline needs a multiboot kernel" in load_error(tmp_path / "g", cmdline="x")
    assert "--module needs a multiboot kernel" in load_error(tmp_path / "g", modules=["m"])


def test_error_multiboot_ram_outside_model(tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(kludge_image(load_addr=0x10000))
    assert "between 2 MiB and 3.5 GiB" in load_error(tmp_path / "k", Ram(MIB))


@settings(max_examples=300, deadline=None, database=None)
@given(tail=st.binary(max_size=400), ident=st.binary(min_size=3, max_size=3))
def test_garbage_after_elf_magic_fails_cleanly(fuzz_dir: Path, tail: bytes, ident: bytes) -> None:
    """Random bytes after the ELF magic either load or raise GuestLoadError, nothing else."""
    _load_or_clean_error(fuzz_dir, b"\x7fELF" + ident + tail)


@settings(max_examples=300, deadline=None, database=None)
@given(
    phoff=st.integers(0, 120),
    phnum=st.integers(0, 4),
    table=st.binary(min_size=0, max_size=200),
    ram_mib=st.sampled_from([1, 2, 4]),
)
def test_garbage_program_headers_fail_cleanly(
    fuzz_dir: Path, phoff: int, phnum: int, table: bytes, ram_mib: int
) -> None:
    """A valid ELF32 i386 ET_EXEC header with random program headers: no crash."""
    ident = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)
    header = ident + struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, 0, phoff, 0, 0, 52, 32, phnum, 0, 0, 0)
    _load_or_clean_error(fuzz_dir, header + table, ram_mib * MIB)


@pytest.fixture(scope="session")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _load_or_clean_error(directory: Path, image: bytes, ram_size: int = 2 * MIB) -> None:
    ram = Ram(ram_size)
    path = str(directory / "fuzz.elf")
    Path(path).write_bytes(image)
    try:
        load_guest(path, ram.write, ram.size)
    except GuestLoadError as e:
        assert "\n" not in str(e) and str(e).startswith(path + ": ")
        assert ram.writes == []


def _iter_mb(image: bytes) -> Iterator[int]:
    """Offsets of the multiboot magic in the first 8 KiB (used by the sanity check)."""
    for off in range(0, min(len(image), 8192) - 3, 4):
        if struct.unpack_from("<I", image, off)[0] == MB_MAGIC:
            yield off


def test_probe_has_one_valid_header(probe_dir: Path) -> None:
    """Sanity of the fixture itself: one header, checksum valid (spec 3.1.2)."""
    raw = (probe_dir / "probe.elf").read_bytes()
    (off,) = list(_iter_mb(raw))
    magic, flags, checksum = struct.unpack_from("<III", raw, off)
    assert (magic + flags + checksum) & 0xFFFFFFFF == 0 and flags == 3
