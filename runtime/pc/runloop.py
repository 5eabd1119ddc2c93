"""The bare machine's run loop: where each ``emu_start`` must stop, and why a run ends.

Getting control back (see ``shared/notes/unicorn.md`` for the numbers):
a native block hook counts guest instructions and stops the engine at a
count (the instruction limit, or a deterministic timer deadline: the last
stretch counted per instruction so that interrupts land on exactly the
same instruction every run) or as soon as a block starts with IF=1 while
an interrupt waits; in real-time mode a watchdog thread stops the engine
at the next device deadline. Python therefore runs only for port I/O,
exceptions and interrupts, never per block. A run ends with an
:class:`~runtime.report.Outcome`: a hook or a helper raises :class:`StopRun`.

A mixin of :class:`runtime.pc.machine.Machine` (and so of the monitor, which
overrides the injection and hlt steps); runs between ``emu_start`` calls.
"""

from __future__ import annotations

import time

from unicorn import (
    UC_ERR_FETCH_PROT,
    UC_ERR_FETCH_UNMAPPED,
    UC_ERR_INSN_INVALID,
    UC_ERR_READ_PROT,
    UC_ERR_READ_UNMAPPED,
    UC_ERR_WRITE_PROT,
    UC_ERR_WRITE_UNMAPPED,
    UcError,
)
from unicorn import x86_const as X

from runtime.pc.clock import InsnClock
from runtime.pc.delivery import Event
from runtime.pc.icount import NO_LIMIT, STOP_ASYNC, STOP_COUNT, STOP_IF
from runtime.pc.loader import BootState
from runtime.pc.paging import PageFault, PhysicalAccessError
from runtime.pc.x86 import IF, Vector
from runtime.report import OUTCOMES, Outcome, RunResult

#: Exact per-instruction counting starts this many instructions before a
#: deterministic deadline (more than the longest unicorn block).
EXACT_WINDOW = 1024




class StopRun(Exception):
    """Raised inside the machine to end the run with an outcome."""

    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


