"""A mutation campaign over the corpus: every ending of a damaged guest is clean.

Each mutant is a corpus ELF with a few bytes changed (seeded, so a campaign is
reproducible): in the ELF and program headers (the loader's input), anywhere in the
file, or in the first loaded code. Each runs natively and under the monitor on the
deterministic clock with an instruction bound. Every ending must be a one-line load
error (GuestLoadError) or a run result whose status is documented
(:data:`runtime.report.OUTCOMES`, or odd: the guest's own); an exception escaping the
run or an internal error with a crash report is a failure. A hang is what the caller
sees as the campaign not ending: each run also has a wall-clock bound, whose ending
(status 10, e.g. a monitored mutant running through zeroed memory that the translator
must translate block after block) is counted, not failed.

``python -m runtime.check.mutate --seed S --count N`` prints one JSON document (counts
by ending, and the failures with their seeds); run as a separate process, so that a
signal (a crash of the engine) is seen by the caller as the process's death.
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from runtime.errors import GuestLoadError
from runtime.report import OUTCOMES, Outcome
from runtime.session import RunOptions, run_file

ROOT = Path(__file__).resolve().parents[2]
GUESTS = ("hello", "exceptions", "usermode", "paging", "intn", "iret", "segregs", "smc",
          "descriptors", "farcall", "flags", "smsw")
MAX_INSNS = 200_000
WALL_S = 30.0


def mutate(data: bytes, rng: random.Random) -> bytes:
    """A few bytes of ``data`` changed: in the headers, in the first code, or anywhere."""
    out = bytearray(data)
    where = rng.choice(("headers", "code", "anywhere"))
    phoff = struct.unpack_from("<I", data, 28)[0] if len(data) >= 32 else 0
    for _ in range(rng.randint(1, 6)):
        if where == "headers":
            pos = rng.randrange(min(len(out), max(52, phoff + 32 * 3)))
        elif where == "code":
            pos = rng.randrange(min(len(out), 0x1000), min(len(out), 0x1400)) \
                if len(out) > 0x1000 else rng.randrange(len(out))
        else:
            pos = rng.randrange(len(out))
        out[pos] = rng.choice((0, 0xFF, rng.randrange(256), out[pos] ^ (1 << rng.randrange(8))))
    return bytes(out)


def check(path: str, native: bool) -> tuple[str, str | None]:
    """The ending of one run, and why it is a failure (None: clean)."""
    opts = RunOptions(native=native, mem_mib=32, deterministic=True, max_insns=MAX_INSNS,
                      timeout_s=WALL_S)
    try:
        r = run_file(path, opts)
    except GuestLoadError:
        return "load-error", None
    except Exception as exc:  # noqa: BLE001 - this is what the campaign looks for
        return "exception", f"{type(exc).__name__}: {exc}"
    if r.outcome is Outcome.INTERNAL and "crash report" in r.message:
        return r.outcome.value, r.message
    documented = {status for status, _ in OUTCOMES.values()}
    if r.status not in documented and r.status % 2 == 0:
        return r.outcome.value, f"undocumented status {r.status}"
    return r.outcome.value, None


def mutants(seed: int, count: int) -> Iterator[tuple[int, str, bytes]]:
    """The campaign's mutants: (number, corpus guest, bytes), the same for the same seed."""
    rng = random.Random(seed)
    images = {g: (ROOT / "corpus" / "build" / f"{g}.elf").read_bytes() for g in GUESTS
              if (ROOT / "corpus" / "build" / f"{g}.elf").exists()}
    for n in range(count):
        guest = rng.choice(sorted(images))
        yield n, guest, mutate(images[guest], rng)


def campaign(seed: int, count: int, keep: Path | None = None) -> dict[str, object]:
    endings: Counter[str] = Counter()
    failures = []
    with tempfile.TemporaryDirectory(prefix="bt-mutants-") as tmp:
        for n, guest, data in mutants(seed, count):
            path = Path(tmp) / f"{guest}-{n}.elf"
            path.write_bytes(data)
            for native in (True, False):
                ending, problem = check(str(path), native)
                endings[f"{'native' if native else 'monitor'} {ending}"] += 1
                if problem:
                    failures.append({"mutant": n, "guest": guest, "native": native,
                                     "problem": problem})
                    if keep is not None:
                        keep.mkdir(parents=True, exist_ok=True)
                        (keep / path.name).write_bytes(data)
    return {"seed": seed, "mutants": count, "endings": dict(sorted(endings.items())),
            "failures": failures}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m runtime.check.mutate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--keep", type=Path, default=None, metavar="DIR",
                   help="save the failing mutants here")
    p.add_argument("--only", type=int, default=None, metavar="N", help="save mutant N and stop")
    a = p.parse_args(argv)
    if a.only is not None:
        for n, guest, data in mutants(a.seed, a.only + 1):
            if n == a.only:
                out = (a.keep or Path(".")) / f"{guest}-{n}.elf"
                out.write_bytes(data)
                sys.stdout.write(f"{out}\n")
        return 0
    doc = campaign(a.seed, a.count, a.keep)
    sys.stdout.write(json.dumps(doc, indent=1) + "\n")
    return 1 if doc["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
