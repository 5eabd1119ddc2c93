"""``make mutation``: a sampled mutation campaign over the translator and the monitor's core.

Do the tests catch what a user would? A *mutant* is a copy of one module with one
small change a programmer could make by mistake: a comparison flipped (``<`` and
``<=``, ``==`` and ``!=``, ``in`` and ``not in``), an operator swapped (``+``/``-``,
``&``/``|``, ``<<``/``>>``), ``and``/``or`` exchanged, a ``not`` dropped, an integer
constant off by one, ``True``/``False`` exchanged, or a call statement deleted. Each
mutant runs the fast tests that cover its module (:data:`SELECTION`, chosen per
module so that a campaign of ~200 mutants fits in ~20 minutes on 2 cores); it is
*killed* when a test fails (or the run hangs past the timeout) and *survives* when
every selected test passes. The score per module is killed / mutants run, and
every survivor is listed (module, line, change) so that it can be killed by a new
honest test or explained as equivalent.

Mutants are sampled with a fixed seed from every mutation site of the modules in
:data:`SELECTION` (docstrings, annotations, strings and f-strings are left alone:
changing a message is not a bug the tests should catch), proportionally to each
module's number of sites. The mutated module is written into a private copy of
the repository (``bt/``, ``runtime/``, ``tests/``, with ``corpus/`` and ``.cache/``
linked), never into the work tree; the copy is found first on ``PYTHONPATH``, so
subprocesses the tests start see the mutant too.

    python tests/mutation.py [--mutants 200] [--seed 18] [--workers 2] [--module bt/scan.py]
        [--list] [--timeout 240]

Exit status 0 when the campaign ran (whatever the score), 2 on bad arguments, 3 when a
module's selected tests fail without any mutation (the score would mean nothing).
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

_TRANSLATE = ["tests/test_classify.py", "tests/test_translate.py"]
#: the callouts: translated-code behaviour, segment semantics, and the adapted store that
#: test_shadow's PTE loop makes (runtime/vmm/callouts/general.py adapted_store)
_CALLOUTS = ["tests/test_translate.py", "tests/test_segments.py", "tests/test_shadow.py"]
#: module (or folder, every .py below it) -> the pytest arguments of the tests that cover it
SELECTION: dict[str, list[str]] = {
    "bt": _TRANSLATE,
    "runtime/vmm/callouts": _CALLOUTS,
    "runtime/vmm/callouts/segment_ops.py": _CALLOUTS + [
        "tests/test_interrupt_shadow.py::test_shadow_holds_the_irq_for_one_instruction"
        "[deterministic-monitor]"],
    "runtime/pc/delivery.py": ["tests/test_delivery.py", "tests/test_error_codes.py",
                               "tests/test_interrupts.py"],
    "runtime/vmm/shadow.py": ["tests/test_shadow.py", "tests/test_readme_claims.py::"
                              "test_shadow_roots_are_kept_per_cr3_with_lru_eviction"] + [
        f"tests/test_monitor.py::test_monitor_equals_native_and_qemu[{g}]"
        for g in ("paging", "usermode", "minios", "procs")],
}

_COMPARE_SWAPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
                  ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
                  ast.In: ast.NotIn, ast.NotIn: ast.In}
_BINOP_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd,
                ast.BitXor: ast.BitOr, ast.LShift: ast.RShift, ast.RShift: ast.LShift,
                ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv}
_SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
           ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.Add: "+",
           ast.Sub: "-", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<",
           ast.RShift: ">>", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%", ast.And: "and",
           ast.Or: "or"}


@dataclass(frozen=True)
class Mutant:
    module: str  # path relative to the repository
    index: int  # the site's number in traversal order
    line: int
    change: str

    def describe(self) -> str:
        return f"{self.module}:{self.line}: {self.change}"


class _Mutator(ast.NodeTransformer):
    """Numbers every mutation site in traversal order; with ``target`` >= 0 applies that one."""

    def __init__(self, target: int = -1) -> None:
        self.target = target
        self.count = 0
        self.sites: list[tuple[int, str]] = []
        self.applied = False

    def _site(self, node: ast.AST, change: str) -> bool:
        hit = self.count == self.target
        self.sites.append((getattr(node, "lineno", 0), change))
        self.count += 1
        if hit:
            self.applied = True
        return hit

    # --- left alone ---------------------------------------------------------------------------
    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    def visit_arguments(self, node: ast.arguments) -> ast.AST:
        for d in node.defaults + [d for d in node.kw_defaults if d is not None]:
            self.visit(d)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.visit(node.args)
        node.body = self._body(node.body)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.body = self._body(node.body)
        return node

    def visit_Module(self, node: ast.Module) -> ast.AST:
        node.body = self._body(node.body)
        return node

    def _body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out = []
        for i, stmt in enumerate(body):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                out.append(stmt)  # a docstring
                continue
            if isinstance(stmt, ast.If) and _is_type_checking(stmt.test):
                out.append(stmt)
                continue
            new = self.visit(stmt)
            out.append(new)
        return out

    # --- the mutations ------------------------------------------------------------------------
    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        if isinstance(node.value, ast.Call) and self._site(node, "call statement deleted"):
            return ast.copy_location(ast.Pass(), node)
        self.generic_visit(node)
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        for i, op in enumerate(node.ops):
            swap = _COMPARE_SWAPS.get(type(op))
            if swap and self._site(node, f"{_SYMBOL[type(op)]} -> {_SYMBOL[swap]}"):
                node.ops[i] = swap()
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        swap = _BINOP_SWAPS.get(type(node.op))
        if swap and self._site(node, f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[swap]}"):
            node.op = swap()
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        swap = _BINOP_SWAPS.get(type(node.op))
        if swap and self._site(node, f"{_SYMBOL[type(node.op)]}= -> {_SYMBOL[swap]}="):
            node.op = swap()
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        other = ast.Or if isinstance(node.op, ast.And) else ast.And
        if self._site(node, f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[other]}"):
            node.op = other()
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and self._site(node, "not dropped"):
            return node.operand
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, bool):
            if self._site(node, f"{node.value} -> {not node.value}"):
                return ast.copy_location(ast.Constant(not node.value), node)
        elif isinstance(node.value, int) and self._site(node, f"{node.value:#x} -> "
                                                              f"{node.value + 1:#x}"):
            return ast.copy_location(ast.Constant(node.value + 1), node)
        return node


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def sites(module: str) -> list[Mutant]:
    tree = ast.parse((ROOT / module).read_text())
    m = _Mutator()
    m.visit(tree)
    return [Mutant(module, i, line, change) for i, (line, change) in enumerate(m.sites)]


def mutated_source(mutant: Mutant) -> str:
    tree = ast.parse((ROOT / mutant.module).read_text())
    m = _Mutator(mutant.index)
    tree = m.visit(tree)
    assert m.applied, mutant
    return ast.unparse(ast.fix_missing_locations(tree))


def selection(module: str) -> list[str]:
    """The pytest arguments for ``module``: its own row, else its folder's."""
    best = max((k for k in SELECTION if module == k or module.startswith(k + "/")), key=len)
    return SELECTION[best]


