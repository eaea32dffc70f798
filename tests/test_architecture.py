"""The shape of the code, over the whole repository (gpufleet/, components/, policies/ and the
root __main__.py): no import cycle, the core and the policies import no Pulumi component, each
cloud lives in one place, and no module grows past MAX_LINES.

Imports are read with `ast`, at module level and inside functions alike (an import moved into a
function to dodge a cycle still is one); only `if TYPE_CHECKING:` blocks are skipped, as they
never run. Importing `a.b.c` also runs the package `__init__` of `a.b` (and `a`), so an import
counts as an edge to every package on the way that the importer is not itself inside: that is
how `catalog/__init__` importing the registry, while the cloud models import `catalog.limits`,
is a knot. A module named by a string and loaded at run time (a cloud's `live_module`, the
distribution's program entry point) is a plug-in above the registry, not an import statement.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from gpufleet import clouds

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("gpufleet", "components", "policies")
ROOT_MODULES = ("__main__.py",)
CORE, COMPONENTS, POLICIES = FOLDERS
CLOUD_PACKAGES = "gpufleet.clouds"
MAX_LINES = 500


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files(root: Path = ROOT) -> list[Path]:
    """Every Python module the architecture covers."""
    found = [path for folder in FOLDERS for path in sorted((root / folder).rglob("*.py"))]
    return found + [root / name for name in ROOT_MODULES if (root / name).exists()]


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every covered module by dotted name; a package's `__init__` under the package's name."""
    return {module_name(path, root): path for path in source_files(root)}


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


def _packages_on_the_way(target: str, importer: str, known: set[str]) -> set[str]:
    """The package `__init__`s importing `target` runs that `importer` is not already inside."""
    parts = target.split(".")
    inside = {".".join(importer.split(".")[:end]) for end in range(1, importer.count(".") + 2)}
    return {
        package for end in range(1, len(parts))
        if (package := ".".join(parts[:end])) in known and package not in inside
    }


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The known modules that module `name` (at `path`) imports, package `__init__`s included.

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
        for target in targets:
            owner = _owner(target, known)
            if owner is not None:
                found |= {owner, *_packages_on_the_way(owner, name, known)}
    found.discard(name)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    found = modules(root)
    known = set(found)
    return {name: imported(name, path, known) for name, path in found.items()}


def knots(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every set of modules that import one another in a ring (strongly connected components
    of more than one module), largest first; each sorted (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, set()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, set())))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found, key=lambda c: (-len(c), c))


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a] inside the first knot, or None."""
    found = knots(graph)
    if not found:
        return None
    members = set(found[0])
    path = [found[0][0]]
    while True:
        step = min(t for t in graph[path[-1]] if t in members and (t not in path or t == path[0]))
        if step in path:
            return [*path[path.index(step):], step]
        path.append(step)


def _describe(knot: list[str]) -> str:
    shown = ", ".join(knot) if len(knot) <= 12 else ", ".join(knot[:12]) + ", ..."
    return f"a knot of {len(knot)} modules ({shown})"


def _inside(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def seam_breaks(graph: dict[str, set[str]], clouds: list[str]) -> list[str]:
    """Every import that crosses the seam the wrong way: the core or the policies into a Pulumi
    component, and into one cloud's packages from anywhere but that cloud, the registry (its
    package `__init__`) and the components' builder map (their root)."""
    breaks: list[str] = []
    for importer, targets in sorted(graph.items()):
        for target in sorted(targets):
            if _inside(target, COMPONENTS) and (_inside(importer, CORE) or _inside(importer, POLICIES)):
                breaks.append(f"{importer} imports the component {target}")
            for cloud in clouds:
                homes = (f"{CLOUD_PACKAGES}.{cloud}", f"{COMPONENTS}.{cloud}")
                owner = next((home for home in homes if _inside(target, home)), None)
                allowed = {CLOUD_PACKAGES} if owner == homes[0] else {COMPONENTS, "__main__"}
                if owner and importer not in allowed and not any(_inside(importer, home) for home in homes):
                    breaks.append(f"{importer} imports {target}, which only {cloud}'s own packages may")
    return breaks


def test_the_repository_has_no_import_cycle() -> None:
    graph = import_graph()
    assert graph["gpufleet.pipeline"] >= {"gpufleet.placement", "gpufleet.ipam", "gpufleet.cost"}
    assert "gpufleet.program" in graph["__main__"]
    found = knots(graph)
    assert found == [], "import cycles: " + "; ".join(_describe(knot) for knot in found)


def test_the_core_and_the_policies_import_no_component_and_each_cloud_lives_in_one_place() -> None:
    shipped = list(clouds.names())
    assert shipped == ["aws", "azure"]
    assert seam_breaks(import_graph(), shipped) == []
    assert [c for c in shipped if not (ROOT / CORE / "clouds" / c / "__init__.py").exists()] == [], "one package a cloud"


def test_the_cycle_finder_sees_imports_inside_functions_package_inits_and_skips_type_checking(
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
    # a module outside `cat` importing cat.limits runs cat/__init__ too; cat's own modules do not
    (tmp_path / "m.py").write_text("from cat.limits import Limit\n")
    known = {"cat", "cat.limits", "cat.other", "reg", "m"}
    assert imported("m", tmp_path / "m.py", known) == {"cat.limits", "cat"}
    assert imported("cat.other", tmp_path / "m.py", known) == {"cat.limits"}
    graph = {"cat": {"reg"}, "reg": {"m"}, "m": {"cat.limits", "cat"}, "cat.limits": set()}
    assert knots(graph) == [["cat", "m", "reg"]]


def test_the_seam_check_sees_each_wrong_way_import() -> None:
    graph = {
        "gpufleet.program": {"components"},
        "gpufleet.clouds.aws": {"components.aws"},
        "gpufleet.policy.x": {"gpufleet.clouds.azure.residency"},
        "components.aws.vpn": {"gpufleet.clouds.azure", "gpufleet.clouds.aws"},
        "components": {"components.aws", "gpufleet.clouds"},
        "gpufleet.clouds": {"gpufleet.clouds.aws"},
    }
    assert seam_breaks(graph, ["aws", "azure"]) == [
        "components.aws.vpn imports gpufleet.clouds.azure, which only azure's own packages may",
        "gpufleet.clouds.aws imports the component components.aws",
        "gpufleet.policy.x imports gpufleet.clouds.azure.residency, which only azure's own packages may",
        "gpufleet.program imports the component components",
    ]


def test_no_module_is_over_the_line_limit() -> None:
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in source_files()
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
        for folder in (*FOLDERS, "tests")
        for path in (root / folder).rglob("*.py")
        for section in re.findall(r'docs/design\.md, "([^"]+)"', path.read_text(encoding="utf-8"))
    }
    assert cited, "nothing cites the design document"
    assert [c for c in cited if c[1] not in headings] == []
