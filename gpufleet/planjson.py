"""The plan JSON document (docs/design.md contract): its shape, its schema, reading one back.

The writer builds these TypedDicts and `gpufleet schema --plan` prints the JSON Schema pydantic
generates from them, so the published schema cannot drift from what is written. Every object
forbids keys the schema does not name; counts are integers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Literal, NotRequired, cast

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from gpufleet import clouds
from gpufleet.catalog import Capacity, Cloud
from gpufleet.clusters import RegionClusters
from gpufleet.explainjson import ExplainDoc, ScenarioDoc
from gpufleet.horizonjson import CommitmentBurnDoc, HorizonDoc, PeriodDoc
from gpufleet.moves import MoveDoc
from gpufleet.nodegroups import CLUSTER_ROLES
from gpufleet.pipes import tib_per_month
from gpufleet.plan import CostKind, LinkPlan, NetworkPlan, PipeUse, Placement, PoolPlan
from gpufleet.planinput import read_document
from gpufleet.racks import PlacementRacks

_closed = with_config(ConfigDict(extra="forbid"))


@_closed
class PlacementDoc(TypedDict):
    cloud: Cloud
    region: str
    instance_type: str
    nodes: int
    gpus: int
    capacity: Capacity
    monthly_usd: float
    price_usd_per_hour: float
    price_source: str
    vcpus_per_node: int
    quota_bucket: str
    accelerator: NotRequired[str]
    """Only for a pool that accepts several accelerators: this SKU's."""
    sku_source: NotRequired[str]
    """Only for a SKU the spec declares: 'declared by the spec'."""
    blocks: NotRequired[str]
    """Only for nodes on capacity blocks: their ids (or `capacity.blocks[i]`)."""
    rack: NotRequired[str]
    """Only on a rack-scale SKU: the rack (UltraServer, NVL72) the nodes fill (gpufleet.racks)."""
    racks: NotRequired[int]
    """Only on a rack-scale SKU: how many racks, one node group / agent pool each."""
    rack_instances: NotRequired[int]
    """Only on a rack-scale SKU: the instances one rack holds."""


@_closed
class PoolDoc(TypedDict):
    """A pool's placements and its spread (docs/design.md, "Spreading"): `largest_region` holds
    `largest_region_share` of its `gpus` (the most of any region; "" and 0 without
    placements); `max_region_share` the most one region may hold (null: no cap), `default`
    when it is the fleet's default for the pool's capacity rather than the pool's own;
    `region_share_note` why a default does not apply (absent when none)."""

    name: str
    accelerator: str
    gpus: int
    placements: list[PlacementDoc]
    largest_region: str
    largest_region_share: float
    max_region_share: float | None
    max_region_share_default: bool
    region_share_note: NotRequired[str]


@_closed
class AddressDoc(TypedDict):
    """One range the region's nodes take addresses from (node subnet, pod range): addresses its
    nodes need at most (maximum sizes, upgrade surge, system pool) and the addresses it holds;
    `fix` says what to change when it is short (empty when it fits)."""

    range: str
    cidr: str
    nodes: int
    needed: int
    available: int
    fix: str


@_closed
class NetworkDoc(TypedDict):
    cloud: Cloud
    region: str
    cidr: str
    pod_cidr: str | None
    pod_blocks: list[str]
    addresses: list[AddressDoc]


@_closed
class LinkSiteDoc(TypedDict):
    cloud: Cloud
    region: str
    asn: int
    cidr: str


@_closed
class TunnelDoc(TypedDict):
    """One IPsec tunnel: `endpoint` owns it and takes the /30's first inside address."""

    key: str
    endpoint: str
    gateway: str
    connection: int
    tunnel: int
    inside_cidr: str
    endpoint_address: str
    gateway_address: str


@_closed
class RouteDoc(TypedDict):
    source: str
    destination: str
    cidr: str
    path: str


@_closed
class InterconnectDoc(TypedDict):
    """The fleet link (`network.interconnect: vpn`); absent with `none`. Pre-shared keys are
    never here (they are Pulumi secrets). `version` is this object's own: INTERCONNECT_VERSION."""

    version: int
    mode: Literal["vpn"]
    sites: list[LinkSiteDoc]
    tunnels: list[TunnelDoc]
    routes: list[RouteDoc]
    usd_per_gb: dict[str, float]


