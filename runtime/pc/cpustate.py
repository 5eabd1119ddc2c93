"""Unicorn's saved CPU context, read and patched where the API falls short.

Unicorn never delivers exceptions through the guest IDT and offers no way
to load a segment register's hidden descriptor cache or change the CPL; it
also never clears its "exception in flight" field, so that after a hooked
fault the next contributory fault would arrive as #DF (see
``shared/notes/unicorn.md``). All three are fields of QEMU's
``CPUX86State``, which ``uc_context_save`` copies into a blob. This module
finds the fields' offsets at start-up by experiment (never trusting a
hard-coded number), fails loudly when it cannot, and edits the blob in
place through one reused :class:`unicorn.UcContext`.

Layout assumed and verified (QEMU 5 ``CPUX86State``, x86_64 target):
``segs[6]`` (ES, CS, SS, DS, FS, GS), ``ldt``, ``tr``, ``gdt``, ``idt``,
each a ``SegmentCache {u32 selector; u64 base; u32 limit; u32 flags}`` of
24 bytes, preceded by ``u32 hflags, hflags2`` and followed by ``cr[5]``.
"""

from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass
from functools import cache

from unicorn import UC_ARCH_X86, UC_HOOK_INTR, UC_MODE_32, Uc
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import UcContext, uclib

from runtime.pc.x86 import Descriptor

SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDT, SEG_TR, SEG_GDT, SEG_IDT = range(10)
SEG_NAMES = ("es", "cs", "ss", "ds", "fs", "gs")
SEGCACHE = struct.Struct("<IxxxxQII")  # selector, base, limit, flags: 24 bytes

# QEMU hflags bits (target/i386/cpu.h)
HF_CPL_MASK = 3
HF_INHIBIT_IRQ = 1 << 3
HF_CS32 = 1 << 4
HF_SS32 = 1 << 5
HF_ADDSEG = 1 << 6


class CpuStateError(RuntimeError):
    """The unicorn build does not have the context layout this module needs."""


@dataclass(frozen=True)
class Offsets:
    error_code: int
    exception_is_int: int
    old_exception: int
    hflags: int
    segs: int
    cr: int


@dataclass
class SegCache:
    selector: int
    base: int
    limit: int
    flags: int

    @classmethod
    def from_descriptor(cls, selector: int, desc: Descriptor) -> SegCache:
        return cls(selector, desc.base, desc.limit, desc.high)


def _desc(base: int, limit: int, access: int, flags: int) -> bytes:
    return struct.pack("<HHBBBB", limit & 0xFFFF, base & 0xFFFF, (base >> 16) & 0xFF, access,
                       ((limit >> 16) & 0xF) | (flags << 4), base >> 24)


