"""Motorola MC146818 real-time clock and its 128 bytes of CMOS RAM (ports 0x70/0x71).

Port 0x70 selects a register (bit 7 is the PC's NMI disable: ignored, no
NMI is modelled) and reads as 0xff as in QEMU; port 0x71 reads or writes it.

Clock registers (MC146818 datasheet, "Address map"): 0x00 seconds, 0x02
minutes, 0x04 hours, 0x06 day of week (1 = Sunday), 0x07 day of month, 0x08
month, 0x09 year (two digits), and 0x32 the century as the PC/AT BIOS keeps
it (0x37, the IBM PS/2 century byte, is an alias as in QEMU). Their format
follows status register B: DM (bit 2) selects binary instead of BCD, 24/12
(bit 1) the 24-hour mode; in 12-hour mode bit 7 of the hour is PM. The
alarm registers 0x01, 0x03 and 0x05 are plain RAM (no alarm interrupt).

Time: with a real clock, the host's UTC time; with a deterministic clock,
2000-01-01 00:00:00 UTC plus virtual time, so that runs are reproducible;
``epoch`` overrides the starting point in both cases. The guest may set the
clock: while SET (B bit 7) is 1 the clock registers are frozen and writes
collect in them; otherwise, and when SET is cleared, the written date
becomes an offset from the time source.

Status registers: A keeps what the guest writes but its UIP bit (7) always
reads 0 -- the registers are computed when read, so they are never caught
mid-update and a guest waiting for UIP to drop goes on at once. C (interrupt
flags) reads 0: no periodic, alarm or update-ended interrupt is generated
(IRQ8 is not wired). D reads 0x80 (VRT: the battery is good).

The memory-size bytes are those QEMU's ``pc_cmos_init`` (hw/i386/pc.c)
stores for a RAM size below 4 GiB: 0x15/0x16 base memory in KiB (640),
0x17/0x18 and 0x30/0x31 extended memory above 1 MiB in KiB (at most 0xffff),
0x34/0x35 memory above 16 MiB in 64 KiB units (at most 0xffff), 0x14 the
equipment byte (FPU, PS/2 mouse, no floppy), 0x5f CPUs minus one.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from runtime.pc.clock import Clock
from runtime.pc.devices.base import Device

_INDEX_PORT, _DATA_PORT = 0x70, 0x71
REG_A, REG_B, REG_C, REG_D = 0x0A, 0x0B, 0x0C, 0x0D
_B_SET, _B_DM, _B_24H = 0x80, 0x04, 0x02
_A_UIP = 0x80
_PS2_CENTURY = 0x37

KIB = 1024
MIB = 1024 * KIB

#: Deterministic mode's wall-clock time at power-on.
DETERMINISTIC_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

#: Clock register -> calendar field (``hour`` and ``wday`` get special encoding).
_CLOCK_FIELDS: dict[int, str] = {
    0x00: "second",
    0x02: "minute",
    0x04: "hour",
    0x06: "wday",
    0x07: "day",
    0x08: "month",
    0x09: "year",
    0x32: "century",
}


def _fields(dt: datetime) -> dict[str, int]:
    """The clock registers' contents for ``dt``, as numbers."""
    return {
        "second": dt.second,
        "minute": dt.minute,
        "hour": dt.hour,
        "wday": dt.isoweekday() % 7 + 1,  # 1 = Sunday
        "day": dt.day,
        "month": dt.month,
        "year": dt.year % 100,
        "century": dt.year // 100,
    }


