"""``bt diff PROG -- ARGS``: a Linux program on the host CPU, on the bare machine and under
the monitor, compared on what its user sees: stdout, stderr and exit status.

The host CPU's run is the independent reference (an x86-64 Linux host runs i386 static
programs itself). All three runs get the same argv, environment, current directory and
stdin (a file, or /dev/null), and write stdout and stderr to temporary files, so that a
program that asks what its streams are (``fstat``, ``isatty``) is told the same thing by
every run. ``--fs DIR`` runs the host's copy under ``chroot DIR`` (root only).

Not compared: time and randomness (the runs read them at different moments), and the
guest kernel's own messages (written to bt's stderr, apart from the program's).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from runtime.errors import GuestLoadError
from runtime.linux.boot import LinuxOptions
from runtime.linux.boot import run as linux_run
from runtime.pc.machine import MachineConfig
from runtime.report import OUTCOMES, Outcome

#: the host's status for a program killed by signal n, as a shell reports it
SIGNAL_BASE = 128


@dataclass
class ProgramRun:
    """What one run of a program showed its user."""

    stdout: bytes
    stderr: bytes
    status: int
    seconds: float
    message: str = ""
    stats: dict[str, object] = field(default_factory=dict)
    #: processor time (user + system) the run took: a fairer time than ``seconds`` on a
    #: shared machine (the host CPU's from its rusage, a guest run's from bt's process)
    cpu_seconds: float = 0.0

    def key(self) -> tuple[bytes, bytes, int]:
        return self.stdout, self.stderr, self.status


def _stdin_file(data: bytes | None) -> BinaryIO:
    if data is None:
        return open(os.devnull, "rb")  # noqa: SIM115 - closed by the caller
    f = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the caller
    f.write(data)
    f.seek(0)
    return f


def _read_back(f: BinaryIO) -> bytes:
    f.flush()
    f.seek(0)
    return f.read()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def host_run(path: str, args: Sequence[str], stdin: bytes | None = None,
             env: dict[str, str] | None = None, fs_root: str | None = None,
             timeout: float = 120.0) -> ProgramRun:
    """The program on the host CPU (``argv[0]`` is ``path``, as ``bt run`` gives it)."""
    def enter_root() -> None:
        assert fs_root is not None
        os.chroot(fs_root)
        os.chdir("/")

    if fs_root is not None and os.geteuid() != 0:
        raise GuestLoadError(path, "--fs: the host CPU's run needs chroot (root only)")
    executable = path if fs_root is None else path if path.startswith("/") else "/" + path
    with _stdin_file(stdin) as fin, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as err:
        start, cpu = time.perf_counter(), _children_cpu()
        try:
            proc = subprocess.run([path, *args], executable=executable, stdin=fin, stdout=out,
                                  stderr=err, env=os.environ if env is None else env,
                                  timeout=timeout,
                                  preexec_fn=enter_root if fs_root is not None else None)
            status = proc.returncode if proc.returncode >= 0 else SIGNAL_BASE - proc.returncode
            message = ""
        except subprocess.TimeoutExpired:
            status, message = -1, f"timed out after {timeout:g} s"
        except OSError as e:
            raise GuestLoadError(path, f"the host CPU cannot run it: {e.strerror}") from None
        seconds = time.perf_counter() - start
        return ProgramRun(_read_back(out), _read_back(err), status, seconds, message,
                          cpu_seconds=_children_cpu() - cpu)


def guest_run(path: str, args: Sequence[str], native: bool, stdin: bytes | None = None,
              env: dict[str, str] | None = None, fs_root: str | None = None,
              mem_mib: int = 128, timeout: float | None = None) -> ProgramRun:
    """The program under the guest kernel, on the bare machine or under the monitor."""
    config = MachineConfig(mem_mib=mem_mib, timeout_s=timeout)
    with _stdin_file(stdin) as fin, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as err:
        opts = LinuxOptions(argv=[path, *args], fs_root=fs_root, stdout=out,  # type: ignore[arg-type]
                            stderr=err, stdin=fin, env=env)  # type: ignore[arg-type]
        start, cpu = time.perf_counter(), time.process_time()
        result = linux_run(path, config, native, opts)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        message = "" if result.outcome is Outcome.GUEST_EXIT else result.report()
        return ProgramRun(_read_back(out), _read_back(err), result.status, seconds, message,
                          result.stats, cpu)


@dataclass
class LinuxDiff:
    host: ProgramRun
    native: ProgramRun
    monitor: ProgramRun

    def problems(self) -> list[str]:
        out = []
        for name, run in (("native", self.native), ("monitor", self.monitor)):
            for what, a, b in (("stdout", self.host.stdout, run.stdout),
                               ("stderr", self.host.stderr, run.stderr),
                               ("exit status", self.host.status, run.status)):
                if a != b:
                    out.append(f"host CPU vs {name}: {what}" + (
                        f" {a} vs {b}" if isinstance(a, int) else f" ({_first_difference(a, b)})"))  # type: ignore[arg-type]
        return out

    @property
    def equivalent(self) -> bool:
        return self.host.key() == self.native.key() == self.monitor.key()

    def table(self) -> str:
        runs = (self.host, self.native, self.monitor)
        rows = [("", "host CPU", "native", "monitor"),
                ("exit status", *(str(r.status) for r in runs)),
                ("stdout", f"{len(self.host.stdout)} bytes",
                 *(_same(r.stdout, self.host.stdout) for r in runs[1:])),
                ("stderr", f"{len(self.host.stderr)} bytes",
                 *(_same(r.stderr, self.host.stderr) for r in runs[1:])),
                ("seconds", *(f"{r.seconds:.3f}" for r in runs)),
                ("cpu seconds", *(f"{r.cpu_seconds:.3f}" for r in runs))]
        lines = [f"{a:<12} {b:<16} {c:<16} {d}" for a, b, c, d in rows]
        lines.append(f"verdict: {'EQUIVALENT' if self.equivalent else 'DIFFERENT'}")
        lines += [f"  {p}" for p in self.problems()]
        for name, run in (("host CPU", self.host), ("native", self.native),
                          ("monitor", self.monitor)):
            if run.message:
                lines.append(f"  {name}: {run.message}")
        return "\n".join(lines)


def _same(x: bytes, y: bytes) -> str:
    return "same" if x == y else "DIFFERS"


def _first_difference(a: bytes, b: bytes) -> str:
    i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return (f"first difference at byte {i}: {a[max(0, i - 20):i + 20]!r} vs "
            f"{b[max(0, i - 20):i + 20]!r}")


def diff_program(path: str, args: Sequence[str], stdin: bytes | None = None,
                 fs_root: str | None = None, mem_mib: int = 128,
                 timeout: float | None = None) -> LinuxDiff:
    host = host_run(path, args, stdin, fs_root=fs_root, timeout=timeout or 120.0)
    native = guest_run(path, args, True, stdin, fs_root=fs_root, mem_mib=mem_mib,
                       timeout=timeout)
    monitor = guest_run(path, args, False, stdin, fs_root=fs_root, mem_mib=mem_mib,
                        timeout=timeout)
    return LinuxDiff(host, native, monitor)


def cmd_diff(args: object) -> int:
    """``bt diff PROG [--] ARGS`` for a Linux program; 0 only if all three runs agree."""
    a = args
    rest = list(a.args)  # type: ignore[attr-defined]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    try:
        stdin = None
        if a.stdin is not None:  # type: ignore[attr-defined]
            try:
                with open(a.stdin, "rb") as f:  # type: ignore[attr-defined]
                    stdin = f.read()
            except OSError as e:
                raise GuestLoadError(a.stdin, f"cannot read: {e.strerror}") from None  # type: ignore[attr-defined]
        report = diff_program(a.guest, rest, stdin, a.fs, a.mem,  # type: ignore[attr-defined]
                              a.timeout)  # type: ignore[attr-defined]
    except GuestLoadError as err:
        sys.stderr.write(f"bt: {err}\n")
        return OUTCOMES[Outcome.BAD_INPUT][0]
    sys.stdout.write(report.table() + "\n")
    return 0 if report.equivalent else 1
