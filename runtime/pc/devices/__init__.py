"""The emulated PC devices and the standard PC's port and memory maps.

:func:`pc_platform` builds an ISA PC as QEMU's ``pc`` machine presents it to a
32-bit guest after SeaBIOS: two 8259A PICs, the 8254 PIT on IRQ0 with port
0x61, the MC146818 RTC/CMOS, COM1 on IRQ4, the POST port, QEMU's
isa-debug-exit at 0xf4 and fw_cfg at 0x510, the IMCR at 0x22; and, memory
mapped, the local APIC (0xFEE00000) and the I/O APIC (0xFEC00000). Every ISA
line reaches both interrupt controllers (:class:`IsaIrqs`). Ports nobody
decodes read as all ones. :func:`standard_pc` is the port-bus view of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from runtime.pc.clock import Clock
from runtime.pc.devices.base import Device, IrqLine, PortBus, PortCounters
from runtime.pc.devices.cga import CgaText
from runtime.pc.devices.cmos import CmosRtc
from runtime.pc.devices.debugexit import DebugExit, exit_status
from runtime.pc.devices.disk import DiskImage
from runtime.pc.devices.fwcfg import FwCfg
from runtime.pc.devices.ide import IdeChannel
from runtime.pc.devices.intr import Imcr, IsaIrqs, ProcessorInterrupts
from runtime.pc.devices.ioapic import IoApic
from runtime.pc.devices.lapic import LocalApic
from runtime.pc.devices.mmio import MmioBus
from runtime.pc.devices.pic import Pic8259Pair
from runtime.pc.devices.pit import PIT_HZ, Pit8254
from runtime.pc.devices.port61 import Port61
from runtime.pc.devices.post import PostPort
from runtime.pc.devices.ps2 import Ps2Controller, SystemControlA
from runtime.pc.devices.uart import Uart16550

__all__ = [
    "PIT_HZ",
    "CmosRtc",
    "DebugExit",
    "Device",
    "FwCfg",
    "IoApic",
    "IsaIrqs",
    "LocalApic",
    "MmioBus",
    "PcPlatform",
    "IrqLine",
    "Pic8259Pair",
    "Pit8254",
    "Port61",
    "PortBus",
    "PortCounters",
    "PostPort",
    "Uart16550",
    "exit_status",
    "pc_platform",
    "standard_pc",
]

#: ISA interrupt lines of the standard devices.
PIT_IRQ = 0
COM1_IRQ = 4
KEYBOARD_IRQ, MOUSE_IRQ = 1, 12
#: The IDE channels as QEMU's pc machine wires them: (name, command block, control, IRQ).
IDE_CHANNELS = (("ide0", 0x1F0, 0x3F6, 14), ("ide1", 0x170, 0x376, 15))


@dataclass
class PcPlatform:
    """The devices of the PC and how they reach the processor."""

    bus: PortBus
    mmio: MmioBus
    pic: Pic8259Pair
    lapic: LocalApic
    ioapic: IoApic
    irqs: IsaIrqs
    #: the processor's interrupt input (``pending`` / ``acknowledge``)
    interrupts: ProcessorInterrupts
    uart: Uart16550


def pc_platform(
    clock: Clock,
    console: BinaryIO | None,
    stdin_source: BinaryIO | None,
    on_exit: Callable[[int], None],
    ram_size: int,
    cmdline: bytes = b"",
    disks: Mapping[int, DiskImage] | None = None,
    on_reset: Callable[[], None] | None = None,
) -> PcPlatform:
    """Build the PC. ``console`` receives COM1's output, ``stdin_source`` feeds its
    receiver (None: nothing to receive), ``on_exit`` is called with the value a guest
    writes to the debug-exit port, ``ram_size`` (bytes) fills the CMOS memory-size bytes
    and fw_cfg, ``cmdline`` is fw_cfg's kernel command line."""
    pic = Pic8259Pair()
    ioapic_ref: list[IoApic] = []
    lapic = LocalApic(clock, on_eoi=lambda v: ioapic_ref[0].eoi(v))
    ioapic = IoApic(lapic)
    ioapic_ref.append(ioapic)
    irqs = IsaIrqs(pic, ioapic)
    imcr = Imcr()
    pit = Pit8254(clock, irqs.irq_line(PIT_IRQ))
    uart = Uart16550(
        name="uart0",
        base=0x3F8,
        irq=irqs.irq_line(COM1_IRQ),
        console=console,
        input=stdin_source,
        clock=clock,
    )
    devices: list[Device] = [
        imcr,  # 0x22-0x23
        pic,  # 0x20-0x21, 0xa0-0xa1, 0x4d0-0x4d1
        pit,  # 0x40-0x43
        Port61(clock, pit),  # 0x61
        CmosRtc(clock, ram_size),  # 0x70-0x71
        PostPort(),  # 0x80
        DebugExit(base=0xF4, size=4, on_exit=on_exit),  # 0xf4-0xf7
        uart,  # 0x3f8-0x3ff
        FwCfg(ram_size, cmdline),  # 0x510-0x511
        Ps2Controller(irqs.irq_line(KEYBOARD_IRQ), irqs.irq_line(MOUSE_IRQ), on_reset),
        SystemControlA(on_reset),  # 0x92
        CgaText(),  # 0x3d4-0x3d5, 0x3d8-0x3da
        lapic,  # no ports: on the bus for its timer (next_event_ns / advance)
    ]
    disks = disks or {}
    serial = {index: n + 1 for n, index in enumerate(sorted(disks))}
    for n, (name, base, ctrl, irq) in enumerate(IDE_CHANNELS):
        devices.append(IdeChannel(name, base, ctrl, irqs.irq_line(irq), disks.get(2 * n),
                                  disks.get(2 * n + 1),
                                  (serial.get(2 * n, 0), serial.get(2 * n + 1, 0))))
    bus = PortBus()
    for device in devices:
        bus.attach(device)
    mmio = MmioBus()
    for device in (lapic, ioapic):  # 0xfee00000, 0xfec00000
        mmio.attach(device)
    return PcPlatform(bus, mmio, pic, lapic, ioapic, irqs, ProcessorInterrupts(pic, lapic, imcr),
                      uart)


def standard_pc(
    clock: Clock,
    console: BinaryIO | None,
    stdin_source: BinaryIO | None,
    on_exit: Callable[[int], None],
    ram_size: int,
) -> tuple[PortBus, Pic8259Pair, Uart16550]:
    """The PC's port bus, with the PIC pair and COM1 (see :func:`pc_platform`)."""
    pc = pc_platform(clock, console, stdin_source, on_exit, ram_size)
    return pc.bus, pc.pic, pc.uart
