"""``bt explain``: a guest block beside its translation.

The view a student of binary translation wants: each guest instruction of
the unit, how the translator handled it (ident, inline, callout, chained,
lookup) and the translated instructions it became, the block's lookup
entry and exit stubs, and why the unit stopped. The guest is loaded and
booted under the monitor (so the virtual CPU is in its boot state) and the
block is translated without running anything.
"""

from __future__ import annotations

from capstone import CS_ARCH_X86, CS_MODE_32, Cs

from bt.cache import Block
from bt.rewrite import FIX_ENTRY
from runtime.errors import GuestLoadError
from runtime.session import RunOptions, prepare
from runtime.vmm.monitor import Monitor

_MARK = {"ident": "IDENT", "inline": "inline", "callout": "callout", "chained": "chained",
         "lookup": "lookup"}


def resolve_address(path: str, text: str) -> int:
    """An address (decimal, 0x hex) or a symbol of the guest ELF."""
    try:
        value = int(text, 0)
    except ValueError:
        pass
    else:
        if not 0 <= value <= 0xFFFFFFFF:
            raise GuestLoadError(path, f"--addr {text}: not a 32-bit address (0 to 0xffffffff)")
        return value
    import lief

    binary = lief.parse(path)
    if binary is not None:
        for sym in getattr(binary, "symbols", []):
            if sym.name == text:
                return int(sym.value)
    raise GuestLoadError(path, f"no symbol or address {text!r}")


def explain(path: str, address: int, options: RunOptions) -> str:
    """The text of ``bt explain`` for the block at guest ``address``."""
    machine, state = prepare(path, options)
    assert isinstance(machine, Monitor)
    machine.boot(state)
    machine.tc.keep_annotations = True
    block = machine.tc.translate(machine.vcpu.v.cs.base, address)
    return render(machine, block)


def render(mon: Monitor, block: Block) -> str:
    cs = Cs(CS_ARCH_X86, CS_MODE_32)
    code = bytes(mon.uc.mem_read(mon.space.to_phys(block.addr), block.size))

    def tc_lines(start: int, end: int) -> list[str]:
        out = []
        for addr, size, mnem, ops in cs.disasm_lite(code[start - block.addr:end - block.addr], start):
            raw = code[addr - block.addr:addr - block.addr + size].hex(" ")
            out.append(f"{addr:#010x}  {raw:<26} {mnem} {ops}".rstrip())
        return out

    lines = [
        f"guest block {block.guest_eip:#010x}..{block.guest_end:#010x} (CS base "
        f"{block.cs_base:#x}): {block.guest_insns} instructions, stop: {block.stop.value}",
        f"translation at {block.addr:#010x}: lookup entry, body at {block.body:#010x}, "
        f"{block.size} bytes",
        "",
        "(lookup entry: ret and indirect branches arrive here with the guest target in xmm6)",
    ]
    lines += ["    " + t for t in tc_lines(block.addr, block.body)]
    lines.append("")
    width = 44
    for note in block.annotations:
        guest = f"{note.guest_eip:#010x}  {note.guest_bytes.hex(' '):<20} {note.text}"
        mark = _MARK.get(note.handling, note.handling)
        label = mark if note.handling == "ident" else f"{mark} ({note.rule})"
        translated = tc_lines(block.addr + note.start, block.addr + note.end) or ["(nothing)"]
        lines.append(f"{guest:<{width + 20}}  {label}")
        lines += [" " * 6 + "-> " + t for t in translated]
    tail_start = max((block.addr + n.end for n in block.annotations), default=block.body)
    tail = tc_lines(tail_start, block.addr + block.size)
    if tail:
        lines.append("")
        lines.append("exits and slow paths (each int is a way back into the monitor):")
        for t in tail:
            lines.append("    " + t)
    lines.append("")
    for ex in block.exits:
        where = f"chained to {ex.chained.body:#010x}" if ex.chained else f"stub {ex.stub:#010x}"
        lines.append(f"exit {ex.kind:<12} -> guest {ex.guest_target:#010x}  ({where})")
    for co in block.callouts:
        lines.append(f"callout {co.handler:<12} at {block.addr + co.at:#010x} for guest "
                     f"{co.guest_eip:#010x}, resumes at {block.addr + co.resume:#010x}")
    fixups = sum(1 for m in block.map if m.fixup >= 0 and m.fixup != FIX_ENTRY)
    lines.append(f"map: {len(block.map)} translated instructions, "
                 f"{sum(1 for m in block.map if m.retires)} start a guest instruction, "
                 f"{fixups} need a register fixup if stopped there")
    return "\n".join(lines)
