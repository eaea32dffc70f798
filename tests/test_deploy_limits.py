"""Issue 14, node groups and clusters: plans respect the clouds' limits, proven from the recorded
resources (not from the plan's own numbers); growth adds groups and replaces nothing; a fleet
that cannot fit exits 1 naming the limit, the region and the value to raise."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet.catalog.limits import limit
from gpufleet.cli import main
from gpufleet.clouds.aws import NODE_GROUP
from gpufleet.clouds.azure import AGENT_POOL, MANAGED_CLUSTER
from gpufleet.clusters import region_clusters
from gpufleet.errors import InfeasibleError
from gpufleet.nodegroups import split
from gpufleet.placement import place
from gpufleet.policy import evaluate, policy_config
from gpufleet.policy.config import DEPLOY_READINESS
from gpufleet.preview import RecordedResource, Recording
from gpufleet.spec import load_fleet
from tests.conftest import record_fleet

EKS_NODES_PER_GROUP = limit("aws", "nodes_per_node_group").value  # 450
AKS_NODES_PER_POOL = limit("azure", "nodes_per_agent_pool").value  # 1,000
AKS_POOLS_PER_CLUSTER = limit("azure", "agent_pools_per_cluster").value  # 100
AKS_NODES_PER_CLUSTER = limit("azure", "nodes_per_cluster").value  # 1,000 unless raised
EKS_GROUPS_PER_CLUSTER = limit("aws", "node_groups_per_cluster").value  # 30


def h100_fleet(
    gpus: int, places: list[str], supernet: str = "10.0.0.0/8", limits: dict[str, Any] | None = None, **pool: Any
) -> dict[str, Any]:
    regions: dict[str, dict[str, list[str]]] = {}
    for place_ in places:
        cloud, region = place_.split("/")
        regions.setdefault(cloud, {"regions": []})["regions"].append(region)
    return {
        "name": "big", "network": {"supernet": supernet}, "clouds": regions,
        # unit_nodes 1: these fleets test the deploy limits, so nodes may split over sites one
        # by one (an rdma pool without units is whole in one site since issue 29)
        "pools": [{"name": "train", "accelerator": "H100", "gpus": gpus, "interconnect": "rdma",
                   "placement": {"unit_nodes": 1}, **pool}],
        "limits": limits or {},
    }


ISSUE_1024 = h100_fleet(1024, ["aws/us-east-1", "azure/eastus"], "10.96.0.0/11")
ISSUE_8192 = h100_fleet(8192, ["aws/us-east-1", "azure/eastus"], min_share={"azure": 0.5})


def _most(resource: RecordedResource) -> int:
    """A node pool's nodes at maximum size, as the recorded inputs say."""
    inputs = resource.inputs
    if resource.type == NODE_GROUP:
        return int(inputs["scalingConfig"]["maxSize"])
    return int(inputs["maxCount"] if inputs.get("enableAutoScaling") else inputs["count"])


def assert_within_default_limits(recording: Recording) -> None:
    """Every EKS node group and AKS agent pool, and every cluster, within the default limits."""
    groups = recording.by_type(NODE_GROUP)
    assert all(_most(g) <= EKS_NODES_PER_GROUP for g in groups)
    per_cluster: dict[str, int] = {}
    for group in groups:
        cluster = str(group.inputs["clusterName"])
        per_cluster[cluster] = per_cluster.get(cluster, 0) + 1
    assert all(n <= EKS_GROUPS_PER_CLUSTER for n in per_cluster.values())
    pools = recording.by_type(AGENT_POOL)
    assert all(_most(p) <= AKS_NODES_PER_POOL for p in pools)
    for cluster in recording.by_type(MANAGED_CLUSTER):
        mine = [p for p in pools if p.inputs["resourceName"] == cluster.inputs["resourceName"]]
        system = cluster.inputs["agentPoolProfiles"]
        assert len(mine) + len(system) <= AKS_POOLS_PER_CLUSTER
        system_nodes = sum(int(p.get("maxCount") or p["count"]) for p in system)
        assert sum(_most(p) for p in mine) + system_nodes <= AKS_NODES_PER_CLUSTER


