"""The guest's view of a stopped machine, bare or monitored, for the gdb stub.

Under the monitor the processor's state is not the guest's (ring compression, shadow page
tables, the translation cache): registers come from the virtual CPU (guest EIP recovered
from the translation, guest CS/SS with the guest's RPL, guest EFLAGS with its IF and IOPL,
guest CR0-CR4); memory goes through the guest's own page tables; a software breakpoint in
guest kernel code is a callout placed in the translation (:mod:`bt.rewrite`), never a byte
patched into guest memory, and one in user code (which runs direct at its own addresses)
is a unicorn code hook at the address. A single step is the instruction clock's exact stop
one guest instruction ahead (:mod:`runtime.pc.icount`), so it steps over a callout or into
an interrupt handler as the guest sees it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import UC_HOOK_CODE, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE
from unicorn import x86_const as X

from runtime.pc.cpustate import SEG_CS, SEG_DS, SEG_ES, SEG_FS, SEG_GS, SEG_SS
from runtime.pc.icount import NO_LIMIT

if TYPE_CHECKING:
    from runtime.pc.machine import Machine

MASK32 = 0xFFFFFFFF

_GPRS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")
_SEGS = (("cs", SEG_CS), ("ss", SEG_SS), ("ds", SEG_DS), ("es", SEG_ES), ("fs", SEG_FS),
         ("gs", SEG_GS))
_X87 = ("fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop")
_SYSTEM = ("cr0", "cr2", "cr3", "cr4")

#: gdb's Z2/Z3/Z4 (write, read, access watchpoints) -> unicorn memory hooks
WATCH_KINDS = {2: UC_HOOK_MEM_WRITE, 3: UC_HOOK_MEM_READ, 4: UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE}
WATCH_NAMES = {2: "watch", 3: "rwatch", 4: "awatch"}

#: (name, size in bytes) in gdb's register numbering for the target description below
REGISTERS: tuple[tuple[str, int], ...] = (
    *((n, 4) for n in _GPRS), ("eip", 4), ("eflags", 4), *((n, 4) for n, _ in _SEGS),
    *((f"st{i}", 10) for i in range(8)), *((n, 4) for n in _X87), *((n, 4) for n in _SYSTEM))


def target_xml() -> str:
    """The target description (GDB manual, "Target Descriptions"): gdb's i386 core feature
    (x87 registers included, as gdb requires) and a system feature with CR0-CR4."""
    flags = "".join(f'<field name="{n}" start="{b}" end="{b}"/>' for n, b in (
        ("CF", 0), ("", 1), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7), ("TF", 8), ("IF", 9),
        ("DF", 10), ("OF", 11), ("NT", 14), ("RF", 16), ("VM", 17), ("AC", 18), ("VIF", 19),
        ("VIP", 20), ("ID", 21)))
    types = {"esp": "data_ptr", "ebp": "data_ptr", "eip": "code_ptr", "eflags": "i386_eflags"}
    regs = []
    for i, (name, size) in enumerate(REGISTERS):
        kind = "i387_ext" if size == 10 else types.get(name, "int32")
        group = ' group="float"' if size == 10 or name in _X87 else ""
        if name == "cr0":
            regs.append('</feature><feature name="org.btvmm.i386.system">')
        regs.append(f'<reg name="{name}" bitsize="{size * 8}" type="{kind}" regnum="{i}"{group}/>')
    body = "".join(regs)
    return ('<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">'
            '<target version="1.0"><architecture>i386</architecture>'
            '<feature name="org.gnu.gdb.i386.core">'
            f'<flags id="i386_eflags" size="4">{flags}</flags>{body}</feature></target>')


class Target:
    """A machine stopped between two ``emu_start`` calls, as its guest sees it."""

    def __init__(self, machine: Machine) -> None:
        self.m = machine
        self.monitor = hasattr(machine, "vcpu")
        self.breakpoints: dict[int, object] = {}  # linear -> the unicorn hook handle
        #: a breakpoint the guest is stopped at: passed over once when it resumes
        self.skip: int | None = None
        self.hit: int | None = None
        self.stop_at = NO_LIMIT
        self.watchpoints: dict[tuple[int, int, int], object] = {}  # (kind, addr, len) -> hook
        #: the watchpoint (kind, data address) the last run stopped on
        self.watch_hit: tuple[int, int] | None = None

    # --- registers -----------------------------------------------------------------
    def eip(self) -> int:
        m = self.m
        if self.monitor and m.booted:  # type: ignore[attr-defined]
            return m.guest_eip_now()  # type: ignore[attr-defined]
        return m.cpu.reg(X.UC_X86_REG_EIP)

    def registers(self) -> dict[str, int]:
        m = self.m
        m.cpu.load()
        view = m.vcpu if self.monitor else m.cpu  # type: ignore[attr-defined]
        regs = {n: m.cpu.reg(getattr(X, f"UC_X86_REG_{n.upper()}")) for n in _GPRS}
        regs["eip"] = self.eip()
        regs["eflags"] = view.reg(X.UC_X86_REG_EFLAGS)
        for name, index in _SEGS:
            regs[name] = view.seg(index).selector
        for n in _SYSTEM:
            regs[n] = view.cr(int(n[2]))
        return regs

    def set_register(self, name: str, value: int) -> bool:
        """Write one register as the guest would see it; False for one not writable here."""
        m = self.m
        value &= MASK32
        if name in _GPRS:
            m.cpu.set_reg(getattr(X, f"UC_X86_REG_{name.upper()}"), value)
        elif name == "eflags":
            (m.vcpu if self.monitor else m.cpu).set_reg(X.UC_X86_REG_EFLAGS, value)  # type: ignore[attr-defined]
        elif name == "eip":
            if self.monitor and m.vcpu.translated:  # type: ignore[attr-defined]
                m._enter_kernel(value)  # type: ignore[attr-defined]
            else:
                m.cpu.set_reg(X.UC_X86_REG_EIP, value)
        else:
            return False
        return True

    # --- memory ----------------------------------------------------------------------
    def read(self, linear: int, n: int) -> bytes:
        """Guest memory through the guest's page tables (raises for an unmapped page)."""
        self.m.cpu.load()
        return self.m.mem.read(linear, n, peek=True)

    def write(self, linear: int, data: bytes) -> None:
        """A write through the guest's page tables; under the monitor the write path drops
        translations of the page (:meth:`runtime.vmm.codetrace.CodeTracing._write_guest`)."""
        self.m.cpu.load()
        self.m.mem.write(linear, data)

    # --- breakpoints and stepping ------------------------------------------------------
    def add_breakpoint(self, linear: int) -> None:
        if linear in self.breakpoints:
            return
        m = self.m
        self.breakpoints[linear] = m.uc.hook_add(UC_HOOK_CODE, self._on_code, None, linear, linear)
        m.uc.ctl_flush_tb()  # unicorn compiles hooks into its blocks
        self._retranslate()

    def remove_breakpoint(self, linear: int) -> None:
        handle = self.breakpoints.pop(linear, None)
        if handle is not None:
            self.m.uc.hook_del(handle)
            self.m.uc.ctl_flush_tb()
            self._retranslate()

    def add_watchpoint(self, kind: int, linear: int, length: int) -> None:
        """A data watchpoint: a unicorn memory hook on the linear range. Guest code touches
        guest linear addresses in both modes (translated kernel code too, through the
        shadow page tables); writes the monitor emulates in Python are not seen."""
        key = (kind, linear, length)
        if key not in self.watchpoints:
            self.watchpoints[key] = self.m.uc.hook_add(
                WATCH_KINDS[kind], self._on_memory, kind, linear, linear + max(length, 1) - 1)
            self.m.uc.ctl_flush_tb()
        self.m._debug_exact = True  # a watch stops at the next instruction: count each one

    def remove_watchpoint(self, kind: int, linear: int, length: int) -> None:
        handle = self.watchpoints.pop((kind, linear, length), None)
        if handle is not None:
            self.m.uc.hook_del(handle)
            self.m.uc.ctl_flush_tb()
        self.m._debug_exact = bool(self.watchpoints)

    def _on_memory(self, uc: object, _access: int, address: int, _size: int, _value: int,
                   kind: int) -> None:
        """A watched access: stop once the instruction completes (a trap, as a debug
        register's data breakpoint is, SDM vol 3B 17.3.1.2). ``emu_stop`` here would cancel
        the access (measured: a rep stosb then never progresses); the exact instruction
        clock's stop request takes effect at the next guest instruction instead."""
        if self.watch_hit is None:
            self.watch_hit = (kind, address)
            self.m.counter.state.async_stop = 1

    def _retranslate(self) -> None:
        """Under the monitor: translations with the breakpoint callouts of the new set."""
        if not self.monitor:
            return
        m = self.m
        m.rewriter.debug_stops = frozenset(self.breakpoints)  # type: ignore[attr-defined]
        if m.vcpu.translated and m.booted:  # type: ignore[attr-defined]
            eip = m.guest_eip_now()  # type: ignore[attr-defined]
            m.tc.flush()  # type: ignore[attr-defined]
            m._enter_kernel(eip)  # type: ignore[attr-defined]
        else:
            m.tc.flush()  # type: ignore[attr-defined]

    def _on_code(self, uc: object, address: int, _size: int, _data: object) -> None:
        """A breakpoint in guest code that runs at its own address (the bare machine, user
        code under the monitor): stop before the instruction runs."""
        if self.should_stop_at(address):
            self.m.counter.after_run(address, faulted=True)  # it did not retire
            self.m.uc.emu_stop()

    def should_stop_at(self, linear: int) -> bool:
        """At breakpoint ``linear``: stop (True), or pass it once after a resume there."""
        if self.skip == linear:
            self.skip = None
            return False
        self.hit = linear
        return True

    def resume(self, step: bool) -> None:
        """Before the guest runs again: step one instruction or run to a stop."""
        m = self.m
        self.hit = None
        self.watch_hit = None
        pc = (m.cpu.seg(SEG_CS).base + self.eip()) & MASK32 if not self.monitor else (
            (m.vcpu.v.cs.base + self.eip()) & MASK32)  # type: ignore[attr-defined]
        self.skip = pc if pc in self.breakpoints else None
        self.stop_at = m.counter.insns + 1 if step else NO_LIMIT
        m._debug_stop_at = self.stop_at

    def stepped(self) -> bool:
        return self.stop_at != NO_LIMIT and self.m.counter.insns >= self.stop_at