INTERCONNECT_VERSION = 1


def interconnect_json(link: LinkPlan) -> InterconnectDoc:
    """The plan's link as the document states it (no secrets, no provider-assigned addresses)."""
    return {
        "version": INTERCONNECT_VERSION,
        "mode": "vpn",
        "sites": [{"cloud": s.cloud, "region": s.region, "asn": s.asn, "cidr": s.cidr} for s in link.sites],
        "tunnels": [
            {"key": t.key, "endpoint": t.endpoint, "gateway": t.gateway, "connection": t.connection,
             "tunnel": t.tunnel, "inside_cidr": t.inside_cidr, "endpoint_address": t.endpoint_address,
             "gateway_address": t.gateway_address}
            for t in link.tunnels
        ],
        "routes": [
            {"source": r.source, "destination": r.destination, "cidr": r.cidr, "path": r.path}
            for r in link.routes
        ],
        "usd_per_gb": {
            cloud: traits.usd_per_gb
            for cloud in dict.fromkeys(s.cloud for s in link.sites)
            if (traits := clouds.get(cloud).link) is not None
        },
    }


@_closed
class PipeDoc(TypedDict):
    """One path dataset copies travel (gpufleet/pipes.py): the copies on it, the throughput they
    need and the path's line rate (null: no documented cap, unchecked), each also per month."""

    kind: Literal["vpn-gateway", "vpn-tunnels", "object-store"]
    path: str
    copies: list[str]
    size: str
    needed_gbps: float
    needed_tib_per_month: float
    available_gbps: float | None
    available_tib_per_month: float | None
    fits: bool | None
    source: str


def pipes_json(pipes: Sequence[PipeUse]) -> list[PipeDoc]:
    """The plan's copy paths, figures to the thousandth of a Gbps and the tenth of a TiB."""
    return [
        {"kind": cast(Literal["vpn-gateway", "vpn-tunnels", "object-store"], p.kind), "path": p.path,
         "copies": list(p.copies), "size": p.size, "needed_gbps": round(p.needed_gbps, 3),
         "needed_tib_per_month": round(tib_per_month(p.needed_gbps), 1),
         "available_gbps": None if p.available_gbps is None else round(p.available_gbps, 3),
         "available_tib_per_month": None if p.available_gbps is None else round(tib_per_month(p.available_gbps), 1),
         "fits": p.fits, "source": p.source}
        for p in pipes
    ]


@_closed
class StorageDoc(TypedDict):
    name: str
    cloud: Cloud
    region: str
    size_tib: float
    protect: bool


@_closed
class CommitmentDoc(TypedDict):
    committed_usd: float
    burned_usd: float
    left_usd: float
    above_commitment_usd: float


@_closed
class CostLineDoc(TypedDict):
    item: str
    cloud: Cloud
    region: str
    monthly_usd: float
    source: str
    kind: NotRequired[CostKind]  # absent in plans written before it existed


@_closed
class CostDoc(TypedDict):
    monthly_usd: float
    by_cloud: dict[str, float]
    budget_usd: float | None
    commitments: dict[str, CommitmentDoc]
    lines: list[CostLineDoc]


@_closed
class QuotaDoc(TypedDict):
    cloud: Cloud
    region: str
    bucket: str
    used_vcpus: int
    limit_vcpus: int | None
    source: NotRequired[str]  # a live look-up's source and time; absent: declared (or unknown)
    unit: NotRequired[Literal["gpus"]]  # the counts are GPUs (the cloud's quota unit); absent: vCPUs


@_closed
class ClusterDoc(TypedDict):
    """One cluster of a region against its limits (gpufleet.nodegroups): its number in the
    region (1: the region's first; `gpufleet.clusters`), GPU node groups / agent pools (the
    system pool not counted) and GPU nodes, beside the limits in force (the spec's `limits:`
    or the documented defaults; `nodes_limit` null where the cloud has none)."""

    cloud: Cloud
    region: str
    cluster: int
    groups: int
    groups_limit: int
    largest_group_nodes: int
    nodes_per_group_limit: int
    nodes: int
    nodes_limit: int | None
    sources: list[str]


