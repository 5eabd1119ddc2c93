"""The emulated PC devices and the standard PC's port map.

:func:`standard_pc` builds the bus of an ISA PC as QEMU's ``pc`` machine
presents it to a 32-bit guest without a BIOS: two 8259A PICs, the 8254 PIT
on IRQ0 with port 0x61, the MC146818 RTC/CMOS, COM1 on IRQ4, the POST port,
QEMU's isa-debug-exit at 0xf4, the 8042 keyboard controller (0x60/0x64,
IRQ1 and IRQ12), port 0x92, the colour text display's CRTC (0x3d4), and the
two IDE channels (primary 0x1f0/0x3f6 on IRQ14, secondary 0x170/0x376 on
IRQ15) with the drives of ``disks`` (IDE position 0-3 -> image). Anything else reads as all ones.

Here live the bus and the device interface (:mod:`~runtime.pc.devices.base`:
a device is a state, a port read/write pair and a reset) and one device per
module: the 8259A pair (:mod:`~runtime.pc.devices.pic`), the 8254
(:mod:`~runtime.pc.devices.pit`), port 0x61 (:mod:`~runtime.pc.devices.port61`),
the RTC/CMOS (:mod:`~runtime.pc.devices.cmos`), the 16550
(:mod:`~runtime.pc.devices.uart`), the POST port (:mod:`~runtime.pc.devices.post`),
isa-debug-exit (:mod:`~runtime.pc.devices.debugexit`), the IDE channels
(:mod:`~runtime.pc.devices.ide`) and their disk images (:mod:`~runtime.pc.devices.disk`),
the 8042 and port 0x92 (:mod:`~runtime.pc.devices.ps2`) and the text display's CRTC
(:mod:`~runtime.pc.devices.cga`).

May import: itself, the clock (:mod:`runtime.pc.clock`) and third-party
libraries. Devices see neither the CPU nor the run loop: the machine wires
them to the port bus and reads their next deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import BinaryIO

from runtime.pc.clock import Clock
from runtime.pc.devices.base import Device, IrqLine, PortBus, PortCounters
from runtime.pc.devices.cga import CgaText
from runtime.pc.devices.cmos import CmosRtc
from runtime.pc.devices.debugexit import DebugExit, exit_status
from runtime.pc.devices.disk import DiskImage
from runtime.pc.devices.ide import IdeChannel
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
    "CgaText",
    "Device",
    "DiskImage",
    "IdeChannel",
    "IrqLine",
    "Pic8259Pair",
    "Pit8254",
    "Port61",
    "PortBus",
    "PortCounters",
    "PostPort",
    "Ps2Controller",
    "SystemControlA",
    "Uart16550",
    "exit_status",
    "standard_pc",
]

#: ISA interrupt lines of the standard devices.
PIT_IRQ = 0
COM1_IRQ = 4
KEYBOARD_IRQ, MOUSE_IRQ = 1, 12
#: The IDE channels as QEMU's pc machine wires them: (name, command block, control, IRQ).
IDE_CHANNELS = (("ide0", 0x1F0, 0x3F6, 14), ("ide1", 0x170, 0x376, 15))


def standard_pc(
    clock: Clock,
    console: BinaryIO | None,
    stdin_source: BinaryIO | None,
    on_exit: Callable[[int], None],
    ram_size: int,
    disks: Mapping[int, DiskImage] | None = None,
    on_reset: Callable[[], None] | None = None,
) -> tuple[PortBus, Pic8259Pair, Uart16550]:
    """Build the PC's port bus; return it with the PIC pair and COM1.

    ``console`` receives COM1's output, ``stdin_source`` feeds its receiver
    (None: nothing to receive), ``on_exit`` is called with the value a guest
    writes to the debug-exit port, ``ram_size`` (bytes) fills the CMOS
    memory-size bytes, ``on_reset`` is called when the guest resets the system (port
    0x92 bit 0, 8042 command 0xfe).
    """
    pic = Pic8259Pair()
    pit = Pit8254(clock, pic.irq_line(PIT_IRQ))
    uart = Uart16550(
        name="uart0",
        base=0x3F8,
        irq=pic.irq_line(COM1_IRQ),
        console=console,
        input=stdin_source,
        clock=clock,
    )
    devices: list[Device] = [
        pic,  # 0x20-0x21, 0xa0-0xa1, 0x4d0-0x4d1
        pit,  # 0x40-0x43
        Port61(clock, pit),  # 0x61
        CmosRtc(clock, ram_size),  # 0x70-0x71
        PostPort(),  # 0x80
        DebugExit(base=0xF4, size=4, on_exit=on_exit),  # 0xf4-0xf7
        uart,  # 0x3f8-0x3ff
        Ps2Controller(pic.irq_line(KEYBOARD_IRQ), pic.irq_line(MOUSE_IRQ), on_reset),  # 0x60, 0x64
        SystemControlA(on_reset),  # 0x92
        CgaText(),  # 0x3d4-0x3d5, 0x3d8-0x3da
    ]
    disks = disks or {}
    # QEMU numbers the drives' serials (QM00001, ...) in the order it creates them
    serial = {index: n + 1 for n, index in enumerate(sorted(disks))}
    for n, (name, base, ctrl, irq) in enumerate(IDE_CHANNELS):
        devices.append(IdeChannel(name, base, ctrl, pic.irq_line(irq),
                                  disks.get(2 * n), disks.get(2 * n + 1),
                                  (serial.get(2 * n, 0), serial.get(2 * n + 1, 0))))
    bus = PortBus()
    for device in devices:
        bus.attach(device)
    return bus, pic, uart
