"""`gpufleet init`: a bare spec file becomes a Pulumi stack file that `pulumi up` reads.

The spec goes under the stack config key `gpufleet:fleet`, indented as it was written, so its
comments stay; it is validated first, and an existing stack file is only replaced on request.
A spec without `network.supernet` gets the smallest one that holds its pools
(`addresses.supernet_for`), said in a comment beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import yaml

from gpufleet import safeyaml
from gpufleet.addresses import SUPERNET_BASE, supernet_for
from gpufleet.errors import Problem, SpecError
from gpufleet.safewrite import write_text
from gpufleet.spec import FleetSpec, load_fleet
from gpufleet.specfile import (
    CONFIG_KEY,
    find_project,
    fleet_data,
    read_fleet,
    read_yaml,
    stack_name_problem,
    stack_of_file,
    stack_path,
)

SIZED = "sized by gpufleet init: the smallest 10.0.0.0 supernet that holds the pools"


def stack_document(spec: Path, data: object, added: str = "") -> str:
    """The stack file's text: the spec file's own lines (and the `added` lines) under `config:
    gpufleet:fleet:` when they read back to the same mapping, else the mapping written out by
    YAML."""
    text = spec.read_text(encoding="utf-8").rstrip("\n") + ("\n" + added if added else "")
    document = read_yaml(spec)
    if fleet_data(document) is not document:
        return text  # already a stack file (nothing is added to one)
    indented = "\n".join(f"    {line}" if line.strip() else "" for line in text.splitlines())
    stacked = f"config:\n  {CONFIG_KEY}:\n{indented}\n"
    if fleet_data(safeyaml.load(stacked)) == data:
        return stacked
    return yaml.safe_dump({"config": {CONFIG_KEY: data}}, sort_keys=False)


def init_stack(spec: Path, stack: str | None, root: Path, force: bool) -> tuple[str, Path]:
    """Write stacks/Pulumi.<stack>.yaml under `root` from a spec file; returns (stack, path).
    The stack is the one `plan --spec` plans the file as (`stack_of_file`: the fleet's name)
    unless `stack` is given."""
    document = read_yaml(spec)
    raw = fleet_data(document)
    added = ""
    if raw is document and isinstance(raw, dict) and "network" not in raw:  # a bare spec
        fleet, data, added = _with_supernet(spec, cast(dict[str, object], raw))
    else:
        fleet, data = read_fleet(spec)
    name = stack or stack_of_file(spec, fleet.name)
    bad_name = stack_name_problem(name)
    if bad_name:
        raise SpecError([Problem("--stack", bad_name)])
    path = stack_path(name, root)
    if path.exists() and not force:
        raise SpecError([Problem(str(path), "exists; pass --force to replace it, or --stack NAME for another stack")])
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Stack {name}: fleet {fleet.name}, from {spec.name} by `gpufleet init`.\n"
    write_text(path, header + stack_document(spec, data, added), flag="init")
    return name, path


def _with_supernet(spec: Path, raw: dict[str, object]) -> tuple[FleetSpec, dict[str, object], str]:
    """A spec without `network:` validated with the supernet sized for its pools: the spec, its
    mapping and the lines that add it. The pools are sized against RFC 1918's largest block first."""
    widest = {**raw, "network": {"supernet": f"{SUPERNET_BASE}/8"}}
    try:
        sized = supernet_for(load_fleet(widest))
    except SpecError as error:
        raise SpecError(error.problems, source=str(spec)) from None
    data = {**raw, "network": {"supernet": str(sized)}}
    return load_fleet(data), data, f"network:\n  supernet: {sized}  # {SIZED}\n"


def next_steps(stack: str, path: Path, root: Path) -> str:
    """What to run after `gpufleet init` (`--stack` finds the stacks of the project around the
    working folder)."""
    plan = f"--stack {stack}" if find_project() == root.resolve() else f"--spec {path}"
    return (
        f"wrote {path} (config key {CONFIG_KEY})\n"
        "next:\n"
        f"  gpufleet plan {plan}\n"
        f"  pulumi stack init {stack}\n"
        f"  gpufleet policy-config --stack {stack} --out policy-config.json\n"
        f"  pulumi up --stack {stack} --policy-pack policies --policy-pack-config policy-config.json\n"
    )
