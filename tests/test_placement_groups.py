"""Interchangeable pools: grouped in the MILP, split back per pool, at the per-pool model's optimum.

`place` solves the cost levels on a model where pools that nothing tells apart share their
nodes (gpufleet.placement.interchangeable). These tests check which pools are grouped, that the
split gives every pool its GPUs and shares, and, on generated fleets, that `place` (offers
pruned by `undominated` and bounded by `unlimited_bounds`, pools grouped) reaches exactly the
optimum that the per-pool model over every candidate proves (spend above commitments, then
spend).
Then: skipping the total-spend solve when LP relaxations show it is not needed, the plain
model as the fallback when the bounded one needs too many nodes, and HiGHS's float noise.
"""

from __future__ import annotations

import gzip
import json
import math
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet import clouds, placement
from gpufleet.placement import (
    Formulation,
    Milp,
    Solved,
    SolverOptions,
    candidates,
    cost_model,
    interchangeable,
    place,
    spend_by_cloud,
    undominated,
)
from gpufleet.placement import solve as lexicographic
from gpufleet.spec import FleetSpec, load_fleet


def fleet(pools: list[dict[str, Any]], **extra: Any) -> FleetSpec:
    return load_fleet({
        "name": "groups",
        "network": {"supernet": "10.64.0.0/10"},
        "clouds": {
            "aws": {"regions": ["us-east-1", "us-west-2"]},
            "azure": {"regions": ["eastus", "westus3"]},
        },
        "pools": pools,
        **extra,
    })


def t4(name: str, gpus: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "accelerator": "T4", "gpus": gpus, **extra}


def grouped_names(spec: FleetSpec) -> list[list[str]]:
    cands = undominated(spec, candidates(spec, spec.catalog())[0])
    return [[pool.name for pool in group] for group in interchangeable(spec, cands)]


def test_only_pools_that_nothing_tells_apart_are_grouped() -> None:
    spec = fleet(
        [
            t4("pa", 8), t4("pb", 24),  # alike but for size: one group
            t4("pinned", 8, pin={"aws/us-east-1": 1}),
            t4("shared", 8, min_share={"azure": 0.5}),
            t4("spot", 8, capacity="spot"),
            t4("stored", 8),
            t4("pc", 16),
        ],
        storage=[{"name": "data", "size_tib": 1, "colocate_with": ["stored"]}],
    )
    assert grouped_names(spec) == [["pa", "pb", "pc"], ["pinned"], ["shared"], ["spot"], ["stored"]]


def test_a_group_is_split_into_each_pools_own_node_groups() -> None:
    spec = fleet(
        [t4("pa", 12, min_share={"azure": 0.25}), t4("pb", 20, min_share={"azure": 0.25})],
        quotas={"aws": {"us-east-1": {"L-DB2E81BA": 64}}},
    )
    result = place(spec, spec.catalog())
    for pool in spec.pools:
        mine = [p for p in result.placements if p.pool == pool.name]
        assert sum(p.gpus for p in mine) >= pool.gpus
        assert sum(p.gpus for p in mine if p.cloud == "azure") >= 0.25 * pool.gpus
    assert result.solver.status == "Optimal"
    assert grouped_names(spec) == [["pa", "pb"]]
    assert place(spec, spec.catalog()).placements == result.placements  # the split is deterministic


def per_pool_optimum(spec: FleetSpec) -> tuple[float, float]:
    """Spend above commitments, then total spend, from the model with a column per pool and
    per candidate: nothing pruned, grouped or bounded."""
    form = Formulation(spec, candidates(spec, spec.catalog())[0], spec.pools)
    first = form.milp.solve(form.excess)
    assert first.optimal
    form.milp.row(-math.inf, first.objective + 1e-6, form.excess)
    second = form.milp.solve(form.spend)
    assert second.optimal
    return first.objective, second.objective


POOL = st.fixed_dictionaries({
    "gpus": st.sampled_from([4, 8, 12, 16, 24]),
    "kind": st.sampled_from(["t4", "t4-shared", "t4-spot", "h100"]),
})


