"""Up-front validation of every command's options and files, before anything runs.

Each check ends with a one-line error and status 2 (``bad-input``): argparse types
for single values (numbers, addresses, finite seconds), and checks across options and
files once the command line is parsed (``--mem`` per mode, input files that must be
regular files, output paths that must be writable). A FIFO or device given as a guest,
module or stdin file is refused without opening it: ``open`` on a FIFO without a writer
blocks forever.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import stat
from pathlib import Path

from runtime.errors import GuestLoadError
from runtime.vmm.monitor_space import MAX_GUEST_RAM

#: the largest 32-bit physical or linear address
ADDRESS_MAX = 0xFFFF_FFFF
#: guest RAM of the bare machine: the PC memory map the loader gives a multiboot guest is
#: modelled up to 3.5 GiB (runtime/pc/multiboot.py); the monitor's limit is MAX_GUEST_RAM
NATIVE_MEM_MAX_MIB = 3584
#: the monitor's guest RAM: what its guest page tables in the reserved range can map
MONITOR_MEM_MAX_MIB = MAX_GUEST_RAM >> 20
#: no time limit is longer than this (about 116 days); 'inf', 'nan' and 1e300 are refused
SECONDS_MAX = 1e7

#: argparse takes '-0x10' for an option (its negative-number pattern is decimal only):
#: with this one, a negative hex number is a value, refused by the range check
NEGATIVE_NUMBER = re.compile(r"^-(0[xX][0-9a-fA-F]+|\d+|\d*\.\d+)$")


def number(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def positive(text: str) -> int:
    value = number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def non_negative(text: str) -> int:
    value = number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def address(text: str) -> int:
    """A 32-bit address: 0 to 0xffffffff (never masked)."""
    value = number(text)
    if not 0 <= value <= ADDRESS_MAX:
        raise argparse.ArgumentTypeError(f"not a 32-bit address (0 to {ADDRESS_MAX:#x}): {text!r}")
    return value


def seconds(text: str) -> float:
    """A finite, positive number of seconds, at most SECONDS_MAX."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive, finite number of seconds: {text!r}")
    if value > SECONDS_MAX:
        raise argparse.ArgumentTypeError(f"at most {SECONDS_MAX:g} seconds: {text!r}")
    return value


def mem_limit(mem_mib: int, native: bool) -> str | None:
    """Why ``--mem`` cannot be given to this mode, or None."""
    limit = NATIVE_MEM_MAX_MIB if native else MONITOR_MEM_MAX_MIB
    if mem_mib > limit:
        where = "the bare machine" if native else "the monitor"
        return f"--mem {mem_mib}: {where} supports at most {limit} MiB of guest RAM"
    return None


def input_file(path: str, what: str = "guest") -> None:
    """``path`` must name a regular file (checked without opening it); GuestLoadError."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise GuestLoadError(path, f"no such file ({what})") from None
    except OSError as err:
        raise GuestLoadError(path, f"cannot read ({what}): {err.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise GuestLoadError(path, f"is a directory, not a {what} file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
        raise GuestLoadError(path, f"{kind}: a {what} must be a regular file")


def input_file_if_present(path: str, what: str) -> None:
    """As :func:`input_file` for a path that exists (a missing one is reported later)."""
    if os.path.lexists(path):
        input_file(path, what)


def output_file(path: str, option: str) -> None:
    """``path`` can be written (a regular file, or a new file in a writable directory),
    checked before the run so that a long run is not lost at its end."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        parent = p.parent if str(p.parent) else Path(".")
        if not parent.is_dir():
            raise GuestLoadError(path, f"cannot write {option}: no such directory") from None
        if not os.access(parent, os.W_OK | os.X_OK):
            raise GuestLoadError(path, f"cannot write {option}: directory not writable") from None
        return
    except OSError as err:
        raise GuestLoadError(path, f"cannot write {option}: {err.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise GuestLoadError(path, f"cannot write {option}: not a regular file")
    if not os.access(p, os.W_OK):
        raise GuestLoadError(path, f"cannot write {option}: permission denied")


def allow_negative_values(parser: argparse.ArgumentParser) -> None:
    """Let ``-0x10`` reach the value check instead of being taken for an option."""
    parser._negative_number_matcher = NEGATIVE_NUMBER  # type: ignore[attr-defined]
