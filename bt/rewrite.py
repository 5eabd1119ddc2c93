"""The rewriter: one scanned unit in, the code of one translation block out.

Each guest instruction is handled by the rule :mod:`bt.classify` gives it:

* ``ident``: copied byte for byte;
* ``chained``: direct control flow; every successor is a named exit whose
  rel32 first points at a stub in the block's tail (``int`` to the
  monitor, which translates the target and patches the jump: chaining);
* ``lookup``: ret and indirect jmp/call go through the two-level lookup
  table with loads and register work only (templates ``ret`` and
  ``lookup_tail``; the ``entry`` in front of every block restores ecx);
* ``inline``: cli/sti, pushfd/popfd, smsw/str/sldt/sgdt/sidt, push sreg
  and mov from sreg become exact sequences with no Python on the path;
* ``callout``: a software interrupt into the monitor's Python handler,
  which emulates the guest instruction against the virtual CPU.

Besides the code, the rewriter records for every emitted instruction the
guest EIP it belongs to, whether it starts a guest instruction (the
instruction clock counts those), and how to recover the guest's registers
if a fault, a callout or an interrupt stops the processor there (a
*fixup*): the exact map from translated address back to guest state.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from capstone import x86_const as C

from bt import encode as E
from bt.blockmap import BlockMap
from bt.blockmap import MapEntry as MapEntry  # re-exported: the map's entries
from bt.classify import Handling, Kind, fpu_class
from bt.scan import GuestInsn, Stop, Unit, holds_interrupts
from bt.templates import Template, template

#: Fixups: how to recover the guest's registers at a translated address.
FIX_NONE = -1  # the registers are the guest's
#: 0..7: the guest's value of that register is in xmm7
FIX_ENTRY = 8  # in a lookup entry: the guest EIP is in xmm6, the guest's ecx in xmm7
#: (inside the lookup sequence edx rides in xmm5, but no fault or stop can happen there:
#: it is straight-line code reading monitor tables)


@dataclass
class ExitSite:
    """A direct exit: the rel32 at ``site`` jumps to the stub at ``stub`` until chained."""

    kind: str
    guest_target: int
    site: int
    stub: int


@dataclass
class CalloutSite:
    """A callout: ``int`` at ``at``; the handler emulates, then execution goes on at ``resume``."""

    handler: str
    ginsn: GuestInsn | None
    guest_eip: int
    next_eip: int
    at: int
    resume: int
    #: for a slow path in the block's tail: the rel32 (offset) that jumps to it
    patch_site: int = -1
    #: the instruction runs in the interrupt shadow of the one before (sti, mov ss): the
    #: shadow ends with it, though the callout leaves unicorn's flag set
    in_shadow: bool = False
    #: the callout is a guest instruction (False: a check in front of one, a breakpoint)
    retires: bool = True


@dataclass
class Annotation:
    """For ``bt explain``: one guest instruction and what became of it."""

    guest_eip: int
    guest_bytes: bytes
    text: str
    handling: str
    rule: str
    start: int
    end: int


@dataclass
class Layout:
    """Monitor addresses translated code refers to."""

    table: int  # the lookup table's first level (linear)
    miss: int  # the shared lookup-miss stub
    vcpu: dict[str, int]  # virtual-CPU page fields (linear)
    vector: int  # the callout vector


@dataclass
class Emission:
    code: bytearray
    body: int
    map: BlockMap
    exits: list[ExitSite]
    callouts: list[CalloutSite]
    handling: Counter[str] = field(default_factory=Counter)
    annotations: list[Annotation] = field(default_factory=list)


#: the rules whose emitted code depends on the flags mode (``cpl0``, ``viopl0``,
#: ``iopl_exact``): only blocks holding one are translated again when the mode changes
FLAGS_MODE_RULES = frozenset({"pushf", "popf"})


class RewriteError(Exception):
    """A guest instruction form the translator cannot handle (reported, never guessed)."""


class _Out:
    def __init__(self, base: int) -> None:
        self.base = base
        self.code = bytearray()
        self.map = BlockMap()

    @property
    def here(self) -> int:
        return len(self.code)

    def put(self, data: bytes, guest_eip: int, retires: bool = False, fixup: int = FIX_NONE) -> int:
        at = len(self.code)
        self.map.append(at, guest_eip, retires, fixup)
        self.code += data
        return at

    def put_template(self, t: Template, guest_eip: int, retires: bool, fixups: tuple[int, ...],
                     **fields: int) -> int:
        """Emit template ``t``; ``fixups[i]`` applies to its i-th instruction."""
        at = len(self.code)
        self.code += t.patch(self.base + at, **fields)
        for i, off in enumerate(t.insn_offsets):
            self.map.append(at + off, guest_eip, retires and i == 0, fixups[i])
        return at


class Rewriter:
    """Turns :class:`Unit` s into block code for the addresses of ``layout``.

    The flags mode is the guest's: ``cpl0`` (the guest runs at CPL 0, not 1 or
    2), ``viopl0`` (its virtual IOPL is 0) and ``iopl_exact`` (the real IOPL the
    monitor gives it equals the virtual one: :meth:`runtime.vmm.vcpu.VirtualCpu.real_iopl`).
    At CPL 0 under IOPL 0 the real IOPL is 1 and pushfd/popfd get their fix-up
    sequences; at CPL 1 and 2 the real IOPL makes cli/sti/popfd decide as the
    guest's processor would (they stay IDENT), and pushf is exact as it is or a
    callout. When the mode changes the monitor drops the blocks holding pushf or popf
    (:data:`FLAGS_MODE_RULES`); the rest of the cache is the same in every mode.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.viopl0 = True
        self.cpl0 = True
        self.iopl_exact = False
        #: the guest's CR0.TS or EM is set: floating-point instructions become callouts
        self.fpu_traps = False
        #: linear addresses of enabled instruction breakpoints (DR0-DR3): translated code
        #: never runs at the guest's addresses, so a callout in front checks them
        self.breakpoints: frozenset[int] = frozenset()
        #: linear addresses of a debugger's software breakpoints (gdb ``Z0``): a callout in
        #: front, so that guest memory is never patched (the monitor flushes on a change)
        self.debug_stops: frozenset[int] = frozenset()
        #: (CS base, guest EIP) of stores that keep faulting on traced pages (guest page
        #: tables): adaptive binary translation turns them into callouts that write and
        #: update the shadow without a fault, as VMware's monitor did
        self.adapted: set[tuple[int, int]] = set()
        self._emitters: dict[str, Callable[[_Out, GuestInsn, list[ExitSite],
                                            list[CalloutSite]], None]] = {
            "jcc": self._branch, "loop": self._loop, "loope": self._loop, "loopne": self._loop,
            "jecxz": self._loop, "jcxz": self._loop, "jmp": self._jmp, "call": self._call,
            "ret": self._ret, "jmp indirect": self._indirect, "call indirect": self._indirect,
            "pushf": self._pushf, "popf": self._popf, "cli": self._copy, "sti": self._copy,
            "push sreg": self._copy, "mov from sreg": self._copy,
            "smsw": self._read_sysreg, "str": self._read_sysreg, "sldt": self._read_sysreg,
            "sgdt": self._read_table_reg, "sidt": self._read_table_reg,
        }

    # --- the block --------------------------------------------------------------------------
    def rewrite(self, unit: Unit, base: int) -> Emission:
        """The code for ``unit`` placed at linear address ``base``."""
        out = _Out(base)
        self._cs_base = unit.cs_base
        exits: list[ExitSite] = []
        callouts: list[CalloutSite] = []
        handling: Counter[str] = Counter()
        notes: list[Annotation] = []
        out.put_template(template("entry"), unit.eip, False, (FIX_ENTRY,))
        body = out.here
        prev: GuestInsn | None = None
        for g in unit.insns:
            start = out.here
            n_callouts = len(callouts)
            how = self._emit(out, g, exits, callouts)
            if prev is not None and holds_interrupts(prev):
                for co in callouts[n_callouts:]:
                    co.in_shadow = True
            prev = g
            handling[how] += 1
            notes.append(Annotation(g.eip, bytes(g.insn.bytes), g.text, how, g.rule.name,
                                    start, out.here))
        if unit.stop is Stop.UNDECODABLE:
            start = out.here
            self._callout(out, None, unit.end_eip, unit.end_eip, callouts, "undefined")
            handling["callout"] += 1
            notes.append(Annotation(unit.end_eip, unit.undecodable[:8], "(undecodable)",
                                    "callout", "undefined", start, out.here))
        elif not unit.insns or unit.insns[-1].rule.kind not in _TRANSFERS:
            self._exit(out, "fallthrough", unit.end_eip, exits)
        # the tail: one stub per exit, then the slow paths of inline sequences
        for ex in exits:
            ex.stub = out.put(b"\xcd" + bytes([self.layout.vector]), ex.guest_target)
            _set_rel(out.code, ex.site, ex.stub)
        for co in callouts:
            if co.patch_site >= 0:  # a slow path placed in the tail (popfd with another IOPL)
                co.at = out.put(b"\xcd" + bytes([self.layout.vector]), co.guest_eip)
                _set_rel(out.code, co.patch_site, co.at)
        return Emission(out.code, body, out.map, exits, callouts, handling, notes)

    def _emit(self, out: _Out, g: GuestInsn, exits: list[ExitSite],
              callouts: list[CalloutSite]) -> str:
        rule = g.rule
        if self.debug_stops and ((self._cs_base + g.eip) & 0xFFFFFFFF) in self.debug_stops:
            at = out.put(b"\xcd" + bytes([self.layout.vector]), g.eip)
            callouts.append(CalloutSite("debugger breakpoint", g, g.eip, g.eip, at, at + 2,
                                        retires=False))
        if self.breakpoints and ((self._cs_base + g.eip) & 0xFFFFFFFF) in self.breakpoints:
            at = out.put(b"\xcd" + bytes([self.layout.vector]), g.eip)
            callouts.append(CalloutSite("breakpoint", g, g.eip, g.eip, at, at + 2, retires=False))
        if self.adapted and (self._cs_base, g.eip) in self.adapted and adaptable_store(g):
            self._callout(out, g, g.eip, g.next_eip, callouts, "adapted store")
            return "callout"
        if self.fpu_traps and rule.handling is Handling.IDENT and fpu_class(g.insn):
            self._callout(out, g, g.eip, g.next_eip, callouts, "fpu")
            return "callout"
        if rule.handling is Handling.IDENT:
            out.put(bytes(g.insn.bytes), g.eip, retires=True)
            return "ident"
        if rule.handling is Handling.CALLOUT:
            self._callout(out, g, g.eip, g.next_eip, callouts, rule.name)
            return "callout"
        emitter = self._emitters.get(rule.name)
        if emitter is None:
            raise RewriteError(f"no emitter for rule {rule.name!r} ({g.text})")
        try:
            emitter(out, g, exits, callouts)
        except E.EncodeError:  # an operand form the inline sequence cannot take
            self._callout(out, g, g.eip, g.next_eip, callouts, rule.name)
            return "callout"
        return rule.handling.value

    # --- pieces ---------------------------------------------------------------------------
    def _exit(self, out: _Out, kind: str, target: int, exits: list[ExitSite],
              guest_eip: int | None = None, retires: bool = False) -> None:
        at = out.put(b"\xe9\0\0\0\0", target if guest_eip is None else guest_eip, retires)
        exits.append(ExitSite(kind, target, at + 1, -1))

    def _callout(self, out: _Out, g: GuestInsn | None, eip: int, next_eip: int,
                 callouts: list[CalloutSite], handler: str) -> None:
        at = out.put(b"\xcd" + bytes([self.layout.vector]), eip, retires=True)
        callouts.append(CalloutSite(handler, g, eip, next_eip, at, at + 2))

    def _copy(self, out: _Out, g: GuestInsn, _exits: list[ExitSite],
              _callouts: list[CalloutSite]) -> None:
        out.put(bytes(g.insn.bytes), g.eip, retires=True)

    def _branch(self, out: _Out, g: GuestInsn, exits: list[ExitSite],
                _callouts: list[CalloutSite]) -> None:
        cc = E.condition_code(g.insn)
        at = out.put(bytes([0x0F, 0x80 | cc, 0, 0, 0, 0]), g.eip, retires=True)
        exits.append(ExitSite("taken", _target(g), at + 2, -1))
        self._exit(out, "fallthrough", g.next_eip, exits)

    def _loop(self, out: _Out, g: GuestInsn, exits: list[ExitSite],
              _callouts: list[CalloutSite]) -> None:
        # loop/jecxz have only rel8 forms: "op +5" over the fall-through jump to the taken one
        out.put(bytes(g.insn.bytes[:-1]) + b"\x05", g.eip, retires=True)
        self._exit(out, "fallthrough", g.next_eip, exits)
        self._exit(out, "taken", _target(g), exits)

    def _jmp(self, out: _Out, g: GuestInsn, exits: list[ExitSite],
             _callouts: list[CalloutSite]) -> None:
        if g.insn.prefix[2] == 0x66:
            raise E.EncodeError("16-bit jmp")
        self._exit(out, "jmp", _target(g), exits, guest_eip=g.eip, retires=True)

    def _call(self, out: _Out, g: GuestInsn, exits: list[ExitSite],
              _callouts: list[CalloutSite]) -> None:
        if g.insn.prefix[2] == 0x66:
            raise E.EncodeError("16-bit call")
        out.put_template(template("push_imm"), g.eip, True, (FIX_NONE,), imm=g.next_eip)
        self._exit(out, "call", _target(g), exits)

    def _ret(self, out: _Out, g: GuestInsn, _exits: list[ExitSite],
             _callouts: list[CalloutSite]) -> None:
        if g.insn.prefix[2] == 0x66:
            raise E.EncodeError("16-bit ret")
        table = self.layout.table
        if g.insn.operands:
            t = template("ret_imm")
            out.put_template(t, g.eip, True, (FIX_NONE,) + (E.ECX,) * (len(t.insn_offsets) - 1),
                             table=table, imm=g.insn.operands[0].imm & 0xFFFF)
        else:
            t = template("ret")
            out.put_template(t, g.eip, True, (FIX_NONE,) + (E.ECX,) * (len(t.insn_offsets) - 1),
                             table=table)

    def _indirect(self, out: _Out, g: GuestInsn, _exits: list[ExitSite],
                  _callouts: list[CalloutSite]) -> None:
        load = E.load_ecx_from_operand(g.insn)
        out.put_template(template("save_ecx"), g.eip, True, (FIX_NONE,))
        out.put(load, g.eip, fixup=E.ECX)
        if g.rule.kind is Kind.INDIRECT_CALL:
            out.put_template(template("push_imm"), g.eip, False, (E.ECX,), imm=g.next_eip)
        tail = template("lookup_tail")
        out.put_template(tail, g.eip, False, (E.ECX,) * len(tail.insn_offsets),
                         table=self.layout.table)

    def _pushf(self, out: _Out, g: GuestInsn, exits: list[ExitSite],
               callouts: list[CalloutSite]) -> None:
        if g.insn.prefix[2] == 0x66:
            raise E.EncodeError("16-bit pushf")
        if (not self.viopl0) if self.cpl0 else self.iopl_exact:
            self._copy(out, g, exits, callouts)  # real IOPL = virtual: the image is exact
            return
        if not self.cpl0:  # CPL 1/2 under another real IOPL: emulated
            raise E.EncodeError("pushf needs the callout")
        out.put_template(template("pushfd_iopl0"), g.eip, True, (FIX_NONE,) + (E.ECX,) * 5)

    def _popf(self, out: _Out, g: GuestInsn, exits: list[ExitSite],
              callouts: list[CalloutSite]) -> None:
        if not self.cpl0:
            # CPL 1/2: popf never changes IOPL, and changes IF only when CPL <= IOPL, which
            # is what the real CPL 1 under the real IOPL chosen for it does (SDM vol 2, POPF)
            self._copy(out, g, exits, callouts)
            return
        if g.insn.prefix[2] == 0x66 or not self.viopl0:
            raise E.EncodeError("popf needs the callout")
        at = out.put_template(template("popfd_check"), g.eip, True, (FIX_NONE, FIX_NONE))
        out.put(b"\x9d", g.eip)
        callouts.append(CalloutSite("popf", g, g.eip, g.next_eip, -1, out.here,
                                    at + template("popfd_check").fields["to_callout"]))

    def _read_sysreg(self, out: _Out, g: GuestInsn, _exits: list[ExitSite],
                     _callouts: list[CalloutSite]) -> None:
        """smsw/str/sldt: the value lives in the virtual-CPU page; load it (no Python)."""
        addr = self.layout.vcpu[g.rule.name]
        op = g.insn.operands[0]
        if op.type == C.X86_OP_REG:
            if op.reg in E.REG32 and g.rule.name == "smsw":
                # unicorn's smsw r32 writes only the low 16 bits (the SDM leaves the upper
                # half undefined): the native run keeps it, so does the translation
                t, reg = template("load_vcpu16"), E.REG32[op.reg]
            elif op.reg in E.REG32:
                t, reg = template("load_vcpu"), E.REG32[op.reg]
            elif op.reg in E.REG16:
                t, reg = template("load_vcpu16"), E.REG16[op.reg]
            else:
                raise E.EncodeError(g.text)
            code = t.patch(0, addr=addr)
            modrm_at = t.fields["addr"] - 1
            code[modrm_at] = (code[modrm_at] & 0xC7) | (reg << 3)
            out.put(bytes(code), g.eip, retires=True)
            return
        mem = E.mem_operand(g.insn)
        s = E.scratch_for(mem)
        load = template("load_vcpu")
        code = load.patch(0, addr=addr)
        code[load.fields["addr"] - 1] = (code[load.fields["addr"] - 1] & 0xC7) | (s << 3)
        out.put(E.movd_xmm7_from(s), g.eip, retires=True)
        out.put(bytes(code), g.eip, fixup=s)
        out.put(E.mov_mem_reg16(s, mem), g.eip, fixup=s)
        out.put(E.movd_to_from_xmm7(s), g.eip, fixup=s)

    def _read_table_reg(self, out: _Out, g: GuestInsn, _exits: list[ExitSite],
                        _callouts: list[CalloutSite]) -> None:
        """sgdt/sidt m: the 16-bit limit at [m], the 32-bit base at [m+2], from the vCPU page."""
        addr = self.layout.vcpu[g.rule.name]  # limit (2 bytes) then base (4 bytes)
        if g.insn.prefix[2] == 0x66:
            raise E.EncodeError("16-bit sgdt/sidt store a 24-bit base: the callout does it")
        mem = E.mem_operand(g.insn)
        s = E.scratch_for(mem)
        load = template("load_vcpu")
        modrm_at = load.fields["addr"] - 1

        def load_into(a: int) -> bytes:
            code = load.patch(0, addr=a)
            code[modrm_at] = (code[modrm_at] & 0xC7) | (s << 3)
            return bytes(code)

        out.put(E.movd_xmm7_from(s), g.eip, retires=True)
        out.put(load_into(addr), g.eip, fixup=s)
        out.put(E.mov_mem_reg16(s, mem), g.eip, fixup=s)
        out.put(load_into(addr + 2), g.eip, fixup=s)
        out.put(E.mov_mem_reg32(s, mem, 2), g.eip, fixup=s)
        out.put(E.movd_to_from_xmm7(s), g.eip, fixup=s)


_TRANSFERS = frozenset({Kind.JUMP, Kind.BRANCH, Kind.CALL, Kind.RET, Kind.INDIRECT_JUMP,
                        Kind.INDIRECT_CALL})


def adaptable_store(g: GuestInsn) -> bool:
    """mov m, r / mov m, imm: the stores adaptive translation emulates."""
    ops = g.insn.operands
    return g.insn.id == C.X86_INS_MOV and len(ops) == 2 and ops[0].type == C.X86_OP_MEM


def _target(g: GuestInsn) -> int:
    return g.insn.operands[0].imm & 0xFFFFFFFF


def _set_rel(code: bytearray, site: int, target: int) -> None:
    """Point the rel32 at offset ``site`` at offset ``target`` of the same code."""
    struct.pack_into("<i", code, site, target - (site + 4))
