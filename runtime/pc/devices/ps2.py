"""The 8042 keyboard controller (ports 0x60/0x64) with a PS/2 keyboard, IRQ1.

Behaviour as QEMU's ``hw/input/pckbd.c`` and ``ps2.c`` (the reference of the
tests), in the state SeaBIOS leaves them for a multiboot kernel (self-test
passed: status SYS set; command byte 0x61: keyboard interrupt, mouse port
disabled, scancode translation):

- Status (read 0x64): OBF (bit 0) while the output buffer holds a byte, SYS
  (bit 2), CMD (bit 3: set by the first write to 0x64; QEMU 7.2 never clears it), the keylock "unlocked"
  bit 4, AUX_OBF (bit 5) when the byte is the mouse's. Input is taken at once,
  so IBF never shows.
- Controller commands (write 0x64): 0x20 read / 0x60 write the command byte,
  0xA7/0xA8 disable/enable the mouse port, 0xA9 and 0xAB port tests (0x00),
  0xAA self-test (0x55), 0xAD/0xAE disable/enable the keyboard, 0xC0 input
  port, 0xD0/0xD1 output port (bit 0 low: reset, bit 1: A20), 0xD2/0xD3 write
  the keyboard/mouse output buffer, 0xD4 to the mouse, 0xDD/0xDF A20 off/on,
  0xFE (and the other pulses with bit 0 clear) reset the system.
- Keyboard commands (write 0x60): 0xFF reset (0xFA 0xAA), 0xF5/0xF6 defaults
  and disable/enable scanning, 0xF4 enable, 0xF2 identify (0xFA 0xAB 0x41
  translated, 0x83 untranslated), 0xEE echo, 0xF0 scancode set (0 reads it:
  translated 2 -> 0x41), 0xED LEDs, 0xF3 typematic rate, each acknowledged
  with 0xFA; others answer 0xFE (resend).
- The mouse answers 0xFA to everything (0xFF: 0xFA 0xAA 0x00; 0xF2: 0xFA 0x00).
- IRQ1 is raised while a keyboard byte waits and command byte bit 0 is set,
  IRQ12 for a mouse byte with bit 1 set; a read of 0x60 takes the byte and
  drops the line, raised again at once for the next byte: an edge per byte (a read
  with nothing waiting returns the last byte again).

:meth:`Ps2Controller.press` queues scancodes (set 1, as the translation gives
them) for a host keyboard: none is wired yet (the console is the UART).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from runtime.pc.devices.base import Device, IrqLine

# status register
OBF, SYS, CMD, UNLOCKED, AUX_OBF = 0x01, 0x04, 0x08, 0x10, 0x20
# command byte
KBD_INT, AUX_INT, KBD_DISABLED, AUX_DISABLED, XLATE = 0x01, 0x02, 0x10, 0x20, 0x40
ACK, RESEND, POR = 0xFA, 0xFE, 0xAA
#: Set 2 -> set 1 translation of the scancode set numbers (QEMU's translate_table).
_XLATE_SET = {1: 0x43, 2: 0x41, 3: 0x3F}
#: What SeaBIOS leaves: keyboard interrupt on, mouse port off, translation on.
SEABIOS_COMMAND_BYTE = KBD_INT | AUX_DISABLED | XLATE


class Ps2Controller(Device):
    """The 8042 at 0x60/0x64; ``on_reset`` is called when the guest resets the system."""

    name = "ps2"
    ports = (range(0x60, 0x61), range(0x64, 0x65))

    def __init__(self, kbd_irq: IrqLine | None = None, aux_irq: IrqLine | None = None,
                 on_reset: Callable[[], None] | None = None) -> None:
        self.kbd_irq = kbd_irq
        self.aux_irq = aux_irq
        self.on_reset = on_reset
        self.reset()

    def reset(self) -> None:
        self.status = SYS | CMD | UNLOCKED
        self.mode = SEABIOS_COMMAND_BYTE
        self.outport = 0x03  # A20 enabled, not in reset
        self.queue: deque[tuple[int, bool]] = deque()
        self.last = 0
        self.pending: int | None = None  # controller command waiting for its data byte
        self.kbd_cmd: int | None = None  # keyboard command waiting for its argument
        self.scancode_set = 2
        self.scanning = True
        self.leds = 0
        self._levels = [False, False]

    # -- output buffer and interrupts ---------------------------------------------------
    def _queue(self, *data: int, aux: bool = False) -> None:
        self.queue.extend((b, aux) for b in data)
        self._update()

    def _update(self) -> None:
        self.status &= ~(OBF | AUX_OBF)
        kbd = aux = False
        if self.queue:
            is_aux = self.queue[0][1]
            self.status |= OBF | (AUX_OBF if is_aux else 0)
            aux = is_aux and bool(self.mode & AUX_INT)
            kbd = not is_aux and bool(self.mode & KBD_INT)
        for i, (level, line) in enumerate(((kbd, self.kbd_irq), (aux, self.aux_irq))):
            if level != self._levels[i]:
                self._levels[i] = level
                if line is not None:
                    line(level)

    def press(self, scancodes: bytes) -> None:
        """Scancodes from a keyboard (dropped while the keyboard is disabled or not scanning)."""
        if self.scanning and not self.mode & KBD_DISABLED:
            self._queue(*scancodes)

    # -- the keyboard and the mouse ----------------------------------------------------------
    def _keyboard(self, value: int) -> None:
        cmd, self.kbd_cmd = self.kbd_cmd, None
        if cmd == 0xF0:
            if value == 0:
                s = self.scancode_set
                self._queue(ACK, _XLATE_SET[s] if self.mode & XLATE else s)
            elif 1 <= value <= 3:
                self.scancode_set = value
                self._queue(ACK)
            else:
                self._queue(RESEND)
            return
        if cmd == 0xED:
            self.leds = value
        if cmd is not None:
            self._queue(ACK)
            return
        if value in (0xF0, 0xED, 0xF3, 0xFB):
            self.kbd_cmd = value
            self._queue(ACK)
        elif value == 0xFF:
            self.scancode_set, self.leds, self.scanning = 2, 0, True
            self._queue(ACK, POR)
        elif value in (0xF5, 0xF6):
            self.scancode_set, self.leds, self.scanning = 2, 0, value == 0xF6
            self._queue(ACK)
        elif value == 0xF4:
            self.scanning = True
            self._queue(ACK)
        elif value == 0xF2:
            self._queue(ACK, 0xAB, 0x41 if self.mode & XLATE else 0x83)
        elif value == 0xEE:
            self._queue(0xEE)
        elif value in (0x00, 0xFA):
            self._queue(ACK)
        else:
            self._queue(RESEND)

    def _mouse(self, value: int) -> None:
        replies = {0xFF: (ACK, POR, 0x00), 0xF2: (ACK, 0x00)}.get(value, (ACK,))
        self._queue(*replies, aux=True)

    # -- controller -------------------------------------------------------------------------
    def _command(self, value: int) -> None:
        simple: dict[int, Callable[[], None]] = {
            0x20: lambda: self._queue(self.mode),
            0xA7: lambda: self._set_mode(self.mode | AUX_DISABLED),
            0xA8: lambda: self._set_mode(self.mode & ~AUX_DISABLED),
            0xA9: lambda: self._queue(0x00),
            0xAA: self._self_test,
            0xAB: lambda: self._queue(0x00),
            0xAD: lambda: self._set_mode(self.mode | KBD_DISABLED),
            0xAE: lambda: self._set_mode(self.mode & ~KBD_DISABLED),
            0xC0: lambda: self._queue(0x80),
            0xD0: lambda: self._queue(self.outport),
            0xDD: lambda: self._set_outport(self.outport & ~0x02),
            0xDF: lambda: self._set_outport(self.outport | 0x02),
        }
        if value in simple:
            simple[value]()
        elif value in (0x60, 0xD1, 0xD2, 0xD3, 0xD4):
            self.pending = value
        elif value >= 0xF0 and not value & 0x01:
            self._system_reset()

    def _self_test(self) -> None:
        self.status |= SYS
        self._queue(0x55)

    def _set_mode(self, mode: int) -> None:
        self.mode = mode
        self._update()

    def _set_outport(self, value: int) -> None:
        self.outport = value
        if not value & 0x01:
            self._system_reset()

    def _system_reset(self) -> None:
        if self.on_reset is not None:
            self.on_reset()

    def _data(self, value: int) -> None:
        pending, self.pending = self.pending, None
        if pending is None:
            self._keyboard(value)
        elif pending == 0x60:
            self._set_mode(value)
        elif pending == 0xD1:
            self._set_outport(value)
        elif pending == 0xD2:
            self._queue(value)
        elif pending == 0xD3:
            self._queue(value, aux=True)
        else:
            self._mouse(value)

    # -- ports ---------------------------------------------------------------------------------
    def io_read(self, port: int, size: int) -> int:
        if port == 0x64:
            return self.status
        if self.queue:
            self.last = self.queue.popleft()[0]
            self._drop_lines()  # a fresh edge for the next byte, as QEMU's kbd_read_data
            self._update()
        return self.last

    def _drop_lines(self) -> None:
        for i, line in enumerate((self.kbd_irq, self.aux_irq)):
            if self._levels[i]:
                self._levels[i] = False
                if line is not None:
                    line(False)

    def io_write(self, port: int, size: int, value: int) -> None:
        value &= 0xFF
        if port == 0x64:
            self.status |= CMD
            self._command(value)
        else:
            self._data(value)  # CMD stays set, as in QEMU 7.2


class SystemControlA(Device):
    """Port 0x92 (PS/2 system control port A): bit 1 fast A20 gate, bit 0 fast reset.

    btvmm's memory never wraps at 1 MiB: the A20 bit is kept and read back only.
    A write with bit 0 set resets the system (``on_reset``), as QEMU's port 0x92.
    """

    name = "port92"
    ports = (range(0x92, 0x93),)

    def __init__(self, on_reset: Callable[[], None] | None = None) -> None:
        self.on_reset = on_reset
        self.value = 0x02  # A20 enabled, as SeaBIOS leaves it

    def io_read(self, port: int, size: int) -> int:
        return self.value

    def io_write(self, port: int, size: int, value: int) -> None:
        self.value = value & 0x02
        if value & 0x01 and self.on_reset is not None:
            self.on_reset()