@_closed
class SolverDoc(TypedDict):
    """`seconds` is the solver's time: volatile, so `--stable` omits it (`timings` has it too)."""

    status: str
    optimality_gap: float | None  # null where no bound was proven (JSON has no Infinity)
    seconds: NotRequired[float]
    objective_usd: float
    kept_from_previous: int


@_closed
class PreviousDoc(TypedDict):
    """What `--previous` kept: nodes of the previous plan, how many stayed, and what keeping
    them may cost at most against the cheapest plan (`stability_tolerance` bounds the total)."""

    nodes: int
    kept_nodes: int
    stability_tolerance: float
    max_extra_usd: float
    moved: NotRequired[list[MoveDoc]]


@_closed
class CapacityDoc(TypedDict):
    """The spec's `capacity` rules (with one-off `--unavailable` entries) and the offers they
    took out of placement ('cloud/region/sku: the rule')."""

    unavailable: list[str]
    available: dict[str, int]
    offers_out: list[str]


@_closed
class ResourceCountDoc(TypedDict):
    cloud: str
    region: str
    type: str
    count: int


@_closed
class ResourceDoc(TypedDict):
    urn: str
    type: str
    name: str
    parent: str
    provider: str
    cloud: Cloud | None
    region: str | None
    protect: bool
    retain_on_delete: bool
    inputs: dict[str, Any]
    dependencies: NotRequired[list[str]]  # URNs its inputs use; absent in plans written before it


@_closed
class ViolationDoc(TypedDict):
    urn: str
    message: str


@_closed
class PolicyDoc(TypedDict):
    policy: str
    enforcement: Literal["mandatory", "advisory"]
    violations: list[ViolationDoc]


@_closed
class AccessDoc(TypedDict):
    """How the API servers are reached (spec `access`) and whether this run declares the
    in-cluster layer (`gpufleet:clusterSoftware`; private access: a second run from inside)."""

    mode: str
    cidrs: list[str]
    cluster_software: bool


@_closed
class TimingsDoc(TypedDict):
    """Wall-clock seconds: differ on every run, so `--stable` omits them."""

    solver_seconds: float
    plan_seconds: float


@_closed
class PlanDocument(TypedDict):
    """A gpufleet plan (`gpufleet plan --format json`): placements, networks, storage, cost,
    quota, clusters against their limits, solver report, resources and policy verdicts.
    `version` changes when a key's meaning does; keys are only ever added. `timings` and
    `solver.seconds` are absent with `--stable`."""

    version: int
    stack: str
    fleet: str
    pools: list[PoolDoc]
    networks: list[NetworkDoc]
    storage: list[StorageDoc]
    cost: CostDoc
    quota: list[QuotaDoc]
    clusters: list[ClusterDoc]
    solver: SolverDoc
    previous: PreviousDoc | None
    skipped_offers: list[str]
    capacity: NotRequired[CapacityDoc]
    interconnect: NotRequired[InterconnectDoc]
    pipes: NotRequired[list[PipeDoc]]
    resource_counts: list[ResourceCountDoc]
    resources: list[ResourceDoc]
    policies: list[PolicyDoc]
    access: NotRequired[AccessDoc]
    horizon: NotRequired[HorizonDoc]
    schedule: NotRequired[list[PeriodDoc]]
    commitments: NotRequired[list[CommitmentBurnDoc]]
    explain: NotRequired[list[ExplainDoc]]
    scenario: NotRequired[ScenarioDoc]
    timings: NotRequired[TimingsDoc]


def plan_schema() -> dict[str, Any]:
    """The JSON Schema of the plan document (`gpufleet schema --plan`)."""
    from pydantic import TypeAdapter

    return TypeAdapter(PlanDocument).json_schema()


def stable(document: dict[str, Any]) -> dict[str, Any]:
    """The document without what differs between two runs of the same input (`--stable`):
    `timings` and `solver.seconds`."""
    kept = {key: value for key, value in document.items() if key != "timings"}
    kept["solver"] = {key: value for key, value in document["solver"].items() if key != "seconds"}
    return kept