def placed_at_the_per_pool_optimum(spec: FleetSpec) -> placement.PlacementResult:
    """`place`'s plan, checked to reach the per-pool model's optimum on both cost levels (spend
    above commitments, then spend); placements are priced to the cent each, the models in
    exact dollars."""
    excess, total = per_pool_optimum(spec)
    result = place(spec, spec.catalog())
    spend = spend_by_cloud(spec, result.placements)
    planned_excess = sum(max(0.0, spend[c] - spec.budget.monthly_commitment(c)) for c in clouds.names() if c in spend)
    assert abs(planned_excess - excess) < 0.05
    assert abs(sum(spend.values()) - total) < 0.05
    return result


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pools=st.lists(POOL, min_size=2, max_size=5),
    aws_quota=st.sampled_from([None, 48, 96, 192]),
    azure_quota=st.sampled_from([None, 32, 64]),
    commitments=st.sampled_from([{}, {"azure": 3_000.0}, {"aws": 2_000.0, "azure": 9_000.0}]),
    west_price=st.sampled_from([0.526, 0.51, 0.47, 0.55]),  # T4 1-GPU $/h; 0.526 in the east
    stored=st.booleans(),
)
def test_pruned_bounded_and_grouped_model_reaches_the_per_pool_models_optimum(
    pools: list[dict[str, Any]],
    aws_quota: int | None,
    azure_quota: int | None,
    commitments: dict[str, float],
    west_price: float,
    stored: bool,
) -> None:
    kinds: dict[str, dict[str, Any]] = {
        "t4": {"accelerator": "T4"},
        "t4-shared": {"accelerator": "T4", "min_share": {"aws": 0.3, "azure": 0.3}},
        "t4-spot": {"accelerator": "T4", "capacity": "spot"},
        "h100": {"accelerator": "H100", "gpus_per_node": 8},
    }
    specs = [
        {"name": f"p{i}", "gpus": p["gpus"] * (2 if p["kind"] == "h100" else 1), **kinds[p["kind"]]}
        for i, p in enumerate(pools)
    ]
    quotas: dict[str, Any] = {}
    if aws_quota is not None:
        quotas["aws"] = {"us-east-1": {"L-DB2E81BA": aws_quota}}
    if azure_quota is not None:
        quotas["azure"] = {"eastus": {"standardNCASv3_T4Family": azure_quota}}
    spec = fleet(
        specs,
        quotas=quotas,
        budget={"commitments": commitments},
        prices={
            "aws/us-east-1/p5.48xlarge": 10.0, "azure/eastus/Standard_ND96isr_H100_v5": 11.0,
            "aws/us-west-2/g4dn.xlarge": west_price, "azure/westus3/Standard_NC4as_T4_v3": west_price,
        },
        storage=[{"name": "data", "size_tib": 2, "colocate_with": ["p0"]}] if stored else [],
    )
    result = placed_at_the_per_pool_optimum(spec)
    for pool in spec.pools:
        mine = [p for p in result.placements if p.pool == pool.name]
        assert sum(p.gpus for p in mine) >= pool.gpus
        for cloud, share in pool.min_share.items():
            assert sum(p.gpus for p in mine if p.cloud == cloud) >= share * pool.gpus - 1e-9


def test_a_started_solve_whose_answer_disagrees_with_its_own_objective_is_solved_again() -> None:
    """Found by the property above: HiGHS 1.16, started from level 1's plan, called that plan
    optimal for total spend ($9,440: 18 nodes for a 12-GPU pool) while reporting another
    objective; the per-pool model without a start proves $6,782.87."""
    spec = fleet(
        [t4("p0", 12), t4("p1", 4, min_share={"aws": 0.3, "azure": 0.3})],
        quotas={"aws": {"us-east-1": {"L-DB2E81BA": 48}}, "azure": {"eastus": {"standardNCASv3_T4Family": 32}}},
        budget={"commitments": {"aws": 2_000.0, "azure": 9_000.0}},
        prices={"aws/us-west-2/g4dn.xlarge": 0.526, "azure/westus3/Standard_NC4as_T4_v3": 0.526},
    )
    assert per_pool_optimum(spec)[0] == 0
    result = placed_at_the_per_pool_optimum(spec)
    assert sum(p.gpus for p in result.placements if p.pool == "p0") == 12


