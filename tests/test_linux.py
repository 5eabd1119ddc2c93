"""Static i386 Linux programs under the guest kernel (runtime/linux), against the host CPU.

The reference is always the host CPU's own run of the same binary with the same argv,
environment, current directory, stdin and kinds of stdout/stderr
(runtime/linux/compare.py): stdout, stderr and exit status must be equal, under the
monitor and on the bare machine. The programs: freestanding ones written here
(tests/linux, int 0x80), a C program linked statically against glibc (where
``gcc -m32 -static`` links), Debian's i386 busybox-static and bash-static
(``make busybox bash-static``; skipped with a message where apt cannot fetch them).
"""

from __future__ import annotations

import os
import select
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.linux.compare import ProgramRun, guest_run, host_run

ROOT = Path(__file__).resolve().parent.parent
PROGS = ROOT / "tests" / "linux" / "build"
BB_DIR = ROOT / ".cache" / "busybox" / "bin"
BUSYBOX = BB_DIR / "busybox"
BASH = ROOT / ".cache" / "bash-static" / "bin" / "bash-static"
BT = [sys.executable, "-m", "runtime.cli"]
#: the applets find each other through PATH (Debian's busybox sh runs external commands)
ENV = {"PATH": str(BB_DIR), "LC_ALL": "C", "HOME": "/"}


def _prog(name: str) -> Path:
    path = PROGS / name
    if not path.exists():
        pytest.fail(f"{path} is not built: run 'make linux'")
    return path


needs_busybox = pytest.mark.skipif(
    not BUSYBOX.exists(), reason="Debian's i386 busybox-static is not in .cache/busybox: "
                                 "'make busybox' fetches it (needs root and apt)")
needs_bash = pytest.mark.skipif(
    not BASH.exists(), reason="Debian's i386 bash-static is not in .cache/bash-static: "
                              "'make bash-static' fetches it (needs root and apt)")
needs_glibc = pytest.mark.skipif(
    not (PROGS / "libc.glibc").exists(),
    reason="tests/linux/build/libc.glibc is not built: gcc -m32 -static cannot link here "
           "(apt-get install gcc-multilib)")


def _host_can_run_i386() -> bool:
    try:
        return subprocess.run([str(_prog("hello_int80"))], capture_output=True).returncode == 7
    except OSError:
        return False


@pytest.fixture(scope="module", autouse=True)
def _host_reference() -> None:
    if not _host_can_run_i386():
        pytest.skip("the host CPU does not run i386 Linux programs (no IA-32 emulation in "
                    "its kernel): the reference is absent")


def assert_same(ref: ProgramRun, got: ProgramRun, where: str) -> None:
    assert (got.status, got.stdout, got.stderr) == (ref.status, ref.stdout, ref.stderr), \
        f"{where} differs from the host CPU: {got.message}"


def check_both(path: Path | str, args: list[str], stdin: bytes | None = None,
               env: dict[str, str] | None = None, native: bool = True) -> ProgramRun:
    """The host CPU's run, then the monitor's (and the bare machine's) equal to it."""
    ref = host_run(str(path), args, stdin, env)
    assert ref.message == "", ref.message
    assert_same(ref, guest_run(str(path), args, False, stdin, env), "the monitor")
    if native:
        assert_same(ref, guest_run(str(path), args, True, stdin, env), "the bare machine")
    return ref


# --- programs written here -------------------------------------------------------------------
def test_hello_int80_status_and_streams() -> None:
    ref = check_both(_prog("hello_int80"), [])
    assert (ref.status, ref.stdout, ref.stderr) == (7, b"hello from int 0x80\n", b"to stderr\n")


def test_freestanding_system_calls() -> None:
    ref = check_both(_prog("syscalls"), [])
    assert b"child status: 5" in ref.stdout and b"unknown syscall 500: -38" in ref.stdout


def test_sigsegv_kills_with_the_shell_status() -> None:
    ref = host_run(str(_prog("segv")), [])
    got = guest_run(str(_prog("segv")), [], False)
    assert ref.status == 128 + 11
    assert_same(ref, got, "the monitor")


def test_syscall_benchmark_program_small() -> None:
    ref = check_both(_prog("bench_syscalls"), ["2000"])
    assert ref.stdout == b"getppid calls: 2000\n"


