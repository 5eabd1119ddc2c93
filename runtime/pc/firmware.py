"""Firmware state as SeaBIOS leaves it under QEMU for a multiboot kernel: the BDA, the EBDA,
the Intel MP tables and the ACPI tables describing the local APIC and the I/O APIC.

Kernels written for a standard PC find the interrupt hardware through these
tables, searching where the MP spec 1.4 (section 4) and the ACPI spec (5.2.5.1)
say: the EBDA's first KiB (segment at BDA 40:0E), the last KiB of base memory
(size at 40:13) and the BIOS ROM area 0xE0000/0xF0000-0xFFFFF. The tables here
are data: each structure is a row of ``struct`` fields, checksummed as its spec
requires, and :func:`build` returns every piece with its physical address.

What is published (and what is not), compared with SeaBIOS's ``src/fw/mptable.c``
and ``src/fw/acpi.c`` / QEMU's ``hw/i386/acpi-build.c``:

* BDA: COM1 at 0x3F8 (40:00), the EBDA segment 0x9FC0 (40:0E), 639 KiB of base
  memory (40:13). EBDA: its size, 1 KiB, in its first byte.
* MP floating pointer in the F segment (16-byte aligned): spec revision 1.4,
  feature byte 1 = 0 (a configuration table follows), feature byte 2 = 0 (no
  IMCR: virtual-wire mode, as SeaBIOS). Configuration table "PCMP": one
  enabled boot processor (local APIC id 0, version 0x14, CPUID signature and
  features), one bus "ISA" (id 0), one I/O APIC (id 0, version 0x11, enabled,
  0xFEC00000), an INT entry per ISA IRQ 0-15 but 2 (IRQ 0 on pin 2, the rest
  on their own pin; flags 0: conforming to the bus, edge and active high),
  and the local interrupts (ExtINT on LINT0, NMI on LINT1). No PCI bus (the PC
  has none, so no PCI interrupt entries either).
* ACPI 1.0 RSDP "RSD PTR " in the F segment -> RSDT -> MADT ("APIC"): local
  APIC address, PCAT_COMPAT (the 8259As are present), one enabled processor,
  the I/O APIC (GSI base 0), the ISA override IRQ 0 -> GSI 2, the local APIC
  NMI on LINT1. No FADT, DSDT, HPET or MCFG: this PC has no ACPI hardware, no
  HPET and no PCI, and publishing a table would promise one.

The tables live in the F segment (0xF0000-0xFFFFF), which the e820 map reports
reserved (:func:`runtime.pc.multiboot.pc_memory_map`); SeaBIOS puts the RSDT and
MADT at the top of RAM instead, which nothing a kernel reads depends on.
"""

from __future__ import annotations

import struct

from runtime.pc.devices.ioapic import IOAPIC_BASE
from runtime.pc.devices.lapic import LAPIC_BASE

BDA = 0x400
EBDA = 0x9FC00
BASE_MEMORY_KIB = EBDA >> 10  # 639
COM1 = 0x3F8
#: where the tables go (the F segment; 16-byte aligned pieces)
MP_FLOATING = 0xF6000
MP_CONFIG = 0xF6010
RSDP = 0xF6200
RSDT = 0xF6220
MADT = 0xF6260

LAPIC_ID = 0
LAPIC_VERSION = 0x14
IOAPIC_ID = 0
IOAPIC_MP_VERSION = 0x11
ISA_BUS = 0
#: ISA IRQ -> I/O APIC pin (the PIT's IRQ0 is wired to pin 2; IRQ2 is the cascade)
ISA_ROUTES = {0: 2, **{irq: irq for irq in range(1, 16) if irq != 2}}
#: CPUID leaf 1 of the processor (unicorn's qemu32 model): EAX signature, EDX features
CPU_SIGNATURE = 0x000306C4
CPU_FEATURES = 0x078BFBFD

# MP spec 1.4 entry types (section 4.3) and interrupt types (table 4-7)
MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INT, MP_LINT = 0, 1, 2, 3, 4
INT_INT, INT_NMI, INT_SMI, INT_EXTINT = 0, 1, 2, 3
# ACPI MADT entry types (ACPI 6.x, 5.2.12)
MADT_LAPIC, MADT_IOAPIC, MADT_OVERRIDE, MADT_LAPIC_NMI = 0, 1, 2, 4


def checksum_byte(data: bytes) -> int:
    """The byte that makes ``data`` (with it included as 0) sum to zero mod 256."""
    return (-sum(data)) & 0xFF


def _with_checksum(data: bytes, at: int) -> bytes:
    b = bytearray(data)
    b[at] = 0
    b[at] = checksum_byte(bytes(b))
    return bytes(b)


