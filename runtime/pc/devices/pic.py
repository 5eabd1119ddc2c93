"""Intel 8259A programmable interrupt controllers: the PC/AT master/slave pair.

Master at ports 0x20/0x21, slave at 0xa0/0xa1, the slave's INT output wired
to the master's IR2; ports 0x4d0/0x4d1 are the PIIX edge/level control
registers (ELCR). The machine asks :meth:`Pic8259Pair.pending` whether an
interrupt would reach the CPU now, and when the CPU takes it runs the INTA
cycle with :meth:`Pic8259Pair.acknowledge`, which returns the vector.

Behaviour follows the Intel 8259A datasheet (order no. 231468):

* Initialisation: a command-port write with D4=1 is ICW1 and starts the
  sequence ICW2 (vector base, D7-D3), ICW3 (only when SNGL=0) and ICW4 (only
  when IC4=1). ICW1 clears the IMR and ISR, makes IR7 lowest priority and
  selects IRR for status reads.
* Edge triggered IRR: a request is latched on a low-to-high transition and
  stays latched after the line drops again (QEMU does the same); devices may
  therefore pulse their line. Level mode (ICW1 LTIM or the ELCR bit) makes
  IRR follow the line.
* Priority: the highest-priority unmasked request is delivered only if it
  outranks every in-service level (fully nested mode). Rotation (OCW2 R=1,
  set priority) is honoured through ``priority_add``, the line that
  currently has the highest priority.
* Spurious interrupts: if the request that started the INTA cycle is gone
  by then, the 8259A answers IR7 without setting ISR bit 7 ("default IR7").
  Through the cascade the master sets ISR bit 2 and the slave answers its
  own IR7, i.e. IRQ15: the guest must EOI the master only.
* The cascade: the slave's INT output drives the master's IR2 like any
  edge-triggered line, so a slave request that vanishes after the master
  latched IR2 yields the slave's default IR7 (IRQ15), as on hardware. The
  slave's INT is re-evaluated after every INTA through the cascade, and the
  master re-latches IR2 if it is still high (e.g. a second request on a
  slave in auto-EOI mode), so queued slave requests are not lost.

Not modelled: special fully nested mode's effect beyond letting the slave
preempt (SFNM, ICW4 D4, is honoured as exactly that), buffered mode, 8080
mode call bytes. Special mask mode (OCW3 ESMM/SMM) is honoured: in-service
levels that are masked do not block lower levels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from runtime.pc.devices.base import Device, IrqLine

# ICW1 bits
_ICW1_IC4 = 0x01
_ICW1_SNGL = 0x02
_ICW1_LTIM = 0x08
_ICW1 = 0x10
# ICW4 bits
_ICW4_AEOI = 0x02
_ICW4_SFNM = 0x10
# OCW3 bits
_OCW3 = 0x08
_OCW3_P = 0x04
_OCW3_RR = 0x02
_OCW3_RIS = 0x01
_OCW3_ESMM = 0x40
_OCW3_SMM = 0x20

#: Lines whose ELCR bit may be set (PIIX: IRQ0-2, 8 and 13 are always edge).
_ELCR_WRITABLE = (0xF8, 0xDE)

_CASCADE_LINE = 2


def _priority(mask: int, priority_add: int) -> int:
    """Rank (0 = highest) of the highest-priority bit set in ``mask``; 8 if none."""
    for rank in range(8):
        if mask & (1 << ((rank + priority_add) & 7)):
            return rank
    return 8


@dataclass
class _Chip:
    """One 8259A. State names follow the datasheet's registers."""

    name: str
    elcr_writable: int
    irr: int = 0
    isr: int = 0
    imr: int = 0
    elcr: int = 0
    levels: int = 0  # current level of each IR pin, for edge detection
    vector_base: int = 0
    init_step: int = 0  # 0: operational; 2, 3, 4: expecting that ICW next
    icw4_expected: bool = False
    single: bool = False
    ltim: bool = False
    auto_eoi: bool = False
    sfnm: bool = False
    rotate_on_aeoi: bool = False
    read_isr: bool = False
    poll: bool = False
    special_mask: bool = False
    priority_add: int = 0  # line that currently has the highest priority

    def level_mode(self, line: int) -> bool:
        return self.ltim or bool(self.elcr & (1 << line))

    def set_input(self, line: int, level: bool) -> bool:
        """Drive IR``line``; return True if that latched a new request (an edge)."""
        bit = 1 << line
        edge = level and not self.levels & bit
        self.levels = self.levels | bit if level else self.levels & ~bit
        if self.level_mode(line):
            self.irr = self.irr | bit if level else self.irr & ~bit
        elif edge:
            self.irr |= bit
        return edge

    def highest_request(self) -> int | None:
        """The line the chip would signal on INT now, or None."""
        requests = self.irr & ~self.imr
        rank = _priority(requests, self.priority_add)
        if rank == 8:
            return None
        in_service = self.isr
        if self.special_mask:
            in_service &= ~self.imr
        if self.sfnm and not self.single:
            in_service &= ~(1 << _CASCADE_LINE)
        if rank < _priority(in_service, self.priority_add):
            return (rank + self.priority_add) & 7
        return None

    def ack(self, line: int) -> None:
        """INTA for ``line``: set ISR (unless auto-EOI), clear an edge request."""
        bit = 1 << line
        if self.auto_eoi:
            if self.rotate_on_aeoi:
                self.priority_add = (line + 1) & 7
        else:
            self.isr |= bit
        if not self.level_mode(line):
            self.irr &= ~bit

    # -- command words ---------------------------------------------------------

    def write(self, a0: int, value: int) -> None:
        if a0 == 0:
            if value & _ICW1:
                self._icw1(value)
            elif value & _OCW3:
                self._ocw3(value)
            else:
                _OCW2[value >> 5](self, value & 7)
        elif self.init_step == 0:
            self.imr = value  # OCW1
        else:
            _ICW_DATA[self.init_step](self, value)

    def read(self, a0: int) -> int:
        if a0:
            return self.imr
        if self.poll:
            self.poll = False
            line = self.highest_request()
            if line is None:
                return 0
            self.ack(line)
            return 0x80 | line
        return self.isr if self.read_isr else self.irr

    def _icw1(self, value: int) -> None:
        self.irr = self.isr = self.imr = 0
        self.priority_add = 0
        self.read_isr = self.poll = self.special_mask = False
        self.auto_eoi = self.sfnm = self.rotate_on_aeoi = False
        self.icw4_expected = bool(value & _ICW1_IC4)
        self.single = bool(value & _ICW1_SNGL)
        self.ltim = bool(value & _ICW1_LTIM)
        if self.ltim:
            self.irr = self.levels
        self.init_step = 2

    def _icw2(self, value: int) -> None:
        self.vector_base = value & 0xF8
        self.init_step = 3 if not self.single else (4 if self.icw4_expected else 0)

    def _icw3(self, value: int) -> None:
        # Cascade wiring (master: which IRs have slaves; slave: its ID). The
        # PC's wiring is fixed, so the value is accepted and not needed.
        self.init_step = 4 if self.icw4_expected else 0

    def _icw4(self, value: int) -> None:
        self.auto_eoi = bool(value & _ICW4_AEOI)
        self.sfnm = bool(value & _ICW4_SFNM)
        self.init_step = 0

    def _ocw3(self, value: int) -> None:
        if value & _OCW3_RR:
            self.read_isr = bool(value & _OCW3_RIS)
        if value & _OCW3_ESMM:
            self.special_mask = bool(value & _OCW3_SMM)
        self.poll = bool(value & _OCW3_P)

    # OCW2 commands, selected by R/SL/EOI (D7-D5); ``level`` is L2-L0.

    def _eoi(self, level: int) -> int | None:
        """Non-specific EOI: clear the highest-priority in-service level."""
        rank = _priority(self.isr, self.priority_add)
        if rank == 8:
            return None
        line = (rank + self.priority_add) & 7
        self.isr &= ~(1 << line)
        return line

    def _specific_eoi(self, level: int) -> None:
        self.isr &= ~(1 << level)

    def _rotate_eoi(self, level: int) -> None:
        line = self._eoi(level)
        if line is not None:
            self.priority_add = (line + 1) & 7

    def _rotate_specific_eoi(self, level: int) -> None:
        self._specific_eoi(level)
        self.priority_add = (level + 1) & 7

    def _set_priority(self, level: int) -> None:
        self.priority_add = (level + 1) & 7  # ``level`` becomes the lowest

    def _set_rotate_aeoi(self, level: int) -> None:
        self.rotate_on_aeoi = True

    def _clear_rotate_aeoi(self, level: int) -> None:
        self.rotate_on_aeoi = False

    def _nop(self, level: int) -> None:
        return None


