"""Reading specs from disk: a stack file (`config: gpufleet:fleet:`) or a bare fleet mapping."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml

from gpufleet.errors import Problem, SpecError
from gpufleet.spec import FleetSpec, load_fleet

CONFIG_KEY = "gpufleet:fleet"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def stack_path(stack: str, root: Path = PROJECT_ROOT) -> Path:
    return root / "stacks" / f"Pulumi.{stack}.yaml"


def available_stacks(root: Path = PROJECT_ROOT) -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (root / "stacks").glob("Pulumi.*.yaml"))


def read_yaml(path: Path) -> Any:
    """Parse YAML; a syntax error names the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError([Problem(str(path), f"cannot read file: {error.strerror}")]) from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        raise SpecError([Problem(f"{path}:{where}", f"YAML syntax error: {error.problem}")]) from None
    except yaml.YAMLError as error:
        raise SpecError([Problem(str(path), f"YAML error: {error}")]) from None


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


def existing_stack_path(stack: str, root: Path = PROJECT_ROOT) -> Path:
    """stacks/Pulumi.<stack>.yaml, or an error that lists the stacks there are."""
    path = stack_path(stack, root)
    if not path.exists():
        known = ", ".join(available_stacks(root)) or "none"
        raise SpecError([Problem("--stack", f"no stack '{stack}' ({path} is missing); stacks: {known}")])
    return path


def load_stack(stack: str, root: Path = PROJECT_ROOT) -> FleetSpec:
    return load_spec_file(existing_stack_path(stack, root))
