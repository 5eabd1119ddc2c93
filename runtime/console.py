"""The interactive serial console: the user's terminal wired to the guest's COM1.

``bt run`` on a terminal puts it in raw mode (every key goes to the guest at
once, Ctrl-C included; output processing stays on so that the guest's "\\n"
starts a new line) and forwards keystrokes to the UART's receiver, like QEMU's
``-serial mon:stdio``. Ctrl-A starts an escape:

    Ctrl-A x    quit (the run ends with the outcome "quit")
    Ctrl-A h    show these keys
    Ctrl-A Ctrl-A   send Ctrl-A itself

The terminal's settings are put back whatever ends the run: the guest's exit,
an error, an exception, SIGTERM or SIGHUP (turned into SystemExit so that the
``with`` block unwinds), and, as a last resort, at interpreter exit.

Keystrokes arrive when the user types them: a run with the console is not
reproducible even under ``--deterministic``; ``--serial-in FILE`` is.
"""

from __future__ import annotations

import atexit
import os
import select
import signal
import termios
import threading
import tty
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import BinaryIO

CTRL_A = 0x01
HELP = b"\nC-a h    print this help\nC-a x    exit the emulator\nC-a C-a  sends C-a\n"


class Console:
    """Raw terminal on ``fd`` feeding ``feed`` (the UART's receiver); ``quit`` ends the run."""

    def __init__(self, fd: int, feed: Callable[[bytes], None], quit: Callable[[], None],
                 out: BinaryIO | None = None) -> None:
        self.fd = fd
        self.feed = feed
        self.quit = quit
        self.out = out
        self._saved: list | None = None  # type: ignore[type-arg]
        self._escape = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._old_handlers: dict[int, object] = {}
        self.quit_requested = False

    # -- terminal state ---------------------------------------------------------------
    def __enter__(self) -> Console:
        self._saved = termios.tcgetattr(self.fd)
        atexit.register(self.restore)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        tty.setraw(self.fd, termios.TCSADRAIN)
        attrs = termios.tcgetattr(self.fd)
        attrs[1] |= termios.OPOST | termios.ONLCR  # oflag: "\n" still starts a new line
        termios.tcsetattr(self.fd, termios.TCSADRAIN, attrs)
        self._thread = threading.Thread(target=self._read_loop, name="console", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        self.restore()
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        atexit.unregister(self.restore)

    def restore(self) -> None:
        """Put the terminal back as it was (idempotent)."""
        if self._saved is not None:
            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            except termios.error:
                pass
            self._saved = None

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    # -- keystrokes -----------------------------------------------------------------------
    def _read_loop(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                if not ready:
                    continue
                data = os.read(self.fd, 1024)
            except OSError:
                return
            if not data:
                return
            self.keys(data)

    def keys(self, data: bytes) -> None:
        """Interpret typed bytes: Ctrl-A escapes here, everything else to the guest."""
        out = bytearray()
        for byte in data:
            if self._escape:
                self._escape = False
                if byte == CTRL_A:
                    out.append(CTRL_A)
                elif byte in b"xX":
                    self.quit_requested = True
                    self.quit()
                    break
                elif byte in b"hH?":
                    self._write(HELP)
                continue
            if byte == CTRL_A:
                self._escape = True
                continue
            out.append(byte)
        if out:
            self.feed(bytes(out))

    def _write(self, text: bytes) -> None:
        if self.out is None:
            os.write(self.fd, text)
            return
        self.out.write(text)
        self.out.flush()
