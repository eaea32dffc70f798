"""The horizon's shortcuts keep it exact: on small random horizons the plan is within the gap
it reports of the joint MILP's optimum, however the searches near the master's mix end
(`master.AROUND_NODES`); periods alike share one cheapest-plan search (`_Joint._cheapest`),
and a paced schedule sure to be dropped stops early (`_Joint._schedule`), without changing the
plan.

Prices as in tests/test_placement.py: an 8-GPU H100 node costs $10/h in aws/us-east-1, $12/h
in aws/us-west-2 and $11/h in azure/eastus."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet.horizon import HORIZON_GAP
from gpufleet.placement import horizon as horizon_module
from gpufleet.placement.horizon import place_horizon
from gpufleet.spec import FleetSpec, load_fleet
from tests.test_horizon_placement import _joint_levels, _schedule_levels, monthly
from tests.test_placement import fleet, h100

_Joint = horizon_module._Joint  # pyright: ignore[reportPrivateUsage]


@st.composite
def horizons(draw: st.DrawFn) -> FleetSpec:
    """A 4-month horizon of one or two pools growing or shrinking, under an AWS per-year or
    an Azure whole-term contract (cash or credit, with a milestone or not), or both."""
    gpus = draw(st.sampled_from([8, 16, 24]))
    later = draw(st.sampled_from([None, 8, 32, 40]))
    pools = [h100(gpus=gpus, schedule={"2026-03": later}) if later else h100(gpus=gpus)]
    if draw(st.booleans()):
        pools.append(h100("serve", gpus=8))
    commitments: dict[str, Any] = {}
    if draw(st.booleans()):
        commitments["aws"] = {"total_usd": draw(st.sampled_from([20_000, 60_000, 150_000])), "start": "2026-01",
                              "months": 12, "minimum": "per-year", "discount": draw(st.sampled_from([0.0, 0.1]))}
    if not commitments or draw(st.booleans()):
        azure: dict[str, Any] = {"total_usd": draw(st.sampled_from([40_000, 90_000, 200_000])), "start": "2026-01",
                                 "months": 4, "minimum": "whole-term",
                                 "shortfall": draw(st.sampled_from(["cash", "credit"]))}
        if draw(st.booleans()):
            azure["milestones"] = {"2026-02": azure["total_usd"] / 2}
        commitments["azure"] = azure
    tolerance = draw(st.sampled_from([0.0, 0.01]))
    return load_fleet(fleet(pools, horizon=monthly(months=4), budget={"commitments": commitments},
                            placement={"stability_tolerance": tolerance}))


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=horizons())
def test_the_plan_is_within_its_reported_gap_of_the_joint_optimum(spec: FleetSpec) -> None:
    """Level 1 within the reported gap of the joint optimum, plus what keeping nodes may cost
    (the stability tolerance of the total spend: docs/design.md, "Multi-period placement")."""
    result = place_horizon(spec)
    best = _joint_levels(spec)
    found = _schedule_levels(spec, result.placements)
    assert result.solver.status == "Optimal"
    assert result.solver.optimality_gap <= HORIZON_GAP
    allowed = best[0] * (1 + result.solver.optimality_gap) + float(spec.placement.stability_tolerance) * found[1]
    assert best[0] - 1e-6 <= found[0] <= allowed + 1e-6


def test_periods_alike_share_one_cheapest_plan_search_and_the_plan_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four months of one fleet under two contracts: some periods ask the same search (same
    spec, candidates, target and start), made once; made for each period instead, the plan
    is the same."""
    spec = load_fleet(fleet(
        [h100(gpus=32), h100("serve", gpus=16)], horizon=monthly(months=4),
        budget={"commitments": {
            "aws": {"total_usd": 30_000, "start": "2026-01", "years": 1, "minimum": "per-year"},
            "azure": {"total_usd": 100_000, "start": "2026-01", "months": 4, "minimum": "whole-term",
                      "shortfall": "credit"},
        }},
    ))
    searches: list[int] = []
    finishes: list[int] = []
    cheapest, finished = _Joint._cheapest, _Joint._finished

    def searched(self: Any, *args: Any) -> Any:
        searches.append(1)
        return cheapest(self, *args)

    def counted(self: Any, *args: Any) -> Any:
        finishes.append(1)
        return finished(self, *args)

    monkeypatch.setattr(_Joint, "_cheapest", searched)
    monkeypatch.setattr(_Joint, "_finished", counted)
    shared = place_horizon(spec)
    assert 0 < len(searches) < len(finishes)

    def forgetting(self: Any, *args: Any) -> Any:
        self.cheapest.clear()
        return finished(self, *args)

    monkeypatch.setattr(_Joint, "_finished", forgetting)
    each = place_horizon(spec)
    assert shared.placements == each.placements
    assert shared.solver.status == each.solver.status == "Optimal"


@pytest.mark.parametrize(("gpus", "later", "aws", "azure", "shortfall"), [
    (8, None, 20_000, 30_000, "credit"), (16, 8, 60_000, 40_000, "cash"),
])
def test_a_paced_schedule_sure_to_be_dropped_stops_early_and_the_plan_stays(
    gpus: int, later: int | None, aws: int, azure: int, shortfall: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The periods finished and what the others must burn already cost more than the stability
    tolerance allows: the paced schedule stops there (it would be dropped), and the plan is the
    one the whole paced schedule, searched and dropped, leaves."""
    spec = load_fleet(fleet(
        [h100(gpus=gpus, schedule={"2026-03": later}) if later else h100(gpus=gpus)], horizon=monthly(months=4),
        clouds={"aws": {"regions": ["us-east-1"]}, "azure": {"regions": ["eastus"]}},
        budget={"commitments": {
            "aws": {"total_usd": aws, "start": "2026-01", "months": 12, "minimum": "per-year"},
            "azure": {"total_usd": azure, "start": "2026-01", "months": 4, "minimum": "whole-term",
                      "shortfall": shortfall},
        }},
    ))
    schedule = _Joint._schedule
    stopped: list[bool] = []

    def watched(self: Any, *args: Any, within: tuple[float, float] | None = None) -> Any:
        plans = schedule(self, *args, within=within)
        if within is not None:
            stopped.append(plans is None)
        return plans

    monkeypatch.setattr(_Joint, "_schedule", watched)
    early = place_horizon(spec)

    def to_the_end(self: Any, *args: Any, within: tuple[float, float] | None = None) -> Any:
        del within  # the whole paced schedule, dropped at its end
        return schedule(self, *args)

    monkeypatch.setattr(_Joint, "_schedule", to_the_end)
    whole = place_horizon(spec)
    assert stopped == [True]
    assert early.placements == whole.placements
    assert early.solver.status == whole.solver.status == "Optimal"
