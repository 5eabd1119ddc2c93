"""``rep ins`` / ``rep outs`` on the bare machine in one step, not one Python trip per element.

Unicorn runs a repeated string I/O instruction one element per pass and calls
the machine's IN/OUT hook for each (``shared/notes/unicorn.md``, "I/O"): a
sector read with ``rep insw`` costs 256 hook calls. On the first call the
machine moves the remaining elements itself, through the port bus's string
access (:meth:`runtime.pc.devices.base.PortBus.read_string`, one call into the
device) and the guest's page tables, and leaves unicorn a single element:

- ``ins`` (QEMU's ``gen_ins``, which unicorn 2.1.4 keeps): the destination
  address is computed before the hook, the hook's value is stored there, then
  EDI advances by one element and ECX drops by one. So the hook returns the
  first element, stores elements 2..n after it, and sets EDI to the last
  element's address and ECX to 1.
- ``outs`` (``gen_outs``): the hook receives the first element; the machine
  reads elements 2..n from memory, writes them all to the device, and sets
  ESI and ECX the same way.

The instruction clock stays what unicorn's per-element passes would charge:
the block hook counts one instruction per pass, so the passes the batch
saves (n - 1) are added to it. The batch stops before a page that does not
translate for the access (the remaining elements then run one by one and
fault where the processor would) or leaves RAM; it applies only to 32-bit
address size with DF = 0, the case of every driver, and to ports whose device
moves strings in one step (``PortBus.has_string_access``: the IDE data port):
finding out whether an IN/OUT is a rep string instruction costs microseconds,
too much for every port access of a guest polling a timer. Anything else runs
per element as before. Writes into memory go past unicorn's stores, so the
translated blocks of the pages written are dropped (``ctl_remove_cache``):
a driver may read a program into pages that held code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from unicorn import Uc
from unicorn import x86_const as X

from runtime.pc.cpustate import SEG_CS, SEG_DS, SEG_ES, SEG_FS, SEG_GS, SEG_SS, CpuState
from runtime.pc.devices.base import PortBus
from runtime.pc.paging import GuestMemory, PageFault, PhysicalAccessError
from runtime.pc.x86 import DF, PAGE_SIZE

_SEGMENT_PREFIX = {0x26: SEG_ES, 0x2E: SEG_CS, 0x36: SEG_SS, 0x3E: SEG_DS, 0x64: SEG_FS,
                   0x65: SEG_GS}
_PREFIXES = frozenset((0xF0, 0xF2, 0xF3, 0x66, 0x67, *_SEGMENT_PREFIX))
_INS, _OUTS = frozenset((0x6C, 0x6D)), frozenset((0x6E, 0x6F))
_CS_D = 1 << 22  # D/B bit of a code segment's descriptor flags (32-bit default size)
MASK32 = 0xFFFFFFFF


@dataclass
class StringIoStats:
    batches: int = 0
    elements: int = 0  # elements moved by batches (beyond unicorn's own one per batch)


@dataclass(frozen=True)
class StringInsn:
    """A decoded ``rep ins``/``rep outs``: direction and the source segment of outs."""

    is_in: bool
    segment: int


def decode(code: bytes) -> StringInsn | None:
    """The batchable string I/O instruction at the start of ``code``, or None (not one,
    no rep prefix, or a 16-bit address size)."""
    rep = False
    segment = SEG_DS
    for byte in code:
        if byte in _PREFIXES:
            if byte == 0x67:
                return None
            rep |= byte in (0xF2, 0xF3)
            segment = _SEGMENT_PREFIX.get(byte, segment)
            continue
        if not rep:
            return None
        if byte in _INS:
            return StringInsn(True, SEG_ES)
        if byte in _OUTS:
            return StringInsn(False, segment)
        return None
    return None


class StringIo:
    """The batching of one machine: ``uc``, its CPU state, guest memory and port bus."""

    def __init__(self, uc: Uc, cpu: CpuState, mem: GuestMemory, bus: PortBus,
                 read_code: Callable[[int, int], bytes]) -> None:
        self.uc, self.cpu, self.mem, self.bus = uc, cpu, mem, bus
        self._read_code = read_code
        self.stats = StringIoStats()
        self._owed = 0

    def take_owed(self) -> int:
        """The passes the last batch saved, for the instruction clock (then 0)."""
        owed, self._owed = self._owed, 0
        return owed

    def _plan(self, eip: int, length: int) -> tuple[StringInsn, int, int] | None:
        """(instruction, ECX, linear address of the first element) if a batch applies."""
        uc = self.uc
        count = uc.reg_read(X.UC_X86_REG_ECX)
        if count < 2 or uc.reg_read(X.UC_X86_REG_EFLAGS) & DF:
            return None
        self.cpu.load()
        if not self.cpu.seg(SEG_CS).flags & _CS_D:
            return None
        try:
            insn = decode(self._read_code(eip, length))
        except (PageFault, PhysicalAccessError):
            return None
        if insn is None:
            return None
        index = uc.reg_read(X.UC_X86_REG_EDI if insn.is_in else X.UC_X86_REG_ESI)
        return insn, count, (self.cpu.seg(insn.segment).base + index) & MASK32

    def _pieces(self, linear: int, nbytes: int, write: bool) -> list[tuple[int, int, int]]:
        """(linear, physical, length) of the pages of [linear, linear + nbytes) that translate
        for the access and lie in RAM, up to the first that does not."""
        user = self.cpu.cpl == 3
        out: list[tuple[int, int, int]] = []
        pos = 0
        while pos < nbytes:
            at = (linear + pos) & MASK32
            chunk = min(nbytes - pos, PAGE_SIZE - (at & (PAGE_SIZE - 1)))
            try:
                paddr = self.mem.translate(at, write=write, user=user)
            except PageFault:
                break
            if paddr + chunk > self.mem.ram_size:
                break
            out.append((at, paddr, chunk))
            pos += chunk
        return out

    def _commit(self, insn: StringInsn, extra: int, size: int, count: int) -> None:
        reg = X.UC_X86_REG_EDI if insn.is_in else X.UC_X86_REG_ESI
        uc = self.uc
        uc.reg_write(reg, (uc.reg_read(reg) + extra * size) & MASK32)
        uc.reg_write(X.UC_X86_REG_ECX, count - extra)
        self._owed += extra
        self.stats.batches += 1
        self.stats.elements += extra

    def rep_in(self, eip: int, length: int, port: int, size: int) -> int | None:
        """The first element of a batched ``rep ins`` (the rest already stored), or None."""
        plan = self._plan(eip, length)
        if plan is None:
            return None
        insn, count, linear = plan
        pieces = self._pieces((linear + size) & MASK32, (count - 1) * size, write=True)
        extra = sum(n for _, _, n in pieces) // size
        if extra == 0:
            return None
        data = self.bus.read_string(port, size, 1 + extra)
        pos = size
        for at, paddr, n in pieces:
            n = min(n, len(data) - pos)
            if n <= 0:
                break
            self.uc.mem_write(paddr, data[pos:pos + n])
            self.uc.ctl_remove_cache(at, at + n)
            pos += n
        self._commit(insn, extra, size, count)
        return int.from_bytes(data[:size], "little")

    def rep_out(self, eip: int, length: int, port: int, size: int, first: int) -> bool:
        """Write the first element and the rest of a batched ``rep outs``; False: no batch."""
        plan = self._plan(eip, length)
        if plan is None:
            return False
        insn, count, linear = plan
        pieces = self._pieces((linear + size) & MASK32, (count - 1) * size, write=False)
        extra = sum(n for _, _, n in pieces) // size
        if extra == 0:
            return False
        data = bytearray(first.to_bytes(size, "little"))
        for _, paddr, n in pieces:
            data += self.uc.mem_read(paddr, n)
        self.bus.write_string(port, size, bytes(data[:(1 + extra) * size]))
        self._commit(insn, extra, size, count)
        return True
