"""Intel 8254 programmable interval timer (ports 0x40-0x43), channel 0 on IRQ0.

The counters are not ticked one by one: each channel remembers the virtual
time its count was loaded, and every read or event is computed from the
number of input clocks (1.193182 MHz) elapsed since then. Channel 0 drives
IRQ0; channel 2's gate and output are reached through port 0x61
(:mod:`runtime.pc.devices.port61`); channel 1 (DRAM refresh) just counts.

Behaviour follows the Intel 8254 datasheet (order no. 231164):

* Control word (port 0x43): SC1-SC0 select the counter (11 = read-back),
  RW1-RW0 the access (00 = counter latch command, 01 LSB, 10 MSB, 11 LSB
  then MSB), M2-M0 the mode (modes 6 and 7 are 2 and 3), BCD. Writing it
  resets the counter's logic: OUT takes its initial state (low in mode 0,
  high otherwise) and nothing counts until a count is written.
* A count of 0 means 2^16 (binary) or 10^4 (BCD).
* Mode 0 (interrupt on terminal count): OUT goes high when the count
  reaches 0, N clocks after the load; writing the first byte of a two-byte
  count stops counting. Mode 2 (rate generator): OUT low for one clock
  every N clocks, rising when the counter reloads. Mode 3 (square wave): OUT
  high for ceil(N/2) clocks, low for floor(N/2). Both repeat, and a new count
  written while counting takes effect at the end of the current period.
  Modes 1 and 5 wait for a rising gate edge; mode 4 strobes OUT low for one
  clock at terminal count.
* Gate (only channel 2's is not tied high on a PC): low suspends counting in
  modes 0, 2, 3 and 4 (and forces OUT high in modes 2 and 3); a rising
  edge restarts the count in modes 1, 2, 3 and 5.
* Counter latch and read-back: the latched count (and status byte) is held
  until read; a latch command on an already latched counter is ignored.
  Status byte: OUT, NULL COUNT, RW1-RW0, M2-M0, BCD.

IRQ0: the interrupt edges are the rising edges of channel 0's OUT, and the
PIC is edge triggered, so each edge is delivered as a pulse
``irq0(True); irq0(False)``. The datasheet's one-clock delay between writing
a count and loading it is ignored (the count starts at the write), as QEMU
does. :meth:`Pit8254.next_event_ns` is the time of the next edge;
:meth:`Pit8254.advance` delivers one pulse however many edges it passed: the
8259A's IRR holds a single request per line, so edges that arrive before
the CPU acknowledges the first are lost on real hardware too. Skipped edges
are counted in ``coalesced``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime.pc.clock import Clock
from runtime.pc.devices.base import Device, IrqLine

#: Input clock of the PC's 8254, in Hz.
PIT_HZ = 1_193_182
_NS = 1_000_000_000

_CONTROL_PORT = 0x43
_READ_BACK = 3
_RW_LATCH = 0
_RW_LSB, _RW_MSB, _RW_WORD = 1, 2, 3

#: Modes where the gate only pauses counting (levels); the others trigger on edges.
_GATE_PAUSES = frozenset({0, 2, 3, 4})
_GATE_TRIGGERS = frozenset({1, 2, 3, 5})
_PERIODIC = frozenset({2, 3})


def ticks(ns: int) -> int:
    """Input clocks elapsed in ``ns`` nanoseconds (floor)."""
    return ns * PIT_HZ // _NS


def ns_of_ticks(n: int) -> int:
    """The first time (ns) at which ``ticks`` reaches ``n``."""
    return -(-n * _NS // PIT_HZ)


def _from_bcd(v: int) -> int:
    return sum(((v >> (4 * i)) & 0xF) * 10**i for i in range(4))


def _to_bcd(v: int) -> int:
    return sum((v // 10**i % 10) << (4 * i) for i in range(4))


@dataclass
class _Channel:
    """One counter: its programming and when its current count was loaded."""

    index: int
    mode: int = 0
    access: int = _RW_WORD
    bcd: bool = False
    count: int = 0x10000  # reload value N, binary, 1..65536 (or 10000 in BCD)
    load_ns: int | None = None  # counting started then; None: not counting
    null_count: bool = True  # a count was written but not yet loaded
    has_count: bool = False  # a count was written since the control word
    gate: bool = True
    paused_at: int | None = None  # clocks elapsed when the gate paused counting
    next_load: tuple[int, int] | None = None  # (count, at_ns) in modes 2 and 3
    write_msb: bool = False  # LSB-then-MSB access: the next write is the MSB
    read_msb: bool = False
    lsb: int = 0
    latched: list[int] = field(default_factory=list)  # latched count bytes to read
    status: int | None = None  # latched status byte

    def settle(self, now: int) -> None:
        """Apply a count written mid-period once that period has ended."""
        if self.next_load is not None and now >= self.next_load[1]:
            self.count, self.load_ns = self.next_load
            self.next_load = None
            self.null_count = False

    def elapsed(self, now: int) -> int:
        """Input clocks counted since the load (0 when not counting)."""
        if self.paused_at is not None:
            return self.paused_at
        if self.load_ns is None or now <= self.load_ns:
            return 0
        return ticks(now - self.load_ns)

    def value(self, now: int) -> int:
        """The counting element, as the guest reads it (binary, BCD applied later)."""
        if self.load_ns is None:
            return self.count % self._modulus
        n, d = self.count, self.elapsed(now)
        if self.mode == 2:
            return n - d % n
        if self.mode == 3:
            return (n - (2 * d) % n) % self._modulus  # decrements by two
        return (n - d) % self._modulus

    @property
    def _modulus(self) -> int:
        return 10000 if self.bcd else 0x10000

    def out(self, now: int) -> bool:
        """Level of the OUT pin."""
        if self.load_ns is None:
            return self.mode != 0
        n, d = self.count, self.elapsed(now)
        if self.mode in _PERIODIC and not self.gate:
            return True
        if self.mode in (0, 1):
            return d >= n
        if self.mode == 2:
            return n == 1 or d % n != n - 1
        if self.mode == 3:
            return d % n < (n + 1) // 2
        return d != n  # modes 4 and 5: one clock low at terminal count

    def next_edge_ns(self, after: int) -> int | None:
        """Time of the first rising edge of OUT strictly after ``after``."""
        self.settle(after)
        if self.load_ns is None or self.paused_at is not None:
            return None
        if self.next_load is not None:
            return self.next_load[1]
        n, d = self.count, self.elapsed(after)
        if self.mode in _PERIODIC:
            edge = (d // n + 1) * n
        else:
            edge = n if self.mode in (0, 1) else n + 1
            if d >= edge:
                return None
        return self.load_ns + ns_of_ticks(edge)

    def edges_between(self, start: int, end: int) -> int:
        """Rising edges of OUT in (start, end], for the statistics."""
        if self.load_ns is None or self.paused_at is not None:
            return 0
        n = self.count
        if self.mode in _PERIODIC:
            return self.elapsed(end) // n - self.elapsed(start) // n
        edge = n if self.mode in (0, 1) else n + 1
        return int(self.elapsed(start) < edge <= self.elapsed(end))

    # -- programming -----------------------------------------------------------

    def control(self, access: int, mode: int, bcd: bool) -> None:
        self.access, self.mode, self.bcd = access, mode if mode < 6 else mode - 4, bcd
        self.load_ns = self.paused_at = self.next_load = self.status = None
        self.latched = []
        self.write_msb = self.read_msb = False
        self.null_count, self.has_count = True, False

    def write(self, value: int, now: int) -> None:
        if self.access == _RW_LSB:
            self.load(value, now)
        elif self.access == _RW_MSB:
            self.load(value << 8, now)
        elif not self.write_msb:
            self.lsb, self.write_msb = value, True
            if self.mode == 0:  # "writing the first byte disables counting"
                self.load_ns = self.paused_at = None
        else:
            self.write_msb = False
            self.load(self.lsb | value << 8, now)

    def load(self, raw: int, now: int) -> None:
        n = _from_bcd(raw) if self.bcd else raw
        n = n or self._modulus
        self.has_count = True
        self.settle(now)
        if self.mode in _PERIODIC and self.load_ns is not None and self.paused_at is None:
            end = self.next_edge_ns(now)
            assert end is not None
            self.next_load, self.null_count = (n, end), True
            return
        self.count, self.next_load = n, None
        if self.mode in (1, 5):  # wait for a gate trigger
            self.load_ns, self.null_count = None, True
            return
        self.load_ns, self.null_count = now, False
        self.paused_at = 0 if not self.gate and self.mode in _GATE_PAUSES else None

    def set_gate(self, level: bool, now: int) -> None:
        if level == self.gate:
            return
        self.settle(now)
        self.gate = level
        if not self.has_count:
            return
        if not level:
            if self.mode in _GATE_PAUSES and self.load_ns is not None:
                self.paused_at = self.elapsed(now)
        elif self.mode in _GATE_TRIGGERS:  # rising edge: (re)start with the count
            if self.next_load is not None:
                self.count, self.next_load = self.next_load[0], None
            self.load_ns, self.paused_at, self.null_count = now, None, False
        elif self.paused_at is not None and self.load_ns is not None:
            self.load_ns = now - ns_of_ticks(self.paused_at)  # resume where it stopped
            self.paused_at = None

    def latch_count(self, now: int) -> None:
        if self.latched:
            return
        v = self.value(now)
        v = _to_bcd(v) if self.bcd else v
        lo, hi = v & 0xFF, (v >> 8) & 0xFF
        self.latched = {_RW_LSB: [lo], _RW_MSB: [hi], _RW_WORD: [lo, hi]}[self.access]

    def latch_status(self, now: int) -> None:
        if self.status is None:
            self.status = (
                int(self.out(now)) << 7
                | int(self.null_count) << 6
                | self.access << 4
                | self.mode << 1
                | int(self.bcd)
            )

    def read(self, now: int) -> int:
        if self.status is not None:
            value, self.status = self.status, None
            return value
        if self.latched:
            return self.latched.pop(0)
        v = self.value(now)
        v = _to_bcd(v) if self.bcd else v
        if self.access == _RW_LSB:
            return v & 0xFF
        if self.access == _RW_MSB:
            return (v >> 8) & 0xFF
        msb, self.read_msb = self.read_msb, not self.read_msb
        return (v >> 8) & 0xFF if msb else v & 0xFF


class Pit8254(Device):
    """The PC's 8254: three counters at 1.193182 MHz, counter 0 raising IRQ0."""

    name = "pit"
    ports = (range(0x40, 0x44),)

    def __init__(self, clock: Clock, irq0: IrqLine) -> None:
        self.clock = clock
        self.irq0 = irq0
        self.channels = self._power_on()
        self.pulses = 0  # IRQ0 pulses delivered
        self.coalesced = 0  # channel 0 edges folded into an earlier pulse
        self._last_ns = 0  # time of the last advance
        self._next_irq_ns: int | None = None

    @staticmethod
    def _power_on() -> list[_Channel]:
        # Gates 0 and 1 are tied high on a PC; gate 2 is port 0x61 bit 0, 0 at reset.
        return [_Channel(0), _Channel(1), _Channel(2, gate=False)]

    def reset(self) -> None:
        self.channels = self._power_on()
        self._next_irq_ns = None

    # -- timer interface ----------------------------------------------------------

    def next_event_ns(self) -> int | None:
        """Virtual time of the next rising edge of channel 0's OUT (an IRQ0)."""
        return self._next_irq_ns

    def advance(self, now_ns: int) -> None:
        """Pulse IRQ0 once if one or more channel 0 edges fell in (last, now]."""
        ch = self.channels[0]
        due = self._next_irq_ns
        if due is not None and now_ns >= due:
            edges = ch.edges_between(self._last_ns, now_ns) if ch.next_load is None else 1
            self.coalesced += max(0, edges - 1)
            self.pulses += 1
            self.irq0(True)
            self.irq0(False)
        self._last_ns = max(self._last_ns, now_ns)
        self._next_irq_ns = ch.next_edge_ns(self._last_ns)

    def _reschedule(self) -> None:
        # From the last advance, not from now, so that edges between the two
        # that the machine has not delivered yet are not dropped.
        self._next_irq_ns = self.channels[0].next_edge_ns(self._last_ns)

    # -- gate and output of counter 2, for port 0x61 ------------------------------

    def set_gate(self, channel: int, level: bool) -> None:
        self.channels[channel].set_gate(level, self.clock.now_ns())
        if channel == 0:
            self._reschedule()

    def out(self, channel: int) -> bool:
        now = self.clock.now_ns()
        self.channels[channel].settle(now)
        return self.channels[channel].out(now)

    # -- ports ------------------------------------------------------------------

    def io_read(self, port: int, size: int) -> int:
        if port == _CONTROL_PORT:
            return 0xFF  # the control word register cannot be read
        now = self.clock.now_ns()
        ch = self.channels[port - 0x40]
        ch.settle(now)
        return ch.read(now)

    def io_write(self, port: int, size: int, value: int) -> None:
        now = self.clock.now_ns()
        value &= 0xFF
        if port != _CONTROL_PORT:
            self.channels[port - 0x40].write(value, now)
        elif value >> 6 == _READ_BACK:
            for ch in self.channels:
                if value & (2 << ch.index):
                    ch.settle(now)
                    if not value & 0x20:
                        ch.latch_count(now)
                    if not value & 0x10:
                        ch.latch_status(now)
        else:
            ch = self.channels[value >> 6]
            access = (value >> 4) & 3
            if access == _RW_LATCH:
                ch.settle(now)
                ch.latch_count(now)
            else:
                ch.control(access, (value >> 1) & 7, bool(value & 1))
        self._reschedule()
