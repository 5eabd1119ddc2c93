"""gdb's ``monitor CMD`` (``qRcmd``): the hypervisor's own view, beside the guest's.

``info jit``: the translator's and the monitor's counters (QEMU's ``info jit``);
``tb ADDR``: the translation of the guest block at ADDR, each guest instruction beside
its rule and handling; ``info registers``: the guest's registers.
"""

from __future__ import annotations

from collections.abc import Callable

from runtime.debug.target import Target


def _info_jit(t: Target, _args: list[str]) -> str:
    m = t.m
    lines = [f"guest instructions  {m.counter.insns}"]
    if t.monitor:
        for group, d in (("translator", m.tc.stats.as_dict()),  # type: ignore[attr-defined]
                         ("monitor", m.mstats.as_dict())):  # type: ignore[attr-defined]
            lines.append(f"{group}:")
            lines += [f"  {k:<32} {v}" for k, v in d.items()]
    else:
        lines.append("bare machine: no translation")
    return "\n".join(lines) + "\n"


def _tb(t: Target, args: list[str]) -> str:
    if not t.monitor:
        return "bare machine: no translation\n"
    if not args:
        return "usage: monitor tb ADDR\n"
    addr = int(args[0], 0)
    blocks = [b for b in t.m.tc if b.guest_eip <= addr < b.guest_end and b.valid]  # type: ignore[attr-defined]
    if not blocks:
        return f"no translation holds guest {addr:#010x}\n"
    lines = []
    for b in blocks:
        lines.append(f"block guest {b.guest_eip:#010x}-{b.guest_end:#010x} at {b.addr:#010x} "
                     f"({b.size} bytes)")
        for a in b.annotations:
            lines.append(f"  {a.guest_eip:#010x}  {a.guest_bytes.hex():<20} {a.text:<32} "
                         f"{a.handling}/{a.rule}  -> {b.addr + a.start:#010x}")
    return "\n".join(lines) + "\n"


def _info_registers(t: Target, _args: list[str]) -> str:
    return "".join(f"{k:<8} {v:#010x}\n" for k, v in t.registers().items())


COMMANDS: dict[str, Callable[[Target, list[str]], str]] = {
    "info jit": _info_jit, "tb": _tb, "info registers": _info_registers,
}


def run_command(t: Target, command: str) -> str:
    words = command.split()
    for n in (2, 1):
        fn = COMMANDS.get(" ".join(words[:n]))
        if fn is not None:
            try:
                return fn(t, words[n:])
            except (ValueError, IndexError) as exc:
                return f"error: {exc}\n"
    return f"unknown monitor command {command!r}; known: {', '.join(COMMANDS)}\n"
