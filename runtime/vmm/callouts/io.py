"""Port I/O: in, out, ins, outs (with rep), against the port bus.

The I/O permission check against the guest's CPL, IOPL and TSS bitmap is
made before the handler runs (:mod:`runtime.vmm.callouts.privilege`); a callout reads
or writes the device and, as the bare machine's I/O hooks do, lets a raised
interrupt or a moved device deadline stop the run at the next block start.
"""

from __future__ import annotations

from capstone import CsInsn
from capstone import x86_const as C
from unicorn import x86_const as X

from bt.rewrite import CalloutSite
from runtime.pc.cpustate import SEG_ES
from runtime.pc.x86 import DF, PAGE_SIZE
from runtime.vmm.callouts.host import CalloutHost
from runtime.vmm.callouts.operands import MASK32, SEG_INDEX, read_reg, write_reg


def _port_and_size(mon: CalloutHost, insn: CsInsn) -> tuple[int, int, int]:
    """(port, size, index of the data register operand) for in/out."""
    ops = insn.operands
    if insn.id == C.X86_INS_IN:
        data, port_op = ops[0], ops[1]
        di = 0
    else:
        port_op, data = ops[0], ops[1]
        di = 1
    port = port_op.imm & 0xFF if port_op.type == C.X86_OP_IMM else mon.cpu.reg(X.UC_X86_REG_EDX) & 0xFFFF
    return port, data.size, di


def port_in(mon: CalloutHost, co: CalloutSite) -> bool:
    insn = co.ginsn.insn  # type: ignore[union-attr]
    port, size, di = _port_and_size(mon, insn)
    write_reg(mon, insn, insn.operands[di].reg, mon.bus.read(port, size))
    mon.after_io()
    return False


def port_out(mon: CalloutHost, co: CalloutSite) -> bool:
    insn = co.ginsn.insn  # type: ignore[union-attr]
    port, size, di = _port_and_size(mon, insn)
    mon.bus.write(port, size, read_reg(mon, insn, insn.operands[di].reg))
    mon.after_io()
    return False


def string_io(mon: CalloutHost, co: CalloutSite) -> bool:
    """ins/outs, with rep (SDM vol 2, INS/OUTS): the elements that fit in one page move as
    one string through the port bus (one device call, one memory access), not one Python
    step per element. A page that does not translate faults with ECX and the index register
    counting the elements done, before the device is touched for it (QEMU probes the
    destination first in the same way)."""
    insn = co.ginsn.insn  # type: ignore[union-attr]
    size = {C.X86_INS_INSB: 1, C.X86_INS_OUTSB: 1, C.X86_INS_INSW: 2, C.X86_INS_OUTSW: 2}.get(insn.id, 4)
    is_in = insn.id in (C.X86_INS_INSB, C.X86_INS_INSW, C.X86_INS_INSD)
    rep = insn.prefix[0] in (0xF2, 0xF3)
    port = mon.cpu.reg(X.UC_X86_REG_EDX) & 0xFFFF
    down = bool(mon.cpu.reg(X.UC_X86_REG_EFLAGS) & DF)
    count = mon.cpu.reg(X.UC_X86_REG_ECX) if rep else 1
    if rep and count:  # the native clock counts every iteration of a rep string instruction
        mon.counter.insns += count  # and the pass with ECX = 0 that leaves it (unicorn)
    index_reg = X.UC_X86_REG_EDI if is_in else X.UC_X86_REG_ESI
    if is_in:
        seg = mon.vcpu.seg(SEG_ES).base
    else:
        mem_ops = [op for op in insn.operands if op.type == C.X86_OP_MEM]
        seg_reg = mem_ops[0].mem.segment if mem_ops and mem_ops[0].mem.segment else C.X86_REG_DS
        seg = mon.vcpu.seg(SEG_INDEX[seg_reg]).base
    while count:
        index = mon.cpu.reg(index_reg)
        linear = (seg + index) & MASK32
        # elements up to the end of this page (one at a time going down, or across a page)
        n = 1 if down else max(1, min(count, (PAGE_SIZE - (linear & (PAGE_SIZE - 1))) // size))
        if is_in:
            if n > 1:
                mon.mem.translate(linear, write=True)  # fault before the device is read
            mon.mem.write(linear, mon.bus.read_string(port, size, n))
        else:
            mon.bus.write_string(port, size, mon.mem.read(linear, n * size))
        mon.cpu.set_reg(index_reg, (index + (-n if down else n) * size) & MASK32)
        count -= n
        if rep:
            mon.cpu.set_reg(X.UC_X86_REG_ECX, count)
    mon.after_io()
    return False