def test_spend_above_commitments_is_held_at_the_whole_plans_value_not_the_solvers() -> None:
    """Found by the property above: level 1's continuous excess columns sat 2.4e-4 below the
    whole plan's excess (HiGHS's feasibility tolerance), so holding that value made level 2
    infeasible and the tie-break failed on an empty solution."""
    spec = fleet(
        [t4("p0", 8, capacity="spot"), {"name": "p1", "accelerator": "H100", "gpus_per_node": 8, "gpus": 16},
         t4("p2", 16, min_share={"aws": 0.3, "azure": 0.3}), t4("p3", 16, capacity="spot")],
        quotas={"azure": {"eastus": {"standardNCASv3_T4Family": 32}}},
        budget={"commitments": {"aws": 2_000.0, "azure": 9_000.0}},
        prices={
            "aws/us-east-1/p5.48xlarge": 10.0, "azure/eastus/Standard_ND96isr_H100_v5": 11.0,
            "aws/us-west-2/g4dn.xlarge": 0.47, "azure/westus3/Standard_NC4as_T4_v3": 0.47,
        },
        storage=[{"name": "data", "size_tib": 2, "colocate_with": ["p0"]}],
    )
    placed_at_the_per_pool_optimum(spec)


def test_grouped_pools_keep_their_previous_nodes() -> None:
    """Stability works per pool even when the cost levels placed the pools as one group."""
    pools = [t4("pa", 8, min_share={"azure": 0.25}), t4("pb", 16, min_share={"azure": 0.25})]
    spec = fleet(pools)
    assert grouped_names(spec) == [["pa", "pb"]]
    previous = place(spec, spec.catalog()).placements
    again = place(spec, spec.catalog(), previous)
    assert again.placements == previous
    assert again.solver.kept_from_previous == sum(p.nodes for p in previous)
    grown = fleet([pools[0], {**pools[1], "gpus": 24}])
    result = place(grown, grown.catalog(), previous)
    mine = {p.key: p.nodes for p in result.placements}
    assert all(mine.get(p.key, 0) >= p.nodes for p in previous if p.pool == "pa")


def test_the_total_spend_level_is_skipped_when_no_tie_can_leave_a_commitment_unburned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Commitments far below what each cloud spends: LP relaxations show that no plan equal on
    spend above commitments leaves one unburned, so the first level's plan is the answer."""

    pools = [t4("pa", 16, min_share={"aws": 0.5, "azure": 0.5}), t4("pb", 8)]
    solves: list[bool] = []
    real = placement.Milp.solve

    def counted(self: placement.Milp, *args: Any, **kwargs: Any) -> placement.Solved:
        solves.append(any(self.integer))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(placement.Milp, "solve", counted)
    below = fleet(pools, budget={"commitments": {"aws": 100.0, "azure": 100.0}})
    result = place(below, below.catalog())
    assert solves == [True, False, False, True]  # level 1, two LPs, the tie-break
    monkeypatch.setattr(placement.Milp, "solve", real)
    assert abs(sum(spend_by_cloud(below, result.placements).values()) - per_pool_optimum(below)[1]) < 0.05


def tied_on_excess() -> FleetSpec:
    """Two H100 nodes; two plans tie on spend above commitments, so level 2 is a real solve."""
    return fleet(
        [{"name": "train", "accelerator": "H100", "gpus": 16, "gpus_per_node": 8}],
        clouds={"aws": {"regions": ["us-east-1"]}, "azure": {"regions": ["eastus"]}},
        prices={"aws/us-east-1/p5.48xlarge": 10.0, "azure/eastus/Standard_ND96isr_H100_v5": 11.0},
        budget={"commitments": {"aws": 5000.0, "azure": 1083.32}},
    )


def test_a_tie_that_leaves_a_commitment_unburned_wins_on_total_spend() -> None:
    """Two nodes on AWS (14,885.87 $/month) and one per cloud (7,585.87 + 8,383.32) are equal on
    spend above commitments, 9,885.87, when AWS commits 5,000 and Azure 1,083.32; the first
    leaves Azure's commitment unburned and spends 1,083.32 less in total, so it must win, and
    the LP check must not skip level 2 when level 1 happens to return the other plan."""
    from gpufleet.placement.milp import slack
    from gpufleet.placement.solve import _burned_in_every_tie  # pyright: ignore[reportPrivateUsage]

    spec = tied_on_excess()
    result = place(spec, spec.catalog())
    assert {p.key: p.nodes for p in result.placements} == {"train/aws/us-east-1/p5.48xlarge": 2}
    form = cost_model(spec, undominated(spec, candidates(spec, spec.catalog())[0]))
    split = {"train/aws/us-east-1/p5.48xlarge": 1, "train/azure/eastus/Standard_ND96isr_H100_v5": 1}
    values = form.solution_for(split)
    excess = sum(usd * values[col] for col, usd in form.excess.items())
    both_burned = Solved("Optimal", True, True, values, excess, 0.0, 0.0)
    assert abs(both_burned.objective - 9885.87) < 0.01
    held = both_burned.objective + slack(both_burned.objective)
    assert not _burned_in_every_tie(spec, form, held, SolverOptions())  # pyright: ignore[reportPrivateUsage]