@needs_glibc
def test_glibc_static_program() -> None:
    args = ["arg1", str(ROOT / "tests")]
    if BASH.exists():
        args.append(str(BASH))
    ref = check_both(_prog("libc.glibc"), args, env={**ENV, "BT_TEST": "yes"})
    assert b"segv caught 11" in ref.stdout and b"signal 10" in ref.stdout


# --- Debian's busybox-static: the applets of issue 15 -------------------------------------------
@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("linux-data")
    words = ["pear", "apple", "fig", "apple", "kiwi", "fig", "fig", "banana"]
    (d / "words.txt").write_text("".join(f"{w}\n" for w in words))
    (d / "table.txt").write_text("".join(f"{i}:{w}:{i * i}\n" for i, w in enumerate(words)))
    blob = bytes((i * 7919 + (i >> 5)) & 0xFF for i in range(200_000))
    (d / "blob.bin").write_bytes(blob)
    sub = d / "dir"
    sub.mkdir()
    for name in ("b", "a", "c.txt", ".hidden"):
        (sub / name).write_text(name)
    return d


#: (id, argv after busybox, stdin); "{d}" is the data directory
APPLETS: list[tuple[str, list[str], bytes | None]] = [
    ("echo", ["echo", "hello", "world"], None),
    ("true", ["true"], None),
    ("false", ["false"], None),
    ("printf", ["printf", "%s=%05d %x\\n", "n", "42", "255"], None),
    ("printf-binary", ["printf", "\\000\\377\\n\\001"], None),
    ("sh-arith", ["sh", "-c", "echo $((6*7))"], None),
    ("sh-for", ["sh", "-c", "for i in 1 2 3; do echo $i; done"], None),
    ("sh-pipeline", ["sh", "-c", "seq 1 20 | grep 1 | sort -r | head -3; echo ${PIPESTATUS:-ok}"],
     None),
    ("sh-status", ["sh", "-c", "false || exit 3"], None),
    ("sh-kill-self", ["sh", "-c", "echo before; kill -9 $$; echo after"], None),
    ("sh-subshell", ["sh", "-c", "x=$(echo sub | tr a-z A-Z); echo $x >&2; (exit 5); echo $?"],
     None),
    ("seq", ["seq", "1", "1000"], None),
    ("expr", ["expr", "7", "*", "6"], None),
    ("basename", ["basename", "/usr/lib/file.tar.gz", ".gz"], None),
    ("wc", ["wc", "{d}/words.txt"], None),
    ("sort", ["sort", "{d}/words.txt"], None),
    ("uniq", ["sh", "-c", "sort {d}/words.txt | uniq -c"], None),
    ("head", ["head", "-n", "3", "{d}/words.txt"], None),
    ("tr", ["tr", "a-z", "A-Z"], b"stdin to upper case\n"),
    ("cut", ["cut", "-d:", "-f2,3", "{d}/table.txt"], None),
    ("sha256sum", ["sha256sum", "{d}/blob.bin"], None),
    ("md5sum", ["md5sum", "{d}/blob.bin", "{d}/words.txt"], None),
    ("ls", ["ls", "-a", "{d}/dir"], None),
    ("ls-l", ["ls", "-ln", "--full-time", "{d}/dir"], None),
    ("cat", ["cat", "{d}/words.txt", "-", "{d}/dir/a"], b"from stdin\n"),
    ("grep", ["grep", "-n", "fig", "{d}/words.txt"], None),
    ("grep-none", ["grep", "mango", "{d}/words.txt"], None),
    ("sed", ["sed", "-e", "s/fig/FIG/g", "-e", "3d", "{d}/words.txt"], None),
    ("awk", ["awk", "-F:", "{s += $3} END {print NR, s}", "{d}/table.txt"], None),
    ("od", ["od", "-A", "x", "-t", "x1z", "-N", "64", "{d}/blob.bin"], None),
    ("date", ["date", "-u", "-d", "@0"], None),
    ("env", ["env"], None),
    ("missing-file", ["cat", "{d}/nonexistent"], None),
    ("no-applet", ["nosuchapplet"], None),
]


