"""The bare PC: a guest on the emulated CPU, its kernel at real ring 0, no monitor.

This is the reference every virtualized run must equal (the "native run").
Unicorn is the CPU; this module adds what a PC has and unicorn lacks:
exception and interrupt delivery through the guest IDT
(:mod:`runtime.pc.delivery`), the devices on the port bus
(:mod:`runtime.pc.devices`), a clock (real or deterministic), interrupt
injection at block boundaries, ``hlt`` idling, and run limits.

:class:`Machine` builds the PC (RAM, CPU, clock, devices, hooks), boots the
guest as a multiboot loader leaves it and takes the exceptions unicorn
reports; each other concern is a mixin of its own module:

* :mod:`runtime.pc.runloop`: the run loop, its stop points and the ways a run ends;
* :mod:`runtime.pc.portio`: the IN/OUT hooks, the I/O permission check, the
  clock seen by a device in the middle of a block;
* :mod:`runtime.pc.results`: what a run leaves (registers, outcome, counters).
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import BinaryIO

from unicorn import UC_ARCH_X86, UC_HOOK_INSN, UC_HOOK_INTR, UC_MODE_32, Uc, UcError
from unicorn import x86_const as X

from runtime.pc.clock import Clock, InsnClock, RealClock
from runtime.pc.cpustate import SEG_CS, CpuState, SegCache
from runtime.pc.delivery import Event, InterruptDelivery, TripleFault, Unsupported
from runtime.pc.devices.disk import open_disks
from runtime.pc.icount import NO_LIMIT, InstructionCounter
from runtime.pc.loader import BootState
from runtime.pc.paging import GuestMemory, PhysicalAccessError
from runtime.pc.platform import PlatformWiring
from runtime.pc.portio import PortIO
from runtime.pc.results import Results
from runtime.pc.runloop import RunLoop, StopRun
from runtime.pc.stringio import StringIo
from runtime.pc.x86 import ERROR_CODE_VECTORS, SEG_DB, Descriptor, Vector, vector_name
from runtime.report import Outcome

MIB = 1 << 20

#: Where the machine puts the boot GDT a multiboot loader leaves behind
#: (inside the EBDA, which the memory map reports as reserved, past the fields
#: SeaBIOS uses: :mod:`runtime.pc.firmware`).
BOOT_GDT = 0x9FF00
BOOT_CS, BOOT_DS = 0x08, 0x10


@dataclass
class MachineConfig:
    mem_mib: int = 128
    deterministic: bool = False
    max_insns: int | None = None
    timeout_s: float | None = None
    console: BinaryIO | None = None
    stdin: BinaryIO | None = None
    #: the kernel command line fw_cfg reports (the loader writes the multiboot one)
    cmdline: str = ""
    #: IDE position (0-3: primary master/slave, secondary master/slave) -> raw image file
    disks: dict[int, str] = field(default_factory=dict)
    #: write guest disk writes through to the image files (else a copy-on-write overlay)
    disk_write: bool = False


@dataclass
class MachineStats:
    """Counters of the bare machine (``bt run --stats``)."""

    runs: int = 0
    exceptions: dict[str, int] = field(default_factory=dict)
    interrupts: dict[int, int] = field(default_factory=dict)
    software_ints: dict[int, int] = field(default_factory=dict)
    double_faults: int = 0
    halts: int = 0
    io_denied: int = 0
    watchdog_stops: int = 0
    exact_runs: int = 0
    stale_exceptions_cleared: int = 0
    sigint_to_stop_us: int | None = None


class GuestMemoryUnavailable(Exception):
    """The host cannot give the guest the RAM asked for (unicorn's UC_ERR_NOMEM)."""

    def __init__(self, mem_mib: int, reason: str) -> None:
        super().__init__(f"cannot allocate {mem_mib} MiB of guest RAM (--mem): {reason}")


class Machine(RunLoop, PortIO, Results, PlatformWiring):
    """A PC with ``mem_mib`` MiB of RAM at physical 0, running one guest."""

    def __init__(self, config: MachineConfig) -> None:
        self.config = config
        self.ram_size = config.mem_mib * MIB
        self.uc = Uc(UC_ARCH_X86, UC_MODE_32)
        # No address ends a run: with exits enabled and none set, unicorn ignores emu_start's
        # ``until`` (uc.c: uc_addr_is_exit looks in the empty exits tree), so code at linear 0
        # runs as anywhere else (``until=0`` made it stop there at once, forever), and no exit
        # block is invalidated after each run (an unreachable ``until`` such as 1 << 32 makes
        # cpus.c invalidate the TB at until-1 = 0xffffffff: a page walk that sets CR2).
        self.uc.ctl_exits_enabled(True)
        try:
            self.uc.mem_map(0, self.ram_size)
        except UcError as err:
            raise GuestMemoryUnavailable(config.mem_mib, str(err)) from None
        self.cpu = CpuState(self.uc)
        self.mem = GuestMemory(self._read_phys, self.uc.mem_write, self.ram_size, self._paging_regs)
        self.delivery = InterruptDelivery(self.uc, self.cpu, self.mem)
        self.counter = InstructionCounter(self.uc, self.read_linear)
        self.counter.code16 = self._code16
        self.clock: Clock = (InsnClock(lambda: self.counter.insns) if config.deterministic
                             else RealClock())
        self.disks = open_disks(config.disks, config.disk_write)  # DiskError: bad image
        self._wire_platform(config)  # bus, uart, pic (the CPU's INTR input), lapic, mmio, msrs
        self._reset_requested = False
        self._quit_requested = False
        self.uart.on_input = self._request_stop
        self.string_io = StringIo(self.uc, self.cpu, self.mem, self.bus, self._read_code)
        self.stats = MachineStats()
        self._exit_value: int | None = None
        self._exit_at: tuple[object, int, int] | None = None
        self._io_fault: tuple[object, int] | None = None
        self._insn_clock = isinstance(self.clock, InsnClock)
        self._io_blocks: dict[tuple[int, int, bool], tuple[bytes, list[tuple[int, int, bool]]]] = {}
        self._io_mark = -1
        self._io_rank = 0
        self._io_here: tuple[int, int] | None = None
        self._armed_deadline_ns = NO_LIMIT
        self._pending_stop: StopRun | None = None
        self._hook_error: BaseException | None = None
        self._interrupted = False
        self._interrupted_at = 0.0
        self._wall_armed = False  # deterministic time: the watchdog holds the wall limit
        self._watchdog = None
        #: an attached debugger (runtime.debug.gdbstub.GdbStub): called at every stop point
        self.debugger = None
        #: the debugger's single step: stop once the instruction clock reaches this
        self._debug_stop_at = NO_LIMIT
        #: the debugger's watchpoints: count (and so stop) per instruction
        self._debug_exact = False
        if not config.deterministic or config.timeout_s is not None:
            # deterministic time needs no watchdog for the devices, but a --timeout must end
            # a run even inside one long emu_start (the watchdog then arms the wall limit only)
            from runtime.pc.watchdog import Watchdog

            self._watchdog = Watchdog(self._request_stop)
        self.uc.hook_add(UC_HOOK_INTR, self._on_intr)
        self.uc.hook_add(UC_HOOK_INSN, self._on_in, None, 1, 0, X.UC_X86_INS_IN)
        self.uc.hook_add(UC_HOOK_INSN, self._on_out, None, 1, 0, X.UC_X86_INS_OUT)

    def _pc(self, eip: int) -> int:
        """The linear address of ``eip`` (unicorn's hooks and the clock's blocks use these)."""
        self.cpu.load()
        return (self.cpu.seg(SEG_CS).base + eip) & 0xFFFFFFFF

    def _scrub_exception_in_flight(self) -> None:
        """Unicorn can leave an exception "in flight" without any hook seeing it (measured: a
        ctl_remove_cache or TLB operation that walks an unmapped address records a #PF);
        the next two faults would then turn into #DF and a silent triple fault. No
        exception is in flight between instructions: clear it before every run."""
        cpu = self.cpu
        cpu.load()
        if cpu.exception_in_flight:
            cpu.clear_exception_in_flight()
            cpu.store()
            self.stats.stale_exceptions_cleared += 1

    def interrupt(self) -> None:
        """Ctrl-C: end the run at the next block start with Outcome.INTERRUPTED (from any
        thread; :mod:`runtime.sigint` calls it). The flag is raised before the stop request,
        and ``_arm`` re-raises the request after clearing it, so none is lost."""
        self._interrupted_at = time.monotonic()
        self._interrupted = True
        self._request_stop()

    def _request_stop(self) -> None:
        """Stop at the next block start, through the native block hook.

        From the watchdog thread, and from I/O hooks: ``uc.emu_stop()`` there
        lets unicorn end the block without restoring its EIP, so the guest
        would re-run instructions (measured: an OUT after a PIC unmask ran
        twice); a stop requested at a block start leaves EIP exact.
        """
        self.counter.state.async_stop = 1

    # --- memory helpers ------------------------------------------------------------
    def _read_phys(self, paddr: int, n: int) -> bytes:
        return bytes(self.uc.mem_read(paddr, n))

    def _paging_regs(self) -> tuple[int, int, int]:
        """CR0, CR3, CR4 from the context blob: callers ``cpu.load()`` first (one copy, not
        three ``reg_read`` calls per walk)."""
        cpu = self.cpu
        return cpu.cr(0), cpu.cr(3), cpu.cr(4)

    def _read_code(self, eip: int, size: int) -> bytes:
        """Code bytes at a guest EIP (CS base added, through the guest's page tables)."""
        self.cpu.load()
        base = self.cpu.seg(SEG_CS).base
        return self.mem.read((base + eip) & 0xFFFFFFFF, size)

    def _code16(self) -> bool:
        """The running code segment is 16-bit (D clear, SDM vol 3A 3.4.5): the decoders of
        the I/O lookup and the instruction clock decode its code as 16-bit."""
        self.cpu.load()
        return not self.cpu.seg(SEG_CS).flags & SEG_DB

    def read_linear(self, linear: int, n: int) -> bytes:
        """Guest linear memory through the guest's page tables, as a supervisor access."""
        self.cpu.load()
        return self.mem.read(linear, n)

    # --- boot ------------------------------------------------------------------------
    def boot(self, state: BootState) -> None:
        """Put the CPU in the state a multiboot loader leaves (Multiboot 0.6.96, 3.2).

        32-bit protected mode, paging off, flat 4 GiB CS/DS/ES/FS/GS/SS, IF=0,
        EAX = magic, EBX = the info block. The GDTR points at a small boot
        GDT in the reserved EBDA; the guest is expected to load its own.
        """
        null = b"\0" * 8
        code = struct.pack("<II", 0x0000FFFF, 0x00CF9B00)
        data = struct.pack("<II", 0x0000FFFF, 0x00CF9300)
        gdt = null + code + data
        self._write_firmware(state)
        self.uc.mem_write(BOOT_GDT, gdt)
        self.uc.reg_write(X.UC_X86_REG_GDTR, (0, BOOT_GDT, len(gdt) - 1, 0))
        self.uc.reg_write(X.UC_X86_REG_IDTR, (0, 0, 0x3FF, 0))
        # unicorn resets CR4 to 0x50200 (OSFXSR, FSGSBASE, OSXSAVE); a PC (and qemu) to 0
        self.uc.reg_write(X.UC_X86_REG_CR4, 0)
        cs = Descriptor.from_bytes(code)
        ds = Descriptor.from_bytes(data)
        for reg in (X.UC_X86_REG_DS, X.UC_X86_REG_ES, X.UC_X86_REG_FS, X.UC_X86_REG_GS):
            self.uc.reg_write(reg, BOOT_DS)
        self.cpu.load()
        self.cpu.load_code_and_stack(SegCache.from_descriptor(BOOT_CS, cs),
                                     SegCache.from_descriptor(BOOT_DS, ds), 0)
        self.cpu.store()
        self.uc.reg_write(X.UC_X86_REG_EFLAGS, 0x2)
        self.uc.reg_write(X.UC_X86_REG_EAX, state.eax)
        self.uc.reg_write(X.UC_X86_REG_EBX, state.ebx)
        self.uc.reg_write(X.UC_X86_REG_ESP, 0x7000)
        self.uc.reg_write(X.UC_X86_REG_EIP, state.entry)

    # --- hooks (run inside emu_start: never raise into C) -------------------------------
    def _on_guest_exit(self, value: int) -> None:
        self._exit_value = value
        self.uc.emu_stop()

    def request_quit(self) -> None:
        """End the run at the next block start (the console's Ctrl-A x; any thread)."""
        self._quit_requested = True
        self._request_stop()

    def _on_reset(self) -> None:
        """The guest reset the system (port 0x92, the 8042): the run ends, as qemu -no-reboot."""
        self._reset_requested = True
        self.uc.emu_stop()

    def _on_intr(self, uc: Uc, intno: int, _data: object) -> None:
        if self._io_fault is not None:
            # an instruction after a denied IN/OUT in the same unicorn block: it never
            # ran on a real processor (the #GP came first); the run is stopping
            uc.emu_stop()
            return
        try:
            self._take_exception(intno)
        except StopRun as stop:
            self._pending_stop = stop
            uc.emu_stop()
        except BaseException as exc:  # noqa: BLE001 - stored and re-raised after emu_start
            self._hook_error = exc
            uc.emu_stop()

    def _stale_double_fault(self) -> bool:
        """A #DF from unicorn is never the guest's: delivery (where a real #DF arises) is the
        machine's own. It means an exception was left in flight (see
        _scrub_exception_in_flight): clear it and let the instruction fault again as itself.
        The blob is loaded."""
        if self.cpu.exception_is_int:
            return False  # int 8
        self.cpu.clear_exception_in_flight()
        self.cpu.store()
        self.stats.stale_exceptions_cleared += 1
        return True

    def _take_exception(self, vector: int) -> None:
        """A fault, trap or int n reported by unicorn: deliver it through the guest IDT."""
        eip = self.cpu.reg(X.UC_X86_REG_EIP)
        self.cpu.load()
        if vector == Vector.DF and self._stale_double_fault():
            return
        software = self.cpu.exception_is_int
        self.counter.after_run(self._pc(eip), faulted=True, software_int=software)
        if software:
            length = 1 if vector in (Vector.BP, Vector.OF) else 2
            self.stats.software_ints[vector] = self.stats.software_ints.get(vector, 0) + 1
            event = Event(vector, eip, None, eip - length, software=True)
        else:
            err = self.cpu.error_code if vector in ERROR_CODE_VECTORS else None
            name = vector_name(vector)
            self.stats.exceptions[name] = self.stats.exceptions.get(name, 0) + 1
            event = Event(vector, eip, err, eip)
        self._deliver(event)

    def _deliver(self, event: Event) -> None:
        try:
            self.delivery.deliver(event)
        except TripleFault as tf:
            raise StopRun(Outcome.TRIPLE_FAULT, str(tf)) from None
        except Unsupported as exc:
            raise StopRun(Outcome.UNSUPPORTED, str(exc)) from None
        except PhysicalAccessError as exc:
            raise StopRun(Outcome.GUEST_ERROR, f"while delivering {event.describe()}: {exc}") from None
