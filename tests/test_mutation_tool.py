"""tests/mutation.py (``make mutation``) itself: its mutants are real, single and reproducible."""

from __future__ import annotations

import ast

import mutation as M


def test_every_site_of_a_module_is_one_compilable_change() -> None:
    sites = M.sites("bt/encode.py")
    assert len(sites) > 50
    original = ast.unparse(ast.parse((M.ROOT / "bt/encode.py").read_text()))
    kinds = set()
    for m in sites[::7]:
        source = M.mutated_source(m)
        compile(source, m.module, "exec")
        assert source != original, m.describe()
        changed = [a for a, b in zip(original.splitlines(), source.splitlines(), strict=False)
                   if a != b]
        assert len(changed) <= 1 or m.change == "call statement deleted", m.describe()
        kinds.add(m.change.split()[0])
    assert len(kinds) >= 4  # comparisons, operators, constants, ...


def test_docstrings_and_messages_are_left_alone() -> None:
    changes = {m.line for m in M.sites("runtime/pc/delivery.py")}
    lines = (M.ROOT / "runtime/pc/delivery.py").read_text().splitlines()
    assert not any(lines[n - 1].lstrip().startswith(('"""', "#")) for n in changes)


def test_sampling_is_fixed_by_the_seed_and_covers_every_module() -> None:
    all_sites = {m: M.sites(m) for m in M.modules()}
    a, b = M.sample(all_sites, 200, 18), M.sample(all_sites, 200, 18)
    assert a == b and a != M.sample(all_sites, 200, 19)
    assert {m.module for m in a} == {mod for mod, s in all_sites.items() if s}
    assert 180 <= len(a) <= 220


def test_selection_names_existing_tests() -> None:
    for module in M.modules():
        args = M.selection(module)
        files = [a.split("::")[0] for a in args if a.startswith("tests/")]
        assert files and all((M.ROOT / f).exists() for f in files), module
