"""What README.md promises a user, each claim run the way the user would run it.

The command line (``bt explain``, ``--json`` under the monitor, the exit statuses 10, 14
and 16, ``--quiet``, stdin into the UART, ``--module``/``--cmdline``), the checking tools
(``bt fuzz --seconds``, ``bt diff`` exiting non-zero on a divergence, Dask with worker
processes) and the per-CR3 shadow cache's LRU eviction.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import expected, guest_elf, needs_qemu
from pcguest import Scenario, asm, exit_code

from bt.rewrite import Rewriter
from runtime import cli
from runtime.check import fuzz
from runtime.check.fuzzgen import Program
from runtime.vmm.monitor import Monitor
from runtime.vmm.shadow import MAX_ROOTS

BT = [sys.executable, "-m", "runtime.cli"]
FLAT = 0x100000


def bt(*args: str, stdin: bytes | None = None, timeout: float = 60) \
        -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*BT, *args], capture_output=True, timeout=timeout,
                          input=stdin if stdin is not None else b"")


def flat(tmp_path: Path, source: str, name: str = "g.bin") -> list[str]:
    """A flat image at 1 MiB: the arguments that run it."""
    path = tmp_path / name
    path.write_bytes(asm(source, FLAT))
    return ["--load-addr", hex(FLAT), "--entry", hex(FLAT), str(path)]


# --- the command line ----------------------------------------------------------------------
def test_explain_from_the_command_line() -> None:
    p = bt("explain", str(guest_elf("hello")), "--addr", "exit")
    assert p.returncode == 0, p.stderr.decode()
    text = p.stdout.decode()
    assert text.startswith("guest block 0x")
    assert "IDENT" in text and "out" in text  # exit() writes port 0xf4
    bad = bt("explain", str(guest_elf("hello")), "--addr", "no_such_symbol")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr.decode()


def test_json_schema_under_the_monitor(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    p = bt("run", "--deterministic", "--json", str(out), str(guest_elf("usermode")))
    want_out, want_status = expected("usermode")
    assert p.returncode == want_status
    doc = json.loads(out.read_text())
    assert set(doc) == {"outcome", "status", "message", "output", "registers", "stats"}
    assert doc["outcome"] == "exit" and doc["status"] == want_status
    assert doc["output"].encode("latin-1") == want_out
    stats = doc["stats"]
    for section in ("translator", "monitor", "shadow_paging"):
        assert isinstance(stats[section], dict), section
    assert stats["translator"]["translations"] > 0
    assert stats["translator"]["guest_insns_translated"] > 0
    assert stats["monitor"]["user_entries"] > 0 and stats["monitor"]["kernel_entries"] > 0
    assert sum(stats["monitor"]["callouts"].values()) > 0
    assert stats["instructions"] > 0 and doc["registers"]["cpl"] in (0, 3)


@pytest.mark.parametrize("native", [True, False], ids=["native", "monitor"])
def test_status_10_wall_clock_limit(tmp_path: Path, native: bool) -> None:
    args = flat(tmp_path, "spin: jmp spin")
    p = bt("run", *(["--native"] if native else []), "--timeout", "0.5", *args)
    assert p.returncode == 10, p.stderr.decode()
    assert "time-limit" in p.stderr.decode()


@pytest.mark.parametrize("native", [True, False], ids=["native", "monitor"])
def test_status_14_unmodelled_task_gate(tmp_path: Path, native: bool) -> None:
    """int 0x20 through a present task gate: task switches are not modelled (README)."""
    idtr, idt = FLAT + 0x100, FLAT + 0x200
    code = asm(f"lidt [{idtr:#x}]; int 0x20; spin: jmp spin", FLAT)
    image = bytearray(0x300)
    image[:len(code)] = code
    image[0x100:0x106] = struct.pack("<HI", 0x21 * 8 - 1, idt)
    image[0x200 + 0x20 * 8:0x200 + 0x21 * 8] = struct.pack("<HHBBH", 0, 0x28, 0, 0x85, 0)
    path = tmp_path / "task.bin"
    path.write_bytes(bytes(image))
    p = bt("run", *(["--native"] if native else []), "--load-addr", hex(FLAT), "--entry",
           hex(FLAT), str(path))
    assert p.returncode == 14, p.stderr.decode()
    assert "task gate" in p.stderr.decode()


def test_status_16_internal_error(monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A bug of btvmm (here: a callout handler that raises) is a report and status 16."""
    def broken(self: Monitor, eip: int) -> None:
        raise RuntimeError("planted bug")

    monkeypatch.setattr(Monitor, "_callout", broken)
    monkeypatch.setattr(sys, "stdin", io.BytesIO(b""))  # the UART's input: nothing
    assert cli.main(["run", str(guest_elf("hello"))]) == 16
    err = capsys.readouterr().err
    assert "internal-error" in err and "RuntimeError: planted bug" in err
    assert "Traceback" not in err and "guest EIP" in err