@cache
def discover_offsets() -> Offsets:
    """Find the context fields by diffing blobs around known events in a scratch engine."""
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, 0x20000)
    gdt = b"".join([
        _desc(0, 0, 0, 0),
        _desc(0, 0xFFFFF, 0x9A, 0xC),
        _desc(0, 0xFFFFF, 0x92, 0xC),
        _desc(0x00345000, 0x6789, 0x92, 0x4),   # 0x18: a data segment with odd base/limit
        _desc(0x3000, 0x67, 0x89, 0),           # 0x20: a TSS (not loadable into DS: #GP(0x20))
    ])
    uc.mem_write(0x1000, gdt)
    uc.reg_write(X.UC_X86_REG_GDTR, (0, 0x1000, len(gdt) - 1, 0))
    uc.reg_write(X.UC_X86_REG_IDTR, (0, 0x2000, 0x7FF, 0))
    uc.reg_write(X.UC_X86_REG_CS, 0x08)
    uc.reg_write(X.UC_X86_REG_SS, 0x10)
    uc.reg_write(X.UC_X86_REG_DS, 0x18)
    uc.reg_write(X.UC_X86_REG_CR3, 0x5000)
    uc.reg_write(X.UC_X86_REG_ESP, 0x8000)
    uc.hook_add(UC_HOOK_INTR, lambda u, n, d: u.emu_stop())

    def blob() -> bytes:
        return bytes(uc.context_save())

    # int 0x41 (cd 41) sets exception_is_int; mov ds, 0x20 (66 b8 20 00 8e d8) raises #GP(0x20)
    uc.mem_write(0x10000, b"\xcd\x41\xf4")
    uc.mem_write(0x10100, b"\x66\xb8\x20\x00\x8e\xd8\xf4")
    b0 = blob()
    uc.emu_start(0x10000, 0x10003)
    b1 = blob()
    uc.emu_start(0x10100, 0x10107)
    b2 = blob()

    def u32(b: bytes, off: int) -> int:
        return struct.unpack_from("<I", b, off)[0]

    low = 256  # skip the general registers at the start
    err = [o for o in range(low, len(b0) - 4, 4) if u32(b1, o) != 0x20 and u32(b2, o) == 0x20]
    old = [o for o in range(low, len(b0) - 4, 4)
           if u32(b1, o) == 0xFFFFFFFF and u32(b2, o) == 13]
    isint = [o for o in range(low, len(b0) - 4, 4) if u32(b0, o) == 0 and u32(b1, o) == 1]
    ds_pattern = SEGCACHE.pack(0x18, 0x00345000, 0x6789, _desc_high(0x00345000, 0x6789, 0x92, 0x4))
    ds_at = [o for o in range(0, len(b2) - 24, 4) if b2[o:o + 24] == ds_pattern]
    if len(err) != 1 or len(old) != 1 or not ds_at or err[0] + 4 not in isint:
        raise CpuStateError(
            f"unicorn context layout not recognised (error_code {err}, old_exception {old}, "
            f"exception_is_int {isint}, DS cache {ds_at}): pin unicorn 2.1.4"
        )
    segs = ds_at[0] - SEG_DS * SEGCACHE.size
    cr = segs + 10 * SEGCACHE.size
    offs = Offsets(err[0], err[0] + 4, old[0], segs - 8, segs, cr)
    # verify: CS cache, GDTR, IDTR, CR3 and hflags where the layout says they are
    cs = SEGCACHE.unpack_from(b2, segs + SEG_CS * 24)
    gdt_c = SEGCACHE.unpack_from(b2, segs + SEG_GDT * 24)
    idt_c = SEGCACHE.unpack_from(b2, segs + SEG_IDT * 24)
    cr3 = struct.unpack_from("<Q", b2, cr + 3 * 8)[0]
    hflags = u32(b2, offs.hflags)
    if (cs[0] != 8 or gdt_c[1:3] != (0x1000, len(gdt) - 1) or idt_c[1:3] != (0x2000, 0x7FF)
            or cr3 != 0x5000 or hflags & (HF_CPL_MASK | HF_CS32 | HF_SS32) != HF_CS32 | HF_SS32):
        raise CpuStateError("unicorn context layout not recognised (segment caches): "
                            "pin unicorn 2.1.4")
    return offs


def _desc_high(base: int, limit: int, access: int, flags: int) -> int:
    return struct.unpack("<I", _desc(base, limit, access, flags)[4:])[0] | 0x100  # accessed bit


