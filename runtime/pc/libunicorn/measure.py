"""What a guest store and a guest load cost on the loaded libunicorn, in processor time.

``python -m runtime.pc.libunicorn.measure [--json]`` prints, and :func:`measure` returns,
nanoseconds per 32-bit store and per load in a guest loop (a bare unicorn engine, paging
off, ring 0), each net of the same loop with register moves in their place, and their
ratio: on the PyPI wheel of unicorn 2.1.4 a store costs 15-25x a load (the
``notdirty_write`` slow path, ``store-fix.patch``); on the patched build about 1x. A third
figure is a store to a data word on a page that also holds the running code: it takes the
slow path on both libraries (that is how self-modifying code is caught), so it shows the
fix left SMC detection in place.

Processor time (``time.process_time``), not wall time: the machine is shared. The
figures are for ``bt bench`` and the report, never for a timed assertion.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from dataclasses import asdict, dataclass

from runtime.pc.libunicorn import loaded

CODE = 0x1000           # the loop
DATA = 0x8000           # the words it stores to / loads from (a page of its own)
BESIDE = CODE + 0x800   # a data word on the code's own page
UNROLL = 16

# one unrolled body: 16 accesses through ebx+disp8 (or register moves), then dec ecx; jnz
_STORE = bytes.fromhex("8943")  # mov [ebx+disp8], eax
_LOAD = bytes.fromhex("8b43")   # mov eax, [ebx+disp8]
_MOVE = bytes.fromhex("89c2")   # mov edx, eax (the baseline: no memory access)


def _loop(access: bytes | None) -> bytes:
    """16 ``access [ebx+disp8]`` (disp8 0..28) or, for None, 16 ``mov edx, eax``; then the loop."""
    body = b"".join(access + bytes([4 * (i % 8)]) if access else _MOVE for i in range(UNROLL))
    return body + b"\x49" + b"\x0f\x85" + struct.pack("<i", -(len(body) + 7))  # dec ecx; jnz body


def _run(code: bytes, target: int, iterations: int, repeats: int) -> float:
    """Best-of-``repeats`` processor seconds for ``iterations`` trips round ``code``."""
    from unicorn import UC_ARCH_X86, UC_MODE_32, Uc
    from unicorn.x86_const import UC_X86_REG_EBX, UC_X86_REG_ECX

    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, 0x10000)
    uc.mem_write(CODE, code + b"\xf4")
    best = float("inf")
    for _ in range(repeats + 1):  # the first run translates the loop: not counted
        uc.reg_write(UC_X86_REG_EBX, target)
        uc.reg_write(UC_X86_REG_ECX, iterations)
        start = time.process_time()
        uc.emu_start(CODE, CODE + len(code))
        spent = time.process_time() - start
        if _ > 0:
            best = min(best, spent)
    return best / (iterations * UNROLL)


@dataclass(frozen=True)
class StoreLoad:
    """Nanoseconds per guest access, each net of the register-move loop."""

    library: str
    store_ns: float
    load_ns: float
    store_beside_code_ns: float
    loop_ns: float

    @property
    def ratio(self) -> float:
        """Store cost over load cost (floored at 0.1 ns each, so noise cannot divide by zero)."""
        return max(self.store_ns, 0.1) / max(self.load_ns, 0.1)

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ratio": round(self.ratio, 2)}


def measure(iterations: int = 400_000, repeats: int = 3) -> StoreLoad:
    """Measure the loaded library (see the module doc); about a second on the wheel."""
    base = _run(_loop(None), DATA, iterations, repeats)
    store = _run(_loop(_STORE), DATA, iterations, repeats)
    load = _run(_loop(_LOAD), DATA, iterations, repeats)
    beside = _run(_loop(_STORE), BESIDE, iterations // 4, repeats)
    return StoreLoad(library=loaded().describe(),
                     store_ns=round((store - base) * 1e9, 2), load_ns=round((load - base) * 1e9, 2),
                     store_beside_code_ns=round((beside - base) * 1e9, 2), loop_ns=round(base * 1e9, 2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.pc.libunicorn.measure",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=400_000)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    m = measure(args.iterations)
    if args.json:
        print(json.dumps(m.as_dict()))
        return 0
    print(m.library)
    print(f"  store              {m.store_ns:7.2f} ns")
    print(f"  load               {m.load_ns:7.2f} ns")
    print(f"  store/load         {m.ratio:7.2f}x")
    print(f"  store beside code  {m.store_beside_code_ns:7.2f} ns (the SMC slow path, both libraries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
