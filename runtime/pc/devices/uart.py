"""National Semiconductor 16550A UART (8250 compatible): the serial console.

Transmission is instant: a byte written to THR goes at once to the console
(written and flushed, so output streams live) and to ``captured``; LSR
therefore always shows THRE and TEMT. Reception is paced: input bytes wait
in an inbox (fed by :meth:`Uart16550.feed` or by a reader of the input
stream) and enter the receiver one per character time at the programmed
line speed (1.8432 MHz / 16 / divisor, with the frame from LCR), and only
while the receive FIFO (16 bytes, or the 1-byte holding register with FIFOs
off) has room -- so nothing is ever lost to an overrun. Time is the
machine's virtual time: from ``clock`` when given, else the ``now_ns`` of
the last :meth:`advance`.

Registers follow the 16550A datasheet (PC16550D, "Register descriptions"):
offsets 0-7 are RBR/THR, IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR, with the
divisor latch (DLL, DLM) at 0 and 1 while LCR bit 7 (DLAB) is set.

Interrupts (IIR, highest priority first): receiver line status (an overrun
in loopback), received data available (FIFO at its trigger level, or any
byte with FIFOs off), character timeout (FIFO mode: data below the trigger
level and no byte received or read for four character times), THR empty,
modem status. THRE is cleared by reading IIR while it is the one shown, or
by writing THR; enabling ETBEI while THR is empty raises it (what Linux's
8250 driver expects of a 16550A). The INTR output drives ``irq`` as a level:
called only when it changes, so a THR write followed by instant
transmission gives a fresh rising edge for the edge-triggered PIC. As in
QEMU (not the PC's wiring), MCR OUT2 does not gate the interrupt.

Loopback (MCR bit 4), as the datasheet describes: the transmitter feeds the
receiver instead of the console, external input is not received, and the
modem status inputs follow MCR (CTS = RTS, DSR = DTR, RI = OUT1,
DCD = OUT2), with the delta bits of MSR set on changes. Outside loopback the
modem inputs read as CTS, DSR and DCD asserted (QEMU's choice).

Input streams: an in-memory stream or a regular file is read completely at
construction, so a deterministic run sees the same bytes at the same
virtual times; a pipe or terminal is read by a daemon thread, whose
arrival times depend on the host. ``input_event`` is set whenever input
arrives, for a machine idling in HLT with no timer.
"""

from __future__ import annotations

import os
import stat
import threading
from collections import deque
from collections.abc import Callable
from typing import BinaryIO

from runtime.pc.clock import Clock
from runtime.pc.devices.base import Device, IrqLine

#: Input clock of the PC's UARTs (Hz); the baud rate is this / 16 / divisor.
UART_CLOCK_HZ = 1_843_200

# IER
_IER_RDA, _IER_THRE, _IER_RLS, _IER_MSI = 0x01, 0x02, 0x04, 0x08
# IIR identification codes
_IIR_NONE, _IIR_RLS, _IIR_RDA, _IIR_CTI, _IIR_THRE, _IIR_MSI = 0x01, 0x06, 0x04, 0x0C, 0x02, 0x00
_IIR_FIFO = 0xC0
# LCR / MCR / LSR / MSR
_LCR_DLAB = 0x80
_MCR_LOOP = 0x10
_LSR_DR, _LSR_OE, _LSR_THRE, _LSR_TEMT = 0x01, 0x02, 0x20, 0x40
_LSR_ERRORS = 0x1E
_MSR_CTS, _MSR_DSR, _MSR_RI, _MSR_DCD = 0x10, 0x20, 0x40, 0x80
_MSR_IDLE = _MSR_CTS | _MSR_DSR | _MSR_DCD
#: Loopback: which MCR output drives which MSR input.
_LOOPBACK_WIRING = ((0x02, _MSR_CTS), (0x01, _MSR_DSR), (0x04, _MSR_RI), (0x08, _MSR_DCD))
#: FCR bits 7-6 -> receive FIFO trigger level.
_RX_TRIGGER = (1, 4, 8, 14)
_FIFO_SIZE = 16
#: Character timeout, in character times.
_TIMEOUT_CHARS = 4


