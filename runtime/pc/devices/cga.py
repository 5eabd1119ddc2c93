"""The colour text display: text memory at 0xB8000 and the 6845-style CRTC at 0x3D4/0x3D5.

The text buffer is ordinary guest RAM (the machine maps all of low memory):
80 x 25 cells of (character, attribute) starting at the CRTC's start
address (registers 0x0C/0x0D). Nothing is drawn while the guest runs; the
final screen is captured at the end of the run (``bt run --screen``).

The CRTC keeps its 25 registers (index at 0x3D4, data at 0x3D5) as VGA text
mode 3 programs them (IBM VGA technical reference, CRT controller
registers); registers 0x0E/0x0F are the cursor location. 0x3DA (input
status 1) toggles its retrace bits on every read so that polling loops end;
0x3D8/0x3D9 (CGA mode and colour select) are stored.
"""

from __future__ import annotations

from collections.abc import Callable

from runtime.pc.devices.base import Device

TEXT_BASE = 0xB8000
COLUMNS, ROWS = 80, 25
#: CRTC registers 0x00-0x18 of VGA mode 3 (80x25 colour text).
MODE3_CRTC = bytes((0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E,
                    0x00, 0x00, 0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3,
                    0xFF))


class CgaText(Device):
    """The CRTC and status ports of the colour text display."""

    name = "cga"
    ports = (range(0x3D4, 0x3D6), range(0x3D8, 0x3DB))

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.index = 0
        self.crtc = bytearray(MODE3_CRTC)
        self.mode = 0x29  # 80x25 text, video enabled, blink (CGA mode register)
        self.colour = 0
        self._status = 0

    @property
    def cursor(self) -> int:
        """The cursor's cell (row * 80 + column), from CRTC registers 0x0E/0x0F."""
        return self.crtc[0x0E] << 8 | self.crtc[0x0F]

    @property
    def start(self) -> int:
        return self.crtc[0x0C] << 8 | self.crtc[0x0D]

    def io_read(self, port: int, size: int) -> int:
        if port == 0x3D4:
            return self.index
        if port == 0x3D5:
            return self.crtc[self.index] if self.index < len(self.crtc) else 0xFF
        if port == 0x3DA:
            self._status ^= 0x09  # display enable and vertical retrace toggle
            return self._status
        return self.mode if port == 0x3D8 else self.colour

    def io_write(self, port: int, size: int, value: int) -> None:
        if port == 0x3D4:
            self.index = value & 0xFF
            if size == 2:  # outw: index in the low byte, data in the high byte
                self.io_write(0x3D5, 1, value >> 8)
        elif port == 0x3D5:
            if self.index < len(self.crtc):
                self.crtc[self.index] = value & 0xFF
        elif port == 0x3D8:
            self.mode = value & 0xFF
        elif port == 0x3D9:
            self.colour = value & 0xFF

    def screen(self, read_phys: Callable[[int, int], bytes]) -> str:
        """The text on the screen: 25 lines (code page 437), trailing blanks removed."""
        raw = read_phys(TEXT_BASE + 2 * self.start, 2 * COLUMNS * ROWS)
        chars = bytes(raw[0::2]).replace(b"\0", b" ").decode("cp437")
        lines = [chars[r * COLUMNS:(r + 1) * COLUMNS].rstrip() for r in range(ROWS)]
        return "\n".join(lines).rstrip("\n") + "\n"
