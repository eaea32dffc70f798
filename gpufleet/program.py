"""The gpufleet Pulumi program: stack config → validated spec → plan → resources.

Package code, so an installed gpufleet carries it: `pulumi up` runs it through the thin
`__main__.py` at the repository root, and `gpufleet plan` runs the very same function under the
recording mock engine (gpufleet/preview.py). What declares the resources is given to it
(`Declare`): the core imports no Pulumi component, so the seam between them runs one way. The
root `__main__.py` passes the components' `declare_fleet`; the offline engine asks the installed
distribution for the same function (`installed_declare`, entry point `gpufleet.program:fleet` in
pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import cache
from importlib import metadata
from typing import TypeAlias, cast

import pulumi

from gpufleet.errors import GpufleetError
from gpufleet.live import quotas_from_json
from gpufleet.pipeline import build_plan
from gpufleet.plan import FleetPlan
from gpufleet.planjson import previous_placements
from gpufleet.spec import load_fleet

Declare: TypeAlias = Callable[[str, FleetPlan], Mapping[str, pulumi.Output[object]]]
"""Declares the resources of a plan for the fleet of that name; returns the stack outputs."""

DISTRIBUTION = "gpufleet"
ENTRY_POINT_GROUP = "gpufleet.program"
ENTRY_POINT = "fleet"

# Config key of the stage boundary: whether this run declares the in-cluster layer (device
# plugins, exporters) through a Kubernetes provider per cluster.
CLUSTER_SOFTWARE_KEY = "clusterSoftware"


def cluster_software(mode: str, flag: bool | None) -> bool:
    """Whether to declare the in-cluster layer. With `private` access only a run from inside the
    networks can reach the API servers, so the layer waits for `gpufleet:clusterSoftware true`
    (the second stage); with `allowlist` the runner is on the list and one run does both."""
    return flag if flag is not None else mode == "allowlist"


@cache
def installed_declare() -> Declare:
    """The function the installed gpufleet distribution names to declare a fleet's resources
    (its entry point `fleet` in group `gpufleet.program`), loaded once per process."""
    try:
        found = metadata.distribution(DISTRIBUTION).entry_points.select(group=ENTRY_POINT_GROUP, name=ENTRY_POINT)
    except metadata.PackageNotFoundError:
        found = metadata.EntryPoints(())
    if not found:
        raise GpufleetError(
            f"the {DISTRIBUTION} distribution names no program (entry point '{ENTRY_POINT}' of group "
            f"'{ENTRY_POINT_GROUP}'); install it (`make`, or `pip install -e .` in the repository)"
        )
    return cast(Declare, found[ENTRY_POINT].load())


def fleet_program(declare: Declare) -> FleetPlan:
    """Declare the fleet of config `gpufleet:fleet` (optionally keeping `gpufleet:previousPlan`'s
    placements) with `declare` and export its outputs; return the plan so the offline engine can
    report it. With a horizon it declares one period's placements: `gpufleet:period` (YYYY-MM,
    set it to deploy reproducibly), else the period this month falls in
    (`pipeline.deployed_period`)."""
    config = pulumi.Config("gpufleet")
    try:
        spec = load_fleet(config.require_object("fleet"))
        live = quotas_from_json(config.get_object("liveQuotas"))  # `plan --live-quotas`
        previous = previous_placements(config.get("previousPlan"))
        plan = build_plan(spec, pulumi.get_stack(), previous, live, period=config.get("period"))
        plan = replace(
            plan, cluster_software=cluster_software(spec.access.mode, config.get_bool(CLUSTER_SOFTWARE_KEY))
        )
        outputs = declare(spec.name, plan)
    except GpufleetError as error:  # a user's mistake: the CLI prints RunError without a traceback
        raise pulumi.RunError(str(error)) from error
    for key, value in outputs.items():
        pulumi.export(key, value)
    pulumi.export("gpus", {pool.name: sum(p.gpus for p in pool.placements) for pool in plan.pools})
    pulumi.export("monthlyUsd", round(plan.cost.monthly_usd, 2))
    return plan
