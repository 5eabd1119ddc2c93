"""The bare PC: a guest on the emulated CPU, its kernel at real ring 0, no monitor.

This is the reference every virtualized run must equal (the "native run").
Unicorn is the CPU; this module adds what a PC has and unicorn lacks:
exception and interrupt delivery through the guest IDT
(:mod:`runtime.pc.delivery`), the devices on the port bus
(:mod:`runtime.pc.devices`), a clock (real or deterministic), interrupt
injection at block boundaries, ``hlt`` idling, and run limits.

Getting control back (see ``shared/notes/unicorn.md`` for the numbers):
a native block hook counts guest instructions and stops the engine at a
count (the instruction limit, or a deterministic timer deadline: the last
stretch counted per instruction so that interrupts land on exactly the
same instruction every run) or as soon as a block starts with IF=1 while
an interrupt waits; in real-time mode a watchdog thread stops the engine
at the next device deadline. Python therefore runs only for port I/O,
exceptions and interrupts, never per block.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import BinaryIO

from capstone import CS_ARCH_X86, CS_MODE_32, Cs
from unicorn import (
    UC_ARCH_X86,
    UC_ERR_FETCH_PROT,
    UC_ERR_FETCH_UNMAPPED,
    UC_ERR_INSN_INVALID,
    UC_ERR_READ_PROT,
    UC_ERR_READ_UNMAPPED,
    UC_ERR_WRITE_PROT,
    UC_ERR_WRITE_UNMAPPED,
    UC_HOOK_INSN,
    UC_HOOK_INTR,
    UC_MODE_32,
    Uc,
    UcError,
)
from unicorn import x86_const as X

from runtime.pc.clock import Clock, InsnClock, RealClock
from runtime.pc.cpustate import SEG_CS, SEG_GDT, SEG_IDT, SEG_LDT, SEG_TR, CpuState, SegCache
from runtime.pc.delivery import Event, InterruptDelivery, TripleFault, Unsupported
from runtime.pc.devices import standard_pc
from runtime.pc.icount import NO_LIMIT, STOP_ASYNC, STOP_COUNT, STOP_IF, InstructionCounter
from runtime.pc.loader import BootState
from runtime.pc.paging import GuestMemory, PageFault, PhysicalAccessError
from runtime.pc.x86 import ERROR_CODE_VECTORS, IF, IOPL_SHIFT, Descriptor, Vector, vector_name
from runtime.report import OUTCOMES, Outcome, RunResult

MIB = 1 << 20

#: Where the machine puts the boot GDT a multiboot loader leaves behind
#: (inside the EBDA, which the memory map reports as reserved).
BOOT_GDT = 0x9FC00
BOOT_CS, BOOT_DS = 0x08, 0x10

_CS = Cs(CS_ARCH_X86, CS_MODE_32)
_PORT_IO = frozenset({"in", "out"})
_STRING_IO = frozenset({"insb", "insw", "insd", "outsb", "outsw", "outsd"})

#: Exact per-instruction counting starts this many instructions before a
#: deterministic deadline (more than the longest unicorn block).
EXACT_WINDOW = 1024


@dataclass
class MachineConfig:
    mem_mib: int = 128
    deterministic: bool = False
    max_insns: int | None = None
    timeout_s: float | None = None
    console: BinaryIO | None = None
    stdin: BinaryIO | None = None


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


class _Stop(Exception):
    """Raised inside the machine to end the run with an outcome."""

    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


class Machine:
    """A PC with ``mem_mib`` MiB of RAM at physical 0, running one guest."""

    def __init__(self, config: MachineConfig) -> None:
        self.config = config
        self.ram_size = config.mem_mib * MIB
        self.uc = Uc(UC_ARCH_X86, UC_MODE_32)
        self.uc.mem_map(0, self.ram_size)
        self.cpu = CpuState(self.uc)
        self.mem = GuestMemory(self._read_phys, self.uc.mem_write, self.ram_size, self._paging_regs)
        self.delivery = InterruptDelivery(self.uc, self.cpu, self.mem)
        self.counter = InstructionCounter(self.uc, self.read_linear)
        self.clock: Clock = (InsnClock(lambda: self.counter.insns) if config.deterministic
                             else RealClock())
        self.bus, self.pic, self.uart = standard_pc(
            self.clock, config.console, config.stdin, self._on_guest_exit, self.ram_size)
        self.stats = MachineStats()
        self._exit_value: int | None = None
        self._exit_at: tuple[object, int, int] | None = None
        self._io_fault: tuple[object, int] | None = None
        self._insn_clock = isinstance(self.clock, InsnClock)
        self._io_blocks: dict[tuple[int, int], tuple[bytes, list[tuple[int, int, bool]]]] = {}
        self._io_mark = -1
        self._io_rank = 0
        self._io_here: tuple[int, int] | None = None
        self._armed_deadline_ns = NO_LIMIT
        self._pending_stop: _Stop | None = None
        self._hook_error: BaseException | None = None
        self._watchdog = None
        if not config.deterministic:
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

    def _on_intr(self, uc: Uc, intno: int, _data: object) -> None:
        if self._io_fault is not None:
            # an instruction after a denied IN/OUT in the same unicorn block: it never
            # ran on a real processor (the #GP came first); the run is stopping
            uc.emu_stop()
            return
        try:
            self._take_exception(intno)
        except _Stop as stop:
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
            raise _Stop(Outcome.TRIPLE_FAULT, str(tf)) from None
        except Unsupported as exc:
            raise _Stop(Outcome.UNSUPPORTED, str(exc)) from None
        except PhysicalAccessError as exc:
            raise _Stop(Outcome.GUEST_ERROR, f"while delivering {event.describe()}: {exc}") from None

    def _io_allowed(self, port: int, size: int) -> bool:
        """The protected-mode I/O check unicorn skips (SDM vol 1, 19.5): CPL <= IOPL or the TSS bitmap."""
        self.cpu.load()
        cpl = self.cpu.cpl
        iopl = (self.cpu.reg(X.UC_X86_REG_EFLAGS) >> IOPL_SHIFT) & 3
        if cpl <= iopl:
            return True
        tr = self._task_register()
        try:
            if tr.limit < 0x67:
                return False
            base_off = struct.unpack("<H", self.mem.read(tr.base + 0x66, 2))[0]
            byte = base_off + port // 8
            if byte + 1 > tr.limit:
                return False
            bits = struct.unpack("<H", self.mem.read(tr.base + byte, 2))[0] >> (port % 8)
            return bits & ((1 << size) - 1) == 0
        except (PageFault, PhysicalAccessError):
            return False

    def _io_insn(self, port: int) -> tuple[int, int]:
        """(EIP, length) of the IN/OUT whose hook is running.

        Unicorn does not always sync EIP before an I/O hook in a block: it may
        still hold the start of the block, or an older value (measured: ``mov
        eax, [esp+4]; out 0xf4, eax`` reports the mov). With the per-instruction
        hook installed EIP is exact; otherwise the instruction is found by its
        rank: the n-th I/O hook since the block hook ran is the block's n-th
        I/O instruction (a rep ins/outs calls the hook once per element).
        """
        if self._io_here is not None:  # asked again within the same hook call
            return self._io_here
        self._io_here = self._locate_io_insn()
        return self._io_here

    def _locate_io_insn(self) -> tuple[int, int]:
        eip = self.cpu.reg(X.UC_X86_REG_EIP)
        s = self.counter.state
        if self.counter.exact:
            return eip, self._insn_length(eip)
        if s.blocks != self._io_mark:
            self._io_mark, self._io_rank = s.blocks, 0
        self.cpu.load()
        cs_base = self.cpu.seg(SEG_CS).base
        found = self._block_io(s.block_start, s.block_size)
        if self._io_rank < len(found):
            linear, size, repeats = found[self._io_rank]
            if not repeats:
                self._io_rank += 1
            return (linear - cs_base) & 0xFFFFFFFF, size
        return eip, self._insn_length(eip)

    def _block_io(self, start: int, size: int) -> list[tuple[int, int, bool]]:
        """The I/O instructions of the unicorn block at linear ``start`` (cached while its
        bytes stay the same): (linear address, length, repeated string instruction)."""
        try:
            code = self.read_linear(start, size)
        except (PageFault, PhysicalAccessError):
            return []
        cached = self._io_blocks.get((start, size))
        if cached is not None and cached[0] == code:
            return cached[1]
        found = []
        for addr, length, mnemonic, _ in _CS.disasm_lite(code, start):
            if mnemonic in _PORT_IO:
                found.append((addr, length, False))
            elif mnemonic in _STRING_IO or mnemonic.split(" ")[-1] in _STRING_IO:
                found.append((addr, length, mnemonic.startswith("rep")))
        self._io_blocks[(start, size)] = (code, found)
        return found

    def _insn_length(self, eip: int) -> int:
        try:
            return next(_CS.disasm_lite(self._read_code(eip, 15), eip, 1))[1]
        except (PageFault, PhysicalAccessError, StopIteration):
            return 1

    def _clock_to_io(self, port: int) -> int | None:
        """In deterministic mode, let devices see the exact count at the I/O instruction.

        The block hook charges a whole unicorn block when it starts; a device
        access in the middle of it would see time that has not passed yet. For
        the access the count becomes the instructions retired before the I/O
        instruction plus the instruction itself (what the monitor's callouts
        see); returns the block's charge for :meth:`_clock_back`, or None.
        """
        s = self.counter.state
        if not self._insn_clock or self.counter.exact:
            return None
        charged = s.insns
        eip, _ = self._io_insn(port)  # loads the blob
        linear = (eip + self.cpu.seg(SEG_CS).base) & 0xFFFFFFFF  # hooks see linear addresses
        if s.block_start <= linear < s.block_start + s.block_size:
            offs = self.counter.offsets(s.block_start, s.block_size)
            s.insns = charged - s.block_insns + sum(1 for o in offs if s.block_start + o <= linear)
        return charged

    def _clock_back(self, charged: int | None) -> None:
        if charged is not None:
            self.counter.state.insns = charged

    def _task_register(self) -> SegCache:
        """The TR cache the guest believes in (the I/O permission bitmap lives in its TSS)."""
        return self.cpu.seg(SEG_TR)

    def _deny_io(self, port: int) -> None:
        """#GP(0) for a forbidden IN/OUT; delivered once the engine stops (end of the block)."""
        self.stats.io_denied += 1
        eip, _ = self._io_insn(port)
        self._io_fault = (self.uc.context_save(), eip)
        self.uc.emu_stop()

    def _on_in(self, uc: Uc, port: int, size: int, _data: object) -> int:
        if self._io_fault is not None:  # after a denied I/O in this block: see _on_intr
            return 0
        self._io_here = None
        try:
            if not self._io_allowed(port, size):
                self._deny_io(port)
                return 0
            charged = self._clock_to_io(port)
            value = self.bus.read(port, size)
            self._clock_back(charged)
            if self.pic.pending():
                self._request_stop()  # not uc.emu_stop(): see _request_stop
            else:
                self._retarget()
            return value
        except BaseException as exc:  # noqa: BLE001
            self._hook_error = exc
            uc.emu_stop()
            return 0

    def _on_out(self, uc: Uc, port: int, size: int, value: int, _data: object) -> None:
        if self._io_fault is not None:  # after a denied I/O in this block: see _on_intr
            return
        self._io_here = None
        try:
            if not self._io_allowed(port, size):
                self._deny_io(port)
                return
            charged = self._clock_to_io(port)
            self.bus.write(port, size, value)
            self._clock_back(charged)
            if self._exit_value is not None and self._exit_at is None:
                self._exit_at = self._exact_stop_after_io(port)
            if self.pic.pending():
                self._request_stop()  # not uc.emu_stop(): see _request_stop
            else:
                self._retarget()
        except BaseException as exc:  # noqa: BLE001
            self._hook_error = exc
            uc.emu_stop()

    def _exact_stop_after_io(self, port: int) -> tuple[object, int, int]:
        """Where the guest stands right after the OUT that ended it: (context, EIP, count).

        The OUT hook cannot stop the rest of its unicorn block (a unicorn
        defect, see the notes), so the machine keeps the state at the
        instruction and puts it back when the run ends, as the guest (and
        qemu's isa-debug-exit) would have it.
        """
        eip, size = self._io_insn(port)
        s = self.counter.state
        insns = s.insns
        if not self.counter.exact and s.block_start <= eip < s.block_start + s.block_size:
            offs = self.counter.offsets(s.block_start, s.block_size)
            insns = s.insns - s.block_insns + sum(1 for o in offs if s.block_start + o <= eip)
        return self.uc.context_save(), (eip + size) & 0xFFFFFFFF, insns

    def _retarget(self) -> None:
        """A port access may have moved a device deadline earlier (a PIT reprogrammed):
        pull the running engine's stop point forward (the C hook reads it live)."""
        nxt = self.bus.next_event_ns()
        if nxt is None or nxt >= self._armed_deadline_ns:
            return
        self._armed_deadline_ns = nxt
        if isinstance(self.clock, InsnClock):
            target = self.counter.insns + self.clock.insns_until(nxt)
            st = self.counter.state
            st.stop_at = min(st.stop_at, max(self.counter.insns, target - EXACT_WINDOW))
        elif self._watchdog is not None:
            self._watchdog.arm(self._watchdog_deadline(nxt))

    # --- the run loop --------------------------------------------------------------------
    def _now(self) -> int:
        return self.clock.now_ns()

    def _sync_devices(self) -> None:
        self.bus.advance(self._now())

    def _interrupt_ready(self) -> bool:
        if not self.pic.pending():
            return False
        if not self.uc.reg_read(X.UC_X86_REG_EFLAGS) & IF:
            return False
        self.cpu.load()
        return not self.cpu.interrupt_shadow

    def _inject(self) -> None:
        vector = self.pic.acknowledge()
        self.stats.interrupts[vector] = self.stats.interrupts.get(vector, 0) + 1
        eip = self.uc.reg_read(X.UC_X86_REG_EIP)
        self._deliver(Event(vector, eip, None, eip, external=True))

    def _halted_at(self, eip: int) -> bool:
        """True when the instruction just before ``eip`` is hlt (emu_start returned on it)."""
        try:
            return self._read_code(eip - 1, 1) == b"\xf4"
        except (PageFault, PhysicalAccessError):
            return False

    def _idle(self) -> None:
        """hlt: wait for the next interrupt (SDM vol 2, HLT)."""
        self.stats.halts += 1
        while True:
            self._sync_devices()
            if self.pic.pending():
                if not self.uc.reg_read(X.UC_X86_REG_EFLAGS) & IF:
                    raise _Stop(Outcome.HALTED, "hlt with interrupts disabled (an IRQ is pending)")
                return
            nxt = self.bus.next_event_ns()
            if not self.uc.reg_read(X.UC_X86_REG_EFLAGS) & IF or nxt is None:
                raise _Stop(Outcome.HALTED, "hlt with interrupts disabled and nothing pending"
                            if not self.uc.reg_read(X.UC_X86_REG_EFLAGS) & IF
                            else "hlt with no interrupt source armed")
            if isinstance(self.clock, InsnClock):
                self.clock.warp_to(nxt)
                continue
            self._check_wall_limit()
            delay = (nxt - self._now()) / 1e9
            if delay > 0:
                time.sleep(min(delay, 0.01))

    def _check_wall_limit(self) -> None:
        if self.config.timeout_s is not None and time.monotonic() >= self._wall_deadline:
            raise _Stop(Outcome.TIME_LIMIT, f"wall-clock limit of {self.config.timeout_s:g} s")

    def _watchdog_deadline(self, nxt: int | None) -> float | None:
        """Wall-clock time (``time.monotonic()``) of device deadline ``nxt`` or the run's
        wall limit, whichever comes first; None when neither is set."""
        deadlines = []
        if nxt is not None:
            deadlines.append(time.monotonic() + max(0, nxt - self._now()) / 1e9)
        if self.config.timeout_s is not None:
            deadlines.append(self._wall_deadline)
        return min(deadlines) if deadlines else None

    def _arm(self) -> None:
        """Set where the next emu_start must stop: instruction limit, deadline, IF wait."""
        target = self.config.max_insns if self.config.max_insns is not None else NO_LIMIT
        nxt = self.bus.next_event_ns()
        self._armed_deadline_ns = nxt if nxt is not None else NO_LIMIT
        if isinstance(self.clock, InsnClock) and nxt is not None:
            target = min(target, self.counter.insns + self.clock.insns_until(nxt))
        wait_if = self.pic.pending()
        if wait_if and self.uc.reg_read(X.UC_X86_REG_EFLAGS) & IF:
            # IF=1 but held by the sti / mov ss shadow: run exactly one instruction first
            target = min(target, self.counter.insns + 1)
            wait_if = False
        exact = target - self.counter.insns <= EXACT_WINDOW
        self.counter.set_exact(exact)
        if exact:
            self.stats.exact_runs += 1
            self.counter.arm(target, wait_if)
        else:
            self.counter.arm(target - EXACT_WINDOW // 2, wait_if)
        if self._watchdog is not None:
            self._watchdog.arm(self._watchdog_deadline(nxt))
        self.counter.state.async_stop = 0  # after arm(): an old deadline's request is void

    def run(self, state: BootState) -> RunResult:
        """Boot and run the guest to the end; never raises for guest behaviour."""
        self._wall_deadline = time.monotonic() + (self.config.timeout_s or 0)
        self._io_fault = None
        self.boot(state)
        t0 = time.perf_counter()
        try:
            outcome, message = self._loop()
        except _Stop as stop:
            outcome, message = stop.outcome, stop.message
        finally:
            if self._watchdog is not None:
                self._watchdog.close()
        elapsed = time.perf_counter() - t0
        return self._result(outcome, message, elapsed)

    def _loop(self) -> tuple[Outcome, str]:
        uc = self.uc
        limit = self.config.max_insns
        while True:
            self._sync_devices()
            if self._interrupt_ready():
                self._inject()
            self._arm()
            self._scrub_exception_in_flight()
            eip = uc.reg_read(X.UC_X86_REG_EIP)
            self.stats.runs += 1
            try:
                uc.emu_start(eip, 0)
            except UcError as err:
                self._after_error(err)
            eip = uc.reg_read(X.UC_X86_REG_EIP)
            stopped = self.counter.stopped
            self.counter.after_run(self._pc(eip), faulted=False)
            if self._hook_error is not None:
                raise self._hook_error
            if self._pending_stop is not None:
                raise self._pending_stop
            if self._exit_value is not None:
                if self._exit_at is not None:
                    ctx, exit_eip, insns = self._exit_at
                    uc.context_restore(ctx)
                    self.cpu.set_reg(X.UC_X86_REG_EIP, exit_eip)
                    self.counter.insns = insns
                v = self._exit_value
                return Outcome.GUEST_EXIT, f"guest wrote {v:#x} to the exit port"
            if self._io_fault is not None:
                ctx, fault_eip = self._io_fault
                self._io_fault = None
                uc.context_restore(ctx)
                self._deliver(Event(Vector.GP, fault_eip, 0, fault_eip))
                continue
            if limit is not None and self.counter.insns >= limit:
                return Outcome.INSN_LIMIT, f"instruction limit of {limit} reached"
            self._check_wall_limit()
            if stopped & (STOP_COUNT | STOP_IF | STOP_ASYNC) or (self._watchdog and self._watchdog.fired):
                if self._watchdog and self._watchdog.fired:
                    self.stats.watchdog_stops += 1
                continue
            if self._halted_at(eip):
                self._idle()

    def _after_error(self, err: UcError) -> None:
        """emu_start failed: #UD is the guest's to handle, the rest ends the run."""
        eip = self.uc.reg_read(X.UC_X86_REG_EIP)
        if err.errno == UC_ERR_INSN_INVALID:
            self.counter.after_run(self._pc(eip), faulted=True)
            self.stats.exceptions["#UD"] = self.stats.exceptions.get("#UD", 0) + 1
            self._deliver(Event(Vector.UD, eip, None, eip))
            return
        what = {
            UC_ERR_READ_UNMAPPED: "read of memory outside guest RAM",
            UC_ERR_WRITE_UNMAPPED: "write to memory outside guest RAM",
            UC_ERR_FETCH_UNMAPPED: "fetch from memory outside guest RAM",
            UC_ERR_READ_PROT: "read denied",
            UC_ERR_WRITE_PROT: "write denied",
            UC_ERR_FETCH_PROT: "fetch denied",
        }.get(err.errno, f"CPU error: {err}")
        raise _Stop(Outcome.GUEST_ERROR, what)

    # --- results -------------------------------------------------------------------------------
    def guest_registers(self) -> dict[str, int]:
        """The guest-visible registers at the end of the run."""
        r = self.uc.reg_read
        names = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eflags",
                 "cs", "ss", "ds", "es", "fs", "gs", "cr0", "cr2", "cr3", "cr4")
        regs = {n: r(getattr(X, f"UC_X86_REG_{n.upper()}")) for n in names}
        self.cpu.load()
        regs["cpl"] = self.cpu.cpl
        self._table_registers(regs)
        return regs

    def _table_registers(self, regs: dict[str, int]) -> None:
        cpu = self.cpu
        gdt, idt = cpu.seg(SEG_GDT), cpu.seg(SEG_IDT)
        regs.update(gdtr_base=gdt.base, gdtr_limit=gdt.limit, idtr_base=idt.base,
                    idtr_limit=idt.limit, ldtr=cpu.seg(SEG_LDT).selector,
                    tr=self._task_register().selector)

    def ram_digest(self) -> str:
        """SHA-256 of guest RAM (for equivalence checks between runs)."""
        import hashlib

        h = hashlib.sha256()
        chunk = 16 << 20
        for start in range(0, self.ram_size, chunk):
            h.update(self.uc.mem_read(start, min(chunk, self.ram_size - start)))
        return h.hexdigest()

    def _result(self, outcome: Outcome, message: str, elapsed: float) -> RunResult:
        if outcome is Outcome.GUEST_EXIT:
            assert self._exit_value is not None
            status = ((self._exit_value << 1) | 1) & 0xFF
        else:
            status = OUTCOMES[outcome][0]
        regs = self.guest_registers()
        try:
            code = self._read_code(regs["eip"], 16)
        except (PageFault, PhysicalAccessError):
            code = b""
        st = self.counter.state
        stats = {
            "instructions": self.counter.insns,
            "blocks": self.counter.blocks,
            "block_table_misses": self.counter.misses,
            "seconds": round(elapsed, 6),
            "mips": round(self.counter.insns / elapsed / 1e6, 2) if elapsed > 0 else 0.0,
            "emu_starts": self.stats.runs,
            "exact_runs": self.stats.exact_runs,
            "exact_tb_flushes": self.counter.tb_flushes,
            "stale_exceptions_cleared": self.stats.stale_exceptions_cleared,
            "watchdog_stops": self.stats.watchdog_stops,
            "halts": self.stats.halts,
            "virtual_ns": self.clock.now_ns(),
            "exceptions": dict(self.stats.exceptions),
            "interrupts": {f"{k:#x}": v for k, v in sorted(self.stats.interrupts.items())},
            "software_interrupts": {f"{k:#x}": v for k, v in sorted(self.stats.software_ints.items())},
            "double_faults": self.delivery.double_faults,
            "io_denied": self.stats.io_denied,
            "port_io": {name: {"reads": c.reads, "writes": c.writes}
                        for name, c in self.bus.counters.items() if c.reads or c.writes},
        }
        return RunResult(outcome, status, message, bytes(self.uart.captured), regs, code,
                         (st.block_start, st.block_size), stats)

