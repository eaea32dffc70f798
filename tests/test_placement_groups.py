"""Interchangeable pools: grouped in the MILP, split back per pool, at the per-pool model's optimum.

`place` solves the cost levels on a model where pools that nothing tells apart share their
nodes (gpufleet.placement.interchangeable). These tests check which pools are grouped, that the
split gives every pool its GPUs and shares, and, on generated fleets, that the grouped model
reaches exactly the optimum the per-pool model proves (spend above commitments, then spend).
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet.catalog import CLOUDS
from gpufleet.placement import Formulation, candidates, interchangeable, place, spend_by_cloud, undominated
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
    """Spend above commitments, then total spend, from the model with a column per pool."""
    cands = undominated(spec, candidates(spec, spec.catalog())[0])
    form = Formulation(spec, cands, spec.pools)
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


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pools=st.lists(POOL, min_size=2, max_size=5),
    aws_quota=st.sampled_from([None, 48, 96, 192]),
    azure_quota=st.sampled_from([None, 32, 64]),
    commitments=st.sampled_from([{}, {"azure": 3_000.0}, {"aws": 2_000.0, "azure": 9_000.0}]),
)
def test_grouping_reaches_the_per_pool_models_optimum(
    pools: list[dict[str, Any]],
    aws_quota: int | None,
    azure_quota: int | None,
    commitments: dict[str, float],
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
        prices={"aws/us-east-1/p5.48xlarge": 10.0, "azure/eastus/Standard_ND96isr_H100_v5": 11.0},
    )
    excess, total = per_pool_optimum(spec)
    result = place(spec, spec.catalog())
    spend = spend_by_cloud(spec, result.placements)
    planned_excess = sum(max(0.0, spend[c] - spec.budget.commitments.get(c, 0.0)) for c in CLOUDS if c in spend)
    # placements are priced to the cent each, the models in exact dollars
    assert abs(planned_excess - excess) < 0.05
    assert abs(sum(spend.values()) - total) < 0.05
    for pool in spec.pools:
        mine = [p for p in result.placements if p.pool == pool.name]
        assert sum(p.gpus for p in mine) >= pool.gpus
        for cloud, share in pool.min_share.items():
            assert sum(p.gpus for p in mine if p.cloud == cloud) >= share * pool.gpus - 1e-9


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
