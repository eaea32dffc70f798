"""`gpufleet explain` is true: each binding reason is the rule that binds (one small fleet per
reason), and every break-even price it reports is what re-planning does: a spec whose price
book carries the price 1 % lower takes the nodes, 1 % higher does not. Re-plans here go through
`load_fleet` and `place` with the price written into the spec, not through explain's own
re-planner, so a mistake in either shows."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.breakeven import Replanner
from gpufleet.catalog import price_key
from gpufleet.cli import main
from gpufleet.explain import Explanation, explain
from gpufleet.placement import place, plan_ledger
from gpufleet.reasons import REASONS
from gpufleet.spec import load_fleet
from tests.conftest import fleet_of
from tests.test_placement import fleet, h100

BASE = fleet([h100("train", 16)])  # 2 nodes in aws/us-east-1 ($10/h); us-west-2 $12, azure/eastus $11
EAST, WEST, AZURE = "aws/us-east-1/p5.48xlarge", "aws/us-west-2/p5.48xlarge", "azure/eastus/Standard_ND96isr_H100_v5"


def _offer(e: Explanation) -> str:
    return e.offer.key


def _nodes_at(data: dict[str, Any], e: Explanation, price: float) -> int:
    """Nodes of the explained pool on the offer when the spec's price book sets its price."""
    spot = load_fleet(data).pool(e.pool).capacity == "spot"
    key = price_key(e.offer.cloud, e.offer.region, e.offer.sku.instance_type, spot=spot)
    spec = load_fleet({**data, "prices": {**data.get("prices", {}), key: round(price, 6)}})
    placed = place(spec, spec.catalog()).placements
    return sum(p.nodes for p in placed if p.pool == e.pool and f"{p.cloud}/{p.region}/{p.instance_type}" == e.offer.key)


def _check_break_evens(data: dict[str, Any]) -> int:
    checked = 0
    for e in explain(load_fleet(data)):
        assert "did not solve" not in e.sentence, e.sentence  # every offer has its answer
        if e.even is None:
            continue
        price = e.even.price_usd_per_hour
        assert e.price_usd_per_hour is not None
        assert price < e.price_usd_per_hour
        assert _nodes_at(data, e, price * 0.99) > e.nodes, e.sentence
        assert _nodes_at(data, e, price * 1.01) <= e.nodes, e.sentence
        checked += 1
    return checked


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("stack", ["dev", "prod-eu"])
def test_every_break_even_of_the_sample_stacks_is_what_replanning_does(stack: str) -> None:
    assert _check_break_evens(fleet_of(stack)) >= 3


@pytest.mark.parametrize(("name", "break_evens"), [("data-gravity", 2), ("gb200-racks", 0)])
def test_every_break_even_of_the_small_examples_is_what_replanning_does(name: str, break_evens: int) -> None:
    """(examples/two-deals.yaml's 32,768 GPUs are explained by benchmarks/explain.py, whose
    `failed` column counts offers left without an answer.)"""
    assert _check_break_evens(yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))) == break_evens


def test_break_evens_of_a_small_fleet_with_a_quota_and_a_share() -> None:
    data = {**BASE, "quotas": {"aws": {"us-east-1": {"L-417A185B": 192}}}}
    assert _check_break_evens(data) == 2


def test_the_break_even_is_a_whole_cent_a_cent_above_which_the_offer_stays_empty() -> None:
    (west,) = [e for e in explain(load_fleet(BASE)) if _offer(e) == WEST]
    assert west.even is not None
    cents = round(west.even.price_usd_per_hour * 100)
    assert cents == west.even.price_usd_per_hour * 100
    assert _nodes_at(BASE, west, cents / 100) == west.even.nodes == 2
    assert _nodes_at(BASE, west, (cents + 1) / 100) == 0
    assert west.sentence == ("aws/us-west-2 p5.48xlarge would take 2 nodes of train at ≤ $9.99/h "
                             "(today $12.00, 16.8 % lower)")


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("price", BASE, WEST),
    ("quota", {**BASE, "quotas": {"aws": {"us-east-1": {"L-417A185B": 192}}}}, EAST),
    ("share", {**BASE, "pools": [h100("train", 16, min_share={"azure": 0.5})]}, EAST),
    ("limit", {**BASE, "limits": {"aws": {"us-east-1": {"node_groups_per_cluster": 1}}}}, EAST),
    ("unavailable", {**BASE, "capacity": {"unavailable": ["aws/us-east-1/*"]}}, EAST),
    ("unavailable", {**BASE, "capacity": {"available": {EAST: 1}}}, EAST),
    ("no-price", fleet([h100("train", 16, capacity="spot")], prices={f"{EAST}:spot": 5.0, f"{WEST}:spot": 6.0}),
     AZURE),
    ("commitment", {**BASE, "budget": {"commitments": {"azure": 20_000}}}, EAST),
    ("data", {**BASE, "storage": [{"name": "corpus", "size_tib": 400, "colocate_with": ["train"],
                                   "home": "azure/eastus", "churn_tib": 40}]}, EAST),
]
NOT_PRODUCED = {
    "sovereignty": "the spec refuses a configured region outside sovereignty.jurisdictions",
    "stability": "explain re-plans without a previous plan",
}


