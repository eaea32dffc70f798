"""Addresses that hold the nodes (issue 14, point 3): every node subnet and pod range holds every
node that can reach it, proven from the recorded resources with arithmetic written here (ENI
figures from eni_limits.csv, the VPC CNI settings the add-on records, a /24 per overlay node),
not from the plan's own numbers; growth keeps every CIDR; a short network exits 1 naming the field."""

from __future__ import annotations

import csv
import ipaddress
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet import addresses, ipam
from gpufleet.clusters import region_clusters
from gpufleet.offline import SpecSource, run_plan
from gpufleet.plan import Placement
from gpufleet.spec import load_fleet
from tests.conftest import fleet_of

ENI_CSV = Path(__file__).parent.parent / "gpufleet" / "catalog" / "data" / "eni_limits.csv"
SYSTEM_ENI = {"m7i.large": (3, 10)}  # the system group's type (gpufleet/clouds/aws SYSTEM_ENI)

FLEET_1024: dict[str, Any] = {
    "name": "big", "network": {"supernet": "10.96.0.0/11"},
    "clouds": {"aws": {"regions": ["us-east-1"]}, "azure": {"regions": ["eastus"]}},
    "pools": [{"name": "train", "accelerator": "H100", "gpus": 1024, "gpus_per_node": 8,
               "interconnect": "rdma"}],
}
FLEET_8192: dict[str, Any] = {
    "name": "huge", "network": {"supernet": "10.0.0.0/8"},
    "clouds": {"aws": {"regions": ["us-east-1"]}, "azure": {"regions": ["eastus"]}},
    "pools": [{"name": "train", "accelerator": "H100", "gpus": 8192, "gpus_per_node": 8,
               "min_share": {"azure": 0.5}}],
}


@cache
def eni_table() -> dict[str, tuple[int, int]]:
    with ENI_CSV.open(encoding="utf-8") as handle:
        rows = {r["instance_type"]: (int(r["max_enis"]), int(r["ipv4_per_eni"])) for r in csv.DictReader(handle)}
    return rows | SYSTEM_ENI


def plan(fleet: dict[str, Any], tmp_path: Path, name: str) -> tuple[dict[str, Any], int]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": fleet}}))
    made = run_plan(SpecSource(spec=path, stack_name=name))
    return made.document, made.exit_code


