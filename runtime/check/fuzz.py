"""``bt fuzz``: a differential campaign of random guests: native, the monitor and qemu.

Each program of :mod:`runtime.check.fuzzgen` runs deterministically on the bare
machine and under the monitor, and (unless ``--no-qemu``, or where it is not
installed) under qemu-system-i386, the independent oracle (~0.1-0.3 s a
program). Any difference between native and monitor in output, exit status,
final guest-visible registers or guest RAM is a divergence; so is any
difference between native and qemu in output or status that no triaged row
explains (unicorn's defects, runtime/check/defects.py; qemu's deviations from
the SDM, runtime/check/deviations.py): either the generator emitted something
the SDM leaves undefined (fix the generator), or unicorn or qemu is wrong
(triage it). A diverging program is shrunk (chunks dropped while it still
diverges, then single lines) and saved as ``corpus/regressions/NAME.bin`` with
qemu's output as ``NAME.out`` (the native one where qemu is absent) and its
source as ``NAME.s``; ``tests/test_diff.py`` runs every saved one.

Programs run on a multiprocessing pool, or on a Dask cluster with
``--scheduler`` when dask is installed.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from runtime import sigint
from runtime.check.defects import triage
from runtime.check.diff import differences, qemu_available, run_qemu, run_state
from runtime.check.fuzzgen import BASE, Program, generate
from runtime.endings import INTERRUPTED_STATUS
from runtime.session import RunOptions

REGRESSIONS = Path(__file__).resolve().parent.parent / "corpus" / "regressions"
#: how a program runs: flat at BASE, small RAM, a bound for programs that loop
OPTIONS = RunOptions(mem_mib=4, load_addr=BASE, entry=BASE, max_insns=400_000)


def all_rules() -> frozenset[str]:
    """Every non-ident rule name of bt/classify.py (the coverage denominator)."""
    from bt import classify as C

    names = {r.name for r in C.TABLE.values()}
    names |= {"mov from sreg", "mov to sreg", "mov crN", "mov drN", "push sreg", "pop sreg",
              "jmp", "jmp indirect", "call", "call indirect"}
    return frozenset(names - {"ident"})


@dataclass
class Checked:
    """The verdict on one program (picklable: it crosses process boundaries)."""

    seed: int
    problems: list[str]
    rules: frozenset[str]
    ending: str
    qemu_problems: list[str] | None = None  # None: not run under qemu
    #: the triaged row (unicorn defect or qemu deviation) that explains the qemu difference
    qemu_explained: str | None = None

    @property
    def qemu_diverges(self) -> bool:
        """qemu differs from native and no triaged row explains it."""
        return bool(self.qemu_problems) and self.qemu_explained is None

    @property
    def diverges(self) -> bool:
        return bool(self.problems) or self.qemu_diverges


def run_image(image: bytes, options: RunOptions = OPTIONS) -> tuple[list[str], frozenset[str], str,
                                                                    bytes, str]:
    """Run one flat image both ways: (differences, rules fired, native ending, native output,
    the temporary path's name for messages)."""
    fd, path = tempfile.mkstemp(suffix=".bin", prefix="btfuzz-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(image)
        nat, _ = run_state(path, options, True)
        mon, mon_m = run_state(path, options, False)
        rules = frozenset(mon_m.tc.stats.rules)  # type: ignore[attr-defined]
        return differences(nat, mon), frozenset(r.rsplit(" (", 1)[0] for r in rules), \
            nat.outcome, nat.output, path
    finally:
        os.unlink(path)


def qemu_run(image: bytes) -> tuple[bytes, int]:
    """qemu-system-i386's serial output and status for a program image (multiboot a.out)."""
    with tempfile.NamedTemporaryFile(suffix=".bin", prefix="btfuzz-q-") as f:
        f.write(image)
        f.flush()
        return run_qemu(f.name, 128, timeout=20)


def qemu_verdict(image: bytes, ending: str, output: bytes) -> tuple[list[str], str | None]:
    """(how qemu differs from the native run, the triaged row that explains it or None).
    A native run that did not end by the guest's own exit (instruction bound, memory outside
    RAM) has no status to compare: qemu goes on where the bare machine stops."""
    out, status = qemu_run(image)
    problems = []
    if ending == "exit":
        if out != output:
            problems.append("console output")
        if status != 1:
            problems.append(f"qemu status {status}")
    elif out and not output.startswith(out) and not out.startswith(output):
        problems.append("console output")
    if not problems:
        return problems, None
    row = triage((out, status), (output, 1 if ending == "exit" else status))
    return problems, None if row is None else row.name


def diverges(program: Program, options: RunOptions = OPTIONS, with_qemu: bool = False) -> bool:
    """The program diverges: native vs monitor, or (``with_qemu``) an unexplained qemu
    difference."""
    try:
        image = program.image()
    except Exception:  # noqa: BLE001 - a shrink step that no longer assembles
        return False
    problems, _, ending, output, _ = run_image(image, options)
    if problems:
        return True
    if with_qemu and qemu_available():
        qp, explained = qemu_verdict(image, ending, output)
        return bool(qp) and explained is None
    return False


def check_seed(seed: int, with_qemu: bool = True, avoid_known: bool = False) -> Checked:
    """Generate, run and compare the program of ``seed`` (in a worker process)."""
    program = generate(seed, avoid_known=avoid_known)
    image = program.image()
    problems, rules, ending, output, _ = run_image(image)
    qemu_problems, explained = None, None
    if with_qemu and qemu_available():
        qemu_problems, explained = qemu_verdict(image, ending, output)
    return Checked(seed, problems, rules, ending, qemu_problems, explained)


# --- shrinking -------------------------------------------------------------------------------------
def shrink(program: Program, still_fails: Callable[[Program], bool] | None = None,
           budget_s: float = 60.0) -> Program:
    """Drop chunks (halves, quarters, ... single chunks), then single lines of the chunks
    left, while the program still fails; returns the smallest failing program found."""
    fails = still_fails or diverges
    deadline = time.monotonic() + budget_s
    chunks = list(program.chunks)

    def attempt(candidate: list[str]) -> bool:
        return fails(Program(program.seed, candidate, program.code_accessed))

    size = max(1, len(chunks) // 2)
    while size >= 1 and time.monotonic() < deadline:
        i, removed = 0, False
        while i < len(chunks) and time.monotonic() < deadline:
            candidate = chunks[:i] + chunks[i + size:]
            if attempt(candidate):
                chunks, removed = candidate, True
            else:
                i += size
        if not removed:
            size //= 2
    # then lines inside the remaining chunks (labels kept: a dangling jump no longer assembles)
    for ci in range(len(chunks)):
        lines = chunks[ci].splitlines(keepends=True)
        li = 0
        while li < len(lines) and time.monotonic() < deadline:
            if lines[li].rstrip().endswith(":"):
                li += 1
                continue
            trial = lines[:li] + lines[li + 1:]
            candidate = chunks[:ci] + ["".join(trial)] + chunks[ci + 1:]
            if attempt(candidate):
                lines = trial
                chunks = candidate
            else:
                li += 1
    return Program(program.seed, [c for c in chunks if c], program.code_accessed)


def save_regression(program: Program, name: str, directory: Path = REGRESSIONS,
                    note: str = "", with_qemu: bool = True) -> Path:
    """Write NAME.bin (the image), NAME.out (the expected output: qemu's, or the native run's
    where qemu is absent or ``with_qemu`` is off) and NAME.s."""
    directory.mkdir(parents=True, exist_ok=True)
    image = program.image()
    bin_path = directory / f"{name}.bin"
    bin_path.write_bytes(image)
    fd, path = tempfile.mkstemp(suffix=".bin")
    os.close(fd)
    try:
        Path(path).write_bytes(image)
        nat, _ = run_state(path, OPTIONS, True)
    finally:
        os.unlink(path)
    expected = nat.output
    if with_qemu and qemu_available():
        expected = qemu_run(image)[0]
    (directory / f"{name}.out").write_bytes(expected)
    header = f"# seed {program.seed}; code descriptors pre-accessed: {program.code_accessed}\n"
    if note:
        header += "".join(f"# {line}\n" for line in note.splitlines())
    (directory / f"{name}.s").write_text(header + program.source())
    return bin_path


# --- the campaign ------------------------------------------------------------------------------------
@dataclass
class Summary:
    programs: int = 0
    seconds: float = 0.0
    divergent: list[int] = field(default_factory=list)
    qemu_checked: int = 0
    #: seeds whose qemu difference no triaged row explains (they are in ``divergent`` too)
    qemu_divergent: list[int] = field(default_factory=list)
    #: seeds whose qemu difference a triaged row explains, with the row's name
    qemu_explained: list[tuple[int, str]] = field(default_factory=list)
    hung: int = 0
    rules: set[str] = field(default_factory=set)
    saved: list[Path] = field(default_factory=list)

    def line(self) -> str:
        rate = self.programs / self.seconds if self.seconds else 0.0
        return (f"{self.programs} programs, {rate:.1f}/s, {len(self.divergent)} divergences, "
                f"rules {len(self.rules & all_rules())}/{len(all_rules())}"
                + (f", qemu {self.qemu_checked} run / {len(self.qemu_divergent)} differ"
                   f" / {len(self.qemu_explained)} explained"
                   if self.qemu_checked else ", qemu not run"))

    def add(self, c: Checked) -> None:
        self.programs += 1
        self.rules |= c.rules
        if c.diverges:
            self.divergent.append(c.seed)
        if c.ending != "exit":
            self.hung += 1
        if c.qemu_problems is not None:
            self.qemu_checked += 1
            if c.qemu_diverges:
                self.qemu_divergent.append(c.seed)
            elif c.qemu_problems:
                self.qemu_explained.append((c.seed, c.qemu_explained or ""))


def _seeds(first: int) -> Iterator[int]:
    return itertools.count(first)


def _check_task(args: tuple[int, bool, bool]) -> Checked:
    return check_seed(*args)


def _worker_init() -> None:
    """A pool worker leaves Ctrl-C to the campaign's process, which stops the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)


def campaign(seconds: float | None = 10.0, seed: int = 0, workers: int = 1,
             programs: int | None = None, qemu: bool = True, scheduler: str | None = None,
             progress: Callable[[str], None] | None = None, avoid_known: bool = False) -> Summary:
    """Run programs of seeds ``seed, seed+1, ...`` until ``seconds`` pass or ``programs`` ran.

    ``workers`` > 1 uses a multiprocessing pool (1: in this process, so monkeypatches
    apply); ``scheduler`` a Dask distributed scheduler; ``qemu`` runs every program under
    qemu-system-i386 too, when it is installed.
    """
    summary = Summary()
    t0 = time.monotonic()
    with_qemu = qemu and qemu_available()
    tasks = ((s, with_qemu, avoid_known) for s in _seeds(seed))
    if programs is not None:
        tasks = itertools.islice(tasks, programs)
    last = 0.0

    def done() -> bool:  # the time is up, or Ctrl-C: the summary so far is the result
        return (seconds is not None and time.monotonic() - t0 >= seconds) or sigint.requested()

    def report(c: Checked) -> None:
        nonlocal last
        summary.add(c)
        summary.seconds = time.monotonic() - t0
        if progress and (time.monotonic() - last > 0.5):
            last = time.monotonic()
            progress(summary.line())

    if scheduler is not None:
        _dask_campaign(scheduler, tasks, report, done, max(workers, 1) * 4)
    elif workers <= 1:
        for task in tasks:
            report(_check_task(task))
            if done():
                break
    else:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers, initializer=_worker_init) as pool:
            for c in pool.imap_unordered(_check_task, tasks, chunksize=2):
                report(c)
                if done():
                    pool.terminate()
                    break
    summary.seconds = time.monotonic() - t0
    summary.divergent.sort()
    return summary


class DaskMissing(RuntimeError):
    pass


def _dask_campaign(address: str, tasks: Iterator[tuple[int, bool, bool]],
                   report: Callable[[Checked], None], done: Callable[[], bool], window: int) -> None:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise DaskMissing("--scheduler needs dask.distributed (pip install 'dask[distributed]')") \
            from None
    try:
        client = address if not isinstance(address, str) else Client(address, timeout=10)
    except (OSError, TimeoutError) as err:
        raise DaskMissing(f"cannot reach the Dask scheduler at {address}: {err}") from None
    try:
        pending = as_completed([client.submit(_check_task, t, pure=False)
                                for t in itertools.islice(tasks, window)])
        for fut in pending:
            report(fut.result())
            if done():
                break
            nxt = next(tasks, None)
            if nxt is not None:
                pending.add(client.submit(_check_task, nxt, pure=False))
    finally:
        if isinstance(address, str):
            client.close()


# --- the command (its arguments: runtime/check/commands.py) ----------------------------------------
def cmd_fuzz(args: object) -> int:
    a = args
    tty = sys.stderr.isatty()

    def progress(line: str) -> None:
        sys.stderr.write(("\r" + line + "\x1b[K") if tty else line + "\n")
        sys.stderr.flush()

    try:
        s = campaign(a.seconds, a.seed, a.workers, a.programs,  # type: ignore[attr-defined]
                     not a.no_qemu,  # type: ignore[attr-defined]
                     a.scheduler, progress, a.avoid_known)  # type: ignore[attr-defined]
    except DaskMissing as err:
        sys.stderr.write(f"bt: {err}\n")
        return 2
    if tty:
        sys.stderr.write("\n")
    out = sys.stdout
    out.write(f"fuzz: {s.line()} in {s.seconds:.1f} s\n")
    out.write(f"  programs that did not finish (instruction bound): {s.hung}\n")
    missing = sorted(all_rules() - s.rules)
    out.write(f"  rules never reached: {', '.join(missing) or 'none'}\n")
    if not a.no_qemu and not qemu_available():  # type: ignore[attr-defined]
        out.write("  qemu-system-i386 is not installed: no program was checked against it\n")
    if s.qemu_divergent:
        out.write(f"  differ from qemu, unexplained (seeds): {s.qemu_divergent[:20]}\n")
    for seed, row in s.qemu_explained[:20]:
        out.write(f"  seed {seed}: qemu difference explained by {row}\n")
    with_qemu = not a.no_qemu  # type: ignore[attr-defined]
    for seed in [] if sigint.requested() else s.divergent[:a.shrink]:  # type: ignore[attr-defined]
        program = generate(seed, avoid_known=a.avoid_known)  # type: ignore[attr-defined]
        small = shrink(program, lambda p: diverges(p, with_qemu=with_qemu))
        path = save_regression(small, f"fuzz_{seed}", Path(a.save_dir),  # type: ignore[attr-defined]
                               with_qemu=with_qemu)
        out.write(f"  divergence: seed {seed}, shrunk to {len(small.chunks)} chunks: {path}\n"
                  f"    bt diff --mem 4 --load-addr {BASE:#x} {path}\n")
    if s.divergent:
        out.write(f"  diverging seeds: {s.divergent[:50]}\n")
    if sigint.requested():
        sys.stderr.write("bt: fuzz interrupted (Ctrl-C): the summary above is of the programs "
                         "that ran\n")
        return INTERRUPTED_STATUS
    return 1 if s.divergent else 0