def modules(only: list[str] | None = None) -> list[str]:
    found = []
    for key in SELECTION:
        path = ROOT / key
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for f in files:
            rel = str(f.relative_to(ROOT))
            if f.name != "__init__.py" and rel not in found:
                found.append(rel)
    if only:
        unknown = [m for m in only if m not in found]
        if unknown:
            raise SystemExit(f"mutation: not a module of the campaign: {', '.join(unknown)}")
        found = [m for m in found if m in only]
    return found


def sample(all_sites: dict[str, list[Mutant]], n: int, seed: int) -> list[Mutant]:
    """``n`` mutants, each module's share proportional to its sites (at least 2 each)."""
    rng = random.Random(seed)
    total = sum(len(s) for s in all_sites.values())
    chosen: list[Mutant] = []
    for s in all_sites.values():
        share = min(len(s), max(2, round(n * len(s) / total))) if total else 0
        chosen += rng.sample(s, share)
    return chosen


# --- running --------------------------------------------------------------------------------
class Workspace:
    """A private copy of the repository a worker mutates (one mutant at a time)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bt-mutation-"))
        for name in ("bt", "runtime", "tests"):
            shutil.copytree(ROOT / name, self.dir / name,
                            ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
        shutil.copy(ROOT / "pyproject.toml", self.dir / "pyproject.toml")
        for name in ("corpus", ".cache", "bench"):
            if (ROOT / name).exists():
                os.symlink(ROOT / name, self.dir / name)

    def run(self, args: list[str], timeout: float) -> tuple[str, float]:
        """('pass' | 'fail' | 'timeout' | 'error', seconds) of the selected tests here."""
        env = dict(os.environ, PYTHONPATH=str(self.dir), PYTHONDONTWRITEBYTECODE="1")
        cmd = [PYTHON, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not slow",
               *args]
        t0 = time.monotonic()
        try:
            proc = subprocess.run(cmd, cwd=self.dir, env=env, capture_output=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return "timeout", time.monotonic() - t0
        seconds = time.monotonic() - t0
        if proc.returncode == 0:
            return "pass", seconds
        if proc.returncode == 1:
            return "fail", seconds
        return "error", seconds  # collection errors, interrupted: a mutant that breaks import

    def mutate(self, mutant: Mutant) -> None:
        (self.dir / mutant.module).write_text(mutated_source(mutant))

    def restore(self, mutant: Mutant) -> None:
        shutil.copy(ROOT / mutant.module, self.dir / mutant.module)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def campaign(mutants: list[Mutant], workers: int, timeout: float) -> dict[Mutant, str]:
    spaces = [Workspace() for _ in range(workers)]
    free = list(spaces)
    lock = threading.Lock()
    results: dict[Mutant, str] = {}
    done = 0

    def one(mutant: Mutant) -> None:
        nonlocal done
        with lock:
            ws = free.pop()
        try:
            ws.mutate(mutant)
            verdict, seconds = ws.run(selection(mutant.module), timeout)
        finally:
            ws.restore(mutant)
            with lock:
                free.append(ws)
        with lock:
            results[mutant] = verdict
            done += 1
            mark = "SURVIVED" if verdict == "pass" else f"killed ({verdict})"
            print(f"[{done}/{len(mutants)}] {mutant.describe()}: {mark} in {seconds:.0f} s",
                  flush=True)

    try:
        baseline = sorted({tuple(selection(m.module)) for m in mutants})
        for args in baseline:
            verdict, seconds = spaces[0].run(list(args), timeout)
            print(f"baseline {' '.join(args)}: {verdict} in {seconds:.0f} s", flush=True)
            if verdict != "pass":
                raise SystemExit(3)
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, mutants))
    finally:
        for ws in spaces:
            ws.remove()
    return results


def report(results: dict[Mutant, str]) -> str:
    by_module: dict[str, list[tuple[Mutant, str]]] = defaultdict(list)
    for m, v in results.items():
        by_module[m.module].append((m, v))
    lines = ["", f"{'module':<42} {'killed':>6} {'run':>4} {'score':>6}"]
    survivors = []
    killed_all = 0
    for mod in sorted(by_module):
        rows = by_module[mod]
        killed = sum(1 for _, v in rows if v != "pass")
        killed_all += killed
        lines.append(f"{mod:<42} {killed:>6} {len(rows):>4} {100 * killed / len(rows):>5.0f}%")
        survivors += [m for m, v in rows if v == "pass"]
    total = len(results)
    lines.append(f"{'all':<42} {killed_all:>6} {total:>4} "
                 f"{100 * killed_all / total if total else 0:>5.0f}%")
    lines.append(f"survivors ({len(survivors)}):")
    lines += [f"  {m.describe()}" for m in sorted(survivors, key=lambda m: (m.module, m.line))]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mutation", description=__doc__.split("\n\n")[0])
    p.add_argument("--mutants", type=int, default=200)
    p.add_argument("--seed", type=int, default=18)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timeout", type=float, default=240.0, help="seconds per mutant run")
    p.add_argument("--module", action="append", help="only this module (repeatable)")
    p.add_argument("--list", action="store_true", help="list the sampled mutants and stop")
    a = p.parse_args(argv)
    if a.mutants < 1 or a.workers < 1:
        p.error("--mutants and --workers must be positive")
    all_sites = {m: sites(m) for m in modules(a.module)}
    chosen = sample(all_sites, a.mutants, a.seed)
    print(f"mutation: {len(chosen)} mutants sampled (seed {a.seed}) from "
          f"{sum(len(s) for s in all_sites.values())} sites in {len(all_sites)} modules",
          flush=True)
    if a.list:
        for m in chosen:
            print(f"  {m.describe()}")
        return 0
    results = campaign(chosen, a.workers, a.timeout)
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