def placement_json(placement: Placement, racks: PlacementRacks | None = None) -> PlacementDoc:
    """A placement; `accelerator`, `sku_source`, `blocks` and the racks only where they apply
    (plans of single accelerator pools on catalog SKUs stay as they were)."""
    document: PlacementDoc = {
        "cloud": placement.cloud, "region": placement.region,
        "instance_type": placement.instance_type, "nodes": placement.nodes,
        "gpus": placement.gpus, "capacity": placement.capacity,
        "monthly_usd": round(placement.monthly_usd, 2),
        "price_usd_per_hour": placement.price_usd_per_hour, "price_source": placement.price_source,
        "vcpus_per_node": placement.vcpus_per_node, "quota_bucket": placement.quota_bucket,
    }
    if placement.accelerator:
        document["accelerator"] = placement.accelerator
    if placement.sku_source:
        document["sku_source"] = placement.sku_source
    if placement.blocks:
        document["blocks"] = placement.blocks
    if racks is not None:
        document["rack"], document["racks"] = racks.rack.name, racks.count
        document["rack_instances"] = racks.rack.instances
    return document


def pool_json(pool: PoolPlan, racks: Callable[[Placement], PlacementRacks | None]) -> PoolDoc:
    """A pool: its placements (with their `racks`) and its spread; the note only where a
    default does not apply."""
    where, share = pool.largest_region
    document: PoolDoc = {
        "name": pool.name, "accelerator": pool.accelerator, "gpus": pool.gpus,
        "placements": [placement_json(p, racks(p)) for p in pool.placements],
        "largest_region": where, "largest_region_share": round(share, 4),
        "max_region_share": pool.spread.share,
        "max_region_share_default": pool.spread.share is not None and not pool.spread.declared,
    }
    if pool.spread.note:
        document["region_share_note"] = pool.spread.note
    return document


def network_json(network: NetworkPlan) -> NetworkDoc:
    return {
        "cloud": network.cloud, "region": network.region, "cidr": network.cidr,
        "pod_cidr": network.pod_cidr, "pod_blocks": list(network.pod_blocks),
        "addresses": [
            {"range": r.label, "cidr": r.cidr, "nodes": r.nodes, "needed": r.needed,
             "available": r.available, "fix": r.fix}
            for r in network.ranges
        ],
    }


def placements_from_document(document: dict[str, Any]) -> tuple[Placement, ...]:
    """Placements of a plan JSON document (for `--previous` and `gpufleet diff`)."""
    found: list[Placement] = []
    for pool in cast(list[dict[str, Any]], document.get("pools", [])):
        for p in cast(list[dict[str, Any]], pool.get("placements", [])):
            found.append(
                Placement(
                    pool=pool["name"], cloud=p["cloud"], region=p["region"],
                    instance_type=p["instance_type"], nodes=int(p["nodes"]), gpus=int(p["gpus"]),
                    capacity=p.get("capacity", "on-demand"),
                    vcpus_per_node=int(p.get("vcpus_per_node", 0)),
                    quota_bucket=p.get("quota_bucket", ""),
                    price_usd_per_hour=float(p.get("price_usd_per_hour", 0.0)),
                    price_source=p.get("price_source", ""),
                    monthly_usd=float(p.get("monthly_usd", 0.0)),
                    accelerator=p.get("accelerator", ""),
                    sku_source=p.get("sku_source", ""),
                    blocks=p.get("blocks", ""),
                )
            )
    return tuple(found)


def dumps(document: object) -> str:
    """JSON text that every JSON parser accepts: NaN and Infinity are refused, not written."""
    return json.dumps(document, indent=2, allow_nan=False)


def previous_placements(path: str | None) -> tuple[Placement, ...]:
    """Placements of a previous plan file, or none when no path is given."""
    return placements_from_document(read_document(path)) if path else ()


def cluster_docs(regions: Sequence[RegionClusters]) -> list[ClusterDoc]:
    """Each cluster of each region against its limits, for the plan document."""
    return [
        {
            "cloud": r.limits.cloud, "region": r.limits.region, "cluster": index + 1,
            "groups": sum(len(s.groups) for s in shares), "groups_limit": r.limits.gpu_groups,
            "largest_group_nodes": max((g.nodes for s in shares for g in s.groups), default=0),
            "nodes_per_group_limit": r.limits.nodes_per_group, "nodes": sum(s.nodes for s in shares),
            "nodes_limit": r.limits.gpu_nodes,
            "sources": sorted({limit.source for role, limit in r.limits.sources.items() if role in CLUSTER_ROLES}),
        }
        for r in regions for index, shares in enumerate(r.clusters)
    ]
