"""The processor as its own reference: a scratch engine for what only the CPU model knows.

A few instructions answer from the CPU model itself (cpuid, rdtsc, rdmsr,
wrmsr), and a CR4 write keeps only the bits of features the model has. The
monitor cannot run them in the guest's translated code (they are privileged
there, or the monitor must see their effect), so it runs each for real on a
scratch unicorn engine at CPL 0, the same CPU model as the bare machine's:
the guest sees exactly what the native run would give it.

One engine per monitor: the MSRs a guest writes live in it, so each virtual
CPU keeps its own (one engine for the whole process leaked them from one guest
to the next: corpus/regressions/msr_oracle_leak).
"""

from __future__ import annotations

from unicorn import UC_ARCH_X86, UC_HOOK_INTR, UC_MODE_32, Uc
from unicorn import x86_const as X

from runtime.pc.delivery import Fault
from runtime.pc.x86 import Vector

#: the registers a run returns
OUT_REGS = (X.UC_X86_REG_EAX, X.UC_X86_REG_EBX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX)


class Oracle:
    """A scratch engine at CPL 0 that runs one cpuid/rdtsc/rdmsr/wrmsr (or mov to CR4) for
    real, so that the guest sees exactly what the bare machine would give it."""

    CODE = 0x1000

    def __init__(self) -> None:
        self.uc = Uc(UC_ARCH_X86, UC_MODE_32)
        self.uc.mem_map(0, 0x2000)
        self.fault: int | None = None
        self.uc.hook_add(UC_HOOK_INTR, self._intr)

    def _intr(self, uc: Uc, vector: int, _data: object) -> None:
        self.fault = vector
        uc.emu_stop()

    def run(self, code: bytes, regs: dict[int, int]) -> dict[int, int]:
        """Run ``code`` with ``regs`` loaded; EAX, EBX, ECX, EDX after it. Raises Fault (#GP
        with error code 0) for the exception the instruction raised."""
        self.uc.mem_write(self.CODE, code + b"\xf4")
        # mem_write leaves unicorn's translation of the old bytes (notes/unicorn.md): drop it,
        # or the next instruction run here is the last one (corpus/regressions/oracle_stale_code)
        self.uc.ctl_remove_cache(self.CODE, self.CODE + len(code) + 1)
        for reg, value in regs.items():
            self.uc.reg_write(reg, value)
        self.fault = None
        self.uc.emu_start(self.CODE, self.CODE + len(code) + 1)
        if self.fault is not None:
            raise Fault(self.fault, 0 if self.fault == Vector.GP else None)
        return {r: self.uc.reg_read(r) for r in OUT_REGS}
