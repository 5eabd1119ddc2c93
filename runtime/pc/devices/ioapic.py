"""The I/O APIC (Intel 82093AA), memory-mapped at 0xFEC00000, 24 input pins.

Datasheet (order no. 290566), section 3: two registers in the MMIO page,
IOREGSEL at +0x00 (the index) and IOWIN at +0x10 (the data window); behind
them IOAPICID (0x00, bits 27:24), IOAPICVER (0x01: version 0x20 as QEMU's,
max redirection entry 23), IOAPICARB (0x02, reads as the ID) and the
redirection table (0x10 + 2n: low dword, 0x11 + 2n: high dword, pin n).

A redirection entry (datasheet 3.2.4): vector (7:0), delivery mode (10:8),
destination mode (11), delivery status (12, read-only), polarity (13),
remote IRR (14, read-only), trigger mode (15: 1 level), mask (16),
destination (63:56). Reset: every entry masked.

Delivery: an edge-triggered pin sends its vector to the local APIC on each
rising edge while unmasked; a level-triggered pin sends it while the line
is asserted and remote IRR is clear, sets remote IRR, and is re-armed by the
local APIC's EOI of that vector (:meth:`IoApic.eoi`). Only fixed and
lowest-priority delivery to a destination naming the processor's APIC are
delivered (there is one processor); polarity is taken as the PC wires ISA
lines (active high), as QEMU does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime.pc.devices.base import Device, IrqLine
from runtime.pc.devices.lapic import LocalApic

IOAPIC_BASE = 0xFEC00000
PINS = 24
VERSION = 0x00170020  # max redirection entry 23, version 0x20 (QEMU)

RTE_MASKED = 1 << 16
RTE_LEVEL = 1 << 15
RTE_REMOTE_IRR = 1 << 14
RTE_LOGICAL = 1 << 11
_RTE_WRITABLE = 0xFF000000_0001AFFF  # not delivery status (12) nor remote IRR (14)
IOREGSEL, IOWIN = 0x00, 0x10


@dataclass
class IoApicCounters:
    raised: list[int] = field(default_factory=lambda: [0] * PINS)
    delivered: list[int] = field(default_factory=lambda: [0] * PINS)


class IoApic(Device):
    """24 pins routed to the local APIC through the redirection table."""

    name = "ioapic"
    mmio = (range(IOAPIC_BASE, IOAPIC_BASE + 0x1000),)

    def __init__(self, lapic: LocalApic) -> None:
        self.lapic = lapic
        self.counters = IoApicCounters()
        self.reset()

    def reset(self) -> None:
        self.id = 0
        self.index = 0
        self.rte = [RTE_MASKED] * PINS
        self.levels = [False] * PINS

    def pin(self, n: int) -> IrqLine:
        """The input line of pin ``n``."""
        def line(level: bool) -> None:
            self.set_pin(n, level)
        return line

    def set_pin(self, n: int, level: bool) -> None:
        rising = level and not self.levels[n]
        self.levels[n] = level
        if rising:
            self.counters.raised[n] += 1
        if (rising or self.rte[n] & RTE_LEVEL) and level:
            self._deliver(n)

    def _deliver(self, n: int) -> None:
        entry = self.rte[n]
        if entry & RTE_MASKED:
            return
        level = bool(entry & RTE_LEVEL)
        if level and entry & RTE_REMOTE_IRR:
            return
        if (entry >> 8) & 7 not in (0, 1):  # only fixed and lowest priority reach a vector
            return
        if not self.lapic.matches(entry >> 56, bool(entry & RTE_LOGICAL)):
            return
        if level:
            self.rte[n] |= RTE_REMOTE_IRR
        self.counters.delivered[n] += 1
        self.lapic.accept(entry & 0xFF, level)

    def eoi(self, vector: int) -> None:
        """The local APIC's EOI of a level-triggered ``vector``: clear remote IRR, and send
        again where the line is still asserted."""
        for n, entry in enumerate(self.rte):
            if entry & RTE_REMOTE_IRR and entry & 0xFF == vector:
                self.rte[n] &= ~RTE_REMOTE_IRR
                if self.levels[n]:
                    self._deliver(n)

    # --- MMIO -------------------------------------------------------------------------
    def mmio_read(self, addr: int, size: int) -> int:
        off = addr & 0xFF
        if off & ~3 == IOREGSEL:
            value = self.index
        elif off & ~3 == IOWIN:
            value = self.read_register(self.index)
        else:
            return 0
        return (value >> (8 * (off & 3))) & ((1 << (8 * size)) - 1)

    def mmio_write(self, addr: int, size: int, value: int) -> None:
        off = addr & 0xFF
        if off == IOREGSEL:
            self.index = value & 0xFF
        elif off == IOWIN:
            self.write_register(self.index, value & 0xFFFFFFFF)

    def read_register(self, index: int) -> int:
        if index in (0x00, 0x02):
            return self.id << 24
        if index == 0x01:
            return VERSION
        pin, high = self._entry(index)
        if pin is None:
            return 0
        return (self.rte[pin] >> 32) if high else self.rte[pin] & 0xFFFFFFFF

    def write_register(self, index: int, value: int) -> None:
        if index == 0x00:
            self.id = (value >> 24) & 0xF
            return
        pin, high = self._entry(index)
        if pin is None:
            return
        old = self.rte[pin]
        new = ((old & 0xFFFFFFFF) | value << 32) if high else (old & ~0xFFFFFFFF) | value
        self.rte[pin] = (new & _RTE_WRITABLE) | (old & RTE_REMOTE_IRR)
        if not self.rte[pin] & RTE_LEVEL:
            self.rte[pin] &= ~RTE_REMOTE_IRR
        if old & RTE_MASKED and not self.rte[pin] & RTE_MASKED and self.levels[pin] and \
                self.rte[pin] & RTE_LEVEL:
            self._deliver(pin)  # unmasked while asserted: a level interrupt is sent

    @staticmethod
    def _entry(index: int) -> tuple[int | None, bool]:
        if 0x10 <= index < 0x10 + 2 * PINS:
            return (index - 0x10) >> 1, bool(index & 1)
        return None, False
