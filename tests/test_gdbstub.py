"""The gdb remote stub (issue 17) driven by a real gdb, natively and under the monitor.

What gdb must see is the guest's truth, checked against independent references: the
symbols of the guest's ELF (where a breakpoint stops), the bytes the guest's own pushf and
iret frame hold (its EFLAGS and CS as the processor would show them), the guest's output
as qemu-system-i386 prints it (corpus/expected), and the SDM (CPL 3 after an iret to a
ring-3 frame: CS RPL 3).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import expected, guest_elf, needs_gdb

ROOT = Path(__file__).resolve().parent.parent
MODES = [pytest.param(True, id="native"), pytest.param(False, id="monitor")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bt(elf: Path, port: int, native: bool, *extra: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "runtime.cli", "run", str(elf), "--gdb", str(port), "--wait",
           *extra, *(["--native"] if native else [])]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stderr.readline() if proc.stderr else b""  # "bt: gdb stub listening on ..."
    assert b"listening" in line, line
    return proc


def _symbols(elf: Path) -> dict[str, int]:
    out = subprocess.run(["nm", str(elf)], capture_output=True, text=True, check=True).stdout
    return {f[2]: int(f[0], 16) for f in (line.split() for line in out.splitlines()) if len(f) == 3}


def _gdb(elf: Path, port: int, script: str) -> str:
    """Run gdb in batch mode, one -ex per line of ``script``."""
    res = subprocess.run(["gdb", "-nx", "-batch", "-ex", "set pagination off",
                          "-ex", f"target remote 127.0.0.1:{port}", *sum(
                              (["-ex", line] for line in script.strip().splitlines()), []),
                          str(elf)], capture_output=True, text=True, timeout=120)
    return res.stdout + res.stderr


def _regs(text: str) -> list[tuple[int, ...]]:
    return [tuple(int(x, 16) for x in m.split()) for m in re.findall(r"^R ([0-9a-f ]+)$", text, re.M)]


@needs_gdb
@pytest.mark.slow
@pytest.mark.parametrize("native", MODES)
def test_gdb_breaks_steps_and_reads_guest_view(native: bool) -> None:
    elf = guest_elf("usermode")
    sym = _symbols(elf)
    port = _free_port()
    proc = _bt(elf, port, native)
    show = 'printf "R %x %x %x %x\\n", $eip, $cs, $eflags, $esp'
    # run_user_eflags: pushf at +4 (0x9c), then jmp iret_to_ring3, whose iret is at +15
    pushf = sym["run_user_eflags"] + 4
    iret = sym["iret_to_ring3"] + 15
    script = f"""
        {show}
        stepi
        {show}
        break *kmain
        continue
        {show}
        break *{pushf:#x}
        continue
        {show}
        stepi
        {show}
        printf "M %x\\n", *(unsigned int *)$esp
        delete
        break *{iret:#x}
        continue
        {show}
        printf "F %x %x %x\\n", *(unsigned int *)$esp, *(unsigned int *)($esp+4), *(unsigned int *)($esp+8)
        stepi
        {show}
        printf "V %x\\n", *(unsigned short *)&gdt_ptr
        monitor info jit
        delete
        continue
    """
    text = _gdb(elf, port, script)
    out, err = proc.communicate(timeout=120)
    regs = _regs(text)
    assert len(regs) == 7, text
    start, after_cli, at_kmain, at_pushf, after_pushf, at_iret, after_iret = regs
    # _start: cli; a multiboot loader leaves CS 0x08 of its GDT and EFLAGS 0x2 (IF=0)
    assert start[:3] == (sym["_start"], 0x08, 0x2)
    assert after_cli[0] == sym["_start"] + 1 and not after_cli[2] & 0x200
    assert at_kmain[0] == sym["kmain"] and at_kmain[1] == 0x08  # translated kernel code
    assert at_pushf[0] == pushf and at_pushf[1] == 0x08
    # pushf stores the guest's EFLAGS (SDM vol 2 PUSHF: VM and RF cleared in the image)
    pushed = int(re.search(r"^M ([0-9a-f]+)$", text, re.M).group(1), 16)
    assert after_pushf[3] == at_pushf[3] - 4 and pushed == at_pushf[2] & ~0x30000
    assert at_iret[0] == iret
    frame = tuple(int(x, 16) for x in re.search(r"^F ([0-9a-f ]+)$", text, re.M).group(1).split())
    # iret to ring 3 (SDM vol 2 IRET): EIP, CS and EFLAGS from the frame, CPL 3
    assert after_iret[0] == frame[0] == sym["user_entry"]
    assert after_iret[1] == frame[1] == 0x1B
    assert after_iret[2] & ~0x10000 == frame[2] & ~0x10000
    v = re.search(r"^V ([0-9a-f]+)$", text, re.M)
    assert v is not None and int(v.group(1), 16) == sym["gdt_end"] - sym["gdt"] - 1
    assert "guest instructions" in text
    assert "exited" in text, text
    want, status = expected("usermode")
    assert out == want and proc.returncode == status, err.decode()


#: a flat binary that spins (jmp $) until a debugger moves it on, then prints "A" and exits
#: through isa-debug-exit: the guest is still running when Ctrl-C arrives, never racing its end
SPIN = bytes.fromhex("ebfe" "66baf803" "b041" "ee" "b000" "e6f4" "f4")
LOAD = 0x100000


class _Client:
    """A minimal gdb remote client (GDB manual, Appendix E), to send Ctrl-C at a chosen time."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(b"$%s#%02x" % (data, sum(data) & 0xFF))

    def reply(self) -> bytes:
        while True:
            m = re.search(rb"\$([^#]*)#..", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                self.sock.sendall(b"+")
                return m.group(1)
            chunk = self.sock.recv(4096)
            assert chunk, "the stub closed the connection"
            self.buf += chunk

    def ask(self, data: bytes) -> bytes:
        self.send(data)
        return self.reply()


@pytest.mark.parametrize("native", MODES)
def test_ctrl_c_stops_a_spinning_guest(native: bool, tmp_path: Path) -> None:
    image = tmp_path / "spin.bin"
    image.write_bytes(SPIN)
    port = _free_port()
    proc = _bt(image, port, native, "--load-addr", hex(LOAD))
    gdb = _Client(port)
    assert gdb.ask(b"?").startswith(b"T05")
    gdb.send(b"c")
    time.sleep(0.5)
    assert proc.poll() is None  # still spinning
    gdb.sock.sendall(b"\x03")
    assert gdb.reply().startswith(b"T02")  # SIGINT
    regs = gdb.ask(b"g")
    eip = int.from_bytes(bytes.fromhex(regs[64:72].decode()), "little")
    assert eip == LOAD
    assert gdb.ask(b"P8=%s" % (LOAD + 2).to_bytes(4, "little").hex().encode()) == b"OK"
    gdb.send(b"c")
    assert gdb.reply() == b"W00"
    out, err = proc.communicate(timeout=60)
    assert out == b"A" and proc.returncode == 1, err.decode()


@needs_gdb
@pytest.mark.parametrize("native", MODES)
def test_gdb_watchpoint_stops_after_the_write(native: bool) -> None:
    """A hardware watchpoint (Z2) on a user-mode variable: gdb stops after the instruction
    that changed it (a trap, SDM vol 3B 17.3.1.2), at the guest's CS (RPL 3), and the run
    then ends with qemu's output."""
    elf = guest_elf("usermode")
    port = _free_port()
    proc = _bt(elf, port, native)
    text = _gdb(elf, port, """
        watch *(unsigned int *)&u_push_cs
        continue
        printf "R %x %x %x %x\\n", $eip, $cs, *(unsigned int *)&u_push_cs, $esp
        delete
        continue
    """)
    out, err = proc.communicate(timeout=120)
    regs = _regs(text)
    assert len(regs) == 1, text
    eip, cs, value, _ = regs[0]
    # user_entry: pushl %cs; popl u_push_cs: the stop is just past the popl
    dis = subprocess.run(["objdump", "-d", str(elf)], capture_output=True, text=True).stdout
    var = _symbols(elf)["u_push_cs"]
    popl = re.search(rf"^\s*([0-9a-f]+):\s+(?:[0-9a-f]{{2}} )+\s*pop\s+{var:#x}", dis, re.M)
    assert popl is not None
    after = re.search(r"^\s*([0-9a-f]+):", dis[popl.end():], re.M)
    assert after is not None and eip == int(after.group(1), 16)
    assert cs == value == 0x1B and "New value = 27" in text
    want, status = expected("usermode")
    assert out == want and proc.returncode == status, err.decode()