def readiness(recording: Recording, fleet: dict[str, Any]) -> list[str]:
    verdicts = evaluate(recording.resources, policy_config(load_fleet(fleet)))
    (verdict,) = [v for v in verdicts if v.policy == DEPLOY_READINESS]
    assert verdict.enforcement == "mandatory"
    return [v.message for v in verdict.violations]


@pytest.mark.parametrize("fleet", [ISSUE_1024, ISSUE_8192], ids=["1024", "8192"])
def test_the_issue_fleets_have_no_oversized_group(fleet: dict[str, Any]) -> None:
    recording = record_fleet(fleet)
    assert_within_default_limits(recording)
    assert readiness(recording, fleet) == []


def test_an_eks_placement_above_the_group_limit_splits_into_groups_that_share_everything() -> None:
    # A lowered group limit makes the 8,192 fleet's AWS part (512 p5.48xlarge since the grown
    # VPC holds them, issue 29; 321 before) split into groups of 200.
    fleet = {**ISSUE_8192, "limits": {"aws": {"us-east-1": {"nodes_per_node_group": 200}}}}
    recording = record_fleet(fleet)
    groups = sorted(recording.by_type(NODE_GROUP), key=lambda g: g.name)
    gpu = sorted((g for g in groups if g.inputs["instanceTypes"] == ["p5.48xlarge"]), key=lambda g: len(g.name))
    total = sum(_most(g) for g in gpu)
    assert [g.name.rsplit("-", 1)[-1] for g in gpu] == ["ng", *(f"g{i}" for i in range(2, len(gpu) + 1))]
    assert len(gpu) == -(-total // 200) >= 2
    assert all(_most(g) == 200 for g in gpu[:-1])
    assert readiness(recording, fleet) == []
    first = gpu[0]
    for i, other in enumerate(gpu[1:], start=2):
        for key in ("subnetIds", "labels", "taints", "launchTemplate", "amiType", "capacityType"):
            assert first.inputs[key] == other.inputs[key], key
        assert other.inputs["nodeGroupName"] == first.inputs["nodeGroupName"] + f"-g{i}"
    assert len(first.inputs["subnetIds"]) == 1  # rdma: one zone, one cluster placement group
    assert len(recording.by_type("aws:ec2/placementGroup:PlacementGroup")) == 1


def _urns(recording: Recording) -> dict[str, RecordedResource]:
    return {r.urn: r for r in recording.resources}


def test_growing_past_a_group_adds_a_group_and_shrinking_removes_only_it() -> None:
    raised: dict[str, Any] = {
        "azure": {"eastus": {"nodes_per_cluster": 5000}},  # else no AKS pool reaches 1,000 nodes
        "aws": {"us-east-1": {"nodes_per_node_group": 250}},  # one VPC holds about 320 p5.48xlarge
    }
    small = h100_fleet(8 * 400, ["aws/us-east-1", "azure/eastus"], min_share={"azure": 0.5}, limits=raised)
    grown = h100_fleet(8 * 2400, ["aws/us-east-1", "azure/eastus"], min_share={"azure": 0.5}, limits=raised)
    before, after = _urns(record_fleet(small)), _urns(record_fleet(grown))
    assert set(before) <= set(after)
    for urn, old in before.items():
        if old.type in (NODE_GROUP, AGENT_POOL):
            new = after[urn].inputs
            for key in ("nodeGroupName", "agentPoolName", "subnetIds", "vnetSubnetID", "instanceTypes", "vmSize"):
                assert new.get(key) == old.inputs.get(key), (urn, key)
    added = [after[u] for u in set(after) - set(before) if after[u].type in (NODE_GROUP, AGENT_POOL)]
    assert any(r.name.endswith("-ng-g2") for r in added)
    assert any(r.name.endswith("-pool-g2") for r in added)
    shrunk = _urns(record_fleet(small))
    assert set(shrunk) == set(before)


def test_a_fleet_beyond_the_declared_limits_exits_1_naming_limit_region_and_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    declared = {"node_groups_per_cluster": 3, "clusters_per_region": 1}
    fleet = h100_fleet(8 * 2000, ["aws/us-east-1"], limits={"aws": {"us-east-1": declared}})
    spec = tmp_path / "fleet.yaml"
    spec.write_text(yaml.safe_dump(fleet))
    code = main(["plan", "--spec", str(spec)])
    _, err = capsys.readouterr()
    assert code == 1
    assert "aws/us-east-1" in err
    assert "node_groups_per_cluster: 6" in err  # 5 GPU groups of 450 (2,000 nodes) + the system group
    assert "Traceback" not in err


def test_aks_nodes_per_cluster_with_one_cluster_a_region_sends_nodes_to_another_region() -> None:
    one = {"clusters_per_subscription": 1}
    spec = load_fleet(h100_fleet(8192, ["azure/eastus", "azure/eastus2"], limits={"azure": {"eastus": one, "eastus2": one}}))
    result = place(spec, spec.catalog())
    for p in result.placements:
        assert p.nodes <= AKS_NODES_PER_CLUSTER - 3
    assert {p.region for p in result.placements} == {"eastus", "eastus2"}


def test_aks_nodes_per_cluster_gives_the_cheaper_region_a_second_cluster() -> None:
    spec = load_fleet(h100_fleet(8192, ["azure/eastus", "azure/eastus2"]))
    result = place(spec, spec.catalog())
    (placed,) = result.placements
    clusters = region_clusters(spec, "azure", placed.region, result.placements)
    assert placed.nodes == 1024
    assert clusters.count == 2
    assert [[s.nodes for s in shares] for shares in clusters.clusters] == [[AKS_NODES_PER_CLUSTER - 3], [27]]


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"aws": {"us-east-1": {"nodes_per_group": 500}}}, "unknown aws limit 'nodes_per_group'"),
        ({"azure": {"eastus": {"nodes_per_agent_pool": 2000}}}, "is fixed at 1000 nodes and cannot be raised"),
        ({"azure": {"eastus": {"nodes_per_cluster": 6000}}}, "at most 5000"),
        ({"aws": {"us-west-2": {"nodes_per_node_group": 500}}}, "region 'us-west-2' is not under clouds.aws.regions"),
        ({"aws": {"us-east-1": {"nodes_per_node_group": 0}}}, "greater than 0"),
    ],
)
def test_limit_overrides_are_validated(limits: dict[str, Any], message: str) -> None:
    from gpufleet.errors import SpecError

    with pytest.raises(SpecError, match="limits\\.") as raised:
        load_fleet({**ISSUE_1024, "limits": limits})
    assert message in str(raised.value)


