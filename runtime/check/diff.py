"""``bt diff``: one guest run natively, under the monitor and under qemu, compared.

Equivalence (Popek & Goldberg): the monitored run must equal the native run
in everything the guest can see. Native and monitored runs use the
deterministic clock, so they are compared on console output, exit status,
the final guest-visible registers and a digest of guest RAM; qemu-system-i386
(when installed) is the independent oracle for output and status.

When native and monitor differ, :func:`first_divergence` finds the first
guest instruction after which they differ, by bisection over the
instruction limit (a deterministic run with ``max_insns=N`` stops after
exactly N guest instructions, so the state "after N" is a function of N):
the report names that instruction, both states side by side and the
translated block that ran it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field, replace

from capstone import CS_ARCH_X86, CS_MODE_32, Cs

from runtime import sigint, validate
from runtime.check.defects import Defect, triage
from runtime.endings import (
    DIFF_COULD_NOT_RUN,
    DIFF_DIFFERENT,
    DIFF_EQUIVALENT,
    INTERRUPTED_STATUS,
)
from runtime.pc.machine import Machine
from runtime.pc.paging import PageFault, PhysicalAccessError
from runtime.report import Outcome
from runtime.session import RunOptions, prepare

QEMU = "qemu-system-i386"
_CS = Cs(CS_ARCH_X86, CS_MODE_32)


@dataclass
class State:
    """What the guest can see after a run (or after its first N instructions)."""

    outcome: str
    status: int
    output: bytes
    regs: dict[str, int]
    ram: str
    insns: int
    message: str = ""

    def key(self) -> tuple[object, ...]:
        """The parts that must be equal (the instruction count is information only).

        When a run ends because the guest touched memory outside its RAM, the bare
        machine's EIP is unicorn's last synced one, not the faulting instruction's
        (corpus/regressions/guest_error_eip): the ending is compared without it.
        """
        regs = {k: v for k, v in self.regs.items() if k not in _UNRELIABLE_NATIVE}
        if self.outcome == "guest-error":
            regs = {k: v for k, v in regs.items() if k != "eip"}
        return (self.outcome, self.status, self.output, regs, self.ram)


#: registers the bare machine cannot report faithfully: unicorn also writes CR2 for page
#: faults no guest sees (probing the next page while it translates ring-3 code); the
#: monitor's CR2 is the last #PF the guest took
_UNRELIABLE_NATIVE = frozenset({"cr2"})


def run_state(path: str, options: RunOptions, native: bool,
              max_insns: int | None = None, annotate: bool = False) -> tuple[State, Machine]:
    """Run ``path`` deterministically (natively or monitored) and take its state.
    ``annotate``: the monitor's translations keep each instruction's rule, for the
    divergence report's rendering of the block (as ``bt explain`` does)."""
    opts = replace(options, native=native, deterministic=True, console=None, stdin=None,
                   max_insns=max_insns if max_insns is not None else options.max_insns)
    machine, boot = prepare(path, opts)
    if annotate and not native:
        machine.tc.keep_annotations = True  # type: ignore[attr-defined]
    if opts.replay is not None:  # both runs take the recording's inputs (bt diff --replay)
        from runtime.debug.replay import Replayer

        Replayer(machine, opts.replay, by_insns=True)
    result = machine.run(boot)
    state = State(result.outcome.value, result.status, result.output, dict(result.regs),
                  machine.ram_digest(), int(result.stats.get("instructions", 0)), result.message)
    return state, machine


def differences(a: State, b: State) -> list[str]:
    """Human-readable list of what differs between two states (empty: equivalent)."""
    out = []
    if a.outcome != b.outcome or a.status != b.status:
        out.append(f"ending: {a.outcome}/{a.status} vs {b.outcome}/{b.status}")
    if a.output != b.output:
        out.append("console output")
    for name in sorted(set(a.regs) | set(b.regs)):
        if name in _UNRELIABLE_NATIVE or (name == "eip" and a.outcome == b.outcome == "guest-error"):
            continue  # see State.key
        x, y = a.regs.get(name), b.regs.get(name)
        if x != y:
            out.append(f"{name}: {_hex(x)} vs {_hex(y)}")
    if a.ram != b.ram:
        out.append("guest RAM digest")
    return out


def _hex(v: int | None) -> str:
    return "-" if v is None else f"{v:#010x}"


