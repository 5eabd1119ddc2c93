"""The local APIC (xAPIC, memory-mapped at 0xFEE00000) of the PC's one processor.

Intel SDM vol. 3A chapter 10 is the contract; QEMU's ``hw/intc/apic.c`` the
reference for what a PC's BSP looks like at power-on (version 0x14, six LVT
entries: max LVT 5; IA32_APIC_BASE = 0xFEE00900, global enable and BSP;
SVR = 0xFF, software disabled; LINT0 = ExtINT unmasked, the virtual wire the
8259A pair reaches the processor through; every other LVT masked).

What is modelled:

* registers (10.4-10.6): ID, version, TPR, APR (reads 0), PPR, EOI, LDR, DFR,
  SVR, ISR/TMR/IRR (8 x 32 bits each), ESR (write, then read: the errors
  latched since the previous write), ICR low/high, the six LVT entries, the
  timer's initial and current count and divide configuration;
* interrupt acceptance (10.8): a vector is latched in IRR (and TMR when
  level-triggered); it is delivered when its priority class (vector[7:4])
  is above the processor priority (PPR = TPR, or the class of the highest
  vector in service when that is higher, 10.8.3.1); the INTA cycle moves it
  to ISR; EOI clears the highest ISR bit (and tells the I/O APIC when TMR
  was set). Vectors 0-15 are illegal: "received illegal vector" in ESR;
* ICR (10.6): fixed delivery to itself by shorthand "self", "all including
  self" or a physical/logical destination matching it; INIT, STARTUP and
  anything aimed elsewhere reach no processor (there is only one) and are
  dropped; delivery status always reads idle (delivery is immediate);
* the LVT timer (10.5.4): one-shot and periodic, counting at
  :data:`APIC_HZ` divided by the divide configuration, on the machine's
  virtual clock (so deterministic under ``--deterministic``). TSC-deadline
  mode is not offered (CPUID does not advertise it).

Not modelled: LINT1/NMI, thermal and performance sources (their LVT entries
are plain registers), logical destination clusters beyond the flat model,
APR arbitration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from runtime.pc.clock import Clock
from runtime.pc.devices.base import Device

LAPIC_BASE = 0xFEE00000
#: the timer's input clock; QEMU's APIC timer ticks at 1 GHz (one per ns)
APIC_HZ = 1_000_000_000
#: IA32_APIC_BASE (SDM vol 3A 10.4.4): base, bit 11 global enable, bit 8 BSP
MSR_APIC_BASE = 0x1B
APIC_BASE_BSP = 1 << 8
APIC_BASE_ENABLE = 1 << 11
VERSION = 0x00050014  # version 0x14, max LVT entry 5 (QEMU)

LVT_MASKED = 1 << 16
LVT_LEVEL = 1 << 15
LVT_TIMER_PERIODIC = 1 << 17
SVR_ENABLE = 1 << 8
ESR_ILLEGAL_VECTOR_RECEIVED = 1 << 6
ESR_ILLEGAL_VECTOR_SENT = 1 << 5

# register offsets (SDM vol 3A table 10-1)
ID, VER, TPR, APR, PPR, EOI, RRD, LDR, DFR, SVR = (
    0x20, 0x30, 0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0, 0xE0, 0xF0)
ISR, TMR, IRR = 0x100, 0x180, 0x200
ESR, ICR_LO, ICR_HI = 0x280, 0x300, 0x310
LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR = (
    0x320, 0x330, 0x340, 0x350, 0x360, 0x370)
TICR, TCCR, TDCR = 0x380, 0x390, 0x3E0
LVT_OFFSETS = (LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR)
#: the bits of each LVT entry software can write (SDM figure 10-8)
_LVT_WRITABLE = {LVT_TIMER: 0x700FF, LVT_THERMAL: 0x107FF, LVT_PERF: 0x107FF,
                 LVT_LINT0: 0x1A7FF, LVT_LINT1: 0x1A7FF, LVT_ERROR: 0x100FF}

# ICR fields (SDM figure 10-12)
_ICR_MODE = 0x700
_ICR_LOGICAL = 1 << 11
_ICR_SHORTHAND = 3 << 18
_SH_NONE, _SH_SELF, _SH_ALL, _SH_OTHERS = 0, 1 << 18, 2 << 18, 3 << 18
_MODE_FIXED, _MODE_LOWEST = 0x000, 0x100


def _divisor(tdcr: int) -> int:
    """The timer's divide configuration (SDM figure 10-10): bits 3, 1, 0."""
    code = (tdcr & 3) | ((tdcr & 8) >> 1)
    return 1 if code == 7 else 2 << code


