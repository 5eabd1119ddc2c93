"""Coverage export: the guest blocks executed, as a drcov file (``bt run --coverage F``).

drcov is the format DynamoRIO's drcov tool writes and Lighthouse (IDA, Binary Ninja) and
other coverage viewers read: a text header with a module table, then ``BB Table: N bbs``
and N binary records ``{uint32 start; uint16 size; uint16 module}``, start an offset from
the module's base (DynamoRIO's drcov documentation, "Coverage file format", version 2).

The guest is one module, its image, with base 0: offsets are guest linear addresses (a
disassembler that loads the ELF at its link addresses shows them as they are). Natively,
each unicorn block run is a guest block; under the monitor a translated block run stands
for its guest block (``guest_eip`` .. ``guest_end``) and user code runs direct, so its
blocks are unicorn's. A Python block hook: a coverage run is slower (it is only installed
with ``--coverage``).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from unicorn import UC_HOOK_BLOCK

if TYPE_CHECKING:
    from runtime.pc.machine import Machine

_BB = struct.Struct("<IHH")


class Coverage:
    """The set of guest blocks a run executed."""

    def __init__(self, machine: Machine) -> None:
        self.m = machine
        self.blocks: set[tuple[int, int]] = set()
        self._monitor = hasattr(machine, "tc")
        machine.uc.hook_add(UC_HOOK_BLOCK, self._on_block)

    def _on_block(self, _uc: object, address: int, size: int, _data: object) -> None:
        m = self.m
        if self._monitor and m.space.contains(address):  # type: ignore[attr-defined]
            b = m.tc.block_at(address)  # type: ignore[attr-defined]
            if b is None:
                return  # the lookup-miss stub: no guest code
            address = (b.cs_base + b.guest_eip) & 0xFFFFFFFF
            size = b.guest_end - b.guest_eip
        if size > 0:
            self.blocks.add((address, min(size, 0xFFFF)))

    def write(self, path: str, guest: str) -> None:
        end = max((a + s for a, s in self.blocks), default=0)
        header = ("DRCOV VERSION: 2\nDRCOV FLAVOR: drcov\n"
                  "Module Table: version 2, count 1\n"
                  "Columns: id, base, end, entry, checksum, timestamp, path\n"
                  f" 0, 0x0000000000000000, {end:#018x}, 0x0000000000000000, 0x00000000, "
                  f"0x00000000, {guest}\n"
                  f"BB Table: {len(self.blocks)} bbs\n")
        with open(path, "wb") as f:
            f.write(header.encode())
            for address, size in sorted(self.blocks):
                f.write(_BB.pack(address & 0xFFFFFFFF, size, 0))
