"""Exception and interrupt delivery through the guest IDT: the part of the CPU unicorn lacks.

Unicorn reports every exception and ``int n`` to a hook and goes on; the
machine must do what the processor does (SDM vol 3A, 6.12 "Exception and
Interrupt Handling"): read the gate, check it (6.12.1.1, 5.8), switch to
the inner stack named by the TSS on a privilege change (6.12.1, 7.2.1),
push the frame with the error code (6.13), clear TF/NT/RF/VM and, for an
interrupt gate, IF; and escalate a fault raised during delivery into a
double fault or a triple fault (6.15, table 6-5).

Task gates and virtual-8086 mode are not supported: they end the run with
a clear report (:class:`Unsupported`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from unicorn import Uc
from unicorn import x86_const as X

from runtime.pc.cpustate import (
    SEG_CS,
    SEG_GDT,
    SEG_IDT,
    SEG_LDT,
    SEG_SS,
    SEG_TR,
    CpuState,
    SegCache,
)
from runtime.pc.paging import GuestMemory, PageFault
from runtime.pc.x86 import (
    GATE_TYPES,
    IF,
    NT,
    RF,
    SYS_INT_GATE16,
    SYS_INT_GATE32,
    SYS_TASK_GATE,
    SYS_TRAP_GATE16,
    TF,
    VM,
    Descriptor,
    Vector,
    is_double_fault,
    tss32_stack_offset,
    vector_name,
)


class Fault(Exception):
    """An exception the processor raises while delivering another one."""

    def __init__(self, vector: int, error_code: int | None = None) -> None:
        super().__init__(f"{vector_name(vector)} ({error_code})")
        self.vector = vector
        self.error_code = error_code


class TripleFault(Exception):
    """A fault while delivering #DF: the processor shuts down (SDM 6.15, interrupt 8)."""

    def __init__(self, chain: list[str]) -> None:
        super().__init__("triple fault: " + " -> ".join(chain))
        self.chain = chain


class Unsupported(Exception):
    """The guest needs a feature the bare machine does not model (task gates, V86 mode)."""


@dataclass
class Event:
    """One exception or interrupt to deliver.

    ``eip`` is the return address pushed; ``insn_eip`` the address of the
    instruction that caused the event (equal to ``eip`` for faults and
    external interrupts), used when delivery itself faults. ``software``
    marks int n / int3 / into (gate DPL checked, EXT = 0); ``external``
    marks device interrupts and events raised by the processor while
    delivering another (EXT = 1 in error codes).
    """

    vector: int
    eip: int
    error_code: int | None = None
    insn_eip: int | None = None
    software: bool = False
    external: bool = False

    def describe(self) -> str:
        err = "" if self.error_code is None else f" error {self.error_code:#x}"
        kind = "int" if self.software else ("irq" if self.external else "exception")
        return f"{vector_name(self.vector)} ({kind}){err} at {self.insn_eip or self.eip:#010x}"


