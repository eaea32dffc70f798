"""Cost model: every figure against a hand calculation; every line says where its price is from."""

from __future__ import annotations

import pytest

from gpufleet.catalog import Cloud
from gpufleet.clouds import aws as aws_cloud
from gpufleet.clouds import azure as azure_cloud
from gpufleet.cost import estimate, region_fixed_usd, region_lines
from gpufleet.ipam import allocate
from gpufleet.pipeline import build_plan
from gpufleet.placement import colocated_storage
from gpufleet.plan import Placement, StoragePlan
from gpufleet.spec import FleetSpec, load_fleet
from gpufleet.specfile import load_stack

SPEC = load_fleet({
    "name": "cost",
    "budget": {"monthly_usd": 200000, "commitments": {"aws": 1000, "azure": 100000}},
    "network": {"supernet": "10.64.0.0/10"},
    "clouds": {"aws": {"regions": ["eu-north-1", "us-east-1"]},
               "azure": {"regions": ["swedencentral"]}},
    "pools": [{"name": "train", "accelerator": "H100", "gpus": 24, "gpus_per_node": 8}],
    "storage": [{"name": "datasets", "size_tib": 10, "colocate_with": ["train"]}],
})


def node(cloud: Cloud, region: str, instance_type: str, nodes: int, hourly: float) -> Placement:
    return Placement("train", cloud, region, instance_type, nodes, 8 * nodes, "on-demand", 96,
                     "bucket", hourly, "price book: test", round(nodes * hourly * 730, 2))


PLACED = (
    node("aws", "eu-north-1", "p5.48xlarge", 2, 50.0),                  # 73,000.00
    node("azure", "swedencentral", "Standard_ND96isr_H100_v5", 1, 88.0),  # 64,240.00
)


def priced(spec: FleetSpec, placements: tuple[Placement, ...], storage: tuple[StoragePlan, ...]):
    networks = allocate(spec, sorted({(p.cloud, p.region) for p in placements}))
    return estimate(spec, placements, networks, storage)


def test_every_line_by_hand() -> None:
    summary = priced(SPEC, PLACED, colocated_storage(SPEC, PLACED))
    lines = {(li.cloud, li.item): li.monthly_usd for li in summary.lines}
    assert lines == {
        ("aws", "pool train: 2 × p5.48xlarge (on-demand)"): 73000.0,
        ("azure", "pool train: 1 × Standard_ND96isr_H100_v5 (on-demand)"): 64240.0,
        ("aws", "EKS control plane"): 73.0,                     # 0.10 × 730
        ("aws", f"NAT gateways ({aws_cloud.NAT_GATEWAYS_PER_REGION})"): 65.7,  # 2 × 0.045 × 730
        ("aws", "system nodes: 2 × m7i.large"): 147.17,         # 2 × 0.1008 × 730 = 147.168
        ("azure", "AKS control plane (Standard tier)"): 73.0,   # 0.10 × 730
        ("azure", "system nodes: 2 × Standard_D4s_v5"): 280.32,  # 2 × 0.192 × 730
        ("aws", "storage datasets: 10 TiB S3 Standard"): 235.52,     # 10 × 1024 × 0.023
        # swedencentral has zones: the account is Standard_ZRS and priced so
        ("azure", "storage datasets: 10 TiB Blob hot ZRS"): 235.52,  # 10 × 1024 × 0.023
    }
    # 73,000 + 64,240 + 73 + 65.7 + 147.17 + 73 + 280.32 + 235.52 + 235.52
    assert summary.monthly_usd == pytest.approx(138350.23)
    assert all(li.source for li in summary.lines)
    assert summary.lines[0].source == "price book: test ($50/h × 730 h)"