@dataclass
class ApicCounters:
    accepted: int = 0
    delivered: int = 0
    eois: int = 0
    ipis: int = 0
    ipis_dropped: int = 0
    timer_fires: int = 0
    timer_coalesced: int = 0


class LocalApic(Device):
    """The BSP's local APIC: registers by MMIO offset, interrupt acceptance, the timer.

    ``on_eoi(vector)`` is called for an EOI of a level-triggered vector (the
    I/O APIC clears its remote IRR).
    """

    name = "lapic"
    mmio = (range(LAPIC_BASE, LAPIC_BASE + 0x1000),)

    def __init__(self, clock: Clock, on_eoi: Callable[[int], None] | None = None) -> None:
        self.clock = clock
        self.on_eoi = on_eoi
        self.counters = ApicCounters()
        self.reset()

    def reset(self) -> None:
        self.apic_base = LAPIC_BASE | APIC_BASE_ENABLE | APIC_BASE_BSP
        self.id = 0
        self.tpr = 0
        self.ldr = 0
        self.dfr = 0xFFFFFFFF
        self.svr = 0xFF
        self.irr = 0  # 256-bit sets as Python integers
        self.isr = 0
        self.tmr = 0
        self.esr = 0  # latched by the last ESR write
        self.esr_pending = 0
        self.icr = (0, 0)
        self.lvt = {off: LVT_MASKED for off in LVT_OFFSETS}
        self.lvt[LVT_LINT0] = 0x700  # ExtINT: the BIOS's virtual wire (QEMU, BSP)
        self.ticr = 0
        self.tdcr = 0
        self._timer_start = 0  # virtual ns the current count was loaded
        self._timer_next: int | None = None  # virtual ns of the next expiry

    # --- state the platform asks about --------------------------------------------------
    @property
    def enabled(self) -> bool:
        """Globally (IA32_APIC_BASE bit 11) and software (SVR bit 8) enabled."""
        return bool(self.apic_base & APIC_BASE_ENABLE and self.svr & SVR_ENABLE)

    def accepts_extint(self) -> bool:
        """Whether the 8259A's INTR reaches the processor through LINT0 (QEMU's
        ``apic_accept_pic_intr``: the APIC globally disabled, or LINT0 unmasked)."""
        return not self.apic_base & APIC_BASE_ENABLE or not self.lvt[LVT_LINT0] & LVT_MASKED

    def ppr(self) -> int:
        """Processor priority (SDM 10.8.3.1)."""
        isrv = self.isr.bit_length() - 1
        isr_class = (isrv & 0xF0) if isrv >= 0 else 0
        return self.tpr & 0xFF if (self.tpr & 0xF0) >= isr_class else isr_class

    def pending(self) -> bool:
        """An accepted vector outranks the processor priority (and the APIC is enabled)."""
        if not self.irr or not self.enabled:
            return False
        irrv = self.irr.bit_length() - 1
        return (irrv & 0xF0) > (self.ppr() & 0xF0)

    def acknowledge(self) -> int:
        """The INTA cycle: the highest vector of IRR goes in service and is returned
        (the spurious vector when nothing outranks the PPR any more, SDM 10.9)."""
        if not self.pending():
            return self.svr & 0xFF
        vector = self.irr.bit_length() - 1
        self.irr &= ~(1 << vector)
        self.isr |= 1 << vector
        self.counters.delivered += 1
        return vector

    def accept(self, vector: int, level: bool = False) -> None:
        """A fixed interrupt arrives (I/O APIC message, IPI, local source)."""
        if vector < 16:
            self.esr_pending |= ESR_ILLEGAL_VECTOR_RECEIVED
            self._error_interrupt()
            return
        self.counters.accepted += 1
        self.irr |= 1 << vector
        if level:
            self.tmr |= 1 << vector
        else:
            self.tmr &= ~(1 << vector)

    def _error_interrupt(self) -> None:
        lvt = self.lvt[LVT_ERROR]
        if not lvt & LVT_MASKED and (lvt & 0xFF) >= 16 and self.enabled:
            self.accept(lvt & 0xFF)

    def matches(self, dest: int, logical: bool) -> bool:
        """Whether a message's destination names this APIC (physical or flat logical)."""
        if not logical:
            return dest in (self.id, 0xFF)
        if (self.dfr >> 28) == 0xF:  # flat model: a bit per APIC in LDR[31:24]
            return bool(dest & (self.ldr >> 24))
        return (dest >> 4) == (self.ldr >> 28) and bool(dest & (self.ldr >> 24) & 0xF)

    # --- MMIO ---------------------------------------------------------------------------
    def mmio_read(self, addr: int, size: int) -> int:
        off = addr & 0xFFF
        reg = off & ~0xF
        if off & 0xC:  # bytes 4-15 of a 16-byte register slot are reserved
            return 0
        return (self.read_register(reg) >> (8 * (off & 3))) & ((1 << (8 * size)) - 1)

    def mmio_write(self, addr: int, size: int, value: int) -> None:
        off = addr & 0xFFF
        if off & 0xF:  # registers are written as aligned dwords; the rest is ignored
            return
        self.write_register(off, value & 0xFFFFFFFF)

    def read_register(self, reg: int) -> int:
        if ISR <= reg < ISR + 0x80:
            return (self.isr >> (32 * ((reg - ISR) >> 4))) & 0xFFFFFFFF
        if TMR <= reg < TMR + 0x80:
            return (self.tmr >> (32 * ((reg - TMR) >> 4))) & 0xFFFFFFFF
        if IRR <= reg < IRR + 0x80:
            return (self.irr >> (32 * ((reg - IRR) >> 4))) & 0xFFFFFFFF
        if reg in self.lvt:
            return self.lvt[reg]
        reader = _READERS.get(reg)
        return reader(self) if reader is not None else 0

    def write_register(self, reg: int, value: int) -> None:
        if reg in self.lvt:
            if not self.svr & SVR_ENABLE:
                value |= LVT_MASKED  # software disabled: masks cannot be cleared (10.4.7.2)
            self.lvt[reg] = value & _LVT_WRITABLE[reg]
            if reg == LVT_TIMER:
                self._rearm_after_mode_change()
            return
        writer = _WRITERS.get(reg)
        if writer is not None:
            writer(self, value)
        # read-only and reserved registers ignore writes (QEMU sets no ESR bit for them)

    # register rows ------------------------------------------------------------------------
    def _write_id(self, v: int) -> None:
        self.id = (v >> 24) & 0xFF

    def _write_tpr(self, v: int) -> None:
        self.tpr = v & 0xFF

    def _write_eoi(self, _v: int) -> None:
        if not self.isr:
            return
        vector = self.isr.bit_length() - 1
        self.isr &= ~(1 << vector)
        self.counters.eois += 1
        if self.tmr >> vector & 1 and self.on_eoi is not None:
            self.on_eoi(vector)

    def _write_ldr(self, v: int) -> None:
        self.ldr = v & 0xFF000000

    def _write_dfr(self, v: int) -> None:
        self.dfr = v | 0x0FFFFFFF

    def _write_svr(self, v: int) -> None:
        self.svr = v & 0x3FF
        if not self.svr & SVR_ENABLE:
            for off in LVT_OFFSETS:
                self.lvt[off] |= LVT_MASKED

    def _write_esr(self, _v: int) -> None:
        self.esr, self.esr_pending = self.esr_pending, 0

    def _write_icr_hi(self, v: int) -> None:
        self.icr = (self.icr[0], v & 0xFF000000)

    def _write_icr_lo(self, v: int) -> None:
        self.icr = (v & 0x000CCFFF, self.icr[1])
        self._send_ipi(v, self.icr[1] >> 24)

    def _write_ticr(self, v: int) -> None:
        self.ticr = v
        now = self.clock.now_ns()
        self._timer_start = now
        self._timer_next = now + self._period_ns() if v else None

    def _write_tdcr(self, v: int) -> None:
        # the divisor applies from now on: restart the current count where it stands
        remaining = self._current_count()
        self.tdcr = v & 0xB
        if self._timer_next is not None and remaining:
            now = self.clock.now_ns()
            self._timer_start = now - (self.ticr - remaining) * self._tick_ns()
            self._timer_next = now + remaining * self._tick_ns()

    # --- IPIs ------------------------------------------------------------------------------
    def _send_ipi(self, low: int, dest: int) -> None:
        self.counters.ipis += 1
        mode, shorthand, vector = low & _ICR_MODE, low & _ICR_SHORTHAND, low & 0xFF
        to_self = (shorthand in (_SH_SELF, _SH_ALL) or
                   (shorthand == _SH_NONE and self.matches(dest, bool(low & _ICR_LOGICAL))))
        if mode not in (_MODE_FIXED, _MODE_LOWEST) or not to_self:
            self.counters.ipis_dropped += 1  # INIT, STARTUP, NMI, ... or no such processor
            return
        if vector < 16:
            self.esr_pending |= ESR_ILLEGAL_VECTOR_SENT
            self._error_interrupt()
            return
        self.accept(vector)

    # --- the timer -------------------------------------------------------------------------
    def _tick_ns(self) -> int:
        return _divisor(self.tdcr) * 1_000_000_000 // APIC_HZ

    def _period_ns(self) -> int:
        return self.ticr * self._tick_ns()

    def _periodic(self) -> bool:
        return bool(self.lvt[LVT_TIMER] & LVT_TIMER_PERIODIC)

    def _current_count(self) -> int:
        if self._timer_next is None or not self.ticr:
            return 0
        now = self.clock.now_ns()
        elapsed = (now - self._timer_start) // self._tick_ns()
        if self._periodic():
            return self.ticr - elapsed % self.ticr
        return max(0, self.ticr - elapsed)

    def _rearm_after_mode_change(self) -> None:
        """A one-shot timer that already ran out stays stopped; a periodic one keeps its
        phase (QEMU recomputes the next expiry from the load time)."""
        if self._timer_next is None or not self.ticr:
            return
        now = self.clock.now_ns()
        if self._periodic():
            periods = (now - self._timer_start) // self._period_ns() + 1
            self._timer_next = self._timer_start + periods * self._period_ns()

    def next_event_ns(self) -> int | None:
        return self._timer_next

    def advance(self, now_ns: int) -> None:
        nxt = self._timer_next
        if nxt is None or now_ns < nxt:
            return
        lvt = self.lvt[LVT_TIMER]
        if self._periodic():
            period = self._period_ns()
            passed = (now_ns - nxt) // period
            self.counters.timer_coalesced += passed
            self._timer_next = nxt + (passed + 1) * period
        else:
            self._timer_next = None
        self.counters.timer_fires += 1
        if not lvt & LVT_MASKED:
            self.accept(lvt & 0xFF)


