"""Region-scale networks (issue 29, docs/design.md, "Region-scale networks"): a region whose
nodes outgrow its slot grows (AWS: secondary VPC CIDR blocks, EKS custom networking) instead of
pushing nodes elsewhere; the rule loses no optimum, adds without replacing, and the program
declares what the address plan counts on."""

from __future__ import annotations

import copy
import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from gpufleet import addresses
from gpufleet.clouds.aws import Aws
from gpufleet.clouds.aws.ranges import (
    POD_BLOCKS,
    VPC_CNI,
    VPC_CNI_GROWN,
    clusters_in,
    kubelet_max_pods,
    node_addresses,
    node_ranges,
)
from gpufleet.clouds.aws.vpccni import _eni_table  # pyright: ignore[reportPrivateUsage]
from gpufleet.clouds.base import AddressBlocks, Network
from gpufleet.diff import diff_documents
from gpufleet.errors import SpecError
from gpufleet.placement import place
from gpufleet.policy import stack_of
from gpufleet.policy.readiness import VPC_BLOCK, readiness_findings
from gpufleet.preview import RecordedResource
from gpufleet.spec import load_fleet
from tests.conftest import fleet_of
from tests.test_addresses import FLEET_1024, plan, short_ranges, violations


def eu_cost(supernet: str) -> float:
    """The placement cost of prod-eu with a 2,048-GPU training pool (the issue's EU case)."""
    fleet = copy.deepcopy(fleet_of("prod-eu"))
    fleet["network"]["supernet"] = supernet
    fleet["pools"][0]["gpus"] = 2048
    for key in ("quotas", "budget"):
        fleet.pop(key)
    spec = load_fleet(fleet)
    return sum(p.monthly_usd for p in place(spec, spec.catalog()).placements)


def test_the_eu_fleet_costs_the_same_on_a_slash_10_as_on_a_slash_8() -> None:
    assert eu_cost("10.64.0.0/10") == pytest.approx(eu_cost("10.0.0.0/8"))


