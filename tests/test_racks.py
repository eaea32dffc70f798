"""Racks as node groups (issue 27; gpufleet/racks.py, gpufleet.nodegroups.placement_parts): a
placement on a rack-scale SKU becomes one node group per rack, named from its place so adding a
rack or reordering pools replaces none, every group in one zone (a block's, else the SKU's:
P6e-GB200's Dallas Local Zone, which gets a subnet of its own), and the plan's racks are the
groups declared."""

from __future__ import annotations

import copy
import ipaddress
import json
from collections.abc import Mapping
from functools import cache
from typing import Any

import pytest
import yaml

from components.aws import layout, placement_site
from components.azure import decisions as azure_decisions
from gpufleet.catalog import Cloud
from gpufleet.clouds.azure.pools import ARM64_GPU_REFUSAL
from gpufleet.clusters import plan_clusters
from gpufleet.errors import DecisionError, InfeasibleError, SpecError
from gpufleet.nodegroups import placement_parts, split
from gpufleet.offline import OfflinePlan, SpecSource, run_plan
from gpufleet.pipeline import build_plan
from gpufleet.plan import Placement
from gpufleet.racks import placement_racks, rack_of
from gpufleet.spec import load_fleet
from gpufleet.specmodel import FleetSpec
from tests.test_capacity_blocks import BLOCK_ID, EXAMPLE, example, planned

GB200 = "p6e-gb200.36xlarge"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LOCAL_ZONE = "us-east-1-dfw-2a"


def _placement(nodes: int, *, cloud: Cloud = "aws", region: str = "us-east-1", sku: str = GB200,
               blocks: str = "") -> Placement:
    return Placement("train", cloud, region, sku, nodes, nodes * 4, "reserved", 144, "L-417A185B", 0.0, "", 0.0,
                     blocks=blocks)


@cache
def _spec() -> FleetSpec:
    return load_fleet(example())


@pytest.mark.parametrize(
    ("nodes", "blocks", "rack", "count"),
    [
        (9, "", "u-p6e-gb200x36", 1),  # the smallest rack: placement's unit
        (18, "", "u-p6e-gb200x36", 2),
        (36, BLOCK_ID, "u-p6e-gb200x72", 2),  # the block's UltraServer is the rack
        (18, BLOCK_ID, "u-p6e-gb200x72", 1),
        (27, BLOCK_ID, "u-p6e-gb200x72", 2),  # 18 + 9: the second UltraServer partly used, never shared
    ],
)
def test_a_placement_fills_the_racks_of_its_block_else_its_smallest(nodes: int, blocks: str, rack: str,
                                                                      count: int) -> None:
    spec = _spec()
    racks = placement_racks(spec, spec.catalog(), _placement(nodes, blocks=blocks))
    assert racks is not None
    assert (racks.rack.name, racks.count) == (rack, count)
    parts = placement_parts(spec, spec.catalog(), _placement(nodes, blocks=blocks), None)
    assert len(parts) == count
    assert sum(p.nodes for p in parts) == nodes
    assert all(p.nodes <= racks.rack.instances and p.rack == rack for p in parts)


def test_a_sku_without_racks_is_split_at_the_cluster_limit_as_before() -> None:
    spec = _spec()
    placement = _placement(4, cloud="azure", region="eastus", sku="Standard_ND96isr_H200_v5")
    assert rack_of(spec, spec.catalog(), placement) is None
    assert placement_parts(spec, spec.catalog(), placement, None) == split(4, None, 1000)


def test_rack_groups_keep_their_names_and_sizes_when_a_rack_is_added() -> None:
    for racks in range(1, 6):
        before, after = split(18 * racks, 18, 18, "u-p6e-gb200x72"), split(18 * (racks + 1), 18, 18, "u-p6e-gb200x72")
        assert after[:racks] == before  # same suffix, nodes and floor: nothing existing changes
        assert [p.suffix for p in after] == ["", *(f"-r{i}" for i in range(2, racks + 2))]
    assert split(900, None, 450)[1].suffix == "-g2"  # groups that are not racks keep their names


