#!/usr/bin/env python3
"""Reference outputs for the guest corpus, produced by qemu-system-i386.

    python3 corpus/reference.py --regen [NAMES...]   write corpus/expected/NAME.{out,status}
    python3 corpus/reference.py --check [NAMES...]   compare qemu with corpus/expected
    python3 corpus/reference.py --list               list guests with an ELF in corpus/build

Without NAMES, --regen uses every guest that has corpus/build/NAME.elf and
--check every built guest that has corpus/expected/NAME.out (build them
first with `make -C corpus`).  NAME.out is the exact serial output;
NAME.status is qemu's exit status ((v << 1) | 1 for a write of v to the
isa-debug-exit port 0xf4) as a decimal number plus a newline.

If qemu-system-i386 is not installed, --check prints "skipped" and exits 0
(--regen exits 2).  Stdlib only; usable as a module:

    from reference import run_qemu
    out, status = run_qemu("corpus/build/hello.elf", timeout=20)
"""
import argparse
import os
import shutil
import subprocess
import sys

CORPUS = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(CORPUS, "build")
EXPECTED = os.path.join(CORPUS, "expected")
QEMU = "qemu-system-i386"
DEFAULT_TIMEOUT = 20.0


def qemu_available():
    return shutil.which(QEMU) is not None


def qemu_cmd(elf_path):
    return [QEMU, "-display", "none", "-serial", "stdio",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-no-reboot", "-m", "128", "-kernel", elf_path]


def run_qemu(elf_path, timeout=DEFAULT_TIMEOUT):
    """Run one guest under qemu; return (serial_output_bytes, exit_status).

    On timeout the status is -1 and the output is whatever was captured.
    """
    proc = subprocess.Popen(qemu_cmd(elf_path), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, _err = proc.communicate(timeout=timeout)
        return out, proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _err = proc.communicate()
        return out, -1


def guests_built():
    if not os.path.isdir(BUILD):
        return []
    return sorted(f[:-4] for f in os.listdir(BUILD) if f.endswith(".elf"))


def elf_of(name):
    return os.path.join(BUILD, name + ".elf")


def expected_paths(name):
    return (os.path.join(EXPECTED, name + ".out"),
            os.path.join(EXPECTED, name + ".status"))


def regen(names, timeout):
    os.makedirs(EXPECTED, exist_ok=True)
    rc = 0
    for name in names:
        if not os.path.exists(elf_of(name)):
            print(f"{name}: missing {elf_of(name)} (run make -C corpus)")
            rc = 1
            continue
        out, status = run_qemu(elf_of(name), timeout)
        if status == -1:
            print(f"{name}: TIMEOUT after {timeout}s; not written")
            rc = 1
            continue
        out_path, st_path = expected_paths(name)
        with open(out_path, "wb") as f:
            f.write(out)
        with open(st_path, "w") as f:
            f.write(f"{status}\n")
        print(f"{name}: status {status}, {len(out)} bytes")
    return rc


def first_difference(a, b):
    al, bl = a.splitlines(keepends=True), b.splitlines(keepends=True)
    for i in range(max(len(al), len(bl))):
        x = al[i] if i < len(al) else b"<end of output>"
        y = bl[i] if i < len(bl) else b"<end of output>"
        if x != y:
            return i + 1, y, x
    return None


def check(names, timeout):
    rc = 0
    for name in names:
        out_path, st_path = expected_paths(name)
        if not os.path.exists(out_path) or not os.path.exists(st_path):
            print(f"{name}: MISSING expected files ({out_path})")
            rc = 1
            continue
        if not os.path.exists(elf_of(name)):
            print(f"{name}: missing {elf_of(name)} (run make -C corpus)")
            rc = 1
            continue
        with open(out_path, "rb") as f:
            want_out = f.read()
        with open(st_path) as f:
            want_status = int(f.read().strip())
        out, status = run_qemu(elf_of(name), timeout)
        problems = []
        if status != want_status:
            problems.append(f"exit status {status}, expected {want_status}"
                            + (" (timeout)" if status == -1 else ""))
        if out != want_out:
            diff = first_difference(out, want_out)
            if diff:
                line, want, got = diff
                problems.append(f"output differs at line {line}:\n"
                                f"    expected: {want!r}\n"
                                f"    got:      {got!r}")
            else:
                problems.append("output differs")
        if problems:
            rc = 1
            print(f"{name}: MISMATCH: " + "\n  ".join(problems))
        else:
            print(f"{name}: ok")
    return rc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--regen", action="store_true", help="write expected outputs")
    g.add_argument("--check", action="store_true", help="compare with expected outputs")
    g.add_argument("--list", action="store_true", help="list built guests")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                    help="per-guest timeout in seconds (default %(default)s)")
    ap.add_argument("names", nargs="*", help="guest names (default: all built)")
    args = ap.parse_args(argv)

    if args.list:
        print("\n".join(guests_built()))
        return 0
    names = args.names
    if not names:
        names = guests_built()
        if args.check:     # default for --check: guests that have references
            names = [n for n in names if os.path.exists(expected_paths(n)[0])]
    if not qemu_available():
        if args.check:
            print(f"{QEMU} not found: skipped")
            return 0
        print(f"{QEMU} not found: cannot regenerate")
        return 2
    if not names:
        print("no guests built (run make -C corpus)")
        return 1
    return regen(names, args.timeout) if args.regen else check(names, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
