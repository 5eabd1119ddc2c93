"""The PC's legacy I/O: the 8042 and PS/2 keyboard, port 0x92, the text display (--screen).

The corpus guest ``pcio`` (corpus/pcio/pcio.c) checks the boot-time 8042 sequence against
qemu's transcript (corpus/expected/pcio.out, run like every corpus guest by
tests/test_corpus_native.py); here: its screen, the system reset, and the devices alone.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import expected, guest_elf
from pcguest import Scenario

from runtime.pc.devices.cga import CgaText
from runtime.pc.devices.ps2 import Ps2Controller
from runtime.report import Outcome
from runtime.session import RunOptions, run_file

BT = [sys.executable, "-m", "runtime.cli"]
#: what pcio writes to the screen (its source): line 1 the message, line 3 column 5 a block
PCIO_SCREEN = "pcio screen test\n\n     \u2588\n"


@pytest.mark.parametrize("native", [True, False], ids=["native", "monitor"])
def test_pcio_matches_qemu_and_leaves_its_screen(native: bool) -> None:
    result = run_file(str(guest_elf("pcio")), RunOptions(native=native, deterministic=True))
    assert (result.output, result.status) == expected("pcio")
    assert result.screen == PCIO_SCREEN


def test_screen_option_prints_the_screen_after_the_console() -> None:
    proc = subprocess.run([*BT, "run", "--screen", str(guest_elf("pcio"))], capture_output=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    out, status = expected("pcio")
    assert proc.returncode == status
    assert proc.stdout == out + PCIO_SCREEN.encode()


@pytest.mark.parametrize("monitor", [False, True], ids=["native", "monitor"])
@pytest.mark.parametrize("how", ["mov al, 1; out 0x92, al", "mov al, 0xfe; out 0x64, al"],
                         ids=["port92", "8042"])
def test_system_reset_ends_the_run(monitor: bool, how: str) -> None:
    _, result = Scenario(main=f"{how}; spin: jmp spin").run(monitor=monitor)
    assert result.outcome is Outcome.RESET and result.status == 18


def test_keyboard_boot_sequence() -> None:
    """The replies of QEMU's ps2.c, read one byte per 0x60 read with OBF in status bit 0."""
    levels: list[bool] = []
    kbc = Ps2Controller(levels.append)

    def reply(port: int, value: int) -> list[int]:
        kbc.io_write(port, 1, value)
        out = []
        while kbc.io_read(0x64, 1) & 1:
            out.append(kbc.io_read(0x60, 1))
        return out

    assert reply(0x64, 0xAA) == [0x55] and kbc.io_read(0x64, 1) & 0x04
    assert reply(0x64, 0x20) == [0x61]
    assert reply(0x60, 0xFF) == [0xFA, 0xAA]
    assert reply(0x60, 0xF0) == [0xFA] and reply(0x60, 0x00) == [0xFA, 0x41]
    assert reply(0x60, 0xF5) == [0xFA] and reply(0x60, 0xF4) == [0xFA]
    assert reply(0x60, 0x99) == [0xFE]
    assert levels == [True, False] * 10  # an edge per byte: up while it waits, down when read
    kbc.io_write(0x64, 1, 0xAD)
    kbc.press(b"\x1e")
    assert not kbc.io_read(0x64, 1) & 1  # a disabled keyboard sends nothing


def test_crtc_cursor_and_word_writes() -> None:
    cga = CgaText()
    cga.io_write(0x3D4, 2, 0x120E)  # outw: index 0x0e, data 0x12
    cga.io_write(0x3D4, 1, 0x0F)
    cga.io_write(0x3D5, 1, 0x34)
    assert cga.cursor == 0x1234
    mem = bytearray(1 << 20)
    mem[0xB8000 + 2 * 81] = ord("x")
    assert cga.screen(lambda a, n: bytes(mem[a:a + n])) == "\n x\n"
