"""What a callout handler sees of the monitor: the virtual CPU and a few services.

Handlers are written against :class:`CalloutHost`, a protocol the
:class:`runtime.vmm.monitor.Monitor` satisfies, so that they depend on the
state an instruction's emulation needs and never on the monitor's run loop,
fault handling or translation cache (and the monitor, which imports the
handler table, is not imported back).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from unicorn import Uc

from bt.rewrite import CalloutSite
from runtime.pc.cpustate import CpuState
from runtime.pc.delivery import Event
from runtime.pc.devices import PortBus
from runtime.pc.icount import InstructionCounter
from runtime.pc.machine import MachineStats
from runtime.pc.msr import PlatformMsrs
from runtime.pc.paging import GuestMemory
from runtime.vmm.oracle import Oracle
from runtime.vmm.shadow import ShadowMMU
from runtime.vmm.vcpu import VirtualCpu


class CalloutHost(Protocol):
    """The monitor as a callout handler may use it (all of it may run inside a unicorn hook)."""

    uc: Uc  # the engine: general registers, debug registers, emu_stop
    cpu: CpuState  # the real processor's saved context (segment caches, the interrupt shadow)
    vcpu: VirtualCpu  # the guest's belief: CPL, CS, IOPL, GDTR/LDTR/TR, CRn, DRn
    mem: GuestMemory  # guest linear memory through the guest's tables (writes traced)
    shadow: ShadowMMU  # for invlpg and TLB flushes the guest asks for
    bus: PortBus  # the devices
    counter: InstructionCounter  # the instruction clock (rep ins/outs retire per element)
    stats: MachineStats  # the bare machine's counters (software interrupts)
    oracle: Oracle | None  # the monitor's scratch engine, made at first use
    msrs: PlatformMsrs  # the MSRs the platform's devices own (IA32_APIC_BASE)

    def enter_guest(self) -> None:
        """Run the guest where the virtual CPU's pending EIP says (translated or direct)."""

    def enter_kernel(self, eip: int) -> None:
        """Continue translated at guest ``eip`` (CPL, CS and the rest already set)."""

    def deliver(self, event: Event) -> None:
        """Deliver ``event`` through the guest's IDT and enter the guest at its handler."""

    def read_code(self, eip: int, size: int) -> bytes:
        """Guest code bytes at ``eip`` in the current code segment."""

    def paging_changed(self) -> None:
        """The guest's CR0.PG or CR3 changed."""

    def check_monitor_range(self) -> None:
        """A system table or the page directory may have moved over the monitor: move it."""

    def sync_shadow_tables(self, new_ldt: bool = False) -> None:
        """Keep the shadow GDT/LDT equal to the guest's (``new_ldt``: another LDT loaded)."""

    def write_vcpu_page(self) -> None:
        """Publish CR0, TR, LDTR, GDTR, IDTR for the inline smsw/str/sldt/sgdt/sidt."""

    def revalidate_code_mappings(self, only: int | None = None) -> None:
        """Drop the blocks of linear page ``only`` (all pages: None) now mapped elsewhere."""

    def after_io(self) -> None:
        """A port access may have raised an interrupt or moved a device deadline."""

    def halt(self) -> None:
        """hlt: idle until the next interrupt once this run stops."""


#: a callout handler: True when it sent the guest elsewhere, False to resume after the site
Handler = Callable[[CalloutHost, CalloutSite], bool]
