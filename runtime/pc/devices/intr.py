"""How interrupt requests reach the processor: ISA lines, the 8259As, the APICs, the IMCR.

On a PC with an I/O APIC every ISA interrupt line is wired to two places
(MP spec 1.4, section 3.6; QEMU's ``pc`` machine): the 8259A pair's IRQ n and
the I/O APIC's pin n, except IRQ0 (the PIT), which reaches pin 2 (the
interrupt source override the MP and ACPI tables announce). :class:`IsaIrqs`
is that fan-out; devices take their lines from it.

The processor's INTR input (:class:`ProcessorInterrupts`, what the machine
asks ``pending()`` and ``acknowledge()``) is fed by the local APIC's accepted
vectors and by the 8259A's INT output. Where the 8259A output goes is chosen
by the IMCR (MP spec 3.6.2.1; ports 0x22/0x23, register 0x70): in PIC mode
(IMCR bit 0 = 0, written by software) it goes straight to the processor; in
virtual-wire / symmetric mode it reaches the local APIC's LINT0 and passes
only while LINT0 is unmasked or the APIC globally disabled (QEMU's
``apic_accept_pic_intr``). The tables this PC publishes declare virtual-wire
mode (no IMCR, as SeaBIOS's do), so that is the power-on state; a guest that
writes the IMCR anyway gets what it selects.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.pc.devices.base import Device, IrqLine
from runtime.pc.devices.ioapic import IoApic
from runtime.pc.devices.lapic import LocalApic
from runtime.pc.devices.pic import Pic8259Pair

#: ISA IRQ -> I/O APIC pin where they differ (the PIT's IRQ0 is wired to pin 2)
ISA_TO_PIN = {0: 2}

IMCR_SELECT = 0x70


class IsaIrqs:
    """ISA interrupt lines, each driving the 8259A pair and the I/O APIC."""

    def __init__(self, pic: Pic8259Pair, ioapic: IoApic) -> None:
        self.pic = pic
        self.ioapic = ioapic

    def irq_line(self, n: int) -> IrqLine:
        pic_line = self.pic.irq_line(n)
        pin = self.ioapic.pin(ISA_TO_PIN.get(n, n))

        def line(level: bool) -> None:
            pic_line(level)
            pin(level)

        return line


@dataclass
class Imcr(Device):
    """The interrupt mode configuration register (MP spec 3.6.2.1): 0x22 selects, 0x23 data."""

    name: str = "imcr"
    ports: tuple[range, ...] = (range(0x22, 0x24),)
    select: int = 0
    #: None: never written (virtual wire, as the tables say); 0 PIC mode; 1 APIC mode
    value: int | None = None

    def io_read(self, port: int, size: int) -> int:
        if port == 0x22:
            return self.select
        return (self.value or 0) if self.select == IMCR_SELECT else 0xFF

    def io_write(self, port: int, size: int, value: int) -> None:
        if port == 0x22:
            self.select = value & 0xFF
        elif self.select == IMCR_SELECT:
            self.value = value & 1

    @property
    def pic_mode(self) -> bool:
        return self.value == 0


class ProcessorInterrupts:
    """The processor's maskable-interrupt input: local APIC first, then the 8259A."""

    def __init__(self, pic: Pic8259Pair, lapic: LocalApic, imcr: Imcr) -> None:
        self.pic = pic
        self.lapic = lapic
        self.imcr = imcr

    def _pic_reaches_cpu(self) -> bool:
        return self.imcr.pic_mode or self.lapic.accepts_extint()

    def pending(self) -> bool:
        return self.lapic.pending() or (self._pic_reaches_cpu() and self.pic.pending())

    def acknowledge(self) -> int:
        if self.lapic.pending():
            return self.lapic.acknowledge()
        return self.pic.acknowledge()
