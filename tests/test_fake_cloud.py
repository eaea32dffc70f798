"""A third cloud, registered from outside the package as a third party would register it, goes
through every stage without a line of core code: validated, placed, priced, addressed, declared,
joined to the fleet link, synced, given the in-cluster GPU layer, recorded and judged by every
policy, and refused what it does not offer.

This is the proof that the cloud interface (gpufleet/clouds/base.py) and the components' builder
map are the only seams: FakeCloud (tests/fakecloud/) brings its own catalog rows, quota buckets,
fixed costs, address shape, link end, store, capabilities, security controls, tag rules and a
builder of plain `pulumi.CustomResource`s (docs/design.md, "Adding a cloud").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.cli import main
from gpufleet.clouds.base import CloudModel
from gpufleet.errors import SpecError
from gpufleet.offline import SpecSource, run_plan
from tests.fakecloud import BUCKET, CLUSTER, GATEWAY, GRANT, NAME, NETWORK, POOL, TUNNEL, registered

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake() -> Iterator[CloudModel]:
    with registered() as model:
        yield model


def fleet(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "tri",
        "sovereignty": {"jurisdictions": ["EU"]},
        "budget": {"monthly_usd": 400_000, "commitments": {"fakecloud": 30_000}},
        "network": {"supernet": "10.0.0.0/8"},
        "clouds": {"aws": {"regions": ["eu-north-1"]}, "fakecloud": {"regions": ["fk-frankfurt"]}},
        "quotas": {"fakecloud": {"fk-frankfurt": {"fk-gpu-vcpus": 384}}},
        "pools": [{"name": "train", "accelerator": "H100", "gpus": 64, "gpus_per_node": 8,
                   "min_share": {"fakecloud": 0.25}}],
        "storage": [{"name": "data", "size_tib": 10, "colocate_with": ["train"]}],
    }
    spec.update(overrides)
    return spec


def plan_of(spec: dict[str, Any], tmp_path: Path, *, cluster_software: bool | None = None) -> dict[str, Any]:
    path = tmp_path / "tri.yaml"
    path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": spec}}))
    return run_plan(SpecSource(spec=path, stack_name="tri", cluster_software=cluster_software)).document


def test_no_core_file_names_the_fake_cloud() -> None:
    """What adding FakeCloud took in gpufleet/, components/ and policies/: zero files."""
    core = [p for folder in ("gpufleet", "components", "policies") for p in (ROOT / folder).rglob("*.py")]
    assert len(core) > 100
    naming = [str(p.relative_to(ROOT)) for p in core if NAME in p.read_text(encoding="utf-8").lower()]
    assert naming == []


def test_a_registered_cloud_is_validated_placed_priced_declared_and_judged(fake: CloudModel, tmp_path: Path) -> None:
    doc = plan_of(fleet(), tmp_path)

    placements = {(p["cloud"], p["region"]): p for p in doc["pools"][0]["placements"]}
    fake_placement = placements["fakecloud", "fk-frankfurt"]
    # the cheapest cloud gets what its quota allows: 384 vCPUs hold 4 nodes of 96 vCPUs
    assert (fake_placement["instance_type"], fake_placement["nodes"]) == ("fk.h100x8", 4)
    assert fake_placement["monthly_usd"] == pytest.approx(4 * 20.00 * 730, rel=1e-6)
    assert {n["cloud"]: n["region"] for n in doc["networks"]}["fakecloud"] == "fk-frankfurt"

    lines = {line["item"]: line["monthly_usd"] for line in doc["cost"]["lines"] if line["cloud"] == "fakecloud"}
    assert lines == {
        "pool train: 4 × fk.h100x8 (on-demand)": 4 * 20.00 * 730,
        "Fake control plane": 0.25 * 730,
        "system nodes: 1 × fk.small": 0.05 * 730,
        "storage data: 10 TiB Fake Blob": 10 * 1024 * 0.01,
    }
    assert doc["cost"]["by_cloud"]["fakecloud"] == pytest.approx(sum(lines.values()))
    assert doc["cost"]["commitments"]["fakecloud"]["burned_usd"] == 30_000

    declared = [r for r in doc["resources"] if r["type"].startswith("fakecloud:")]
    assert {r["type"] for r in declared} == {NETWORK, CLUSTER, POOL, BUCKET}
    assert all(r["cloud"] == "fakecloud" and r["region"] == "fk-frankfurt" for r in declared)
    [pool] = [r for r in declared if r["type"] == POOL]
    assert pool["inputs"]["nodeCount"] == 4
    assert next(r for r in declared if r["type"] == BUCKET)["protect"] is True

    verdicts = {p["policy"]: p["violations"] for p in doc["policies"]}
    assert len(verdicts) >= 8
    assert all(v == [] for v in verdicts.values()), verdicts


def test_the_spec_refuses_a_fake_region_outside_the_jurisdictions(fake: CloudModel, tmp_path: Path) -> None:
    spec = fleet(clouds={"fakecloud": {"regions": ["fk-virginia"]}}, quotas={}, budget={})
    path = tmp_path / "tri.yaml"
    path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": spec}}))
    code = main(["plan", "--spec", str(path), "--format", "json"])
    assert code == 2


def test_policies_judge_fake_resources_with_the_models_own_rules(
    fake: CloudModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A public fake bucket, an untagged fake network, a fake pool over quota and one in a US
    region are each refused by the policy that owns the rule, through the fake model's controls,
    tags, pools and region; the budget policies price the fake pools at the fake catalog's rate."""
    doc = plan_of(fleet(), tmp_path)
    resources = [r for r in doc["resources"] if not r["type"].startswith("fakecloud:")]
    urn = "urn:pulumi:tri::gpufleet::fakecloud:index:{}::{}"
    resources += [
        {"urn": urn.format("Bucket", "leak"), "type": BUCKET, "name": "leak", "parent": None,
         "cloud": "fakecloud", "region": "fk-frankfurt", "protect": True,
         "inputs": {"region": "fk-frankfurt", "publicRead": True, "tags": {"fleet": "tri", "stack": "tri"}}},
        {"urn": urn.format("Network", "bare"), "type": NETWORK, "name": "bare", "parent": None,
         "cloud": "fakecloud", "region": "fk-frankfurt", "protect": False,
         "inputs": {"region": "fk-frankfurt"}},
        {"urn": urn.format("GpuPool", "big"), "type": POOL, "name": "big", "parent": None,
         "cloud": "fakecloud", "region": "fk-frankfurt", "protect": False,
         "inputs": {"region": "fk-frankfurt", "instanceType": "fk.h100x8", "nodeCount": 10,
                    "tags": {"fleet": "tri", "stack": "tri"}}},
        {"urn": urn.format("GpuPool", "abroad"), "type": POOL, "name": "abroad", "parent": None,
         "cloud": "fakecloud", "region": "fk-virginia", "protect": False,
         "inputs": {"region": "fk-virginia", "instanceType": "fk.h100x8", "nodeCount": 1,
                    "tags": {"fleet": "tri", "stack": "tri"}}},
    ]
    resources_file = tmp_path / "resources.json"
    resources_file.write_text(json.dumps({"resources": resources}))
    spec_file = tmp_path / "tri.yaml"
    code = main(["check", "--resources", str(resources_file), "--spec", str(spec_file), "--format", "json"])
    out = capsys.readouterr().out
    assert code == 1
    assert "fakecloud:index:Bucket 'leak': publicRead is True; allowed: false (no public storage)" in out
    assert "fakecloud:index:Network 'bare': missing tags fleet, stack (tags present: none)" in out
    assert "fakecloud:index:GpuPool 'abroad': region 'fk-virginia' is in US (Fake Virginia), outside" in out
    assert "fakecloud/fk-frankfurt quota bucket fk-gpu-vcpus: GPU pools at maximum size need 960 vCPUs" in out
    assert "big (fk.h100x8 x 10) on-demand in fakecloud/fk-frankfurt $146,000" in out  # gpu-budget-headroom


