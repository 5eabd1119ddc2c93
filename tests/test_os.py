"""btos (corpus/os), the corpus's own operating system: its image, its disk, and its sessions.

The sessions are booted under qemu-system-i386 (the independent reference) and compared with
the committed transcripts in corpus/expected/os/ (corpus/reference.py --regen os wrote them;
corpus/expected/os/qemu.txt has the command lines).  They are kept out of corpus/expected/*.out
because every guest there also runs under btvmm with no disk and no input;
test_btvmm_session_matches_qemu boots each session under btvmm (it needs issue 16's whole
platform: the disk and console of branch pio, the APICs and firmware tables of branch
pcore).  The image and disk checks are pure Python and need no emulator.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BUILD, CORPUS, needs_qemu

OS_DIR = CORPUS / "os"
OS_ELF = BUILD / "os.elf"
OS_DISK = BUILD / "os-disk.img"
OS_EXPECTED = CORPUS / "expected" / "os"
KERNBASE = 0xC0000000
PROGRAMS = ["cat", "echo", "fault", "ls", "preempt", "primes", "sh", "wc"]

sys.path.insert(0, str(OS_DIR))
import mkfs  # noqa: E402  (corpus/os/mkfs.py)
import reference  # noqa: E402  (corpus/reference.py)


def built(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is not built: run 'make corpus'")
    return path


def program_headers(raw: bytes) -> list[tuple[int, ...]]:
    (phoff,) = struct.unpack_from("<I", raw, 28)
    (phnum,) = struct.unpack_from("<H", raw, 44)
    return [struct.unpack_from("<8I", raw, phoff + 32 * i) for i in range(phnum)]


def read_btfs(image: bytes) -> dict[str, bytes]:
    """An independent reader of the format in corpus/os/kernel/btfs.h."""
    magic, version, nfiles, dir_lba, dir_sectors, total = struct.unpack_from("<6I", image, 0)
    assert (magic, version, dir_lba) == (0x53465442, 1, 1)
    assert total * 512 == len(image) and dir_sectors * 512 >= nfiles * 32
    files = {}
    for i in range(nfiles):
        raw_name, lba, size = struct.unpack_from("<24sII", image, 512 * dir_lba + 32 * i)
        assert lba >= dir_lba + dir_sectors and (lba * 512 + size) <= len(image)
        files[raw_name.rstrip(b"\0").decode()] = image[lba * 512 : lba * 512 + size]
    assert list(files) == sorted(files)
    return files


# ------------------------------------------------------------------ the kernel image
def test_kernel_is_higher_half_with_physical_load_addresses() -> None:
    """What any multiboot loader needs: a valid header in the first 8 KiB without the
    a.out-kludge bit, PT_LOAD segments whose p_paddr (1 MiB up) is p_vaddr - KERNBASE,
    and a physical entry point inside the first of them."""
    raw = built(OS_ELF).read_bytes()
    at = next(i for i in range(0, 8192, 4) if raw[i : i + 4] == struct.pack("<I", 0x1BADB002))
    magic, flags, checksum = struct.unpack_from("<3I", raw, at)
    assert (magic + flags + checksum) & 0xFFFFFFFF == 0 and not flags & 0x10000
    loads = [p for p in program_headers(raw) if p[0] == 1]
    assert loads and loads[0][3] == 0x100000
    for _, _, vaddr, paddr, _, _, _, _ in loads:
        assert vaddr - paddr == KERNBASE
    (entry,) = struct.unpack_from("<I", raw, 24)
    first = loads[0]
    assert first[3] <= entry < first[3] + first[5]


def test_btvmm_loader_places_the_kernel_at_one_mib() -> None:
    from runtime.pc.loader import load_guest

    ram = bytearray(128 << 20)

    def write(addr: int, data: bytes) -> None:
        ram[addr : addr + len(data)] = data

    raw = built(OS_ELF).read_bytes()
    state = load_guest(str(OS_ELF), write, len(ram), cmdline="autorun")
    assert state.kind == "multiboot" and state.eax == 0x2BADB002
    loads = [p for p in program_headers(raw) if p[0] == 1]
    assert state.segments == [(p[3], p[5]) for p in loads]
    for _, off, _, paddr, filesz, _, _, _ in loads:
        assert ram[paddr : paddr + filesz] == raw[off : off + filesz]


def test_native_run_starts_the_kernel() -> None:
    """The bare machine loads and starts btos: its first line (printed after paging is on
    and the kernel runs in the higher half) is qemu's.  Bounded: the kernel goes no further
    than the MP/ACPI search until the machine has those tables."""
    want = (OS_EXPECTED / "autorun.out").read_bytes().splitlines(keepends=True)[0]
    p = subprocess.run([sys.executable, "-m", "runtime.cli", "run", "--native", "--cmdline",
                        "autorun", "--max-insns", "5000000", str(built(OS_ELF))],
                       capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert p.stdout.splitlines(keepends=True)[:1] == [want], p.stderr.decode()


# ------------------------------------------------------------------ the disk
def test_disk_image_holds_the_programs_and_files() -> None:
    image = built(OS_DISK).read_bytes()
    assert len(image) == 1 << 20  # fixed: the IDE disk size is in the transcript
    files = read_btfs(image)
    text = {p.name: p.read_bytes() for p in (OS_DIR / "files").iterdir()}
    assert set(files) == set(PROGRAMS) | set(text)
    for name in PROGRAMS:
        assert files[name] == (BUILD / "os" / "bin" / name).read_bytes()
        assert files[name][:4] == b"\x7fELF"
    for name, content in text.items():
        assert files[name] == content


def test_mkfs_layout() -> None:
    image = mkfs.build([("b", b"x" * 513), ("a", b""), ("c", b"hello")], 8192)
    assert read_btfs(image) == {"a": b"", "b": b"x" * 513, "c": b"hello"}
    _, _, _, _, dir_sectors, total = struct.unpack_from("<6I", image, 0)
    assert (dir_sectors, total) == (1, 16)
    lbas = [struct.unpack_from("<24sII", image, 512 + 32 * i)[1] for i in range(3)]
    assert lbas == [2, 2, 4]  # an empty file takes no sector; b takes two


@pytest.mark.parametrize("files,size,message", [
    ([("x" * 24, b"")], 4096, "a name has 1..23 characters"),
    ([("a/b", b"")], 4096, "no '/'"),
    ([("a", b""), ("a", b"")], 4096, "same name"),
    ([("a", b"x" * 5000)], 4096, "the files need 6144 bytes, the image has 4096"),
    ([("a", b"")], 1000, "not a multiple of 512"),
])
def test_mkfs_refuses(files: list[tuple[str, bytes]], size: int, message: str) -> None:
    with pytest.raises(mkfs.MkfsError, match=message):
        mkfs.build(files, size)


def test_mkfs_command_line_error_is_one_line(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, str(OS_DIR / "mkfs.py"), str(tmp_path / "d.img"),
                        str(tmp_path / "absent")], capture_output=True, text=True)
    assert p.returncode == 1 and not (tmp_path / "d.img").exists()
    assert p.stderr.strip() == f"mkfs.py: {tmp_path}/d.img: {tmp_path}/absent: No such file or directory"


# ------------------------------------------------------------------ sessions under qemu
@needs_qemu
@pytest.mark.qemu
@pytest.mark.parametrize("session", list(reference.OS_SESSIONS))
def test_session_matches_committed_qemu_transcript(session: str) -> None:
    """autorun (the built-in session), acpi (the same with the ACPI tables) and script
    (typed on the serial line, editing included) reproduce their transcripts exactly."""
    built(OS_ELF), built(OS_DISK)
    out, status = reference.run_os(session, timeout=60)
    _, out_path, status_path = reference.os_paths(session)
    assert status != -1, f"qemu timed out; output so far:\n{out.decode(errors='replace')}"
    assert out.decode(errors="replace") == Path(out_path).read_text()
    assert out == Path(out_path).read_bytes()
    assert status == int(Path(status_path).read_text())


def test_transcripts_show_each_program_and_a_disk_read() -> None:
    """The committed sessions do what issue 16 asks of them (so a regenerated transcript
    that lost a command is caught): several commands, a fork/exec of every user program,
    a file read from the disk, and no timing-dependent content."""
    auto = (OS_EXPECTED / "autorun.out").read_text()
    script = (OS_EXPECTED / "script.out").read_text()
    for text in (auto, script):
        assert "ioapic: 24 pins; IRQ 4 -> vector 36, IRQ 14 -> vector 46" in text
        assert "Hello from the disk." in text  # cat hello.txt
    ran = {line[2:].split()[0] for line in (auto + script).splitlines()
           if line.startswith("$ ") and len(line) > 2 and not line.startswith("$ #")}
    assert set(PROGRAMS) - {"sh"} <= ran
    assert "preempt: woke up while the child spun" in auto
    assert "btos: power off" in auto and (OS_EXPECTED / "autorun.status").read_text() == "1\n"
    assert "btos: init exited with status 3" in script


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["native", "monitor"])
@pytest.mark.parametrize("session", list(reference.OS_SESSIONS))
def test_btvmm_session_matches_qemu(session: str, mode: str) -> None:
    """Every session booted by btvmm, on the bare machine and under the monitor, with the
    same disk, command line and serial input as qemu, prints qemu's transcript."""
    stdin_path, out_path, status_path = reference.os_paths(session)
    append, _ = reference.OS_SESSIONS[session]
    argv = [sys.executable, "-m", "runtime.cli", "run", "--deterministic", "--timeout", "600",
            "--disk", str(built(OS_DISK)), "--cmdline", append, str(built(OS_ELF))]
    if mode == "native":
        argv.insert(4, "--native")  # after "run"
    if stdin_path:
        argv += ["--serial-in", stdin_path]
    p = subprocess.run(argv, capture_output=True, timeout=700, stdin=subprocess.DEVNULL)
    assert "Traceback" not in p.stderr.decode(errors="replace")
    assert p.stdout.decode(errors="replace") == Path(out_path).read_text()
    assert p.returncode == int(Path(status_path).read_text())