_OCW2: tuple[Callable[[_Chip, int], object], ...] = (
    _Chip._clear_rotate_aeoi,  # 000 rotate in automatic EOI mode (clear)
    _Chip._eoi,  # 001 non-specific EOI
    _Chip._nop,  # 010 no operation
    _Chip._specific_eoi,  # 011 specific EOI
    _Chip._set_rotate_aeoi,  # 100 rotate in automatic EOI mode (set)
    _Chip._rotate_eoi,  # 101 rotate on non-specific EOI
    _Chip._set_priority,  # 110 set priority
    _Chip._rotate_specific_eoi,  # 111 rotate on specific EOI
)

_ICW_DATA: dict[int, Callable[[_Chip, int], None]] = {
    2: _Chip._icw2,
    3: _Chip._icw3,
    4: _Chip._icw4,
}


@dataclass
class PicCounters:
    """Statistics: rising edges latched per IRQ line, INTA cycles per line, spurious."""

    raised: list[int] = field(default_factory=lambda: [0] * 16)
    acknowledged: list[int] = field(default_factory=lambda: [0] * 16)
    spurious: int = 0


class Pic8259Pair(Device):
    """The PC/AT's two cascaded 8259As (IRQ0-7 on the master, IRQ8-15 on the slave)."""

    name = "pic"
    ports = (range(0x20, 0x22), range(0xA0, 0xA2), range(0x4D0, 0x4D2))

    def __init__(self) -> None:
        self.master = _Chip("master", _ELCR_WRITABLE[0])
        self.slave = _Chip("slave", _ELCR_WRITABLE[1])
        self.counters = PicCounters()

    def reset(self) -> None:
        """Power-on state: both chips unprogrammed (vector base 0, nothing masked)."""
        self.master = _Chip("master", _ELCR_WRITABLE[0])
        self.slave = _Chip("slave", _ELCR_WRITABLE[1])

    # -- the interface the devices and the machine use ---------------------------

    def irq_line(self, n: int) -> IrqLine:
        """The request line IRQ``n`` (0-15) for a device. IRQ2 is the cascade."""
        if not 0 <= n < 16 or n == _CASCADE_LINE:
            raise ValueError(f"IRQ{n} is not a device line (IRQ2 is the cascade; use 9)")

        def line(level: bool) -> None:
            self.set_irq(n, level)

        return line

    def set_irq(self, n: int, level: bool) -> None:
        """Drive IRQ``n`` to ``level``."""
        chip = self.master if n < 8 else self.slave
        if chip.set_input(n & 7, level):
            self.counters.raised[n] += 1
        self._cascade()

    def pending(self) -> bool:
        """True if an unmasked request would interrupt the CPU now (INT is high)."""
        return self.master.highest_request() is not None

    def acknowledge(self) -> int:
        """The INTA cycle: return the vector, set ISR, clear an edge request in IRR.

        With no request left (it vanished, or was masked, since ``pending``)
        the datasheet's default IR7 is returned: vector base+7 of the master,
        or of the slave (IRQ15) with the master's ISR bit 2 set.
        """
        m, s = self.master, self.slave
        line = m.highest_request()
        if line is None:
            self.counters.spurious += 1
            return m.vector_base | 7
        m.ack(line)
        if line != _CASCADE_LINE or m.single:
            self.counters.acknowledged[line] += 1
            self._cascade()
            return m.vector_base | line
        slave_line = s.highest_request()
        if slave_line is None:
            self.counters.spurious += 1
            self._cascade()
            return s.vector_base | 7
        s.ack(slave_line)
        self.counters.acknowledged[8 + slave_line] += 1
        m.levels &= ~(1 << _CASCADE_LINE)  # INT is re-evaluated after the INTA cycle
        self._cascade()
        return s.vector_base | slave_line

    def _cascade(self) -> None:
        """Feed the slave's INT output to the master's IR2."""
        if not self.master.single:
            self.master.set_input(_CASCADE_LINE, self.slave.highest_request() is not None)

    # -- ports -----------------------------------------------------------------

    def _chip(self, port: int) -> _Chip:
        return self.master if port < 0xA0 or port == 0x4D0 else self.slave

    def io_read(self, port: int, size: int) -> int:
        chip = self._chip(port)
        value = chip.elcr if port >= 0x4D0 else chip.read(port & 1)
        self._cascade()
        return value | (((1 << (8 * size)) - 1) & ~0xFF)

    def io_write(self, port: int, size: int, value: int) -> None:
        chip = self._chip(port)
        value &= 0xFF
        if port >= 0x4D0:
            chip.elcr = value & chip.elcr_writable
        else:
            chip.write(port & 1, value)
        self._cascade()