def test_the_fake_cloud_joins_the_fleet_link_as_a_gateway(fake: CloudModel, tmp_path: Path) -> None:
    """With `interconnect: vpn` FakeCloud pairs with AWS (an endpoint cloud): AWS's VPN
    connections point at the fake gateway's public IPs, the fake tunnels at AWS's outside
    addresses, both on the plan's inside /30s from FakeCloud's own accepted range."""
    doc = plan_of(fleet(network={"supernet": "10.0.0.0/8", "interconnect": "vpn"}), tmp_path)
    link = doc["interconnect"]
    assert {f"{s['cloud']}/{s['region']}" for s in link["sites"]} == {"aws/eu-north-1", f"{NAME}/fk-frankfurt"}
    tunnels = link["tunnels"]
    assert len(tunnels) == 4
    assert {(t["endpoint"], t["gateway"]) for t in tunnels} == {("aws/eu-north-1", f"{NAME}/fk-frankfurt")}
    assert all(t["inside_cidr"].startswith("169.254.100.") for t in tunnels)
    resources = doc["resources"]
    gateway = next(r for r in resources if r["type"] == GATEWAY)
    ends = [r for r in resources if r["type"] == TUNNEL]
    assert {e["inputs"]["insideCidr"] for e in ends} == {t["inside_cidr"] for t in tunnels}
    assert len(ends) == 4
    assert all(e["inputs"]["sharedKey"] == "[secret]" for e in ends)
    customer_ips = {r["inputs"]["ipAddress"] for r in resources if r["type"] == "aws:ec2/customerGateway:CustomerGateway"}
    assert len(customer_ips) == 2
    assert all(ip.startswith("198.51.100.") for ip in customer_ips)
    assert gateway["region"] == "fk-frankfurt"
    lines = {line["item"] for line in doc["cost"]["lines"] if line["cloud"] == NAME}
    assert "link: fake gateway" in lines
    assert all(p["violations"] == [] for p in doc["policies"]), doc["policies"]


