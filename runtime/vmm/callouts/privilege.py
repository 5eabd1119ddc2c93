"""Privilege checks made before a callout emulates its instruction, against the guest's CPL.

Translated code runs at real CPL 1 whatever the guest's CPL (0, 1 or 2), so
the processor's own checks cannot tell the guest's rings 0, 1 and 2 apart:
a callout is where the guest's CPL (kept in the virtual CPU) is applied, as
the SDM orders it, before the instruction does anything:

* the privileged instructions (SDM vol 3A, 5.9: lgdt, lidt, lldt, ltr, mov to
  and from CRn and DRn, lmsw, clts, invlpg, invd, wbinvd, hlt, rdmsr, wrmsr)
  raise #GP(0) at CPL > 0, ahead of any operand check (QEMU checks CPL before it
  decodes the control register number, as unicorn does);
* rdtsc raises #GP(0) at CPL > 0 while CR4.TSD is set (SDM vol 2, RDTSC);
* in, out, ins and outs are allowed at CPL <= IOPL, else only when the TSS
  I/O permission bitmap clears every bit of the accessed ports (SDM vol 1,
  19.5 and 19.5.2; the bit past the map's end counts as set), else #GP(0).

cli, sti and popf need no check here: they stay IDENT, and the real IOPL
the virtual CPU chooses for the guest's CPL makes the real processor decide
as the guest's would (:meth:`runtime.vmm.vcpu.VirtualCpu.real_iopl`); the
far transfers, gates, segment loads and descriptor checks carry the guest's
CPL into :mod:`runtime.vmm.segments` themselves.

A check is a row of :data:`CHECKS`: a handler name of
:mod:`runtime.vmm.callouts.table` -> the function that raises the fault.
"""

from __future__ import annotations

from collections.abc import Callable

from capstone import x86_const as C
from unicorn import x86_const as X

from bt.rewrite import CalloutSite
from runtime.pc.delivery import Fault
from runtime.pc.portio import io_bitmap_allows
from runtime.pc.x86 import CR4_TSD, Vector
from runtime.vmm.callouts.host import CalloutHost

Check = Callable[[CalloutHost, CalloutSite], None]


def cpl0(mon: CalloutHost, co: CalloutSite) -> None:
    """A privileged instruction: #GP(0) unless the guest runs at CPL 0 (SDM vol 3A, 5.9)."""
    if mon.vcpu.v.cpl:
        raise Fault(Vector.GP, 0)


def rdtsc(mon: CalloutHost, co: CalloutSite) -> None:
    """RDTSC: #GP(0) at CPL > 0 while CR4.TSD is set (SDM vol 2, RDTSC)."""
    if mon.vcpu.v.cpl and mon.vcpu.v.cr[4] & CR4_TSD:
        raise Fault(Vector.GP, 0)


_STRING_SIZE = {C.X86_INS_INSB: 1, C.X86_INS_OUTSB: 1, C.X86_INS_INSW: 2, C.X86_INS_OUTSW: 2,
                C.X86_INS_INSD: 4, C.X86_INS_OUTSD: 4}


def port_access(mon: CalloutHost, co: CalloutSite) -> None:
    """in/out/ins/outs: CPL <= IOPL, or the TSS I/O permission bitmap (SDM vol 1, 19.5)."""
    v = mon.vcpu.v
    if v.cpl <= v.iopl:
        return
    insn = co.ginsn.insn  # type: ignore[union-attr]
    size = _STRING_SIZE.get(insn.id)
    if size is None:  # in/out: the data register's size; the port an imm8 or DX
        ops = insn.operands
        port_op, data = (ops[1], ops[0]) if insn.id == C.X86_INS_IN else (ops[0], ops[1])
        size = data.size
        port = (port_op.imm & 0xFF if port_op.type == C.X86_OP_IMM
                else mon.cpu.reg(X.UC_X86_REG_EDX) & 0xFFFF)
    else:
        port = mon.cpu.reg(X.UC_X86_REG_EDX) & 0xFFFF
    tr = mon.vcpu.v.tr
    if not io_bitmap_allows(mon.mem.read, tr.base, tr.limit, port, size):
        raise Fault(Vector.GP, 0)


CHECKS: dict[str, Check] = {
    **{name: cpl0 for name in ("lgdt", "lidt", "lldt", "ltr", "mov crN", "mov drN", "clts",
                               "lmsw", "invlpg", "wbinvd", "invd", "hlt", "rdmsr", "wrmsr")},
    "rdtsc": rdtsc,
    "in": port_access, "out": port_access, "ins": port_access, "outs": port_access,
}


def check(mon: CalloutHost, co: CalloutSite) -> None:
    """Raise the fault the guest's CPL and IOPL give the instruction of ``co``, if any."""
    rule = CHECKS.get(co.handler)
    if rule is not None:
        rule(mon, co)