# --- first divergence --------------------------------------------------------------------------------
@dataclass
class Divergence:
    """The first guest instruction after which native and monitor differ."""

    insns: int  # states equal after insns - 1 instructions, different after insns
    eip: int
    cs: int
    disassembly: str
    native: State
    monitor: State
    ram_diffs: list[tuple[int, int, int]] = field(default_factory=list)  # (addr, native, monitor)
    block_text: str = ""

    def render(self) -> str:
        lines = [f"first divergence: after guest instruction {self.insns} (states equal after "
                 f"{self.insns - 1})",
                 f"  guest EIP {self.cs:#06x}:{self.eip:#010x}  {self.disassembly}", "",
                 f"  {'register':<12} {'native':>12} {'monitor':>12}"]
        for name in sorted(set(self.native.regs) | set(self.monitor.regs)):
            x, y = self.native.regs.get(name), self.monitor.regs.get(name)
            mark = "   <--" if x != y else ""
            lines.append(f"  {name:<12} {_hex(x):>12} {_hex(y):>12}{mark}")
        if self.native.output != self.monitor.output:
            lines.append(f"  output: native {self.native.output[-60:]!r}")
            lines.append(f"          monitor {self.monitor.output[-60:]!r}")
        if self.native.outcome != self.monitor.outcome:
            lines.append(f"  ending: native {self.native.outcome} ({self.native.message}); "
                         f"monitor {self.monitor.outcome} ({self.monitor.message})")
        if self.ram_diffs:
            lines.append("  guest RAM differs at:")
            for addr, x, y in self.ram_diffs[:16]:
                lines.append(f"    {addr:#010x}: native {x:02x}  monitor {y:02x}")
            if len(self.ram_diffs) > 16:
                lines.append(f"    ... {len(self.ram_diffs) - 16} more bytes")
        if self.block_text:
            lines += ["", "the translated block that ran it:", self.block_text]
        return "\n".join(lines)


def _ram_diffs(a: Machine, b: Machine, limit: int = 64) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    chunk = 1 << 20
    for start in range(0, a.ram_size, chunk):
        x = bytes(a.uc.mem_read(start, chunk))
        y = bytes(b.uc.mem_read(start, chunk))
        if x == y:
            continue
        for i in range(chunk):
            if x[i] != y[i]:
                out.append((start + i, x[i], y[i]))
                if len(out) >= limit:
                    return out
    return out


def block_covering(mon: object, eip: int, cs_base: int) -> object | None:
    """The monitor's translated block whose guest range covers ``eip`` (or its last block)."""
    tc = mon.tc  # type: ignore[attr-defined]
    for block in tc._by_start.values():
        if block.cs_base == cs_base and block.guest_eip <= eip < block.guest_end:
            return block
    return getattr(mon, "last_block", None)


def first_divergence(path: str, options: RunOptions, upper: int) -> Divergence | None:
    """Bisect over the instruction limit for the first N whose states differ.

    ``upper`` is an instruction count at which the states are known to differ
    (or the length of the run). Returns None if the states agree at ``upper``.
    Each probe is two deterministic runs of at most N instructions.
    """
    def differ(n: int) -> bool:
        a, _ = run_state(path, options, True, n)
        b, _ = run_state(path, options, False, n)
        return a.key() != b.key()

    if not differ(upper):
        return None
    lo, hi = 0, upper  # equal after lo (boot), different after hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if differ(mid):
            hi = mid
        else:
            lo = mid
    before, native_before = run_state(path, options, True, hi - 1) if hi > 1 else (None, None)
    nat, nat_m = run_state(path, options, True, hi)
    mon, mon_m = run_state(path, options, False, hi, annotate=True)
    ref = before.regs if before is not None else nat.regs
    eip, cs = ref.get("eip", 0), ref.get("cs", 0)
    probe = native_before if native_before is not None else nat_m
    try:
        code = probe._read_code(eip, 16)
        text = next((f"{m} {o}".strip() for _a, _s, m, o in _CS.disasm_lite(code, eip, 1)),
                    f"(undecodable {code[:8].hex(' ')})")
        text = f"{code[:len(code)].hex(' ')[:3 * _length(code, eip) - 1]:<24} {text}"
    except (PageFault, PhysicalAccessError):
        text = "(code not readable)"
    block_text = ""
    from runtime.explain import render

    block = block_covering(mon_m, eip, _cs_base(probe))
    if block is not None:
        try:
            block_text = render(mon_m, block)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - the report must not die on the rendering
            block_text = f"(cannot render the block: {exc})"
    else:
        block_text = "(no translated block covers it: guest user code runs direct)"
    return Divergence(hi, eip, cs, text, nat, mon, _ram_diffs(nat_m, mon_m), block_text)


def _length(code: bytes, eip: int) -> int:
    return next((s for _a, s, _m, _o in _CS.disasm_lite(code, eip, 1)), 1)


