"""Build the patched libunicorn and install it where the venv's unicorn binding loads it.

``python -m runtime.pc.libunicorn.build`` (``make libunicorn``, which ``make run`` and
``make test`` depend on):

1. fetch the pinned sdist ``unicorn==2.1.4`` with pip (it carries the whole C source)
   into ``.cache/libunicorn/`` and check its sha256;
2. unpack it, apply ``store-fix.patch`` (``patch -p1``), configure an x86-only release
   build with cmake and build it (about 40 s on an idle 2-core machine);
3. install: the wheel's ``unicorn/lib/libunicorn.so.2`` is kept as
   ``unicorn/lib/pypi/libunicorn.so.2`` (what ``BTVMM_LIBUNICORN=pypi`` loads) and the
   patched build takes its place, with its build id beside it.

The build is cached by its id (a hash of the sdist, the patch and the build options): a
second run only checks that the installed library is the cached one. Where the build
cannot run (no cmake, no C compiler, no sdist, a failed build) one warning line goes to
stderr, the venv keeps the PyPI wheel's library, and the status is still 0: btvmm runs
the same on both, only stores are slower.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from runtime.pc.libunicorn import (
    BUILD_ID_FILE,
    LIBNAME,
    PATCH,
    UNICORN_VERSION,
    binding_lib_dir,
)

REPO = Path(__file__).resolve().parents[3]
CACHE = REPO / ".cache" / "libunicorn"
SDIST = f"unicorn-{UNICORN_VERSION}.tar.gz"
SDIST_SHA256 = "00567a70e323f749b419cd86bee4f9115beab7ebba32194581c090cbb7c59cff"
CMAKE_OPTIONS = ("-DUNICORN_ARCH=x86", "-DCMAKE_BUILD_TYPE=Release", "-DUNICORN_BUILD_TESTS=off")


class BuildUnavailable(Exception):
    """The patched library cannot be built here; the message says why, in a few words."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_id() -> str:
    """What identifies a build: the sdist, the patch text and the cmake options."""
    h = hashlib.sha256()
    h.update(SDIST_SHA256.encode())
    h.update(PATCH.read_bytes())
    h.update(" ".join(CMAKE_OPTIONS).encode())
    return h.hexdigest()[:12]


def _run(cmd: list[str], cwd: Path, log: Path) -> None:
    with log.open("ab") as out:
        out.write(f"$ {' '.join(cmd)}\n".encode())
        out.flush()
        done = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise BuildUnavailable(f"'{' '.join(cmd[:2])}' failed (see {log})")


def fetch_sdist() -> Path:
    """The pinned sdist in the cache, downloaded by pip on first use."""
    sdist = CACHE / SDIST
    if not sdist.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                               "--no-binary", ":all:", f"unicorn=={UNICORN_VERSION}", "-d", str(CACHE)],
                              capture_output=True)
        if done.returncode != 0 or not sdist.exists():
            raise BuildUnavailable(f"pip could not download the unicorn {UNICORN_VERSION} sdist")
    if _sha256(sdist) != SDIST_SHA256:
        raise BuildUnavailable(f"{sdist}: sha256 is not the pinned one")
    return sdist


def build(ident: str) -> Path:
    """The patched library for ``ident``, built unless already in the cache."""
    out = CACHE / f"build-{ident}"
    lib = out / LIBNAME
    if lib.exists():
        return lib
    for tool in ("cmake", "patch"):
        if shutil.which(tool) is None:
            raise BuildUnavailable(f"no {tool}")
    if not any(shutil.which(cc) for cc in ("cc", "gcc", "clang")):
        raise BuildUnavailable("no C compiler")
    sdist = fetch_sdist()
    src = CACHE / f"src-{ident}"
    shutil.rmtree(src, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    src.mkdir(parents=True)
    with tarfile.open(sdist) as tar:
        tar.extractall(src, filter="data")
    root = src / f"unicorn-{UNICORN_VERSION}"
    log = CACHE / f"build-{ident}.log"
    log.write_bytes(b"")
    _run(["patch", "-p1", "-i", str(PATCH)], root, log)
    _run(["cmake", "-S", str(root / "src"), "-B", str(out), *CMAKE_OPTIONS], root, log)
    jobs = str(min(os.cpu_count() or 1, 2))
    _run(["cmake", "--build", str(out), "-j", jobs], root, log)
    built = out / LIBNAME
    if not built.exists():
        raise BuildUnavailable(f"the build made no {LIBNAME} (see {log})")
    (out / BUILD_ID_FILE).write_text(ident + "\n")
    shutil.rmtree(src, ignore_errors=True)
    return built


def install(lib: Path, ident: str) -> bool:
    """Put ``lib`` where the binding loads it, the wheel's own kept aside; True if changed."""
    target_dir = binding_lib_dir()
    target = target_dir / LIBNAME
    marker = target_dir / BUILD_ID_FILE
    pypi = target_dir / "pypi" / LIBNAME
    if target.exists() and marker.exists() and marker.read_text().strip() == ident \
            and target.stat().st_size == lib.stat().st_size and _sha256(target) == _sha256(lib):
        return False
    if target.exists() and not marker.exists():
        # the wheel's library (a fresh venv, or pip reinstalled unicorn): keep it for
        # BTVMM_LIBUNICORN=pypi
        pypi.parent.mkdir(exist_ok=True)
        shutil.copy2(target, pypi)
    tmp = target_dir / f".{LIBNAME}.tmp"
    shutil.copy2(lib, tmp)
    os.replace(tmp, target)  # a running process keeps the library it mapped
    marker.write_text(ident + "\n")
    return True


def main() -> int:
    ident = build_id()
    try:
        lib = build(ident)
    except BuildUnavailable as why:
        sys.stderr.write(f"libunicorn: warning: cannot build the patched library ({why}); "
                         "using the PyPI wheel's (slower stores)\n")
        return 0
    if install(lib, ident):
        sys.stderr.write(f"libunicorn: installed patched build {ident} in {binding_lib_dir()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