def test_azure_racks_would_be_one_agent_pool_each_with_distinct_names() -> None:
    """NVL72 racks of 18 VMs on Azure: the grouping is cloud-neutral (AKS arm64 GPU pools are
    still refused at the spec, below), and each rack's agent pool name stays AKS-valid."""
    spec = _spec()
    placement = _placement(36, cloud="azure", region="eastus", sku="Standard_ND128isr_NDR_GB200_v6")
    parts = placement_parts(spec, spec.catalog(), placement, None)
    assert [(p.nodes, p.rack) for p in parts] == [(18, "nvl72"), (18, "nvl72")]
    names = {azure_decisions.agent_pool_name(placement.key, "train", p.suffix) for p in parts}
    assert len(names) == 2
    assert all(len(n) <= 12 and n.isalnum() and n.islower() for n in names)


def test_azure_gb200_stays_refused_naming_what_is_unconfirmed() -> None:
    fleet = copy.deepcopy(example())
    fleet["pools"] = [{"name": "racks", "accelerator": "GB200", "gpus": 72, "min_share": {"azure": 1.0}}]
    del fleet["capacity"]
    with pytest.raises(SpecError) as caught:
        load_fleet(fleet)
    text = " ".join(str(p) for p in caught.value.problems)
    assert ARM64_GPU_REFUSAL in text, text
    for unconfirmed in ("use-arm64-vms", "use-nvidia-gpu", "Standard_ND128isr_NDR_GB200_v6"):
        assert unconfirmed in ARM64_GPU_REFUSAL


# -- zones ------------------------------------------------------------------------------------------

ZONES = ("us-east-1a", "us-east-1b")


def _site(change: dict[str, Any]) -> tuple[str | None, str | None]:
    fleet = copy.deepcopy(example())
    fleet["capacity"]["blocks"][0].update(change)
    plan = build_plan(load_fleet(fleet), "test")
    [placement] = plan.placements_in("aws", "us-east-1")
    return placement_site(plan, plan.spec.catalog(), placement, ZONES)


def test_a_rack_is_in_its_block_zone_else_the_local_zone_of_its_sku() -> None:
    assert _site({}) == (BLOCK_ID, LOCAL_ZONE)  # P6e-GB200: the Dallas Local Zone
    assert _site({"zone": "us-east-1b"}) == (BLOCK_ID, "us-east-1b")
    assert _site({"zone": "us-east-1-chi-2a"}) == (BLOCK_ID, "us-east-1-chi-2a")


def test_a_block_zone_the_network_does_not_span_is_refused_naming_what_is_allowed() -> None:
    with pytest.raises(DecisionError) as caught:
        _site({"zone": "us-east-1c"})
    assert caught.value.path == "capacity.blocks[0].zone"
    assert "us-east-1a, us-east-1b, or a Local Zone of us-east-1" in str(caught.value)


def test_a_reserved_pool_without_a_block_keeps_its_racks_in_the_local_zone() -> None:
    fleet = copy.deepcopy(example())
    del fleet["capacity"]
    fleet["pools"][0]["capacity_reservation_id"] = BLOCK_ID
    fleet["prices"]["aws/us-east-1/p6e-gb200.36xlarge"] = 120.0
    plan = build_plan(load_fleet(fleet), "test")
    [placement] = plan.placements_in("aws", "us-east-1")
    assert placement_site(plan, plan.spec.catalog(), placement, ZONES) == (BLOCK_ID, LOCAL_ZONE)
    racks = placement_racks(plan.spec, plan.spec.catalog(), placement)
    assert racks is not None
    assert (racks.rack.name, racks.count) == ("u-p6e-gb200x36", 4)


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "10.71.128.0/18", "10.1.0.0/20"])
def test_the_local_zone_subnet_overlaps_no_subnet_of_the_layout(cidr: str) -> None:
    local = ipaddress.IPv4Network(layout.local_zone_subnet(cidr, ZONES))
    laid = layout.subnet_layout(cidr, ZONES)
    others = [ipaddress.IPv4Network(c) for c in (*laid.private.values(), *laid.public.values())]
    assert local.subnet_of(ipaddress.IPv4Network(cidr))
    assert not any(local.overlaps(o) for o in others)
    assert local.prefixlen == ipaddress.IPv4Network(laid.private["us-east-1a"]).prefixlen  # a zone's size


