"""Interchangeable pools where deploy limits bind: the grouped model counts each pool's own node
groups there (`cost_model`'s places apart) and keeps its merged columns everywhere else, and
reaches exactly the optimum of the per-pool model that holds every limit (spend above
commitments, then spend), with a plan that breaks none.

A group's merged column would be one node group per pool, not one per offer: counting it as
one would be cheaper than any deployable plan, which the fleets below make sure of (three
pools that cannot all get a node group where the cheap offers are).
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet import addresses, clouds, ipam
from gpufleet.clusters import region_clusters
from gpufleet.placement import Formulation, candidates, cost_model, offer_bounds, place, spend_by_cloud, undominated
from gpufleet.placement.candidates import counted_places
from gpufleet.placement.milp import slack
from gpufleet.spec import FleetSpec, load_fleet

CHEAP = "aws/us-west-2/g4dn.xlarge"  # T4, 1 GPU: the price book makes it the cheapest offer


def fleet(
    sizes: list[int],
    limits: dict[str, Any],
    supernet: str = "10.64.0.0/10",
    commitments: dict[str, float] | None = None,
    **pool: Any,
) -> FleetSpec:
    """T4 pools alike but for their size (one group), in two AWS regions and one Azure region."""
    return load_fleet({
        "name": "grouped",
        "budget": {"commitments": commitments or {}},
        "network": {"supernet": supernet},
        "clouds": {"aws": {"regions": ["us-east-1", "us-west-2"]}, "azure": {"regions": ["eastus"]}},
        "prices": {CHEAP: 0.30},
        "limits": limits,
        "pools": [{"name": f"p{i}", "accelerator": "T4", "gpus": gpus, **pool} for i, gpus in enumerate(sizes)],
    })


def west(**limits: int) -> dict[str, Any]:
    return {"aws": {"us-west-2": limits}}


def per_pool_optimum(spec: FleetSpec) -> tuple[float, float]:
    """Spend above commitments, then total spend, from the model with a column per pool and
    candidate and every deploy limit that may bind: nothing pruned, grouped or bounded."""
    form = Formulation(spec, candidates(spec, spec.catalog())[0], spec.pools)
    first = form.milp.solve(form.excess)
    assert first.optimal
    form.milp.row(-math.inf, first.objective + slack(first.objective), form.excess)
    second = form.milp.solve(form.spend)
    assert second.optimal
    return first.objective, second.objective


def levels(spec: FleetSpec) -> tuple[float, float]:
    """Spend above commitments and total spend of `place`'s plan, priced as the plan prices it."""
    spend = spend_by_cloud(spec, place(spec, spec.catalog()).placements)
    excess = sum(max(0.0, spend[c] - spec.budget.monthly_commitment(c)) for c in clouds.names() if c in spend)
    return excess, sum(spend.values())


def within_every_limit(spec: FleetSpec) -> None:
    """The plan as deployed: each region's clusters as the components fill them (several where
    one cluster's limits bind) within their limits and allowed count, every range holding its
    nodes with a system pool per cluster."""
    places = place(spec, spec.catalog()).placements
    for cloud, region in {(p.cloud, p.region) for p in places}:
        filled = region_clusters(spec, cloud, region, places)
        assert filled.count <= addresses.most_clusters(spec, cloud, region)
        for shares in filled.clusters:
            assert sum(len(s.groups) for s in shares) <= filled.limits.gpu_groups
            assert filled.limits.gpu_nodes is None or sum(s.nodes for s in shares) <= filled.limits.gpu_nodes
    used = sorted({(p.cloud, p.region) for p in places})
    for net in addresses.with_use(spec, ipam.allocate(spec, used), places):
        assert all(use.fits for use in net.ranges)
    for pool in spec.pools:
        assert sum(p.gpus for p in places if p.pool == pool.name) >= pool.gpus


def test_three_pools_with_two_node_groups_left_put_one_pool_elsewhere() -> None:
    """Two GPU groups in us-west-2 (three, less the system group): one merged column of 24
    nodes fits one group, but the three pools need three, so one pool pays for another region."""
    spec = fleet([8, 8, 8], west(node_groups_per_cluster=3, clusters_per_region=1))
    cands = undominated(spec, candidates(spec, spec.catalog())[0], limited=frozenset({"aws/us-west-2"}))
    form = cost_model(spec, cands, limited=frozenset({"aws/us-west-2"}))
    assert list(form.members) == ["p0"]
    assert form.apart == {"aws/us-west-2"}
    assert {form.cands[i].pool.name for i, c in enumerate(form.cands) if c.place == "aws/us-west-2"} == {"p0", "p1", "p2"}
    placements = place(spec, spec.catalog()).placements
    cheap = [p for p in placements if f"{p.cloud}/{p.region}/{p.instance_type}" == CHEAP]
    assert len(cheap) == 2
    assert len({p.pool for p in cheap}) == 2
    assert sum(p.nodes for p in placements) == 24
    excess, total = levels(spec)
    assert excess == total
    assert math.isclose(total, per_pool_optimum(spec)[1], abs_tol=0.05)
    within_every_limit(spec)


