"""Port 0x80, the POST diagnostic port.

BIOSes write progress codes here, and guests (Linux's ``outb_p`` /
``native_io_delay``) write it merely to spend an ISA bus cycle. Writes are
counted and the last code kept for debugging. Reads return all ones, as
QEMU's ``ioport80_read`` in ``hw/i386/pc.c`` does (nothing drives the bus).
"""

from __future__ import annotations

from runtime.pc.devices.base import Device


class PostPort(Device):
    """POST code port: writes are recorded, reads float high (0xff...)."""

    name = "post"
    ports = (range(0x80, 0x81),)

    def __init__(self) -> None:
        self.writes = 0
        self.last_code: int | None = None

    def io_read(self, port: int, size: int) -> int:
        return (1 << (8 * size)) - 1

    def io_write(self, port: int, size: int, value: int) -> None:
        self.writes += 1
        self.last_code = value
