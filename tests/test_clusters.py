"""Several clusters per region (issue 29, part 2; docs/design.md, "Several clusters per region"):
the fill that says which nodes go to which cluster, the rows placement holds so the clusters it
pays for hold the fill, the cost of each extra cluster, and the components' stable names."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gpufleet import addresses, kubeconfig
from gpufleet.catalog.limits import limit
from gpufleet.clouds.azure import AGENT_POOL, MANAGED_CLUSTER
from gpufleet.clusters import cluster_counts, cluster_suffix, fill, model_fits, plan_clusters, region_clusters
from gpufleet.cost import cluster_fixed_usd, cluster_lines
from gpufleet.nodegroups import ClusterLimits, limits_in
from gpufleet.pipeline import build_plan
from gpufleet.placement import place
from gpufleet.plan import FleetPlan
from gpufleet.policy import evaluate, policy_config
from gpufleet.policy.config import ADDRESS_CAPACITY, DEPLOY_READINESS
from gpufleet.spec import load_fleet
from tests.conftest import record_fleet


def _limits(groups: int, per_group: int, nodes: int | None, clusters: int = 10) -> ClusterLimits:
    found = limits_in({}, "azure", "eastus")
    return ClusterLimits("azure", "eastus", per_group, groups + 1, None if nodes is None else nodes + 3,
                         3, found.sources, clusters)


def test_fill_is_first_fit_in_order_and_never_cuts_a_unit() -> None:
    limits = _limits(groups=99, per_group=1000, nodes=100)
    assert [[(s.item, s.nodes) for s in c] for c in fill(limits, [(60, 1), (90, 30), (70, 1)])] == [
        [(0, 60), (1, 30)], [(1, 60), (2, 40)], [(2, 30)],
    ]
    assert [[s.nodes for s in c] for c in fill(limits, [(100, 1)])] == [[100]]  # full, one cluster
    with pytest.raises(ValueError, match="fits no empty cluster"):
        fill(limits, [(101, 101)])


def test_fill_counts_groups_and_cuts_a_placement_between_clusters() -> None:
    limits = _limits(groups=3, per_group=10, nodes=None)  # EKS-like: groups only
    clusters = fill(limits, [(15, 1), (12, 1)])  # 2 groups, then the third group's 10 nodes
    assert [[(s.item, s.nodes) for s in c] for c in clusters] == [[(0, 15), (1, 10)], [(1, 2)]]
    assert [[(s.item, s.nodes) for s in c] for c in fill(limits, [(25, 1), (12, 1)])] == [[(0, 25)], [(1, 12)]]


@settings(max_examples=60, deadline=None)
@given(
    items=st.lists(st.tuples(st.integers(1, 400), st.sampled_from([1, 1, 2, 8, 16])), min_size=1, max_size=6),
    groups=st.integers(2, 12),
    per_group=st.integers(4, 200),
    nodes=st.one_of(st.none(), st.integers(20, 600)),
    clusters=st.integers(1, 6),
)
def test_what_placement_pays_for_holds_the_fill_where_one_limit_binds(
    items: list[tuple[int, int]], groups: int, per_group: int, nodes: int | None, clusters: int
) -> None:
    """Where the model's rows hold for `clusters` clusters, the fill needs no more, both for a
    group limit alone (EKS) and a node limit alone (AKS's groups of a cluster's size)."""
    whole = [(n - n % unit or unit, unit) for n, unit in items]
    for limits in (_limits(groups, per_group, None), _limits(10_000, 10_000, nodes or 300)):
        if any(unit > limits.group_size() * limits.gpu_groups for _, unit in whole):
            continue
        if limits.gpu_nodes is not None and any(unit > limits.gpu_nodes for _, unit in whole):
            continue
        if model_fits(limits, whole, clusters):
            assert len(fill(limits, whole)) <= clusters


def test_one_more_cluster_costs_its_control_plane_and_system_nodes() -> None:
    for cloud in ("aws", "azure"):
        lines = cluster_lines(cloud, "r", 1)
        assert [line.item.split(" (")[0].split(":")[0] for line in lines][-1] == "system nodes"
        assert all(line.item.endswith("(cluster c2)") for line in lines)
        assert not any("NAT" in line.item for line in lines)  # one VPC per region
    spec = load_fleet(_fleet(8, 8))
    assert cluster_fixed_usd("azure", spec) == pytest.approx(sum(x.monthly_usd for x in cluster_lines("azure", "", 1)))


def _fleet(aws_nodes: int, azure_nodes: int, **extra: Any) -> dict[str, Any]:
    """A small fleet on both clouds whose clusters hold few nodes (declared lower limits), so a
    second cluster is a few nodes away."""
    return {
        "name": "many", "network": {"supernet": "10.0.0.0/8"},
        "clouds": {"aws": {"regions": ["us-east-1"]}, "azure": {"regions": ["eastus"]}},
        "pools": [{
            "name": "serve", "accelerator": "H100", "gpus": 8 * (aws_nodes + azure_nodes), "gpus_per_node": 8,
            "pin": {"aws/us-east-1": aws_nodes, "azure/eastus": azure_nodes},
        }],
        "limits": {
            "aws": {"us-east-1": {"nodes_per_node_group": 5, "node_groups_per_cluster": 3}},
            "azure": {"eastus": {"nodes_per_cluster": 13}},
        },
        **extra,
    }


def test_a_region_past_one_cluster_gets_a_second_and_pays_for_it() -> None:
    spec = load_fleet(_fleet(16, 16))
    placements = place(spec, spec.catalog()).placements
    assert cluster_counts(spec, placements) == {("aws", "us-east-1"): 2, ("azure", "eastus"): 2}
    aws = region_clusters(spec, "aws", "us-east-1", placements)
    assert [[g.nodes for s in c for g in s.groups] for c in aws.clusters] == [[5, 5], [5, 1]]


def test_clusters_per_region_bounds_the_clusters() -> None:
    one = _fleet(16, 4, limits={
        "aws": {"us-east-1": {"nodes_per_node_group": 5, "node_groups_per_cluster": 3, "clusters_per_region": 1}},
    })
    from gpufleet.errors import InfeasibleError

    spec = load_fleet(one)
    with pytest.raises(InfeasibleError, match="aws/us-east-1"):
        place(spec, spec.catalog())


@pytest.fixture(scope="module")
def grown_by_a_cluster() -> tuple[Any, Any]:
    """The fleet with one cluster per region, and the same fleet grown into a second."""
    return record_fleet(_fleet(8, 8)), record_fleet(_fleet(16, 16))


def test_adding_a_second_cluster_changes_no_existing_urn(grown_by_a_cluster: tuple[Any, Any]) -> None:
    before, after = grown_by_a_cluster
    old = {r.urn for r in before.resources}
    new = {r.urn for r in after.resources}
    assert old <= new
    added = sorted(new - old)
    assert any("-c2" in urn for urn in added)
    assert all("-c2" in urn or "-g2" in urn or "from-" in urn for urn in added), added
    clusters = [r for r in after.resources if r.type in (MANAGED_CLUSTER, "aws:eks/cluster:Cluster")]
    assert len(clusters) == 4


def test_every_cluster_has_a_kubeconfig_context(grown_by_a_cluster: tuple[Any, Any]) -> None:
    _, after = grown_by_a_cluster
    found = kubeconfig.cluster_outputs(after.outputs)
    config, sky = kubeconfig.render("many", found, redact=True)
    contexts = [c["name"] for c in yaml.safe_load(config)["contexts"]]
    assert contexts == ["many-aws-us-east-1", "many-aws-us-east-1-c2", "many-azure-eastus", "many-azure-eastus-c2"]
    assert yaml.safe_load(sky)["kubernetes"]["allowed_contexts"] == contexts


def test_the_grown_fleet_is_deploy_ready(grown_by_a_cluster: tuple[Any, Any]) -> None:
    _, after = grown_by_a_cluster
    fleet = _fleet(16, 16)
    verdicts = evaluate(after.resources, policy_config(load_fleet(fleet)))
    for name in (DEPLOY_READINESS, ADDRESS_CAPACITY):
        (verdict,) = [v for v in verdicts if v.policy == name]
        assert [v.message for v in verdict.violations] == []
    pools = [r for r in after.resources if r.type == AGENT_POOL]
    names = [r.inputs["agentPoolName"] for r in pools]
    assert len(set(names)) == len(names)


def test_cluster_suffixes() -> None:
    assert [cluster_suffix(i) for i in range(3)] == ["", "-c2", "-c3"]
    assert limit("aws", "clusters_per_region").value == 100
    assert math.isfinite(limit("azure", "clusters_per_subscription").value)


US_16K: dict[str, Any] = {
    "name": "us16k",
    "network": {"supernet": "10.64.0.0/10"},
    "clouds": {
        "aws": {"regions": ["us-east-1", "us-east-2", "us-west-2"]},
        "azure": {"regions": ["eastus", "eastus2", "westus2"]},
    },
    "pools": [
        {"name": "train", "accelerator": "H100", "gpus": 16384, "gpus_per_node": 8, "interconnect": "rdma",
         "placement": {"unit_nodes": 64}, "min_share": {"aws": 0.3, "azure": 0.3}},
    ],
}


def _deploy_ready(fleet: dict[str, Any]) -> FleetPlan:
    """The fleet planned (placement, address plan, cost), with every cluster as the components
    fill it within its limits and every node range holding its nodes."""
    plan = build_plan(load_fleet(fleet), "us16k")
    assert plan.solver.status == "Optimal"
    for found in plan_clusters(plan):
        assert found.count <= addresses.most_clusters(plan.spec, found.limits.cloud, found.limits.region)
        for shares in found.clusters:
            assert sum(len(s.groups) for s in shares) <= found.limits.gpu_groups
            assert found.limits.gpu_nodes is None or sum(s.nodes for s in shares) <= found.limits.gpu_nodes
            assert all(s.nodes % 64 == 0 for s in shares)  # training units whole in one cluster
    for net in plan.networks:
        assert all(use.fits for use in net.ranges), net
    return plan


def test_issue_29_done_when_16384_gpus_over_three_and_three_us_regions_plan_deploy_ready() -> None:
    plan = _deploy_ready(US_16K)
    by_cloud = {cloud: sum(p.gpus for p in plan.placements if p.cloud == cloud) for cloud in ("aws", "azure")}
    assert min(by_cloud.values()) >= 0.3 * 16384
    assert any(net.pod_blocks for net in plan.networks)  # an AWS region grew (secondary ranges)
    wide = _deploy_ready({**US_16K, "network": {"supernet": "10.0.0.0/8"}})  # addresses inflate nothing
    assert plan.cost.monthly_usd == wide.cost.monthly_usd


def test_issue_29_done_when_an_azure_heavy_split_takes_a_second_aks_cluster() -> None:
    heavy = {**US_16K, "pools": [{**US_16K["pools"][0], "min_share": {"aws": 0.3, "azure": 0.6}}]}
    plan = _deploy_ready(heavy)
    counts = cluster_counts(plan.spec, plan.placements)
    assert any(count > 1 for (cloud, _), count in counts.items() if cloud == "azure"), counts
    assert any(line.item.endswith("(cluster c2)") for line in plan.cost.lines)


def test_a_second_cluster_bought_for_its_limits_never_stands_for_pod_subnet_room() -> None:
    """With us-east-1's node groups lowered so its cluster rows are held, extra clusters there
    never count as more pod subnet room: the fill puts nodes by the clusters' limits, not by
    addresses, so every pod subnet still holds what its cluster gets."""
    lowered = {**US_16K, "limits": {"aws": {"us-east-1": {"node_groups_per_cluster": 4}}}}
    plan = _deploy_ready(lowered)
    assert max(p.nodes for p in plan.placements if p.region == "us-east-1") <= 1300