def test_local_zone_subnets_are_refused_where_they_cannot_be_laid_out() -> None:
    with pytest.raises(DecisionError, match="no quarter free"):
        layout.local_zone_subnet("10.0.0.0/16", (*ZONES, "us-east-1c"))
    with pytest.raises(DecisionError, match="smaller than /20"):
        layout.local_zone_subnet("10.0.0.0/21", ZONES)
    assert layout.local_zone_of("us-east-1", [None, "us-east-1a"], grown=False) is None
    assert layout.local_zone_of("us-east-1", [LOCAL_ZONE, None, LOCAL_ZONE], grown=False) == LOCAL_ZONE
    with pytest.raises(DecisionError, match="2 Local Zones"):
        layout.local_zone_of("us-east-1", [LOCAL_ZONE, "us-east-1-chi-2a"], grown=False)
    assert layout.local_zone_of("us-east-1", [LOCAL_ZONE], grown=True) == LOCAL_ZONE  # with a pod subnet
    with pytest.raises(DecisionError, match="first cluster only"):
        layout.local_zone_of("us-east-1", [LOCAL_ZONE], grown=True, clusters=2)


# -- the recorded program ---------------------------------------------------------------------------

def _groups(plan: OfflinePlan, pool: str) -> dict[str, Mapping[str, Any]]:
    return {r.name: r.inputs for r in plan.recording.by_type(NODE_GROUP)
            if r.inputs.get("tags", {}).get("gpufleet:pool") == pool}


def test_the_example_declares_one_node_group_per_rack_in_the_local_zone_subnet() -> None:
    plan = planned()
    [train] = plan.document["pools"][0]["placements"]
    assert (train["rack"], train["racks"], train["rack_instances"]) == ("u-p6e-gb200x72", 2, 18)
    groups = _groups(plan, "train")
    assert len(groups) == train["racks"]  # the plan's racks are the groups declared
    assert sorted(g["scalingConfig"]["desiredSize"] for g in groups.values()) == [18, 18]
    subnets = {r.name: r.inputs for r in plan.recording.by_type("aws:ec2/subnet:Subnet")}
    local = subnets[f"racks-aws-us-east-1-private-{LOCAL_ZONE}"]
    assert local["availabilityZone"] == LOCAL_ZONE
    assert all(g["subnetIds"] == [f"racks-aws-us-east-1-private-{LOCAL_ZONE}-id"] for g in groups.values())
    [network] = [n for n in plan.document["networks"] if n["cloud"] == "aws"]
    assert local["cidrBlock"] == layout.local_zone_subnet(network["cidr"], ZONES)
    [aws] = [c for c in plan.document["clusters"] if c["cloud"] == "aws"]
    assert aws["groups"] == len(groups)
    assert aws["largest_group_nodes"] == 18
    assert not [v for v in plan.document["policies"] if v["violations"]]  # the subnet holds the racks


@cache
def _grown_and_reordered() -> OfflinePlan:
    """The example with a third UltraServer bought and used, and its pools in the other order."""
    fleet = copy.deepcopy(example())
    fleet["capacity"]["blocks"][0]["units"] = 3
    fleet["pools"][0]["gpus"] = 216
    fleet["pools"].reverse()
    path = EXAMPLE.parent.parent / "tests" / "_racks_grown.yaml"
    try:
        path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": fleet}}))
        return run_plan(SpecSource(spec=path))
    finally:
        path.unlink()


