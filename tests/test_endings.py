"""Every ending is a report (issue 11): code at address 0, statuses, bad input, Ctrl-C.

Expected endings come from the guests' own self-checks (the value they write to
the exit port), the Intel SDM, or the documented status table; never from
btvmm echoing itself.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ROOT, guest_elf, needs_qemu
from pcguest import CODE, UCODE, UDATA, USTACK, Scenario, asm, gate

from runtime.report import Outcome

# --- code at linear address 0 -----------------------------------------------------------------

#: a 4 MiB identity page at 0, user and writable; then paging on (CR4.PSE)
PAGING = ("mov dword ptr [0x10000], 0x87; mov eax, cr4; or eax, 0x10; mov cr4, eax;"
          "mov eax, 0x10000; mov cr3, eax; mov eax, cr0; or eax, 0x80000000; mov cr0, eax;")


def _store_at_zero(code: bytes) -> str:
    return "".join(f"mov byte ptr [{i}], {b};" for i, b in enumerate(code))


@pytest.mark.parametrize("monitor", [False, True], ids=["native", "monitor"])
@pytest.mark.parametrize("paging", [False, True], ids=["flat", "paging"])
@pytest.mark.parametrize("ring", [0, 3])
def test_code_at_linear_zero_runs_as_anywhere_else(ring: int, paging: bool, monitor: bool) -> None:
    # code at 0 reached by ret (ring 0) or iret (ring 3) must run: it exits with its own value
    if ring == 0:
        body = asm("nop; mov eax, 9; out 0xf4, eax; hlt", 0)
        main = _store_at_zero(body) + "push 0; ret;"
        want = (9 << 1) | 1
    else:
        body = asm("nop; mov eax, 7; int 0x80", 0)
        main = (_store_at_zero(body) + f"push {UDATA}; push {USTACK}; push 0x202; push {UCODE};"
                "push 0; iretd;")
        want = (7 << 1) | 1
    scenario = Scenario((PAGING if paging else "") + main,
                        handlers={0x80: "out 0xf4, eax; hlt;"},
                        gates={0x80: gate(CODE + 0x1000, dpl=3)})
    _m, r = scenario.run(monitor=monitor, max_insns=10_000)
    assert r.outcome is Outcome.GUEST_EXIT and r.status == want, r.report()


# --- helpers: bt as a user meets it, and small multiboot guests --------------------------------

BT = [sys.executable, "-m", "runtime.cli"]
MODES = [pytest.param(["--native"], id="native"), pytest.param([], id="monitor")]


def bt(*args: str, timeout: float = 60, **kw: object) -> subprocess.CompletedProcess[bytes]:
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run([*BT, *args], capture_output=True, timeout=timeout, cwd=ROOT,
                          env=_env(), **kw)  # type: ignore[call-overload]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["BT_CRASH_DIR"] = str(Path(tempfile.gettempdir()) / "bt-test-crashes")
    return env


def clean(proc: subprocess.CompletedProcess[bytes]) -> str:
    """stderr, asserting that no traceback and no signal ended the command."""
    err = proc.stderr.decode(errors="replace")
    assert "Traceback" not in err, err
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}"
    return err


def one_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    lines = [line for line in clean(proc).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


MB_BASE = 0x100000


def multiboot_image(source: str, path: Path) -> Path:
    """A multiboot a.out-kludge kernel (Multiboot 0.6.96, 3.1.3: header flags bit 16, load
    address fields) loaded at 1 MiB, its code right after the 32-byte header: qemu -kernel
    and bt run both boot it."""
    entry = MB_BASE + 32
    magic, flags = 0x1BADB002, 0x00010000
    header = struct.pack("<8I", magic, flags, (-(magic + flags)) & 0xFFFFFFFF, MB_BASE, MB_BASE,
                         0, 0, entry)
    path.write_bytes(header + asm(source, entry))
    return path


def flat_image(source: str, path: Path, addr: int = MB_BASE) -> Path:
    path.write_bytes(asm(source, addr))
    return path


SERIAL_R = "mov dx, 0x3f8; mov al, 0x52; out dx, al;"  # prints 'R': the guest is running
EXIT = "out 0xf4, eax;"


# --- the battery: bad input and options, each a one-line error and status 2 --------------------

BAD_INPUT = [
    # (arguments, a fragment of the one-line error)
    (["run", "--native", "--timeout", "nan", "{hello}"], "finite"),
    (["run", "--native", "--timeout", "inf", "{hello}"], "finite"),
    (["run", "--native", "--timeout", "1e300", "{hello}"], "at most"),
    (["run", "--native", "--timeout", "-1", "{hello}"], "positive"),
    (["run", "--native", "--timeout", "soon", "{hello}"], "not a number"),
    (["run", "--native", "--entry", "-1", "--load-addr", "0", "{flat}"], "32-bit address"),
    (["run", "--native", "--entry", "0x100000000", "--load-addr", "0", "{flat}"],
     "32-bit address"),
    (["run", "--native", "--load-addr", "-0x10", "{flat}"], "32-bit address"),
    (["run", "--load-addr", "0x100000000", "{flat}"], "32-bit address"),
    (["run", "--native", "--mem", "100000", "{hello}"], "at most 3584 MiB"),
    (["run", "--native", "--mem", "5000", "{hello}"], "at most 3584 MiB"),
    (["run", "--mem", "2048", "{hello}"], "the monitor supports at most"),
    (["run", "--native", "--mem", "0", "{hello}"], "positive"),
    (["run", "--native", "--max-insns", "-5", "{hello}"], "positive"),
    (["run", "--native", "{fifo}"], "FIFO"),
    (["run", "--native", "--module", "{fifo}", "{hello}"], "FIFO"),
    (["run", "--native", "{tmp}"], "directory"),
    (["run", "--native", "--json", "{tmp}/no/such/dir/r.json", "{hello}"], "no such directory"),
    (["run", "--native", "--json", "{tmp}", "{hello}"], "not a regular file"),
    (["run", "--native", "--json", "{fifo}", "{hello}"], "not a regular file"),
    (["run", "--native", "{tmp}/missing.elf"], "No such file"),
    (["explain", "{hello}", "--addr", "0x100000000"], "32-bit address"),
    (["explain", "{hello}", "--addr", "-1"], "32-bit address"),
    (["explain", "{fifo}", "--addr", "0"], "FIFO"),
    (["explain", "--mem", "16", "{entry_outside}", "--addr", "0x100020"], "cannot boot"),
    (["diff", "--no-qemu", "{fifo}"], "FIFO"),
    (["diff", "--no-qemu", "--mem", "4096", "{hello}"], "at most"),
    (["diff", "--no-qemu", "--entry", "-1", "--load-addr", "0", "{flat}"], "32-bit address"),
    (["fuzz", "--workers", "-1"], "must be positive"),
    (["fuzz", "--seconds", "nan"], "finite"),
    (["fuzz", "--shrink", "-2"], "0 or more"),
]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    flat = flat_image("cli; l: jmp l", tmp_path / "spin.bin")
    # a multiboot kernel whose entry lies past 16 MiB of RAM: the monitor cannot boot it
    outside = tmp_path / "outside.bin"
    magic, flags = 0x1BADB002, 0x00010000
    outside.write_bytes(struct.pack("<8I", magic, flags, (-(magic + flags)) & 0xFFFFFFFF,
                                    MB_BASE, MB_BASE, 0, 0, 0x2000000) + b"\x90" * 16)
    return {"fifo": str(fifo), "flat": str(flat), "tmp": str(tmp_path),
            "hello": str(guest_elf("hello")), "entry_outside": str(outside)}


@pytest.mark.parametrize(("args", "fragment"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_status_2(args: list[str], fragment: str,
                                             files: dict[str, str]) -> None:
    p = bt(*[a.format(**files) for a in args], timeout=30)
    line = one_line(p)
    assert p.returncode == 2, line
    assert fragment in line, line


def test_no_arguments_prints_usage() -> None:
    p = bt()
    err = clean(p)
    assert p.returncode == 2
    assert err.startswith("usage: bt") and "run" in err and "diff" in err


def test_help_documents_every_status() -> None:
    from runtime.endings import DIFF_STATUSES, EXPLAIN_STATUSES, FUZZ_STATUSES
    from runtime.report import OUTCOMES

    for command, table in (("run", {s: t for s, t in OUTCOMES.values()}), ("diff", DIFF_STATUSES),
                           ("fuzz", FUZZ_STATUSES), ("explain", EXPLAIN_STATUSES)):
        text = " ".join(bt(command, "--help").stdout.decode().split())
        for status, meaning in table.items():
            assert f"{status} {' '.join(meaning.split())[:30]}" in text, (command, status)
    # every even status of bt run is distinct, and only a guest's own exit is odd
    statuses = [s for o, (s, _t) in OUTCOMES.items() if o is not Outcome.GUEST_EXIT]
    assert len(set(statuses)) == len(statuses) and all(s % 2 == 0 for s in statuses)


def test_entry_outside_ram_ends_with_a_report_in_both_modes(files: dict[str, str]) -> None:
    for mode in (["--native"], []):
        p = bt("run", *mode, "--mem", "16", files["entry_outside"])
        err = clean(p)
        assert p.returncode == 12, err
        assert "outside guest RAM" in err and "guest EIP 0x02000000" in err


@pytest.mark.parametrize("mode", MODES)
def test_closed_and_broken_stdout_keep_the_guest_status(mode: list[str]) -> None:
    hello = str(guest_elf("hello"))
    closed = subprocess.run([*BT, "run", *mode, hello], cwd=ROOT, stdout=None, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, pass_fds=(), close_fds=True,
                            preexec_fn=lambda: os.close(1), timeout=60)
    assert closed.returncode == 1 and b"Traceback" not in closed.stderr, closed.stderr
    both = subprocess.run([*BT, "run", *mode, "--stats", hello], cwd=ROOT, stdin=subprocess.DEVNULL,
                          preexec_fn=lambda: (os.close(1), os.close(2)), timeout=60)
    assert both.returncode == 1
    # a reader that goes away after one byte: the guest runs on, its status stands
    proc = subprocess.Popen([*BT, "run", *mode, hello], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(1)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 1 and b"Traceback" not in err, err


def test_unreachable_scheduler_is_one_line() -> None:
    pytest.importorskip("dask.distributed")
    p = bt("fuzz", "--scheduler", "tcp://127.0.0.1:9", "--programs", "1", timeout=60)
    assert p.returncode == 2 and "cannot reach the Dask scheduler" in one_line(p)


def test_json_is_checked_before_the_run(tmp_path: Path) -> None:
    # the guest would spin for its whole --max-insns; the bad path is reported at once
    flat = flat_image("cli; l: jmp l", tmp_path / "spin.bin")
    t0 = time.monotonic()
    p = bt("run", "--native", "--load-addr", hex(MB_BASE), "--max-insns", "300000000",
           "--json", str(tmp_path / "nodir" / "r.json"), str(flat))
    assert p.returncode == 2 and "--json" in one_line(p)
    assert time.monotonic() - t0 < 30


# --- misbehaving guests and their endings ------------------------------------------------------

#: an IDT at 0x20000 whose #UD gate (vector 6) points at label ``ud`` of the guest, loaded
IDT_UD = ("mov edi, 0x26030; mov eax, ud; mov [edi], ax; mov word ptr [edi + 2], 8;"
          "mov word ptr [edi + 4], 0x8e00; shr eax, 16; mov [edi + 6], ax;"
          "mov word ptr [0x1ff00], 0x7ff; mov dword ptr [0x1ff02], 0x26000; lidt [0x1ff00];")

MISBEHAVING = {
    # name: (guest source, extra options, expected status, fragment of the report)
    "hlt-if0": ("cli; hlt;", [], 6, "hlt with interrupts disabled"),
    "triple-fault": ("mov word ptr [0x1ff00], 0; mov dword ptr [0x1ff02], 0; lidt [0x1ff00];"
                     "ud2;", [], 4, "triple fault"),
    # the #UD handler returns to the ud2: the trap loop runs until --max-insns
    "trap-loop": (IDT_UD + "ud2; ud: iretd;",
                  ["--max-insns", "4000"], 8, "instruction limit"),
    "spin-if0": ("cli; l: jmp l;", ["--max-insns", "3000000"], 8, "instruction limit"),
    # writes over its whole multiboot information (EBX) and the memory map, then exits 0x2a
    "overwrite-mbi": ("mov edi, ebx; mov ecx, 0x2000; mov al, 0xff; cld; rep stosb;"
                      "mov eax, 0x2a;" + EXIT, [], 0x55, ""),
    # calls code at linear address 0 (a ret there, put by the guest) and exits 0x33
    "call-zero": ("mov byte ptr [0], 0xc3; xor eax, eax; call eax; mov eax, 0x33;" + EXIT,
                  [], 0x67, ""),
    "wallclock": ("cli; l: jmp l;", ["--timeout", "0.5"], 10, "wall-clock limit"),
    # deterministic time: the wall-clock limit still ends one long emu_start
    "wallclock-deterministic": ("cli; l: jmp l;", ["--deterministic", "--timeout", "0.5"], 10,
                                "wall-clock limit"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(MISBEHAVING))
def test_misbehaving_guest_ends_as_documented(name: str, mode: list[str], tmp_path: Path) -> None:
    source, options, status, fragment = MISBEHAVING[name]
    image = multiboot_image(source, tmp_path / f"{name}.bin")
    p = bt("run", *mode, "--deterministic" if name != "wallclock" else "--stats", *options,
           str(image), timeout=120)
    err = clean(p)
    assert p.returncode == status, err
    assert fragment in err
    if status % 2 == 0:
        assert "guest EIP" in err, err


@needs_qemu
@pytest.mark.parametrize("name", ["overwrite-mbi", "call-zero"])
def test_misbehaving_guest_status_is_qemus(name: str, tmp_path: Path) -> None:
    """The guests that end on their own end as under qemu-system-i386 (the reference)."""
    from runtime.check.diff import run_qemu

    image = multiboot_image(MISBEHAVING[name][0], tmp_path / f"{name}.bin")
    _out, status = run_qemu(str(image), 128)
    assert status == MISBEHAVING[name][2]


# --- Ctrl-C -----------------------------------------------------------------------------------

CTRL_C_GUESTS = {
    "spin-if0": "cli; l: jmp l;",
    "callout-loop": "cli; l: in al, 0x80; jmp l;",  # an I/O callout per turn under the monitor
    "long-rep": "cli; mov edi, 0x200000; xor eax, eax; mov ecx, 0x7000000; repe scasb; l: jmp l;",
    # IF=1 and the PIT armed but masked at the PIC: hlt idles with a deadline ahead
    "hlt": "mov al, 0x34; out 0x43, al; mov al, 0xff; out 0x40, al; out 0x40, al;"
           "out 0x21, al; sti; l: hlt; jmp l;",
}


def _interrupt(args: list[str], *, twice: bool = False) -> tuple[int, str, float]:
    """Start ``bt run ARGS``, wait for the guest's 'R' on the console, send SIGINT; the
    status, stderr and the seconds from SIGINT to the process's end."""
    proc = subprocess.Popen([*BT, "run", *args], cwd=ROOT, env=_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        assert proc.stdout.read(1) == b"R"
        time.sleep(0.3)  # well inside the spin, the hlt or the rep
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        if twice:
            proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err.decode(errors="replace"), time.monotonic() - t0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("clock", [[], ["--deterministic"]], ids=["realtime", "deterministic"])
@pytest.mark.parametrize("name", sorted(CTRL_C_GUESTS))
def test_ctrl_c_stops_the_guest_with_the_report(name: str, clock: list[str], mode: list[str],
                                                tmp_path: Path) -> None:
    image = multiboot_image(SERIAL_R + CTRL_C_GUESTS[name], tmp_path / f"{name}.bin")
    out = tmp_path / "r.json"
    status, err, _seconds = _interrupt([*mode, *clock, "--stats", "--json", str(out), str(image)])
    assert "Traceback" not in err
    assert status == 130, err
    assert "bt: interrupted" in err and "guest EIP" in err and "--- bt stats ---" in err
    doc = json.loads(out.read_text())
    assert doc["outcome"] == "interrupted" and doc["status"] == 130 and doc["output"] == "R"
    # measured 0.03-8 ms (hlt sleeps in 10 ms steps); the issue asks for 100 ms. Bounded
    # loosely here: a loaded shared machine can delay the watcher thread
    assert doc["stats"]["sigint_to_stop_us"] < 2_000_000


def test_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    image = multiboot_image(SERIAL_R + CTRL_C_GUESTS["spin-if0"], tmp_path / "spin.bin")
    status, err, seconds = _interrupt([str(image)], twice=True)
    assert status == 130 and "Traceback" not in err, err
    assert seconds < 20


# --- internal errors: one line, a crash report, status 16 --------------------------------------

def test_internal_error_in_a_run_is_a_report_with_a_crash_file(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    from runtime.pc.machine import Machine
    from runtime.session import RunOptions, run_file

    monkeypatch.setenv("BT_CRASH_DIR", str(tmp_path))

    def broken(self: Machine) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(Machine, "_loop", broken)
    for native in (True, False):
        r = run_file(str(guest_elf("hello")), RunOptions(native=native, deterministic=True))
        assert r.outcome is Outcome.INTERNAL and r.status == 16
        assert "ZeroDivisionError: a bug" in r.message and "crash report:" in r.message
        path = Path(r.message.split("crash report: ")[1].rstrip(")"))
        assert "Traceback" in path.read_text() and "a bug" in path.read_text()


def test_internal_error_of_a_command_is_one_line_and_status_16(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]
                                                               ) -> None:
    from runtime import cli

    monkeypatch.setenv("BT_CRASH_DIR", str(tmp_path))

    def broken(_args: object) -> int:
        raise KeyError("boom")

    monkeypatch.setattr(cli, "cmd_explain", broken)
    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser(), broken))
    status = cli.main(["explain", str(guest_elf("hello")), "--addr", "0"])
    err = capsys.readouterr().err
    assert status == 16
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "internal error: KeyError" in lines[0] and "crash report:" in lines[0]
    assert list(tmp_path.glob("bt-crash-*.txt"))