def test_a_cross_cloud_copy_is_synced_into_the_fake_store_by_a_job_on_the_fake_cluster(
    fake: CloudModel, tmp_path: Path
) -> None:
    """Second stage: the GPU layer on the fake cluster (its Kubernetes provider from the fake
    kubeconfig, located by FakeCloud's endpoint pattern), and a sync job there that reads the
    AWS home through an IAM role trusting the fake cluster's issuer and writes the fake bucket
    through FakeCloud's own grant; every policy passes, residency included."""
    spec = fleet(storage=[{"name": "data", "size_tib": 10, "colocate_with": ["train"], "home": "aws/eu-north-1"}])
    doc = plan_of(spec, tmp_path, cluster_software=True)
    resources = doc["resources"]
    placed = {(p["cloud"], p["region"]) for p in doc["pools"][0]["placements"]}
    assert placed == {("aws", "eu-north-1"), (NAME, "fk-frankfurt")}
    [job] = [r for r in resources if r["type"] == "kubernetes:batch/v1:CronJob"]
    assert job["region"] == "fk-frankfurt"  # located through its provider's kubeconfig
    annotations = job["inputs"]["metadata"]["annotations"]
    assert (annotations["gpufleet.io/sync-source"], annotations["gpufleet.io/sync-destination"]) == (
        "aws/eu-north-1", f"{NAME}/fk-frankfurt")
    [grant] = [r for r in resources if r["type"] == GRANT]
    assert grant["inputs"]["access"] == "write"
    assert grant["inputs"]["subject"] == "system:serviceaccount:gpufleet-sync:sync-data"
    roles = [r for r in resources if r["type"] == "aws:iam/role:Role" and "sync" in r["name"]]
    assert len(roles) == 1
    assert "fake-k8s.example" in roles[0]["inputs"]["assumeRolePolicy"]
    releases = [r for r in resources if r["type"] == "kubernetes:helm.sh/v3:Release" and r["name"].startswith("fk-")]
    assert releases
    assert all(r["region"] == "fk-frankfurt" for r in releases)
    assert all(p["violations"] == [] for p in doc["policies"]), doc["policies"]


def test_what_the_fake_cloud_does_not_offer_is_refused_or_placed_elsewhere(
    fake: CloudModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """FakeCloud offers on-demand capacity only: a spot pool on a fleet of FakeCloud alone exits
    2 naming the clouds that offer spot; next to AWS the pool goes to AWS alone."""
    spot = [{"name": "train", "accelerator": "H100", "gpus": 16, "gpus_per_node": 8, "capacity": "spot"}]
    alone = fleet(clouds={NAME: {"regions": ["fk-frankfurt"]}}, pools=spot, storage=[], quotas={})
    path = tmp_path / "alone.yaml"
    path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": alone}}))
    assert main(["plan", "--spec", str(path), "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert "pools[0].capacity: capacity: spot is not offered on FakeCloud; clouds that offer it: AWS, Azure" in err
    assert "FakeCloud: FakeCloud sells no spare capacity" in err
    doc = plan_of(fleet(pools=spot, storage=[], budget={}), tmp_path)
    assert {p["cloud"] for p in doc["pools"][0]["placements"]} == {"aws"}


def test_a_cloud_that_counts_gpus_once_for_all_its_regions_is_held_to_that_quota(
    fake: CloudModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quota unit and scope are capabilities too: a FakeCloud that counts GPUs in one quota for
    all its regions (`quotas.fakecloud.global`) gets at most that many GPUs over both of its
    regions, and the spec refuses a per-region quota for it."""
    monkeypatch.setattr(fake, "capabilities", replace(fake.capabilities, quota_unit="gpus", quota_scope="global"))
    two_regions = {"aws": {"regions": ["eu-north-1"]}, NAME: {"regions": ["fk-frankfurt", "fk-virginia"]}}
    spec = fleet(clouds=two_regions, sovereignty={"jurisdictions": ["EU", "US"]},
                 quotas={NAME: {"global": {"fk-gpu-vcpus": 24}}},
                 pools=[{"name": "train", "accelerator": "H100", "gpus": 64, "gpus_per_node": 8}])
    doc = plan_of(spec, tmp_path)
    on_fake = sum(p["gpus"] for p in doc["pools"][0]["placements"] if p["cloud"] == NAME)
    assert on_fake == 24
    [quota] = [q for q in doc["quota"] if q["cloud"] == NAME]
    assert quota == {"cloud": NAME, "region": "global", "bucket": "fk-gpu-vcpus", "used_vcpus": 24,
                     "limit_vcpus": 24, "unit": "gpus"}
    refused = fleet(clouds=two_regions, sovereignty={"jurisdictions": ["EU", "US"]},
                    quotas={NAME: {"fk-frankfurt": {"fk-gpu-vcpus": 24}}})
    path = tmp_path / "refused.yaml"
    path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": refused}}))
    with pytest.raises(SpecError, match=r"quotas\.fakecloud\.fk-frankfurt: FakeCloud quotas hold for all its regions; allowed: quotas\.fakecloud\.global"):
        run_plan(SpecSource(spec=path, stack_name="tri"))
