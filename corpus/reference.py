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

btos (corpus/os) is not a library guest: it boots with a disk image and a
command line, and a session may be typed on its serial line.  Its
sessions (OS_SESSIONS) live in corpus/expected/os/SESSION.{out,status},
with the serial input SESSION.in where there is one and the exact qemu
command lines in corpus/expected/os/qemu.txt; they are not in
corpus/expected/*.out, which every test runs under btvmm.  The names "os"
(every session) or "os/SESSION" select them; --check without NAMES
includes them when corpus/build/os.elf is built.

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


def run_cmd(cmd, stdin_path=None, timeout=DEFAULT_TIMEOUT):
    """Run qemu; return (serial_output_bytes, exit_status), stdin from a file or empty.

    On timeout the status is -1 and the output is whatever was captured.
    """
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            out, _err = proc.communicate(timeout=timeout)
            return out, proc.returncode
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _err = proc.communicate()
            return out, -1
    finally:
        if stdin_path:
            stdin.close()


def run_qemu(elf_path, timeout=DEFAULT_TIMEOUT):
    """Run one guest under qemu; return (serial_output_bytes, exit_status)."""
    return run_cmd(qemu_cmd(elf_path), timeout=timeout)


# ------------------------------------------------------------------ btos
OS_ELF = os.path.join(BUILD, "os.elf")
OS_DISK = os.path.join(BUILD, "os-disk.img")
OS_EXPECTED = os.path.join(EXPECTED, "os")
#: session -> multiboot command line (-append) and serial input (SESSION.in or none)
OS_SESSIONS = {
    "autorun": ("autorun", False),      # the built-in session, MP tables
    "acpi": ("autorun acpi", False),    # the same, interrupt hardware from ACPI
    "script": ("", True),               # typed on the serial line: script.in
}


def os_qemu_cmd(session, elf_path=OS_ELF, disk_path=OS_DISK):
    """The qemu command line of a btos session.  snapshot=on: writes (there
    are none) would go to a temporary overlay, so the image is never
    modified and is not locked against parallel runs."""
    append, _ = OS_SESSIONS[session]
    cmd = qemu_cmd(elf_path) + [
        "-drive", f"file={disk_path},format=raw,if=ide,index=0,snapshot=on"]
    return cmd + ["-append", append] if append else cmd


def os_paths(session):
    """(input or None, expected output, expected status) of a session."""
    base = os.path.join(OS_EXPECTED, session)
    return (base + ".in" if OS_SESSIONS[session][1] else None,
            base + ".out", base + ".status")


def run_os(session, timeout=DEFAULT_TIMEOUT, elf_path=OS_ELF, disk_path=OS_DISK):
    """Boot btos under qemu for one session; (serial output, exit status)."""
    stdin_path, _, _ = os_paths(session)
    return run_cmd(os_qemu_cmd(session, elf_path, disk_path), stdin_path, timeout)


def write_os_commands():
    """corpus/expected/os/qemu.txt: how each session was produced (paths
    relative to the repository root)."""
    root = os.path.dirname(CORPUS)
    lines = ["# qemu-system-i386 command lines of the btos sessions (corpus/reference.py)"]
    for session in OS_SESSIONS:
        cmd = os_qemu_cmd(session, os.path.relpath(OS_ELF, root), os.path.relpath(OS_DISK, root))
        quoted = [f"'{a}'" if " " in a or not a else a for a in cmd]
        stdin_path = os_paths(session)[0]
        stdin = f" < {os.path.relpath(stdin_path, root)}" if stdin_path else " < /dev/null"
        lines.append(f"{session}: {' '.join(quoted)}{stdin}")
    with open(os.path.join(OS_EXPECTED, "qemu.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def os_sessions(name):
    """The sessions a name selects ("os", "os/SESSION"), or None if it is a guest."""
    if name == "os":
        return list(OS_SESSIONS)
    if name.startswith("os/") and name[3:] in OS_SESSIONS:
        return [name[3:]]
    return None


#: guests whose references live in a folder of their own (corpus/expected/os,
#: corpus/expected/unseen: tests/test_unseen.py, corpus/expected/ata: tests/test_ata.py,
#: corpus/expected/serin: tests/test_console.py),
#: not in corpus/expected/NAME.out
OWN_REFERENCES = {"os", "cputest", "pcunix", "ata", "serin"}


def guests_built():
    if not os.path.isdir(BUILD):
        return []
    return sorted(f[:-4] for f in os.listdir(BUILD)
                  if f.endswith(".elf") and f[:-4] not in OWN_REFERENCES)


def elf_of(name):
    return os.path.join(BUILD, name + ".elf")


def expected_paths(name):
    return (os.path.join(EXPECTED, name + ".out"),
            os.path.join(EXPECTED, name + ".status"))


def targets(names):
    """(label, run() -> (out, status), expected output path, status path, missing)
    for each name; `missing` names an input file that is not built."""
    for name in names:
        sessions = os_sessions(name)
        if sessions is None:
            out_path, st_path = expected_paths(name)
            missing = None if os.path.exists(elf_of(name)) else elf_of(name)
            yield name, lambda t, n=name: run_qemu(elf_of(n), t), out_path, st_path, missing
            continue
        missing = next((p for p in (OS_ELF, OS_DISK) if not os.path.exists(p)), None)
        for session in sessions:
            _, out_path, st_path = os_paths(session)
            yield f"os/{session}", lambda t, s=session: run_os(s, t), out_path, st_path, missing


def regen(names, timeout):
    os.makedirs(EXPECTED, exist_ok=True)
    rc = 0
    for label, run, out_path, st_path, missing in targets(names):
        if missing:
            print(f"{label}: missing {missing} (run make -C corpus)")
            rc = 1
            continue
        os.makedirs(os.path.dirname(out_path), exist_ok=True)
        out, status = run(timeout)
        if status == -1:
            print(f"{label}: TIMEOUT after {timeout}s; not written")
            rc = 1
            continue
        with open(out_path, "wb") as f:
            f.write(out)
        with open(st_path, "w") as f:
            f.write(f"{status}\n")
        print(f"{label}: status {status}, {len(out)} bytes")
    if any(os_sessions(n) for n in names):
        write_os_commands()
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
    for label, run, out_path, st_path, missing in targets(names):
        if not os.path.exists(out_path) or not os.path.exists(st_path):
            print(f"{label}: MISSING expected files ({out_path})")
            rc = 1
            continue
        if missing:
            print(f"{label}: missing {missing} (run make -C corpus)")
            rc = 1
            continue
        with open(out_path, "rb") as f:
            want_out = f.read()
        with open(st_path) as f:
            want_status = int(f.read().strip())
        out, status = run(timeout)
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
            print(f"{label}: MISMATCH: " + "\n  ".join(problems))
        else:
            print(f"{label}: ok")
    return rc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--regen", action="store_true", help="write expected outputs")
    g.add_argument("--check", action="store_true", help="compare with expected outputs")
    g.add_argument("--list", action="store_true", help="list built guests and btos sessions")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                    help="per-guest timeout in seconds (default %(default)s)")
    ap.add_argument("names", nargs="*", help="guest names (default: all built)")
    args = ap.parse_args(argv)

    if args.list:
        print("\n".join(guests_built() + [f"os/{s}" for s in OS_SESSIONS]))
        return 0
    names = args.names
    if not names:
        names = guests_built()
        if args.check:     # default for --check: guests that have references
            names = [n for n in names if os.path.exists(expected_paths(n)[0])]
            if os.path.exists(OS_ELF) and os.path.isdir(OS_EXPECTED):
                names.append("os")
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