def _with_func(parser: object, func: object) -> object:
    sub = parser._subparsers._group_actions[0].choices["explain"]  # type: ignore[attr-defined]
    sub.set_defaults(func=func)
    return parser


def test_a_run_that_cannot_build_its_result_still_ends_cleanly(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    # the monitor stopped outside any block while the result was built (a mutated guest):
    # the processor's EIP is reported, no exception escapes
    from runtime.pc.runloop import StopRun
    from runtime.session import RunOptions, run_file
    from runtime.vmm.monitor import Monitor

    monkeypatch.setenv("BT_CRASH_DIR", str(tmp_path))

    def outside(self: Monitor) -> int:
        raise StopRun(Outcome.INTERNAL, "stopped at 0xffc01234, outside any block")

    monkeypatch.setattr(Monitor, "guest_eip_now", outside)
    r = run_file(str(guest_elf("hello")), RunOptions(native=False, deterministic=True))
    assert r.outcome is Outcome.GUEST_EXIT and r.status == 1 and "eip" in r.regs


# --- the read leak, reduced -------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    # enter with a nesting level reads the frame pointers above EBP = 0: at 0xfffffffc
    "mov esp, 0x90000; xor ebp, ebp; enter 0, 2;",
    "mov eax, [0xfffffffc];",  # the top page: translation cache space with no code in it
    "mov eax, [0xffcc0000];",  # a second-level lookup table not in use
], ids=["enter-wrap", "top-page", "unused-lookup-table"])
def test_reads_of_the_monitor_range_fault_as_natively(source: str) -> None:
    # natively the top 4 MiB lie outside RAM: status 12; under the monitor these pages of its
    # range are not mapped (nothing there for the processor yet), so the read faults as well
    endings = []
    for monitor in (False, True):
        _m, r = Scenario(source + "mov eax, 5; out 0xf4, eax; hlt;").run(monitor=monitor)
        endings.append((r.outcome, r.status))
    assert endings == [(Outcome.GUEST_ERROR, 12)] * 2


