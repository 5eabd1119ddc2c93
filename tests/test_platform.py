"""The PC platform core (issue 16): firmware tables, the local APIC, the I/O APIC, fw_cfg,
memory-mapped devices trapped at the exact instruction in both modes, and a guest that maps
all 4 GiB under the monitor.

Expected values come from the specifications, never from btvmm: the MP spec 1.4 and the
ACPI spec (the tables are parsed here by a reader written from them, searching where a
kernel searches), the Intel SDM vol. 3A chapter 10 (APIC registers, priority, timer) and
the 82093AA datasheet, and QEMU's values where a PC's differ by model (APIC version
0x00050014, I/O APIC version 0x00170020: corpus/expected/unseen/cputest.out, from qemu).
"""

from __future__ import annotations

import struct

import pytest
from pcguest import RESULT, Scenario, exit_code, result_words

from runtime.pc import firmware
from runtime.pc.devices import pc_platform
from runtime.pc.devices.ioapic import IoApic
from runtime.pc.devices.lapic import LocalApic
from runtime.report import Outcome

LAPIC, IOAPIC = 0xFEE00000, 0xFEC00000


class FakeClock:
    deterministic = True

    def __init__(self) -> None:
        self.t = 0

    def now_ns(self) -> int:
        return self.t


# --- the tables, read as a kernel reads them ------------------------------------------------
def _memory() -> bytearray:
    mem = bytearray(1 << 20)
    for addr, data in firmware.build():
        mem[addr:addr + len(data)] = data
    return mem


def _find(mem: bytes, sig: bytes, start: int, end: int, length: int) -> int | None:
    for a in range(start, end, 16):
        if mem[a:a + len(sig)] == sig and sum(mem[a:a + length]) & 0xFF == 0:
            return a
    return None


def _mp_floating(mem: bytes) -> int | None:
    """MP spec 1.4, 4: the EBDA's first KiB, the last KiB of base memory, 0xF0000-0xFFFFF."""
    ebda = struct.unpack_from("<H", mem, 0x40E)[0] << 4
    base_kib = struct.unpack_from("<H", mem, 0x413)[0]
    for start, end in ((ebda, ebda + 1024), ((base_kib - 1) * 1024, base_kib * 1024),
                       (0xF0000, 0x100000)):
        if start and (a := _find(mem, b"_MP_", start, end, 16)) is not None:
            return a
    return None


def test_bda_names_com1_the_ebda_and_base_memory() -> None:
    mem = _memory()
    assert struct.unpack_from("<H", mem, 0x400)[0] == 0x3F8
    assert struct.unpack_from("<H", mem, 0x40E)[0] == 0x9FC0
    assert struct.unpack_from("<H", mem, 0x413)[0] == 639
    assert mem[0x9FC00] == 1  # the EBDA's size in KiB


def test_mp_tables_parse_as_the_mp_spec_says() -> None:
    mem = _memory()
    fp = _mp_floating(mem)
    assert fp is not None and fp % 16 == 0
    config, length, rev, feature1, feature2 = struct.unpack_from("<IBBxBB", mem, fp + 4)
    assert (length, rev, feature1) == (1, 4, 0)  # a configuration table, not a default one
    assert not feature2 & 0x80  # virtual-wire mode: no IMCR, as SeaBIOS says
    sig, base_len, spec, _ck = struct.unpack_from("<4sHBB", mem, config)
    assert sig == b"PCMP" and spec == 4 and sum(mem[config:config + base_len]) & 0xFF == 0
    count, lapic = struct.unpack_from("<HI", mem, config + 34)
    assert lapic == LAPIC
    entries: dict[int, list[bytes]] = {}
    p = config + 44
    for _ in range(count):
        kind = mem[p]
        size = 20 if kind == 0 else 8
        assert kind <= 4, f"entry type {kind}"
        entries.setdefault(kind, []).append(bytes(mem[p:p + size]))
        p += size
    assert p == config + base_len
    (proc,) = entries[0]
    assert proc[1] == 0 and proc[2] == 0x14 and proc[3] & 3 == 3  # APIC 0, enabled, BSP
    assert struct.unpack_from("<I", proc, 8)[0] & (1 << 9)  # CPUID features: APIC
    buses = {e[1]: e[2:8] for e in entries[1]}
    assert buses == {0: b"ISA   "}
    (io,) = entries[2]
    assert io[1] == 0 and io[3] & 1 and struct.unpack_from("<I", io, 4)[0] == IOAPIC
    routes = {e[5]: e[7] for e in entries[3] if e[1] == 0 and e[4] == 0}  # INT, ISA bus
    assert routes[0] == 2 and routes[4] == 4 and routes[14] == 14 and 2 not in routes
    assert all(e[6] == io[1] for e in entries[3])
    lints = {(e[1], e[7]) for e in entries[4]}
    assert lints == {(3, 0), (1, 1)}  # ExtINT on LINT0, NMI on LINT1