def _fill(argv: list[str], d: Path) -> list[str]:
    return [a.replace("{d}", str(d)) for a in argv]


@needs_busybox
@pytest.mark.parametrize("native", [False, True], ids=["monitor", "native"])
@pytest.mark.parametrize(("argv", "stdin"), [a[1:] for a in APPLETS], ids=[a[0] for a in APPLETS])
def test_busybox_applet(data: Path, argv: list[str], stdin: bytes | None, native: bool) -> None:
    args = _fill(argv, data)
    ref = host_run(str(BUSYBOX), args, stdin, ENV)
    got = guest_run(str(BUSYBOX), args, native, stdin, ENV)
    assert_same(ref, got, "the bare machine" if native else "the monitor")


@needs_busybox
def test_busybox_applet_by_link_name(data: Path) -> None:
    """argv[0] names the applet through a symbolic link (make busybox makes them)."""
    check_both(BB_DIR / "wc", ["-l", str(data / "words.txt")])


@needs_busybox
@pytest.mark.slow
def test_busybox_sha256_of_a_large_file(tmp_path: Path) -> None:
    big = tmp_path / "4m"
    big.write_bytes(os.urandom(4 << 20))
    check_both(BUSYBOX, ["sha256sum", str(big)], native=False)


# --- a static program of another Debian package -----------------------------------------------
BASH_SCRIPT = r"""
echo "$BASH_VERSION" | cut -d. -f1
for i in {1..5}; do printf '%d ' $((i * i)); done; echo
declare -A m=([one]=1 [two]=2); echo "${#m[@]} ${m[two]}"
x=$(echo sub | tr a-z A-Z); echo "$x"
f() { local v=$1; echo "f:$v"; return 7; }; f arg; echo "status $?"
while read -r a b; do echo "$b-$a"; done <<< "left right"
ls "$1" | wc -l
case "$2" in t*) echo matched;; esac
echo err >&2
exit 4
"""


@needs_bash
def test_bash_static(data: Path) -> None:
    ref = check_both(BASH, ["-c", BASH_SCRIPT, "bash", str(data / "dir"), "text"], env=ENV)
    assert ref.status == 4 and b"matched" in ref.stdout


# --- the command line ---------------------------------------------------------------------------
def _bt(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None,
        cwd: Path | str = ROOT) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*BT, *args], input=stdin, capture_output=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_cli_run_passes_status_and_separate_streams() -> None:
    r = _bt("run", str(_prog("hello_int80")), "a", "b")
    assert (r.returncode, r.stdout, r.stderr) == (7, b"hello from int 0x80\n", b"to stderr\n")


@needs_busybox
def test_cli_run_arguments_after_prog_are_the_programs() -> None:
    r = _bt("run", str(BUSYBOX), "echo", "--stats", "-n")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"--stats -n\n", b"")
    r = _bt("run", "--native", str(BUSYBOX), "--", "echo", "-n", "x")
    assert (r.returncode, r.stdout) == (0, b"x")


@needs_busybox
def test_cli_run_stdin_passes_through() -> None:
    r = _bt("run", str(BUSYBOX), "wc", "-c", stdin=b"12345\n")
    assert r.stdout.split() == [b"6"]