_READERS: dict[int, Callable[[LocalApic], int]] = {
    ID: lambda a: a.id << 24,
    VER: lambda a: VERSION,
    TPR: lambda a: a.tpr,
    APR: lambda a: 0,
    PPR: LocalApic.ppr,
    LDR: lambda a: a.ldr,
    DFR: lambda a: a.dfr,
    SVR: lambda a: a.svr,
    ESR: lambda a: a.esr,
    ICR_LO: lambda a: a.icr[0],  # delivery status (bit 12) idle: delivery is immediate
    ICR_HI: lambda a: a.icr[1],
    TICR: lambda a: a.ticr,
    TCCR: LocalApic._current_count,
    TDCR: lambda a: a.tdcr,
}

_WRITERS: dict[int, Callable[[LocalApic, int], None]] = {
    ID: LocalApic._write_id,
    TPR: LocalApic._write_tpr,
    EOI: LocalApic._write_eoi,
    LDR: LocalApic._write_ldr,
    DFR: LocalApic._write_dfr,
    SVR: LocalApic._write_svr,
    ESR: LocalApic._write_esr,
    ICR_LO: LocalApic._write_icr_lo,
    ICR_HI: LocalApic._write_icr_hi,
    TICR: LocalApic._write_ticr,
    TDCR: LocalApic._write_tdcr,
}