def test_acpi_tables_parse_as_the_acpi_spec_says() -> None:
    mem = _memory()
    ebda = struct.unpack_from("<H", mem, 0x40E)[0] << 4
    rsdp = _find(mem, b"RSD PTR ", ebda, ebda + 1024, 20) or \
        _find(mem, b"RSD PTR ", 0xE0000, 0x100000, 20)
    assert rsdp is not None
    rev, rsdt = struct.unpack_from("<BI", mem, rsdp + 15)
    assert rev == 0

    def table(addr: int) -> tuple[bytes, bytes]:
        sig, length = struct.unpack_from("<4sI", mem, addr)
        assert sum(mem[addr:addr + length]) & 0xFF == 0, sig
        return sig, bytes(mem[addr + 36:addr + length])

    sig, body = table(rsdt)
    assert sig == b"RSDT"
    tables = dict(table(a) for a in struct.unpack(f"<{len(body) // 4}I", body))
    assert set(tables) == {b"APIC"}  # no HPET (the PC has none), no FADT
    madt = tables[b"APIC"]
    lapic, flags = struct.unpack_from("<II", madt)
    assert lapic == LAPIC and flags & 1  # PCAT_COMPAT: the 8259s are there
    p, seen = 8, {}
    while p < len(madt):
        kind, size = madt[p], madt[p + 1]
        seen.setdefault(kind, []).append(madt[p:p + size])
        p += size
    assert p == len(madt)
    assert [e[3] for e in seen[0] if e[4] & 1] == [0]  # one enabled processor, APIC id 0
    (io,) = seen[1]
    assert struct.unpack_from("<BxII", io, 2) == (0, IOAPIC, 0)
    overrides = {e[3]: struct.unpack_from("<I", e, 4)[0] for e in seen[2]}
    assert overrides == {0: 2}  # IRQ0 -> GSI 2


# --- the local APIC (SDM vol 3A ch. 10) -------------------------------------------------------
def _lapic() -> tuple[LocalApic, FakeClock]:
    clock = FakeClock()
    apic = LocalApic(clock)  # type: ignore[arg-type]
    apic.mmio_write(LAPIC + 0xF0, 4, 0x1FF)  # SVR: enabled, spurious 0xff
    return apic, clock


def test_lapic_identity_and_reset_state() -> None:
    apic = LocalApic(FakeClock())  # type: ignore[arg-type]
    assert apic.mmio_read(LAPIC + 0x20, 4) == 0
    assert apic.mmio_read(LAPIC + 0x30, 4) == 0x00050014
    assert apic.mmio_read(LAPIC + 0xF0, 4) == 0xFF  # software disabled
    assert apic.mmio_read(LAPIC + 0xE0, 4) == 0xFFFFFFFF  # DFR: flat
    assert apic.mmio_read(LAPIC + 0x320, 4) == 0x10000  # LVT timer masked
    assert apic.mmio_read(LAPIC + 0x350, 4) == 0x700  # LINT0 ExtINT: the virtual wire
    assert apic.apic_base == 0xFEE00900
    assert apic.mmio_read(LAPIC + 0x32, 1) == 0x05 and apic.mmio_read(LAPIC + 0x30, 2) == 0x14


def test_lapic_priority_classes_tpr_and_isr() -> None:
    apic, _ = _lapic()
    apic.mmio_write(LAPIC + 0x80, 4, 0x50)
    assert apic.mmio_read(LAPIC + 0xA0, 4) == 0x50
    apic.accept(0x45)
    apic.accept(0x55)
    assert not apic.pending()  # class 4 and 5 do not outrank TPR class 5
    apic.accept(0x65)
    assert apic.acknowledge() == 0x65
    assert apic.mmio_read(LAPIC + 0xA0, 4) == 0x60  # PPR: the in-service class
    assert apic.mmio_read(LAPIC + 0x100 + 0x30, 4) == 1 << 5  # ISR bit 0x65
    apic.mmio_write(LAPIC + 0x80, 4, 0x40)
    assert not apic.pending()  # 0x55 waits for the EOI of 0x65 (same rule: PPR 0x60)
    apic.mmio_write(LAPIC + 0xB0, 4, 0)
    assert apic.acknowledge() == 0x55
    apic.mmio_write(LAPIC + 0xB0, 4, 0)
    apic.mmio_write(LAPIC + 0x80, 4, 0)
    assert apic.acknowledge() == 0x45
    apic.mmio_write(LAPIC + 0xB0, 4, 0)
    assert apic.isr == 0 and apic.irr == 0 and not apic.pending()