def test_spend_per_cloud_against_commitment_and_budget() -> None:
    summary = priced(SPEC, PLACED, colocated_storage(SPEC, PLACED))
    aws, azure = summary.by_cloud
    # aws: 73,000 + 73 + 65.7 + 147.17 + 235.52; azure: 64,240 + 73 + 280.32 + 235.52
    assert (aws.cloud, aws.monthly_usd, aws.commitment_usd) == ("aws", 73521.39, 1000.0)
    assert (aws.burned_usd, aws.left_usd, aws.above_commitment_usd) == (1000.0, 0.0, 72521.39)
    assert (azure.monthly_usd, azure.burned_usd) == (64828.84, 64828.84)
    assert azure.left_usd == pytest.approx(35171.16)
    assert summary.budget_usd == 200000


def test_a_regions_fixed_cost_is_the_sum_of_its_lines() -> None:
    assert region_fixed_usd("aws") == 285.87    # EKS 73 + NAT 65.7 + system nodes 147.17
    assert region_fixed_usd("azure") == 353.32  # AKS 73 + system nodes 280.32
    for cloud in ("aws", "azure"):
        lines = region_lines(cloud, "somewhere")
        assert region_fixed_usd(cloud) == pytest.approx(sum(li.monthly_usd for li in lines))
        assert all(li.region == "somewhere" and li.cloud == cloud for li in lines)
        system = next(li for li in lines if li.item.startswith("system nodes"))
        assert "list price as of 2025, verify" in system.source


def test_system_nodes_are_priced_at_the_size_the_components_deploy() -> None:
    # the components read the same constants (gpufleet/clouds/); the cost lines name them
    aws = {li.item for li in region_lines("aws", "r")}
    azure = {li.item for li in region_lines("azure", "r")}
    assert f"system nodes: {aws_cloud.SYSTEM_POOL.min_nodes} × {aws_cloud.SYSTEM_POOL.instance_type}" in aws
    assert f"system nodes: {azure_cloud.SYSTEM_POOL.min_nodes} × {azure_cloud.SYSTEM_POOL.instance_type}" in azure


def test_a_dataset_without_home_has_no_transfer_lines() -> None:
    # no `home`: today's behaviour, copies where the pools land and nothing priced for moving
    lines = priced(SPEC, PLACED, colocated_storage(SPEC, PLACED)).lines
    assert not [li for li in lines if li.item.startswith("transfer")]
    assert all(s.source is None for s in colocated_storage(SPEC, PLACED))


def test_sample_plan_costs_add_up() -> None:
    plan = build_plan(load_stack("prod-eu"), "prod-eu")
    assert plan.cost.monthly_usd == pytest.approx(sum(li.monthly_usd for li in plan.cost.lines))
    assert plan.cost.monthly_usd == pytest.approx(sum(c.monthly_usd for c in plan.cost.by_cloud))
    # placement's objective is the whole plan's spend, not only the GPU nodes' (no egress:
    # storage is co-located with its pools)
    assert plan.solver.objective_usd == plan.cost.monthly_usd
    assert plan.solver.objective_usd > sum(p.monthly_usd for p in plan.placements)


def test_every_cost_line_says_what_kind_of_spend_it_is() -> None:
    """A commitment burns some kinds of spend and not others, so each line carries its kind:
    GPU nodes are compute, a region's and the link's own infrastructure fixed, dataset copies
    storage, and filling them from home transfer."""
    spec = load_stack("prod-eu").model_copy(
        update={"network": load_stack("prod-eu").network.model_copy(update={"interconnect": "vpn"})}
    )
    plan = build_plan(spec, "prod-eu")
    kinds: dict[str, set[str]] = {}
    for line in plan.cost.lines:
        kinds.setdefault(line.kind, set()).add(line.item.split(":")[0].split(" (")[0])
    assert set(kinds) == {"compute", "fixed", "storage", "transfer"}
    assert all(item.startswith("pool ") for item in kinds["compute"])
    assert all(item.startswith("storage ") for item in kinds["storage"])
    assert all(item.startswith("transfer ") for item in kinds["transfer"])
    assert any("control plane" in item for item in kinds["fixed"])
    assert "link" in kinds["fixed"]  # the VPN hub, connections and gateways
