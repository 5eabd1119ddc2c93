"""The trace log, in the manner of QEMU's ``-d``: ``bt run --trace CATS [--trace-file F]``.

Categories (comma-separated; ``all`` for every one):

========  =================================================================================
in_asm    each guest block as translated: guest address, bytes, disassembly, rule, handling
out_asm   the translation of each block: translated address, bytes, disassembly
exec      each block run (guest EIP; under the monitor, the guest block a translated
          block start belongs to); a Python block hook: slow, for short runs
int       each exception and interrupt delivered: vector, kind, error code, return EIP,
          and the frame it left (the handler's CS:EIP and ESP)
callout   each callout under the monitor: rule, guest EIP
fault     each processor exception the monitor takes: hidden (absorbed) or true (reflected)
io        each port access: direction, port, size, value
tb        translations made, blocks invalidated, translation-cache flushes
========  =================================================================================

One event a line, ``CATEGORY: text``; a line starts with the guest instruction count.

Cheap when off: nothing is installed unless asked. Each category wraps the method of
the one machine instance that does the thing (its bus, its delivery, its translation
cache...), so a run without ``--trace`` runs exactly the code it ran before, and a
category not asked for costs nothing either.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from capstone import CS_ARCH_X86, CS_MODE_32, Cs
from unicorn import UC_HOOK_BLOCK
from unicorn.x86_const import UC_X86_REG_EIP as _EIP
from unicorn.x86_const import UC_X86_REG_ESP as _ESP

from runtime.pc.cpustate import SEG_CS
from runtime.pc.x86 import vector_name

if TYPE_CHECKING:
    from runtime.pc.machine import Machine

CATEGORIES = ("in_asm", "out_asm", "exec", "int", "callout", "fault", "io", "tb")


def parse_categories(text: str) -> frozenset[str]:
    """``in_asm,int`` -> the set; raises ValueError naming an unknown category."""
    names = {n.strip() for n in text.split(",") if n.strip()}
    if "all" in names:
        return frozenset(CATEGORIES)
    bad = sorted(names - set(CATEGORIES))
    if bad:
        raise ValueError(f"unknown trace category {bad[0]!r} (known: {', '.join(CATEGORIES)}, all)")
    return frozenset(names)


def _wrap(obj: object, name: str, before: Callable[..., None] | None = None,
          after: Callable[..., None] | None = None) -> None:
    """Replace ``obj.name`` on this instance by a call that logs before and/or after."""
    inner = getattr(obj, name)

    @functools.wraps(inner)
    def traced(*args: Any, **kwargs: Any) -> Any:
        if before is not None:
            before(*args)
        result = inner(*args, **kwargs)
        if after is not None:
            after(result, *args)
        return result

    setattr(obj, name, traced)


class Tracer:
    """Installs the asked-for categories on one machine and writes their lines."""

    def __init__(self, machine: Machine, categories: frozenset[str], out: TextIO) -> None:
        self.m = machine
        self.out = out
        self.on = categories
        self.monitor = hasattr(machine, "tc")
        self._cs = Cs(CS_ARCH_X86, CS_MODE_32)
        self.lines = 0
        for cat in sorted(categories):
            install = getattr(self, f"_install_{cat}")
            install()

    def line(self, cat: str, text: str) -> None:
        self.lines += 1
        self.out.write(f"{self.m.counter.insns:>10} {cat}: {text}\n")

    # --- categories --------------------------------------------------------------------
    def _install_io(self) -> None:
        bus = self.m.bus
        _wrap(bus, "read", after=lambda v, port, size: self.line(
            "io", f"in  port {port:#06x} size {size} -> {v:#x}"))
        _wrap(bus, "write", before=lambda port, size, value: self.line(
            "io", f"out port {port:#06x} size {size} <- {value:#x}"))

    def _install_int(self) -> None:
        m = self.m

        def after(_r: object, event: Any) -> None:
            view = m.vcpu if self.monitor else m.cpu  # type: ignore[attr-defined]
            view.load()
            cs = view.seg(SEG_CS).selector
            eip = (m.vcpu.pending_eip if self.monitor and m.vcpu.pending_eip is not None  # type: ignore[attr-defined]
                   else m.cpu.reg(_EIP))
            self.line("int", f"{event.describe()} return {event.eip:#010x} -> handler "
                             f"{cs:#06x}:{eip:#010x} esp {m.cpu.reg(_ESP):#010x}")

        _wrap(m.delivery, "deliver", after=after)

    def _install_callout(self) -> None:
        if not self.monitor:
            return
        _wrap(self.m, "_run_handler", before=lambda block, co: self.line(
            "callout", f"{co.handler} at guest {co.guest_eip:#010x}"
                       f"{' ' + co.ginsn.text if co.ginsn is not None else ''}"))

    def _install_fault(self) -> None:
        m = self.m
        if not self.monitor:
            _wrap(m, "_take_exception", before=lambda vector: self.line(
                "fault", f"{vector_name(vector)} at {m.cpu.reg(_EIP):#010x}"))
            return
        for name in ("_translated_exception", "_user_exception"):
            where = "translated" if name.startswith("_translated") else "user"

            def before(vector: int, eip: int, where: str = where) -> None:
                self._hidden = m.mstats.hidden_faults  # type: ignore[attr-defined]

            def after(_r: object, vector: int, eip: int, where: str = where) -> None:
                hidden = m.mstats.hidden_faults != self._hidden  # type: ignore[attr-defined]
                self.line("fault", f"{vector_name(vector)} in {where} code at {eip:#010x}: "
                                   f"{'hidden (absorbed)' if hidden else 'true (reflected)'}")

            _wrap(m, name, before=before, after=after)

    def _install_tb(self) -> None:
        if not self.monitor:
            return
        tc = self.m.tc  # type: ignore[attr-defined]
        _wrap(tc, "translate", after=lambda b, *a: self.line(
            "tb", f"translate guest {b.guest_eip:#010x}-{b.guest_end:#010x} -> {b.addr:#010x} "
                  f"({b.size} bytes, {len(b.callouts)} callouts)"))
        _wrap(tc, "invalidate", before=lambda b: self.line(
            "tb", f"invalidate guest {b.guest_eip:#010x}-{b.guest_end:#010x}")
            if b.valid else None)
        _wrap(tc, "flush", before=lambda: self.line("tb", "flush"))

    def _install_in_asm(self) -> None:
        if not self.monitor:
            self.line("in_asm", "bare machine: nothing is translated")
            return

        def after(b: Any, *_a: object) -> None:
            self.line("in_asm", f"block {b.guest_eip:#010x}")
            for a in b.annotations:
                self.out.write(f"    {a.guest_eip:#010x}  {a.guest_bytes.hex():<24} {a.text:<36} "
                               f"{a.rule} ({a.handling})\n")

        _wrap(self.m.tc, "translate", after=after)  # type: ignore[attr-defined]

    def _install_out_asm(self) -> None:
        if not self.monitor:
            return

        def after(b: Any, *_a: object) -> None:
            code = bytes(self.m.uc.mem_read(self.m.space.to_phys(b.addr), b.size))  # type: ignore[attr-defined]
            self.line("out_asm", f"translation {b.addr:#010x} of guest {b.guest_eip:#010x}")
            for i in self._cs.disasm(code, b.addr):
                self.out.write(f"    {i.address:#010x}  {i.bytes.hex():<24} {i.mnemonic} {i.op_str}\n")

        _wrap(self.m.tc, "translate", after=after)  # type: ignore[attr-defined]

    def _install_exec(self) -> None:
        m = self.m

        def on_block(_uc: object, address: int, _size: int, _data: object) -> None:
            if self.monitor and m.space.contains(address):  # type: ignore[attr-defined]
                b = m.tc.block_at(address)  # type: ignore[attr-defined]
                if b is not None:
                    e = b.entry_at(address)
                    self.line("exec", f"translated {address:#010x} guest "
                                      f"{e.guest_eip if e else b.guest_eip:#010x}")
                    return
            self.line("exec", f"guest {address:#010x}")

        m.uc.hook_add(UC_HOOK_BLOCK, on_block)