def test_only_limits_that_count_node_groups_keep_pools_apart() -> None:
    """A cluster's node limit counts nodes however pools share them (Azure's, here): the
    merged columns stay; a group limit or a node range counts each pool's groups."""
    spec = fleet([8, 16], {**west(node_groups_per_cluster=2), "azure": {"eastus": {"nodes_per_cluster": 10}}})
    found = candidates(spec, spec.catalog())[0]
    assert counted_places(spec, found) == {"aws/us-west-2"}
    form = cost_model(spec, undominated(spec, found))
    assert form.cluster_rows == [("aws", "us-west-2"), ("azure", "eastus")]
    east = [i for i, c in enumerate(form.cands) if c.place == "azure/eastus"]
    assert east
    assert all(len(form.stands_for(form.cands[i])) == 2 for i in east)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.sampled_from([4, 8, 16, 24, 32]), min_size=2, max_size=4),
    groups=st.sampled_from([None, 2, 3, 4]),
    per_group=st.sampled_from([None, 8, 20]),
    azure_nodes=st.sampled_from([None, 8, 20]),
    supernet=st.sampled_from(["10.64.0.0/10", "10.64.0.0/12"]),
    commitments=st.sampled_from([{}, {"azure": 500.0}, {"aws": 2_000.0, "azure": 1_000.0}]),
    shared=st.booleans(),
)
def test_grouped_pools_reach_the_per_pool_optimum_where_limits_bind(
    sizes: list[int],
    groups: int | None,
    per_group: int | None,
    azure_nodes: int | None,
    supernet: str,
    commitments: dict[str, float],
    shared: bool,
) -> None:
    """Random interchangeable T4 pools with lowered group, group-size and cluster-node limits
    and small networks (a /12 supernet leaves 939 addresses of us-west-2's subnets for GPU
    nodes, 10 per T4 node and 40 per node group: the address rows bind):
    `place` (pruned, bounded, grouped, lazy rows) gives the per-pool model's optimum over every
    candidate with every limit held, and its plan breaks no limit."""
    declared = {k: v for k, v in (("node_groups_per_cluster", groups), ("nodes_per_node_group", per_group)) if v}
    limits = west(**declared) if declared else {}
    if azure_nodes:
        limits["azure"] = {"eastus": {"nodes_per_cluster": azure_nodes + 4}}  # + the system pool's
    spec = fleet(sizes, limits, supernet, commitments, **({"min_share": {"azure": 0.25}} if shared else {}))
    assert len(cost_model(spec, candidates(spec, spec.catalog())[0]).members) == 1  # one group
    excess, total = per_pool_optimum(spec)
    planned_excess, planned_total = levels(spec)
    assert math.isclose(planned_excess, excess, abs_tol=0.05)
    assert math.isclose(planned_total, total, abs_tol=0.05)
    within_every_limit(spec)


def test_the_split_of_a_grouped_plan_is_a_plan_of_the_per_pool_model() -> None:
    """The cost levels' plan, split per pool, meets every row of the per-pool model, node
    groups included, at the same spend."""
    spec = fleet([8, 8, 8, 4], west(node_groups_per_cluster=3, nodes_per_node_group=5))
    limited = frozenset({"aws/us-west-2"})
    cands = undominated(spec, candidates(spec, spec.catalog())[0], limited=limited)
    grouped = cost_model(spec, cands, offer_bounds(spec, cands, limited=limited), limited=limited)
    solved = grouped.milp.solve(grouped.spend)
    per_pool = Formulation(spec, cands, spec.pools, limited=limited)
    values = per_pool.solution_for(grouped.nodes_by_key(solved))
    for lower, upper, row in per_pool.milp.rows:
        used = sum(v * values[col] for col, v in row.items())
        assert lower - 1e-6 <= used <= upper + 1e-6
    assert all(lo <= v <= up for lo, up, v in zip(per_pool.milp.lower, per_pool.milp.upper, values, strict=True))
    assert math.isclose(sum(usd * values[col] for col, usd in per_pool.spend.items()), solved.objective, abs_tol=0.01)