class RunLoop:
    """The loop around ``emu_start``: arm, run, act on why it stopped, idle on hlt."""

    def _now(self) -> int:
        return self.clock.now_ns()

    def _sync_devices(self) -> None:
        self.bus.advance(self._now())

    def _interrupt_ready(self) -> bool:
        if not self.pic.pending() or self._debug_stop_at - self.counter.insns == 1:
            # a debugger's single step masks interrupts, as QEMU's gdb stub does
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
            if self._quit_requested:
                raise StopRun(Outcome.QUIT, "quit at the console (Ctrl-A x)")
            if self.debugger is not None and self.counter.state.async_stop:
                self.counter.state.async_stop = 0  # gdb's Ctrl-C while the guest idles
                self.debugger.stop_point()
            self._sync_devices()
            if self.pic.pending():
                if not self.uc.reg_read(X.UC_X86_REG_EFLAGS) & IF:
                    raise StopRun(Outcome.HALTED, "hlt with interrupts disabled (an IRQ is pending)")
                return
            nxt = self.bus.next_event_ns()
            if nxt is None and self.uart.input_live() and self.uc.reg_read(X.UC_X86_REG_EFLAGS) & IF:
                self._check_wall_limit()  # waiting for a keystroke or the pipe
                self.uart.input_event.wait(0.05)
                self.uart.input_event.clear()
                continue
            if not self.uc.reg_read(X.UC_X86_REG_EFLAGS) & IF or nxt is None:
                raise StopRun(Outcome.HALTED, "hlt with interrupts disabled and nothing pending"
                            if not self.uc.reg_read(X.UC_X86_REG_EFLAGS) & IF
                            else "hlt with no interrupt source armed")
            self._check_interrupted()
            self._check_wall_limit()  # also when time warps: a masked timer warps forever
            if isinstance(self.clock, InsnClock):
                self.clock.warp_to(nxt)
                continue
            delay = (nxt - self._now()) / 1e9
            if delay > 0:
                time.sleep(min(delay, 0.01))

    def _check_interrupted(self) -> None:
        """A Ctrl-C (Machine.interrupt) ends the run, with how long the stop took."""
        if self._interrupted:
            self.stats.sigint_to_stop_us = round((time.monotonic() - self._interrupted_at) * 1e6)
            raise StopRun(Outcome.INTERRUPTED, "interrupted by Ctrl-C (SIGINT)")

    def _check_wall_limit(self) -> None:
        if self.config.timeout_s is not None and time.monotonic() >= self._wall_deadline:
            raise StopRun(Outcome.TIME_LIMIT, f"wall-clock limit of {self.config.timeout_s:g} s")

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
        input_seq = self.uart.input_seq
        target = min(target, self._debug_stop_at)
        nxt = self.bus.next_event_ns()
        self._armed_deadline_ns = nxt if nxt is not None else NO_LIMIT
        if isinstance(self.clock, InsnClock) and nxt is not None:
            target = min(target, self.counter.insns + self.clock.insns_until(nxt))
        wait_if = self.pic.pending()
        if wait_if and self.uc.reg_read(X.UC_X86_REG_EFLAGS) & IF:
            # IF=1 but held by the sti / mov ss shadow: run exactly one instruction first
            target = min(target, self.counter.insns + 1)
            wait_if = False
        exact = target - self.counter.insns <= EXACT_WINDOW or self._debug_exact
        self.counter.set_exact(exact)
        if exact:
            self.stats.exact_runs += 1
            self.counter.arm(target, wait_if)
        else:
            self.counter.arm(target - EXACT_WINDOW // 2, wait_if)
        if self._watchdog is not None and not self._insn_clock:
            self._watchdog.arm(self._watchdog_deadline(nxt))
        elif self._watchdog is not None and not self._wall_armed:
            # deterministic time: only the wall limit, armed once (no wake-up per emu_start);
            # when it fires the run ends, so no acknowledgement is needed
            self._wall_armed = True
            self._watchdog.arm(self._wall_deadline)
        # after arm(): an old deadline's request is void; a quit, input that came after the
        # deadlines were read, or a Ctrl-C that stands (see Machine.interrupt) is not
        self.counter.state.async_stop = int(self._quit_requested or self._interrupted
                                            or self.uart.input_seq != input_seq)

    def run(self, state: BootState) -> RunResult:
        """Boot and run the guest to the end; never raises for guest behaviour.

        An unexpected exception (a bug of btvmm) ends the run as Outcome.INTERNAL with a
        crash report (:func:`runtime.endings.crash_report`); a Ctrl-C while
        :mod:`runtime.sigint` is handling it ends it as Outcome.INTERRUPTED."""

        self._wall_deadline = time.monotonic() + (self.config.timeout_s or 0)
        self._io_fault = None
        return self.resume(state)

    def resume(self, state: BootState | None = None) -> RunResult:
        """Run on from where the last run stopped (booting first with ``state``): the
        Python API raises ``config.max_insns`` and calls this again; deterministic runs
        only, as the real-time watchdog is closed at the end of a run."""
        from runtime import sigint

        t0 = time.perf_counter()
        with sigint.target(self.interrupt):
            try:
                if state is not None:
                    self.boot(state)
                outcome, message = self._loop()
            except StopRun as stop:
                outcome, message = stop.outcome, stop.message
            except Exception as exc:  # noqa: BLE001 - a bug of btvmm: reported, not raised
                outcome, message = Outcome.INTERNAL, self._crash(exc)
            finally:
                if self._watchdog is not None:
                    self._watchdog.close()
        if self.debugger is not None:
            self.debugger.finished(self._exit_value)
        elapsed = time.perf_counter() - t0
        try:
            return self._result(outcome, message, elapsed)
        except Exception as exc:  # noqa: BLE001 - the state cannot be read back: say so
            status = OUTCOMES[outcome][0]
            if outcome is Outcome.GUEST_EXIT and self._exit_value is not None:
                status = ((self._exit_value << 1) | 1) & 0xFF
            return RunResult(outcome, status, f"{message}; the final state could not be read: "
                                              f"{self._crash(exc)}", bytes(self.uart.captured))

    def _crash(self, exc: BaseException) -> str:
        """A crash report for an internal error; the one-line message naming it."""
        from runtime.endings import crash_report, summary

        try:
            context = f"unicorn EIP {self.uc.reg_read(X.UC_X86_REG_EIP):#010x}"
        except Exception:  # noqa: BLE001
            context = ""
        path = crash_report(exc, context)
        where = f"crash report: {path}" if path else "no crash report could be written"
        return f"internal error: {summary(exc)} ({where})"

    def _loop(self) -> tuple[Outcome, str]:
        uc = self.uc
        limit = self.config.max_insns
        while True:
            if self.debugger is not None:
                self.debugger.stop_point()
            self._sync_devices()
            if self._interrupt_ready():
                self._inject()
            self._arm()
            self._scrub_exception_in_flight()
            if self.msr_sites is not None and self.msr_sites.stale:
                self.msr_sites.flush_stale()  # blocks retranslated with their rdmsr/wrmsr hooks
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
            if self._exit_value is None:
                self._check_interrupted()
            if self._reset_requested:
                return Outcome.RESET, "the guest reset the machine"
            if self._quit_requested:
                return Outcome.QUIT, "quit at the console (Ctrl-A x)"
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
                # the block was charged in full at its start: only what came before the
                # denied instruction retired (the rest of the block never ran on a processor)
                self.counter.after_run(self._pc(fault_eip), faulted=True)
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
        raise StopRun(Outcome.GUEST_ERROR, what)