@needs_busybox
def test_cli_output_is_live() -> None:
    """The first line arrives while the program still waits for its stdin."""
    p = subprocess.Popen([*BT, "run", str(BUSYBOX), "sh", "-c", "echo first; read x; echo $x"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
    assert p.stdout is not None and p.stdin is not None
    try:
        ready, _, _ = select.select([p.stdout], [], [], 120)
        assert ready, "no output while the program waits for input"
        assert p.stdout.readline() == b"first\n"
        p.stdin.write(b"second\n")
        p.stdin.close()
        assert p.stdout.read() == b"second\n"
        assert p.wait(120) == 0
    finally:
        p.kill()
        p.wait()


def test_cli_stats_show_rings_and_system_calls() -> None:
    r = _bt("run", "--stats", str(_prog("syscalls")))
    err = r.stderr.decode()
    assert r.returncode == 0
    assert "translated, ran at ring 1" in err
    assert "direct at ring 3" in err and ", 0 blocks translated" in err
    assert "500 syscall_500" in err  # an unknown call, by number and name
    assert "fork " in err and "wait4 " in err
    r = _bt("run", "--native", "--stats", str(_prog("syscalls")))
    assert "real ring 0" in r.stderr.decode()


def test_cli_diff_linux_program() -> None:
    r = _bt("diff", str(_prog("syscalls")))
    assert r.returncode == 0 and b"verdict: EQUIVALENT" in r.stdout


def test_cli_refuses_dynamic_program(tmp_path: Path) -> None:
    """A PT_INTERP program header: one line, bad-input status."""
    image = bytearray(_prog("hello_int80").read_bytes())
    phoff, = struct.unpack_from("<I", image, 28)
    struct.pack_into("<I", image, phoff, 3)  # the first program header becomes PT_INTERP
    dyn = tmp_path / "dynamic"
    dyn.write_bytes(bytes(image))
    r = _bt("run", str(dyn))
    assert r.returncode == 2
    assert r.stderr.count(b"\n") == 1 and b"dynamically linked" in r.stderr


def test_cli_kernel_options_after_guest_still_work() -> None:
    r = _bt("run", str(ROOT / "corpus" / "build" / "hello.elf"), "--native", "--quiet")
    assert r.returncode == 1 and r.stdout == b""
    r = _bt("run", str(ROOT / "corpus" / "build" / "hello.elf"), "stray")
    assert r.returncode == 2 and b"unrecognized arguments" in r.stderr


# --- files: read only, --fs ------------------------------------------------------------------------
@needs_busybox
def test_writes_never_reach_the_host(tmp_path: Path) -> None:
    (tmp_path / "keep").write_text("kept")
    script = ("echo x > new; echo $?; mkdir d; rm keep; touch keep; mv keep k2; "
              "ln -s keep l; cat keep")
    r = guest_run(str(BUSYBOX), ["sh", "-c", f"cd {tmp_path} && {script}"], False, env=ENV)
    assert sorted(os.listdir(tmp_path)) == ["keep"]
    assert (tmp_path / "keep").read_text() == "kept"
    assert r.stdout == b"1\nkept"
    assert b"Read-only file system" in r.stderr


@needs_busybox
def test_proc_self_exe_and_cwd(tmp_path: Path) -> None:
    args = ["sh", "-c", "readlink /proc/self/exe; md5sum /proc/self/exe; test -x /proc/self/exe"
            " && echo exe; pwd; cd /; pwd; cd /nonexistent"]
    r = check_both(BUSYBOX, args, env=ENV)
    assert r.stdout.splitlines()[0] == str(BUSYBOX.resolve()).encode()


@needs_busybox
def test_bt_own_process_is_not_visible() -> None:
    """The host's /proc/self (and bt's /proc/PID, /dev/fd) would be the monitor's process:
    its memory map, command line and files. The program cannot open them."""
    script = (f"cat /proc/self/cmdline; cat /proc/{os.getpid()}/maps; ls /dev/fd; "
              "cat /proc/self/maps; echo end")
    r = guest_run(str(BUSYBOX), ["sh", "-c", script], False, env=ENV)
    assert r.stdout == b"end\n"
    assert r.stderr.count(b"No such file or directory") == 4


@needs_busybox
def test_fs_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    for applet in ("sh", "ls", "cat", "readlink"):
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc").mkdir()
    (root / "etc" / "motd").write_text("inside\n")
    (root / "up").symlink_to("/../../etc")  # absolute links stay inside the root
    script = "pwd; ls /; cat /etc/motd; cat /up/motd; cd ../..; pwd; readlink /proc/self/exe"
    r = _bt("run", "--fs", str(root), "/bin/busybox", "sh", "-c", script, env={"PATH": "/bin"})
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"/\nbin\netc\nup\ninside\ninside\n/\n/bin/busybox\n"
    if os.geteuid() == 0:  # the host CPU's run under chroot (which has no /proc/self/exe)
        script = script.rsplit(";", 1)[0]
        ref = host_run("/bin/busybox", ["sh", "-c", script], env={"PATH": "/bin"},
                       fs_root=str(root))
        got = guest_run("/bin/busybox", ["sh", "-c", script], False, env={"PATH": "/bin"},
                        fs_root=str(root))
        assert_same(ref, got, "the monitor under --fs")
