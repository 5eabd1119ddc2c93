"""The device model: a device claims I/O ports; the port bus routes IN/OUT to it.

The port map is data: every device lists the port ranges it decodes
(``Device.ports``) and :class:`PortBus` builds one dictionary from them.
A new device is a new class and a new row, never a branch in the CPU code.

Timers: a device that raises interrupts on its own (the PIT, the UART's
receiver) reports when it next needs the CPU's attention with
:meth:`Device.next_event_ns`, and is brought up to date with
:meth:`Device.advance` whenever the machine regains control. Time comes
from a :class:`runtime.pc.clock.Clock`, real or deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

#: Signature of an interrupt request line: ``irq(level)``; level True raises it.
IrqLine = Callable[[bool], None]


class Device:
    """Base class of all port-mapped devices.

    Subclasses set ``name`` and ``ports`` and override ``io_read`` /
    ``io_write``. ``size`` is the access width in bytes (1, 2 or 4); a read
    returns an integer that fits ``size`` bytes.
    """

    name: str = "device"
    ports: tuple[range, ...] = ()
    #: physical memory ranges the device decodes (see :mod:`runtime.pc.devices.mmio`)
    mmio: tuple[range, ...] = ()

    def io_read(self, port: int, size: int) -> int:
        return (1 << (8 * size)) - 1

    def io_write(self, port: int, size: int, value: int) -> None:
        return None

    def mmio_read(self, addr: int, size: int) -> int:
        return (1 << (8 * size)) - 1

    def mmio_write(self, addr: int, size: int, value: int) -> None:
        return None

    def read_string(self, port: int, size: int, count: int) -> bytes:
        """``count`` reads of ``port`` as one string (``rep ins``): little-endian elements.

        Exactly ``count`` :meth:`io_read` calls; a device with a data buffer (the IDE
        data register) overrides it to move the bytes in one step."""
        return b"".join(self.io_read(port, size).to_bytes(size, "little") for _ in range(count))

    def write_string(self, port: int, size: int, data: bytes) -> None:
        """Writes of the ``size``-byte elements of ``data`` to ``port`` (``rep outs``)."""
        for i in range(0, len(data) - size + 1, size):
            self.io_write(port, size, int.from_bytes(data[i:i + size], "little"))

    def next_event_ns(self) -> int | None:
        """Virtual time (ns) at which this device next changes by itself, or None."""
        return None

    def advance(self, now_ns: int) -> None:
        """Bring the device's state up to virtual time ``now_ns``."""
        return None

    def reset(self) -> None:
        return None


@dataclass
class PortCounters:
    reads: int = 0
    writes: int = 0


@dataclass
class PortBus:
    """Routes port I/O to devices; counts accesses per device.

    Ports nobody decodes read as all-ones and ignore writes, as on a PC's
    ISA bus; they are counted under ``"unclaimed"``.
    """

    devices: list[Device] = field(default_factory=list)
    _map: dict[int, Device] = field(default_factory=dict)
    counters: dict[str, PortCounters] = field(default_factory=dict)

    def attach(self, device: Device) -> Device:
        for r in device.ports:
            for port in r:
                if port in self._map:
                    raise ValueError(
                        f"port {port:#x} claimed by {self._map[port].name} and {device.name}"
                    )
                self._map[port] = device
        self.devices.append(device)
        self.counters.setdefault(device.name, PortCounters())
        return device

    def read(self, port: int, size: int) -> int:
        dev = self._map.get(port)
        if dev is None:
            self.counters.setdefault("unclaimed", PortCounters()).reads += 1
            return (1 << (8 * size)) - 1
        self.counters[dev.name].reads += 1
        return dev.io_read(port, size) & ((1 << (8 * size)) - 1)

    def write(self, port: int, size: int, value: int) -> None:
        dev = self._map.get(port)
        if dev is None:
            self.counters.setdefault("unclaimed", PortCounters()).writes += 1
            return
        self.counters[dev.name].writes += 1
        dev.io_write(port, size, value & ((1 << (8 * size)) - 1))

    def has_string_access(self, port: int) -> bool:
        """True if the device at ``port`` moves strings in one step (overrides read_string):
        only then is batching a ``rep ins``/``outs`` worth its cost on the bare machine."""
        dev = self._map.get(port)
        return dev is not None and type(dev).read_string is not Device.read_string

    def read_string(self, port: int, size: int, count: int) -> bytes:
        """``count`` element reads of ``port`` at once (``rep ins``), counted per element."""
        dev = self._map.get(port)
        if dev is None:
            self.counters.setdefault("unclaimed", PortCounters()).reads += count
            return b"\xff" * (size * count)
        self.counters[dev.name].reads += count
        return dev.read_string(port, size, count)

    def write_string(self, port: int, size: int, data: bytes) -> None:
        """The ``size``-byte elements of ``data`` written to ``port`` (``rep outs``)."""
        dev = self._map.get(port)
        name = dev.name if dev is not None else "unclaimed"
        self.counters.setdefault(name, PortCounters()).writes += len(data) // size
        if dev is not None:
            dev.write_string(port, size, data)

    def next_event_ns(self) -> int | None:
        events = [t for d in self.devices if (t := d.next_event_ns()) is not None]
        return min(events) if events else None

    def advance(self, now_ns: int) -> None:
        for d in self.devices:
            d.advance(now_ns)
