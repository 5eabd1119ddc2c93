"""Where a run's wall time goes: inside unicorn or in Python, by sampling.

A thread looks at the main thread's innermost Python frame every millisecond. The
binding's ``Uc.emu_start`` calls into libunicorn through ctypes, which releases the
GIL: while the guest runs in unicorn the innermost frame is ``emu_start`` itself, and
while a Python hook, callout or the run loop works it is some other frame. Samples are
weighted by the time since the previous one (a thread holding the GIL delays the
sampler up to the switch interval), so the shares are of wall time, not of samples.
"""

from __future__ import annotations

import sys
import threading
import time


class TimeSplit:
    """Sample the calling thread until :meth:`stop`; ``unicorn_s`` and ``python_s``."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.unicorn_s = 0.0
        self.python_s = 0.0
        self.samples = 0
        self._target = threading.get_ident()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bt-bench-sampler", daemon=True)

    def start(self) -> TimeSplit:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        last = time.perf_counter()
        while not self._done.wait(self.interval):
            frame = sys._current_frames().get(self._target)
            now = time.perf_counter()
            dt, last = now - last, now
            if frame is None:
                continue
            self.samples += 1
            code = frame.f_code
            if code.co_name == "emu_start" and "unicorn" in code.co_filename:
                self.unicorn_s += dt
            else:
                self.python_s += dt

    @property
    def unicorn_share(self) -> float:
        total = self.unicorn_s + self.python_s
        return self.unicorn_s / total if total else 0.0
