"""Reading specs from disk: a stack file (`config: gpufleet:fleet:`) or a bare fleet mapping."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import yaml

from gpufleet import safeyaml
from gpufleet.errors import CommandLineError, Problem, SpecError, shown
from gpufleet.spec import FleetSpec, load_fleet
from gpufleet.textfile import read_utf8

CONFIG_KEY = "gpufleet:fleet"
PROJECT_FILE = "Pulumi.yaml"
# The stage boundary (gpufleet/program.py): whether a run declares the in-cluster layer.
CLUSTER_SOFTWARE_CONFIG = "gpufleet:clusterSoftware"
# Config key of the period a horizon plan deploys (YYYY-MM); unset, the period this month falls in.
PERIOD_CONFIG = "gpufleet:period"

# Pulumi's rule for stack names: letters, digits, '-', '_', '.', at most 100 characters
# (pulumi/sdk go/common/tokens/names.go, ValidateStackName;
# https://www.pulumi.com/docs/iac/concepts/stacks/).
STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def stack_name_problem(name: str) -> str | None:
    """Why `name` is not a Pulumi stack name, or None when it is one."""
    if STACK_NAME.fullmatch(name):
        return None
    return (
        f"'{name}' is not a Pulumi stack name: use letters, digits, '-', '_' and '.' "
        "(1-100 characters)"
    )


def stack_of_file(path: Path, fleet: str) -> str:
    """The stack a spec file plans as (docs/design.md, "Commands"): <stack> for Pulumi's own
    file name Pulumi.<stack>.yaml (the stack's name, by Pulumi's convention), else the fleet's
    name, the stack `gpufleet init` makes of it: so `plan --spec`, `init`, `plan --stack` after
    it, `diff` and the workflow name one spec's stack alike, and no other file name counts."""
    match = re.fullmatch(r"Pulumi\.(.+)\.ya?ml", path.name)
    return match.group(1) if match and stack_name_problem(match.group(1)) is None else fleet


def find_project(start: Path | None = None) -> Path | None:
    """The Pulumi project around `start` (default: the working folder): the nearest folder at or
    above it holding Pulumi.yaml, as the Pulumi CLI finds it; None outside any project."""
    here = (start or Path.cwd()).resolve()
    return next((folder for folder in (here, *here.parents) if (folder / PROJECT_FILE).is_file()), None)


def project_root(root: Path | None = None) -> Path:
    """`root`, else the project around the working folder; outside one, a command-line error."""
    found = root or find_project()
    if found is None:
        raise CommandLineError([Problem("--stack", (
            f"no Pulumi project ({PROJECT_FILE}) in {Path.cwd()} or any folder above it; run from the "
            "project folder, or give the stack file with --spec FILE"
        ))])
    return found


def stacks_dir(root: Path) -> Path:
    """Where the project keeps its stack files: Pulumi.yaml's `stackConfigDir`, else the project
    folder (Pulumi's default; www.pulumi.com/docs/iac/concepts/projects/project-file/); a folder
    without Pulumi.yaml yet gets gpufleet's layout, `stacks/`."""
    if not (root / PROJECT_FILE).is_file():
        return root / "stacks"
    try:
        project = read_yaml(root / PROJECT_FILE, "project file")
    except SpecError:
        return root
    configured = typing.cast(dict[str, object], project).get("stackConfigDir") if isinstance(project, dict) else None
    return root / configured if isinstance(configured, str) and configured else root


def stack_path(stack: str, root: Path | None = None) -> Path:
    return stacks_dir(project_root(root)) / f"Pulumi.{stack}.yaml"


def available_stacks(root: Path | None = None) -> list[str]:
    folder = stacks_dir(project_root(root))
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in folder.glob("Pulumi.*.yaml"))


def read_yaml(path: Path, what: str = "spec file") -> Any:
    """Parse a YAML file within safeyaml's bounds; an error names the file, line and column."""
    text = read_utf8(path, what)
    try:
        return safeyaml.load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        kind = "YAML syntax error" if isinstance(error, safeyaml.SYNTAX_ERRORS) else "YAML"
        raise SpecError([Problem(f"{path}:{where}", f"{kind}: {error.problem}")]) from None
    except yaml.YAMLError as error:
        raise SpecError([Problem(str(path), f"YAML error: {shown(str(error))}")]) from None


def fleet_data(document: object) -> object:
    """The fleet mapping from a stack document or a bare spec document."""
    if isinstance(document, dict) and "config" in document:
        config = typing.cast(dict[str, object], document)["config"]
        if not isinstance(config, dict) or CONFIG_KEY not in config:
            raise SpecError([Problem("config", f"stack file has no '{CONFIG_KEY}' key")])
        return typing.cast(dict[str, object], config)[CONFIG_KEY]
    return typing.cast(object, document)


def read_fleet(path: Path) -> tuple[FleetSpec, object]:
    """The validated spec in a file and the raw fleet mapping; errors name the file."""
    data = fleet_data(read_yaml(path))
    try:
        return load_fleet(data), data
    except SpecError as error:
        raise SpecError(error.problems, source=str(path)) from None


def load_spec_file(path: Path) -> FleetSpec:
    return read_fleet(path)[0]


def existing_stack_path(stack: str, root: Path | None = None) -> Path:
    """The project's Pulumi.<stack>.yaml, or an error that lists the stacks there are."""
    bad_name = stack_name_problem(stack)
    if bad_name:
        raise CommandLineError([Problem("--stack", bad_name)])
    path = stack_path(stack, root)
    if not path.exists():
        known = ", ".join(available_stacks(root)) or "none"
        raise CommandLineError([Problem("--stack", f"no stack '{stack}' ({path} is missing); stacks: {known}")])
    return path


def load_stack(stack: str, root: Path | None = None) -> FleetSpec:
    return load_spec_file(existing_stack_path(stack, root))
