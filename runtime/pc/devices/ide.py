"""An IDE channel with ATA PIO drives: the PC's hard disk controller.

Registers of a channel (ATA/ATAPI-6, "I/O register descriptions"): the
command block at ``base`` (primary 0x1F0-0x1F7) -- data, error/features,
sector count, LBA low/mid/high (sector, cylinder low/high), device/head,
status/command -- and the control block at ``ctrl`` (0x3F6): alternate
status (read) and device control (write: nIEN bit 1, SRST bit 2).

The behaviour follows QEMU's ``hw/ide/core.c`` (the reference the tests
compare with) where the standard leaves a choice:

- Commands complete at once: BSY is never seen after a command; a read
  shows DRQ with its first sector ready, a write asks for its first sector.
- INTRQ rises once per DRQ block of a read (each sector), after each sector
  of a write and at the end of a non-data command, unless nIEN is set; a
  read of the status register lowers it, the alternate status does not.
- The task-file registers are written to both drives (one copy here); the
  status of an absent selected slave reads 0, and a channel without drives
  reads 0 in every register but data (QEMU's "no drive" values; ports
  nobody decodes would read 0xFF).
- IDENTIFY DEVICE returns QEMU's words (model "QEMU HARDDISK", serial
  QM0000N, firmware "2.5+", CHS geometry of an image without a partition
  table: 16 heads, 63 sectors, size / 1008 cylinders clamped to 2..16383).
- Data register: 16-bit (``insw``) and 32-bit (``insl``) accesses move the
  buffer; a data access without DRQ reads 0 and is ignored when written.

String I/O: :meth:`IdeChannel.read_string` / :meth:`write_string` move a
whole ``rep ins``/``rep outs`` worth of elements as bytes, exactly as the
same number of single accesses would (sector boundaries, interrupts and
all), so that the machine and the monitor make one Python call per
instruction instead of one per word.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from runtime.pc.devices.base import Device, IrqLine
from runtime.pc.devices.disk import SECTOR, DiskImage

# status register
BSY, DRDY, DF, DSC, DRQ, ERR = 0x80, 0x40, 0x20, 0x10, 0x08, 0x01
# error register
ABRT = 0x04
# device control register
NIEN, SRST = 0x02, 0x04
# device/head register
LBA_MODE = 0x40
DEV_SLAVE = 0x10

#: READ/WRITE MULTIPLE block size the drive supports (IDENTIFY word 47), as QEMU.
MAX_MULT_SECTORS = 16
LBA28_MAX = (1 << 28) - 1


def _ata_string(text: str, words: int) -> list[int]:
    """An ATA string field: space padded, two characters per word, the first in the high byte."""
    raw = text.encode("ascii").ljust(2 * words)[: 2 * words]
    return [raw[i] << 8 | raw[i + 1] for i in range(0, 2 * words, 2)]


def chs_geometry(sectors: int) -> tuple[int, int, int]:
    """(cylinders, heads, sectors per track) QEMU guesses for an image with no partition table."""
    return max(2, min(16383, sectors // (16 * 63))), 16, 63


def identify_words(serial_no: int, sectors: int, chs: tuple[int, int, int], mult: int) -> list[int]:
    """IDENTIFY DEVICE data (256 words; ATA/ATAPI-6 table 27) as QEMU's ide_identify fills it."""
    cyls, heads, secs = chs
    w = [0] * 256
    w[0] = 0x0040  # fixed device
    w[1], w[3], w[4], w[5], w[6] = cyls, heads, 512 * secs, 512, secs
    w[10:20] = _ata_string(f"QM{serial_no:05d}", 10)
    w[20], w[21], w[22] = 3, 512, 4
    w[23:27] = _ata_string("2.5+", 4)
    w[27:47] = _ata_string("QEMU HARDDISK", 20)
    w[47] = 0x8000 | MAX_MULT_SECTORS
    w[48] = 1  # dword I/O
    w[49] = (1 << 11) | (1 << 9) | (1 << 8)  # IORDY, LBA, DMA
    w[51], w[52] = 0x200, 0x200
    w[53] = 1 | (1 << 1) | (1 << 2)  # words 54-58, 64-70 and 88 valid
    w[54], w[55], w[56] = cyls, heads, secs
    old = cyls * heads * secs
    w[57], w[58] = old & 0xFFFF, (old >> 16) & 0xFFFF
    if mult:
        w[59] = 0x100 | mult
    lba28 = min(sectors, LBA28_MAX)
    w[60], w[61] = lba28 & 0xFFFF, lba28 >> 16
    w[62], w[63], w[64] = 0x07, 0x07, 0x03
    w[65:69] = [120, 120, 120, 120]
    w[69] = 1 << 14  # deterministic read after TRIM (QEMU sets it with discard granularity)
    w[80], w[81] = 0xF0, 0x16  # ATA-3..ATA-6
    w[82] = (1 << 14) | (1 << 5) | 1
    w[83] = (1 << 14) | (1 << 13) | (1 << 12) | (1 << 10)  # LBA48, FLUSH CACHE (EXT)
    w[84] = 1 << 14
    w[85] = (1 << 14) | (1 << 5) | 1  # write cache enabled
    w[86] = (1 << 13) | (1 << 12) | (1 << 10)
    w[87] = 1 << 14
    w[88] = 0x3F | (1 << 13)
    w[93] = 1 | (1 << 14) | 0x2000
    w[100], w[101] = sectors & 0xFFFF, (sectors >> 16) & 0xFFFF
    w[102], w[103] = (sectors >> 32) & 0xFFFF, (sectors >> 48) & 0xFFFF
    w[106] = 0x6000  # word valid; logical sectors per physical sector: 2^0
    w[169] = 1  # DATA SET MANAGEMENT (TRIM) supported, as QEMU says (the command aborts here)
    return w


