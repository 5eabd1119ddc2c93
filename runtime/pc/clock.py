"""Virtual time for the devices: real (host monotonic) or deterministic.

In deterministic mode time is guest instructions retired times a fixed
period (``NS_PER_INSN``), so two runs of the same guest see every timer
interrupt at the same guest instruction. The machine tells the clock how
many guest instructions have retired with :meth:`Clock.retire`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Deterministic mode: one guest instruction lasts this many virtual ns (a 100 MIPS CPU).
NS_PER_INSN = 10


class Clock:
    """Virtual time in nanoseconds since the machine was powered on."""

    deterministic: bool = False

    def __init__(self) -> None:
        self.insns = 0

    def now_ns(self) -> int:
        raise NotImplementedError

    def retire(self, n: int) -> None:
        """Account ``n`` guest instructions retired."""
        self.insns += n


class RealClock(Clock):
    """Host monotonic time; the default."""

    def __init__(self) -> None:
        super().__init__()
        self._t0 = time.monotonic_ns()

    def now_ns(self) -> int:
        return time.monotonic_ns() - self._t0


class InsnClock(Clock):
    """Time is guest instructions retired: ``insns * NS_PER_INSN``, plus idle time.

    ``source``, when given, returns the instructions retired so far (the
    machine's counter), so that devices read mid-run see the current time.
    While the guest idles in ``hlt`` no instruction retires: the machine
    warps the clock to the next device deadline (as QEMU's icount does).
    """

    deterministic = True

    def __init__(self, source: Callable[[], int] | None = None) -> None:
        super().__init__()
        self._source = source
        self.idle_ns = 0

    def now_ns(self) -> int:
        insns = self._source() if self._source is not None else self.insns
        return insns * NS_PER_INSN + self.idle_ns

    def warp_to(self, t_ns: int) -> None:
        """Idle until virtual time ``t_ns`` (never backwards)."""
        self.idle_ns += max(0, t_ns - self.now_ns())

    def insns_until(self, t_ns: int) -> int:
        """Guest instructions still to retire before virtual time ``t_ns``."""
        return max(0, -(-(t_ns - self.now_ns()) // NS_PER_INSN))
