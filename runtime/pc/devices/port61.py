"""Port 0x61, the PC/AT's system control port B (speaker and timer 2 gate).

Bits as on the AT and its successors (PIIX "NMI status and control"):

====  ======================================================  ==========
bit   meaning                                                 access
====  ======================================================  ==========
0     gate of 8254 counter 2                                  read/write
1     speaker data enable (counter 2's OUT to the speaker)    read/write
2     parity / SERR# check disable                            read/write
3     I/O channel check / IOCHK# disable                      read/write
4     refresh toggle: flips every 15.085 us (DRAM refresh)    read only
5     OUT of 8254 counter 2                                   read only
6, 7  IOCHK# and SERR# NMI sources: never active here         read only
====  ======================================================  ==========

Guests use bit 5 to time short delays and to calibrate their TSC against
counter 2 (Linux's ``pit_calibrate_tsc``), and bit 4 for ``io_delay``-style
busy waits; both are computed from virtual time. The speaker makes no sound.
"""

from __future__ import annotations

from runtime.pc.clock import Clock
from runtime.pc.devices.base import Device
from runtime.pc.devices.pit import Pit8254

#: Half-period of the refresh request toggle (bit 4), in ns.
REFRESH_TOGGLE_NS = 15_085
_WRITABLE = 0x0F


class Port61(Device):
    """System control port B: counter 2 gate and output, refresh toggle."""

    name = "port61"
    ports = (range(0x61, 0x62),)

    def __init__(self, clock: Clock, pit: Pit8254) -> None:
        self.clock = clock
        self.pit = pit
        self.control = 0

    def reset(self) -> None:
        self.control = 0
        self.pit.set_gate(2, False)

    def io_read(self, port: int, size: int) -> int:
        refresh = (self.clock.now_ns() // REFRESH_TOGGLE_NS) & 1
        out2 = int(self.pit.out(2))
        value = self.control | refresh << 4 | out2 << 5
        return value | (((1 << (8 * size)) - 1) & ~0xFF)

    def io_write(self, port: int, size: int, value: int) -> None:
        self.control = value & _WRITABLE
        self.pit.set_gate(2, bool(value & 1))
