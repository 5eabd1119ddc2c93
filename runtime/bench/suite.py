"""The benchmark suite and its targets, as data (``bench/suite.toml``, ``bench/targets.toml``).

A row is a guest kernel (timed natively, under the monitor and under qemu-system-i386)
or a Linux row of :mod:`runtime.linux.bench` (natively, under the monitor and on the
host CPU, which is that row's independent reference). Targets are per row: a maximum
monitor/native ratio, a minimum translation speed, and the hit rate every row must reach.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SUITE = ROOT / "bench" / "suite.toml"
TARGETS = ROOT / "bench" / "targets.toml"


class SuiteError(Exception):
    """A suite or target file that cannot be used: the message names the file."""


@dataclass(frozen=True)
class Row:
    name: str
    what: str
    guest: Path | None = None  # a guest kernel
    linux: str | None = None   # a row of runtime.linux.bench.ROWS
    cmdline: str = ""          # the kernel command line (multiboot; qemu's -append)
    disk: Path | None = None   # an IDE disk image, primary master (qemu's -drive ...,if=ide)

    @property
    def reference(self) -> str:
        """The independent reference this row is timed against besides native."""
        return "host" if self.linux else "qemu"


@dataclass(frozen=True)
class Targets:
    hit_rate_min: float = 0.999
    ratio_max: dict[str, float] = field(default_factory=dict)
    translation_min: dict[str, float] = field(default_factory=dict)
    #: rss_native_max, rss_reference_max, metadata_per_insn_max (every row)
    memory: dict[str, float] = field(default_factory=dict)


def _load(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(path.read_text())
    except OSError as err:
        raise SuiteError(f"{path}: cannot read: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise SuiteError(f"{path}: not TOML: {err}") from None


def load_suite(path: Path = SUITE) -> list[Row]:
    rows = []
    for name, body in _load(path).items():
        if not isinstance(body, dict) or ("guest" in body) == ("linux" in body):
            raise SuiteError(f"{path}: row {name!r} needs exactly one of guest or linux")
        guest = ROOT / str(body["guest"]) if "guest" in body else None
        disk = ROOT / str(body["disk"]) if "disk" in body else None
        rows.append(Row(name, str(body.get("what", "")), guest, body.get("linux"),  # type: ignore[arg-type]
                        str(body.get("cmdline", "")), disk))
    return rows


def load_targets(path: Path = TARGETS) -> Targets:
    d = _load(path)
    try:
        return Targets(float(d.get("hit_rate_min", 0.999)),  # type: ignore[arg-type]
                       {k: float(v) for k, v in dict(d.get("ratio_max", {})).items()},  # type: ignore[arg-type]
                       {k: float(v) for k, v in dict(d.get("translation_min", {})).items()},  # type: ignore[arg-type]
                       {k: float(v) for k, v in dict(d.get("memory", {})).items()})  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise SuiteError(f"{path}: a target is not a number: {err}") from None


def select(rows: list[Row], names: list[str]) -> list[Row]:
    """The rows named (all when none), in suite order; an unknown name is a SuiteError."""
    known = {r.name for r in rows}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SuiteError(f"unknown benchmark {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return [r for r in rows if not names or r.name in names]
