"""The `bt` command as a user meets it: statuses, one-line errors, streaming, --stats, --json."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import expected, guest_elf

BT = [sys.executable, "-m", "runtime.cli"]


def bt(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*BT, *args], capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def one_line_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    err = proc.stderr.decode()
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_version_and_help() -> None:
    v = bt("--version")
    assert v.returncode == 0 and v.stdout.decode().startswith("bt (btvmm) ")
    h = bt("run", "--help")
    assert h.returncode == 0
    text = h.stdout.decode()
    for option in ("--native", "--mem", "--module", "--cmdline", "--max-insns", "--stats",
                   "--json", "--deterministic", "--timeout"):
        assert option in text
    assert "triple fault" in text and "(v<<1)|1" in text


def test_unknown_option_is_one_line_status_2() -> None:
    p = bt("run", "--frobnicate")
    assert p.returncode == 2
    assert "unrecognized arguments: --frobnicate" in one_line_error(p)


def test_hello_streams_output_and_exits_like_qemu() -> None:
    want_out, want_status = expected("hello")
    p = bt("run", "--native", str(guest_elf("hello")))
    assert p.stdout == want_out
    assert p.returncode == want_status


def test_default_guest_is_hello() -> None:
    want_out, want_status = expected("hello")
    p = bt("run", "--native")
    assert p.stdout == want_out and p.returncode == want_status


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty"),
        (b"#!/bin/sh\necho hi\n" * 4, "not an ELF"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 57, "ELF64"),
        (b"\x7fELF\x01\x01\x01" + b"\0" * 9 + struct.pack("<HH", 2, 40) + b"\0" * 32, "ARM"),
        (b"\x7fELF\x01\x01\x01" + b"\0" * 5, "truncated"),
    ],
    ids=["empty", "not-elf", "elf64", "wrong-machine", "truncated"],
)
def test_bad_guest_files(tmp_path: Path, content: bytes, problem: str) -> None:
    f = tmp_path / "guest.bin"
    f.write_bytes(content)
    p = bt("run", "--native", str(f))
    assert p.returncode == 2
    line = one_line_error(p)
    assert str(f) in line and problem.lower() in line.lower()


def test_missing_file(tmp_path: Path) -> None:
    p = bt("run", "--native", str(tmp_path / "nope.elf"))
    assert p.returncode == 2
    assert "nope.elf" in one_line_error(p)


def test_segment_beyond_ram() -> None:
    p = bt("run", "--native", "--mem", "1", str(guest_elf("hello")))
    assert p.returncode == 2
    line = one_line_error(p)
    assert "RAM" in line


def test_stats_and_json(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    p = bt("run", "--native", "--stats", "--json", str(out), str(guest_elf("hello")))
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "instructions" in err and "uart0" in err
    doc = json.loads(out.read_text())
    assert doc["outcome"] == "exit" and doc["status"] == 1
    assert doc["output"] == expected("hello")[0].decode()
    assert doc["stats"]["instructions"] > 1000
    assert doc["registers"]["cpl"] == 0


def test_instruction_limit_reports_state() -> None:
    p = bt("run", "--native", "--max-insns", "1000", str(guest_elf("hello")))
    assert p.returncode == 8
    err = p.stderr.decode()
    assert "insn-limit" in err and "guest EIP" in err and "eax=" in err


def test_building_the_parser_imports_no_machinery() -> None:
    """Start-up: the parser is built without diff, fuzz, the fuzz generator, keystone,
    capstone or the machine (they load when a command needs them)."""
    heavy = ("runtime.check.diff", "runtime.check.fuzz", "runtime.check.fuzzgen", "keystone",
             "capstone", "unicorn", "runtime.pc.machine", "importlib.metadata")
    code = ("import sys, runtime.cli; runtime.cli.build_parser(); "
            f"print(' '.join(m for m in {heavy!r} if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().strip() == ""
