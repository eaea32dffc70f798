"""Data gravity (issue 18): a dataset's home, the transfers its copies cost, where placement
puts pools because of them, and the replication that fills and syncs every copy."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet.catalog.transfer import transfer_rate
from gpufleet.cost import estimate
from gpufleet.ipam import allocate
from gpufleet.offline import SpecSource, run_plan
from gpufleet.pipeline import build_plan
from gpufleet.placement import colocated_storage, spend_by_cloud
from gpufleet.plan import Placement
from gpufleet.policy import evaluate, policy_config
from gpufleet.spec import FleetSpec, load_fleet

TWO_CLOUDS: dict[str, Any] = {
    "name": "grav",
    "network": {"supernet": "10.64.0.0/10"},
    "clouds": {"aws": {"regions": ["eu-north-1", "eu-central-1"]}, "azure": {"regions": ["swedencentral"]}},
    "pools": [{"name": "train", "accelerator": "H100", "gpus": 24, "gpus_per_node": 8}],
    "storage": [{"name": "datasets", "size_tib": 120, "colocate_with": ["train"],
                 "home": "aws/eu-central-1", "churn_tib": 5, "amortize_months": 10}],
    "prices": {"azure/swedencentral/Standard_ND96isr_H100_v5": 88.0},  # no offline EU Azure price
}


def node(cloud: str, region: str, instance_type: str, nodes: int, hourly: float) -> Placement:
    return Placement("train", cloud, region, instance_type, nodes, 8 * nodes, "on-demand", 96,
                     "bucket", hourly, "price book: test", round(nodes * hourly * 730, 2))


PLACED = (
    node("aws", "eu-north-1", "p5.48xlarge", 2, 50.0),
    node("azure", "swedencentral", "Standard_ND96isr_H100_v5", 1, 88.0),
)


def test_transfer_lines_by_hand_for_a_two_cloud_plan() -> None:
    spec = load_fleet(TWO_CLOUDS)
    storage = colocated_storage(spec, PLACED)
    # a copy where each pool lands, plus the home copy; the copies name their source
    assert [(s.cloud, s.region, s.source) for s in storage] == [
        ("aws", "eu-central-1", None),
        ("aws", "eu-north-1", "aws/eu-central-1"),
        ("azure", "swedencentral", "aws/eu-central-1"),
    ]
    summary = estimate(spec, PLACED, allocate(spec, [("aws", "eu-north-1"), ("azure", "swedencentral")]), storage)
    transfers = [(li.cloud, li.region, li.monthly_usd) for li in summary.lines if li.item.startswith("transfer")]
    # (120 TiB ÷ 10 months + 5 TiB churn) × 1024 = 17,408 GB a month per copy, paid by AWS (home)
    assert transfers == [
        ("aws", "eu-central-1", 348.16),    # × $0.02 inter-region from Europe
        ("aws", "eu-central-1", 1566.72),   # × $0.09 internet egress, first tier
    ]
    sources = [li.source for li in summary.lines if li.item.startswith("transfer")]
    assert "https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer" in sources[1]
    assert "first tier of 0.09/0.085/0.07/0.05" in sources[1]
    # the home copy is priced too: 3 storage lines, home cloud pays the transfers
    assert len([li for li in summary.lines if li.item.startswith("storage")]) == 3
    assert spend_by_cloud(spec, PLACED) == {c.cloud: c.monthly_usd for c in summary.by_cloud}


def test_the_price_book_overrides_a_transfer_rate() -> None:
    data = copy.deepcopy(TWO_CLOUDS)
    data["prices"] = {"aws/transfer/internet": 0.02}
    spec = load_fleet(data)
    catalog = spec.catalog()
    rate = transfer_rate(catalog, catalog.regions[("aws", "eu-central-1")], catalog.regions[("azure", "swedencentral")])
    assert (rate.usd_per_gb, rate.source) == (0.02, "price book: aws/transfer/internet")


def test_azure_pair_classes_follow_the_bandwidth_page() -> None:
    catalog = load_fleet(TWO_CLOUDS).catalog()
    sweden, virginia = catalog.regions[("azure", "swedencentral")], catalog.regions[("azure", "eastus")]
    germany = catalog.regions[("azure", "germanywestcentral")]
    assert transfer_rate(catalog, sweden, germany).usd_per_gb == 0.02    # within Europe
    assert transfer_rate(catalog, sweden, virginia).usd_per_gb == 0.05   # Europe to any continent
    assert transfer_rate(catalog, sweden, sweden).usd_per_gb == 0.0


GRAVITY: dict[str, Any] = {
    "name": "grav",
    "network": {"supernet": "10.64.0.0/10"},
    "clouds": {"aws": {"regions": ["us-east-1", "us-west-2"]}, "azure": {"regions": ["eastus"]}},
    "pools": [{"name": "train", "accelerator": "H100", "gpus": 16, "gpus_per_node": 8}],
    "storage": [{"name": "corpus", "size_tib": 2048, "colocate_with": ["train"]}],
}


def test_the_datas_home_moves_the_optimal_placement() -> None:
    blind = build_plan(load_fleet(GRAVITY), "t")
    homed_data = copy.deepcopy(GRAVITY)
    homed_data["storage"][0].update(home="azure/eastus", churn_tib=50)
    homed_spec = load_fleet(homed_data)
    homed = build_plan(homed_spec, "t")
    assert {p.cloud for p in blind.placements} == {"aws"}      # cheapest GPUs
    assert {p.cloud for p in homed.placements} == {"azure"}    # next to 2 PiB of data
    # the transfer-blind placement, priced with its transfers, costs more
    blind_with_transfers = sum(spend_by_cloud(homed_spec, blind.placements).values())
    assert homed.cost.monthly_usd < blind_with_transfers
    assert homed.solver.objective_usd == homed.cost.monthly_usd


def _offline(tmp_path: Path, data: dict[str, Any]):
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": data}}))
    return run_plan(SpecSource(spec=path))


def test_s3_replication_is_declared_for_every_aws_copy(tmp_path: Path) -> None:
    data = copy.deepcopy(TWO_CLOUDS)
    data["pools"][0]["pin"] = {"aws/eu-north-1": 2, "azure/swedencentral": 1}
    offline = _offline(tmp_path, data)
    resources = offline.recording.resources
    configs = [r for r in resources if r.type == "aws:s3/bucketReplicationConfig:BucketReplicationConfig"]
    assert len(configs) == 1
    (config,) = configs
    assert config.inputs["bucket"] == next(  # the mock's id is the name and `-id`
        r for r in resources if r.type == "aws:s3/bucket:Bucket" and r.name.endswith("eu-central-1")
    ).name + "-id"
    copies = {s.region for s in offline.plan.storage if s.cloud == "aws" and s.source}
    assert {rule["id"] for rule in config.inputs["rules"]} == {f"to-{r}" for r in copies}
    for rule in config.inputs["rules"]:
        assert rule["sourceSelectionCriteria"] == {"sseKmsEncryptedObjects": {"status": "Enabled"}}
        assert rule["destination"]["encryptionConfiguration"]["replicaKmsKeyId"]
    policy = next(r for r in resources if r.type == "aws:iam/rolePolicy:RolePolicy" and "replication" in r.name)
    actions = {a for s in yaml.safe_load(policy.inputs["policy"])["Statement"] for a in s["Action"]}
    assert "s3:*" not in actions
    assert {"s3:ReplicateObject", "kms:Decrypt"} <= actions
    # the buckets hold data: protected and retained, the replication wiring is not
    assert all(r.protect and r.retain_on_delete for r in resources if r.type == "aws:s3/bucket:Bucket")
    assert all(v.passed for v in offline.verdicts if v.enforcement == "mandatory")


def test_object_replication_is_declared_for_every_azure_copy(tmp_path: Path) -> None:
    data = copy.deepcopy(TWO_CLOUDS)
    data["clouds"]["azure"]["regions"] = ["swedencentral", "northeurope"]
    data["storage"][0]["home"] = "azure/northeurope"
    data["pools"][0]["pin"] = {"aws/eu-north-1": 2, "azure/swedencentral": 1}
    offline = _offline(tmp_path, data)
    resources = offline.recording.resources
    policies = [r for r in resources if r.type == "azure-native:storage:ObjectReplicationPolicy"]
    assert sorted(r.name for r in policies) == [
        "datasets-azure-northeurope-to-swedencentral-destination",
        "datasets-azure-northeurope-to-swedencentral-source",
    ]
    for policy in policies:
        assert policy.inputs["sourceAccount"] == "datasets-azure-northeurope-account-id"
        assert policy.inputs["destinationAccount"] == "datasets-azure-swedencentral-account-id"
    # the home account keeps a change feed (object replication reads it); copies are versioned
    services = {r.name: r.inputs for r in resources if r.type == "azure-native:storage:BlobServiceProperties"}
    assert services["datasets-azure-northeurope-blob-service"]["changeFeed"] == {"enabled": True}
    assert all(s["isVersioningEnabled"] for s in services.values())
    accounts = [r for r in resources if r.type == "azure-native:storage:StorageAccount"]
    assert {r.inputs["location"] for r in accounts} == {"northeurope", "swedencentral"}
    assert all(r.protect and r.retain_on_delete for r in accounts)
    assert all(v.passed for v in offline.verdicts if v.enforcement == "mandatory")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.floats(min_value=0.5, max_value=5000, allow_nan=False),
    churn=st.floats(min_value=0, max_value=500, allow_nan=False),
    months=st.integers(min_value=1, max_value=120),
    home=st.sampled_from(["aws/eu-north-1", "aws/eu-central-1", "azure/swedencentral", None]),
)
def test_total_is_storage_compute_fixed_and_transfer(size: float, churn: float, months: int, home: str | None) -> None:
    data = copy.deepcopy(TWO_CLOUDS)
    entry: dict[str, Any] = {"name": "datasets", "size_tib": size, "colocate_with": ["train"]}
    if home is not None:
        entry.update(home=home, churn_tib=churn, amortize_months=months)
    data["storage"] = [entry]
    spec: FleetSpec = load_fleet(data)
    networks = allocate(spec, sorted({(p.cloud, p.region) for p in PLACED}))
    summary = estimate(spec, PLACED, networks, colocated_storage(spec, PLACED))
    kinds = {"storage": 0.0, "transfer": 0.0, "pool": 0.0}
    fixed = 0.0
    for li in summary.lines:
        kind = li.item.split(" ")[0]
        if kind in kinds:
            kinds[kind] += li.monthly_usd
        else:
            fixed += li.monthly_usd
    assert summary.monthly_usd == pytest.approx(sum(kinds.values()) + fixed, abs=0.02)
    assert (kinds["transfer"] == 0) == (home is None or (churn == 0 and size / months < 1e-9))
    # the planner's own count of the same placements agrees line for line
    assert sum(spend_by_cloud(spec, PLACED).values()) == pytest.approx(summary.monthly_usd, abs=0.05)


def test_the_budget_policy_prices_transfers_as_the_plan_does(tmp_path: Path) -> None:
    data = copy.deepcopy(TWO_CLOUDS)
    data["pools"][0]["pin"] = {"aws/eu-north-1": 2, "azure/swedencentral": 1}
    offline = _offline(tmp_path, data)
    total = offline.plan.cost.monthly_usd
    assert any(li.item.startswith("transfer") for li in offline.plan.cost.lines)
    config = policy_config(offline.plan.spec)
    for cap, passes in ((total + 1, True), (total - 1, False)):
        config["gpu-budget"] = {**config["gpu-budget"], "monthly_usd": cap}
        verdict = next(v for v in evaluate(offline.recording.resources, config) if v.policy == "gpu-budget")
        assert verdict.passed is passes, verdict.violations