def test_level_two_solved_ahead_on_a_second_core_gives_the_plan_solved_in_sequence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = tied_on_excess()
    level_two_threads: list[str] = []
    real = placement.Milp.solve

    def recorded(self: placement.Milp, *args: Any, **kwargs: Any) -> placement.Solved:
        if kwargs.get("proving"):
            level_two_threads.append(threading.current_thread().name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(placement.Milp, "solve", recorded)
    plans = {}
    for cores in (1, 2):
        monkeypatch.setattr(lexicographic, "_cores", lambda cores=cores: cores)
        result = place(spec, spec.catalog())
        plans[cores] = (result.placements, result.solver.status, result.solver.objective_usd)
    assert level_two_threads == ["MainThread", "gpufleet-level-2"]
    assert plans[1] == plans[2]
    assert all(thread.name != "gpufleet-level-2" for thread in threading.enumerate())  # all joined


def test_level_two_started_from_an_incumbent_that_level_one_improved_on_is_not_used() -> None:
    from gpufleet.placement.solve import _Run, _SpendAhead, _then_spend  # pyright: ignore[reportPrivateUsage]

    spec = tied_on_excess()
    cands = undominated(spec, candidates(spec, spec.catalog())[0])
    form = cost_model(spec, cands)
    optimum = form.milp.solve(form.excess)
    azure_only = form.solution_for({"train/azure/eastus/Standard_ND96isr_H100_v5": 2})
    stale = replace(optimum, values=azure_only)  # an incumbent level 1 went on to improve
    assert form.value(stale, form.excess) > optimum.objective
    with _SpendAhead(form, SolverOptions()) as ahead:
        ahead.enabled = True
        ahead.start(stale)
        cheapest = ahead.finish(optimum, _Run())
        assert ahead.started[0].stop.is_set()
    again = cost_model(spec, cands)
    assert cheapest.values == _then_spend(spec, again, _Run(), optimum).values
    assert form.milp.rows == again.milp.rows


def test_a_solve_reports_each_incumbent_and_stops_when_asked() -> None:
    spec = tied_on_excess()
    form = cost_model(spec, undominated(spec, candidates(spec, spec.catalog())[0]))
    incumbents: list[Solved] = []
    solved = form.milp.solve(form.excess, on_incumbent=incumbents.append)
    assert incumbents
    assert incumbents[-1].values == solved.values
    stop = threading.Event()
    stop.set()
    assert form.milp.solve(form.excess, stop=stop).status == "Interrupted by user"


def test_a_capped_first_try_falls_back_to_the_plain_model() -> None:
    # With no nodes to spend the bounded model stops at once, and the plain model is solved:
    # the same optimum, reported as proven, with the first try's time counted.
    spec = fleet(
        [t4("pa", 24), t4("pb", 4, min_share={"aws": 0.3, "azure": 0.3})],
        quotas={"aws": {"us-east-1": {"L-DB2E81BA": 96}}},
        budget={"commitments": {"azure": 5_000.0}},
        prices={"aws/us-west-2/g4dn.xlarge": 0.51, "azure/westus3/Standard_NC4as_T4_v3": 0.49},
    )
    bounded = place(spec, spec.catalog())
    plain = place(spec, spec.catalog(), options=SolverOptions(bounded_first_nodes=0))
    assert plain.solver.status == "Optimal"
    assert plain.solver.optimality_gap == 0.0
    assert plain.solver.objective_usd == pytest.approx(bounded.solver.objective_usd, abs=0.05)
    assert per_pool_optimum(spec)[1] == pytest.approx(plain.solver.objective_usd, abs=0.05)


def test_a_solve_error_from_float_noise_on_a_spend_row_is_solved_again() -> None:
    golden = Path(__file__).parent / "golden" / "solve_error_model.json.gz"
    data = json.loads(gzip.decompress(golden.read_bytes()))
    inf = math.inf
    milp = Milp(
        lower=data["lower"],
        upper=[inf if u is None else u for u in data["upper"]],
        integer=data["integer"],
        rows=[
            (-inf if lo is None else lo, inf if up is None else up, dict(coefs))
            for lo, up, coefs in data["rows"]
        ],
    )
    solved = milp.solve(dict(data["objective"]))
    assert solved.optimal
    assert solved.objective == pytest.approx(data["optimum"], abs=0.01)
