"""``btvmm.Guest``: one guest on the bare machine or under the monitor, run in steps, seen
as the guest sees itself, with hooks on what the hypervisor does.

Runs are deterministic (time is guest instructions), so that ``run(max_insns=N)`` stops at
exactly instruction N and the next ``run`` goes on from there. Registers and memory are
the guest's view (:class:`runtime.debug.target.Target`: guest EIP recovered from the
translation, the virtual CPU's CS, EFLAGS, CR0-CR4; memory through the guest's page
tables). Hooks wrap the one machine instance's methods (as the trace log does): a guest
without hooks runs the same code as ``bt run``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from unicorn import UC_HOOK_BLOCK

from runtime.debug.target import Target
from runtime.report import Outcome, RunResult
from runtime.session import RunOptions, prepare


class Guest:
    """A guest kernel image (ELF, multiboot or flat binary) ready to run."""

    def __init__(self, path: str, monitor: bool = True, mem_mib: int = 128,
                 cmdline: str | None = None, console: Any = None, **options: Any) -> None:
        opts = RunOptions(native=not monitor, mem_mib=mem_mib, deterministic=True,
                          cmdline=cmdline, console=console, **options)
        self.machine, self._state = prepare(path, opts)
        self.target = Target(self.machine)
        self.result: RunResult | None = None
        self._booted = False

    # --- running ----------------------------------------------------------------------
    @property
    def insns(self) -> int:
        """Guest instructions retired so far."""
        return self.machine.counter.insns

    @property
    def finished(self) -> bool:
        return self.result is not None and self.result.outcome is not Outcome.INSN_LIMIT

    def run(self, max_insns: int | None = None) -> RunResult:
        """Run until guest instruction ``max_insns`` (a total, not a count from here) or the
        end of the run; returns the result so far (``outcome`` INSN_LIMIT when stopped)."""
        if self.finished:
            assert self.result is not None
            return self.result
        self.machine.config.max_insns = max_insns
        if not self._booted:
            self._booted = True
            self.result = self.machine.run(self._state)
        else:
            self.result = self.machine.resume()
        return self.result

    def step(self) -> RunResult:
        """Run one guest instruction."""
        return self.run(self.insns + 1)

    # --- the guest's view ----------------------------------------------------------------
    @property
    def registers(self) -> dict[str, int]:
        """eax..edi, eip, eflags, cs..gs, cr0..cr4 as the guest sees them."""
        return self.target.registers()

    @property
    def eip(self) -> int:
        return self.target.eip()

    def read(self, linear: int, size: int) -> bytes:
        """Guest memory at a linear address, through the guest's page tables."""
        return self.target.read(linear, size)

    def write(self, linear: int, data: bytes) -> None:
        """Write guest memory (translations of the page are dropped under the monitor)."""
        self.target.write(linear, data)

    @property
    def output(self) -> bytes:
        """What the guest wrote to its serial console so far."""
        return bytes(self.machine.uart.captured)

    @property
    def stats(self) -> dict[str, object]:
        """The counters ``bt run --stats`` shows (as of the last run)."""
        return dict(self.result.stats) if self.result is not None else {}

    # --- hooks ---------------------------------------------------------------------------
    def _wrap(self, obj: object, name: str, before: Callable[..., None] | None = None,
              after: Callable[..., None] | None = None) -> None:
        inner = getattr(obj, name)

        @functools.wraps(inner)
        def hooked(*args: Any, **kwargs: Any) -> Any:
            if before is not None:
                before(*args)
            result = inner(*args, **kwargs)
            if after is not None:
                after(result, *args)
            return result

        setattr(obj, name, hooked)

    def _monitor_only(self, what: str) -> None:
        if not self.target.monitor:
            raise ValueError(f"{what}: the bare machine translates nothing (Guest(monitor=True))")

    def on_translate(self, fn: Callable[[Any], None]) -> None:
        """``fn(block)`` for each translation made (:class:`bt.cache.Block`: guest_eip,
        guest_end, annotations with each instruction's rule and handling)."""
        self._monitor_only("on_translate")
        self._wrap(self.machine.tc, "translate", after=lambda b, *_: fn(b))  # type: ignore[attr-defined]

    def on_callout(self, fn: Callable[[str, str | None], None]) -> None:
        """``fn(rule, insn_text)`` for each callout (insn_text None for a check in front)."""
        self._monitor_only("on_callout")
        self._wrap(self.machine, "_run_handler", before=lambda _b, co: fn(
            co.handler, co.ginsn.text if co.ginsn is not None else None))

    def on_exception(self, fn: Callable[[int, dict[str, int | None]], None]) -> None:
        """``fn(vector, frame)`` for each exception or interrupt delivered to the guest;
        ``frame``: eip (return address), error_code, software, external."""
        self._wrap(self.machine.delivery, "deliver", before=lambda ev: fn(ev.vector, {
            "eip": ev.eip, "error_code": ev.error_code, "software": int(ev.software),
            "external": int(ev.external)}))

    def on_io(self, fn: Callable[[int, int, bool], None]) -> None:
        """``fn(port, value, is_write)`` for each port access."""
        bus = self.machine.bus
        self._wrap(bus, "read", after=lambda v, port, _size: fn(port, v, False))
        self._wrap(bus, "write", before=lambda port, _size, value: fn(port, value, True))

    def on_block(self, fn: Callable[[int], None], every: int = 1) -> None:
        """``fn(guest_eip)`` at every ``every``-th block run (a Python block hook: it slows
        the run; sample with ``every``)."""
        m = self.machine
        count = [0]

        def hook(_uc: object, address: int, _size: int, _data: object) -> None:
            count[0] += 1
            if count[0] % every:
                return
            if self.target.monitor and m.space.contains(address):  # type: ignore[attr-defined]
                b = m.tc.block_at(address)  # type: ignore[attr-defined]
                e = b.entry_at(address) if b is not None else None
                if e is None:
                    return
                address = e.guest_eip
            fn(address)

        m.uc.hook_add(UC_HOOK_BLOCK, hook)
