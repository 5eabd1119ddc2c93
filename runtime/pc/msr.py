"""Model-specific registers the PC's devices own, which unicorn's CPU model lacks.

Unicorn 2.1.4 has no local APIC behind its CPU: ``rdmsr`` of IA32_APIC_BASE
(0x1B) reads 0 and ``wrmsr`` is dropped (measured), and it offers no hook on
either instruction (``UC_HOOK_INSN`` refuses ``UC_X86_INS_RDMSR``). So:

* :data:`PlatformMsrs` rows say which MSRs the platform answers and how
  (read and write functions over the device models);
* natively, :class:`NativeMsrSites` watches the code the processor runs: when
  the instruction counter decodes a new block (:mod:`runtime.pc.icount`) that
  holds ``rdmsr`` or ``wrmsr``, it puts a code hook on that one instruction and
  has the block retranslated (a stop at its start, then ``ctl_remove_cache``),
  and the hook emulates the access when ECX names a platform MSR (skipping the
  instruction) and lets unicorn run it otherwise. Limitation: a block first
  decoded inside an exact-count stretch (the last 1024 instructions before a
  deterministic timer deadline) is not seen; kernels read this MSR at boot.
* under the monitor, ``rdmsr``/``wrmsr`` are callouts already: the handler
  asks :meth:`PlatformMsrs.handles` first (:mod:`runtime.vmm.callouts.system`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from unicorn import UC_HOOK_CODE, Uc
from unicorn import x86_const as X

from runtime.pc.devices.lapic import APIC_BASE_BSP, APIC_BASE_ENABLE, MSR_APIC_BASE, LocalApic

RDMSR, WRMSR = b"\x0f\x32", b"\x0f\x30"


@dataclass
class PlatformMsrs:
    """MSR number -> (read, write) over the platform's devices."""

    lapic: LocalApic
    counters: dict[str, int] = field(default_factory=lambda: {"reads": 0, "writes": 0})

    def _rows(self) -> dict[int, tuple[Callable[[], int], Callable[[int], None]]]:
        return {MSR_APIC_BASE: (self._read_apic_base, self._write_apic_base)}

    def handles(self, msr: int) -> bool:
        return msr in self._rows()

    def read(self, msr: int) -> int:
        self.counters["reads"] += 1
        return self._rows()[msr][0]()

    def write(self, msr: int, value: int) -> None:
        self.counters["writes"] += 1
        self._rows()[msr][1](value)

    def _read_apic_base(self) -> int:
        return self.lapic.apic_base

    def _write_apic_base(self, value: int) -> None:
        """SDM 10.4.4: bit 11 enables the APIC globally; the BSP flag is read-only; the
        base stays where the PC decodes it (relocation is not modelled)."""
        keep = self.lapic.apic_base & (0xFFFFF000 | APIC_BASE_BSP)
        self.lapic.apic_base = keep | (value & APIC_BASE_ENABLE)


class NativeMsrSites:
    """Code hooks on the guest's rdmsr/wrmsr instructions (bare machine only)."""

    def __init__(self, uc: Uc, msrs: PlatformMsrs, request_stop: Callable[[], None],
                 uncharge: Callable[[int], None]) -> None:
        self.uc = uc
        self.msrs = msrs
        self.request_stop = request_stop
        self.uncharge = uncharge  # (site) the block charged instructions past the site
        self.sites: dict[int, bytes] = {}  # linear address -> RDMSR or WRMSR
        self._hooks: list[int] = []
        #: blocks to retranslate with their new hooks, before the next run
        self.stale: list[tuple[int, int]] = []
        self.emulated = 0

    def decoded(self, address: int, code: bytes, offsets: tuple[int, ...]) -> None:
        """A block the processor is about to run was decoded for the first time."""
        new = False
        for off in offsets:
            kind = code[off:off + 2]
            if kind in (RDMSR, WRMSR) and address + off not in self.sites:
                site = address + off
                self.sites[site] = kind
                self._hooks.append(self.uc.hook_add(UC_HOOK_CODE, self._hook, None, site, site))
                new = True
        if new:
            self.stale.append((address, address + len(code)))
            self.request_stop()

    def flush_stale(self) -> None:
        for begin, end in self.stale:
            self.uc.ctl_remove_cache(begin, end)
        self.stale.clear()

    def _hook(self, uc: Uc, address: int, size: int, _data: object) -> None:
        ecx = uc.reg_read(X.UC_X86_REG_ECX)
        if not self.msrs.handles(ecx):
            return
        code = self.sites.get(address)
        if code == RDMSR:
            value = self.msrs.read(ecx)
            uc.reg_write(X.UC_X86_REG_EAX, value & 0xFFFFFFFF)
            uc.reg_write(X.UC_X86_REG_EDX, value >> 32)
        elif code == WRMSR:
            edx, eax = uc.reg_read(X.UC_X86_REG_EDX), uc.reg_read(X.UC_X86_REG_EAX)
            self.msrs.write(ecx, edx << 32 | eax)
        else:
            return
        self.emulated += 1
        self.uncharge(address)
        eip = uc.reg_read(X.UC_X86_REG_EIP)
        uc.reg_write(X.UC_X86_REG_EIP, (eip + 2) & 0xFFFFFFFF)