def test_a_raised_limit_is_honoured_by_components_and_policy() -> None:
    # 800 single-GPU nodes: a p5.48xlarge takes 50 addresses, more than one VPC holds for 800.
    fleet = {
        "name": "wide", "network": {"supernet": "10.0.0.0/8"}, "clouds": {"aws": {"regions": ["us-east-1"]}},
        "pools": [{"name": "serve", "accelerator": "T4", "gpus": 800, "gpus_per_node": 1}],
        "limits": {"aws": {"us-east-1": {"nodes_per_node_group": 1000}}},
    }
    recording = record_fleet(fleet)
    gpu = [g for g in recording.by_type(NODE_GROUP) if g.inputs["instanceTypes"] != ["m7i.large"]]
    assert [_most(g) for g in gpu] == [800]
    assert readiness(recording, fleet) == []
    # the same resources judged at the default limit are not deployable
    messages = readiness(recording, {**fleet, "limits": {}})
    assert any("above nodes_per_node_group = 450" in m for m in messages)


def test_readiness_refuses_names_the_cloud_would_refuse() -> None:
    recording = record_fleet(ISSUE_8192)
    bad = {
        NODE_GROUP: {"nodeGroupName": "-bad name"},
        AGENT_POOL: {"agentPoolName": "TooLongPoolName1"},
    }
    changed = [
        dataclasses.replace(r, inputs={**r.inputs, **bad[r.type]}) if r.type in bad else r
        for r in recording.resources
    ]
    messages = readiness(dataclasses.replace(recording, resources=changed), ISSUE_8192)
    assert any("EKS node group name '-bad name'" in m for m in messages)
    assert any("AKS agent pool name 'TooLongPoolName1'" in m for m in messages)


