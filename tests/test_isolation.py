"""Isolation: guests that attack the monitor see only what the bare machine shows them.

The attack guests (corpus/attack_*, built by ``make -C corpus``; corpus/lib/attack.h
describes their conventions) reach for what a VMware-style monitor keeps for
itself: the top 4 MiB of the linear address space, the physical memory above
guest RAM, its descriptor tables and selectors, its translations. Each prints
what it sees and catches its own faults. For every guest (and the command-line
variants of its last probe):

* the bare machine's output equals qemu-system-i386's (corpus/expected) up to
  the guest's final probe, where the bare machine ends the run (status 12,
  memory outside guest RAM; status 4, a triple fault) and qemu goes on;
* the monitored run equals the native run: output, status, registers, RAM;
* the monitor's own 4 MiB are untouched by the guest: every write the monitor
  makes is recorded (``mon.uc.mem_write`` and the references its parts took of
  it at construction) and applied to a copy taken after ``prepare``; at the end
  the real memory equals the copy byte for byte, page-table pages compared with
  the accessed/dirty bits masked (the processor's page walks could set them; they
  set none, since the monitor writes every entry with A and D already set: that
  is asserted too);
* the monitor ends in a sane state: the run ends as natively, and the range it
  occupies is not one the guest maps.

Monitor bugs the guests expose, and the bare machine's own defects, are strict
expected failures of exactly the comparisons they break, whose reason says what
breaks (see KNOWN and HANGS).
"""

from __future__ import annotations

import functools
import struct
import subprocess
import sys
import types
from dataclasses import dataclass, field

import pytest
from conftest import EXPECTED, ROOT, expected, guest_elf

from runtime.pc.x86 import CR0_PG, PTE_A, PTE_D
from runtime.report import Outcome
from runtime.session import RunOptions, prepare
from runtime.vmm.monitor import Monitor
from runtime.vmm.monitor_space import (
    GUEST_PTS,
    MON_SIZE,
    MONITOR_PT,
    PAGE_DIRECTORY,
    SHADOW_POOL,
    SHADOW_POOL_PAGES,
    VCPU_PAGE,
)

#: guests that crash the process running them (unicorn itself): run only in a child process
CHILD_ONLY = {"attack_x87run"}
ALL_ATTACKS = sorted(p.stem for p in EXPECTED.glob("attack_*.out"))
ATTACKS = [g for g in ALL_ATTACKS if g not in CHILD_ONLY]

#: the other final probes of each guest (multiboot command line final=NAME); the default
#: (no command line) is the one corpus/expected records
VARIANTS = {
    "attack_toprange": ("r3read", "r3write", "r0exec", "r0pd"),
    "attack_topread": (),
    "attack_physmap": ("r0write", "r3read", "big", "ptwalk", "cr3"),
    "attack_lgdt": ("gdt", "idt3"),
    "attack_topmap": ("fill",),
    "attack_gdtshadow": (),
}

#: guests whose default final probe ends the bare machine's run where qemu goes on:
#: the status the bare machine ends with
BARE_ENDINGS = {
    "attack_toprange": 12,  # paging off, a write to 0xffc02000: memory outside guest RAM
    "attack_topread": 12,  # paging off, a read of 0xffc02000
    "attack_physmap": 12,  # a read of physical 0x08003000 through the guest's PTE
    "attack_lgdt": 4,  # IDT based at 0xffc00000, unmapped: #PF, #DF, triple fault
}

# --- what is known to differ ----------------------------------------------------------------
#: what each comparison covers: "output" (console output, status, outcome), "registers",
#: "ram" (digest of guest RAM), "state" (the monitor's range is one the guest leaves unmapped)
OUT, REGS, RAM, STATE = "output", "registers", "ram", "state"

_READ_LEAK = ("translated guest kernel code (CPL 1) reads the monitor's linearly mapped pages "
              "(virtual-CPU page, code page, shadow GDT/LDT, lookup table, translation cache: "
              "supervisor read-only in every address space) without a fault, where the bare "
              "machine raises #PF (paging on, range unmapped by the guest) or stops with status "
              "12 (paging off); xchg then faults on its write (error 2, natively 0)")
