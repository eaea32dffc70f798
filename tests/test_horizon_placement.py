"""Placement over a horizon: the first period is today's plan when nothing ties it to later
ones (every stack, byte for byte), the column generation finds the joint model's optimum,
planning the years beats planning each month alone, and the deployed period is the one asked.

Prices come from the price book, as in tests/test_placement.py: an 8-GPU H100 node costs $10/h
in aws/us-east-1, $12/h in aws/us-west-2 and $11/h in azure/eastus."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from gpufleet.burn import settle
from gpufleet.errors import InfeasibleError, SpecError
from gpufleet.horizon import HORIZON_GAP, contract_terms, period_spec, periods
from gpufleet.offline import SpecSource, run_plan
from gpufleet.pipeline import build_plan
from gpufleet.placement import candidates, closing, cost_model, place, plan_ledger
from gpufleet.placement import horizon as horizon_module
from gpufleet.placement.horizon import place_horizon
from gpufleet.placement.joint import HorizonModel
from gpufleet.plan import Placement
from gpufleet.spec import FleetSpec, load_fleet
from gpufleet.specfile import available_stacks, load_stack
from tests.conftest import fleet_of, planned_stack
from tests.test_placement import fleet, h100

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NEW_KEYS = ("horizon", "schedule", "commitments")


def monthly(start: str = "2026-01", months: int = 6) -> dict[str, Any]:
    return {"start": start, "months": months, "period": "month"}


def where(placements: tuple[Placement, ...]) -> dict[str, int]:
    return {p.key: p.nodes for p in placements}


def test_without_a_contract_each_period_is_todays_place_after_the_one_before() -> None:
    spec = load_fleet(fleet(
        [h100(gpus=16, schedule={"2026-03": 48, "2026-05": 32}), h100("serve", gpus=8)],
        horizon=monthly(), budget={"commitments": {"azure": 20000}},
    ))
    result = place_horizon(spec)
    before: tuple[Placement, ...] = ()
    for period_spec_, placements in zip(result.specs, result.placements, strict=True):
        alone = place(period_spec_, period_spec_.catalog(), before)
        assert placements == alone.placements
        before = placements
    assert where(result.placements[0]) == where(place(result.specs[0], result.specs[0].catalog()).placements)
    assert [sum(p.gpus for p in plan if p.pool == "train") for plan in result.placements] == [16, 16, 48, 48, 32, 32]


def _stable(document: dict[str, Any]) -> str:
    kept = {key: value for key, value in document.items() if key not in ("timings", *NEW_KEYS)}
    kept["solver"] = {key: value for key, value in document["solver"].items() if key != "seconds"}
    return json.dumps(kept, indent=2)


@pytest.mark.parametrize("source", [*available_stacks(), "data-gravity"])
def test_a_one_period_horizon_plans_every_existing_stack_byte_for_byte(source: str, tmp_path: Path) -> None:
    """Without the new keys a plan has none of them; with a horizon and nothing tying periods
    together, the deployed first period's `--stable` JSON is the same bytes (bar the new keys)."""
    if source == "data-gravity":
        spec_file = EXAMPLES / "data-gravity.yaml"
        plain = run_plan(SpecSource(spec=spec_file, stack_name=source)).document
        data = copy.deepcopy(load_fleet_file(spec_file))
    else:
        plain, data = planned_stack(source).document, copy.deepcopy(fleet_of(source))
    assert not set(NEW_KEYS) & set(plain)
    data["horizon"] = monthly(months=3)
    timed = tmp_path / "timed.yaml"
    timed.write_text(json.dumps(data), encoding="utf-8")
    over = run_plan(SpecSource(spec=timed, stack_name=source, period="2026-01")).document
    assert over["horizon"]["deployed"] == "2026-01"
    assert _stable(over) == _stable(plain)
    assert [p["moved_nodes"] for p in over["schedule"]] == [0, 0, 0]


def load_fleet_file(path: Path) -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def _joint_levels(spec: FleetSpec) -> tuple[float, float]:
    """The joint MILP's two cost levels, every period's block whole (no groups, no bounds)."""
    assert spec.horizon is not None
    blocks = []
    for period in periods(spec.horizon):
        here = period_spec(spec, period)
        found, _ = candidates(here, here.catalog())
        blocks.append((period, here, cost_model(here, found, None, grouped=False, limited=None)))
    model = HorizonModel(spec, blocks)
    first = model.milp.solve(model.cost)
    model.milp.row(-1e300, first.objective + 1e-6 + 1e-9 * abs(first.objective), model.cost)
    second = model.milp.solve(model.spend, first.values)
    assert first.optimal
    assert second.optimal
    return first.objective, second.objective