def short_ranges(resources: list[dict[str, Any]]) -> list[str]:
    """Every recorded subnet / pod range whose nodes can need more addresses than it holds,
    computed here from the recorded inputs alone."""
    by_name = {r["name"]: r for r in resources}

    def subnet_of(ref: str) -> dict[str, Any]:
        return by_name[ref.removesuffix("-id")]

    config = {
        r["inputs"]["clusterName"]: json.loads(r["inputs"].get("configurationValues") or "{}")
        for r in resources if r["type"] == "aws:eks/addon:Addon" and r["inputs"]["addonName"] == "vpc-cni"
    }
    need: dict[tuple[str, str], int] = {}  # (range's resource or pod CIDR, CIDR): addresses
    for r in resources:
        inputs = r["inputs"]
        if r["type"] == "aws:eks/nodeGroup:NodeGroup":
            enis, per_eni = eni_table()[inputs["instanceTypes"][0]]
            env = config[inputs["clusterName"]].get("env", {})
            cap = min(int(env.get("MAX_ENI", "0")) or enis, enis)
            assert env.get("ENABLE_PREFIX_DELEGATION") == "false"
            custom = env.get("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG") == "true"
            zones = len(inputs["subnetIds"])
            nodes = int(inputs["scalingConfig"]["maxSize"]) + max(2 * zones, int(inputs["updateConfig"]["maxUnavailable"]))
            for ref in inputs["subnetIds"]:  # an Auto Scaling group may fill any one of its zones
                subnet = subnet_of(ref)["inputs"]
                here = (ref, subnet["cidrBlock"])  # by resource: two VPCs may reuse a pod CIDR
                # Custom networking: the node's own address in its subnet, every other ENI's in
                # the pod subnet its zone's ENIConfig names.
                need[here] = need.get(here, 0) + nodes * (1 if custom else cap * per_eni)
                if custom:
                    eni_config = config[inputs["clusterName"]]["eniConfig"]["subnets"][subnet["availabilityZone"]]
                    pods = (eni_config["id"], subnet_of(eni_config["id"])["inputs"]["cidrBlock"])
                    need[pods] = need.get(pods, 0) + nodes * (cap - 1) * per_eni
        pools: list[tuple[dict[str, Any], str | None]] = []
        if r["type"] == "azure-native:containerservice:AgentPool":
            cluster = next(c for c in resources if c["inputs"].get("resourceName") == inputs["resourceName"]
                           and c["type"] == "azure-native:containerservice:ManagedCluster")
            pools.append((inputs, cluster["inputs"]["networkProfile"]["podCidr"]))
        if r["type"] == "azure-native:containerservice:ManagedCluster":
            assert inputs["networkProfile"]["networkPluginMode"] == "overlay"
            pools += [(p, inputs["networkProfile"]["podCidr"]) for p in inputs["agentPoolProfiles"]]
        for pool, pod_cidr in pools:
            most = int(pool.get("maxCount") or pool["count"])
            surge = str(pool.get("upgradeSettings", {}).get("maxSurge", "")) or None
            nodes = most + (max(1, -(-most // 10)) if surge is None else int(surge))
            subnet = (pool["vnetSubnetID"], subnet_of(pool["vnetSubnetID"])["inputs"]["addressPrefix"])
            need[subnet] = need.get(subnet, 0) + nodes
            need[("pods", str(pod_cidr))] = need.get(("pods", str(pod_cidr)), 0) + nodes * 256
    short = []
    for (owner, cidr), needed in need.items():
        size = ipaddress.ip_network(cidr).num_addresses - (0 if owner == "pods" else 5)
        if needed > size:
            short.append(f"{cidr}: {needed} > {size}")
    return short


def violations(doc: dict[str, Any], policy: str = "address-capacity") -> list[str]:
    return [v["message"] for p in doc["policies"] if p["policy"] == policy for v in p["violations"]]


@pytest.mark.parametrize("stack", ["dev", "prod-eu"])
def test_sample_stacks_hold_their_nodes_and_keep_their_networks(stack: str, tmp_path: Path) -> None:
    doc, code = plan(fleet_of(stack), tmp_path, stack)
    assert code == 0
    assert violations(doc) == []
    assert short_ranges(doc["resources"]) == []
    vpcs = sorted(r["inputs"]["cidrBlock"] for r in doc["resources"] if r["type"] == "aws:ec2/vpc:Vpc")
    vnets = sorted(r["inputs"]["addressSpace"]["addressPrefixes"][0]
                   for r in doc["resources"] if r["type"] == "azure-native:network:VirtualNetwork")
    # The VPCs and VNets of the sample stacks are where they were before the address check.
    assert (vpcs, vnets) == {
        "dev": (["10.135.128.0/18"], ["10.138.192.0/19"]),
        "prod-eu": (["10.68.192.0/18"], ["10.81.0.0/19"]),
    }[stack]
    addon = next(r for r in doc["resources"] if r["inputs"].get("addonName") == "vpc-cni")
    assert json.loads(addon["inputs"]["configurationValues"])["env"]["MAX_ENI"] == "1"
    for net in doc["networks"]:
        assert net["addresses"]
        assert all(a["needed"] <= a["available"] and not a["fix"] for a in net["addresses"])


def nodes_by_place(doc: dict[str, Any]) -> dict[str, int]:
    found: dict[str, int] = {}
    for pool in doc["pools"]:
        for p in pool["placements"]:
            key = f"{p['cloud']}/{p['region']}"
            found[key] = found.get(key, 0) + p["nodes"]
    return found


def pod_blocks(doc: dict[str, Any]) -> dict[str, list[str]]:
    return {f"{n['cloud']}/{n['region']}": n["pod_blocks"] for n in doc["networks"]}


def test_1024_gpu_fleet_on_a_slash_11_grows_the_vpc_and_stays_on_aws(tmp_path: Path) -> None:
    # Behaviour change (issue 29): a /21 private subnet held 35 p5.48xlarge with their pods; the
    # grown VPC puts the pods in /16 secondary blocks, so all 128 nodes take the cheaper AWS.
    doc, code = plan(FLEET_1024, tmp_path, "big")
    assert code == 0, violations(doc)
    assert short_ranges(doc["resources"]) == []  # the independent arithmetic agrees
    assert nodes_by_place(doc) == {"aws/us-east-1": 128}
    assert pod_blocks(doc) == {"aws/us-east-1": ["100.64.0.0/16", "100.65.0.0/16"]}


def test_a_fleet_no_network_can_hold_exits_1_naming_the_range_and_the_supernet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gpufleet.cli import main

    spec = tmp_path / "fleet.yaml"
    fleet = {**FLEET_1024, "network": {"supernet": "10.0.0.0/12"}, "clouds": {"aws": {"regions": ["us-east-1"]}},
             "pools": [{**FLEET_1024["pools"][0], "gpus": 8 * 1100}]}
    spec.write_text(yaml.safe_dump(fleet))
    code = main(["plan", "--spec", str(spec)])
    message = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in message
    # Even a grown VPC keeps one address a node in its /22 node subnet: the supernet must grow.
    assert "aws/us-east-1 private subnet 1 10.1.224.0/22" in message
    assert "holds 1019" in message
    assert "set network.supernet to a /11 or larger" in message


def test_8192_gpu_fleet_takes_its_aws_half_in_one_grown_vpc(tmp_path: Path) -> None:
    # Behaviour change (issue 29): AWS held 321 nodes (its /18 subnet) and Azure the rest.
    doc, code = plan(FLEET_8192, tmp_path, "huge")
    assert code == 0, violations(doc)
    assert short_ranges(doc["resources"]) == []
    assert nodes_by_place(doc) == {"aws/us-east-1": 512, "azure/eastus": 512}
    assert pod_blocks(doc)["aws/us-east-1"] == ["100.64.0.0/16", "100.65.0.0/16"]
    for net in doc["networks"]:
        assert all(a["needed"] <= a["available"] and not a["fix"] for a in net["addresses"])


def test_growing_a_pool_moves_no_network(tmp_path: Path) -> None:
    small = plan({**FLEET_1024, "network": {"supernet": "10.0.0.0/9"},
                  "pools": [{**FLEET_1024["pools"][0], "gpus": 256}]}, tmp_path, "grow")[0]
    large = plan({**FLEET_1024, "network": {"supernet": "10.0.0.0/9"}}, tmp_path, "grow")[0]

    def cidrs(doc: dict[str, Any]) -> dict[str, str]:
        kinds = {"aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "azure-native:network:Subnet"}
        return {r["urn"]: json.dumps(r["inputs"].get("cidrBlock") or r["inputs"].get("addressPrefix"))
                for r in doc["resources"] if r["type"] in kinds}

    assert cidrs(small).items() <= cidrs(large).items()
    assert {(n["cloud"], n["region"], n["cidr"], n["pod_cidr"]) for n in small["networks"]} <= {
        (n["cloud"], n["region"], n["cidr"], n["pod_cidr"]) for n in large["networks"]
    }


def placement(cloud: str, region: str, kind: str, nodes: int) -> Placement:
    return Placement("p", cloud, region, kind, nodes, nodes * 8, "on-demand", 192, "b", 1.0, "", 730.0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.integers(min_value=8, max_value=12),
    aws_nodes=st.integers(min_value=1, max_value=3000),
    azure_nodes=st.integers(min_value=1, max_value=3000),
    kind=st.sampled_from(["p5.48xlarge", "p4d.24xlarge", "g5.xlarge", "g6e.48xlarge"]),
)
def test_the_address_plan_never_calls_an_undersized_range_fit(
    prefix: int, aws_nodes: int, azure_nodes: int, kind: str
) -> None:
    spec = load_fleet({**FLEET_1024, "network": {"supernet": f"10.0.0.0/{prefix}"}})
    nets = ipam.allocate(spec, [("aws", "us-east-1"), ("azure", "eastus")])
    made = [placement("aws", "us-east-1", kind, aws_nodes),
            placement("azure", "eastus", "Standard_ND96isr_H100_v5", azure_nodes)]
    for net in addresses.with_use(spec, nets, made):
        nodes = (aws_nodes if net.cloud == "aws" else azure_nodes)
        for use in net.ranges:
            size = ipaddress.ip_network(use.cidr).num_addresses
            if net.cloud == "aws" and net.grown:  # custom networking: one ENI for pods
                _, per_eni = eni_table()[kind]
                pods = use.label.startswith("pod subnet")
                floor = (nodes + 4) * (per_eni if pods else 1) + 8 * (10 if pods else 1)
                room = size - 5
            elif net.cloud == "aws":
                enis, per_eni = eni_table()[kind]
                floor = (nodes + 4) * min(1, enis) * per_eni + 8 * 10  # GPU nodes, surge, system
                room = size - 5
            elif "pod" in use.label:  # each AKS cluster's own overlay: at least its nodes' /24s
                cluster = int(use.label.rsplit(" c", 1)[1]) - 1 if " of cluster c" in use.label else 0
                held = sum(s.nodes for s in region_clusters(spec, "azure", "eastus", made).clusters[cluster])
                floor, room = (held + 1 + 3) * 256, size
            else:
                floor, room = nodes + 3, size - 5
            assert use.needed >= floor
            assert use.fits == (use.needed <= room)
            if not use.fits:
                assert "network.supernet" in use.fix or "network.overrides" in use.fix or "fewer nodes" in use.fix


def test_a_hand_written_stack_without_cni_settings_is_counted_at_the_cni_defaults() -> None:
    from gpufleet.policy import evaluate, resources_from_json

    stack = resources_from_json([
        {"type": "aws:ec2/subnet:Subnet", "name": "nodes", "region": "us-west-2",
         "inputs": {"cidrBlock": "10.0.0.0/24", "vpcId": "vpc-1"}},
        {"type": "aws:eks/nodeGroup:NodeGroup", "name": "gpu", "region": "us-west-2",
         "inputs": {"clusterName": "c", "subnetIds": ["nodes"], "instanceTypes": ["p5.48xlarge"],
                    "scalingConfig": {"minSize": 0, "maxSize": 2, "desiredSize": 0}}},
    ])
    verdict = next(v for v in evaluate(stack, {}) if v.policy == "address-capacity")
    # Without MAX_ENI a p5.48xlarge holds both its ENIs' 100 addresses: (2 + 2 surge) x 100 > 251.
    assert len(verdict.violations) == 1
    message = verdict.violations[0].message
    assert "aws/us-west-2 subnet nodes 10.0.0.0/24" in message
    assert "need 400 addresses" in message
    assert "holds 251" in message
    assert "give it a /23 or larger" in message