@pytest.mark.parametrize(("reason", "data", "offer"), CASES)
def test_each_rule_that_keeps_an_offer_short_is_named(reason: str, data: dict[str, Any], offer: str) -> None:
    found = {_offer(e): e for e in explain(load_fleet(data))}
    assert found[offer].cause.reason == reason, found[offer].sentence


def test_every_reason_is_produced_by_a_test_fleet_or_said_why_not() -> None:
    produced = {reason for reason, *_ in [*CASES, *UNIT_CASES]}  # address: a /27's node subnet
    assert produced | set(NOT_PRODUCED) == set(REASONS)


def test_a_rule_that_binds_at_any_price_has_no_break_even_and_says_which() -> None:
    for reason, data, offer in CASES[1:5]:
        (e,) = [e for e in explain(load_fleet(data)) if _offer(e) == offer]
        assert e.even is None, reason
        assert e.to_json()["break_even_usd_per_hour"] is None
        assert "takes no more nodes at any price" in e.sentence or "takes it out" in e.sentence


def test_the_value_of_quota_is_the_saving_of_replanning_with_one_more_node_of_it() -> None:
    data = {**BASE, "quotas": {"aws": {"us-east-1": {"L-417A185B": 192}}}}
    (east,) = [e for e in explain(load_fleet(data)) if _offer(e) == EAST]
    assert east.quota_bucket == "L-417A185B"

    def total(quota: int) -> float:
        spec = load_fleet({**BASE, "quotas": {"aws": {"us-east-1": {"L-417A185B": quota}}}})
        return plan_ledger(spec, place(spec, spec.catalog()).placements).total_usd

    assert east.quota_value_usd_per_month == round(total(192) - total(384), 2)
    assert east.quota_value_usd_per_month == pytest.approx(1083.32)  # 1 node: $11 → $10 an hour, and azure's region


