"""The shape of the code: gpufleet's modules import one another without a cycle, and no module of
gpufleet/ or components/ grows past MAX_LINES.

Imports are read with `ast`, at module level and inside functions alike (an import moved into a
function to dodge a cycle still is one); only `if TYPE_CHECKING:` blocks are skipped, as they
never run.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "gpufleet"
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: str) -> dict[str, Path]:
    """Every module of the package by dotted name; a package's `__init__` under the package's name."""
    return {module_name(path): path for path in sorted((ROOT / package).rglob("*.py"))}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under `node`, at any depth, outside `if TYPE_CHECKING:` bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _type_checking_only(child):
            for other in child.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]))
        else:
            yield from _imports(child)


def _owner(name: str, known: set[str]) -> str | None:
    """The module `name` lives in: itself, or the longest dotted prefix that is a known module."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The known modules that module `name` (at `path`) imports.

    `from P import x` imports module P.x when x is a submodule, else P itself (a name defined in
    P, or re-exported by P's `__init__`); relative imports resolve against the module's package.
    """
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        found |= {owner for target in targets if (owner := _owner(target, known)) is not None}
    found.discard(name)
    return found


def import_graph(package: str) -> dict[str, set[str]]:
    found = modules(package)
    known = set(found)
    return {name: imported(name, path, known) for name, path in found.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, in sorted order)."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for target in sorted(graph.get(node, set())):
            if target in on_path:
                return [*path[path.index(target):], target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        on_path.discard(path.pop())
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_gpufleet_has_no_import_cycle() -> None:
    graph = import_graph(PACKAGE)
    assert graph["gpufleet.pipeline"] >= {"gpufleet.placement", "gpufleet.ipam", "gpufleet.cost"}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_sees_imports_inside_functions_and_skips_type_checking_blocks(
    tmp_path: Path,
) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg import c\n"
        "def f() -> None:\n    from pkg.b import thing\n"
    )
    (tmp_path / "a.py").write_text(source)
    (tmp_path / "b.py").write_text("from . import a\n")
    known = {"pkg", "pkg.a", "pkg.b", "pkg.c"}
    assert imported("pkg.a", tmp_path / "a.py", known) == {"pkg.b"}
    assert imported("pkg.b", tmp_path / "b.py", known) == {"pkg.a"}
    assert find_cycle({"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}}) == ["pkg.a", "pkg.b", "pkg.a"]
    assert find_cycle({"pkg.a": {"pkg.b"}, "pkg.b": set()}) is None


def test_no_module_is_over_the_line_limit() -> None:
    too_long = {
        str(path.relative_to(ROOT)): lines
        for folder in (PACKAGE, "components")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines (split them by job): {too_long}"


def test_the_policy_pack_loads_no_solver() -> None:
    """The quota policy reads buckets from `gpufleet.quota`, which imports neither HiGHS nor numpy."""
    probe = (
        "import sys; import gpufleet.policy.pack, gpufleet.quota;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('highspy', 'numpy')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"


def test_code_cites_only_sections_the_design_document_has() -> None:
    """A design citation (docs/design.md, then a quoted section) names a heading that exists."""
    root = ROOT
    headings = {
        line.lstrip("#").strip().removesuffix(" (contract)")
        for line in (root / "docs" / "design.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }
    cited = {
        (path.relative_to(root).as_posix(), section)
        for folder in ("gpufleet", "components", "policies", "tests")
        for path in (root / folder).rglob("*.py")
        for section in re.findall(r'docs/design\.md, "([^"]+)"', path.read_text(encoding="utf-8"))
    }
    assert cited, "nothing cites the design document"
    assert [c for c in cited if c[1] not in headings] == []
