"""Code templates: every inline sequence and callout the translator emits, assembled once.

Calling keystone costs 20-30 us; copying a pre-assembled template and
patching its immediates costs a fraction of a microsecond (see
``shared/notes/unicorn.md``). So each sequence is written here once in
assembly, with recognisable placeholder immediates, assembled with
keystone on first use, and checked instruction by instruction against
capstone: keystone 0.9.2 mis-encodes some system instructions (a bogus
0x66 prefix on pushf/popf, push/pop sreg, sgdt...), so a template whose
bytes do not disassemble to the mnemonics it was written with is refused.

A :class:`Template` knows where each of its instructions starts (for the
translator's exact map from translated address back to guest EIP) and
where each placeholder sits (for :meth:`Template.patch`).

Register conventions of translated code (the monitor owns them): xmm7
holds a guest register spilled by a sequence, xmm6 the guest target EIP of
an indirect branch while it goes through the lookup table. Neither costs a
store (``shared/notes/unicorn.md``: scratch registers in xmm registers cost
~1 ns, spilling to memory 2.6-3.2x).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache

from capstone import CS_ARCH_X86, CS_MODE_32, Cs
from keystone import KS_ARCH_X86, KS_MODE_32, Ks

#: Placeholder immediates: distinct 32-bit values that never occur by accident.
IMM_A = 0x7A6B5C4D
IMM_B = 0x71625344


class TemplateError(RuntimeError):
    """A template did not assemble to what it says (a keystone defect, caught at start-up)."""


@dataclass(frozen=True)
class Template:
    name: str
    code: bytes
    #: offset of each instruction in ``code``
    insn_offsets: tuple[int, ...]
    #: placeholder name -> offset of its 32-bit field
    fields: dict[str, int]

    def patch(self, at: int = 0, **values: int) -> bytearray:
        """A copy of the code, placed at address ``at``, with the named fields set.

        Fields named ``to_*`` are jump targets (absolute addresses, turned into
        rel32 against ``at``); the others are plain 32-bit immediates.
        """
        out = bytearray(self.code)
        for name, value in values.items():
            off = self.fields[name]
            if name.startswith("to_"):
                value = value - (at + off + 4)
            struct.pack_into("<I", out, off, value & 0xFFFFFFFF)
        return out


@dataclass(frozen=True)
class _Spec:
    asm: str
    mnemonics: tuple[str, ...]
    placeholders: dict[str, int]


def _spec(asm: str, mnemonics: str, **placeholders: int) -> _Spec:
    return _Spec(asm, tuple(mnemonics.split()), placeholders)


#: The lookup: ecx = guest target -> jmp to its translated entry (or the miss stub).
_LOOKUP = (f"movd xmm6, ecx\nmovd xmm5, edx\nmovzx edx, cx\nbswap ecx\nmovzx ecx, cx\n"
           f"mov ecx, dword ptr cs:[ecx*4 + {IMM_A:#x}]\nmov ecx, dword ptr cs:[ecx + edx*4]\n"
           f"movd edx, xmm5\njmp ecx")
_LOOKUP_MNEMONICS = "movd movd movzx bswap movzx mov mov movd jmp"

#: The templates, as data: assembly, the mnemonics capstone must see, placeholders.
#: ``table`` is the lookup table's linear address, ``guest`` a guest EIP, ``imm`` a constant.
SPECS: dict[str, _Spec] = {
    # ret: the guest return address comes off the guest stack into ecx, then the
    # two-level lookup table names the translated entry exactly (loads and register work
    # only: bswap and movzx split the address without touching EFLAGS; edx rides in xmm5)
    "ret": _spec(
        "movd xmm7, ecx\npop ecx\n" + _LOOKUP, "movd pop " + _LOOKUP_MNEMONICS, table=IMM_A),
    # ret imm16: the same, releasing imm16 bytes of arguments without touching flags
    "ret_imm": _spec(
        f"movd xmm7, ecx\npop ecx\nlea esp, [esp + {IMM_B:#x}]\n" + _LOOKUP,
        "movd pop lea " + _LOOKUP_MNEMONICS, table=IMM_A, imm=IMM_B),
    # the tail of an indirect call/jmp once ecx holds the guest target
    "lookup_tail": _spec(_LOOKUP, _LOOKUP_MNEMONICS, table=IMM_A),
    # the lookup entry in front of every block: the guest's ecx back from xmm7
    "entry": _spec("movd ecx, xmm7", "movd"),
    "save_ecx": _spec("movd xmm7, ecx", "movd"),
    "push_imm": _spec(f"push {IMM_A:#x}", "push", imm=IMM_A),
    "jmp": _spec(f"jmp {IMM_A:#x}", "jmp", to_target=IMM_A),
    # pushfd at virtual IOPL 0: the real IOPL is 1 (so that cli/sti/popfd run at CPL 1
    # and move the real IF, which is the virtual IF); give the image the guest's IOPL 0
    "pushfd_iopl0": _spec(
        "movd xmm7, ecx\npushfd\nmov ecx, dword ptr [esp]\nlea ecx, [ecx - 0x1000]\n"
        "mov dword ptr [esp], ecx\nmovd ecx, xmm7",
        "movd pushfd mov lea mov movd"),
    # popfd fast path at virtual IOPL 0: an image with IOPL 0 pops as it is (IF moves,
    # IOPL stays); any other IOPL goes to the callout (flags are dead: popfd sets them all)
    "popfd_check": _spec(f"test byte ptr [esp + 1], 0x30\njne {IMM_A:#x}", "test jne", to_callout=IMM_A),
    # a callout: a software interrupt the monitor's hook takes (the vector is patched)
    "callout": _spec("int 0x7f", "int"),
    # a system-register read kept in the virtual-CPU page: mov r32, cs:[vcpu field]
    "load_vcpu": _spec(f"mov edx, dword ptr cs:[{IMM_A:#x}]", "mov", addr=IMM_A),
    # the same into a 16-bit register (the upper half kept, as smsw/str/sldt r16 do)
    "load_vcpu16": _spec(f"mov dx, word ptr cs:[{IMM_A:#x}]", "mov", addr=IMM_A),
}

#: capstone spells a few mnemonics differently from how they are written above
_ALIASES = {"jecxz": ("jecxz",), "jne": ("jne",), "pushfd": ("pushfd", "pushal")}

_ks = None
_cs = Cs(CS_ARCH_X86, CS_MODE_32)


def _keystone() -> Ks:
    global _ks
    if _ks is None:
        _ks = Ks(KS_ARCH_X86, KS_MODE_32)
    return _ks


def _assemble(name: str, spec: _Spec) -> Template:
    ks = _keystone()
    code = b""
    # statement by statement, so that a relative jump's placeholder is an absolute
    # target keystone resolves against address 0 of that statement's offset
    offsets: list[int] = []
    for line in spec.asm.split("\n"):
        encoding, _ = ks.asm(line, len(code))
        if not encoding:
            raise TemplateError(f"template {name}: keystone produced nothing for {line!r}")
        offsets.append(len(code))
        code += bytes(encoding)
    decoded = list(_cs.disasm_lite(code, 0))
    got = tuple(d[2] for d in decoded)
    if len(got) != len(spec.mnemonics) or any(
            g not in _ALIASES.get(w, (w,)) for g, w in zip(got, spec.mnemonics, strict=False)):
        raise TemplateError(f"template {name}: capstone reads {got}, expected {spec.mnemonics} "
                            f"({code.hex()})")
    if tuple(d[0] for d in decoded) != tuple(offsets):
        raise TemplateError(f"template {name}: instruction boundaries {offsets} vs capstone")
    fields: dict[str, int] = {}
    jumps = [off + size - 4 for off, size, mnem, _ in decoded if mnem.startswith("j") and size >= 5]
    for field, marker in spec.placeholders.items():
        if field.startswith("to_"):  # a jump target: its rel32 is the jump's last 4 bytes
            if len(jumps) != 1:
                raise TemplateError(f"template {name}: {field} needs exactly one rel32 jump")
            fields[field] = jumps[0]
            continue
        at = code.find(struct.pack("<I", marker & 0xFFFFFFFF))
        if at < 0:
            raise TemplateError(f"template {name}: placeholder {field} not found")
        fields[field] = at
    return Template(name, code, tuple(offsets), fields)


@cache
def template(name: str) -> Template:
    """The assembled, checked template ``name`` (assembled once per process)."""
    return _assemble(name, SPECS[name])


def all_templates() -> dict[str, Template]:
    return {name: template(name) for name in SPECS}


# --- patch helpers used by the rewriter ---------------------------------------------------
def rel32(field_address: int, target: int) -> int:
    """The rel32 of a jump whose 4-byte field sits at ``field_address``."""
    return (target - (field_address + 4)) & 0xFFFFFFFF