def test_adding_a_rack_and_reordering_pools_replace_no_group() -> None:
    before, after = _groups(planned(), "train"), _groups(_grown_and_reordered(), "train")
    assert set(before) < set(after)
    assert len(after) == 3
    for name, inputs in before.items():  # the same group, unchanged
        assert after[name] == inputs
    [added] = set(after) - set(before)
    assert added.endswith("-ng-r3")
    assert after[added]["nodeGroupName"].endswith("-r3")
    [train] = [p for pool in _grown_and_reordered().document["pools"] if pool["name"] == "train"
               for p in pool["placements"]]
    assert train["racks"] == 3


def test_in_a_grown_vpc_the_local_zone_gets_a_pod_subnet_and_an_eniconfig() -> None:
    """54 GB200 nodes grow us-east-1's VPC (EKS custom networking): the Local Zone's pods get the
    last pod block, beside the zones' blocks, and the vpc-cni add-on an ENIConfig for it."""
    plan = _grown_and_reordered()
    subnets = {r.name: r.inputs for r in plan.recording.by_type("aws:ec2/subnet:Subnet")}
    pods = subnets[f"racks-aws-us-east-1-pods-{LOCAL_ZONE}"]
    assert (pods["availabilityZone"], pods["cidrBlock"]) == (LOCAL_ZONE, layout.local_zone_pod_block())
    [network] = [n for n in plan.document["networks"] if n["cloud"] == "aws"]
    assert layout.local_zone_pod_block() not in network["pod_blocks"]
    [cni] = [r.inputs for r in plan.recording.by_type("aws:eks/addon:Addon") if r.inputs["addonName"] == "vpc-cni"]
    assert LOCAL_ZONE in json.loads(cni["configurationValues"])["eniConfig"]["subnets"]
    assert not [v for v in plan.document["policies"] if v["violations"]]


def test_a_plan_without_racks_shows_none() -> None:
    spec = _spec()
    placement = _placement(4, cloud="azure", region="eastus", sku="Standard_ND96isr_H200_v5")
    assert placement_racks(spec, spec.catalog(), placement) is None
    [serve] = planned().document["pools"][1]["placements"]
    assert "racks" not in serve
    assert "rack" not in serve


def test_placement_counts_racks_against_the_cluster_group_limit() -> None:
    """With 3 GPU node groups allowed, 36 GB200 nodes are 4 racks of 9: more than the cluster
    holds, so placement refuses rather than plan groups the cluster cannot have."""
    fleet = copy.deepcopy(example())
    del fleet["capacity"]
    fleet["pools"] = [{"name": "train", "accelerator": "GB200", "gpus": 144, "capacity": "reserved",
                       "capacity_reservation_id": BLOCK_ID}]
    fleet["clouds"] = {"aws": {"regions": ["us-east-1"]}}
    fleet["prices"] = {"aws/us-east-1/p6e-gb200.36xlarge": 120.0}
    del fleet["quotas"]
    fleet["limits"] = {"aws": {"us-east-1": {"node_groups_per_cluster": 5}}}  # 4 GPU groups: holds 4 racks
    plan = build_plan(load_fleet(fleet), "test")
    [aws] = plan_clusters(plan)
    assert [sum(len(s.groups) for s in shares) for shares in aws.clusters] == [4]
    fleet["limits"]["aws"]["us-east-1"]["node_groups_per_cluster"] = 4  # 3 GPU groups: not 4 racks
    [aws] = plan_clusters(build_plan(load_fleet(fleet), "test"))  # a second cluster takes the 4th rack
    assert [[g.nodes for s in shares for g in s.groups] for shares in aws.clusters] == [[9, 9, 9], [9]]
    fleet["limits"]["aws"]["us-east-1"]["clusters_per_region"] = 1
    with pytest.raises(InfeasibleError):
        build_plan(load_fleet(fleet), "test")
