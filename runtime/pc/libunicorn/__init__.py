"""Which libunicorn the machine runs on: the patched build (fast stores) or the PyPI wheel's.

Unicorn 2.1.4 sends every guest store through QEMU's ``notdirty_write`` slow path
(30-50 ns a store, a load 2 ns): see ``store-fix.patch`` for why and for the fix, after
unicorn pull request 2337. :mod:`~runtime.pc.libunicorn.build` builds the patched
library from the pinned sdist and installs it in place of the wheel's inside the venv's
``unicorn`` package, keeping the wheel's as ``unicorn/lib/pypi/``;
:mod:`~runtime.pc.libunicorn.measure` measures a store against a load on whichever
library is loaded.

``BTVMM_LIBUNICORN=pypi`` forces the wheel's library: :func:`choose` (called by
``runtime/__init__.py``, before anything imports unicorn) points the binding's
``LIBUNICORN_PATH`` at it. Unset (or ``patched``), the binding loads what is installed.
An explicit ``LIBUNICORN_PATH`` is left alone.

May import: the standard library; unicorn only inside :func:`loaded` (importing the
binding loads the library, so nothing here does it at import time).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

UNICORN_VERSION = "2.1.4"
LIBNAME = "libunicorn.so.2"
BUILD_ID_FILE = "btvmm-libunicorn-build"
PATCH = Path(__file__).resolve().parent / "store-fix.patch"
ENV = "BTVMM_LIBUNICORN"
# a function only the patched library has (store-fix.patch): how a loaded library is told apart
PATCH_SYMBOL = "tb_page_has_code_x86_64"


def binding_lib_dir() -> Path:
    """``unicorn/lib`` of the installed binding, found without importing it."""
    spec = importlib.util.find_spec("unicorn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the unicorn Python binding is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "lib"


def choose() -> None:
    """Apply ``BTVMM_LIBUNICORN`` before the binding loads its library (see the module doc)."""
    if os.environ.get(ENV, "") != "pypi" or "LIBUNICORN_PATH" in os.environ:
        return
    try:
        wheel = binding_lib_dir() / "pypi"
    except (RuntimeError, ValueError):
        return
    if (wheel / LIBNAME).exists():
        os.environ["LIBUNICORN_PATH"] = str(wheel)


@dataclass(frozen=True)
class Library:
    """The libunicorn this process runs on."""

    patched: bool
    path: str
    build_id: str | None

    def describe(self) -> str:
        if self.patched:
            return f"libunicorn {UNICORN_VERSION} patched build {self.build_id or '?'} (fast stores)"
        return f"libunicorn {UNICORN_VERSION} PyPI wheel"


def loaded() -> Library:
    """The library the unicorn binding has loaded (importing the binding if need be)."""
    from unicorn.unicorn_py3 import unicorn as binding

    lib = binding.uclib
    path = str(getattr(lib, "_name", "") or "")
    try:
        getattr(lib, PATCH_SYMBOL)
        patched = True
    except AttributeError:
        patched = False
    build_id = None
    if patched and path:
        marker = Path(path).resolve().parent / BUILD_ID_FILE
        if marker.exists():
            build_id = marker.read_text().strip()
    return Library(patched, path, build_id)
