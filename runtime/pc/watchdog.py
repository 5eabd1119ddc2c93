"""Getting control back from unicorn on wall-clock deadlines (real-time mode).

A Python thread sleeps until the next device deadline (or the run's wall
limit) and then asks for a stop. ctypes releases the GIL during
``emu_start``, so the thread runs while the guest does. It does not call
``uc.emu_stop`` itself: a stop requested from another thread can leave the
guest EIP stale, so that instructions run twice (measured with a guest
printing while the PIT runs); instead ``request_stop`` raises a flag the
native block hook honours at the next block start (see ``_hooks.c``). The
thread repeats the request every ``RETRY_S`` until the run loop
acknowledges it with :meth:`Watchdog.arm`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

RETRY_S = 0.0005
MAX_WAIT_S = 60.0


class Watchdog:
    """Calls ``request_stop`` when the wall clock passes the armed deadline."""

    def __init__(self, request_stop: Callable[[], None]) -> None:
        self.request_stop = request_stop
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._generation = 0
        self._fired_generation = -1
        self._closed = False
        self.stops = 0
        self._thread = threading.Thread(target=self._loop, name="bt-watchdog", daemon=True)
        self._thread.start()

    def arm(self, deadline: float | None) -> None:
        """Set the next deadline (``time.monotonic()`` seconds) or None; acknowledges a fired one."""
        with self._cond:
            self._generation += 1
            self._deadline = deadline
            self._cond.notify()

    @property
    def fired(self) -> bool:
        return self._fired_generation == self._generation

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=1)

    def _loop(self) -> None:
        with self._cond:
            while not self._closed:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                delay = self._deadline - time.monotonic()
                if delay > 0:
                    # at most a minute per wait: threading refuses timeouts past its limit
                    # (OverflowError for 1e300 s), and a dead watchdog would cost the guest
                    # its timer interrupts
                    self._cond.wait(min(delay, MAX_WAIT_S))
                    continue
                gen = self._generation
                self._fired_generation = gen
                self.stops += 1
                while gen == self._generation and not self._closed:
                    self.request_stop()
                    self._cond.wait(RETRY_S)