def _schedule_levels(spec: FleetSpec, plans: tuple[tuple[Placement, ...], ...]) -> tuple[float, float]:
    """A schedule's two cost levels as the joint model counts them: each period's spend ×
    months (contract clouds in full, flat commitments' excess), plus shortfalls less credit."""
    assert spec.horizon is not None
    cut = periods(spec.horizon)
    contracts = spec.budget.contracts()
    cost = spend = 0.0
    burns: list[dict[str, float]] = []
    for period, placements in zip(cut, plans, strict=True):
        here = period_spec(spec, period)
        by_cloud: dict[str, float] = dict(plan_ledger(here, placements).by_cloud())
        burns.append(by_cloud)
        spend += period.months * sum(by_cloud.values())
        cost += period.months * sum(
            usd if cloud in contracts else max(0.0, usd - here.budget.monthly_commitment(cloud))
            for cloud, usd in by_cloud.items()
        )
    for terms in contract_terms(spec, cut):
        by_month = {
            month: burns[p.index].get(terms.cloud, 0.0)
            for p in cut for month in range(max(p.first, terms.contract.first), min(p.end, terms.contract.end))
        }
        cost += settle(terms.checkpoints, by_month, terms.contract.shortfall == "credit").cost()
    return cost, spend


CONTRACTS: list[dict[str, Any]] = [
    {"azure": {"total_usd": 300000, "start": "2026-01", "months": 6, "minimum": "whole-term",
               "milestones": {"2026-03": 150000}, "shortfall": "credit"},
     "aws": {"total_usd": 60000, "start": "2025-10", "months": 12, "minimum": "per-year", "discount": 0.1}},
    {"aws": {"total_usd": 120000, "start": "2026-01", "months": 24, "minimum": "per-year",
             "ramp_usd": [70000, 50000], "shortfall": "cash", "burned_usd": 1000}},
    {"azure": {"total_usd": 90000, "start": "2025-12", "years": 1, "shortfall": "cash", "burns": ["compute"]},
     "aws": 5000.0},
]


def _two_pools(commitments: dict[str, Any]) -> FleetSpec:
    return load_fleet(fleet(
        [h100(gpus=16, schedule={"2026-03": 40, "2026-05": 24}), h100("serve", gpus=8)],
        horizon=monthly(), budget={"commitments": commitments},
    ))


@pytest.mark.parametrize("commitments", CONTRACTS, ids=["credit-milestone+per-year", "ramp", "cash+flat"])
def test_the_plan_is_proven_within_the_stated_gap_of_the_joint_models_optimum(commitments: dict[str, Any]) -> None:
    """"Optimal" over a horizon means proven within `HORIZON_GAP` (relative) of the joint
    MILP's optimum, solved exactly here: the plan costs at most that much more on level 1,
    never less, and the gap it reports bounds how much more it costs."""
    spec = _two_pools(commitments)
    result = place_horizon(spec)
    best = _joint_levels(spec)
    found = _schedule_levels(spec, result.placements)
    assert result.solver.status == "Optimal"
    assert result.solver.optimality_gap <= HORIZON_GAP
    assert best[0] - 1e-6 <= found[0] <= best[0] * (1 + result.solver.optimality_gap) + 1e-6


