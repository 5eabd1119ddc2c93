"""Errors that btvmm reports to the user as one line, never as a traceback.

Shared by the runtime: add a class here when a new stage needs its own
user-facing failure.
"""

from __future__ import annotations


class GuestLoadError(Exception):
    """The guest image (or one of its modules) cannot be loaded.

    ``str(e)`` is always a single line, ``"PATH: problem"``, so that the CLI
    can print it as is and exit; ``path`` and ``problem`` are kept for
    callers that want them apart.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{_one_line(path)}: {_one_line(problem)}")


class StaleBuildError(ImportError):
    """A native module of btvmm was built from older sources than the checkout's (the
    CLI prints the line and exits with status 2; rebuild with ``make .venv/.installed``)."""


def _one_line(text: str) -> str:
    """Escape line breaks so that a file name or OS message cannot split the line."""
    return text.replace("\r", "\\r").replace("\n", "\\n")
