"""The IDE/ATA PIO controller: against qemu-system-i386, against the ATA standard, and the
disk options (--disk, --disk-write, copy-on-write).

The corpus guest ``ata`` (corpus/ata/ata.c) drives the primary channel through every
command btos and common kernels use and prints what it sees; its transcripts in
corpus/expected/ata/ come from qemu-system-i386 with the same image
(``-drive file=build/ata-disk.img,format=raw,if=ide,index=0,snapshot=on``).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BUILD, EXPECTED, guest_elf, needs_qemu

from runtime.pc.devices.base import PortBus
from runtime.pc.devices.disk import DiskImage, DiskSpec, assign_positions, parse_disk_spec
from runtime.pc.devices.ide import ABRT, DRQ, ERR, IdeChannel, chs_geometry, identify_words
from runtime.report import Outcome
from runtime.session import RunOptions, run_file

BT = [sys.executable, "-m", "runtime.cli"]
DISK = BUILD / "ata-disk.img"
ATA_EXPECTED = EXPECTED / "ata"
QEMU = ["qemu-system-i386", "-display", "none", "-serial", "stdio", "-device",
        "isa-debug-exit,iobase=0xf4,iosize=4", "-no-reboot", "-m", "128"]


def disk() -> Path:
    if not DISK.exists():
        pytest.fail(f"{DISK} is not built: run 'make corpus'")
    return DISK


def reference(name: str) -> tuple[bytes, int]:
    return ((ATA_EXPECTED / f"{name}.out").read_bytes(),
            int((ATA_EXPECTED / f"{name}.status").read_text()))


def run_ata(native: bool, disks: tuple[DiskSpec, ...], disk_write: bool = False,
            deterministic: bool = True):
    return run_file(str(guest_elf("ata")), RunOptions(
        native=native, deterministic=deterministic, timeout_s=120, disks=disks,
        disk_write=disk_write))


# ------------------------------------------------------------------ the guest, both modes
@pytest.mark.parametrize("native", [True, False], ids=["native", "monitor"])
def test_ata_guest_matches_qemu(native: bool) -> None:
    out, status = reference("disk")
    result = run_ata(native, (DiskSpec(str(disk())),))
    assert result.outcome is Outcome.GUEST_EXIT, result.message
    assert result.output.decode() == out.decode()
    assert result.status == status
    # the whole-disk read is rep insw: batched, never a Python step per word
    assert result.stats["port_io"]["ide0"]["reads"] > 2048 * 256


@pytest.mark.parametrize("native", [True, False], ids=["native", "monitor"])
def test_ata_guest_without_disk_matches_qemu(native: bool) -> None:
    out, status = reference("nodisk")
    result = run_ata(native, ())
    assert (result.output, result.status) == (out, status)


def test_both_modes_take_the_same_instructions() -> None:
    native = run_ata(True, (DiskSpec(str(disk())),))
    monitor = run_ata(False, (DiskSpec(str(disk())),))
    assert native.stats["instructions"] == monitor.stats["instructions"]
    assert native.stats["string_io_batches"] > 2000


@needs_qemu
@pytest.mark.parametrize("name", ["disk", "nodisk"])
def test_reference_transcripts_are_qemus(name: str) -> None:
    cmd = [*QEMU, "-kernel", str(guest_elf("ata"))]
    if name == "disk":
        cmd += ["-drive", f"file={disk()},format=raw,if=ide,index=0,snapshot=on"]
    proc = subprocess.run(cmd, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert (proc.stdout, proc.returncode) == reference(name)


# ------------------------------------------------------------------ copy-on-write
def test_image_unchanged_without_disk_write(tmp_path: Path) -> None:
    image = tmp_path / "d.img"
    shutil.copy(disk(), image)
    before = image.read_bytes()
    result = run_ata(True, (DiskSpec(str(image)),))
    assert b"ok: sectors 20-21 read back as written" in result.output
    assert image.read_bytes() == before


def test_disk_write_changes_the_image(tmp_path: Path) -> None:
    image = tmp_path / "d.img"
    shutil.copy(disk(), image)
    before = image.read_bytes()
    result = run_ata(False, (DiskSpec(str(image)),), disk_write=True)
    assert b"ok: sectors 20-21 read back as written" in result.output
    after = image.read_bytes()
    written = bytes((i * 3 + 1) & 0xFF for i in range(1024))  # what the guest writes
    assert after[20 * 512:22 * 512] == written
    assert after[:20 * 512] == before[:20 * 512] and after[22 * 512:] == before[22 * 512:]


# ------------------------------------------------------------------ the standard
def test_identify_words_per_ata6() -> None:
    """ATA/ATAPI-6 table 27: strings two characters per word, first in the high byte;
    word 49 bit 9 LBA; 60-61 the LBA28 capacity; 57-58 the CHS capacity; 83 bit 10 LBA48."""
    sectors = 2048
    w = identify_words(1, sectors, chs_geometry(sectors), 16)
    raw = b"".join(struct.pack(">H", x) for x in w[27:47])
    assert raw.decode().rstrip() == "QEMU HARDDISK"
    assert b"".join(struct.pack(">H", x) for x in w[10:20]).decode().strip() == "QM00001"
    assert w[0] & 0x8000 == 0 and w[49] & (1 << 9)
    assert w[60] | w[61] << 16 == sectors
    assert (w[1], w[3], w[6]) == (2, 16, 63) and w[57] | w[58] << 16 == 2 * 16 * 63
    assert w[83] & (1 << 10) and w[100] == sectors and w[47] & 0xFF == 16


def _channel(tmp_path: Path, sectors: int = 64) -> tuple[IdeChannel, list[bool]]:
    image = tmp_path / "img"
    image.write_bytes(b"".join(bytes([n & 0xFF]) * 512 for n in range(sectors)))
    levels: list[bool] = []
    return IdeChannel("ide0", 0x1F0, 0x3F6, levels.append, DiskImage(str(image))), levels


def _read_cmd(ch: IdeChannel, lba: int, n: int) -> None:
    ch.io_write(0x1F6, 1, 0xE0)
    ch.io_write(0x1F2, 1, n)
    ch.io_write(0x1F3, 1, lba)
    ch.io_write(0x1F4, 1, 0)
    ch.io_write(0x1F5, 1, 0)
    ch.io_write(0x1F7, 1, 0x20)


def test_string_read_equals_single_reads(tmp_path: Path) -> None:
    """read_string is exactly ``count`` io_read calls: the same bytes across sector ends,
    the same INTRQ edges, zeros once DRQ drops."""
    a, levels_a = _channel(tmp_path)
    b, levels_b = _channel(tmp_path)
    _read_cmd(a, 3, 3)
    _read_cmd(b, 3, 3)
    words = b"".join(a.io_read(0x1F0, 2).to_bytes(2, "little") for _ in range(3 * 256 + 10))
    assert b.read_string(0x1F0, 2, 3 * 256 + 10) == words
    assert words[:512] == bytes([3]) * 512 and words[1024:1536] == bytes([5]) * 512
    assert words[1536:] == bytes(20)
    assert levels_a == levels_b == [True]  # INTRQ stays high: nobody read the status


def test_chs_and_errors(tmp_path: Path) -> None:
    ch, levels = _channel(tmp_path, sectors=2048)
    # CHS cylinder 1 head 0 sector 1 = LBA 16 * 63 = 1008 (16 heads, 63 sectors)
    ch.io_write(0x1F6, 1, 0xA0)
    ch.io_write(0x1F2, 1, 1)
    ch.io_write(0x1F3, 1, 1)
    ch.io_write(0x1F4, 1, 1)
    ch.io_write(0x1F5, 1, 0)
    ch.io_write(0x1F7, 1, 0x20)
    assert ch.io_read(0x1F7, 1) & DRQ and not levels[-1]
    assert ch.read_string(0x1F0, 4, 128) == bytes([1008 & 0xFF]) * 512
    _read_cmd(ch, 0, 1)
    ch.io_write(0x1F6, 1, 0xE0 | 0x0F)  # LBA 0x0F000000: past the end
    ch.io_write(0x1F7, 1, 0x20)
    ch.read_string(0x1F0, 2, 256)  # the first command's sector
    ch.io_write(0x1F7, 1, 0x20)
    assert ch.io_read(0x3F6, 1) & ERR and ch.io_read(0x1F1, 1) == ABRT


def test_no_drive_reads_zero_and_unclaimed_reads_ones() -> None:
    bus = PortBus()
    bus.attach(IdeChannel("ide0", 0x1F0, 0x3F6, None))
    assert [bus.read(p, 1) for p in (0x1F1, 0x1F7, 0x3F6)] == [0, 0, 0]
    assert bus.read(0x177, 1) == 0xFF


# ------------------------------------------------------------------ options
def test_disk_spec_parsing() -> None:
    assert parse_disk_spec("a.img") == DiskSpec("a.img")
    assert parse_disk_spec("a.img,index=1") == DiskSpec("a.img", 1)
    for bad in ("", "a.img,index=4", "a.img,if=ide", "a.img,index=x"):
        with pytest.raises(ValueError):
            parse_disk_spec(bad)
    assert assign_positions([DiskSpec("a"), DiskSpec("b", 0), DiskSpec("c")]) == {
        0: "b", 1: "a", 2: "c"}
    with pytest.raises(ValueError):
        assign_positions([DiskSpec("a", 1), DiskSpec("b", 1)])


@pytest.mark.parametrize("args, problem", [
    (["--disk", "/nonexistent.img"], "cannot open disk image"),
    (["--disk", "EMPTY"], "smaller than one sector"),
    (["--disk", "x.img,index=7"], "index"),
])
def test_bad_disk_is_one_line_error(tmp_path: Path, args: list[str], problem: str) -> None:
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"")
    args = [str(empty) if a == "EMPTY" else a for a in args]
    proc = subprocess.run([*BT, "run", str(guest_elf("ata")), *args], capture_output=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    err = proc.stderr.decode()
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert problem in err and proc.returncode == 2


# ------------------------------------------------------------------ string I/O, both modes
@pytest.mark.parametrize("monitor", [False, True], ids=["native", "monitor"])
def test_rep_ins_and_outs_batch_across_pages(monitor: bool) -> None:
    """A rep insb of 5000 bytes across page ends (from a port nobody decodes: 0xff each),
    then a rep outsw of them: memory, EDI/ESI, ECX and the instruction count are what one
    element per pass gives (SDM vol 2, INS/OUTS), in both modes."""
    from pcguest import Scenario

    main = ("mov edi, 0x7f0f0; mov ecx, 5000; mov dx, 0x300; cld; rep insb;"
            "mov ebx, edi; mov ebp, ecx;"
            "mov esi, 0x7f0f0; mov ecx, 100; mov dx, 0x80; rep outsw;"
            "mov eax, 0; out 0xf4, eax; hlt")
    m, result = Scenario(main=main).run(monitor=monitor)
    assert result.outcome is Outcome.GUEST_EXIT, result.message
    assert bytes(m.uc.mem_read(0x7F0F0, 5001)) == b"\xff" * 5000 + b"\0"
    assert (result.regs["ebx"], result.regs["ebp"]) == (0x7F0F0 + 5000, 0)
    assert (result.regs["esi"], result.regs["ecx"]) == (0x7F0F0 + 200, 0)
    assert result.stats["port_io"]["unclaimed"]["reads"] == 5000
    assert result.stats["port_io"]["post"]["writes"] == 100
    native = Scenario(main=main).run(monitor=False)[1] if monitor else result
    # natively only ports with string access batch (the IDE data port): these run per element
    assert native.stats["string_io_batches"] == 0
    assert result.stats["instructions"] == native.stats["instructions"]
