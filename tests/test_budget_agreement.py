"""The planner and the gpu-budget policy judge the same money.

Placement's budget row counts GPU nodes and every opened region's fixed cost (control plane,
NAT gateways, system nodes) and storage copies, as `gpufleet.cost` prices the plan; so a budget
that covers the GPU nodes but not the rest is refused at planning time instead of passing the
planner and failing the mandatory gpu-budget policy on the resources.
"""

from __future__ import annotations

import math
import tempfile
from functools import cache
from pathlib import Path

import pytest
import yaml

from gpufleet.errors import InfeasibleError
from gpufleet.offline import OfflinePlan, SpecSource, run_plan
from gpufleet.pipeline import build_plan
from gpufleet.placement import place
from gpufleet.policy import evaluate, policy_config
from gpufleet.spec import load_fleet
from tests.conftest import fleet_of

STACKS = ["dev", "prod-eu"]


def with_budget(stack: str, monthly_usd: float) -> dict[str, object]:
    fleet = fleet_of(stack)
    fleet["budget"] = {**fleet["budget"], "monthly_usd": monthly_usd}
    return fleet


@cache
def totals(stack: str) -> tuple[float, float]:
    """(the whole plan's $/month, its GPU nodes' $/month) at the stack's own budget."""
    plan = build_plan(load_fleet(fleet_of(stack)), stack)
    return plan.cost.monthly_usd, sum(p.monthly_usd for p in plan.placements)


@pytest.mark.parametrize("stack", STACKS)
def test_a_budget_below_the_whole_plan_is_refused_by_placement(stack: str) -> None:
    total, gpu = totals(stack)
    budget = total - 1  # covers every GPU node; not the regions' fixed costs
    assert budget > gpu
    spec = load_fleet(with_budget(stack, budget))
    with pytest.raises(InfeasibleError) as caught:
        place(spec, spec.catalog())
    message = str(caught.value)
    assert message.startswith(f"cheapest placement costs ${total:,.0f}/month (GPU nodes ${gpu:,.0f}")
    assert f"above the budget ${budget:,.0f}" in message


@cache
def planned_within_budget(stack: str) -> OfflinePlan:
    """The stack planned with a budget of its own whole plan's cost rounded up to whole dollars
    (placement compares unrounded spend, the report rounds each line to cents)."""
    total, _ = totals(stack)
    path = Path(tempfile.mkdtemp()) / f"{stack}.yaml"
    path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": with_budget(stack, math.ceil(total))}}))
    return run_plan(SpecSource(spec=path))


@pytest.mark.parametrize("stack", STACKS)
def test_a_budget_that_covers_the_whole_plan_passes_placement_and_gpu_budget(stack: str) -> None:
    total, _ = totals(stack)
    offline = planned_within_budget(stack)
    assert offline.plan.solver.objective_usd == offline.plan.cost.monthly_usd == total
    verdict = next(v for v in offline.verdicts if v.policy == "gpu-budget")
    assert verdict.passed, verdict.violations


@pytest.mark.parametrize("stack", STACKS)
def test_gpu_budget_refuses_what_placement_refuses(stack: str) -> None:
    total, _ = totals(stack)
    offline = planned_within_budget(stack)
    config = policy_config(offline.plan.spec)
    config["gpu-budget"] = {**config["gpu-budget"], "monthly_usd": total - 1}
    verdict = next(v for v in evaluate(offline.recording.resources, config) if v.policy == "gpu-budget")
    assert not verdict.passed


def test_gpu_budget_prices_a_datasets_transfers_as_placement_does(tmp_path: Path) -> None:
    """prod-eu with its datasets' home in one AWS region: the copies elsewhere pay transfers
    on AWS, and the policy's figure over the declared resources matches the plan's to $1."""
    fleet = fleet_of("prod-eu")
    fleet["storage"][0].update(home="aws/eu-central-1", churn_tib=10)
    total = build_plan(load_fleet(fleet), "prod-eu").cost.monthly_usd
    fleet["budget"] = {**fleet["budget"], "monthly_usd": math.ceil(total)}
    path = tmp_path / "prod-eu.yaml"
    path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": fleet}}))
    offline = run_plan(SpecSource(spec=path))
    assert any(li.item.startswith("transfer") for li in offline.plan.cost.lines)
    assert offline.plan.solver.objective_usd == offline.plan.cost.monthly_usd == total
    assert next(v for v in offline.verdicts if v.policy == "gpu-budget").passed
    config = policy_config(offline.plan.spec)
    config["gpu-budget"] = {**config["gpu-budget"], "monthly_usd": total - 1}
    verdict = next(v for v in evaluate(offline.recording.resources, config) if v.policy == "gpu-budget")
    assert not verdict.passed
