"""The anatomy stays true: which package may import which, no import circle, no huge module.

Every module of ``runtime/`` and ``bt/`` is parsed (never imported) and its
imports are read from the syntax tree:

* **module-level** imports are the statements Python runs when the module
  loads: the top level and, below it, ``if``/``try``/``with`` blocks
  (``if TYPE_CHECKING:`` included);
* **function-local** imports are those inside a ``def`` or a class body's
  methods: they run at call time, once every module has loaded.

The layering rules (:data:`FORBIDDEN`) count both kinds: an import deferred
into a function is still a dependency of the layer that holds it. The cycle
check counts module-level imports only: a function-local import cannot take
part in a circle at load time, and it is the accepted way to reach up from a
low layer at run time (``runtime.pc.machine`` reaches the watchdog so).

An import ``from P import N`` names module ``P.N`` when that is a module of
the tree, else module (or package) ``P``. A package stands for its
``__init__.py``.

Each check is a function over a folder, so that the tests at the bottom can
plant a violation in a scratch tree and see the check fail.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("runtime", "bt")

#: (importer, imported): modules named by the first prefix import nothing named by the second.
FORBIDDEN: tuple[tuple[str, str, str], ...] = (
    ("runtime.pc", "runtime.vmm", "the bare PC is the reference: it knows nothing of the monitor"),
    ("runtime.pc", "runtime.check", "the bare PC knows nothing of the checking tools"),
    ("runtime.pc", "runtime.linux", "the bare PC knows nothing of the Linux programs' kernel"),
    ("runtime.pc", "runtime.cli", "the bare PC knows nothing of the command line"),
    ("runtime.pc", "runtime.session", "the bare PC knows nothing of the command line's sessions"),
    ("bt", "runtime", "the translator is a library below the runtime"),
    ("runtime.vmm", "runtime.check", "the monitor knows nothing of the checking tools"),
    ("runtime.vmm", "runtime.cli", "the monitor knows nothing of the command line"),
    ("runtime.linux", "runtime.check", "Linux programs know nothing of the checking tools"),
    ("runtime.linux", "runtime.cli", "Linux programs know nothing of the command line"),
    *(("runtime.vmm.callouts", f"runtime.vmm.{m}",
       "the callouts see the monitor through CalloutHost only")
      for m in ("monitor", "dispatch", "faults", "adaptive", "transitions", "codetrace", "relocate")),
)

#: The longest a module may be, in lines; and the modules allowed past it, with the reason.
MAX_LINES = 600
LONG_MODULES = {
    "runtime.check.fuzzgen": "the random-guest generator: a table of chunk generators",
}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    local: bool  # inside a function: runs at call time


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def modules(root: Path) -> dict[str, Path]:
    """Every module of the packages below ``root``, by dotted name (a package is its __init__)."""
    found = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(root: Path) -> list[Import]:
    """Every import of a tree module by a tree module, module-level or function-local."""
    mods = modules(root)
    found = []

    def visit(name: str, path: Path, node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(name, path.name == "__init__.py", child)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                           for a in child.names]
            for target in targets:
                while target and target not in mods:  # import a.b.c of a package a.b: a.b
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.append(Import(name, target, child.lineno, local))
            visit(name, path, child, inner)

    for name, path in mods.items():
        visit(name, path, ast.parse(path.read_text(), str(path)), False)
    return found


def layering_violations(root: Path) -> list[str]:
    out = []
    for imp in imports(root):
        for importer, imported, why in FORBIDDEN:
            if _within(imp.importer, importer) and _within(imp.imported, imported):
                kind = "function-local " if imp.local else ""
                out.append(f"{imp.importer}:{imp.line} {kind}imports {imp.imported}: {why}")
    return out


def import_cycles(root: Path) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), module-level imports."""
    graph: dict[str, set[str]] = {m: set() for m in modules(root)}
    for imp in imports(root):
        if not imp.local:
            graph[imp.importer].add(imp.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return cycles


def long_modules(root: Path) -> list[str]:
    out = []
    for name, path in modules(root).items():
        n = len(path.read_text().splitlines())
        if n > MAX_LINES and name not in LONG_MODULES:
            out.append(f"{name}: {n} lines (at most {MAX_LINES})")
    return out


# --- the tree as it is --------------------------------------------------------------------
def test_layers_import_only_downwards() -> None:
    assert layering_violations(ROOT) == []


def test_no_import_cycle() -> None:
    assert import_cycles(ROOT) == []


def test_no_module_over_the_limit() -> None:
    assert long_modules(ROOT) == []


def test_the_parser_sees_the_known_imports() -> None:
    """The checks read real edges (a parser that found none would pass everything)."""
    edges = {(i.importer, i.imported, i.local) for i in imports(ROOT)}
    assert ("runtime.vmm.monitor", "runtime.pc.machine", False) in edges
    assert ("runtime.vmm.callouts.segment_ops", "runtime.vmm.segments.loads", False) in edges
    assert ("runtime.pc.machine", "runtime.pc.watchdog", True) in edges
    assert len(modules(ROOT)) > 50


# --- each check fails on a planted defect ---------------------------------------------------
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir(exist_ok=True)
        (tmp_path / pkg / "__init__.py").touch()
    return tmp_path


@pytest.mark.parametrize(("rel", "text", "needle"), [
    ("runtime/pc/machine.py", "from runtime.vmm.monitor import Monitor\n", "runtime.vmm.monitor"),
    ("runtime/pc/machine.py", "def f():\n    import runtime.check.diff\n", "function-local"),
    ("runtime/pc/machine.py", "from runtime import session\n", "runtime.session"),
    ("runtime/pc/devices/pit.py", "from ...linux import boot\n", "runtime.linux.boot"),
    ("bt/scan.py", "from runtime.pc.x86 import Vector\n", "runtime.pc.x86"),
    ("runtime/vmm/shadow.py", "from runtime.check import diff\n", "runtime.check.diff"),
    ("runtime/vmm/callouts/io.py", "from runtime.vmm.faults import Faults\n", "CalloutHost"),
])
def test_a_planted_layering_violation_is_found(tmp_path: Path, rel: str, text: str,
                                                needle: str) -> None:
    root = _tree(tmp_path, {rel: text, "runtime/vmm/monitor.py": "", "runtime/check/diff.py": "",
                            "runtime/session.py": "", "runtime/linux/boot.py": "",
                            "runtime/pc/x86.py": "", "runtime/vmm/faults.py": ""})
    found = layering_violations(root)
    assert len(found) == 1 and needle in found[0], found


def test_a_planted_cycle_is_found_and_a_local_import_breaks_it(tmp_path: Path) -> None:
    files = {"runtime/pc/a.py": "from runtime.pc import b\n",
             "runtime/pc/b.py": "import runtime.pc.c\n",
             "runtime/pc/c.py": "from .a import thing\n"}
    assert import_cycles(_tree(tmp_path, files)) == [["runtime.pc.a", "runtime.pc.b", "runtime.pc.c"]]
    (tmp_path / "runtime/pc/c.py").write_text("def f():\n    from .a import thing\n")
    assert import_cycles(tmp_path) == []


def test_a_planted_long_module_is_found(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"runtime/vmm/big.py": "x = 1\n" * (MAX_LINES + 1),
                            "runtime/check/fuzzgen.py": "x = 1\n" * (MAX_LINES + 1),
                            "bt/ok.py": "x = 1\n" * MAX_LINES})
    assert long_modules(root) == [f"runtime.vmm.big: {MAX_LINES + 1} lines (at most {MAX_LINES})"]
