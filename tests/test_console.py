"""COM1's receiver as a user feeds it: --serial-in FILE, piped stdin, and the interactive
console on a terminal (a pty here): raw mode, Ctrl-A x / Ctrl-A h, the terminal restored.

The corpus guest ``serin`` (corpus/serin/serin.c) echoes the lines it receives through
receive interrupts; its transcript (corpus/expected/serin/session.*) is qemu-system-i386's
with the same input on its serial line (``-serial stdio < session.in``).
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from conftest import EXPECTED, guest_elf, needs_qemu

from runtime.session import RunOptions, run_file

BT = [sys.executable, "-m", "runtime.cli"]
SESSION = EXPECTED / "serin" / "session"
QEMU = ["qemu-system-i386", "-display", "none", "-serial", "stdio", "-device",
        "isa-debug-exit,iobase=0xf4,iosize=4", "-no-reboot", "-m", "128"]


def reference() -> tuple[bytes, int]:
    return (SESSION.with_suffix(".out").read_bytes(),
            int(SESSION.with_suffix(".status").read_text()))


@pytest.mark.parametrize("mode", [[], ["--native"]], ids=["monitor", "native"])
def test_serial_in_replays_the_file_like_qemu(mode: list[str]) -> None:
    proc = subprocess.run([*BT, "run", *mode, str(guest_elf("serin")), "--serial-in",
                           str(SESSION.with_suffix(".in"))], capture_output=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert (proc.stdout, proc.returncode) == reference()


def test_piped_stdin_feeds_the_receiver() -> None:
    """A pipe (not a file: read by a thread as data comes) into a guest that spins without
    a timer: arriving input must stop the run to be taken."""
    feeder = subprocess.Popen(["cat", str(SESSION.with_suffix(".in"))], stdout=subprocess.PIPE)
    proc = subprocess.run([*BT, "run", str(guest_elf("serin"))], stdin=feeder.stdout,
                          capture_output=True, timeout=120)
    feeder.wait()
    assert (proc.stdout, proc.returncode) == reference()


def test_serial_in_is_deterministic_and_equal_in_both_modes() -> None:
    counts = []
    for native in (True, False, True):
        with open(SESSION.with_suffix(".in"), "rb") as f:
            result = run_file(str(guest_elf("serin")), RunOptions(
                native=native, deterministic=True, stdin=f, timeout_s=120))
        assert (result.output, result.status) == reference()
        counts.append(result.stats["instructions"])
    assert len(set(counts)) == 1


@needs_qemu
def test_reference_transcript_is_qemus() -> None:
    with open(SESSION.with_suffix(".in"), "rb") as f:
        proc = subprocess.run([*QEMU, "-kernel", str(guest_elf("serin"))], stdin=f,
                              capture_output=True, timeout=60)
    assert (proc.stdout, proc.returncode) == reference()


def test_missing_serial_in_is_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run([*BT, "run", str(guest_elf("serin")), "--serial-in",
                           str(tmp_path / "nope")], capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1
    assert "cannot read serial input" in err and "Traceback" not in err


def _console(keys: list[bytes], *mode: str) -> tuple[int, bytes, bytes, bool]:
    """Run serin with its stdin on a pty; type ``keys`` once the guest is up. Returns
    (status, stdout, what the terminal showed, terminal settings restored)."""
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen([*BT, "run", *mode, str(guest_elf("serin"))], stdin=slave,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = b""
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    while b"serin:" not in out and time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 1)[0]:
            out += os.read(proc.stdout.fileno(), 4096)
    for chunk in keys:
        os.write(master, chunk)
        time.sleep(0.5)
    rest, _ = proc.communicate(timeout=120)
    shown = b""
    while select.select([master], [], [], 0.2)[0]:
        shown += os.read(master, 4096)
    restored = termios.tcgetattr(slave) == before
    os.close(master)
    os.close(slave)
    return proc.returncode, out + rest, shown, restored


@pytest.mark.parametrize("mode", [[], ["--native"]], ids=["monitor", "native"])
def test_console_ctrl_a_x_quits_and_restores_the_terminal(mode: list[str]) -> None:
    status, out, shown, restored = _console([b"sync\rhi there\r", b"\x01h", b"\x01x"], *mode)
    assert status == 20 and restored
    assert b"> hi there (8)\n" in out  # raw mode: Enter is \r, sent at once
    assert b"C-a x    exit the emulator" in shown


def test_console_restores_the_terminal_when_the_guest_ends() -> None:
    status, out, _, restored = _console([b"sync\rone\r\x01\x01\rquit\r"])
    assert restored and status == 1
    assert b"> one (3)\n> \x01 (1)\n2 lines" in out  # Ctrl-A Ctrl-A sends one Ctrl-A