def test_quiet_keeps_the_console_for_json(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    p = bt("run", "--native", "--quiet", "--json", str(out), str(guest_elf("hello")))
    want_out, want_status = expected("hello")
    assert p.returncode == want_status and p.stdout == b""
    assert json.loads(out.read_text())["output"].encode("latin-1") == want_out


#: echo COM1 input back upper-cased until a newline, then exit through port 0xf4
ECHO = ("poll: mov dx, 0x3fd; in al, dx; test al, 1; jz poll;"
        "mov dx, 0x3f8; in al, dx; cmp al, 0x0a; je fin; xor al, 0x20; out dx, al; jmp poll;"
        "fin: mov al, 0; mov dx, 0xf4; out dx, al; spin: jmp spin")


@pytest.mark.parametrize("native", [True, False], ids=["native", "monitor"])
def test_stdin_reaches_the_uart(tmp_path: Path, native: bool) -> None:
    p = bt("run", *(["--native"] if native else []), *flat(tmp_path, ECHO),
           stdin=b"hello\nignored")
    assert (p.stdout, p.returncode) == (b"HELLO", 1), p.stderr.decode()


@pytest.mark.parametrize("native", [True, False], ids=["native", "monitor"])
def test_module_and_cmdline_through_the_cli(tmp_path: Path, native: bool) -> None:
    m1, m2 = tmp_path / "m1.txt", tmp_path / "m2.txt"
    m1.write_bytes(b"module one\n")
    m2.write_bytes(b"second\n")
    elf = str(guest_elf("mbinfo"))
    p = bt("run", *(["--native"] if native else []), "--cmdline", "console=ttyS0 x=1",
           "--module", str(m1), "--module", str(m2), elf)
    assert p.returncode == 1, p.stderr.decode()
    lines = p.stdout.decode().splitlines()
    assert f"cmdline: {Path(elf).name} console=ttyS0 x=1" in lines  # the path's last part
    assert "modules: 2" in lines
    assert f'module 0: 11 bytes, string "{m1}", text "module one."' in lines
    assert f'module 1: 7 bytes, string "{m2}", text "second."' in lines


@needs_qemu
def test_module_and_cmdline_as_qemu_passes_them(tmp_path: Path) -> None:
    m1 = tmp_path / "m1.txt"
    m1.write_bytes(b"module one\n")
    elf = str(guest_elf("mbinfo"))
    q = subprocess.run(["qemu-system-i386", "-display", "none", "-serial", "stdio", "-device",
                        "isa-debug-exit,iobase=0xf4,iosize=4", "-no-reboot", "-m", "128",
                        "-kernel", elf, "-append", "a b=c", "-initrd", str(m1)],
                       capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    p = bt("run", "--cmdline", "a b=c", "--module", str(m1), elf)
    assert (p.stdout, p.returncode) == (q.stdout, q.returncode)


# --- the checking tools --------------------------------------------------------------------
def test_fuzz_seconds_bounds_the_campaign(capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.monotonic()
    status = cli.main(["fuzz", "--seconds", "2", "--workers", "1", "--no-qemu",
                       "--avoid-known", "--seed", "7000"])
    took = time.monotonic() - t0
    out = capsys.readouterr().out
    assert status == 0, out
    assert took >= 2 and "0 divergences" in out
    ran = int(out.split("fuzz: ")[1].split(" programs")[0])
    assert ran >= 1
    # it stopped by the clock, not by a program count: the report's time covers the budget
    assert float(out.split(" in ")[1].split(" s")[0]) >= 2


def test_diff_exits_non_zero_on_a_divergence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """pushfd translated as it is (the image shows the real IOPL 1): bt diff says so."""
    monkeypatch.setattr(Rewriter, "_pushf", lambda self, out, g, exits, callouts:
                        self._copy(out, g, exits, callouts))
    path = tmp_path / "p.bin"
    path.write_bytes(Program(1, ["pushfd\npop ecx\n"]).image())
    status = cli.main(["diff", "--no-qemu", "--mem", "4", "--load-addr", hex(FLAT),
                       str(path)])
    out = capsys.readouterr().out
    assert status != 0 and "verdict: DIFFERENT" in out, out
    monkeypatch.undo()
    assert cli.main(["diff", "--no-qemu", "--mem", "4", "--load-addr", hex(FLAT),
                     str(path)]) == 0


def test_dask_with_worker_processes() -> None:
    """``bt fuzz --scheduler`` on a Dask cluster whose workers are processes (nothing shared
    with this one): the same seeds give the same verdicts and rules as the local run."""
    distributed = pytest.importorskip("dask.distributed",
                                      reason="dask is not installed: --scheduler is unavailable")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        remote = fuzz.campaign(None, seed=3100, programs=4, qemu=False,
                               scheduler=cluster.scheduler_address, avoid_known=True)
    local = fuzz.campaign(None, seed=3100, programs=4, workers=1, qemu=False,
                          avoid_known=True)
    assert remote.programs == local.programs == 4
    assert remote.rules == local.rules and remote.divergent == local.divergent == []


# --- the shadow cache ----------------------------------------------------------------------
PT = 0x21000
PDS = [0x20000 + 0x1000 * i for i in range(2, 12)]  # ten page directories, PT shared
#: the order the guest loads them: each once (the first two get evicted), then PD2 (reused,
#: now the most recent), PD0 (created: LRU evicts PD3, FIFO would evict PD2), PD2, PD3
ORDER = list(range(10)) + [2, 0, 2, 3]


def _cr3_guest() -> str:
    fill = (f"mov edi, {PT}; mov eax, 3; mov ecx, 1024;"
            "fill: mov [edi], eax; add eax, 0x1000; add edi, 4; loop fill;")
    pdes = "".join(f"mov dword ptr [{pd:#x}], {PT | 3};" for pd in PDS)
    paging = (f"mov eax, {PDS[0]}; mov cr3, eax; mov eax, cr0; or eax, 0x80000000;"
              "mov cr0, eax;")
    loads = "".join(f"mov eax, {PDS[i]:#x}; mov cr3, eax;" for i in ORDER[1:])
    return fill + pdes + paging + loads + exit_code()


def test_shadow_roots_are_kept_per_cr3_with_lru_eviction() -> None:
    """MAX_ROOTS (8) shadows are kept, the least recently used evicted: 10 created for the
    first ten directories, PD2 reused, PD0 created again, PD2 reused (FIFO would have evicted
    it), PD3 created again: 12 created, 2 reused."""
    assert MAX_ROOTS == 8
    native, want = Scenario(main=_cr3_guest()).run()
    mon, got = Scenario(main=_cr3_guest()).run(monitor=True)
    assert got.outcome.name == want.outcome.name == "GUEST_EXIT", got.report()
    assert mon.ram_digest() == native.ram_digest() and got.regs == want.regs
    shadow = got.stats["shadow_paging"]
    assert (shadow["roots_created"], shadow["roots_reused"]) == (12, 2), shadow
    assert len(mon.shadow.roots) == MAX_ROOTS
    assert list(mon.shadow.roots)[-1] == PDS[3]  # the most recent last