_NATIVE_STORE_EIP = ("bare machine: a store to memory outside guest RAM stops unicorn "
                     "(UC_ERR_WRITE_UNMAPPED) with EIP at the start of its translation block, "
                     "not at the store; the monitor reports the store's EIP")
_NATIVE_WALK = ("bare machine: a page walk through a table outside guest RAM (a PDE naming one, "
                "CR3 = 0x08000000) reads zeros in unicorn and raises #PF (CR2 set), where the "
                "bare machine's rule is status 12 for memory outside guest RAM; the monitor's "
                "own walk stops the run with status 12 at once")

#: (guest, variant) -> (the comparisons that fail, why); variant None is the default run
KNOWN: dict[tuple[str, str | None], tuple[frozenset[str], str]] = {
    # monitor bugs
    ("attack_topread", None): (frozenset({OUT, REGS, RAM}), _READ_LEAK),
    ("attack_gdtshadow", None): (frozenset({OUT, REGS, RAM}), (
        "with a DPL-3 task gate in its GDT the guest's GDT is shadowed (ring 3 could switch "
        "tasks behind the monitor's back): ring-3 sgdt runs direct and shows the shadow's "
        "base 0xffc10000, not the guest's GDT (the 'Red Pill' of sidt under VMware; unicorn "
        "has no CR4.UMIP to trap it)")),
    # the bare machine's own defects (it is the reference)
    ("attack_toprange", None): (frozenset({REGS}), _NATIVE_STORE_EIP),
    ("attack_toprange", "r3write"): (frozenset({REGS}), _NATIVE_STORE_EIP),
    ("attack_physmap", "r0write"): (frozenset({REGS}), _NATIVE_STORE_EIP),
    ("attack_physmap", "ptwalk"): (frozenset({OUT, REGS, RAM}), _NATIVE_WALK),
    ("attack_physmap", "cr3"): (frozenset({REGS}), _NATIVE_WALK),
}

#: variants run in a child process with a timeout (they once never returned)
HANGS: dict[tuple[str, str], str] = {
    # these once looped forever in Monitor._accessed_bit (fixed: only the processor's own
    # supervisor write of an accessed bit into a shadow in use is taken for one); they
    # still differ from the native run by the ring-0 read leak of attack_topread
    ("attack_topread", "r3gdt"): _READ_LEAK,
    ("attack_gdtshadow", "read"): (
        "with the GDT shadowed, ring-3 sgdt shows the shadow's base (0xffc10000), and the "
        "ring-0 part of the guest reads the monitor's pages (the read leak of attack_topread)"),
}

#: which guests must have moved the monitor, and the linear addresses they own at the end
RELOCATED = {
    "attack_topmap": [0xFFC00000 + i * 0x100000 for i in range(4)]
    + [0xFE000000 + i * 0x400000 for i in range(8)],
    "attack_topstealth": [0xFF400000, 0xFF800000, 0xFFC00000, 0xFFFFF000],
}

#: the pages of the monitor's range that hold page tables the processor walks (the
#: identity map, the monitor's own table, the shadow pool): accessed/dirty bits masked
_PT_REGIONS = ((PAGE_DIRECTORY, PAGE_DIRECTORY + 0x1000), (MONITOR_PT, MONITOR_PT + 0x1000),
               (GUEST_PTS, SHADOW_POOL), (SHADOW_POOL, SHADOW_POOL + SHADOW_POOL_PAGES * 4096))
_AD = PTE_A | PTE_D


def _cases(with_defaults: bool = True) -> list[tuple[str, str | None]]:
    cases: list[tuple[str, str | None]] = []
    for guest in ATTACKS:
        if with_defaults:
            cases.append((guest, None))
        cases += [(guest, v) for v in VARIANTS.get(guest, ())]
    return cases


def _id(case: tuple[str, str | None]) -> str:
    guest, variant = case
    return guest if variant is None else f"{guest}:{variant}"


def _options(native: bool, variant: str | None) -> RunOptions:
    return RunOptions(native=native, deterministic=True, timeout_s=60,
                      cmdline=f"final={variant}" if variant else None)


