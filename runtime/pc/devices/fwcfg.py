"""QEMU's firmware configuration device, port interface (ports 0x510 selector, 0x511 data).

QEMU's ``docs/specs/fw_cfg.rst``: a 16-bit write to the selector port picks an
item and rewinds it; each byte read from the data port returns the item's next
byte (0 past its end). The items are rows of :func:`items`: the signature
"QEMU" (0x0000), the interface id (0x0001: 1, the traditional port interface;
no DMA), the RAM size (0x0003, 64-bit), the processor count (0x0005, 16-bit)
and the maximum (0x000F), the kernel command line's size (0x0014, with its
NUL) and bytes (0x0015), and an empty file directory (0x0019, a big-endian
count of 0). Unknown selectors read as zeros, as QEMU's do.
"""

from __future__ import annotations

import struct

from runtime.pc.devices.base import Device

FW_CFG_SIGNATURE = 0x0000
FW_CFG_ID = 0x0001
FW_CFG_RAM_SIZE = 0x0003
FW_CFG_NB_CPUS = 0x0005
FW_CFG_MAX_CPUS = 0x000F
FW_CFG_CMDLINE_SIZE = 0x0014
FW_CFG_CMDLINE_DATA = 0x0015
FW_CFG_FILE_DIR = 0x0019


def items(ram_size: int, cmdline: bytes, cpus: int = 1) -> dict[int, bytes]:
    line = cmdline + b"\0"
    return {
        FW_CFG_SIGNATURE: b"QEMU",
        FW_CFG_ID: struct.pack("<I", 1),
        FW_CFG_RAM_SIZE: struct.pack("<Q", ram_size),
        FW_CFG_NB_CPUS: struct.pack("<H", cpus),
        FW_CFG_MAX_CPUS: struct.pack("<H", cpus),
        FW_CFG_CMDLINE_SIZE: struct.pack("<I", len(line)),
        FW_CFG_CMDLINE_DATA: line,
        FW_CFG_FILE_DIR: struct.pack(">I", 0),
    }


class FwCfg(Device):
    name = "fw_cfg"
    ports = (range(0x510, 0x512),)

    def __init__(self, ram_size: int, cmdline: bytes = b"") -> None:
        self.items = items(ram_size, cmdline)
        self.selector = 0
        self.offset = 0

    def io_read(self, port: int, size: int) -> int:
        if port != 0x511:
            return 0
        value = 0
        data = self.items.get(self.selector, b"")
        for i in range(size):
            byte = data[self.offset] if self.offset < len(data) else 0
            self.offset += 1
            value |= byte << (8 * i)
        return value

    def io_write(self, port: int, size: int, value: int) -> None:
        if port == 0x510:
            self.selector = value & 0xFFFF
            self.offset = 0
