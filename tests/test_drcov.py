"""Coverage export (``bt run --coverage F``, issue 17): a drcov file, read back here by an
independent parser of DynamoRIO's format; the guest code it covers is the same natively
and under the monitor, and holds the functions the guest's output says ran."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from pathlib import Path

from conftest import guest_elf

ROOT = Path(__file__).resolve().parent.parent


def _read_drcov(path: Path) -> tuple[list[str], list[tuple[int, int, int]]]:
    data = path.read_bytes()
    m = re.search(rb"BB Table: (\d+) bbs\n", data)
    assert m is not None
    header = data[:m.end()].decode().splitlines()
    n = int(m.group(1))
    body = data[m.end():]
    assert len(body) == 8 * n
    return header, [struct.unpack_from("<IHH", body, 8 * i) for i in range(n)]


def _covered(native: bool, tmp_path: Path) -> tuple[list[str], set[int]]:
    out = tmp_path / f"cov-{native}.drcov"
    subprocess.run([sys.executable, "-m", "runtime.cli", "run", str(guest_elf("usermode")),
                    "--quiet", "--coverage", str(out), *(["--native"] if native else [])],
                   cwd=ROOT, check=False, timeout=300)
    header, bbs = _read_drcov(out)
    assert all(mod == 0 for _, _, mod in bbs)
    return header, {a for start, size, _ in bbs for a in range(start, start + size)}


def _symbols() -> dict[str, int]:
    out = subprocess.run(["nm", str(guest_elf("usermode"))], capture_output=True, text=True).stdout
    return {f[2]: int(f[0], 16) for f in (x.split() for x in out.splitlines()) if len(f) == 3}


def test_coverage_is_drcov_and_equal_in_both_modes(tmp_path: Path) -> None:
    header, native = _covered(True, tmp_path)
    assert header[0] == "DRCOV VERSION: 2" and header[2] == "Module Table: version 2, count 1"
    assert header[4].split(", ")[-1].endswith("usermode.elf")
    _, monitor = _covered(False, tmp_path)
    sym = _symbols()
    for name in ("_start", "kmain", "user_entry", "run_user_eflags", "done"):
        assert sym[name] in native and sym[name] in monitor, name
    assert monitor == native