def _cs_base(machine: Machine) -> int:
    from runtime.pc.cpustate import SEG_CS

    machine.cpu.load()
    return machine.cpu.seg(SEG_CS).base


# --- qemu --------------------------------------------------------------------------------------------
def qemu_available() -> bool:
    return shutil.which(QEMU) is not None


def run_qemu(path: str, mem_mib: int = 128, timeout: float = 30.0) -> tuple[bytes, int]:
    """Serial output and exit status of ``qemu-system-i386 -kernel path`` (a multiboot ELF or
    a.out-kludge image); status -1 on timeout."""
    cmd = [QEMU, "-display", "none", "-serial", "stdio", "-device",
           "isa-debug-exit,iobase=0xf4,iosize=4", "-no-reboot", "-m", str(mem_mib), "-kernel", path]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return out, proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        return out, -1


# --- the whole comparison -------------------------------------------------------------------------------
@dataclass
class DiffReport:
    native: State
    monitor: State
    qemu: tuple[bytes, int] | None
    problems: list[str]
    qemu_problems: list[str]
    divergence: Divergence | None = None
    #: a known defect of unicorn, or deviation of qemu, that explains exactly how native
    #: differs from qemu (runtime/check/defects.py, runtime/check/deviations.py)
    defect: Defect | None = None

    @property
    def equivalent(self) -> bool:
        """Native equals monitor, and qemu equals native unless a triaged defect of the
        hardware or deviation of qemu explains the whole difference."""
        return not self.problems and (not self.qemu_problems or self.defect is not None)

    def table(self) -> str:
        rows = [("", "native", "monitor", "qemu")]
        q = self.qemu
        rows.append(("ending", f"{self.native.outcome}/{self.native.status}",
                     f"{self.monitor.outcome}/{self.monitor.status}",
                     "absent" if q is None else f"status {q[1]}"))
        rows.append(("output", f"{len(self.native.output)} bytes", _same(self.monitor.output,
                     self.native.output), "-" if q is None else _same(q[0], self.native.output)))
        rows.append(("registers", f"{len(self.native.regs)}", _same(self.monitor.regs,
                     self.native.regs), "-"))
        rows.append(("RAM digest", self.native.ram[:12], _same(self.monitor.ram, self.native.ram), "-"))
        rows.append(("instructions", str(self.native.insns), str(self.monitor.insns), "-"))
        lines = [f"{a:<14} {b:<22} {c:<22} {d}" for a, b, c, d in rows]
        verdict = "EQUIVALENT" if self.equivalent else "DIFFERENT"
        lines.append(f"verdict: {verdict}")
        for p in self.problems:
            lines.append(f"  native vs monitor: {p}")
        for p in self.qemu_problems:
            lines.append(f"  native vs qemu: {p}")
        if self.defect is not None:
            lines.append(f"  native vs qemu: {self.defect.explanation()}")
        return "\n".join(lines)


def _same(x: object, y: object) -> str:
    return "same" if x == y else "DIFFERS"


def diff_guest(path: str, options: RunOptions, use_qemu: bool = True,
               search: bool = True) -> DiffReport:
    """Run ``path`` three ways and compare; ``search`` bisects to the first divergence."""
    nat, nat_m = run_state(path, options, True)
    mon, mon_m = run_state(path, options, False)
    problems = differences(nat, mon)
    qemu = None
    qemu_problems: list[str] = []
    if use_qemu and options.replay is None and qemu_available():  # qemu cannot replay
        qemu = run_qemu(path, options.mem_mib)
        if qemu[0] != nat.output:
            qemu_problems.append("console output")
        if qemu[1] != nat.status:
            qemu_problems.append(f"exit status: native {nat.status}, qemu {qemu[1]}")
    report = DiffReport(nat, mon, qemu, problems, qemu_problems)
    if qemu_problems and qemu is not None:
        report.defect = triage(qemu, (nat.output, nat.status))
    internal = Outcome.INTERNAL.value in (nat.outcome, mon.outcome)
    if problems and search and not internal and not sigint.requested():
        upper = max(1, min(nat.insns, mon.insns) if nat.outcome == mon.outcome else nat.insns)
        report.divergence = first_divergence(path, options, upper)
        if report.divergence is None:  # equal after both ran that far: the end differs
            report.divergence = first_divergence(path, options, max(nat.insns, mon.insns) + 1)
    del nat_m, mon_m
    return report