@dataclass
class Run:
    output: bytes
    status: int
    outcome: Outcome
    message: str
    regs: dict[str, int]
    digest: str
    stats: dict[str, object] = field(default_factory=dict)
    # monitored runs only
    breaches: list[str] = field(default_factory=list)
    ad_words: int = 0
    monitor_writes: int = 0
    rebound: list[str] = field(default_factory=list)
    space_base: int = 0
    contains: dict[int, bool] = field(default_factory=dict)
    pde_present: bool | None = None


@functools.cache
def native(guest: str, variant: str | None) -> Run:
    machine, state = prepare(str(guest_elf(guest)), _options(True, variant))
    r = machine.run(state)
    return Run(r.output, r.status, r.outcome, r.message, r.regs, machine.ram_digest(), r.stats)


def _record_writes(mon: Monitor) -> tuple[bytearray, list[tuple[int, int]], list[str]]:
    """Record every write the monitor makes: replace ``mon.uc.mem_write`` (an instance
    attribute) and the bound references its parts took of it when they were built (the
    shadow MMU's writes, the guest memory's accessed/dirty updates); each write is applied
    to a copy of the monitor's range taken now."""
    phys = mon.space.phys
    copy = bytearray(mon.uc.mem_read(phys, MON_SIZE))
    real_write = mon.uc.mem_write
    log: list[tuple[int, int]] = []

    def write(address: int, data: bytes) -> None:
        data = bytes(data)
        lo, hi = max(address, phys), min(address + len(data), phys + MON_SIZE)
        if lo < hi:
            copy[lo - phys:hi - phys] = data[lo - address:hi - address]
            log.append((address, len(data)))
        real_write(address, data)

    mon.uc.mem_write = write  # type: ignore[method-assign]
    rebound = []
    seen: set[int] = set()

    def rebind(obj: object, depth: int) -> None:
        if id(obj) in seen or depth > 2 or obj is mon.uc:
            return
        seen.add(id(obj))
        for name, value in list(getattr(obj, "__dict__", {}).items()):
            if isinstance(value, types.MethodType) and value == real_write:
                setattr(obj, name, write)
                rebound.append(f"{type(obj).__name__}.{name}")
            elif hasattr(value, "__dict__") and not isinstance(value, type):
                rebind(value, depth + 1)

    rebind(mon, 0)
    return copy, log, rebound


def _breaches(real: bytes, copy: bytearray) -> tuple[list[str], int]:
    """Differences between the monitor's memory and its record of its own writes: page-table
    words that differ only in A/D are counted, anything else is a breach."""
    breaches, ad_words = [], 0
    if real == bytes(copy):
        return breaches, ad_words
    for off in range(0, MON_SIZE, 4096):
        if real[off:off + 4096] == copy[off:off + 4096]:
            continue
        table = any(lo <= off < hi for lo, hi in _PT_REGIONS)
        for w in range(off, off + 4096, 4):
            a, b = struct.unpack_from("<I", real, w)[0], struct.unpack_from("<I", copy, w)[0]
            if a == b:
                continue
            if table and (a ^ b) & ~_AD == 0:
                ad_words += 1
            else:
                breaches.append(f"+{w:#08x}: {a:#010x}, the monitor wrote {b:#010x}")
    return breaches, ad_words


@functools.cache
def monitored(guest: str, variant: str | None) -> Run:
    mon, state = prepare(str(guest_elf(guest)), _options(False, variant))
    assert isinstance(mon, Monitor)
    copy, log, rebound = _record_writes(mon)
    r = mon.run(state)
    breaches, ad_words = _breaches(bytes(mon.uc.mem_read(mon.space.phys, MON_SIZE)), copy)
    pde_present = None
    v = mon.vcpu.v
    if v.cr[0] & CR0_PG and (v.cr[3] & 0xFFFFF000) < mon.ram_size:
        pde = mon.mem.read_phys((v.cr[3] & 0xFFFFF000) + 4 * mon.space.pde_index, 4)
        pde_present = bool(struct.unpack("<I", pde)[0] & 1)
    contains = {a: mon.space.contains(a) for a in RELOCATED.get(guest, ())}
    return Run(r.output, r.status, r.outcome, r.message, r.regs, mon.ram_digest(), r.stats,
               breaches, ad_words, len(log), rebound, mon.space.base, contains, pde_present)


