"""The emulated PC devices and the standard PC's port map.

:func:`standard_pc` builds the bus of an ISA PC as QEMU's ``pc`` machine
presents it to a 32-bit guest without a BIOS: two 8259A PICs, the 8254 PIT
on IRQ0 with port 0x61, the MC146818 RTC/CMOS, COM1 on IRQ4, the POST port
and QEMU's isa-debug-exit at 0xf4. Anything else reads as all ones.

Here live the bus and the device interface (:mod:`~runtime.pc.devices.base`:
a device is a state, a port read/write pair and a reset) and one device per
module: the 8259A pair (:mod:`~runtime.pc.devices.pic`), the 8254
(:mod:`~runtime.pc.devices.pit`), port 0x61 (:mod:`~runtime.pc.devices.port61`),
the RTC/CMOS (:mod:`~runtime.pc.devices.cmos`), the 16550
(:mod:`~runtime.pc.devices.uart`), the POST port (:mod:`~runtime.pc.devices.post`)
and isa-debug-exit (:mod:`~runtime.pc.devices.debugexit`).

May import: itself, the clock (:mod:`runtime.pc.clock`) and third-party
libraries. Devices see neither the CPU nor the run loop: the machine wires
them to the port bus and reads their next deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from runtime.pc.clock import Clock
from runtime.pc.devices.base import Device, IrqLine, PortBus, PortCounters
from runtime.pc.devices.cmos import CmosRtc
from runtime.pc.devices.debugexit import DebugExit, exit_status
from runtime.pc.devices.pic import Pic8259Pair
from runtime.pc.devices.pit import PIT_HZ, Pit8254
from runtime.pc.devices.port61 import Port61
from runtime.pc.devices.post import PostPort
from runtime.pc.devices.uart import Uart16550

__all__ = [
    "PIT_HZ",
    "CmosRtc",
    "DebugExit",
    "Device",
    "IrqLine",
    "Pic8259Pair",
    "Pit8254",
    "Port61",
    "PortBus",
    "PortCounters",
    "PostPort",
    "Uart16550",
    "exit_status",
    "standard_pc",
]

#: ISA interrupt lines of the standard devices.
PIT_IRQ = 0
COM1_IRQ = 4


def standard_pc(
    clock: Clock,
    console: BinaryIO | None,
    stdin_source: BinaryIO | None,
    on_exit: Callable[[int], None],
    ram_size: int,
) -> tuple[PortBus, Pic8259Pair, Uart16550]:
    """Build the PC's port bus; return it with the PIC pair and COM1.

    ``console`` receives COM1's output, ``stdin_source`` feeds its receiver
    (None: nothing to receive), ``on_exit`` is called with the value a guest
    writes to the debug-exit port, ``ram_size`` (bytes) fills the CMOS
    memory-size bytes.
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
    ]
    bus = PortBus()
    for device in devices:
        bus.attach(device)
    return bus, pic, uart