def test_without_growth_the_slash_10_would_cost_more() -> None:
    """The case above is one the addresses decided: with AWS's growth switched off (the old
    layout) the /10 plan moves training nodes to dearer places."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Aws, "grown_blocks", lambda self, blocks, clusters: None)  # pyright: ignore
        assert eu_cost("10.64.0.0/10") > 1.1 * eu_cost("10.0.0.0/8")


@pytest.mark.parametrize("prefix", [16, 17, 18, 19, 20])
def test_a_grown_vpc_holds_every_plan_the_plain_one_holds(prefix: int) -> None:
    """For every SKU with ENI figures: the grown layout keeps the plain private subnets, each node
    takes no more of them, and its pods' block holds at least what the subnet held, at no more
    addresses a node. So growing never loses a plan (the rule in gpufleet.addresses.layout)."""
    vpc = Network(f"10.0.0.0/{prefix}")
    plain = node_ranges(AddressBlocks(vpc))
    grown = node_ranges(AddressBlocks(vpc, pod_blocks=POD_BLOCKS[:2]))
    private = [r for r in grown if not r.pods]
    pods = [r for r in grown if r.pods]
    assert [r.cidr for r in private] == [r.cidr for r in plain]
    assert all(p.usable >= s.usable for p, s in zip(pods, plain, strict=True))
    for kind in _eni_table():
        before = node_addresses(kind, plain[0])
        assert before is not None
        assert (node_addresses(kind, private[0]) or 0) <= before, kind
        assert (node_addresses(kind, pods[0]) or 0) <= before, kind
        # the same pods a node: one ENI for pods either way (VPC_CNI MAX_ENI=1, grown MAX_ENI=2)
        assert kubelet_max_pods(kind, grown=True) == kubelet_max_pods(kind), kind


def test_the_grown_settings_and_the_block_quota() -> None:
    assert VPC_CNI_GROWN.env()["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] == "true"
    assert VPC_CNI_GROWN.env()["ENI_CONFIG_LABEL_DEF"] == "topology.kubernetes.io/zone"
    assert "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG" not in VPC_CNI.env()
    assert all(b.subnet_of(ipaddress.IPv4Network("100.64.0.0/10")) and b.prefixlen == 16 for b in POD_BLOCKS)
    # The default quota (5 blocks with the primary) holds 2 clusters' pod blocks; 50 holds 24.
    assert (clusters_in(5), clusters_in(50), clusters_in(2)) == (2, 24, 0)


def resources_by_urn(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["urn"]: r for r in doc["resources"]}


def test_growing_a_region_adds_and_replaces_nothing(tmp_path: Path) -> None:
    """A pool that grows past the plain VPC: the diff (gpufleet diff's logic) adds the pod blocks
    and their subnets and updates the add-on and templates; no VPC, subnet or range moves."""
    small_fleet = {**FLEET_1024, "pools": [{**FLEET_1024["pools"][0], "gpus": 128}]}
    small, code = plan(small_fleet, tmp_path, "grow")
    assert code == 0, violations(small)
    large, code = plan(FLEET_1024, tmp_path, "grow")
    assert code == 0, violations(large)
    assert [n["pod_blocks"] for n in small["networks"] if n["cloud"] == "aws"] == [[]]
    assert [n["pod_blocks"] for n in large["networks"] if n["cloud"] == "aws"] == [["100.64.0.0/16", "100.65.0.0/16"]]
    change = diff_documents(small, large)
    assert [c.urn for c in change.resources if c.action in ("replace", "remove")] == []
    added = {c.type for c in change.resources if c.action == "add"}
    assert {"aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation", "aws:ec2/subnet:Subnet"} <= added
    before = resources_by_urn(small)
    kept = {"aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet"}
    for urn, resource in resources_by_urn(large).items():
        if resource["type"] in kept and urn in before:
            assert resource["inputs"]["cidrBlock"] == before[urn]["inputs"]["cidrBlock"]


def test_the_program_declares_custom_networking_the_plan_counts_on(tmp_path: Path) -> None:
    doc, code = plan(FLEET_1024, tmp_path, "big")
    assert code == 0, violations(doc)
    assert short_ranges(doc["resources"]) == []
    by_name = {r["name"]: r for r in doc["resources"]}
    blocks = [r for r in doc["resources"] if r["type"].endswith("VpcIpv4CidrBlockAssociation")]
    assert sorted(b["inputs"]["cidrBlock"] for b in blocks) == ["100.64.0.0/16", "100.65.0.0/16"]
    (addon,) = [r for r in doc["resources"] if r["inputs"].get("addonName") == "vpc-cni"]
    config = json.loads(addon["inputs"]["configurationValues"])
    assert config["env"]["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] == "true"
    assert config["eniConfig"]["create"] is True
    assert config["eniConfig"]["region"] == "us-east-1"
    subnets = config["eniConfig"]["subnets"]
    assert sorted(subnets) == ["us-east-1a", "us-east-1b"]
    for zone, entry in subnets.items():
        subnet = by_name[entry["id"].removesuffix("-id")]["inputs"]
        assert subnet["availabilityZone"] == zone
        assert ipaddress.IPv4Network(subnet["cidrBlock"]).subnet_of(ipaddress.IPv4Network("100.64.0.0/10"))
        assert len(entry["securityGroups"]) == 1
    rows = {a["range"]: a for n in doc["networks"] if n["cloud"] == "aws" for a in n["addresses"]}
    assert rows["pod subnet 1"]["cidr"] == "100.64.0.0/16"
    assert rows["private subnet 1"]["needed"] == rows["private subnet 1"]["nodes"]  # one address a node


def test_the_planner_never_grows_a_vpc_past_its_block_quota() -> None:
    """A grown VPC takes three blocks (the primary and one pod block per zone); an account whose
    quota is declared lower keeps the plain layout rather than plan an association AWS refuses."""
    grown = addresses.layout(load_fleet(FLEET_1024), "aws", "us-east-1")
    assert grown is not None
    assert len(grown.pod_blocks) == 2
    fewer = {**FLEET_1024, "limits": {"aws": {"us-east-1": {"ipv4_cidr_blocks_per_vpc": 2}}}}
    plain = addresses.layout(load_fleet(fewer), "aws", "us-east-1")
    assert plain is not None
    assert plain.pod_blocks == ()
    with pytest.raises(SpecError) as caught:
        load_fleet({**FLEET_1024, "limits": {"aws": {"us-east-1": {"ipv4_cidr_blocks_per_vpc": 51}}}})
    assert "limits.aws.us-east-1.ipv4_cidr_blocks_per_vpc: 51 is above the most aws allows" in str(caught.value)


def _vpc_with_blocks(associated: int) -> list[RecordedResource]:
    """An AWS provider in us-east-1, a VPC and `associated` secondary block associations."""
    def made(kind: str, name: str, inputs: dict[str, Any], provider: str = "") -> RecordedResource:
        return RecordedResource(
            f"urn:pulumi:test::p::{kind}::{name}", kind, name, "", provider, True, False, False, (), inputs,
        )
    provider = made("pulumi:providers:aws", "aws-us-east-1", {"region": "us-east-1"})
    vpc = made("aws:ec2/vpc:Vpc", "net", {"cidrBlock": "10.0.0.0/16"}, provider.urn)
    blocks = [
        made(VPC_BLOCK, f"net-block-{i}", {"vpcId": "net-id", "cidrBlock": str(POD_BLOCKS[i])}, provider.urn)
        for i in range(associated)
    ]
    return [provider, vpc, *blocks]


def test_deploy_readiness_counts_each_vpcs_cidr_blocks_against_the_quota() -> None:
    assert readiness_findings(stack_of(_vpc_with_blocks(4))) == []  # 5 blocks: the default quota
    ((urn, message),) = readiness_findings(stack_of(_vpc_with_blocks(5)))
    assert urn.endswith("::net")
    assert "6 IPv4 CIDR blocks (the primary and 5 associated) in aws/us-east-1, above ipv4_cidr_blocks_per_vpc = 5" in message
    assert "declare it under `limits: {aws: {us-east-1: {ipv4_cidr_blocks_per_vpc: <value>}}}`" in message
    raised = {"aws": {"us-east-1": {"ipv4_cidr_blocks_per_vpc": 10}}}
    assert readiness_findings(stack_of(_vpc_with_blocks(5)), raised) == []


def test_the_block_quota_bounds_a_grown_vpcs_clusters_and_a_declared_quota_raises_it() -> None:
    """One rule (`CloudModel.clusters_in` over `blocks_per_network`) keeps a grown VPC within its
    quota and bounds its clusters: 5 blocks hold 2 clusters' pod blocks, a declared 10 holds 4,
    and at 2 the VPC stays plain (no pod blocks of its own: only the EKS quota of 100 bounds it)."""
    def most(blocks: int | None) -> int:
        limits = {} if blocks is None else {"limits": {"aws": {"us-east-1": {"ipv4_cidr_blocks_per_vpc": blocks}}}}
        return addresses.most_clusters(load_fleet({**FLEET_1024, **limits}), "aws", "us-east-1")

    assert (most(None), most(10), most(2)) == (2, 4, 100)