def test_lapic_ipis_self_physical_and_absent_targets() -> None:
    apic, _ = _lapic()
    apic.mmio_write(LAPIC + 0x300, 4, (1 << 18) | (1 << 14) | 0x41)  # self, fixed
    apic.mmio_write(LAPIC + 0x310, 4, 0 << 24)
    apic.mmio_write(LAPIC + 0x300, 4, (1 << 14) | 0x42)  # physical destination 0: itself
    apic.mmio_write(LAPIC + 0x310, 4, 5 << 24)
    apic.mmio_write(LAPIC + 0x300, 4, (1 << 14) | 0x43)  # APIC 5: no such processor
    apic.mmio_write(LAPIC + 0x300, 4, (3 << 18) | 0x500)  # INIT to all others
    apic.mmio_write(LAPIC + 0x300, 4, (3 << 18) | 0x600 | 0x10)  # STARTUP to all others
    assert apic.mmio_read(LAPIC + 0x200 + 0x20, 4) == (1 << 1) | (1 << 2)  # IRR 0x41, 0x42
    assert not apic.mmio_read(LAPIC + 0x300, 4) & (1 << 12)  # delivery status idle
    assert apic.counters.ipis_dropped == 3


def test_lapic_illegal_vector_sets_esr_after_write() -> None:
    apic, _ = _lapic()
    apic.mmio_write(LAPIC + 0x300, 4, (1 << 18) | 0x05)  # self-IPI of vector 5: illegal
    assert apic.mmio_read(LAPIC + 0x280, 4) == 0  # not visible before the ESR write
    apic.mmio_write(LAPIC + 0x280, 4, 0)
    assert apic.mmio_read(LAPIC + 0x280, 4) == 1 << 5  # send illegal vector
    apic.mmio_write(LAPIC + 0x280, 4, 0)
    assert apic.mmio_read(LAPIC + 0x280, 4) == 0


def test_lapic_timer_one_shot_periodic_divide_and_mask() -> None:
    apic, clock = _lapic()
    apic.mmio_write(LAPIC + 0x3E0, 4, 0x3)  # divide by 16
    apic.mmio_write(LAPIC + 0x320, 4, 0x40)  # one-shot, vector 0x40
    apic.mmio_write(LAPIC + 0x380, 4, 1000)
    assert apic.next_event_ns() == 16000  # 1000 ticks of 16 ns (the 1 GHz clock / 16)
    clock.t = 8000
    assert apic.mmio_read(LAPIC + 0x390, 4) == 500
    clock.t = 16000
    apic.advance(clock.t)
    assert apic.acknowledge() == 0x40 and apic.next_event_ns() is None
    assert apic.mmio_read(LAPIC + 0x390, 4) == 0  # one-shot: stays 0
    apic.mmio_write(LAPIC + 0xB0, 4, 0)
    apic.mmio_write(LAPIC + 0x3E0, 4, 0xB)  # divide by 1
    apic.mmio_write(LAPIC + 0x320, 4, (1 << 17) | 0x41)  # periodic
    apic.mmio_write(LAPIC + 0x380, 4, 100)
    clock.t += 350
    apic.advance(clock.t)
    assert apic.acknowledge() == 0x41 and apic.counters.timer_coalesced == 2
    assert apic.mmio_read(LAPIC + 0x390, 4) == 50 and apic.next_event_ns() == clock.t + 50
    apic.mmio_write(LAPIC + 0xB0, 4, 0)
    apic.mmio_write(LAPIC + 0x320, 4, (1 << 16) | (1 << 17) | 0x41)  # masked: counts, no IRQ
    clock.t += 100
    apic.advance(clock.t)
    assert not apic.pending() and apic.mmio_read(LAPIC + 0x390, 4) == 50
    apic.mmio_write(LAPIC + 0x380, 4, 0)  # initial count 0 stops it
    assert apic.next_event_ns() is None and apic.mmio_read(LAPIC + 0x390, 4) == 0


