"""The gpufleet Pulumi program: stack config → validated spec → plan → resources.

`pulumi up` runs it with the real engine; `gpufleet plan` runs the very same file under the
recording mock engine (gpufleet/preview.py).
"""

import pulumi

from components import GpuFleet
from gpufleet.errors import GpufleetError
from gpufleet.pipeline import build_plan
from gpufleet.planjson import previous_placements
from gpufleet.spec import load_fleet

config = pulumi.Config("gpufleet")
try:
    spec = load_fleet(config.require_object("fleet"))
    plan = build_plan(spec, pulumi.get_stack(), previous_placements(config.get("previousPlan")))
    fleet = GpuFleet(spec.name, plan)
except GpufleetError as error:  # a user's mistake: the CLI prints RunError without a traceback
    raise pulumi.RunError(str(error)) from error
for key, value in fleet.outputs.items():
    pulumi.export(key, value)
pulumi.export("gpus", {pool.name: sum(p.gpus for p in pool.placements) for pool in plan.pools})
pulumi.export("monthlyUsd", round(plan.cost.monthly_usd, 2))
