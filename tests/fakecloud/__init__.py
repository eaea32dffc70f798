"""FakeCloud: a made-up third cloud, written as a third party would ship one, outside gpufleet and
its components. This package is its model (every per-cloud fact gpufleet asks of a cloud);
`tests/fakecloud/builder.py` is its Pulumi builder. `registered()` plugs both in through the two
public registries (gpufleet.clouds.registered, components.registered_builder) and nothing else:
no core file names it (tests/test_fake_cloud.py counts them).

It joins the fleet link as a `gateway` (it terminates tunnels on public IPs of its own, as an
Azure VPN gateway does, so it pairs with AWS), keeps datasets in buckets a sync job can write,
runs GPU pools whose clusters take the in-cluster GPU layer, and offers on-demand capacity only.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from components import registered_builder
from gpufleet import clouds
from gpufleet.catalog.limits import Limit
from gpufleet.clouds.base import (
    AddressBlocks,
    CloudModel,
    FixedCost,
    LinkTraits,
    Network,
    NodeRange,
    StorageRate,
    SystemPool,
)
from gpufleet.clouds.capabilities import Capabilities
from gpufleet.clouds.controls import SecurityControls
from gpufleet.clouds.declared import DeclaredPool, DeclaredResource, MockArgs, ResidencyJudge, whole

NAME = "fakecloud"
NETWORK, CLUSTER, POOL, BUCKET, GATEWAY, TUNNEL, PEERING, GRANT = (
    f"{NAME}:index:{kind}"
    for kind in ("Network", "Cluster", "GpuPool", "Bucket", "Gateway", "Tunnel", "Peering", "Grant")
)
TYPES = frozenset({NETWORK, CLUSTER, POOL, BUCKET, GATEWAY, TUNNEL, PEERING, GRANT})
SOURCE = "tests/fakecloud (made-up figures for a made-up cloud)"
SKUS = [
    {"cloud": NAME, "instance_type": "fk.h100x8", "accelerator": "H100", "gpus": "8", "vcpus": "96",
     "memory_gib": "1024", "arch": "x86_64", "quota_bucket": "fk-gpu-vcpus", "spot_quota_bucket": "fk-spot-vcpus"},
]
OFFERS = [
    {"cloud": NAME, "instance_type": "fk.h100x8", "region": region, "price_usd_per_hour": price,
     "spot_price_usd_per_hour": "", "source": SOURCE}
    for region, price in (("fk-frankfurt", "20.00"), ("fk-virginia", "18.00"))
]
REGIONS = [
    {"cloud": NAME, "region": "fk-frankfurt", "display_name": "Fake Frankfurt", "country": "DE", "source": SOURCE},
    {"cloud": NAME, "region": "fk-virginia", "display_name": "Fake Virginia", "country": "US", "source": SOURCE},
]
TRANSFER = [
    {"cloud": NAME, "kind": kind, "source_continent": "*", "pair": "*", "from_tib": "0",
     "usd_per_gb": rate, "source": SOURCE}
    for kind, rate in (("same-region", "0"), ("inter-region", "0.01"), ("internet", "0.05"))
]
LIMITS = {
    key: Limit(NAME, key, value, unit, True, None, SOURCE, "confirmed", "")
    for key, value, unit in (("pools_per_cluster", 10, "pools"), ("nodes_per_pool", 100, "nodes"))
}
# Its gateway's two public IPs come from TEST-NET-2 (RFC 5737); its clusters' API servers are
# https://<cluster>.<region>.fake-k8s.example, which locates their Kubernetes resources.
ENDPOINT = re.compile(r"\.(fk-[a-z]+)\.fake-k8s\.example")


def _no_public_read(props: Mapping[str, Any]) -> Iterable[str]:
    if props.get("publicRead") is not False:
        yield f"publicRead is {props.get('publicRead')!r}; allowed: false (no public storage)"


class FakeCloud(CloudModel):
    name = NAME
    title = "FakeCloud"
    packages = (NAME,)
    location_key = "region"
    region_slots: Mapping[str, int] = {"fk-frankfurt": 200, "fk-virginia": 201}
    tag_keys = ("fleet", "stack")
    taggable_types = TYPES - {TUNNEL, PEERING, GRANT}
    untaggable_types = frozenset({TUNNEL, PEERING, GRANT})
    system_pool = SystemPool("fk.small", 1, 2, 0.05, SOURCE)
    storage_rate = StorageRate(0.01, "Fake Blob", SOURCE)
    storage_types = frozenset({BUCKET})
    group_noun = "pool"
    limit_keys: ClassVar[Mapping[str, str]] = {"nodes_per_group": "nodes_per_pool", "groups_per_cluster": "pools_per_cluster"}
    link = LinkTraits(
        tunnel_endpoint=False,
        inside_ranges=(Network("169.254.100.0/24"),),
        inside_reserved=(),
        reserved_asns=frozenset(),
        same_cloud_path="fake peering",
        cross_cloud_path="fake gateway, 4 tunnels",
        usd_per_gb=0.01,
        usd_per_gb_source=SOURCE,
    )
    capabilities = Capabilities(
        capacity_types=frozenset({"on-demand"}),
        notes={"capacity: spot": "FakeCloud sells no spare capacity"},
    )
    cluster_kind = "FKS"
    cluster_endpoints = (ENDPOINT,)

    def catalog_rows(self, table: str, packaged: Iterable[Mapping[str, str]]) -> list[Mapping[str, str]]:
        own = {"skus": SKUS, "offers": OFFERS, "regions": REGIONS, "transfer_rates": TRANSFER}
        return list(own.get(table, []))

    def limit(self, key: str) -> Limit:
        return LIMITS[key]

    def fixed_costs(self) -> tuple[FixedCost, ...]:
        return (FixedCost("Fake control plane", 0.25, 1, SOURCE, CLUSTER),)

    def link_costs(
        self, peers: int, same_cloud_peers: int, region: str | None = None, hub: str | None = None
    ) -> tuple[FixedCost, ...]:
        return (FixedCost("link: fake gateway", 0.20, 1, SOURCE, GATEWAY),)

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

    def residency_findings(self, resource: DeclaredResource, judge: ResidencyJudge) -> Iterable[str]:
        if resource.type == BUCKET and (problem := judge.region_problem(NAME, resource.region())):
            yield problem

    def security_controls(self) -> SecurityControls:
        return SecurityControls({BUCKET: _no_public_read}, TYPES - {BUCKET})

    def mock_state(self, args: MockArgs, state: dict[str, Any]) -> dict[str, Any]:
        region = state.get("region", "fk-nowhere")
        if args.typ == CLUSTER:
            server = f"https://{args.name}.{region}.fake-k8s.example"
            state["kubeconfig"] = _kubeconfig(args.name, server)
            state["oidcIssuer"] = f"https://oidc.{region}.fake-k8s.example/{args.name}"
        elif args.typ == GATEWAY:
            seed = sum(args.name.encode())
            state["publicIps"] = [f"198.51.100.{(seed + i) % 254 + 1}" for i in (0, 1)]
        return state


def _kubeconfig(name: str, server: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {name}\n  cluster: {{server: '{server}'}}\n"
        f"contexts:\n- name: {name}\n  context: {{cluster: {name}, user: {name}}}\n"
        f"current-context: {name}\nusers:\n- name: {name}\n  user: {{token: mock}}\n"
    )


@contextmanager
def registered() -> Generator[CloudModel]:
    """FakeCloud's model and builder, registered for a block as a plug-in would register them."""
    from tests.fakecloud.builder import build_fake

    with clouds.registered(FakeCloud()) as model, registered_builder(NAME, build_fake):
        yield model