class InterruptDelivery:
    """Delivers :class:`Event` s into the guest, playing the processor.

    May run inside a unicorn hook or between runs; it loads the CPU context
    once, patches it and restores it, then writes ESP, EIP and EFLAGS.
    """

    def __init__(self, uc: Uc, cpu: CpuState, mem: GuestMemory) -> None:
        self.uc = uc
        self.cpu = cpu
        self.mem = mem
        self.delivered: dict[int, int] = {}
        self.double_faults = 0

    # --- public ------------------------------------------------------------
    def deliver(self, event: Event) -> None:
        """Deliver ``event``, escalating faults raised on the way (table 6-5).

        Raises :class:`TripleFault` when delivering #DF faults, and
        :class:`Unsupported` for task gates and V86 mode.
        """
        cpu = self.cpu
        cpu.load()
        chain = [event.describe()]
        if event.insn_eip is None:
            event.insn_eip = event.eip
        while True:
            try:
                self._deliver_once(event)
                self.delivered[event.vector] = self.delivered.get(event.vector, 0) + 1
                return
            except Fault as nested:
                if event.vector == Vector.DF and not event.software:
                    chain.append(f"{vector_name(nested.vector)} while delivering #DF")
                    raise TripleFault(chain) from None
                first = event.vector if not event.software else -1
                if first >= 0 and is_double_fault(first, nested.vector):
                    self.double_faults += 1
                    chain.append(f"{vector_name(nested.vector)} -> #DF")
                    event = Event(Vector.DF, event.insn_eip, 0, event.insn_eip, external=True)
                else:
                    chain.append(vector_name(nested.vector))
                    event = Event(nested.vector, event.insn_eip, nested.error_code,
                                  event.insn_eip, external=True)

    # --- the processor's steps -------------------------------------------------
    def _descriptor(self, selector: int, ext: int, vector: int = Vector.GP) -> Descriptor:
        """Read the descriptor a selector names from the GDT or LDT: past the limit, #GP(sel)
        for a gate's code selector, #TS(sel) for the inner SS from the TSS (SDM vol 2A INT n:
        "NewSS index not within its descriptor-table limits ... #TS(NewSS+EXT)")."""
        table = self.cpu.seg(SEG_LDT if selector & 4 else SEG_GDT)
        index = selector & 0xFFF8
        if index + 7 > table.limit or (selector & 4 and table.selector & 0xFFFC == 0):
            raise Fault(vector, (selector & 0xFFFC) | ext)
        return Descriptor.from_bytes(self._read(table.base + index, 8))

    def _read(self, linear: int, n: int) -> bytes:
        try:
            return self.mem.read(linear, n)
        except PageFault as pf:
            self._page_fault(pf)
            raise AssertionError from None

    def _write(self, linear: int, data: bytes) -> None:
        try:
            self.mem.write(linear, data)
        except PageFault as pf:
            self._page_fault(pf)

    def _page_fault(self, pf: PageFault) -> None:
        self.cpu.set_cr2(pf.cr2)
        raise Fault(Vector.PF, pf.error_code)

    def _deliver_once(self, ev: Event) -> None:
        cpu = self.cpu
        ext = 0 if ev.software else 1
        idt = cpu.seg(SEG_IDT)
        if ev.vector * 8 + 7 > idt.limit:
            raise Fault(Vector.GP, ev.vector * 8 + 2 + ext)
        gate = Descriptor.from_bytes(self._read(idt.base + ev.vector * 8, 8))
        if gate.system and gate.type == SYS_TASK_GATE and gate.present:
            raise Unsupported(f"task gate for {vector_name(ev.vector)} in the IDT")
        if not gate.system or gate.type not in GATE_TYPES:
            raise Fault(Vector.GP, ev.vector * 8 + 2 + ext)
        cpl = cpu.cpl
        if ev.software and gate.dpl < cpl:
            raise Fault(Vector.GP, ev.vector * 8 + 2)
        if not gate.present:
            raise Fault(Vector.NP, ev.vector * 8 + 2 + ext)

        sel = gate.gate_selector
        if sel & 0xFFFC == 0:
            raise Fault(Vector.GP, ext)
        code = self._descriptor(sel, ext)
        if not code.is_code or code.dpl > cpl:
            raise Fault(Vector.GP, (sel & 0xFFFC) | ext)
        if not code.present:
            raise Fault(Vector.NP, (sel & 0xFFFC) | ext)

        eflags = cpu.reg(X.UC_X86_REG_EFLAGS)
        if eflags & VM:
            raise Unsupported("interrupt in virtual-8086 mode")
        esp = cpu.reg(X.UC_X86_REG_ESP)
        old_cs = cpu.seg(SEG_CS).selector
        old_ss = cpu.seg(SEG_SS)
        gate32 = gate.type not in (SYS_INT_GATE16, SYS_TRAP_GATE16)
        word = 4 if gate32 else 2
        frame = [eflags, old_cs, ev.eip]
        if ev.error_code is not None:
            frame.append(ev.error_code)

        if not code.conforming and code.dpl < cpl:
            new_cpl = code.dpl
            new_ss_sel, new_esp = self._inner_stack(new_cpl, ext)
            ss_desc = self._descriptor(new_ss_sel, ext, Vector.TS)
            if (new_ss_sel & 3) != new_cpl or ss_desc.dpl != new_cpl or not ss_desc.writable:
                raise Fault(Vector.TS, (new_ss_sel & 0xFFFC) | ext)
            if not ss_desc.present:
                raise Fault(Vector.SS, (new_ss_sel & 0xFFFC) | ext)
            new_ss = SegCache.from_descriptor(new_ss_sel, ss_desc)
            frame = [old_ss.selector, esp] + frame
            stack_err = (new_ss_sel & 0xFFFC) | ext
        else:
            new_cpl = cpl
            new_ss, new_esp = old_ss, esp
            stack_err = ext
        if not (new_ss.flags & (1 << 22)):
            new_esp &= 0xFFFF
        size = word * len(frame)
        top = (new_esp - size) & 0xFFFFFFFF
        self._check_stack(new_ss, top, size, stack_err)
        # push one item at a time, highest address first, as the processor does: a #PF
        # while pushing reports the address of the very push that failed in CR2
        fmt = "<I" if gate32 else "<H"
        mask = 0xFFFFFFFF if gate32 else 0xFFFF
        linear = (new_ss.base + top) & 0xFFFFFFFF
        if (linear & 0xFFF) + size <= 0x1000:  # one page: one walk, one write
            data = struct.pack("<" + fmt[1] * len(frame), *[v & mask for v in reversed(frame)])
            try:
                self.mem.write(linear, data)
            except PageFault as pf:  # the first push (highest address) is the one that faults
                self._page_fault(PageFault(linear + size - word, pf.error_code))
        else:
            for i, value in enumerate(frame):
                offset = size - word * (i + 1)
                self._write(linear + offset, struct.pack(fmt, value & mask))

        new_cs = SegCache.from_descriptor((sel & 0xFFFC) | new_cpl, code)
        new_eflags = eflags & ~(TF | NT | RF | VM)
        if gate.type in (SYS_INT_GATE32, SYS_INT_GATE16):
            new_eflags &= ~IF
        cpu.load_code_and_stack(new_cs, new_ss, new_cpl)
        cpu.clear_exception_in_flight()
        cpu.store()
        if new_ss.flags & (1 << 22):
            cpu.set_reg(X.UC_X86_REG_ESP, top)
        else:
            cpu.set_reg(X.UC_X86_REG_ESP, (esp & 0xFFFF0000) | top)
        cpu.set_reg(X.UC_X86_REG_EFLAGS, new_eflags)
        cpu.set_reg(X.UC_X86_REG_EIP, gate.gate_offset if gate32 else gate.gate_offset & 0xFFFF)

    def _inner_stack(self, ring: int, ext: int) -> tuple[int, int]:
        """SSn:ESPn from the current 32-bit TSS (#TS(TR) when the TSS is too short)."""
        tr = self.cpu.seg(SEG_TR)
        off = tss32_stack_offset(ring)
        if off + 7 > tr.limit:
            raise Fault(Vector.TS, (tr.selector & 0xFFFC) | ext)
        esp, ss = struct.unpack("<II", self._read(tr.base + off, 8))
        return ss & 0xFFFF, esp

    @staticmethod
    def _check_stack(ss: SegCache, top: int, size: int, err: int) -> None:
        """Raise #SS when the frame does not fit the stack segment (SDM 5.3, expand-down)."""
        expand_down = not (ss.flags & (1 << 11)) and bool(ss.flags & (1 << 10))
        if expand_down:
            upper = 0xFFFFFFFF if ss.flags & (1 << 22) else 0xFFFF
            if top <= ss.limit or top + size - 1 > upper:
                raise Fault(Vector.SS, err)
        elif top + size - 1 > ss.limit:
            raise Fault(Vector.SS, err)