# --- the I/O APIC (82093AA) -------------------------------------------------------------------
def _ioapic() -> tuple[IoApic, LocalApic]:
    apic, _ = _lapic()
    io = IoApic(apic)
    apic.on_eoi = io.eoi
    return io, apic


def _rte(io: IoApic, pin: int, low: int, high: int = 0) -> None:
    io.mmio_write(IOAPIC, 4, 0x11 + 2 * pin)
    io.mmio_write(IOAPIC + 0x10, 4, high)
    io.mmio_write(IOAPIC, 4, 0x10 + 2 * pin)
    io.mmio_write(IOAPIC + 0x10, 4, low)


def test_ioapic_registers() -> None:
    io, _ = _ioapic()
    io.mmio_write(IOAPIC, 4, 1)
    assert io.mmio_read(IOAPIC + 0x10, 4) == 0x00170020
    io.mmio_write(IOAPIC, 4, 0)
    io.mmio_write(IOAPIC + 0x10, 4, 0x0F000000)
    assert io.mmio_read(IOAPIC + 0x10, 4) == 0x0F000000
    io.mmio_write(IOAPIC, 4, 0x10 + 2 * 15)
    assert io.mmio_read(IOAPIC + 0x10, 4) == 0x10000  # reset: masked
    _rte(io, 15, 0x10000 | (1 << 14) | (1 << 12) | 0x99, 0x0F000000)
    io.mmio_write(IOAPIC, 4, 0x10 + 2 * 15)
    assert io.mmio_read(IOAPIC + 0x10, 4) == 0x10099  # delivery status, remote IRR read-only
    io.mmio_write(IOAPIC, 4, 0x11 + 2 * 15)
    assert io.mmio_read(IOAPIC + 0x10, 4) == 0x0F000000


def test_ioapic_edge_masking_and_level_remote_irr() -> None:
    io, apic = _ioapic()
    line = io.pin(4)
    _rte(io, 4, 0x10000 | 0x24)
    line(True)
    line(False)
    assert not apic.irr  # masked: nothing sent
    _rte(io, 4, 0x24)
    line(True)
    line(True)  # no new edge
    assert apic.acknowledge() == 0x24 and not apic.pending()
    apic.mmio_write(LAPIC + 0xB0, 4, 0)
    _rte(io, 9, (1 << 15) | 0x39)  # level
    level = io.pin(9)
    level(True)
    assert apic.acknowledge() == 0x39 and io.rte[9] & (1 << 14)  # remote IRR
    level(True)
    assert not apic.irr  # held until the EOI
    apic.mmio_write(LAPIC + 0xB0, 4, 0)  # EOI of a level vector: remote IRR cleared, resent
    assert apic.acknowledge() == 0x39
    level(False)
    apic.mmio_write(LAPIC + 0xB0, 4, 0)
    assert not io.rte[9] & (1 << 14) and not apic.irr


def test_isa_lines_reach_the_pic_and_the_ioapic_pin_two_for_irq0() -> None:
    pc = pc_platform(FakeClock(), None, None, lambda v: None, 16 << 20)  # type: ignore[arg-type]
    pc.lapic.mmio_write(LAPIC + 0xF0, 4, 0x1FF)
    _rte(pc.ioapic, 2, 0x30)
    pc.irqs.irq_line(0)(True)
    assert pc.lapic.acknowledge() == 0x30
    assert pc.pic.pending()  # the unprogrammed 8259 saw it too


def test_lint0_masked_keeps_the_8259_from_the_processor() -> None:
    pc = pc_platform(FakeClock(), None, None, lambda v: None, 16 << 20)  # type: ignore[arg-type]
    pc.irqs.irq_line(4)(True)
    assert pc.interrupts.pending()  # virtual wire: LINT0 ExtINT unmasked at power-on
    pc.lapic.mmio_write(LAPIC + 0xF0, 4, 0x1FF)
    pc.lapic.mmio_write(LAPIC + 0x350, 4, 0x10000)
    assert not pc.interrupts.pending()
    pc.bus.write(0x22, 1, 0x70)
    pc.bus.write(0x23, 1, 0x00)  # IMCR: PIC mode, the 8259 straight to the processor
    assert pc.interrupts.pending()


