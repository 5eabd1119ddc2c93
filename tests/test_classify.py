"""The classification table covers every sensitive-unprivileged instruction and the privileged ones.

Encodings come from the Intel SDM vol 2 opcode tables, written out by hand
(not assembled by keystone, which mis-encodes several system instructions).
"""

from __future__ import annotations

import pytest
from capstone import CS_ARCH_X86, CS_MODE_32, Cs

from bt.classify import SENSITIVE_UNPRIVILEGED, Handling, Kind, classify

_cs = Cs(CS_ARCH_X86, CS_MODE_32)
_cs.detail = True


def rule_of(code: bytes):
    insn = next(_cs.disasm(code, 0x1000))
    assert insn.size == len(code), insn
    return classify(insn)


# Robin & Irvine's sensitive-unprivileged instructions: encoding -> rule name
SENSITIVE = {
    "sgdt": b"\x0f\x01\x00",  # sgdt [eax]
    "sidt": b"\x0f\x01\x08",
    "sldt": b"\x0f\x00\xc0",  # sldt eax
    "smsw": b"\x0f\x01\xe0",
    "str": b"\x0f\x00\xc8",
    "pushf": b"\x9c",
    "popf": b"\x9d",
    "lar": b"\x0f\x02\xc1",
    "lsl": b"\x0f\x03\xc1",
    "verr": b"\x0f\x00\xe0",
    "verw": b"\x0f\x00\xe8",
    "push sreg": b"\x1e",  # push ds
    "pop sreg": b"\x1f",  # pop ds
    "mov sreg": b"\x8e\xd8",  # mov ds, eax
    "far call": b"\x9a\x00\x00\x00\x00\x08\x00",
    "far jmp": b"\xea\x00\x00\x00\x00\x08\x00",
    "far ret": b"\xcb",
    "int n": b"\xcd\x80",
}


@pytest.mark.parametrize("name", list(SENSITIVE))
def test_every_sensitive_unprivileged_instruction_is_caught(name: str) -> None:
    rule = rule_of(SENSITIVE[name])
    assert rule.kind is Kind.SENSITIVE, (name, rule)
    assert rule.handling is not Handling.IDENT
    assert name.split()[0] in rule.name


def test_the_table_names_all_of_robin_and_irvine() -> None:
    assert set(SENSITIVE) == set(SENSITIVE_UNPRIVILEGED)
    assert len(SENSITIVE) == len(SENSITIVE_UNPRIVILEGED)


@pytest.mark.parametrize(("code", "name"), [
    (b"\x0e", "push sreg"), (b"\x16", "push sreg"), (b"\x06", "push sreg"),
    (b"\x0f\xa0", "push sreg"), (b"\x0f\xa8", "push sreg"), (b"\x07", "pop sreg"),
    (b"\x17", "pop sreg"), (b"\x0f\xa1", "pop sreg"), (b"\x0f\xa9", "pop sreg"),
    (b"\x8c\xd8", "mov from sreg"), (b"\x8c\x08", "mov from sreg"), (b"\x8e\x10", "mov to sreg"),
    (b"\xff\x18", "far call"), (b"\xff\x28", "far jmp"), (b"\xca\x04\x00", "far ret"),
    (b"\xcc", "int3"), (b"\xce", "into"), (b"\xcf", "iret"), (b"\x66\x9c", "pushf"),
    (b"\xc5\x00", "lds"), (b"\x0f\xb2\x00", "lss"),
])
def test_other_forms_of_sensitive_instructions(code: bytes, name: str) -> None:
    rule = rule_of(code)
    assert rule.kind is Kind.SENSITIVE and rule.name == name


@pytest.mark.parametrize(("code", "name"), [
    (b"\xfa", "cli"), (b"\xfb", "sti"), (b"\xf4", "hlt"), (b"\xe4\x10", "in"), (b"\xec", "in"),
    (b"\xee", "out"), (b"\x6c", "ins"), (b"\x6f", "outs"), (b"\x0f\x01\x10", "lgdt"),
    (b"\x0f\x01\x18", "lidt"), (b"\x0f\x00\xd0", "lldt"), (b"\x0f\x00\xd8", "ltr"),
    (b"\x0f\x22\xc0", "mov crN"), (b"\x0f\x20\xd8", "mov crN"), (b"\x0f\x23\xc0", "mov drN"),
    (b"\x0f\x21\xf8", "mov drN"), (b"\x0f\x01\x38", "invlpg"), (b"\x0f\x32", "rdmsr"),
    (b"\x0f\x30", "wrmsr"), (b"\x0f\x06", "clts"), (b"\x0f\x01\xf0", "lmsw"),
])
def test_privileged_instructions(code: bytes, name: str) -> None:
    rule = rule_of(code)
    assert rule.kind is Kind.PRIVILEGED and rule.name == name


@pytest.mark.parametrize(("code", "kind"), [
    (b"\x01\xd8", Kind.IDENT), (b"\x8b\x00", Kind.IDENT), (b"\x89\xd8", Kind.IDENT),
    (b"\x50", Kind.IDENT), (b"\x58", Kind.IDENT), (b"\xf3\xa5", Kind.IDENT),
    (b"\xeb\x00", Kind.JUMP), (b"\xe9\0\0\0\0", Kind.JUMP), (b"\x74\x00", Kind.BRANCH),
    (b"\x0f\x85\0\0\0\0", Kind.BRANCH), (b"\xe2\x00", Kind.BRANCH), (b"\xe3\x00", Kind.BRANCH),
    (b"\xe8\0\0\0\0", Kind.CALL), (b"\xc3", Kind.RET), (b"\xc2\x04\x00", Kind.RET),
    (b"\xff\xe0", Kind.INDIRECT_JUMP), (b"\xff\x20", Kind.INDIRECT_JUMP),
    (b"\xff\xd0", Kind.INDIRECT_CALL), (b"\xff\x10", Kind.INDIRECT_CALL),
    (b"\x0f\x31", Kind.VIRTUALIZED), (b"\x0f\xa2", Kind.VIRTUALIZED),
])
def test_ident_and_control_flow(code: bytes, kind: Kind) -> None:
    assert rule_of(code).kind is kind


def test_control_flow_and_traps_end_the_unit() -> None:
    for code in (b"\xc3", b"\xeb\x00", b"\x74\x00", b"\xcd\x80", b"\xcf", b"\xf4"):
        assert rule_of(code).ends_unit, code.hex()
    # sti, mov ss and pop ss hold interrupts for one instruction: the scanner keeps the
    # next instruction in the same unit (tests/test_translate.py), so they do not end it
    for code in (b"\x01\xd8", b"\x9c", b"\xfa", b"\x8e\xd8", b"\xfb", b"\x8e\xd0", b"\x17"):
        assert not rule_of(code).ends_unit, code.hex()