def test_split_fills_groups_in_order_and_keeps_the_floor() -> None:
    assert [(p.nodes, p.min_nodes, p.suffix) for p in split(1000, 500, 450)] == [
        (450, 450, ""), (450, 50, "-g2"), (100, 0, "-g3"),
    ]
    assert [(p.nodes, p.min_nodes) for p in split(10, None, 450)] == [(10, None)]


PLACES = ["aws/us-east-1", "aws/us-east-2", "aws/us-west-2", "azure/eastus", "azure/eastus2", "azure/westus"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nodes=st.integers(min_value=1, max_value=7_500),
    places=st.lists(st.sampled_from(PLACES), min_size=1, max_size=4, unique=True),
    groups=st.one_of(st.none(), st.integers(min_value=2, max_value=40)),
    per_group=st.one_of(st.none(), st.integers(min_value=50, max_value=2000)),
)
def test_random_fleets_fit_every_limit_or_name_one(
    nodes: int, places: list[str], groups: int | None, per_group: int | None
) -> None:
    limits: dict[str, Any] = {}
    aws_regions = [p.split("/")[1] for p in places if p.startswith("aws/")]
    if aws_regions and (groups or per_group):
        declared = {k: v for k, v in (("node_groups_per_cluster", groups), ("nodes_per_node_group", per_group)) if v}
        limits = {"aws": {aws_regions[0]: declared}}
    spec = load_fleet(h100_fleet(8 * nodes, places, limits=limits))
    try:
        placements = place(spec, spec.catalog()).placements
    except InfeasibleError as error:
        message, placements = str(error), ()
    else:
        message = ""
    if message:
        assert "no placement fits the clusters' limits" in message
        assert any(place_ in message for place_ in places)
        return
    for cloud, region in {(p.cloud, p.region) for p in placements}:  # each cluster as the components fill it
        filled = region_clusters(spec, cloud, region, placements)
        bounds = filled.limits
        assert filled.count <= bounds.clusters
        for shares in filled.clusters:
            assert sum(len(s.groups) for s in shares) <= bounds.gpu_groups
            assert bounds.gpu_nodes is None or sum(s.nodes for s in shares) <= bounds.gpu_nodes


@settings(max_examples=50, deadline=None)
@given(
    pool=st.from_regex(r"[a-z][a-z0-9-]{0,22}[a-z0-9]", fullmatch=True),
    sku=st.sampled_from(["p5.48xlarge", "Standard_ND96isr_H100_v5", "g4dn.xlarge"]),
    index=st.integers(min_value=0, max_value=40),
)
def test_split_group_names_meet_the_cloud_rules(pool: str, sku: str, index: int) -> None:
    from components.aws import decisions as aws
    from components.azure import decisions as azure
    from gpufleet.catalog.limits import name_problem
    from gpufleet.nodegroups import GroupPart

    suffix = GroupPart(index, 1, None).suffix
    key = f"{pool}/azure/eastus/{sku}"
    assert name_problem("eks_node_group", aws.node_group_name(pool, sku, suffix)) is None
    assert name_problem("aks_agent_pool", azure.agent_pool_name(key, pool, suffix)) is None
    assert aws.node_group_name(pool, sku, suffix).endswith(suffix)
    if index:  # an added group never takes the first group's name
        assert azure.agent_pool_name(key, pool, suffix) != azure.agent_pool_name(key, pool)