def test_fw_cfg_signature_cpus_ram_and_cmdline() -> None:
    pc = pc_platform(FakeClock(), None, None, lambda v: None, 64 << 20, b"script acpi")  # type: ignore[arg-type]

    def item(key: int, n: int) -> bytes:
        pc.bus.write(0x510, 2, key)
        return bytes(pc.bus.read(0x511, 1) for _ in range(n))

    assert item(0x0000, 4) == b"QEMU"
    assert struct.unpack("<H", item(0x0005, 2))[0] == 1
    assert struct.unpack("<Q", item(0x0003, 8))[0] == 64 << 20
    size = struct.unpack("<I", item(0x0014, 4))[0]
    assert item(0x0015, size) == b"script acpi\0"


# --- MMIO in both modes, at the exact instruction -----------------------------------------
PD = 0x20000
#: paging on with 4 MiB pages identity-mapping all 4 GiB (PSE), as kvm-unit-tests do
MAP_4G = (
    f"mov edi, {PD}; mov eax, 0x83; mov ecx, 1024;"
    "fill: mov [edi], eax; add eax, 0x400000; add edi, 4; loop fill;"
    f"mov eax, cr4; or eax, 0x10; mov cr4, eax; mov eax, {PD}; mov cr3, eax;"
    "mov eax, cr0; or eax, 0x80010000; mov cr0, eax;"
)
#: 32-, 16- and 8-bit accesses to both APICs, each read right after the write it depends on
ACCESSES = (
    "mov dword ptr [{l:#x}], 0x1ff;"                  # SVR (32-bit write)
    "mov dword ptr [{l2:#x}], 0x20; mov eax, [{p:#x}]; mov [{r:#x}], eax;"   # TPR, then PPR
    "mov word ptr [{l2:#x}], 0x40; mov eax, [{p:#x}]; mov [{r4:#x}], eax;"   # 16-bit TPR
    "movzx eax, word ptr [{v:#x}]; mov [{r8:#x}], eax;"                       # 16-bit version
    "movzx eax, byte ptr [{v2:#x}]; mov [{r12:#x}], eax;"                     # 8-bit max LVT
    "mov dword ptr [{io:#x}], 1; mov eax, [{iow:#x}]; mov [{r16:#x}], eax;"   # I/O APIC version
    "mov byte ptr [{io:#x}], 0; mov eax, [{iow:#x}]; mov [{r20:#x}], eax;"    # 8-bit IOREGSEL
)


def _accesses(lapic: int, ioapic: int) -> str:
    return ACCESSES.format(l=lapic + 0xF0, l2=lapic + 0x80, p=lapic + 0xA0, v=lapic + 0x30,
                           v2=lapic + 0x32, io=ioapic, iow=ioapic + 0x10, r=RESULT,
                           r4=RESULT + 4, r8=RESULT + 8, r12=RESULT + 12, r16=RESULT + 16,
                           r20=RESULT + 20)


WANT = (0x20, 0x40, 0x0014, 0x05, 0x00170020, 0)


@pytest.mark.parametrize("paging", ["off", "4G", "remapped"])
@pytest.mark.parametrize("monitor", [False, True], ids=["native", "monitor"])
def test_mmio_reaches_the_device_at_the_instruction(paging: str, monitor: bool) -> None:
    """Reads and writes of 8, 16 and 32 bits reach the APICs from (translated) kernel code,
    with paging off, through the identity map, and through a page table mapping the APIC
    pages at other linear addresses (0x400000, 0x401000: never RAM there)."""
    main = _accesses(LAPIC, IOAPIC)
    if paging == "4G":
        main = MAP_4G + main
    elif paging == "remapped":
        pt = 0x21000
        main = (f"mov dword ptr [{PD}], 0x83; mov dword ptr [{PD + 4}], {pt | 3};"
                f"mov dword ptr [{pt}], {LAPIC | 0x13}; mov dword ptr [{pt + 4}], {IOAPIC | 0x13};"
                f"mov eax, cr4; or eax, 0x10; mov cr4, eax; mov eax, {PD}; mov cr3, eax;"
                "mov eax, cr0; or eax, 0x80010000; mov cr0, eax;" + _accesses(0x400000, 0x401000))
    m, r = Scenario(main=main + exit_code()).run(monitor=monitor)
    assert r.outcome is Outcome.GUEST_EXIT, r.report()
    assert result_words(m, 6) == WANT
    assert r.stats["mmio"]["lapic"]["writes"] == 3 and r.stats["mmio"]["ioapic"]["reads"] == 2


