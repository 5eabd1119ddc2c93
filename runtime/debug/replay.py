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

from runtime.pc.clock import NS_PER_INSN

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


def read_recording(path: str) -> tuple[dict[str, Any], list[tuple[int, int, bytes]], dict[str, Any]]:
    """The header, the batches ``(observation, instruction count, bytes)`` and the end
    record of the recording at ``path``; RecordingError names the file and the problem."""
    try:
        with open(path) as f:
            lines = [json.loads(line) for line in f if line.strip()]
    except OSError as err:
        raise RecordingError(f"{path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise RecordingError(f"{path}: not a recording (not text)") from None
    except json.JSONDecodeError as err:
        raise RecordingError(f"{path}: not a recording (line {err.lineno}: {err.msg})") from None
    if not lines or not isinstance(lines[0], dict) or lines[0].get("btvmm_recording") != 1:
        raise RecordingError(f"{path}: not a btvmm recording (no header line)")
    batches: list[tuple[int, int, bytes]] = []
    end: dict[str, Any] = {}
    for number, rec in enumerate(lines[1:], 2):
        try:
            if "seen" in rec:
                batches.append((int(rec["seen"]), int(rec["insns"]), bytes.fromhex(rec["data"])))
            elif "end" in rec:
                end = rec
        except (TypeError, KeyError, ValueError):
            raise RecordingError(f"{path}: line {number}: not a batch of serial input") from None
    return lines[0], batches, end


class Replayer(_Gate):
    """Admits the recorded batches at their observations, or ``by_insns`` at the first
    observation at or after their guest instruction count.

    Observation points belong to a machine's run loop, so their count is exact only for a
    replay on the same kind of machine as the recording. ``bt diff --replay`` runs the
    bare machine and the monitor from one recording, so it admits by instruction count
    (the same in both) and starts the line's pacing at that instruction's time: the bytes
    become receivable at the same guest instant in both runs."""

    def __init__(self, machine: Machine, path: str, by_insns: bool = False) -> None:
        self.header, batches, self.end = read_recording(path)
        self.by_insns = by_insns
        self.batches: deque[tuple[int, int, bytes]] = deque(batches)
        super().__init__(machine)

    def admit(self) -> None:
        if not self.by_insns:
            while self.batches and self.batches[0][0] <= self.seen:
                self.deliver(self.batches.popleft()[2])
            return
        insns = self.m.counter.insns
        while self.batches and self.batches[0][1] <= insns:
            at = self.batches.popleft()
            self.deliver(at[2])
            # the line starts receiving at instruction ``at``'s time, not at this observation's
            self.uart._receive(self.uart._now() - (insns - at[1]) * NS_PER_INSN)
