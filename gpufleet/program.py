"""The gpufleet Pulumi program: stack config → validated spec → plan → resources.

Package code, so an installed gpufleet carries it: `pulumi up` runs it through the thin
`__main__.py` at the repository root, and `gpufleet plan` runs the very same function under the
recording mock engine (gpufleet/preview.py).
"""

from __future__ import annotations

from dataclasses import replace

import pulumi

from components import GpuFleet
from gpufleet.errors import GpufleetError
from gpufleet.live import quotas_from_json
from gpufleet.pipeline import build_plan
from gpufleet.plan import FleetPlan
from gpufleet.planjson import previous_placements
from gpufleet.spec import load_fleet

# Config key of the stage boundary: whether this run declares the in-cluster layer (device
# plugins, exporters) through a Kubernetes provider per cluster.
CLUSTER_SOFTWARE_KEY = "clusterSoftware"


def cluster_software(mode: str, flag: bool | None) -> bool:
    """Whether to declare the in-cluster layer. With `private` access only a run from inside the
    networks can reach the API servers, so the layer waits for `gpufleet:clusterSoftware true`
    (the second stage); with `allowlist` the runner is on the list and one run does both."""
    return flag if flag is not None else mode == "allowlist"


def fleet_program() -> FleetPlan:
    """Declare the fleet of config `gpufleet:fleet` (optionally keeping `gpufleet:previousPlan`'s
    placements) and export its outputs; return the plan so the offline engine can report it.
    With a horizon it declares one period's placements: `gpufleet:period` (YYYY-MM, set it to
    deploy reproducibly), else the period this month falls in (`pipeline.deployed_period`)."""
    config = pulumi.Config("gpufleet")
    try:
        spec = load_fleet(config.require_object("fleet"))
        live = quotas_from_json(config.get_object("liveQuotas"))  # `plan --live-quotas`
        previous = previous_placements(config.get("previousPlan"))
        plan = build_plan(spec, pulumi.get_stack(), previous, live, period=config.get("period"))
        plan = replace(
            plan, cluster_software=cluster_software(spec.access.mode, config.get_bool(CLUSTER_SOFTWARE_KEY))
        )
        fleet = GpuFleet(spec.name, plan)
    except GpufleetError as error:  # a user's mistake: the CLI prints RunError without a traceback
        raise pulumi.RunError(str(error)) from error
    for key, value in fleet.outputs.items():
        pulumi.export(key, value)
    pulumi.export("gpus", {pool.name: sum(p.gpus for p in pool.placements) for pool in plan.pools})
    pulumi.export("monthlyUsd", round(plan.cost.monthly_usd, 2))
    return plan