def test_self_ipi_interrupts_translated_code_like_the_bare_machine() -> None:
    """A self-IPI with IF=1 is taken before the next instruction; its handler sees ISR set."""
    main = ("mov dword ptr [0xfee000f0], 0x1ff; sti;"
            "mov dword ptr [0xfee00300], 0x44041; mov dword ptr [%#x], 1;" % (RESULT + 4)
            + "nop; nop;" + exit_code())
    handler = (f"mov eax, [{RESULT + 4:#x}]; mov [{RESULT:#x}], eax;"  # 0: before the store
               f"mov eax, [0xfee00120]; mov [{RESULT + 8:#x}], eax;"   # ISR word of 0x41
               "mov dword ptr [0xfee000b0], 0; iretd;")
    sc = Scenario(main=main, handlers={0x41: handler})
    native, want = sc.run()
    mon, got = Scenario(main=main, handlers={0x41: handler}).run(monitor=True)
    assert want.outcome is got.outcome is Outcome.GUEST_EXIT, got.report()
    assert result_words(native, 3) == result_words(mon, 3) == (0, 1, 1 << 1)


# --- a guest that maps all 4 GiB under the monitor -----------------------------------------
@pytest.mark.parametrize("access, what", [
    ("mov dword ptr [0xffc00100], 1", "write to memory outside guest RAM"),
    ("mov eax, [0xffdc0000]", "read of memory outside guest RAM"),  # monitor page tables
])
def test_borrowed_slot_access_is_reported_as_the_bare_machine_does(access: str,
                                                                   what: str) -> None:
    main = MAP_4G + "mov dword ptr [0x300000], 7;" + access + ";" + exit_code()
    _, want = Scenario(main=main).run()
    mon, got = Scenario(main=main).run(monitor=True)
    assert want.outcome is got.outcome is Outcome.GUEST_ERROR, got.report()
    assert what in want.message and what in got.message, (want.message, got.message)
    assert got.stats["monitor"]["borrowed_slots"] >= 1
    assert mon.space.base == 0xFFC00000


def test_guest_mapping_all_4g_runs_under_the_monitor() -> None:
    main = MAP_4G + f"mov dword ptr [0x300000], 7; mov eax, [0x300000]; mov [{RESULT:#x}], eax;"
    native, want = Scenario(main=main + exit_code()).run()
    mon, got = Scenario(main=main + exit_code()).run(monitor=True)
    assert want.outcome is got.outcome is Outcome.GUEST_EXIT, got.report()
    assert result_words(native, 1) == result_words(mon, 1) == (7,)
    assert got.stats["monitor"]["borrowed_slots"] == 1


def test_ia32_apic_base_msr_in_both_modes() -> None:
    """rdmsr/wrmsr of IA32_APIC_BASE (SDM vol 3A 10.4.4): 0xFEE00900 at power-on (base,
    global enable, BSP); bit 11 written clear and set again reads back; other MSRs are
    the processor's (SYSENTER_CS, 0x174, reads back what was written)."""
    main = (f"mov ecx, 0x1b; rdmsr; mov [{RESULT:#x}], eax; mov [{RESULT + 4:#x}], edx;"
            f"and eax, 0xfffff7ff; wrmsr; rdmsr; mov [{RESULT + 8:#x}], eax;"
            f"or eax, 0x800; wrmsr; xor eax, eax; rdmsr; mov [{RESULT + 12:#x}], eax;"
            "mov ecx, 0x174; mov eax, 0x08; xor edx, edx; wrmsr; xor eax, eax; rdmsr;"
            f"mov [{RESULT + 16:#x}], eax; inc ebx; inc ebx;" + exit_code())
    native, want = Scenario(main=main).run()
    mon, got = Scenario(main=main).run(monitor=True)
    assert want.outcome is got.outcome is Outcome.GUEST_EXIT, got.report()
    assert result_words(native, 5) == result_words(mon, 5) == (
        0xFEE00900, 0, 0xFEE00100, 0xFEE00900, 0x08)
    assert want.stats["instructions"] == got.stats["instructions"]
    assert want.stats["msrs"]["native_sites"] == 7  # every rdmsr and wrmsr site is hooked
    assert want.stats["msrs"]["reads"] == got.stats["msrs"]["reads"] == 3  # 0x1b only
