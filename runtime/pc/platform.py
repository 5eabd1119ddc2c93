"""The bare machine's side of the PC platform: its devices wired to the engine.

A mixin of :class:`runtime.pc.machine.Machine` (the monitor inherits it): it
builds the PC (:func:`runtime.pc.devices.pc_platform`), installs each
memory-mapped device range as a unicorn MMIO region (a load or store there,
from any ring and through any page-table mapping, calls the device model inside
the instruction that makes it, never RAM), emulates the MSRs the platform owns
(:mod:`runtime.pc.msr`), writes the firmware tables at boot
(:mod:`runtime.pc.firmware`) and reports their counters. It owns ``platform``,
``bus``, ``uart``, ``pic`` (the processor's interrupt input: the local APIC and,
through LINT0 or the IMCR, the 8259A pair), ``lapic``, ``mmio``, ``msrs`` and
``msr_sites``.

MMIO timing: a device read inside a unicorn block sees the virtual clock as the
block-granular instruction counter has it (port I/O is placed at its exact
instruction; MMIO reads are not): deterministic, but an APIC current-count read
may differ between the bare machine and the monitor by the instructions of one
block. No transcript depends on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from unicorn import Uc

from runtime.pc import firmware
from runtime.pc.devices import Device, pc_platform
from runtime.pc.loader import BootState
from runtime.pc.msr import NativeMsrSites, PlatformMsrs


class PlatformWiring:
    """The PC's devices on the engine (see the module docstring)."""

    def _wire_platform(self, config: Any) -> None:  # noqa: ANN401 - a MachineConfig (no cycle)
        self.platform = pc_platform(self.clock, config.console, config.stdin,
                                    self._on_guest_exit, self.ram_size,
                                    config.cmdline.encode(errors="replace"),
                                    self.disks, self._on_reset)
        self.bus, self.uart, self.lapic = self.platform.bus, self.platform.uart, self.platform.lapic
        self.pic = self.platform.interrupts
        self.mmio = self.platform.mmio
        self._map_mmio()
        self.msrs = PlatformMsrs(self.lapic)
        self.msr_sites: NativeMsrSites | None = NativeMsrSites(
            self.uc, self.msrs, self._request_stop, self._uncharge_after)
        self.counter.on_decode = self.msr_sites.decoded

    def _map_mmio(self) -> None:
        """Each device range becomes a unicorn MMIO region: a load or store there, from any
        ring and through any mapping, calls the device inside the instruction."""
        for r, dev in self.mmio.regions:
            self.uc.mmio_map(r.start, len(r), self._mmio_reader(dev, r.start), None,
                             self._mmio_writer(dev, r.start), None)

    def _mmio_reader(self, dev: Device, base: int) -> Callable[[Uc, int, int, object], int]:
        def read(uc: Uc, offset: int, size: int, _data: object) -> int:
            try:
                value = self.mmio.read(dev, base + offset, size)
                self.after_device_access()
                return value
            except BaseException as exc:  # noqa: BLE001 - never raise into C
                self._hook_error = exc
                uc.emu_stop()
                return 0
        return read

    def _mmio_writer(self, dev: Device,
                     base: int) -> Callable[[Uc, int, int, int, object], None]:
        def write(uc: Uc, offset: int, size: int, value: int, _data: object) -> None:
            try:
                self.mmio.write(dev, base + offset, size, value)
                self.after_device_access()
            except BaseException as exc:  # noqa: BLE001 - never raise into C
                self._hook_error = exc
                uc.emu_stop()
        return write

    def after_device_access(self) -> None:
        """A device access may have made an interrupt deliverable (an EOI, a TPR write, an
        IPI) or moved a deadline (a timer programmed): stop at the next block start, or
        pull the stop point forward."""
        if self.pic.pending():
            self._request_stop()  # not uc.emu_stop(): see _request_stop
        else:
            self._retarget()

    def _uncharge_after(self, site: int) -> None:
        """An emulated instruction at ``site`` was skipped by moving EIP: unicorn starts a
        new block after it, which the counter charges again; take back what the current
        block charged for its instructions past ``site``."""
        if self.counter.exact:
            return
        s = self.counter.state
        if s.block_start <= site < s.block_start + s.block_size:
            offs = self.counter.offsets(s.block_start, s.block_size)
            past = sum(1 for o in offs if s.block_start + o > site)
            s.insns -= past
            s.block_insns -= past

    def _write_firmware(self, state: BootState) -> None:
        """The BDA, EBDA and the MP/ACPI tables (runtime.pc.firmware), where the guest's
        own image does not lie (a flat image loaded over them keeps its bytes)."""
        for addr, data in firmware.build():
            if addr + len(data) > self.ram_size:
                continue
            if any(addr < start + size and start < addr + len(data)
                   for start, size in state.segments):
                continue
            self.uc.mem_write(addr, data)

    def _platform_stats(self) -> dict[str, object]:
        return {
            "mmio": {name: {"reads": c.reads, "writes": c.writes}
                     for name, c in self.mmio.counters.items() if c.reads or c.writes},
            "lapic": dict(self.lapic.counters.__dict__),
            "msrs": dict(self.msrs.counters,
                         native_sites=len(self.msr_sites.sites) if self.msr_sites else 0),
        }
