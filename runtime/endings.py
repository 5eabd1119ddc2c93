"""Every way a ``bt`` command ends: the status tables (data) and the internal-error ending.

``bt run`` ends with the guest's own status (odd: ``(v << 1) | 1`` for a value ``v``
written to the isa-debug-exit port; a Linux program's own status) or one of the even
statuses of :data:`runtime.report.OUTCOMES`, each with a report on stderr. The other
commands' statuses are the tables below; ``bt COMMAND --help`` prints each one.

An unexpected exception anywhere (a bug of btvmm, never the guest's or the user's
doing) ends the command with :data:`INTERNAL_STATUS`: one line on stderr naming the
exception and a crash report file holding the traceback (:func:`crash_report`), so
that no Python traceback reaches the user. The directory is ``$BT_CRASH_DIR``, else
the system's temporary directory.
"""

from __future__ import annotations

import datetime
import os
import sys
import tempfile
import traceback
from pathlib import Path

from runtime.report import OUTCOMES, Outcome

INTERNAL_STATUS = OUTCOMES[Outcome.INTERNAL][0]
BAD_INPUT_STATUS = OUTCOMES[Outcome.BAD_INPUT][0]
INTERRUPTED_STATUS = OUTCOMES[Outcome.INTERRUPTED][0]

#: ``bt diff``: status -> meaning
DIFF_STATUSES: dict[int, str] = {
    0: "equivalent: native, monitor (and qemu, or a triaged unicorn defect) agree",
    1: "different: the runs differ (the table and the first divergence say how)",
    BAD_INPUT_STATUS: "could not run: bad command line or guest file (one line on stderr)",
    3: "could not run: a run ended in an internal error of btvmm (its report is shown)",
    INTERNAL_STATUS: "internal error of bt diff itself (one line and a crash report path)",
    INTERRUPTED_STATUS: "interrupted by Ctrl-C (SIGINT)",
}
DIFF_EQUIVALENT, DIFF_DIFFERENT, DIFF_COULD_NOT_RUN = 0, 1, 3

#: ``bt fuzz``: status -> meaning
FUZZ_STATUSES: dict[int, str] = {
    0: "no generated program diverged",
    1: "some programs diverged (their seeds and shrunk reproducers are listed)",
    BAD_INPUT_STATUS: "bad command line, or the Dask scheduler is missing or unreachable",
    INTERNAL_STATUS: "internal error (one line and a crash report path)",
    INTERRUPTED_STATUS: "interrupted by Ctrl-C (SIGINT)",
}

#: ``bt explain``: status -> meaning
EXPLAIN_STATUSES: dict[int, str] = {
    0: "the block and its translation were shown",
    BAD_INPUT_STATUS: "bad command line, guest file or address (one line on stderr)",
    INTERNAL_STATUS: "internal error (one line and a crash report path)",
}


def status_lines(table: dict[int, str]) -> str:
    """A status table as the lines ``--help`` prints."""
    return "\n".join(f"  {status:>3}  {text}" for status, text in table.items())


def crash_dir() -> Path:
    return Path(os.environ.get("BT_CRASH_DIR") or tempfile.gettempdir())


def crash_report(exc: BaseException, context: str = "") -> Path | None:
    """Write the traceback of ``exc`` (and ``context``: the guest's state, the command
    line) to a new file; its path, or None when no file can be written."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = ("btvmm crash report\n"
            f"command: {' '.join(sys.argv)}\n"
            f"python: {sys.version.split()[0]}\n\n"
            + "".join(traceback.format_exception(exc))
            + (f"\n{context}\n" if context else ""))
    try:
        directory = crash_dir()
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"bt-crash-{stamp}-", suffix=".txt", dir=directory)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return Path(name)
    except OSError:
        return None


def summary(exc: BaseException) -> str:
    """One line naming ``exc`` (its message cut at the first line break)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def internal_error(exc: BaseException, context: str = "") -> int:
    """The ending of a command that raised ``exc``: one line, a crash report, status 16."""
    path = crash_report(exc, context)
    where = f"crash report: {path}" if path else "no crash report could be written"
    try:
        sys.stderr.write(f"bt: internal error: {summary(exc)} ({where})\n")
    except (OSError, ValueError, AttributeError):
        pass
    return INTERNAL_STATUS
