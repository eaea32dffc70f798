"""The gpufleet Pulumi program: stack config → validated spec → plan → resources.

Package code, so an installed gpufleet carries it: `pulumi up` runs it through the thin
`__main__.py` at the repository root, and `gpufleet plan` runs the very same function under the
recording mock engine (gpufleet/preview.py).
"""

from __future__ import annotations

import pulumi

from components import GpuFleet
from gpufleet.errors import GpufleetError
from gpufleet.live import quotas_from_json
from gpufleet.pipeline import build_plan
from gpufleet.plan import FleetPlan
from gpufleet.planjson import previous_placements
from gpufleet.spec import load_fleet


def fleet_program() -> FleetPlan:
    """Declare the fleet of config `gpufleet:fleet` (optionally keeping `gpufleet:previousPlan`'s
    placements) and export its outputs; return the plan so the offline engine can report it."""
    config = pulumi.Config("gpufleet")
    try:
        spec = load_fleet(config.require_object("fleet"))
        live = quotas_from_json(config.get_object("liveQuotas"))  # `plan --live-quotas`
        plan = build_plan(spec, pulumi.get_stack(), previous_placements(config.get("previousPlan")), live)
        fleet = GpuFleet(spec.name, plan)
    except GpufleetError as error:  # a user's mistake: the CLI prints RunError without a traceback
        raise pulumi.RunError(str(error)) from error
    for key, value in fleet.outputs.items():
        pulumi.export(key, value)
    pulumi.export("gpus", {pool.name: sum(p.gpus for p in pool.placements) for pool in plan.pools})
    pulumi.export("monthlyUsd", round(plan.cost.monthly_usd, 2))
    return plan
