"""Guests written blind: the PC platform checked against kernels its authors did not write.

corpus/cputest (a kvm-unit-tests-style CPU unit test) and corpus/pcunix (an
xv6-style Unix kernel) were written from the public specifications alone
(Intel SDM vol. 3A ch. 10, MP spec 1.4, ACPI, 82093AA, PC16550D, ATA/ATAPI,
multiboot), without reading btvmm's devices, firmware or monitor, as an
outside author would.  Their expected outputs come from qemu-system-i386 and
live in corpus/expected/unseen/, apart from corpus/expected/*.out (which
conftest runs under btvmm as guests that already pass):

    NAME.qemu-args   the qemu command line after "qemu-system-i386", run in corpus/
    NAME.in          bytes fed to the serial port (qemu's stdin), where present
    NAME.out         the exact serial output
    NAME.status      qemu's exit status, (v << 1) | 1 for a write of v to port 0xf4

Regenerate (after changing a guest, `make corpus` first):

    .venv/bin/python tests/test_unseen.py --regen [NAME...]

The btvmm runs translate each qemu command line into `bt run` options (-m to
--mem, -append to --cmdline, -drive to --disk, NAME.in to --serial-in).  A
case whose options `bt run` lacks fails, naming them. Every case runs on the
bare machine and under the monitor and must print qemu's output with qemu's
status (issue 16's PC platform: the APICs, the firmware tables, the 4 GiB
monitor, the IDE disk and UART input).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from conftest import needs_qemu

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
UNSEEN = CORPUS / "expected" / "unseen"
QEMU = "qemu-system-i386"
QEMU_TIMEOUT = 60.0             # seconds; each case takes well under one under qemu
BT_TIMEOUT = 300                # bt run --timeout; the subprocess gets a minute more

# qemu options that only set up what every corpus run has (serial on stdio,
# the isa-debug-exit port, no display, no reboot): bt run does all of it.
QEMU_ONLY = {"-display": 1, "-serial": 1, "-device": 1, "-monitor": 1, "-no-reboot": 0}


def cases() -> list[str]:
    return sorted(p.name.removesuffix(".qemu-args") for p in UNSEEN.glob("*.qemu-args"))


def qemu_args(name: str) -> list[str]:
    return shlex.split((UNSEEN / f"{name}.qemu-args").read_text())


def serial_in(name: str) -> Path | None:
    path = UNSEEN / f"{name}.in"
    return path if path.exists() else None


def expected(name: str) -> tuple[bytes, int]:
    return (UNSEEN / f"{name}.out").read_bytes(), int((UNSEEN / f"{name}.status").read_text())


def built(args: list[str]) -> None:
    """Fail clearly if the kernel or disk image a command line names is not built."""
    for i, arg in enumerate(args):
        paths = [args[i + 1]] if arg == "-kernel" else []
        if arg == "-drive":
            paths = [kv[5:] for kv in args[i + 1].split(",") if kv.startswith("file=")]
        for path in paths:
            if not (CORPUS / path).exists():
                pytest.fail(f"corpus/{path} is not built: run 'make corpus'")


def run_qemu(name: str) -> tuple[bytes, int]:
    """One bounded qemu run in corpus/; the status is -1 on timeout."""
    stdin = serial_in(name)
    with open(stdin if stdin else "/dev/null", "rb") as f:
        proc = subprocess.Popen([QEMU, *qemu_args(name)], cwd=CORPUS, stdin=f,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, _err = proc.communicate(timeout=QEMU_TIMEOUT)
            return out, proc.returncode
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.communicate()[0], -1


def bt_options(name: str) -> tuple[list[str], set[str]]:
    """The `bt run` options equivalent to NAME's qemu command line, and which options they are."""
    args, opts, guest = qemu_args(name), [], None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in QEMU_ONLY:
            i += 1 + QEMU_ONLY[arg]
            continue
        value = args[i + 1]
        if arg == "-kernel":
            guest = str(CORPUS / value)
        elif arg == "-m":
            opts += ["--mem", value]
        elif arg == "-append":
            opts += ["--cmdline", value]
        elif arg == "-drive":
            fields = dict(kv.split("=", 1) for kv in value.split(","))
            index = fields.get("index", "0")
            disk = str(CORPUS / fields["file"])
            opts += ["--disk", disk if index == "0" else f"{disk},index={index}"]
        else:
            raise ValueError(f"{name}.qemu-args: {arg}: no bt run equivalent known")
        i += 2
    if stdin := serial_in(name):
        opts += ["--serial-in", str(stdin)]
    assert guest is not None, f"{name}.qemu-args: no -kernel"
    return [*opts, guest], {o for o in opts if o.startswith("--")}


@cache
def bt_run_help() -> str:
    return subprocess.run([sys.executable, "-m", "runtime.cli", "run", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60).stdout


@needs_qemu
@pytest.mark.qemu
@pytest.mark.parametrize("name", cases())
def test_qemu_matches_committed_output(name: str) -> None:
    built(qemu_args(name))
    out, status = run_qemu(name)
    want_out, want_status = expected(name)
    assert out.decode(errors="replace") == want_out.decode(errors="replace")
    assert status == want_status


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["native", "monitor"])
@pytest.mark.parametrize("name", cases())
def test_btvmm_matches_qemu(name: str, mode: str) -> None:
    opts, needed = bt_options(name)
    missing = sorted(o for o in needed if o not in bt_run_help())
    assert not missing, f"bt run has no {', '.join(missing)}"
    built(qemu_args(name))
    argv = [sys.executable, "-m", "runtime.cli", "run", "--deterministic",
            "--timeout", str(BT_TIMEOUT), *(["--native"] if mode == "native" else []), *opts]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, stdin=subprocess.DEVNULL,
                          timeout=BT_TIMEOUT + 60)
    want_out, want_status = expected(name)
    assert "Traceback" not in proc.stderr.decode(errors="replace")
    assert proc.stdout.decode(errors="replace") == want_out.decode(errors="replace")
    assert proc.returncode == want_status


def regen(names: list[str]) -> int:
    """Write NAME.out and NAME.status from qemu for each case (every case without names)."""
    for name in names or cases():
        out, status = run_qemu(name)
        if status < 0:
            print(f"{name}: qemu timed out after {QEMU_TIMEOUT:.0f} s", file=sys.stderr)
            return 1
        (UNSEEN / f"{name}.out").write_bytes(out)
        (UNSEEN / f"{name}.status").write_text(f"{status}\n")
        print(f"{name}: {len(out)} bytes, status {status}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] != ["--regen"]:
        print("usage: test_unseen.py --regen [NAME...]", file=sys.stderr)
        sys.exit(2)
    sys.exit(regen(sys.argv[2:]))