#: runs that end, by design, in the monitor's clear report instead of the native ending
#: (issue: "only a guest that maps and uses every 4 MiB of its address space gets a clear
#: report instead"); see test_a_guest_that_maps_every_slot_gets_a_clear_report
REPORTED = {("attack_topmap", "fill")}


def _params(aspect: str) -> list[object]:
    params = []
    for case in _cases():
        if case in REPORTED:
            continue
        aspects, reason = KNOWN.get(case, (frozenset(), ""))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if aspect in aspects else []
        params.append(pytest.param(case, marks=marks, id=_id(case)))
    return params


# --- the reference ------------------------------------------------------------------------
def test_every_attack_guest_is_listed() -> None:
    assert ATTACKS, "no attack guests in corpus/expected"
    known = set(VARIANTS) | {g for g, _ in KNOWN} | {g for g, _ in HANGS} | set(RELOCATED)
    assert known <= set(ATTACKS), known - set(ATTACKS)
    assert CHILD_ONLY <= set(ALL_ATTACKS)


@pytest.mark.parametrize("guest", ATTACKS)
def test_native_run_matches_qemu(guest: str) -> None:
    """Byte for byte, except where the final probe ends the bare machine's run (memory
    outside guest RAM, a triple fault): qemu's output goes on from there, its status is
    its own."""
    want_out, want_status = expected(guest)
    got = native(guest, None)
    ending = BARE_ENDINGS.get(guest)
    if ending is None:
        assert (got.output, got.status) == (want_out, want_status), got.message
        assert got.outcome is Outcome.GUEST_EXIT
        return
    assert got.status == ending, got.message
    marker = want_out.index(b"final probe ")
    stop = want_out.index(b"\n", want_out.index(b"\n", marker) + 1) + 1
    assert got.output == want_out[:stop]
    assert want_status != ending


def test_the_record_sees_a_write_behind_the_monitors_back() -> None:
    """The harness itself: a write into the monitor's range that does not go through the
    recorded paths shows up as a breach (and the monitor's own writes do not)."""
    mon, state = prepare(str(guest_elf("attack_alias")), _options(False, None))
    assert isinstance(mon, Monitor)
    copy, log, rebound = _record_writes(mon)
    sneak = mon.space.phys + VCPU_PAGE + 0x100
    type(mon.uc).mem_write(mon.uc, sneak, b"\xee\xee\xee\xee")
    mon.run(state)
    breaches, _ = _breaches(bytes(mon.uc.mem_read(mon.space.phys, MON_SIZE)), copy)
    assert breaches == [f"+{VCPU_PAGE + 0x100:#08x}: 0xeeeeeeee, the monitor wrote 0x00000000"]
    assert log and rebound


# --- the monitor equals the bare machine -------------------------------------------------------
@pytest.mark.parametrize("case", _params(OUT))
def test_monitor_output_equals_native(case: tuple[str, str | None]) -> None:
    want, got = native(*case), monitored(*case)
    assert got.output.decode("latin-1") == want.output.decode("latin-1"), got.message
    assert (got.status, got.outcome) == (want.status, want.outcome), got.message


@pytest.mark.parametrize("case", _params(REGS))
def test_monitor_registers_equal_native(case: tuple[str, str | None]) -> None:
    want, got = native(*case), monitored(*case)
    assert {k: hex(v) for k, v in got.regs.items()} == {k: hex(v) for k, v in want.regs.items()}


@pytest.mark.parametrize("case", _params(RAM))
def test_monitor_ram_equals_native(case: tuple[str, str | None]) -> None:
    assert monitored(*case).digest == native(*case).digest


@pytest.mark.parametrize("case", [pytest.param(c, id=_id(c)) for c in _cases()])
def test_monitor_memory_untouched(case: tuple[str, str | None]) -> None:
    """Nothing in the monitor's 4 MiB changed but what the monitor itself wrote; the
    processor set no accessed/dirty bit in the monitor's page tables either (every entry
    the monitor writes has them set already)."""
    got = monitored(*case)
    assert "ShadowMMU.write" in got.rebound, got.rebound
    assert got.monitor_writes > 0
    assert not got.breaches, "\n".join(got.breaches[:20])
    assert got.ad_words == 0


