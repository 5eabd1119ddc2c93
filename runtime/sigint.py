"""Ctrl-C (SIGINT) while a guest runs: stop it within a block, report, then exit.

Unicorn runs ``emu_start`` in C with the GIL released: a Python signal handler runs
only when the main thread is back in the interpreter, which a guest spinning with
IF=0 (no I/O, no fault, no hook into Python) never does. So the C-level handler's
wakeup fd (:func:`signal.set_wakeup_fd`, written by CPython's own C handler as the
signal arrives) is read by a watcher thread, which asks every registered machine to
stop (:meth:`runtime.pc.machine.Machine.interrupt`: the native block hook honours the
request at the next block start, so the run ends within microseconds and the
machine's report, ``--stats`` and ``--json`` are made as for any other ending). The
Python-level handler does nothing, so no KeyboardInterrupt can land in the middle of
the monitor's own work. A second Ctrl-C restores the terminal and exits at once with
status 130 (:data:`runtime.endings.INTERRUPTED_STATUS`).

Installed by the CLI around a command (:func:`handling`); a library user that does
not install it keeps Python's own KeyboardInterrupt.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

from runtime.endings import INTERRUPTED_STATUS

_lock = threading.Lock()
_targets: list[Callable[[], None]] = []
_state = {"count": 0, "installed": False}
_event = threading.Event()  # set by the first Ctrl-C: wakes the waits below


def sleep(seconds: float) -> None:
    """``time.sleep`` that a Ctrl-C cuts short (the host side of a guest's wait)."""
    _event.wait(max(0.0, seconds))


def readable(fd: int, timeout: float) -> bool:
    """``select`` on ``fd`` for reading that a Ctrl-C cuts short (then False)."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if select.select([fd], [], [], max(0.0, min(left, 0.05)))[0]:
            return True
        if left <= 0 or _event.is_set():
            return False


def requested() -> bool:
    """True once Ctrl-C was pressed while :func:`handling` was active."""
    return _state["count"] > 0


@contextlib.contextmanager
def target(stop: Callable[[], None]) -> Iterator[None]:
    """Within this block, a Ctrl-C calls ``stop`` (from the watcher thread)."""
    with _lock:
        _targets.append(stop)
        already = _state["count"] > 0
    if already:
        stop()
    try:
        yield
    finally:
        with _lock:
            _targets.remove(stop)


def _terminal() -> tuple[int, list[object]] | None:
    try:
        import termios

        fd = sys.stdin.fileno() if sys.stdin is not None else -1
        if fd >= 0 and os.isatty(fd):
            return fd, termios.tcgetattr(fd)
    except (OSError, ValueError, AttributeError, ImportError):
        pass
    return None


def _restore(saved: tuple[int, list[object]] | None) -> None:
    if saved is None:
        return
    try:
        import termios

        termios.tcsetattr(saved[0], termios.TCSADRAIN, saved[1])
    except (OSError, ValueError, ImportError):
        pass


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """Install the SIGINT watcher for the duration of a command (main thread only; a
    SIGINT that the parent process ignores stays ignored)."""
    if (threading.current_thread() is not threading.main_thread() or _state["installed"]
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN):
        yield
        return
    saved_tty = _terminal()
    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)
    old_handler = signal.signal(signal.SIGINT, lambda _sig, _frame: None)
    old_fd = signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    _state.update(count=0, installed=True)
    _event.clear()
    done = threading.Event()

    def watch() -> None:
        while True:
            try:
                data = os.read(rfd, 64)
            except OSError:
                return
            if done.is_set() or not data:
                return
            for byte in data:
                if byte == signal.SIGINT:
                    _on_sigint(saved_tty)

    watcher = threading.Thread(target=watch, name="bt-sigint", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        signal.set_wakeup_fd(old_fd)
        signal.signal(signal.SIGINT, old_handler)
        os.write(wfd, b"\0")
        watcher.join(timeout=1)
        os.close(wfd)
        os.close(rfd)
        _state["installed"] = False
        _restore(saved_tty)


def _on_sigint(saved_tty: tuple[int, list[object]] | None) -> None:
    """The watcher's answer to one SIGINT: stop the guests; the second time, exit."""
    with _lock:
        _state["count"] += 1
        count = _state["count"]
        stops = list(_targets)
    _event.set()
    if count >= 2:
        _restore(saved_tty)
        with contextlib.suppress(OSError):
            os.write(2, b"\nbt: interrupted again: exiting at once\n")
        os._exit(INTERRUPTED_STATUS)
    for stop in stops:
        stop()
