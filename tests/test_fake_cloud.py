"""A third cloud, registered from a test, goes through every stage without a line of core code:
validated, placed, priced, addressed, declared, recorded and judged by every policy.

This is the proof that the cloud interface (gpufleet/clouds/base.py) is the only seam: the fake
cloud brings its own catalog rows, quota buckets, fixed costs, address shape, security controls,
tag rules and a builder of plain `pulumi.CustomResource`s (docs/design.md, "The cloud interface").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pulumi
import pytest
import yaml

from components import registered_builder
from components.link import LinkBoard
from components.sync import SyncBoard
from gpufleet import clouds
from gpufleet.catalog.limits import Limit
from gpufleet.cli import main
from gpufleet.clouds.base import (
    AddressBlocks,
    CloudModel,
    FixedCost,
    Network,
    NodeRange,
    StorageRate,
    SystemPool,
)
from gpufleet.clouds.controls import SecurityControls
from gpufleet.clouds.declared import DeclaredPool, DeclaredResource, whole
from gpufleet.offline import SpecSource, run_plan
from gpufleet.plan import FleetPlan

NETWORK, CLUSTER, POOL, BUCKET = (f"fakecloud:index:{kind}" for kind in ("Network", "Cluster", "GpuPool", "Bucket"))
SOURCE = "tests/test_fake_cloud.py (made-up figures for a made-up cloud)"
SKUS = [
    {"cloud": "fakecloud", "instance_type": "fk.h100x8", "accelerator": "H100", "gpus": "8", "vcpus": "96",
     "memory_gib": "1024", "arch": "x86_64", "quota_bucket": "fk-gpu-vcpus", "spot_quota_bucket": "fk-spot-vcpus"},
]
OFFERS = [
    {"cloud": "fakecloud", "instance_type": "fk.h100x8", "region": region, "price_usd_per_hour": price,
     "spot_price_usd_per_hour": "", "source": SOURCE}
    for region, price in (("fk-frankfurt", "20.00"), ("fk-virginia", "18.00"))
]
LIMITS = {
    key: Limit("fakecloud", key, value, unit, True, None, SOURCE, "confirmed", "")
    for key, value, unit in (("pools_per_cluster", 10, "pools"), ("nodes_per_pool", 100, "nodes"))
}
REGIONS = [
    {"cloud": "fakecloud", "region": "fk-frankfurt", "display_name": "Fake Frankfurt", "country": "DE", "source": SOURCE},
    {"cloud": "fakecloud", "region": "fk-virginia", "display_name": "Fake Virginia", "country": "US", "source": SOURCE},
]


def _no_public_read(props: Mapping[str, Any]) -> Iterable[str]:
    if props.get("publicRead") is not False:
        yield f"publicRead is {props.get('publicRead')!r}; allowed: false (no public storage)"


class FakeCloud(CloudModel):
    name = "fakecloud"
    title = "FakeCloud"
    packages = ("fakecloud",)
    location_key = "region"
    region_slots: Mapping[str, int] = {"fk-frankfurt": 200, "fk-virginia": 201}
    tag_keys = ("fleet", "stack")
    taggable_types = frozenset({NETWORK, CLUSTER, POOL, BUCKET})
    system_pool = SystemPool("fk.small", 1, 2, 0.05, SOURCE)
    storage_rate = StorageRate(0.01, "Fake Blob", SOURCE)
    storage_types = frozenset({BUCKET})
    group_noun = "pool"
    limit_keys: ClassVar[Mapping[str, str]] = {"nodes_per_group": "nodes_per_pool", "groups_per_cluster": "pools_per_cluster"}

    def catalog_rows(self, table: str, packaged: Iterable[Mapping[str, str]]) -> list[Mapping[str, str]]:
        return list({"skus": SKUS, "offers": OFFERS, "regions": REGIONS}.get(table, []))

    def limit(self, key: str) -> Limit:
        return LIMITS[key]

    def fixed_costs(self) -> tuple[FixedCost, ...]:
        return (FixedCost("Fake control plane", 0.25, 1, SOURCE, CLUSTER),)

    def address_blocks(
        self, slot: Network | None, override: Network | None, avoid: Iterable[Network] = ()
    ) -> AddressBlocks:
        cidr = override or slot
        if cidr is None:
            raise ValueError("has no address slot")
        return AddressBlocks(cidr)

    def node_ranges(self, blocks: AddressBlocks) -> tuple[NodeRange, ...]:
        return (NodeRange("node range", blocks.cidr, 4, 0, 0),)

    def node_addresses(self, instance_type: str, node_range: NodeRange) -> int | None:
        return 1

    def declared_pools(self, resource: DeclaredResource) -> list[DeclaredPool]:
        if resource.type != POOL:
            return []
        nodes = whole(resource.get("nodeCount")) or 0
        return [DeclaredPool(resource.name, (resource.get("instanceType"),), nodes, nodes, False, resource.region())]

    def security_controls(self) -> SecurityControls:
        return SecurityControls({BUCKET: _no_public_read}, frozenset({NETWORK, CLUSTER, POOL}))


def build_fake(
    plan: FleetPlan, parent: pulumi.Resource, board: LinkBoard | None = None,
    sync: SyncBoard | None = None,
) -> Mapping[str, pulumi.Output[object]]:
    """One network, cluster, pool per placement and bucket per storage copy in every region (the
    fake cloud joins no cross-cloud link: its model has no `link`)."""
    tags = {"fleet": plan.fleet, "stack": plan.stack}
    endpoints: dict[str, pulumi.Output[object]] = {}
    for region in plan.regions("fakecloud"):
        opts = pulumi.ResourceOptions(parent=parent)
        network = pulumi.CustomResource(NETWORK, f"net-{region}", {
            "region": region, "cidr": plan.network("fakecloud", region).cidr, "tags": tags}, opts)
        cluster = pulumi.CustomResource(CLUSTER, f"cluster-{region}", {
            "region": region, "networkId": network.id, "tags": tags}, opts)
        for placement in plan.placements_in("fakecloud", region):
            pulumi.CustomResource(POOL, f"{placement.pool}-{region}", {
                "region": region, "clusterId": cluster.id, "instanceType": placement.instance_type,
                "nodeCount": placement.nodes, "tags": tags}, opts)
        for copy in plan.storage_in("fakecloud", region):
            pulumi.CustomResource(BUCKET, f"{copy.name}-{region}", {
                "region": region, "publicRead": False, "tags": tags},
                pulumi.ResourceOptions(parent=parent, protect=copy.protect))
        endpoints[f"fakecloud-{region}"] = cluster.id
    return endpoints


@pytest.fixture
def fake() -> Iterator[CloudModel]:
    with clouds.registered(FakeCloud()) as model, registered_builder("fakecloud", build_fake):
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


def plan_of(spec: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "tri.yaml"
    path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": spec}}))
    return run_plan(SpecSource(spec=path, stack_name="tri")).document


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
