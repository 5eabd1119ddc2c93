"""How a run ends: outcomes, exit statuses and the report printed for the user.

A guest that writes ``v`` to the isa-debug-exit port ends the run with
status ``(v << 1) | 1``, as QEMU does: always odd. Every other ending is
the machine's own and has an even status, listed in :data:`OUTCOMES` (the
table ``bt --help`` prints); :mod:`runtime.endings` has the other commands' tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Outcome(Enum):
    GUEST_EXIT = "exit"
    BAD_INPUT = "bad-input"
    TRIPLE_FAULT = "triple-fault"
    HALTED = "halted"
    INSN_LIMIT = "insn-limit"
    TIME_LIMIT = "time-limit"
    GUEST_ERROR = "guest-error"
    UNSUPPORTED = "unsupported"
    INTERNAL = "internal-error"
    INTERRUPTED = "interrupted"
    RESET = "reset"
    QUIT = "quit"


#: Outcome -> (exit status, meaning). GUEST_EXIT's status comes from the guest.
OUTCOMES: dict[Outcome, tuple[int, str]] = {
    Outcome.GUEST_EXIT: (1, "the guest wrote v to port 0xf4: status (v<<1)|1, always odd"),
    Outcome.BAD_INPUT: (2, "bad command line or guest file (one-line error on stderr)"),
    Outcome.TRIPLE_FAULT: (4, "triple fault: the guest CPU shut down"),
    Outcome.HALTED: (6, "hlt with interrupts disabled and no interrupt pending"),
    Outcome.INSN_LIMIT: (8, "--max-insns reached"),
    Outcome.TIME_LIMIT: (10, "--timeout (wall clock) reached"),
    Outcome.GUEST_ERROR: (12, "the guest touched what it may not (memory outside RAM, ...)"),
    Outcome.UNSUPPORTED: (14, "the guest used a feature the machine does not model"),
    Outcome.INTERNAL: (16, "internal error of btvmm (a bug): a one-line summary and the path "
                           "of a crash report holding the traceback"),
    Outcome.RESET: (18, "the guest reset the machine (port 0x92, 8042 command 0xfe), "
                        "as qemu -no-reboot"),
    Outcome.QUIT: (20, "the user quit at the console (Ctrl-A x)"),
    Outcome.INTERRUPTED: (130, "interrupted by Ctrl-C (SIGINT), 128 + 2 as a shell reports it; "
                               "a second Ctrl-C exits at once"),
}


def status_table() -> str:
    return "\n".join(f"  {status:>3}  {text}" for status, text in OUTCOMES.values())


_REGS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp")


def disassemble_one(code: bytes, eip: int) -> str:
    from capstone import CS_ARCH_X86, CS_MODE_32, Cs  # only for reports (start-up: capstone is 60 ms)

    for _addr, _size, mnemonic, ops in Cs(CS_ARCH_X86, CS_MODE_32).disasm_lite(code, eip, 1):
        return f"{mnemonic} {ops}".strip()
    return f"(undecodable: {code[:8].hex(' ') or 'no bytes'})"


@dataclass
class RunResult:
    """Everything a run produced: its outcome, exit status, output and state at the end."""

    outcome: Outcome
    status: int
    message: str = ""
    output: bytes = b""
    regs: dict[str, int] = field(default_factory=dict)
    code: bytes = b""
    last_block: tuple[int, int] | None = None
    stats: dict[str, object] = field(default_factory=dict)
    #: the colour text display at the end of the run (``bt run --screen``)
    screen: str = ""

    def report(self) -> str:
        """A multi-line report for endings other than a clean guest exit."""
        if self.outcome is Outcome.GUEST_EXIT:
            return ""
        lines = [f"bt: {self.outcome.value}: {self.message}"]
        if self.regs and self.outcome is not Outcome.QUIT:  # the user knows where it ended
            eip = self.regs.get("eip", 0)
            lines.append(f"  guest EIP {eip:#010x}: {disassemble_one(self.code, eip)}")
            gprs = "  ".join(f"{r}={self.regs[r]:08x}" for r in _REGS if r in self.regs)
            lines.append(f"  {gprs}")
            segs = "  ".join(f"{r}={self.regs[r]:04x}" for r in ("cs", "ss", "ds", "es", "fs", "gs")
                             if r in self.regs)
            ctrl = "  ".join(f"{r}={self.regs[r]:08x}" for r in ("eflags", "cr0", "cr2", "cr3", "cr4")
                             if r in self.regs)
            lines.append(f"  {segs}  cpl={self.regs.get('cpl', 0)}")
            lines.append(f"  {ctrl}")
        if self.last_block and self.last_block[1]:
            start, size = self.last_block
            lines.append(f"  last block: {start:#010x} ({size} bytes)")
        return "\n".join(lines)