def test_explain_json_table_pool_filter_and_plan_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "fleet.yaml"
    spec.write_text(yaml.safe_dump(BASE))
    assert main(["explain", "--spec", str(spec), "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(e["cloud"], e["region"], e["reason"], e["break_even_usd_per_hour"]) for e in listed] == [
        ("aws", "us-west-2", "price", 9.99), ("azure", "eastus", "price", 9.95)]
    assert set(listed[0]) == {"pool", "cloud", "region", "instance_type", "nodes", "price_usd_per_hour", "reason",
                              "break_even_usd_per_hour", "nodes_at_break_even", "quota_bucket",
                              "quota_value_usd_per_month", "sentence"}
    assert main(["explain", "--spec", str(spec), "--format", "markdown"]) == 0
    assert "| train | aws/us-west-2 | p5.48xlarge | 0 | price | $12.00 | $9.99 | 2 |" in capsys.readouterr().out
    assert main(["explain", "--spec", str(spec), "--pool", "serve"]) == 2
    assert "--pool: unknown pool 'serve'" in capsys.readouterr().err
    assert main(["plan", "--spec", str(spec), "--explain", "--format", "json", "--stable"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["explain"] == listed
    assert main(["plan", "--spec", str(spec), "--format", "json", "--stable"]) == 0
    assert "explain" not in json.loads(capsys.readouterr().out)


def test_the_plan_schema_publishes_explain_and_scenario() -> None:
    from gpufleet.planjson import plan_schema

    schema = plan_schema()
    assert {"explain", "scenario"} <= set(schema["properties"])
    explained = schema["$defs"]["ExplainDoc"]
    assert set(explained["properties"]["reason"]["enum"]) == set(REASONS)


def test_a_replan_the_solver_does_not_finish_gives_a_reason_and_no_break_even(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen on the 32,768-GPU fleet (HiGHS 'Solve error' at one probed price): the offer keeps
    its reason, says which re-plan failed, and no break-even is made up."""
    from gpufleet import breakeven
    from gpufleet.errors import InfeasibleError

    solve = breakeven.Replanner._solve

    def failing(self: breakeven.Replanner, overrides: dict[str, float], quota: Any) -> Any:
        if WEST in next(iter(overrides), ""):
            raise InfeasibleError.solver_stopped("Solve error", 60)
        return solve(self, overrides, quota)

    monkeypatch.setattr(breakeven.Replanner, "_solve", failing)
    found = {_offer(e): e for e in explain(load_fleet(BASE))}
    assert found[WEST].even is None
    assert found[WEST].cause.reason == "price"
    assert "no break-even: the re-plan with aws/us-west-2/p5.48xlarge at $" in found[WEST].sentence
    assert "HiGHS status: Solve error" in found[WEST].sentence
    assert found[AZURE].even is not None  # the others are explained as before


def test_over_a_horizon_the_deployed_period_is_explained() -> None:
    """A one-period horizon plans the same as no horizon, so its explanations are the same;
    each re-plan is the horizon's (docs/design.md, "Multi-period placement")."""
    steady = [e.to_json() for e in explain(load_fleet(BASE))]
    over = {**BASE, "horizon": {"start": "2026-01", "months": 1, "period": "month"}}
    assert [e.to_json() for e in explain(load_fleet(over), period="2026-01")] == steady


# Training units (placement.unit_nodes): the plan adds a unit at a time, so the rule that binds
# is the one a whole unit breaks. Each rule leaves an offer room for exactly one unit (the
# price binds: a break-even exists) or for one node less (the rule binds at any price, though
# one more node would fit). The pool is 8 nodes in units of 4, all in aws/us-east-1 at $10/h.
def _units(gpus: int = 64, unit: int = 4, **extra: Any) -> dict[str, Any]:
    return fleet([h100("train", gpus, placement={"unit_nodes": unit}, **extra)])


def _west_quota(nodes: int) -> dict[str, Any]:
    return {**_units(), "quotas": {"aws": {"us-west-2": {"L-417A185B": 192 * nodes}}}}


def _west_limit(nodes: int) -> dict[str, Any]:
    return {**_units(), "limits": {"aws": {"us-west-2": {"node_groups_per_cluster": 2, "nodes_per_node_group": nodes}}}}


def _azure_share(share: float) -> dict[str, Any]:
    return _units(max_share={"azure": share})


def _azure_addresses(unit: int) -> dict[str, Any]:
    """azure/eastus's node subnet cut from a /27 holds 5 GPU nodes beside the system pool;
    the pool is two units of `unit` nodes."""
    network = {"supernet": "10.64.0.0/10", "overrides": {"azure/eastus": "10.200.0.0/27"}}
    return {**_units(gpus=16 * unit, unit=unit), "network": network}


UNIT_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str, int]] = [
    # (rule, room for one unit, room one node short of it, offer, nodes in a unit)
    ("quota", _west_quota(4), _west_quota(3), WEST, 4),
    ("limit", _west_limit(4), _west_limit(3), WEST, 4),
    ("share", _azure_share(0.5), _azure_share(0.45), AZURE, 4),
    ("address", _azure_addresses(5), _azure_addresses(6), AZURE, 5),
]


@pytest.mark.parametrize(("reason", "room", "short", "offer", "unit"), UNIT_CASES)
def test_a_rule_that_leaves_room_for_less_than_a_unit_binds_at_any_price(
    reason: str, room: dict[str, Any], short: dict[str, Any], offer: str, unit: int
) -> None:
    (fits,) = [e for e in explain(load_fleet(room)) if _offer(e) == offer]
    assert (fits.cause.reason, fits.nodes) == ("price", 0), fits.sentence
    assert fits.even is not None, fits.sentence
    assert fits.even.nodes == unit
    assert _nodes_at(room, fits, fits.even.price_usd_per_hour * 0.99) == unit
    assert _nodes_at(room, fits, fits.even.price_usd_per_hour * 1.01) == 0
    (binds,) = [e for e in explain(load_fleet(short)) if _offer(e) == offer]
    assert (binds.cause.reason, binds.nodes, binds.even) == (reason, 0, None), binds.sentence
    assert f"with {binds.unit} more nodes there (units of {binds.unit})" in binds.sentence
    assert _nodes_at(short, binds, 0.01) == 0  # even at a cent the unit does not fit


def test_a_full_quota_under_units_is_valued_by_one_more_unit_of_it() -> None:
    """us-east-1 holds 7 nodes' worth: one unit there, the other on azure/eastus ($11/h). One
    more unit's worth of quota admits exactly one more unit (a room of 3 nodes grows to 7), as
    the one node's worth it lacks would."""

    def quota(nodes: int) -> dict[str, Any]:
        return {**_units(), "quotas": {"aws": {"us-east-1": {"L-417A185B": 192 * nodes}}}}

    def total(nodes: int) -> float:
        spec = load_fleet(quota(nodes))
        return plan_ledger(spec, place(spec, spec.catalog()).placements).total_usd

    (east,) = [e for e in explain(load_fleet(quota(7))) if _offer(e) == EAST]
    assert (east.cause.reason, east.nodes, east.quota_bucket) == ("quota", 4, "L-417A185B"), east.sentence
    assert total(8) == total(11) < total(7)
    assert east.quota_value_usd_per_month == round(total(7) - total(11), 2) > 0
    assert "one more unit's worth (4 nodes) of L-417A185B quota saves" in east.sentence


def _failing_at(monkeypatch: pytest.MonkeyPatch, offer: str, prices: set[float]) -> list[float]:
    """Re-plans with `offer`'s price in `prices` fail as HiGHS's "Solve error" did on the
    32,768-GPU fleet at $45.9999/h; returns every price of `offer` re-planned."""
    from gpufleet import breakeven
    from gpufleet.errors import InfeasibleError

    solve, asked = breakeven.Replanner._solve, list[float]()

    def failing(self: breakeven.Replanner, overrides: dict[str, float], quota: Any) -> Any:
        price = next((v for k, v in overrides.items() if k == offer), None)
        if price is not None:
            asked.append(price)
            if price in prices:
                raise InfeasibleError.solver_stopped("Solve error", 60)
        return solve(self, overrides, quota)

    monkeypatch.setattr(breakeven.Replanner, "_solve", failing)
    return asked


def test_a_price_the_solver_fails_at_is_stood_in_for_by_a_neighbour(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every price the search asks of us-west-2 fails except the break-even itself: each is
    replaced by the nearest price that solves ($0.0001 away), and the answer is the same."""
    asked = _failing_at(monkeypatch, WEST, set())
    (west,) = [e for e in explain(load_fleet(BASE)) if _offer(e) == WEST]
    assert west.even is not None
    answer = west.even.price_usd_per_hour
    failed = {price for price in asked if price != answer}
    assert len(failed) >= 2  # the floor and at least one probe of the search
    asked[:] = []
    _failing_at(monkeypatch, WEST, failed)
    (again,) = [e for e in explain(load_fleet(BASE)) if _offer(e) == WEST]
    assert again.to_json() == west.to_json()


def test_a_floor_the_solver_fails_at_is_stood_in_for_by_the_price_above(monkeypatch: pytest.MonkeyPatch) -> None:
    """(Unscreened: explain answers an offer no plan can use without re-planning it, `_unusable`.)"""
    data = {**BASE, "quotas": {"aws": {"us-west-2": {"L-417A185B": 0}}}}  # us-west-2 takes none
    _failing_at(monkeypatch, WEST, {0.01})
    (west,) = [e for e in explain(load_fleet(data), screen=False) if _offer(e) == WEST]
    assert (west.cause.reason, west.even) == ("quota", None), west.sentence
    assert "takes no more nodes at any price (even $0.0101/h): aws/us-west-2 quota L-417A185B" in west.sentence


def test_two_processes_give_the_answers_one_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fleets with enough re-planning to do are explained in two forked processes
    (`PARALLEL_SECONDS`); forced here on a small fleet, the explanations are the same, in the
    same order."""
    import gpufleet.explain

    data = {**BASE, "quotas": {"aws": {"us-east-1": {"L-417A185B": 192}}}}
    monkeypatch.setattr(gpufleet.explain, "PARALLEL_SECONDS", math.inf)
    alone = [e.to_json() for e in explain(load_fleet(data))]
    monkeypatch.setattr(gpufleet.explain, "PARALLEL_SECONDS", 0.0)
    monkeypatch.setattr(gpufleet.explain.os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    assert [e.to_json() for e in explain(load_fleet(data))] == alone
    assert len(alone) == 3


def test_another_clouds_contract_burned_below_its_minimum_binds_at_any_price() -> None:
    """Over a horizon, AWS's yearly minimum is far above what the pool spends: a node moved to
    Azure, even at $0.01/h, is paid again as AWS shortfall, so the month's 'costs no more' is
    the contract's doing (`commitment`), not a tie-break; without the contract Azure would win
    on price."""
    contract = {"total_usd": 30_000_000, "start": "2026-01", "years": 1, "minimum": "per-year",
                "ramp_usd": [30_000_000], "shortfall": "cash"}
    data = {**fleet([h100("train", 16)]), "horizon": {"start": "2026-01", "months": 6, "period": "quarter"},
            "budget": {"monthly_usd": 10_000_000, "commitments": {"aws": contract}}}
    (azure,) = [e for e in explain(load_fleet(data), period="2026-01") if _offer(e) == AZURE]
    assert azure.cause.reason == "commitment", azure.sentence
    assert azure.even is None
    assert "aws's contract (budget.commitments.aws, shortfall: cash)" in azure.sentence
    data["budget"] = {"monthly_usd": 10_000_000}
    (free,) = [e for e in explain(load_fleet(data), period="2026-01") if _offer(e) == AZURE]
    assert free.cause.reason == "price"
    assert free.even is not None


def test_a_cap_the_plan_does_not_reach_leaves_the_reason_to_price() -> None:
    """`capacity.available` caps us-west-2 at 10 nodes and the plan puts none there: one more
    node breaks no cap, so the reason is its price, with its break-even."""
    data = {**BASE, "capacity": {"available": {WEST: 10}}}
    (west,) = [e for e in explain(load_fleet(data)) if _offer(e) == WEST]
    assert (west.cause.reason, west.even is not None) == ("price", True), west.sentence
    (east,) = [e for e in explain(load_fleet({**BASE, "capacity": {"available": {EAST: 1}}})) if _offer(e) == EAST]
    assert east.cause.reason == "unavailable"
    assert "delivers at most 1 nodes (capacity.available); with 1 more nodes there it would carry 2" \
        in east.sentence or "with one more node there it would carry 2" in east.sentence, east.sentence


def test_a_move_off_a_contract_cloud_that_costs_no_more_in_the_month_is_the_contracts_doing() -> None:
    """`plan --previous` under another cloud's contract: nodes that left Azure for AWS at the
    same price cost no more this month, yet putting them back leaves AWS's minimum unburned.
    That is `commitment`, never the 'placement fault' of `stability`."""
    from gpufleet.movereasons import MoveCauses

    contract = {"total_usd": 30_000_000, "start": "2026-01", "years": 1, "minimum": "per-year",
                "ramp_usd": [30_000_000], "shortfall": "cash"}
    data = {**fleet([h100("train", 16)], prices={EAST: 11.0, AZURE: 10.9}),
            "horizon": {"start": "2026-01", "months": 6, "period": "quarter"},
            "budget": {"monthly_usd": 10_000_000, "commitments": {"aws": contract}}}
    replan = Replanner(load_fleet(data), "2026-01")
    spec, now = replan.explained_spec, replan.plan()
    assert [p.cloud for p in now] == ["aws"], now  # the contract's doing: Azure is cheaper
    before = [replace(p, cloud="azure", region="eastus", instance_type="Standard_ND96isr_H100_v5") for p in now]
    cause = MoveCauses(spec, spec.catalog(), before, now).why("train", AZURE, 2)
    assert cause is not None
    assert cause.reason == "commitment", cause.sentence
    assert "aws's contract (budget.commitments.aws, shortfall: cash) must burn its minimum" in cause.sentence
