"""Memory-mapped devices: the physical address ranges a device decodes, as rows.

A device that decodes memory lists its ranges in ``mmio`` (as port devices
list ``ports``) and implements ``mmio_read(addr, size)`` /
``mmio_write(addr, size, value)`` with the physical address and the access
width (1, 2 or 4 bytes). :class:`MmioBus` keeps the map and counts accesses;
the machine installs each range in unicorn as an MMIO region
(``uc.mmio_map``), so that every load or store the guest makes there, from
any privilege level and through any page-table mapping, reaches the device
inside the instruction that makes it, never RAM.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime.pc.devices.base import Device, PortCounters


@dataclass
class MmioBus:
    """Physical ranges -> devices (page granular, as unicorn maps them)."""

    regions: list[tuple[range, Device]] = field(default_factory=list)
    counters: dict[str, PortCounters] = field(default_factory=dict)

    def attach(self, device: Device) -> Device:
        for r in getattr(device, "mmio", ()):
            if r.start & 0xFFF or len(r) & 0xFFF:
                raise ValueError(f"{device.name}: MMIO range {r.start:#x} is not page aligned")
            for other, dev in self.regions:
                if r.start < other.stop and other.start < r.stop:
                    raise ValueError(f"MMIO {r.start:#x} claimed by {dev.name} and {device.name}")
            self.regions.append((r, device))
        self.counters.setdefault(device.name, PortCounters())
        return device

    def device_at(self, paddr: int) -> Device | None:
        for r, dev in self.regions:
            if paddr in r:
                return dev
        return None

    def read(self, device: Device, paddr: int, size: int) -> int:
        self.counters[device.name].reads += 1
        return device.mmio_read(paddr, size) & ((1 << (8 * size)) - 1)  # type: ignore[attr-defined]

    def write(self, device: Device, paddr: int, size: int, value: int) -> None:
        self.counters[device.name].writes += 1
        device.mmio_write(paddr, size, value & ((1 << (8 * size)) - 1))  # type: ignore[attr-defined]
