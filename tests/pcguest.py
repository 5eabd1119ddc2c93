"""Tiny protected-mode test guests assembled with keystone, run on the bare machine or under the monitor.

Each scenario gets a GDT, an IDT and a TSS written straight into guest RAM
(the layout below), its code at CODE, and the machine boots it at ring 0.
Handlers record what they see in RESULT; the test compares that with what
the Intel SDM says the processor pushes. Used by the delivery tests.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from keystone import KS_ARCH_X86, KS_MODE_32, Ks

from runtime.pc.loader import BootState
from runtime.pc.machine import Machine, MachineConfig
from runtime.report import RunResult
from runtime.vmm.monitor import Monitor

GDT, IDT, TSS, RESULT, CODE = 0x1000, 0x2000, 0x3000, 0x5000, 0x100000
USER_CODE = CODE + 0x800
KSTACK, USTACK = 0x90000, 0x80000
KCODE, KDATA, UCODE, UDATA, TSSSEL = 0x08, 0x10, 0x1B, 0x23, 0x28

_ks = Ks(KS_ARCH_X86, KS_MODE_32)

#: What every scenario runs first at CODE: load the tables, flat ring-0 segments, the TSS.
PROLOGUE = (
    f"lgdt [{RESULT - 16:#x}]; lidt [{RESULT - 8:#x}];"
    f"mov ax, {KDATA}; mov ds, ax; mov es, ax; mov ss, ax; mov fs, ax; mov gs, ax;"
    f"mov esp, {KSTACK}; mov ax, {TSSSEL}; ltr ax;"
)


def asm(source: str, address: int) -> bytes:
    encoding, _ = _ks.asm(source, address)
    return bytes(encoding)


def seg_desc(base: int, limit: int, access: int, flags: int = 0xC) -> bytes:
    return struct.pack("<HHBBBB", limit & 0xFFFF, base & 0xFFFF, (base >> 16) & 0xFF, access,
                       ((limit >> 16) & 0xF) | (flags << 4), base >> 24)


def gate(offset: int, selector: int = KCODE, gate_type: int = 0xE, dpl: int = 0,
         present: bool = True) -> bytes:
    access = (0x80 if present else 0) | (dpl << 5) | gate_type
    return struct.pack("<HHBBH", offset & 0xFFFF, selector, 0, access, offset >> 16)


@dataclass
class Scenario:
    """Code at CODE (``main``), handler code blobs by vector, and gate overrides."""

    main: str
    user: str = ""
    handlers: dict[int, str] = field(default_factory=dict)
    gates: dict[int, bytes] = field(default_factory=dict)
    idt_limit: int = 256 * 8 - 1
    extra_gdt: list[bytes] = field(default_factory=list)

    def address_of(self, label: str) -> int:
        """Guest address of ``label:`` in ``main`` (assembles what precedes it)."""
        cut = self.main.index(label + ":")
        return CODE + len(asm(PROLOGUE + self.main[:cut], CODE))

    def run(self, *, max_insns: int | None = 100_000, deterministic: bool = True,
            timeout_s: float | None = None, monitor: bool = False) -> tuple[Machine, RunResult]:
        """Run natively, or under the monitor (``monitor=True``: kernel code translated)."""
        config = MachineConfig(mem_mib=16, deterministic=deterministic, max_insns=max_insns,
                               timeout_s=timeout_s)
        m = Monitor(config) if monitor else Machine(config)
        w = m.uc.mem_write
        gdt = [seg_desc(0, 0, 0, 0), seg_desc(0, 0xFFFFF, 0x9A), seg_desc(0, 0xFFFFF, 0x92),
               seg_desc(0, 0xFFFFF, 0xFA), seg_desc(0, 0xFFFFF, 0xF2),
               seg_desc(TSS, 0x67, 0x89, 0)] + self.extra_gdt
        w(GDT, b"".join(gdt))
        # a TSS whose ring-0 stack is KSTACK
        w(TSS, struct.pack("<III", 0, KSTACK, KDATA) + b"\0" * (0x68 - 12))
        w(RESULT - 16, struct.pack("<HI", len(gdt) * 8 - 1, GDT))
        w(RESULT - 8, struct.pack("<HI", self.idt_limit, IDT))
        main = asm(PROLOGUE + self.main, CODE)
        assert len(main) <= USER_CODE - CODE
        w(CODE, main)
        if self.user:
            w(USER_CODE, asm(self.user, USER_CODE))
        addr = CODE + 0x1000
        idt = bytearray(b"".join(gate(0, present=False) for _ in range(256)))
        for vector, source in self.handlers.items():
            body = asm(source, addr)
            w(addr, body)
            idt[vector * 8:vector * 8 + 8] = gate(addr)
            addr += (len(body) + 0xFF) & ~0xFF
        for vector, raw in self.gates.items():
            idt[vector * 8:vector * 8 + 8] = raw
        w(IDT, bytes(idt))
        result = m.run(BootState(entry=CODE, eax=0, ebx=0, kind="flat", segments=[]))
        return m, result


def to_ring3() -> str:
    """Main code that irets to ring 3 at USER_CODE with IF=1 and the user stack."""
    return (f"push {UDATA}; push {USTACK}; push 0x202; push {UCODE}; push {USER_CODE};"
            "iretd;")


def exit_code(value: int = 0) -> str:
    return f"mov eax, {value}; out 0xf4, eax; hlt;"


def record_frame(words: int) -> str:
    """Handler body: copy ``words`` dwords from the stack to RESULT, save ESP and SS, exit."""
    lines = [f"mov eax, [esp + {4 * i}]; mov [{RESULT + 4 * i:#x}], eax;" for i in range(words)]
    lines.append(f"mov [{RESULT + 0x40:#x}], esp; mov eax, ss; mov [{RESULT + 0x44:#x}], eax;")
    lines.append(f"mov eax, cs; mov [{RESULT + 0x48:#x}], eax;")
    return "".join(lines) + exit_code()


def result_words(m: Machine, n: int, offset: int = 0) -> tuple[int, ...]:
    return struct.unpack(f"<{n}I", bytes(m.uc.mem_read(RESULT + offset, 4 * n)))