@dataclass
class IdeCounters:
    commands: dict[str, int] = field(default_factory=dict)
    sectors_read: int = 0
    sectors_written: int = 0
    string_transfers: int = 0  # rep ins/outs moved in one call
    irqs: int = 0


class AtaDrive:
    """One ATA hard disk on a channel: its image, geometry, status and transfer buffer."""

    def __init__(self, image: DiskImage, serial_no: int) -> None:
        self.image = image
        self.chs = chs_geometry(image.sectors)
        self.serial_no = serial_no
        self.reset()

    def reset(self) -> None:
        self.status = DRDY | DSC
        self.error = 0
        self.mult = MAX_MULT_SECTORS
        self.buffer: bytes | bytearray = b""
        self.pos = 0
        self.writing = False  # the buffer is filled by the host (a write command)
        self.on_end: Callable[[], None] | None = None

    def identify(self) -> bytes:
        words = identify_words(self.serial_no, self.image.sectors, self.chs, self.mult)
        return struct.pack("<256H", *words)


class IdeChannel(Device):
    """An IDE channel at ``base``/``ctrl`` with up to two drives, INTRQ on ``irq``."""

    def __init__(self, name: str, base: int, ctrl: int, irq: IrqLine | None,
                 master: DiskImage | None = None, slave: DiskImage | None = None,
                 serials: tuple[int, int] = (1, 2)) -> None:
        self.name = name
        self.base = base
        self.ports = (range(base, base + 8), range(ctrl, ctrl + 1))
        self.ctrl_port = ctrl
        self.irq = irq
        images = (master, slave)
        self.drives: list[AtaDrive | None] = [
            AtaDrive(img, serials[i]) if img is not None else None
            for i, img in enumerate(images)]
        self.counters = IdeCounters()
        self.control = 0
        self._irq_level = False
        self.reset()

    def reset(self) -> None:
        self.feature = self.nsector = self.sector = self.lcyl = self.hcyl = 0
        self.hob = [0, 0, 0, 0, 0]  # previous nsector, sector, lcyl, hcyl, feature (LBA48)
        self.select = 0xA0
        for drive in self.drives:
            if drive is not None:
                drive.reset()
        self._lower()

    # -- helpers ------------------------------------------------------------------
    @property
    def unit(self) -> int:
        return 1 if self.select & DEV_SLAVE else 0

    @property
    def drive(self) -> AtaDrive | None:
        return self.drives[self.unit]

    @property
    def empty(self) -> bool:
        return self.drives[0] is None and self.drives[1] is None

    def _raise(self) -> None:
        if self.control & NIEN:
            return
        self.counters.irqs += 1
        if not self._irq_level:
            self._irq_level = True
            if self.irq is not None:
                self.irq(True)

    def _lower(self) -> None:
        if self._irq_level:
            self._irq_level = False
            if self.irq is not None:
                self.irq(False)

    # -- addressing (ATA/ATAPI-6 6.2: LBA28, LBA48 and CHS) ---------------------------
    def _lba(self, drive: AtaDrive, lba48: bool) -> int:
        if lba48:
            return (self.hob[3] << 40 | self.hob[2] << 32 | self.hob[1] << 24
                    | self.hcyl << 16 | self.lcyl << 8 | self.sector)
        if self.select & LBA_MODE:
            return (self.select & 0x0F) << 24 | self.hcyl << 16 | self.lcyl << 8 | self.sector
        _, heads, secs = drive.chs
        cyl = self.hcyl << 8 | self.lcyl
        return (cyl * heads + (self.select & 0x0F)) * secs + self.sector - 1

    def _set_lba(self, drive: AtaDrive, lba: int, lba48: bool) -> None:
        """The address registers after a transfer (QEMU's ide_set_sector)."""
        if lba48:
            self.sector, self.lcyl, self.hcyl = lba & 0xFF, (lba >> 8) & 0xFF, (lba >> 16) & 0xFF
            self.hob[1:4] = [(lba >> 24) & 0xFF, (lba >> 32) & 0xFF, (lba >> 40) & 0xFF]
        elif self.select & LBA_MODE:
            self.sector, self.lcyl, self.hcyl = lba & 0xFF, (lba >> 8) & 0xFF, (lba >> 16) & 0xFF
            self.select = (self.select & 0xF0) | ((lba >> 24) & 0x0F)
        else:
            _, heads, secs = drive.chs
            cyl, rest = divmod(lba, heads * secs)
            self.hcyl, self.lcyl = (cyl >> 8) & 0xFF, cyl & 0xFF
            self.select = (self.select & 0xF0) | (rest // secs)
            self.sector = rest % secs + 1

    def _count(self, lba48: bool) -> int:
        if lba48:
            return (self.hob[0] << 8 | self.nsector) or 65536
        return self.nsector or 256

    # -- commands (a table: opcode -> handler) -------------------------------------------
    def _abort(self, drive: AtaDrive) -> None:
        drive.status = DRDY | ERR
        drive.error = ABRT
        drive.buffer, drive.pos, drive.on_end = b"", 0, None
        self._raise()

    def _done(self, drive: AtaDrive) -> None:
        drive.status = DRDY | DSC
        drive.error = 0
        self._raise()

    def _start(self, drive: AtaDrive, data: bytes | bytearray, writing: bool,
               on_end: Callable[[], None]) -> None:
        drive.buffer, drive.pos, drive.writing, drive.on_end = data, 0, writing, on_end
        drive.status = DRDY | DSC | DRQ
        drive.error = 0

    def _finish(self, drive: AtaDrive) -> None:
        drive.buffer, drive.pos, drive.on_end = b"", 0, None
        drive.status = DRDY | DSC

    def cmd_identify(self, drive: AtaDrive, _op: int) -> None:
        self._start(drive, drive.identify(), False, lambda: self._finish(drive))
        self._raise()

    def _transfer(self, drive: AtaDrive, write: bool, lba48: bool, block: int) -> None:
        """READ/WRITE SECTORS (block 1) and MULTIPLE: DRQ blocks of ``block`` sectors, the
        address registers advanced as each block is read or written (ide_sector_read/write)."""
        lba, remaining = self._lba(drive, lba48), self._count(lba48)

        def advance(n: int) -> None:
            nonlocal lba, remaining
            lba, remaining = lba + n, remaining - n
            self._set_lba(drive, lba, lba48)
            self.nsector = remaining & 0xFF
            if lba48:
                self.hob[0] = (remaining >> 8) & 0xFF

        def read_block() -> None:
            if remaining == 0:
                self._finish(drive)
                return
            n = min(remaining, block)
            if lba + n > drive.image.sectors:
                self._abort(drive)
                return
            self._start(drive, drive.image.read(lba, n), False, read_block)
            self.counters.sectors_read += n
            advance(n)
            self._raise()

        def ask_block() -> None:
            self._start(drive, bytearray(min(remaining, block) * SECTOR), True, wrote_block)

        def wrote_block() -> None:
            n = len(drive.buffer) // SECTOR
            if lba + n > drive.image.sectors:
                self._abort(drive)
                return
            drive.image.write(lba, bytes(drive.buffer))
            self.counters.sectors_written += n
            advance(n)
            if remaining == 0:
                self._finish(drive)
            else:
                ask_block()
            self._raise()

        if write:
            ask_block()  # no interrupt before the first block (ATA/ATAPI-6 9.8, PIO data-out)
        else:
            read_block()

    def cmd_read(self, drive: AtaDrive, op: int) -> None:
        self._transfer(drive, False, op == 0x24, 1)

    def cmd_write(self, drive: AtaDrive, op: int) -> None:
        self._transfer(drive, True, op == 0x34, 1)

    def cmd_read_multiple(self, drive: AtaDrive, op: int) -> None:
        if not drive.mult:
            self._abort(drive)
            return
        self._transfer(drive, False, op == 0x29, drive.mult)

    def cmd_write_multiple(self, drive: AtaDrive, op: int) -> None:
        if not drive.mult:
            self._abort(drive)
            return
        self._transfer(drive, True, op == 0x39, drive.mult)

    def cmd_set_multiple(self, drive: AtaDrive, _op: int) -> None:
        n = self.nsector
        if n > MAX_MULT_SECTORS or n & (n - 1):
            self._abort(drive)
            return
        drive.mult = n
        self._done(drive)

    def cmd_nondata(self, drive: AtaDrive, _op: int) -> None:
        """Commands with nothing to do on an emulated disk: recalibrate, seek, flush,
        initialize device parameters, set features, idle, read verify."""
        self._done(drive)

    def command(self, op: int) -> None:
        drive = self.drive
        if drive is None:
            return  # commands to an absent device are ignored
        if drive.status & (BSY | DRQ):
            return  # only DEVICE RESET (ATAPI) is taken while BSY or DRQ (QEMU's ide_exec_cmd)
        name, handler = _COMMANDS.get(op, ("unknown", None))
        self.counters.commands[name] = self.counters.commands.get(name, 0) + 1
        self._lower()
        if handler is None:
            self._abort(drive)
        else:
            handler(self, drive, op)

    # -- the data register ------------------------------------------------------------------
    def read_string(self, port: int, size: int, count: int) -> bytes:
        """``count`` reads of ``size`` bytes from ``port`` at once, as bytes."""
        if port != self.base or size == 1:
            return b"".join(self.io_read(port, size).to_bytes(size, "little") for _ in range(count))
        out = bytearray()
        want = count * size
        self.counters.string_transfers += 1
        while len(out) < want:
            drive = self.drive
            if drive is None or not drive.status & DRQ or drive.writing:
                out += bytes(want - len(out))
                break
            take = min(want - len(out), (len(drive.buffer) - drive.pos) // size * size)
            if take <= 0:
                out += bytes(want - len(out))
                break
            out += drive.buffer[drive.pos:drive.pos + take]
            drive.pos += take
            if drive.pos >= len(drive.buffer):
                self._end_block(drive)
        return bytes(out)

    def write_string(self, port: int, size: int, data: bytes) -> None:
        """Writes of ``size``-byte elements of ``data`` to ``port`` at once."""
        if port != self.base or size == 1:
            for i in range(0, len(data), size):
                self.io_write(port, size, int.from_bytes(data[i:i + size], "little"))
            return
        self.counters.string_transfers += 1
        at = 0
        while at < len(data):
            drive = self.drive
            if drive is None or not drive.status & DRQ or not drive.writing:
                return
            buf = drive.buffer
            assert isinstance(buf, bytearray)
            take = min(len(data) - at, (len(buf) - drive.pos) // size * size)
            if take <= 0:
                return
            buf[drive.pos:drive.pos + take] = data[at:at + take]
            drive.pos += take
            at += take
            if drive.pos >= len(buf):
                self._end_block(drive)

    def _end_block(self, drive: AtaDrive) -> None:
        drive.status &= ~DRQ
        if drive.on_end is not None:
            drive.on_end()

    def _data_read(self, size: int) -> int:
        if size == 1:
            return 0xFF
        return int.from_bytes(self.read_string(self.base, size, 1), "little")

    def _data_write(self, size: int, value: int) -> None:
        if size != 1:
            self.write_string(self.base, size, value.to_bytes(size, "little"))

    # -- ports ----------------------------------------------------------------------------------
    def _status(self) -> int:
        if self.empty or (self.unit and self.drives[1] is None):
            return 0
        drive = self.drive
        return drive.status if drive is not None else 0

    def io_read(self, port: int, size: int) -> int:
        if port == self.ctrl_port:
            return self._status()
        reg = port - self.base
        if reg == 0:
            return self._data_read(size)
        if reg == 7:
            self._lower()
            return self._status()
        if self.empty:
            return 0
        hob = bool(self.control & 0x80)
        if reg == 1:
            if hob:
                return self.hob[4]
            drive = self.drive
            return drive.error if drive is not None else 0
        if reg == 6:
            return self.select
        regs = (self.nsector, self.sector, self.lcyl, self.hcyl)
        return self.hob[reg - 2] if hob else regs[reg - 2]

    def io_write(self, port: int, size: int, value: int) -> None:
        if port == self.ctrl_port:
            self._write_control(value & 0xFF)
            return
        reg = port - self.base
        if reg == 0:
            self._data_write(size, value)
            return
        value &= 0xFF
        self.control &= ~0x80  # a task-file write clears HOB
        if reg == 1:
            self.hob[4], self.feature = self.feature, value
        elif 2 <= reg <= 5:
            regs = [self.nsector, self.sector, self.lcyl, self.hcyl]
            self.hob[reg - 2] = regs[reg - 2]
            regs[reg - 2] = value
            self.nsector, self.sector, self.lcyl, self.hcyl = regs
        elif reg == 6:
            self.select = value | 0xA0
        else:
            self.command(value)

    def _write_control(self, value: int) -> None:
        """Device control. SRST: QEMU 7.2 resets both drives as soon as the bit is set
        (a bottom half that has run before the guest's next read), leaving DRDY|DSC,
        diagnostic code 1 in the error register and the ATA signature (ATA/ATAPI-6 9.12:
        sector count 1, LBA low 1, LBA mid/high 0, device 0xA0)."""
        if value & SRST and not self.control & SRST:
            self.counters.commands["soft_reset"] = self.counters.commands.get("soft_reset", 0) + 1
            for drive in self.drives:
                if drive is not None:
                    drive.reset()
                    drive.error = 0x01
            self.feature = 0
            self.hob = [0, 0, 0, 0, 0]
            self.select = 0xA0
            self.nsector, self.sector, self.lcyl, self.hcyl = 1, 1, 0, 0
        self.control = value

    def close(self) -> None:
        for drive in self.drives:
            if drive is not None:
                drive.image.close()


_Handler = Callable[[IdeChannel, AtaDrive, int], None]
#: ATA commands (ATA/ATAPI-6 section 8): opcode -> (name, handler); others abort.
_COMMANDS: dict[int, tuple[str, _Handler]] = {
    0xEC: ("identify", IdeChannel.cmd_identify),
    0x20: ("read_sectors", IdeChannel.cmd_read),
    0x21: ("read_sectors", IdeChannel.cmd_read),
    0x24: ("read_sectors_ext", IdeChannel.cmd_read),
    0x30: ("write_sectors", IdeChannel.cmd_write),
    0x31: ("write_sectors", IdeChannel.cmd_write),
    0x34: ("write_sectors_ext", IdeChannel.cmd_write),
    0xC4: ("read_multiple", IdeChannel.cmd_read_multiple),
    0x29: ("read_multiple_ext", IdeChannel.cmd_read_multiple),
    0xC5: ("write_multiple", IdeChannel.cmd_write_multiple),
    0x39: ("write_multiple_ext", IdeChannel.cmd_write_multiple),
    0xC6: ("set_multiple_mode", IdeChannel.cmd_set_multiple),
    0x40: ("read_verify", IdeChannel.cmd_nondata),  # no range check, registers kept (QEMU)
    0x41: ("read_verify", IdeChannel.cmd_nondata),
    0x42: ("read_verify_ext", IdeChannel.cmd_nondata),
    0x10: ("recalibrate", IdeChannel.cmd_nondata),
    0x70: ("seek", IdeChannel.cmd_nondata),
    0x91: ("initialize_device_parameters", IdeChannel.cmd_nondata),
    0xE7: ("flush_cache", IdeChannel.cmd_nondata),
    0xEA: ("flush_cache_ext", IdeChannel.cmd_nondata),
    0xEF: ("set_features", IdeChannel.cmd_nondata),
    0xE0: ("standby_immediate", IdeChannel.cmd_nondata),
    0xE1: ("idle_immediate", IdeChannel.cmd_nondata),
}