def test_readable_monitor_pages_are_counted_and_few() -> None:
    from runtime.session import RunOptions, run_file

    r = run_file(str(guest_elf("usermode")), RunOptions(native=False, deterministic=True))
    mon = r.stats["monitor"]
    assert isinstance(mon, dict)
    # of 1024 pages: the vCPU page and miss stub (2), shadow GDT/LDT (32), the lookup
    # table's first level and miss level (128), the second levels in use (64 each) and the
    # TC pages holding code; 738 were readable before the on-demand mapping
    assert 162 < mon["readable_monitor_pages"] < 400


# --- the mutation campaign --------------------------------------------------------------------

def _campaign(seed: int, count: int, timeout: float) -> dict[str, object]:
    """runtime.check.mutate in its own process: a signal kills it, not pytest; a hang is
    the timeout."""
    p = subprocess.run([sys.executable, "-m", "runtime.check.mutate", "--seed", str(seed),
                        "--count", str(count)], cwd=ROOT, env=_env(), capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    assert p.returncode >= 0, f"the campaign died of signal {-p.returncode}"
    doc = json.loads(p.stdout)
    assert doc["failures"] == [], doc["failures"]
    assert p.returncode == 0
    return doc


def test_mutated_corpus_guests_end_cleanly_fast() -> None:
    doc = _campaign(11, 16, timeout=600)
    endings = doc["endings"]
    assert isinstance(endings, dict) and sum(endings.values()) == 32


@pytest.mark.slow
def test_mutated_corpus_guests_end_cleanly() -> None:
    doc = _campaign(7, 200, timeout=1500)
    endings = doc["endings"]
    assert isinstance(endings, dict)
    assert endings.get("native load-error", 0) > 0 and endings.get("native exit", 0) > 0


def test_ctrl_c_stops_a_fuzz_campaign_with_its_summary(tmp_path: Path) -> None:
    proc = subprocess.Popen([*BT, "fuzz", "--seconds", "120", "--workers", "2", "--no-qemu",
                             "--save-dir", str(tmp_path)], cwd=ROOT, env=_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        time.sleep(5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and b"Traceback" not in err, err
    assert out.startswith(b"fuzz: ") and b"fuzz interrupted" in err


def test_diff_of_a_guest_that_cannot_start_ends_cleanly(tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    magic, flags = 0x1BADB002, 0x00010000
    outside.write_bytes(struct.pack("<8I", magic, flags, (-(magic + flags)) & 0xFFFFFFFF,
                                    MB_BASE, MB_BASE, 0, 0, 0x2000000) + b"\x90" * 16)
    p = bt("diff", "--no-qemu", "--mem", "16", str(outside))
    clean(p)
    # both machines end touching memory outside RAM at the entry: equivalent
    assert p.returncode == 0, p.stdout.decode()
