"""Known defects of the hardware (unicorn 2.1.4), triaged: the one table of them.

A guest whose native run differs from qemu-system-i386 is either showing a bug
of ours (the bare machine or the monitor) or a defect of unicorn itself, which
our native run and our monitor share. Each row below is a defect measured,
explained with the Intel SDM, and pinned to its exact *signature*: the lines
of serial output that qemu prints and unicorn's run replaces, and the exit
statuses. ``bt diff`` and ``bt fuzz`` accept a qemu difference only when it is
exactly one signature (any other line, or another status, is still a
difference). The tests compare a guest that shows a defect with qemu line by
line: its difference must be exactly the pinned signature, so a new regression
anywhere else in that guest fails, and so does a unicorn that fixes the defect
(until its row goes).

The reference has defects too: runtime/check/deviations.py is the same kind of
table for qemu-system-i386's own departures from the SDM, where btvmm follows
the SDM; :func:`triage` consults both.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

#: (qemu's lines, unicorn's lines) of one differing hunk of serial output
Hunk = tuple[tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True)
class Defect:
    name: str
    #: what unicorn gets wrong and what the SDM says
    summary: str
    #: the corpus guest that shows it (a self-check of that guest fails)
    guest: str
    hunks: tuple[Hunk, ...]
    #: (qemu's exit status, unicorn's)
    status: tuple[int, int]
    #: whose defect it is: the hardware model ("unicorn") or the reference ("qemu")
    party: str = "unicorn"
    #: for a qemu deviation, the SDM section qemu departs from
    sdm: str = ""

    def explanation(self) -> str:
        """How ``bt diff`` and ``bt fuzz`` name the difference it explains."""
        if self.party == "qemu":
            return (f"qemu deviates (SDM {self.sdm}): {self.name!r} "
                    f"(runtime/check/deviations.py): {self.summary}")
        return (f"explained by unicorn defect {self.name!r} (runtime/check/defects.py): "
                f"{self.summary}")


DEFECTS: tuple[Defect, ...] = (
    Defect(
        name="rf-never-cleared",
        summary="unicorn never clears EFLAGS.RF after the instruction that follows an iret "
                "with RF set, and pushf copies it (SDM vol 2B PUSHF: RF is cleared in the "
                "image; vol 3B 17.3.1.1: RF clears after one instruction)",
        guest="iret",
        hunks=(
            (("iret 0x08 with eflags 0x00252ec3 -> pushf 0x00242ec3, esp +0",
              "ok: iret at CPL 0 loads IOPL IF AC ID DF and arith flags; RF not visible to pushf"),
             ("iret 0x08 with eflags 0x00252ec3 -> pushf 0x00252ec3, esp +0",
              "FAIL: iret at CPL 0 loads IOPL IF AC ID DF and arith flags; RF not visible to pushf")),
            ((), ("1 checks failed",)),
        ),
        status=(1, 3),
    ),
    Defect(
        name="debug-registers",
        summary="debug registers: EFLAGS.RF is never cleared, so a DR0 instruction breakpoint "
                "resumed with RF=1 stays suppressed on later passes (SDM vol 3B 17.3.1.1), and "
                "DR1 data-write breakpoints never fire (vol 3B 17.2.4)",
        guest="exceptions",
        hunks=(
            (("exec breakpoint x3: 3 traps: +0/dr6=1 +0/dr6=1 +0/dr6=1",
              "ok: instruction breakpoint: fault, RF resumes, hit on every pass",
              "data write breakpoint: 3 traps: +10/dr6=2 +24/dr6=2 +41/dr6=2",
              "ok: data breakpoint: traps after the 3 overlapping writes"),
             ("exec breakpoint x3: 1 traps: +0/dr6=1",
              "FAIL: instruction breakpoint: fault, RF resumes, hit on every pass",
              "data write breakpoint: 0 traps:",
              "FAIL: data breakpoint: traps after the 3 overlapping writes")),
            ((), ("2 checks failed",)),
        ),
        status=(1, 3),
    ),
)



def known() -> tuple[Defect, ...]:
    """Every triaged row: unicorn's defects, then qemu's deviations."""
    from runtime.check.deviations import DEVIATIONS  # it imports Defect from here

    return DEFECTS + DEVIATIONS


#: corpus guest -> the defect or deviation it shows
BY_GUEST = {d.guest: d for d in known()}


def hunks(qemu: bytes, unicorn: bytes) -> tuple[Hunk, ...]:
    """The differing hunks of two serial outputs, line by line."""
    a = qemu.decode("latin-1").splitlines()
    b = unicorn.decode("latin-1").splitlines()
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    return tuple((tuple(a[i1:i2]), tuple(b[j1:j2]))
                 for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")


def triage(qemu: tuple[bytes, int], unicorn: tuple[bytes, int]) -> Defect | None:
    """The known defect (of unicorn, or of qemu) that explains exactly how ``unicorn``'s run
    (output, status) differs from ``qemu``'s, or None when nothing (or something else as
    well) does."""
    found = hunks(qemu[0], unicorn[0])
    for defect in known():
        if found == defect.hunks and (qemu[1], unicorn[1]) == defect.status:
            return defect
    return None
