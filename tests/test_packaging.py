"""An installed gpufleet carries everything it runs: the Pulumi program is package code, the root
`__main__.py` is only the entry point `pulumi up` uses, the distribution names the components'
`declare_fleet` as the program's resources, and the wheel's data is declared.
The full check (a wheel installed into its own venv, run outside the checkout) is .ci/installed_check.sh."""

from __future__ import annotations

import ast
import re
import runpy
import tomllib
from collections.abc import Callable
from pathlib import Path

from gpufleet import preview
from gpufleet.preview import Recording, record_program
from tests.conftest import stack_config

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gpufleet"


def test_the_engine_runs_the_program_from_the_package_not_a_file_beside_it() -> None:
    tree = ast.parse(Path(preview.__file__).read_text(encoding="utf-8"))
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert "__file__" not in names  # no path relative to the package, which site-packages breaks
    assert "runpy" not in imported
    assert "gpufleet.program" in imported


def test_root_main_only_calls_the_package_program() -> None:
    tree = ast.parse((ROOT / "__main__.py").read_text(encoding="utf-8"))
    body = [node for node in tree.body if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
    assert [ast.unparse(node) for node in body] == [
        "from components import declare_fleet",
        "from gpufleet.program import fleet_program",
        "fleet_program(declare_fleet)",
    ]


def test_the_distribution_names_the_components_as_the_programs_resources() -> None:
    """The offline plan finds the resources through the installed distribution, so the core
    names no component (pyproject's entry point, read back as the engine reads it)."""
    import components
    from gpufleet.program import ENTRY_POINT, ENTRY_POINT_GROUP, installed_declare

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"][ENTRY_POINT_GROUP] == {ENTRY_POINT: "components:declare_fleet"}
    assert installed_declare() is components.declare_fleet


def test_pulumi_up_entry_point_declares_what_gpufleet_plan_records(recorded: Callable[[str], Recording]) -> None:
    def as_pulumi_runs_it() -> None:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    through_main = record_program("dev", stack_config("dev"), program=as_pulumi_runs_it)
    packaged = recorded("dev")
    assert sorted(r.urn for r in through_main.resources) == sorted(r.urn for r in packaged.resources)
    assert through_main.outputs.keys() == packaged.outputs.keys()
    assert {"gpus", "monthlyUsd"} <= through_main.outputs.keys()


def test_package_data_declares_the_catalog_and_every_package_is_found() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    data = setuptools["package-data"]["gpufleet"]
    for pattern in data:
        assert list(PACKAGE.glob(pattern)), pattern
    read = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*") if p.is_file() and p.suffix in {".csv", ".md"}}
    assert read <= {p.relative_to(PACKAGE).as_posix() for pattern in data for p in PACKAGE.glob(pattern)}
    include = setuptools["packages"]["find"]["include"]
    for init in [*PACKAGE.rglob("__init__.py"), *(ROOT / "components").rglob("__init__.py")]:
        name = init.parent.relative_to(ROOT).as_posix().replace("/", ".")
        assert any(name.startswith(prefix.rstrip("*")) for prefix in include), name


def test_every_install_compiles_bytecode() -> None:
    """Issue 30: uv does not compile unless asked, so under PYTHONDONTWRITEBYTECODE every plan
    compiled the cloud SDKs again (about half of it); pip compiles by default."""
    scripts = [ROOT / "Makefile", *sorted((ROOT / ".ci").iterdir()), *sorted((ROOT / ".github" / "workflows").iterdir())]
    installs = [
        (path.name, line.strip()) for path in scripts for line in path.read_text(encoding="utf-8").splitlines()
        if re.search(r"pip\b.*\binstall\b", line) and not line.lstrip().startswith("#")
    ]
    assert any("UV" in line or "uv" in line.split() for _, line in installs)
    for name, line in installs:
        uv = re.search(r"\$\(UV\)|\"\$uv\"", line) is not None
        assert not uv or "--compile-bytecode" in line, (name, line)
        assert "--no-compile" not in line, (name, line)