# --- the command (its arguments: runtime/check/commands.py) ----------------------------------------
def _recording_note(recording: str, report: DiffReport) -> str:
    """Whether the run of the recorded kind (native or monitor) ended as the recording did
    (information: the verdict compares the two replays with each other)."""
    from runtime.debug.replay import read_recording

    header, _batches, end = read_recording(recording)
    kind = "native" if header.get("native") else "monitor"
    if not end:
        return f"recording: a {kind} session with no final state (cut short)"
    st = report.native if kind == "native" else report.monitor
    same = (st.ram, st.outcome, st.insns) == (end.get("digest"), end.get("end"), end.get("insns"))
    return (f"recording: a {kind} session; the {kind} replay "
            f"{'matches' if same else 'DIFFERS FROM'} its final state")


def _recording_problem(recording: str, guest: str) -> str | None:
    """Why ``recording`` cannot be replayed into ``guest`` (None: it can)."""
    import os

    from runtime.debug.replay import RecordingError, read_recording

    try:
        header, _batches, _end = read_recording(recording)
    except RecordingError as err:
        return str(err)
    recorded = header.get("guest")
    if isinstance(recorded, str) and os.path.basename(recorded) != os.path.basename(guest):
        return f"{recording}: recorded for guest {recorded}, not {guest}"
    return None


def cmd_diff(args: object) -> int:
    from runtime.errors import GuestLoadError
    from runtime.report import OUTCOMES

    a = args
    from runtime.linux.boot import is_linux_program

    try:
        validate.input_file(a.guest)  # type: ignore[attr-defined]
        if a.stdin is not None:  # type: ignore[attr-defined]
            validate.input_file(a.stdin, "--stdin")  # type: ignore[attr-defined]
        problem = validate.mem_limit(a.mem, native=False)  # type: ignore[attr-defined]
        if problem:
            raise GuestLoadError(a.guest, problem)  # type: ignore[attr-defined]
    except GuestLoadError as err:
        sys.stderr.write(f"bt: {err}\n")
        return OUTCOMES[Outcome.BAD_INPUT][0]
    if a.load_addr is None and is_linux_program(a.guest):  # type: ignore[attr-defined]
        if getattr(a, "replay", None) is not None:
            sys.stderr.write(f"bt: {a.guest}: --replay takes a kernel guest, "  # type: ignore[attr-defined]
                             "not a Linux program\n")
            return OUTCOMES[Outcome.BAD_INPUT][0]
        from runtime.linux.compare import cmd_diff as linux_diff

        return linux_diff(a)
    from runtime.cli import reparse_after_guest

    reparse_after_guest(a, "diff")  # type: ignore[arg-type]
    replay = getattr(a, "replay", None)
    if replay is not None:
        problem = _recording_problem(replay, a.guest)  # type: ignore[attr-defined]
        if problem:
            sys.stderr.write(f"bt: {problem}\n")
            return OUTCOMES[Outcome.BAD_INPUT][0]
    options = RunOptions(mem_mib=a.mem, load_addr=a.load_addr, entry=a.entry,  # type: ignore[attr-defined]
                         max_insns=a.max_insns, replay=replay)  # type: ignore[attr-defined]
    try:
        report = diff_guest(a.guest, options, use_qemu=not a.no_qemu,  # type: ignore[attr-defined]
                            search=not a.no_search)  # type: ignore[attr-defined]
    except GuestLoadError as err:
        sys.stderr.write(f"bt: {err}\n")
        return OUTCOMES[Outcome.BAD_INPUT][0]
    if sigint.requested():
        sys.stderr.write("bt: diff interrupted (Ctrl-C)\n")
        return INTERRUPTED_STATUS
    sys.stdout.write(report.table() + "\n")
    broken = [(name, st) for name, st in (("native", report.native), ("monitor", report.monitor))
              if st.outcome == Outcome.INTERNAL.value]
    if broken:
        for name, st in broken:
            sys.stdout.write(f"could not run: the {name} run ended in an internal error: "
                             f"{st.message}\n")
        return DIFF_COULD_NOT_RUN
    if replay is not None:
        sys.stdout.write(_recording_note(replay, report) + "\n")
    if replay is not None and not a.no_qemu:  # type: ignore[attr-defined]
        sys.stdout.write(f"(--replay: {QEMU} cannot replay a recording: no qemu comparison)\n")
    elif report.qemu is None and not a.no_qemu:  # type: ignore[attr-defined]
        sys.stdout.write(f"({QEMU} is not installed: no independent reference)\n")
    if report.divergence is not None:
        sys.stdout.write("\n" + report.divergence.render() + "\n")
    elif report.problems and not a.no_search:  # type: ignore[attr-defined]
        sys.stdout.write("\nno instruction limit separates the runs: they differ only in how "
                         "the run ended (the state reported at the ending)\n")
    return DIFF_EQUIVALENT if report.equivalent else DIFF_DIFFERENT