class Uart16550(Device):
    """A 16550A at ``base`` (COM1: 0x3f8) with its interrupt on ``irq``."""

    def __init__(
        self,
        name: str = "uart0",
        base: int = 0x3F8,
        irq: IrqLine | None = None,
        console: BinaryIO | None = None,
        input: BinaryIO | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.ports = (range(base, base + 8),)
        self.base = base
        self.irq = irq
        self.console = console
        self.clock = clock
        self.captured = bytearray()
        self.received = 0  # bytes that entered the receiver from the input
        self.input_event = threading.Event()
        #: called (from the feeding thread) whenever input arrives: the machine stops its
        #: run at the next block start to take it, a guest spinning without a timer included
        self.on_input: Callable[[], None] | None = None
        self.input_seq = 0
        self.live = False  # set while an interactive console feeds the receiver
        self._inbox: deque[int] = deque()
        self._inbox_lock = threading.Lock()
        self._last_ns = 0
        self._reader: threading.Thread | None = None
        self.reset()
        if input is not None:
            self._attach_input(input)

    def reset(self) -> None:
        self.ier = self.lcr = self.mcr = self.scr = 0
        self.divisor = 0x0C  # 9600 baud, QEMU's reset value
        self.fifo_enabled = False
        self.rx_trigger = 1
        self.rx: deque[int] = deque()
        self.rbr = 0  # last byte read, returned again when the receiver is empty
        self.lsr_errors = 0
        self.msr_deltas = 0
        self.thr_ipending = False
        self._irq_level = False
        self._rx_next_ns = 0  # earliest time the next input byte may arrive
        self._rx_activity_ns = 0  # last receipt or read, for the character timeout

    # -- input ---------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Queue ``data`` for reception (thread safe)."""
        with self._inbox_lock:
            self._inbox.extend(data)
            self.input_seq += 1
        self.input_event.set()
        if self.on_input is not None:
            self.on_input()

    def input_live(self) -> bool:
        """True while more input may still come (a reader thread, or a console attached)."""
        return self.live or (self._reader is not None and self._reader.is_alive())

    def has_input(self) -> bool:
        """True if input bytes wait for the receiver."""
        return bool(self._inbox)

    def _attach_input(self, source: BinaryIO) -> None:
        try:
            fd: int | None = source.fileno()
        except (AttributeError, OSError, ValueError):
            fd = None
        if fd is None or stat.S_ISREG(os.fstat(fd).st_mode):
            data = source.read()
            self.feed(data.encode() if isinstance(data, str) else data)
            return
        self._reader = threading.Thread(
            target=self._read_loop, args=(fd,), name=f"{self.name}-stdin", daemon=True
        )
        self._reader.start()

    def _read_loop(self, fd: int) -> None:
        while True:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return
            if not data:
                return
            self.feed(data)

    # -- time --------------------------------------------------------------------

    def _now(self) -> int:
        return self.clock.now_ns() if self.clock is not None else self._last_ns

    def char_ns(self) -> int:
        """Duration of one character frame on the line, from LCR and the divisor."""
        data_bits = 5 + (self.lcr & 3)
        half_bits = 2 * (1 + data_bits + (1 if self.lcr & 0x08 else 0))
        half_bits += 2 if not self.lcr & 0x04 else (3 if data_bits == 5 else 4)
        cycles = half_bits * 16 * (self.divisor or 0x10000)
        return -(-cycles * 1_000_000_000 // (2 * UART_CLOCK_HZ))

    @property
    def loopback(self) -> bool:
        return bool(self.mcr & _MCR_LOOP)

    def _capacity(self) -> int:
        return _FIFO_SIZE if self.fifo_enabled else 1

    def _receive(self, now: int) -> None:
        """Move input bytes into the receiver at line pace, while it has room."""
        if self.loopback:
            return
        char = self.char_ns()
        if self._rx_next_ns < now - char:
            self._rx_next_ns = now  # the line was idle: the next byte starts now
        while self._rx_next_ns <= now and len(self.rx) < self._capacity():
            with self._inbox_lock:
                if not self._inbox:
                    return
                byte = self._inbox.popleft()
            self.rx.append(byte)
            self.received += 1
            self._rx_activity_ns = self._rx_next_ns
            self._rx_next_ns += char

    def _timeout_deadline(self) -> int:
        return self._rx_activity_ns + _TIMEOUT_CHARS * self.char_ns()

    def next_event_ns(self) -> int | None:
        """When a byte can next be received, or the character timeout expires."""
        events: list[int] = []
        if self._inbox and not self.loopback and len(self.rx) < self._capacity():
            events.append(self._rx_next_ns)
        if self.fifo_enabled and self.rx and self.ier & _IER_RDA:
            deadline = self._timeout_deadline()
            if deadline > self._last_ns:
                events.append(deadline)
        return min(events) if events else None

    def advance(self, now_ns: int) -> None:
        self._last_ns = max(self._last_ns, now_ns)
        self._receive(now_ns)
        self._update_irq(now_ns)

    def _sync(self) -> int:
        now = self._now()
        self._last_ns = max(self._last_ns, now)
        self._receive(now)
        return now

    # -- interrupts -------------------------------------------------------------

    def _sources(self, now: int) -> tuple[tuple[int, int, bool], ...]:
        """(IIR code, IER enable bit, condition), highest priority first."""
        n = len(self.rx)
        return (
            (_IIR_RLS, _IER_RLS, bool(self.lsr_errors)),
            (_IIR_RDA, _IER_RDA, n >= (self.rx_trigger if self.fifo_enabled else 1)),
            (_IIR_CTI, _IER_RDA, self.fifo_enabled and n > 0 and now >= self._timeout_deadline()),
            (_IIR_THRE, _IER_THRE, self.thr_ipending),
            (_IIR_MSI, _IER_MSI, bool(self.msr_deltas)),
        )

    def _iir(self, now: int) -> int:
        for code, enable, active in self._sources(now):
            if active and self.ier & enable:
                return code
        return _IIR_NONE

    def _update_irq(self, now: int) -> None:
        level = self._iir(now) != _IIR_NONE
        if level != self._irq_level:
            self._irq_level = level
            if self.irq is not None:
                self.irq(level)

    # -- modem status -------------------------------------------------------------

    def _msr_inputs(self) -> int:
        if not self.loopback:
            return _MSR_IDLE
        return sum(msr for mcr, msr in _LOOPBACK_WIRING if self.mcr & mcr)

    def _set_mcr(self, value: int) -> None:
        before = self._msr_inputs()
        self.mcr = value & 0x1F
        after = self._msr_inputs()
        changed = before ^ after
        self.msr_deltas |= (
            (0x01 if changed & _MSR_CTS else 0)
            | (0x02 if changed & _MSR_DSR else 0)
            | (0x04 if before & _MSR_RI and not after & _MSR_RI else 0)  # trailing edge
            | (0x08 if changed & _MSR_DCD else 0)
        )

    # -- register reads ----------------------------------------------------------

    def _read_rbr(self, now: int) -> int:
        if self.rx:
            self.rbr = self.rx.popleft()
        self._rx_activity_ns = now
        return self.rbr

    def _read_iir(self, now: int) -> int:
        code = self._iir(now)
        if code == _IIR_THRE:
            self.thr_ipending = False
        return code | (_IIR_FIFO if self.fifo_enabled else 0)

    def _read_lsr(self, now: int) -> int:
        value = (_LSR_DR if self.rx else 0) | self.lsr_errors | _LSR_THRE | _LSR_TEMT
        self.lsr_errors = 0
        return value

    def _read_msr(self, now: int) -> int:
        value, self.msr_deltas = self._msr_inputs() | self.msr_deltas, 0
        return value

    # -- register writes -----------------------------------------------------------

    def _write_thr(self, value: int, now: int) -> None:
        self.thr_ipending = False
        self._update_irq(now)  # INTR drops ...
        if self.loopback:
            if len(self.rx) < self._capacity():
                self.rx.append(value)
                self._rx_activity_ns = now
            else:
                self.lsr_errors |= _LSR_OE
        else:
            self.captured.append(value)
            self._emit(value)
        self.thr_ipending = True  # ... and rises again: the byte is already sent

    def _emit(self, value: int) -> None:
        if self.console is None:
            return
        try:
            self.console.write(bytes((value,)))
            self.console.flush()
        except BrokenPipeError:
            self.console = None  # the reader went away; keep running, keep capturing

    def _write_ier(self, value: int, now: int) -> None:
        if value & _IER_THRE and not self.ier & _IER_THRE:
            self.thr_ipending = True  # THR is always empty
        self.ier = value & 0x0F

    def _write_fcr(self, value: int, now: int) -> None:
        enable = bool(value & 0x01)
        if enable != self.fifo_enabled or value & 0x02:
            self.rx.clear()
        self.fifo_enabled = enable
        if enable:
            self.rx_trigger = _RX_TRIGGER[value >> 6]

    def _write_lcr(self, value: int, now: int) -> None:
        self.lcr = value

    def _write_mcr(self, value: int, now: int) -> None:
        self._set_mcr(value)

    def _write_scr(self, value: int, now: int) -> None:
        self.scr = value

    def _write_dll(self, value: int, now: int) -> None:
        self.divisor = (self.divisor & 0xFF00) | value

    def _write_dlm(self, value: int, now: int) -> None:
        self.divisor = (self.divisor & 0x00FF) | value << 8

    def _write_ignored(self, value: int, now: int) -> None:
        return None  # LSR and MSR writes: factory test only

    # -- ports -----------------------------------------------------------------

    def io_read(self, port: int, size: int) -> int:
        now = self._sync()
        offset = port - self.base
        if self.lcr & _LCR_DLAB and offset in _DLAB_READ:
            value = _DLAB_READ[offset](self)
        else:
            value = _READ[offset](self, now)
        self._update_irq(now)
        return value | (((1 << (8 * size)) - 1) & ~0xFF)

    def io_write(self, port: int, size: int, value: int) -> None:
        now = self._sync()
        offset = port - self.base
        table = _DLAB_WRITE if self.lcr & _LCR_DLAB and offset in _DLAB_WRITE else _WRITE
        table[offset](self, value & 0xFF, now)
        self._update_irq(now)


_READ: dict[int, Callable[[Uart16550, int], int]] = {
    0: Uart16550._read_rbr,
    1: lambda u, now: u.ier,
    2: Uart16550._read_iir,
    3: lambda u, now: u.lcr,
    4: lambda u, now: u.mcr,
    5: Uart16550._read_lsr,
    6: Uart16550._read_msr,
    7: lambda u, now: u.scr,
}
_DLAB_READ: dict[int, Callable[[Uart16550], int]] = {
    0: lambda u: u.divisor & 0xFF,
    1: lambda u: u.divisor >> 8,
}
_WRITE: dict[int, Callable[[Uart16550, int, int], None]] = {
    0: Uart16550._write_thr,
    1: Uart16550._write_ier,
    2: Uart16550._write_fcr,
    3: Uart16550._write_lcr,
    4: Uart16550._write_mcr,
    5: Uart16550._write_ignored,
    6: Uart16550._write_ignored,
    7: Uart16550._write_scr,
}
_DLAB_WRITE: dict[int, Callable[[Uart16550, int, int], None]] = {
    0: Uart16550._write_dll,
    1: Uart16550._write_dlm,
}
