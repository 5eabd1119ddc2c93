"""What a run of the bare machine leaves: the guest's registers, the outcome, the counters.

A mixin of :class:`runtime.pc.machine.Machine`; the monitor extends
:meth:`Results.guest_registers` and :meth:`Results._result` with its own view.
Runs after the run loop has ended.
"""

from __future__ import annotations

from unicorn import x86_const as X

from runtime.pc.cpustate import SEG_GDT, SEG_IDT, SEG_LDT
from runtime.pc.devices.cga import CgaText
from runtime.pc.paging import PageFault, PhysicalAccessError
from runtime.report import OUTCOMES, Outcome, RunResult


class Results:
    """The end of a run as a :class:`~runtime.report.RunResult`."""

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
            "block_table_evictions": self.counter.evictions,
            "block_runs": self.counter.block_runs(),
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
            "string_io_batches": self.string_io.stats.batches,
            "string_io_batched_elements": self.string_io.stats.elements,
            "port_io": {name: {"reads": c.reads, "writes": c.writes}
                        for name, c in self.bus.counters.items() if c.reads or c.writes},
            **self._platform_stats(),
        }
        if self.stats.sigint_to_stop_us is not None:  # how long Ctrl-C took to stop the CPU
            stats["sigint_to_stop_us"] = self.stats.sigint_to_stop_us
        return RunResult(outcome, status, message, bytes(self.uart.captured), regs, code,
                         (st.block_start, st.block_size), stats, self._screen())

    def _screen(self) -> str:
        """The colour text display's final screen (``bt run --screen``)."""
        cga = next((d for d in self.bus.devices if isinstance(d, CgaText)), None)
        if cga is None or self.ram_size < 1 << 20:
            return ""
        try:
            return cga.screen(self.mem.read_phys)
        except PhysicalAccessError:
            return ""