def memory_bytes(ram_size: int) -> dict[int, int]:
    """The CMOS memory-size and equipment bytes for ``ram_size`` bytes of RAM."""
    base = min(ram_size // KIB, 640)
    ext = min(max(ram_size - MIB, 0) // KIB, 0xFFFF)
    high = min(max(ram_size - 16 * MIB, 0) // (64 * KIB), 0xFFFF)
    return {
        0x10: 0x00,  # no floppy drives
        0x14: 0x06,  # equipment: FPU (bit 1), PS/2 mouse (bit 2)
        0x15: base & 0xFF,
        0x16: base >> 8,
        0x17: ext & 0xFF,
        0x18: ext >> 8,
        0x30: ext & 0xFF,
        0x31: ext >> 8,
        0x34: high & 0xFF,
        0x35: high >> 8,
        0x5F: 0,  # one CPU
    }


class CmosRtc(Device):
    """MC146818 RTC + CMOS RAM, with the PC BIOS's memory-size bytes filled in."""

    name = "cmos"
    ports = (range(_INDEX_PORT, _DATA_PORT + 1),)

    def __init__(self, clock: Clock, ram_size: int, epoch: datetime | None = None) -> None:
        self.clock = clock
        self.ram_size = ram_size
        if epoch is None and clock.deterministic:
            epoch = DETERMINISTIC_EPOCH
        self.epoch = epoch
        self.reset()

    def reset(self) -> None:
        self.index = 0
        self.ram = bytearray(128)
        self.ram[REG_A] = 0x26  # 32.768 kHz time base, 1024 Hz periodic rate
        self.ram[REG_B] = _B_24H
        self.ram[REG_D] = 0x80
        for reg, value in memory_bytes(self.ram_size).items():
            self.ram[reg] = value
        self.offset = timedelta()  # guest-set time minus the time source
        self._frozen: dict[str, int] | None = None  # clock fields while SET=1

    # -- time --------------------------------------------------------------------

    def now(self) -> datetime:
        """The RTC's current date and time (UTC), whole seconds."""
        if self.epoch is None:
            source = datetime.fromtimestamp(int(time.time()), UTC)
        else:
            source = self.epoch + timedelta(seconds=self.clock.now_ns() // 1_000_000_000)
        return source + self.offset

    def _clock_fields(self) -> dict[str, int]:
        return dict(self._frozen) if self._frozen is not None else _fields(self.now())

    def _commit(self, f: dict[str, int]) -> None:
        """Make the calendar fields ``f`` the current time (invalid dates are ignored)."""
        try:
            wanted = datetime(
                f["century"] * 100 + f["year"],
                f["month"],
                f["day"],
                f["hour"],
                f["minute"],
                f["second"],
                tzinfo=UTC,
            )
        except ValueError:
            return
        self.offset += wanted - self.now()

    # -- register encoding ----------------------------------------------------------

    def _encode(self, name: str, v: int) -> int:
        b = self.ram[REG_B]
        pm = 0
        if name == "hour" and not b & _B_24H:
            v, pm = (v % 12 or 12), (0x80 if v >= 12 else 0)
        if not b & _B_DM:
            v = (v // 10) << 4 | v % 10
        return v | pm

    def _decode(self, name: str, v: int) -> int:
        b = self.ram[REG_B]
        pm = False
        if name == "hour" and not b & _B_24H:
            v, pm = v & 0x7F, bool(v & 0x80)
        if not b & _B_DM:
            v = (v >> 4) * 10 + (v & 0xF)
        if name == "hour" and not b & _B_24H:
            v = v % 12 + (12 if pm else 0)
        return v

    # -- registers -------------------------------------------------------------------

    def read_register(self, reg: int) -> int:
        if reg == _PS2_CENTURY:
            reg = 0x32
        if reg in _CLOCK_FIELDS:
            name = _CLOCK_FIELDS[reg]
            return self._encode(name, self._clock_fields()[name])
        if reg == REG_A:
            return self.ram[REG_A] & ~_A_UIP
        if reg == REG_C:
            value, self.ram[REG_C] = self.ram[REG_C], 0  # reading clears the flags
            return value
        return self.ram[reg]

    def write_register(self, reg: int, value: int) -> None:
        if reg == _PS2_CENTURY:
            reg = 0x32
        if reg in _CLOCK_FIELDS:
            fields = self._clock_fields()
            name = _CLOCK_FIELDS[reg]
            fields[name] = self._decode(name, value)
            if self._frozen is not None:
                self._frozen = fields
            else:
                self._commit(fields)
        elif reg == REG_A:
            self.ram[REG_A] = value & ~_A_UIP
        elif reg == REG_B:
            if value & _B_SET and self._frozen is None:
                self._frozen = _fields(self.now())
            elif not value & _B_SET and self._frozen is not None:
                frozen, self._frozen = self._frozen, None
                self._commit(frozen)
            self.ram[REG_B] = value
        elif reg in (REG_C, REG_D):
            return  # read only
        else:
            self.ram[reg] = value

    def io_read(self, port: int, size: int) -> int:
        value = 0xFF if port == _INDEX_PORT else self.read_register(self.index)
        return value | (((1 << (8 * size)) - 1) & ~0xFF)

    def io_write(self, port: int, size: int, value: int) -> None:
        if port == _INDEX_PORT:
            self.index = value & 0x7F
        else:
            self.write_register(self.index, value & 0xFF)