@pytest.mark.parametrize("commitments", CONTRACTS, ids=["credit-milestone+per-year", "ramp", "cash+flat"])
def test_with_no_gap_allowed_the_plan_is_the_joint_models_optimum(
    commitments: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the tolerance at 0 the joint MILP over every offer is solved to its proven optimum:
    both cost levels are the exact joint optimum's (the master's bound alone proves neither
    the first nor the third: a unit of nodes is a large part of so small a fleet's cost)."""
    monkeypatch.setattr(horizon_module, "HORIZON_GAP", 0.0)
    monkeypatch.setattr(closing, "HORIZON_GAP", 0.0)
    spec = _two_pools(commitments)
    result = place_horizon(spec)
    best = _joint_levels(spec)
    found = _schedule_levels(spec, result.placements)
    assert (result.solver.status, result.solver.optimality_gap) == ("Optimal", 0.0)
    assert found[0] == pytest.approx(best[0], rel=1e-9)
    assert found[1] == pytest.approx(best[1], rel=1e-9)


def test_a_plan_not_proven_within_the_gap_is_reported_feasible_with_a_true_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over the plans' offers alone, with no search, nothing proves the plan better than the
    master's bound does (0.3 % here): the status says Feasible, and the gap it reports is at
    least how far the plan is from the exact optimum."""
    monkeypatch.setattr(closing, "JOINT_COLUMNS", 0)
    monkeypatch.setattr(closing, "CLOSING_NODES", 0)
    spec = _two_pools(CONTRACTS[2])
    result = place_horizon(spec)
    best = _joint_levels(spec)[0]
    found = _schedule_levels(spec, result.placements)[0]
    assert result.solver.status == "Feasible"
    assert result.solver.optimality_gap > HORIZON_GAP
    assert result.solver.optimality_gap >= (found - best) / found - 1e-9


def test_planning_the_years_beats_planning_each_month_alone() -> None:
    """A year's AWS minimum the fleet would leave unburned: month by month the cheaper Azure
    takes every node and the shortfall is invoiced; planned over the year, enough nodes run on
    AWS to burn the minimum and the rest stays on Azure."""
    spec = load_fleet(fleet(
        [h100(gpus=32)], horizon=monthly(months=12),
        clouds={"aws": {"regions": ["us-east-1"]}, "azure": {"regions": ["eastus"]}},
        prices={"azure/eastus/Standard_ND96isr_H100_v5": 9.0},
        budget={"commitments": {"aws": {"total_usd": 100000, "start": "2026-01", "years": 1,
                                        "minimum": "per-year", "shortfall": "cash"}}},
    ))
    planned = place_horizon(spec)
    alone = tuple(place(s, s.catalog()).placements for s in planned.specs)
    assert all(p.cloud == "azure" for plan in alone for p in plan)  # each month alone: all on Azure
    assert any(p.cloud == "aws" for plan in planned.placements for p in plan)
    together, separately = _schedule_levels(spec, planned.placements)[0], _schedule_levels(spec, alone)[0]
    assert together < separately - 50000  # the $100,000 minimum would lapse; AWS costs $1,095/node-month more


def test_each_period_keeps_its_nodes_as_the_fleet_grows() -> None:
    """Moving 3 nodes from AWS to Azure as the fleet grows saves 1.0 % of the year (the
    minimum is met with both clouds open for one quarter only): with a 2 % tolerance every
    node stays where it was placed."""
    spec = load_fleet(fleet(
        [h100(gpus=16, schedule={"2026-04": 64})], horizon={"start": "2026-01", "months": 12, "period": "quarter"},
        budget={"commitments": {"azure": {"total_usd": 500000, "start": "2026-01", "years": 1, "shortfall": "credit"}}},
        placement={"stability_tolerance": 0.02},
    ))
    plan = build_plan(spec, "test", period="2026-07")
    assert plan.period == "2026-07"
    assert [p.moved_nodes for p in plan.schedule] == [0, 0, 0, 0]
    assert plan.placements == plan.schedule[2].placements


def test_the_deployed_period_is_the_one_asked_for_or_this_months(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_fleet(fleet([h100(gpus=8, schedule={"2026-04": 16})], horizon=monthly()))
    assert build_plan(spec, "t", period="2026-05").pools[0].gpus == 16
    monkeypatch.setattr("gpufleet.pipeline.current_month", lambda: 2025 * 12 + 6)  # before: the first
    assert build_plan(spec, "t").period == "2026-01"
    monkeypatch.setattr("gpufleet.pipeline.current_month", lambda: 2026 * 12 + 3)
    assert build_plan(spec, "t").period == "2026-04"
    monkeypatch.setattr("gpufleet.pipeline.current_month", lambda: 2027 * 12)
    with pytest.raises(SpecError, match=r"gpufleet:period: this month \(2027-01\) is after the horizon"):
        build_plan(spec, "t")


def test_a_period_without_a_placement_is_named() -> None:
    data = fleet([h100(gpus=16, schedule={"2026-03": 800})], horizon=monthly(),
                 quotas={"aws": {"us-east-1": {"L-417A185B": 3072}, "us-west-2": {"L-417A185B": 0}},
                         "azure": {"eastus": {"standardNDSH100v5Family": 960}}},
                 budget={"commitments": {"aws": {"total_usd": 1e6, "start": "2026-01", "years": 1}}})
    with pytest.raises(InfeasibleError, match=r"^period 2026-03: "):
        place_horizon(load_fleet(data))


def test_the_discount_lowers_list_prices_not_the_price_book() -> None:
    spec = load_fleet(fleet(
        [h100(gpus=16)], horizon=monthly(months=1), prices={"aws/us-east-1/p5.48xlarge": 10.0},
        clouds={"aws": {"regions": ["us-east-1", "us-east-2"]}, "azure": {"regions": ["eastus"]}},
        budget={"commitments": {"aws": {"total_usd": 1e6, "start": "2026-01", "years": 1, "discount": 0.2}}},
    ))
    catalog = spec.catalog()
    listed = catalog.offers[("aws", "p5.48xlarge", "us-east-2")]
    assert listed.price_usd_per_hour == pytest.approx(55.04 * 0.8)
    assert "less the aws commitment's 20 % discount" in listed.source
    booked = catalog.offers[("aws", "p5.48xlarge", "us-east-1")]
    assert (booked.price_usd_per_hour, booked.source) == (10.0, "price book: aws/us-east-1/p5.48xlarge")
    plan = build_plan(spec, "t", period="2026-01")
    fixed = [li for li in plan.cost.lines if li.cloud == "aws" and li.kind == "fixed"]
    assert fixed
    assert all("20 % discount" in li.source for li in fixed)
    control_plane = next(li for li in fixed if "control plane" in li.item.lower())
    assert control_plane.monthly_usd == pytest.approx(round(73.0 * 0.8, 2))


def test_plan_and_program_deploy_the_pinned_period(tmp_path: Path) -> None:
    data = fleet([h100(gpus=8, schedule={"2026-04": 24})], horizon=monthly())
    spec_file = tmp_path / "grow.yaml"
    spec_file.write_text(json.dumps(data), encoding="utf-8")
    early = run_plan(SpecSource(spec=spec_file, period="2026-02")).document
    late = run_plan(SpecSource(spec=spec_file, period="2026-04")).document
    assert [p["gpus"] for pool in early["pools"] for p in pool["placements"]] == [8]
    assert sum(p["gpus"] for pool in late["pools"] for p in pool["placements"]) == 24
    assert late["schedule"] == early["schedule"]
    assert late["horizon"]["deployed"] == "2026-04"
    assert load_stack("dev").horizon is None


def test_a_catalog_is_made_once_per_pricing_and_each_pricing_keeps_its_own() -> None:
    """Period specs ask for their catalog hundreds of times, so it is made once per SKUs,
    discounts and price book; a spec that prices differently never gets another's."""
    listed = ("aws", "p5.48xlarge", "us-east-2")
    plain = load_fleet(fleet([h100()], clouds={"aws": {"regions": ["us-east-1", "us-east-2"]}}))
    discounted = load_fleet(fleet(
        [h100()], clouds={"aws": {"regions": ["us-east-1", "us-east-2"]}}, horizon=monthly(months=1),
        budget={"commitments": {"aws": {"total_usd": 1e6, "start": "2026-01", "years": 1, "discount": 0.2}}},
    ))
    booked = load_fleet(fleet(
        [h100()], clouds={"aws": {"regions": ["us-east-1", "us-east-2"]}}, prices={"aws/us-east-2/p5.48xlarge": 30.0},
    ))
    assert plain.catalog() is plain.catalog()
    assert plain.catalog() is load_fleet(fleet([h100()], clouds={"aws": {"regions": ["us-east-1", "us-east-2"]}})).catalog()
    assert plain.catalog().offers[listed].price_usd_per_hour == pytest.approx(55.04)
    assert discounted.catalog().offers[listed].price_usd_per_hour == pytest.approx(55.04 * 0.8)
    assert booked.catalog().offers[listed].price_usd_per_hour == 30.0
    assert plain.catalog().offers[listed].price_usd_per_hour == pytest.approx(55.04)


def test_a_whole_term_minimum_met_through_credit_does_not_swing_the_fleet_between_clouds() -> None:
    """An Azure whole-term commitment with a milestone whose shortfall becomes credit: the term
    can be burned in any quarter of 2028 at one cost, and the plan used to burn it in two
    quarters apart, moving 16 nodes to AWS and back (48 moves). Its pace held each checkpoint's
    counted burn, after the credit drawn, as the burn to reach: too little, so the paced plan
    lost the minimum and was dropped. Paced by runs of months before credit, no node that
    leaves a cloud comes back, and fewer nodes move. (About 1 s: the smallest fleet that has
    the milestone, the credit and the term.)"""
    contract = {"total_usd": 2_000_000, "start": "2026-10", "years": 3, "minimum": "whole-term",
                "milestones": {"2027-12": 500_000}, "shortfall": "credit"}
    data = {**fleet([h100("train", 64, schedule={"2027-07": 128})]),
            "horizon": {"start": "2027-01", "months": 24, "period": "quarter"},
            "budget": {"monthly_usd": 10_000_000, "commitments": {"azure": contract}}}
    result = place_horizon(load_fleet(data))
    assert result.solver.status == "Optimal"
    counts = [{c: sum(p.nodes for p in plan if p.cloud == c) for c in ("aws", "azure")} for plan in result.placements]
    for cloud in ("aws", "azure"):
        nodes = [c[cloud] for c in counts]
        fell = next((i for i in range(1, len(nodes)) if nodes[i] < nodes[i - 1]), len(nodes))
        assert all(b <= a for a, b in zip(nodes[fell - 1:], nodes[fell:], strict=False)), (cloud, nodes)
    left = sum(max(0, before[c] - after[c]) for before, after in itertools.pairwise(counts) for c in before)
    assert left <= 16, counts
