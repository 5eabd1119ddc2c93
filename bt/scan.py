"""The scanner: decode one translation unit of guest kernel code.

A translation unit is a run of guest instructions that the rewriter turns
into one translation block. It starts at a guest EIP and stops for exactly
one named reason (QEMU's ``translator_loop`` records it in ``is_jmp``):

* ``branch``: the unit ends with a control-flow instruction, or with a
  sensitive or privileged instruction whose rule ends the unit (iret,
  far transfers, int n, hlt, a stack-segment load, sti);
* ``too many``: the size cap (VMware capped units at 12 instructions);
* ``page end``: the next instruction starts on another page (so that a
  block's guest bytes span at most two pages: the unit of invalidation);
* ``unreadable``: the next instruction cannot be fetched (it will fault when
  the guest really gets there, in a unit of its own);
* ``undecodable``: capstone does not know the bytes (the rewriter makes
  them raise #UD at that guest EIP, as the processor would).

A code segment whose D bit is clear holds 16-bit code: ``code16`` scans it
with capstone's 16-bit mode (operand and address size 16 unless prefixed by
0x66/0x67), never as 32-bit code. The rewriter emits 32-bit code only, so the
monitor reports such a unit (status 14) rather than translating it.

Code is read through the guest's own view of its addresses (``read`` is a
supervisor read of guest linear memory), 16 bytes at a time (capstone
decodes its whole buffer: never hand it a page).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from capstone import CS_ARCH_X86, CS_MODE_16, CS_MODE_32, Cs, CsInsn
from capstone import x86_const as C

from bt.classify import Rule, classify

PAGE = 0x1000
MAX_INSN = 15
UNIT_CAP = 12


class Stop(Enum):
    BRANCH = "branch"
    TOO_MANY = "too many"
    PAGE_END = "page end"
    UNREADABLE = "unreadable"
    UNDECODABLE = "undecodable"


@dataclass
class GuestInsn:
    """One decoded guest instruction and the rule that handles it."""

    eip: int
    insn: CsInsn
    rule: Rule

    @property
    def size(self) -> int:
        return self.insn.size

    @property
    def next_eip(self) -> int:
        return (self.eip + self.insn.size) & 0xFFFFFFFF

    @property
    def text(self) -> str:
        return f"{self.insn.mnemonic} {self.insn.op_str}".strip()


@dataclass
class Unit:
    """A scanned translation unit. ``undecodable`` holds the bytes capstone refused."""

    cs_base: int
    eip: int
    insns: list[GuestInsn]
    stop: Stop
    pages: frozenset[int] = field(default_factory=frozenset)
    undecodable: bytes = b""
    #: decoded as 16-bit code (the code segment's D bit is clear)
    code16: bool = False

    @property
    def end_eip(self) -> int:
        return self.insns[-1].next_eip if self.insns else self.eip


def holds_interrupts(g: GuestInsn) -> bool:
    """sti, mov ss and pop ss inhibit interrupts until the next instruction has run
    (SDM vol 3A, 6.8.3): a unit never ends right after one of them."""
    return g.rule.name == "sti" or (g.rule.name in ("mov to sreg", "pop sreg")
                                    and g.insn.operands[0].reg == C.X86_REG_SS)


class Scanner:
    """Decodes units from guest memory. ``read(linear, n)`` may raise on unreadable memory."""

    def __init__(self, read: Callable[[int, int], bytes], cap: int = UNIT_CAP) -> None:
        self.read = read
        self.cap = cap
        self.cs32 = Cs(CS_ARCH_X86, CS_MODE_32)
        self.cs16 = Cs(CS_ARCH_X86, CS_MODE_16)
        for cs in (self.cs32, self.cs16):
            cs.detail = True
        self.cs = self.cs32
        self.decoded = 0

    def _fetch(self, linear: int) -> bytes:
        """Up to 15 bytes at ``linear``: to the end of its page first, across it if needed."""
        room = PAGE - (linear & (PAGE - 1))
        return self.read(linear, min(MAX_INSN, room))

    def _decode(self, linear: int, eip: int) -> CsInsn | None:
        window = self._fetch(linear)
        insn = next(self.cs.disasm(window, eip, 1), None)
        if insn is None and len(window) < MAX_INSN:
            # maybe an instruction that straddles the page boundary; if the next page
            # cannot be read, the fetch fault is the guest's (raised to the caller)
            window += self.read((linear + len(window)) & 0xFFFFFFFF, MAX_INSN - len(window))
            insn = next(self.cs.disasm(window, eip, 1), None)
        return insn

    def scan(self, cs_base: int, eip: int, cap: int | None = None, code16: bool = False) -> Unit:
        """Decode the unit at ``cs_base:eip`` (``code16``: in a 16-bit code segment). The first
        fetch may raise (the caller reflects the fault at ``eip``); a later unreadable
        instruction just ends the unit."""
        cap = cap or self.cap
        self.cs = self.cs16 if code16 else self.cs32
        insns: list[GuestInsn] = []
        pages: set[int] = set()
        stop = Stop.TOO_MANY
        undecodable = b""
        cur = eip
        while len(insns) < cap or (insns and holds_interrupts(insns[-1])):
            linear = (cs_base + cur) & 0xFFFFFFFF
            try:
                insn = self._decode(linear, cur)
            except Exception:
                if not insns:
                    raise
                stop = Stop.UNREADABLE
                break
            if insn is None:
                stop = Stop.UNDECODABLE
                undecodable = self._fetch(linear)
                pages.add(linear & ~(PAGE - 1))
                break
            self.decoded += 1
            g = GuestInsn(cur, insn, classify(insn))
            insns.append(g)
            pages.add(linear & ~(PAGE - 1))
            pages.add((linear + insn.size - 1) & ~(PAGE - 1) & 0xFFFFFFFF)
            cur = g.next_eip
            if g.rule.ends_unit:
                stop = Stop.BRANCH
                break
            if ((cs_base + cur) & 0xFFFFFFFF) & ~(PAGE - 1) != linear & ~(PAGE - 1) \
                    and not holds_interrupts(g):
                stop = Stop.PAGE_END
                break
        return Unit(cs_base, eip, insns, stop, frozenset(pages), undecodable, code16)