@pytest.mark.parametrize("case", _params(STATE))
def test_monitor_state_sane(case: tuple[str, str | None]) -> None:
    """The run ends as natively (for the default runs of guests without a final probe
    that ends the bare machine's run: a guest exit); the monitor's range is not one the
    guest maps; guests that mapped the default range moved the monitor out of every
    address they own."""
    guest, variant = case
    got = monitored(*case)
    aspects = KNOWN.get(case, (frozenset(), ""))[0]
    if OUT not in aspects:
        assert got.outcome is native(*case).outcome, got.message
        if variant is None and guest not in BARE_ENDINGS:
            assert got.outcome is Outcome.GUEST_EXIT, got.message
    assert got.pde_present in (None, False), f"the guest maps the monitor at {got.space_base:#x}"
    if guest in RELOCATED:
        assert got.stats["monitor"]["relocations"] >= 1  # type: ignore[index]
        assert not any(got.contains.values()), {hex(a): c for a, c in got.contains.items()}


def test_a_guest_that_maps_every_slot_gets_a_clear_report() -> None:
    """attack_topmap:fill maps every 4 MiB slot above its RAM: natively it goes on; the
    monitor, with nowhere left to live, stops with a clear report (and its memory intact,
    test_monitor_memory_untouched) after the same output up to that point."""
    want, got = native("attack_topmap", "fill"), monitored("attack_topmap", "fill")
    assert want.outcome is Outcome.GUEST_EXIT
    assert got.outcome is Outcome.UNSUPPORTED, got.message
    assert "no room left for the monitor" in got.message
    assert want.output.startswith(got.output) and got.output


# --- in a child process: runs that never end or that crash the process -----------------------
CHILD_TIMEOUT = 6


def _child(guest: str, variant: str | None, native: bool) -> tuple[bytes, int] | None:
    """(output, status) of ``bt run`` in a child process; None if it ran out of time."""
    cmd = [sys.executable, "-m", "runtime.cli", "run", "--deterministic"]
    cmd += ["--native"] if native else []
    cmd += ["--cmdline", f"final={variant}"] if variant else []
    try:
        child = subprocess.run(cmd + [str(guest_elf(guest))], cwd=ROOT, capture_output=True,
                               timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None
    return child.stdout, child.returncode


_UNICORN_X87 = ("unicorn 2.1.4 crashes the host process (SIGSEGV in emu_start) on a straight run "
                "of a few hundred x87 register instructions (here 1024 x fxch st(1); 300 x "
                "fstp st(5) already does it, 200 does not)")
X87_RUNS = {
    ("native", None): _UNICORN_X87,
    ("native", "r0"): _UNICORN_X87,
    ("monitor", None): _UNICORN_X87 + "; guest user code runs direct, so a ring-3 program "
                                      "kills the monitor's process",
}


@pytest.mark.parametrize("how, variant", [
    pytest.param(h, v, marks=[pytest.mark.xfail(strict=True, reason=X87_RUNS[(h, v)])]
                 if (h, v) in X87_RUNS else [], id=f"{h}:{v or 'r3'}")
    for h in ("native", "monitor") for v in (None, "r0")])
def test_x87_run_in_a_child(how: str, variant: str | None) -> None:
    """Ring 3 (default) or ring 0 runs 1024 x87 instructions in a row: qemu's output (the
    final probe's line names the ring), status 1."""
    want_out, want_status = expected("attack_x87run")
    if variant:
        want_out = want_out.replace(b"final probe r3: 1024 x fxch at ring 3",
                                    b"final probe r0: 1024 x fxch at ring 0")
    got = _child("attack_x87run", variant, native=how == "native")
    assert got is not None, f"no end in {CHILD_TIMEOUT} s"
    assert got == (want_out, want_status)


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=r),
                                               id=_id(c)) for c, r in HANGS.items()])
def test_monitor_equals_native_in_a_child(case: tuple[str, str]) -> None:
    guest, variant = case
    want = native(guest, variant)
    got = _child(guest, variant, native=False)
    assert got is not None, f"the monitor did not finish {_id(case)} in {CHILD_TIMEOUT} s"
    assert got == (want.output, want.status)