class CpuState:
    """A reused context blob of one engine, with typed access to the fields above.

    ``load()`` copies the live CPU into the blob, ``store()`` copies it back;
    between the two, the accessors read and patch fields. Must not be used
    while another piece of code holds a stale copy of the same engine's blob.
    """

    def __init__(self, uc: Uc) -> None:
        self.uc = uc
        self.off = discover_offsets()
        self.ctx: UcContext = uc.context_save()
        addr = ctypes.cast(self.ctx.context, ctypes.c_void_p).value
        assert addr is not None
        self.buf = (ctypes.c_char * self.ctx.size).from_address(addr)
        self.view = memoryview(self.buf).cast("B")

        self._value = ctypes.c_uint64()
        self._value_ref = ctypes.byref(self._value)

    def reg(self, regid: int) -> int:
        """One general or flags register through the C API (0.4 us; the binding's
        ``reg_read`` costs 2.7 us): for EIP, ESP, EFLAGS on the exception path."""
        self._value.value = 0
        uclib.uc_reg_read(self.uc._uch, regid, self._value_ref)
        return self._value.value & 0xFFFFFFFF

    def set_reg(self, regid: int, value: int) -> None:
        self._value.value = value & 0xFFFFFFFF
        uclib.uc_reg_write(self.uc._uch, regid, self._value_ref)

    def load(self) -> None:
        self.uc.context_update(self.ctx)

    def store(self) -> None:
        self.uc.context_restore(self.ctx)

    def _u32(self, off: int) -> int:
        return struct.unpack_from("<I", self.view, off)[0]

    def _put32(self, off: int, value: int) -> None:
        struct.pack_into("<I", self.view, off, value & 0xFFFFFFFF)

    # exception bookkeeping
    @property
    def error_code(self) -> int:
        return self._u32(self.off.error_code)

    @property
    def exception_is_int(self) -> bool:
        return self._u32(self.off.exception_is_int) != 0

    @property
    def exception_in_flight(self) -> bool:
        return self._u32(self.off.old_exception) != 0xFFFFFFFF

    def clear_exception_in_flight(self) -> None:
        """Write -1 to ``old_exception`` (unicorn never does; see the module docstring)."""
        self._put32(self.off.old_exception, 0xFFFFFFFF)

    # segment caches (including LDTR, TR, GDTR, IDTR)
    def seg(self, index: int) -> SegCache:
        return SegCache(*SEGCACHE.unpack_from(self.view, self.off.segs + index * SEGCACHE.size))

    def set_seg(self, index: int, cache: SegCache) -> None:
        SEGCACHE.pack_into(self.view, self.off.segs + index * SEGCACHE.size,
                           cache.selector, cache.base, cache.limit, cache.flags)
        if index in (SEG_DS, SEG_ES, SEG_SS):
            self._update_addseg()

    def _update_addseg(self) -> None:
        """QEMU adds the DS/ES/SS bases in translated code only while HF_ADDSEG says one is
        non-zero (cpu_x86_load_seg_cache keeps it); a cache loaded through the blob must
        keep it too, or a based DS is silently ignored."""
        h = self.hflags & ~HF_ADDSEG
        if self.seg(SEG_DS).base | self.seg(SEG_ES).base | self.seg(SEG_SS).base:
            h |= HF_ADDSEG
        self._put32(self.off.hflags, h)

    def set_cr2(self, value: int) -> None:
        """CR2 as a #PF sets it (the blob is reloaded to stay in step with the register)."""
        self.uc.reg_write(X.UC_X86_REG_CR2, value)
        self.load()

    def cr(self, n: int) -> int:
        return struct.unpack_from("<Q", self.view, self.off.cr + 8 * n)[0] & 0xFFFFFFFF

    @property
    def hflags(self) -> int:
        return self._u32(self.off.hflags)

    @property
    def cpl(self) -> int:
        return self.hflags & HF_CPL_MASK

    @property
    def interrupt_shadow(self) -> bool:
        """True right after sti or mov ss: interrupts are held for one instruction."""
        return bool(self.hflags & HF_INHIBIT_IRQ)

    def hold_interrupts(self) -> None:
        """Start an interrupt shadow, as mov ss / pop ss do (the next block is cut to one
        instruction and clears it)."""
        self._put32(self.off.hflags, self.hflags | HF_INHIBIT_IRQ)

    def end_interrupt_shadow(self) -> None:
        self._put32(self.off.hflags, self.hflags & ~HF_INHIBIT_IRQ)

    def load_code_and_stack(self, cs: SegCache, ss: SegCache, cpl: int) -> None:
        """Load CS and SS caches and the CPL together, as a privilege change does.

        Mirrors QEMU's ``cpu_x86_load_seg_cache`` for the hflags it derives
        in 32-bit protected mode: CPL, CS32, SS32 and ADDSEG.
        """
        self.set_seg(SEG_CS, cs)
        self.set_seg(SEG_SS, ss)
        h = self.hflags & ~(HF_CPL_MASK | HF_CS32 | HF_SS32 | HF_ADDSEG)
        h |= cpl & 3
        if cs.flags & (1 << 22):
            h |= HF_CS32
        if ss.flags & (1 << 22):
            h |= HF_SS32
        if self.seg(SEG_DS).base | self.seg(SEG_ES).base | ss.base:
            h |= HF_ADDSEG
        self._put32(self.off.hflags, h)