# --- the BIOS data area ------------------------------------------------------------------
def bda() -> bytes:
    """0x400-0x4FF: COM1 (40:00), EBDA segment (40:0E), base memory in KiB (40:13)."""
    b = bytearray(0x100)
    struct.pack_into("<H", b, 0x00, COM1)
    struct.pack_into("<H", b, 0x0E, EBDA >> 4)
    struct.pack_into("<H", b, 0x13, BASE_MEMORY_KIB)
    return bytes(b)


# --- MP spec 1.4 -------------------------------------------------------------------------
def mp_entries() -> list[bytes]:
    """The configuration table's entries, in the order the spec asks (by type)."""
    entries = [struct.pack("<BBBBII8x", MP_PROCESSOR, LAPIC_ID, LAPIC_VERSION, 0x03,
                           CPU_SIGNATURE, CPU_FEATURES)]  # flags: enabled, boot processor
    entries.append(struct.pack("<BB6s", MP_BUS, ISA_BUS, b"ISA   "))
    entries.append(struct.pack("<BBBBI", MP_IOAPIC, IOAPIC_ID, IOAPIC_MP_VERSION, 0x01,
                               IOAPIC_BASE))
    for irq, pin in ISA_ROUTES.items():
        entries.append(struct.pack("<BBHBBBB", MP_INT, INT_INT, 0, ISA_BUS, irq, IOAPIC_ID, pin))
    entries.append(struct.pack("<BBHBBBB", MP_LINT, INT_EXTINT, 0, ISA_BUS, 0, 0xFF, 0))
    entries.append(struct.pack("<BBHBBBB", MP_LINT, INT_NMI, 0, ISA_BUS, 0, 0xFF, 1))
    return entries


def mp_config_table() -> bytes:
    body = b"".join(mp_entries())
    header = struct.pack("<4sHBB8s12sIHHIHBB", b"PCMP", 44 + len(body), 4, 0, b"BOCHSCPU",
                         b"0.1         ", 0, 0, len(mp_entries()), LAPIC_BASE, 0, 0, 0)
    return _with_checksum(header + body, 7)


def mp_floating_pointer(config: int = MP_CONFIG) -> bytes:
    raw = struct.pack("<4sIBBBB4x", b"_MP_", config, 1, 4, 0, 0)
    return _with_checksum(raw, 10)


# --- ACPI --------------------------------------------------------------------------------
def _sdt(signature: bytes, revision: int, body: bytes, table_id: bytes) -> bytes:
    """An ACPI system description table: the 36-byte header, then ``body``."""
    header = struct.pack("<4sIBB6s8sI4sI", signature, 36 + len(body), revision, 0, b"BOCHS ",
                         table_id, 1, b"BXPC", 1)
    return _with_checksum(header + body, 9)


def madt() -> bytes:
    body = struct.pack("<II", LAPIC_BASE, 1)  # flags: PCAT_COMPAT
    body += struct.pack("<BBBBI", MADT_LAPIC, 8, 0, LAPIC_ID, 1)  # enabled
    body += struct.pack("<BBBBII", MADT_IOAPIC, 12, IOAPIC_ID, 0, IOAPIC_BASE, 0)
    body += struct.pack("<BBBBIH", MADT_OVERRIDE, 10, ISA_BUS, 0, 2, 0)  # IRQ0 -> GSI 2
    body += struct.pack("<BBBHB", MADT_LAPIC_NMI, 6, 0xFF, 0, 1)  # all processors, LINT1
    return _sdt(b"APIC", 1, body, b"BXPCAPIC")


def rsdt(tables: tuple[int, ...] = (MADT,)) -> bytes:
    return _sdt(b"RSDT", 1, b"".join(struct.pack("<I", t) for t in tables), b"BXPCRSDT")


def rsdp(rsdt_addr: int = RSDT) -> bytes:
    raw = struct.pack("<8sB6sBI", b"RSD PTR ", 0, b"BOCHS ", 0, rsdt_addr)  # ACPI 1.0
    return _with_checksum(raw, 8)


def build() -> list[tuple[int, bytes]]:
    """Every piece of firmware state with its physical address."""
    pieces = [
        (BDA, bda()),
        (EBDA, bytes([1])),  # the EBDA's size in KiB
        (MP_FLOATING, mp_floating_pointer()),
        (MP_CONFIG, mp_config_table()),
        (RSDP, rsdp()),
        (RSDT, rsdt()),
        (MADT, madt()),
    ]
    ends = sorted((a, a + len(d)) for a, d in pieces)
    for (_, end), (start, _) in zip(ends, ends[1:], strict=False):
        assert end <= start, "firmware pieces overlap"
    return pieces
