"""Record and replay on the deterministic clock: ``bt run --record F`` / ``--replay F``.

With ``--deterministic`` a run is a function of its inputs. The guest's only input that
time does not fix is the serial line's (COM1's receiver, fed by a reader thread at
wall-clock moments); the RTC reads the deterministic epoch. So a recording holds, for each
batch of serial bytes, the *observation* at which the UART first saw it: the receiver's
inbox is made visible to the device only at its observation points (``advance``, ``_sync``,
``next_event_ns``, ``has_input``), and those come in the same order at the same guest
instruction in every run of the same inputs. Replaying admits each batch at the same
observation: the same output, the same final registers and RAM digest.

File format: JSON lines. The first is ``{"btvmm_recording": 1, "guest": ..., "native": ...}``,
then ``{"seen": K, "insns": N, "data": HEX}`` per batch (observation K, guest instruction
count N), last ``{"end": OUTCOME, "insns": N, "digest": SHA256}``.

Installed on the one UART instance; nothing changes in a run without these options.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from runtime.pc.machine import Machine

_OBSERVERS = ("advance", "_sync", "next_event_ns", "has_input")


class RecordingError(Exception):
    """A recording that cannot be read (its file and the problem)."""


class _Gate:
    """The UART's inbox, opened only at its observation points."""

    def __init__(self, machine: Machine) -> None:
        self.m = machine
        self.uart = machine.uart
        self.seen = 0
        uart = self.uart
        for name in _OBSERVERS:
            inner = getattr(uart, name)

            def observed(*args: Any, _inner: Any = inner) -> Any:
                self.seen += 1
                self.admit()
                return _inner(*args)

            setattr(uart, name, observed)

    def admit(self) -> None:
        raise NotImplementedError

    def deliver(self, data: bytes) -> None:
        uart = self.uart
        with uart._inbox_lock:
            uart._inbox.extend(data)


class Recorder(_Gate):
    """Records every batch of serial input with the observation that admitted it."""

    def __init__(self, machine: Machine, out: TextIO, header: dict[str, object]) -> None:
        self.out = out
        self._pending = bytearray()
        self._lock = threading.Lock()
        uart = machine.uart
        with uart._inbox_lock:  # bytes a regular file fed at construction
            self._pending += bytes(uart._inbox)
            uart._inbox.clear()
        uart.feed = self._feed  # type: ignore[method-assign]
        super().__init__(machine)
        out.write(json.dumps({"btvmm_recording": 1, **header}) + "\n")

    def _feed(self, data: bytes) -> None:
        with self._lock:
            self._pending += data
        self.uart.input_event.set()

    def admit(self) -> None:
        if not self._pending:
            return
        with self._lock:
            data, self._pending = bytes(self._pending), bytearray()
        self.out.write(json.dumps({"seen": self.seen, "insns": self.m.counter.insns,
                                   "data": data.hex()}) + "\n")
        self.deliver(data)

    def finish(self, outcome: str, digest: str) -> None:
        self.out.write(json.dumps({"end": outcome, "insns": self.m.counter.insns,
                                   "digest": digest}) + "\n")


class Replayer(_Gate):
    """Admits the recorded batches at their observations."""

    def __init__(self, machine: Machine, path: str) -> None:
        self.batches: deque[tuple[int, bytes]] = deque()
        self.header: dict[str, object] = {}
        self.end: dict[str, object] = {}
        try:
            with open(path) as f:
                lines = [json.loads(line) for line in f if line.strip()]
        except OSError as err:
            raise RecordingError(f"{path}: {err.strerror}") from None
        except json.JSONDecodeError as err:
            raise RecordingError(f"{path}: not a recording (line {err.lineno}: {err.msg})") from None
        if not lines or lines[0].get("btvmm_recording") != 1:
            raise RecordingError(f"{path}: not a btvmm recording (no header line)")
        self.header = lines[0]
        for rec in lines[1:]:
            if "seen" in rec:
                self.batches.append((int(rec["seen"]), bytes.fromhex(rec["data"])))
            elif "end" in rec:
                self.end = rec
        super().__init__(machine)

    def admit(self) -> None:
        while self.batches and self.batches[0][0] <= self.seen:
            self.deliver(self.batches.popleft()[1])
