"""The fleet spec's shape: typed, strict, immutable pydantic models (rules spanning fields: spec.py)."""

from __future__ import annotations

import fractions
import ipaddress
import math
import re
from collections.abc import Sequence
from typing import Annotated, Literal, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from gpufleet import cidrs
from gpufleet import clouds as registry
from gpufleet.catalog import DECLARED_SOURCE, JURISDICTION_ALIASES, Capacity, Catalog, Cloud, Sku
from gpufleet.clouds.catalog import load_catalog
from gpufleet.speccapacity import CapacityLimits
from gpufleet.spechorizon import Commitment, Contract, Horizon, Month
from gpufleet.specnumbers import (
    MAX_POOL_GPUS,
    Fraction,
    Gpus,
    MonthlyUsd,
    Nodes,
    NotBoolean,
    PriceUsd,
    Tib,
    Vcpus,
    Whole,
)
from gpufleet.specwords import spelled_as

# A finite number that is not a boolean (YAML's `true` is an int in Python): declared SKU facts
# and accelerator weights.
Real = Annotated[float, NotBoolean, Field(allow_inf_nan=False)]


def _registered(name: str) -> str:
    """A cloud name the registry knows; reported like any other choice ('got x; allowed: ...')."""
    if name not in registry.names():
        expected = " or ".join(f"'{cloud}'" for cloud in registry.names())
        raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
    return name


# A registered cloud's name (gpufleet.clouds); the schema lists them so editors complete them.
CloudName = Annotated[
    str, AfterValidator(_registered), WithJsonSchema({"type": "string", "enum": list(registry.names())})
]
Share = Fraction
# A region's share of a pool: above 0 (a region holding none of it is no spread), at most 1.
RegionShare = Annotated[float, NotBoolean, Field(gt=0.0, le=1.0, allow_inf_nan=False)]
# The fleet's default region share per capacity (docs/region-scale.md, "Spreading"): one spot
# reclaim in one region must not take a whole spot pool, so spot pools spread over two regions.
DEFAULT_REGION_SHARES: dict[Capacity, float] = {"spot": 0.5}
Mig = Literal["MIG1g", "MIG2g", "MIG3g", "MIG4g", "MIG7g"]
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,22}[a-z0-9]$"


def _cidr_text(value: object) -> object:
    """A CIDR is written as text: pydantic would take an integer (or `true`, an int in Python)
    as an address and make it a /32."""
    if not isinstance(value, str | ipaddress.IPv4Network):
        raise ValueError("a CIDR is written as text such as '10.0.0.0/8'")
    return value


def _private_block(value: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    if (problem := cidrs.private_block_problem(value)) is not None:
        raise ValueError(problem)
    return value


Cidr = Annotated[ipaddress.IPv4Network, BeforeValidator(_cidr_text)]
PrivateCidr = Annotated[Cidr, AfterValidator(_private_block)]
"""A block the fleet's networks are cut from: inside RFC 1918 (gpufleet.cidrs)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Sovereignty(_Strict):
    """Where data and compute may live: jurisdictions from the region's country (EU, EEA, ISO code)."""

    jurisdictions: tuple[str, ...] = Field(min_length=1)


class Budget(_Strict):
    monthly_usd: MonthlyUsd | None = Field(default=None, gt=0, description="hard cap for the fleet")
    commitments: dict[CloudName, Commitment] = Field(
        default_factory=dict[Cloud, float | Contract],
        description="per cloud: spend already committed per month, used first ($/month), or a "
        "contract (total, term, minimum per year or over the term, discount, shortfall)",
    )

    def monthly_commitments(self) -> dict[Cloud, float]:
        """The flat commitments in $/month, by cloud (a contract burns over its term instead)."""
        return {cloud: c for cloud, c in self.commitments.items() if not isinstance(c, Contract)}

    def monthly_commitment(self, cloud: Cloud) -> float:
        """The cloud's flat commitment in $/month; 0 for a contract (burned over its term) or none."""
        return self.monthly_commitments().get(cloud, 0.0)

    def contracts(self) -> dict[Cloud, Contract]:
        """The commitments given as contracts, by cloud."""
        return {cloud: c for cloud, c in self.commitments.items() if isinstance(c, Contract)}

    def discounts(self) -> dict[Cloud, float]:
        """Each contract's negotiated discount on its cloud's list prices, where it has one."""
        return {cloud: c.discount for cloud, c in self.contracts().items() if c.discount > 0}


class Network(_Strict):
    supernet: PrivateCidr = Field(description="private block every VPC/VNet is cut from")
    overrides: dict[str, PrivateCidr] = Field(
        default_factory=dict, description="fixed CIDR per 'cloud/region', e.g. aws/eu-west-1"
    )
    interconnect: Literal["none", "vpn"] = Field(
        default="none",
        description="vpn: every VPC/VNet of the fleet reaches every other one privately "
        "(transit gateway per AWS region, VPN gateway per Azure VNet, BGP site-to-site VPN "
        "between clouds, peering within a cloud); none: each region is an island",
    )


class CloudRegions(_Strict):
    regions: tuple[str, ...] = Field(min_length=1)


class Clouds(RootModel[dict[CloudName, CloudRegions]]):
    """Candidate regions per cloud, keyed by the cloud registry (`aws`, `azure`, ...)."""

    model_config = ConfigDict(frozen=True)

    def configured(self) -> list[Cloud]:
        """The configured clouds, in registry order (not spec order: plans must not depend on it)."""
        return [cloud for cloud in registry.names() if cloud in self.root]

    def regions_of(self, cloud: Cloud) -> tuple[str, ...]:
        entry = self.root.get(cloud)
        return entry.regions if entry else ()

    def regions(self) -> list[tuple[Cloud, str]]:
        """Every configured (cloud, region): clouds in registry order, regions in spec order."""
        return [(cloud, region) for cloud in self.configured() for region in self.regions_of(cloud)]


class Autoscale(_Strict):
    min_nodes: Nodes = Field(default=0, ge=0)


class AcceleratorChoice(_Strict):
    """One accelerator a pool accepts, with how many of the pool's GPUs one of it counts as."""

    name: str
    weight: Real = Field(
        default=1.0, gt=0, le=64,
        description="how many of the pool's GPUs one of these counts as (default 1)",
    )

    @field_validator("name")
    @classmethod
    def _catalog_spelling(cls, value: str) -> str:
        """Matched without case and kept in the catalog's spelling, as `catalog --accelerator`
        reads it; an unknown name stays for the catalog rules to refuse with suggestions."""
        return spelled_as(value, load_catalog().accelerators()) or value


def _choices(value: object) -> object:
    """`accelerator: H100`, or a list of names and {name, weight} items, as a tuple of choices
    (one shape to validate, so an error names the item: `pools[0].accelerator[1].weight`)."""
    if isinstance(value, str):
        return ({"name": value},)
    if isinstance(value, list | tuple):
        items = cast(Sequence[object], value)
        return tuple({"name": item} if isinstance(item, str) else item for item in items)
    return value

class PoolPlacement(_Strict):
    unit_nodes: Nodes | None = Field(
        default=None, gt=0,
        description="nodes one job needs in one site: every site that gets nodes of the pool gets "
        "whole units of this many (absent: any count; for interconnect rdma, the whole pool in one site)",
    )
    max_region_share: RegionShare | None = Field(
        default=None,
        description="the most of the pool's GPUs any one region (cloud/region) may hold, met in whole "
        "nodes and units (absent: the fleet's placement.max_region_share for the pool's capacity; 1: none)",
    )


class Pool(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    accelerator: Annotated[tuple[AcceleratorChoice, ...], BeforeValidator(_choices)] = Field(
        min_length=1,
        description="the accelerator, or the ones the pool accepts, e.g. [H200, {name: H100, "
        "weight: 0.5}]: placement takes the cheapest mix that fills gpus",
    )
    gpus: Gpus = Field(description=f"total GPUs (at most {MAX_POOL_GPUS:,}); placement decides where")
    gpus_per_node: Whole | None = Field(default=None, gt=0, le=MAX_POOL_GPUS)
    capacity: Capacity = "on-demand"
    capacity_reservation_id: str | None = Field(
        default=None, description="the reservation a 'reserved' pool runs in, as its cloud names it"
    )
    interconnect: Literal["none", "rdma"] = "none"
    mig: Mig | None = Field(default=None, description="MIG profile; only clouds that offer it hold the pool")
    min_share: dict[CloudName, Share] = Field(default_factory=dict[Cloud, float])
    max_share: dict[CloudName, Share] = Field(default_factory=dict[Cloud, float])
    autoscale: Autoscale | None = Field(
        default=None, description="scale between min_nodes and the planned nodes; absent: fixed size"
    )
    placement: PoolPlacement = Field(
        default_factory=PoolPlacement, description="how the pool's nodes may be split over sites"
    )
    pin: dict[str, Annotated[Nodes, Field(gt=0)]] = Field(
        default_factory=dict, description="nodes fixed by hand per 'cloud/region'"
    )
    schedule: dict[Month, Gpus] = Field(
        default_factory=dict[str, int],
        description="GPUs from a month on, YYYY-MM -> GPUs (a step function over the horizon; "
        "before the first month: gpus)",
    )

    def choices(self) -> tuple[tuple[str, fractions.Fraction], ...]:
        """(accelerator, weight) per accelerator the pool accepts, in the spec's order; a weight
        is exact (0.1 is 1/10), so pools that weigh alike group alike (`interchangeable`)."""
        return tuple((item.name, fractions.Fraction(str(item.weight))) for item in self.accelerator)

    def accelerators(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.accelerator)

    def weight_of(self, accelerator: str) -> fractions.Fraction:
        """How many of the pool's GPUs one `accelerator` counts as (1 unless weighted; the last
        entry of a name, as in `choices`); the exact fraction only for a weight other than 1."""
        weight = next((item.weight for item in reversed(self.accelerator) if item.name == accelerator), 1)
        return fractions.Fraction(1) if weight == 1 else fractions.Fraction(str(weight))

    def accelerator_label(self) -> str:
        """The accelerators as the plan shows them: 'H100', or 'H200 or H100 (×0.5)'."""
        return " or ".join(
            name if weight == 1 else f"{name} (×{float(weight):g})" for name, weight in self.choices()
        )

    def min_gpus(self, cloud: Cloud) -> int:
        """The fewest GPUs `min_share` asks for on a cloud (GPUs are whole; float noise is not)."""
        return math.ceil(self.min_share.get(cloud, 0.0) * self.gpus - 1e-9)

    def max_gpus(self, cloud: Cloud) -> int:
        """The most GPUs `max_share` allows on a cloud it names (a pool may round up elsewhere)."""
        return math.floor(self.max_share[cloud] * self.gpus + 1e-9)


# A copy's fill is spread over a year by default: the horizon of annual budgets and cloud
# commitments, and about how long a training dataset lives before it is rebuilt. Shorter makes
# remote copies look dearer (fewer months share the fill), longer cheaper.
DEFAULT_AMORTIZE_MONTHS = 12


class Storage(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    size_tib: Tib = Field(gt=0)
    colocate_with: tuple[str, ...] = Field(min_length=1)
    protect: bool = True
    home: str | None = Field(
        default=None,
        description="'cloud/region' where the data is produced and its source of truth lives; "
        "every other copy is filled and synced from it (absent: copies are not priced for "
        "transfer, as before)",
    )
    churn_tib: Tib = Field(
        default=0.0, ge=0, description="TiB new or changed per month, synced to every copy"
    )
    amortize_months: Whole = Field(
        default=DEFAULT_AMORTIZE_MONTHS, ge=1, le=120,
        description="months over which a copy's first fill is spread in the monthly cost",
    )

    def home_place(self) -> tuple[str, str] | None:
        """(cloud, region) of `home`, or None without one (validated by the spec's rules)."""
        if self.home is None:
            return None
        cloud, _, region = self.home.partition("/")
        return cloud, region


# A declared SKU's key, `cloud/instance_type` (the instance type as the cloud spells it).
SKU_KEY_PATTERN = re.compile(r"^(?P<cloud>[a-z][a-z0-9-]*)/(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,99})$")


class DeclaredSku(_Strict):
    """A SKU the catalog lacks, with the facts placement and the clouds' builders need
    (`skus: {cloud/instance_type: ...}`); its price comes from the price book."""

    accelerator: str = Field(description="accelerator name as the catalog spells it (gpufleet catalog)")
    gpus: Whole = Field(gt=0, le=64, description="accelerators per node")
    vcpus: Whole = Field(gt=0, le=4096)
    memory_gib: Real = Field(gt=0, le=65536)
    arch: Literal["x86_64", "arm64"] = "x86_64"
    quota_bucket: str = Field(
        min_length=1, max_length=128, description="the vCPU quota its on-demand nodes draw on"
    )
    spot_quota_bucket: str | None = Field(
        default=None, min_length=1, max_length=128,
        description="the vCPU quota its spot nodes draw on (needed only for spot pools)",
    )
    rdma: Whole = Field(
        default=0, ge=0, le=64,
        description="RDMA interfaces per node (EFA on AWS, InfiniBand ports on Azure); 0: none",
    )

    def sku(self, key: str, base: Catalog) -> Sku | None:
        """The SKU as the catalog holds one, or None for a key the spec's rules refuse."""
        match = SKU_KEY_PATTERN.match(key)
        if match is None:
            return None
        return Sku(
            cloud=match["cloud"], instance_type=match["name"], accelerator=self.accelerator,
            gpus=self.gpus, vcpus=self.vcpus, memory_gib=self.memory_gib, arch=self.arch,
            quota_bucket=self.quota_bucket, spot_quota_bucket=self.spot_quota_bucket or "",
            rdma_interfaces=self.rdma, rdma_fabric=base.fabric_of(match["cloud"]) if self.rdma else "",
            family=base.families.get(self.accelerator, ""), source=DECLARED_SOURCE,
            confidence="declared",
        )


# A Pulumi type token `package:module:Type` (www.pulumi.com/docs/iac/concepts/resources/names/#types):
# a lowercase package such as `aws-native`, a module such as `s3/bucket` or `core/v1`, a type name.
TYPE_TOKEN_PATTERN = re.compile(r"^[a-z][a-z0-9-]*:[A-Za-z0-9_./-]+:[A-Za-z_][A-Za-z0-9_]*$")


def _type_token(value: str) -> str:
    if not TYPE_TOKEN_PATTERN.match(value):
        raise ValueError(
            "must be a Pulumi resource type token package:module:Type, e.g. "
            "tls:index/privateKey:PrivateKey"
        )
    return value


TypeToken = Annotated[str, AfterValidator(_type_token)]


class PolicyOptions(_Strict):
    """Explicit exemptions from the guards that fail closed (gpufleet/policy/locations.py)."""

    unlocated_types: tuple[TypeToken, ...] = Field(
        default=(),
        description="resource types sovereignty-allowed-regions accepts without a verifiable location",
    )
    unchecked_types: tuple[TypeToken, ...] = Field(
        default=(),
        description="resource types security-baseline and required-tags accept without verification",
    )


class Access(_Strict):
    """How the Kubernetes API servers are reached: `private` (only from inside the networks) or
    `allowlist` (a public endpoint open to the listed CIDRs only, the private one kept on)."""

    mode: Literal["private", "allowlist"] = Field(
        default="private",
        description="private: API servers reachable from inside the VPCs/VNets only; allowlist: "
        "also a public endpoint restricted to cidrs",
    )
    cidrs: tuple[Cidr, ...] = Field(
        default=(), description="public IPv4 ranges allowed to reach the API servers (allowlist only)"
    )


class PlacementOptions(_Strict):
    stability_tolerance: Fraction = Field(
        default=0.01, ge=0, le=0.5,
        description="keep the previous plan's placements when they cost at most this fraction more",
    )
    max_region_share: dict[Capacity, RegionShare] = Field(
        default_factory=dict[Capacity, float],
        description="default most share of a pool in one region, per capacity (spot: 0.5 unless set "
        "here; 1 turns a default off); a pool's placement.max_region_share overrides it",
    )

    def region_share(self, capacity: Capacity) -> float | None:
        """The default region share of pools of this capacity (None: none)."""
        share = self.max_region_share.get(capacity, DEFAULT_REGION_SHARES.get(capacity))
        return None if share is None or share >= 1.0 else share


class FleetSpec(_Strict):
    """The whole fleet: what the stack config key `gpufleet:fleet` holds."""

    name: str = Field(pattern=NAME_PATTERN)
    sovereignty: Sovereignty | None = None
    horizon: Horizon | None = Field(
        default=None, description="plan these months, a placement per period (absent: one steady month)"
    )
    budget: Budget = Field(default_factory=Budget)
    network: Network
    clouds: Clouds
    prices: dict[str, PriceUsd] = Field(default_factory=dict)
    skus: dict[str, DeclaredSku] = Field(
        default_factory=dict[str, DeclaredSku],
        description="SKUs the catalog lacks, keyed 'cloud/instance_type'; price them under prices:",
    )
    quotas: dict[CloudName, dict[str, dict[str, Vcpus]]] = Field(
        default_factory=dict[Cloud, dict[str, dict[str, int]]]
    )
    limits: dict[CloudName, dict[str, dict[str, Annotated[int, Field(gt=0, strict=True)]]]] = Field(
        default_factory=dict[Cloud, dict[str, dict[str, int]]],
        description="cluster limits the cloud raised for this account: cloud -> region -> limit key "
        "(nodes_per_node_group, node_groups_per_cluster, ipv4_cidr_blocks_per_vpc for aws; "
        "nodes_per_cluster for azure) -> value",
    )
    pools: tuple[Pool, ...] = Field(min_length=1)
    storage: tuple[Storage, ...] = ()
    placement: PlacementOptions = Field(default_factory=PlacementOptions)
    capacity: CapacityLimits = Field(
        default_factory=CapacityLimits, description="capacity the clouds cannot deliver now"
    )
    access: Access = Field(default_factory=Access)
    policies: PolicyOptions = Field(default_factory=PolicyOptions)

    @field_validator("quotas")
    @classmethod
    def _canonical_buckets(
        cls, value: dict[Cloud, dict[str, dict[str, int]]]
    ) -> dict[Cloud, dict[str, dict[str, int]]]:
        """Where a cloud's bucket names ignore case (Azure), spell them as the catalog does."""
        canonical: dict[Cloud, dict[str, dict[str, int]]] = {}
        for cloud, regions in value.items():
            model = registry.get(cloud)
            spelling = {model.bucket_key(b): b for b in known_buckets(load_catalog(), cloud)}
            canonical[cloud] = {
                region: {spelling.get(model.bucket_key(b), b): n for b, n in buckets.items()}
                for region, buckets in regions.items()
            }
        return canonical

    def pool(self, name: str) -> Pool:
        return next(pool for pool in self.pools if pool.name == name)

    def allowed_jurisdictions(self) -> frozenset[str] | None:
        if self.sovereignty is None:
            return None
        return frozenset(JURISDICTION_ALIASES.get(j, j) for j in self.sovereignty.jurisdictions)

    def declared_skus(self, base: Catalog) -> list[Sku]:
        """The spec's own SKUs (`skus:`) as catalog SKUs; keys the rules refuse are left out."""
        found = (declared.sku(key, base) for key, declared in sorted(self.skus.items()))
        return [sku for sku in found if sku is not None]

    def catalog(self) -> Catalog:
        """The packaged catalog with this spec's own SKUs, each contract's discount off its cloud's
        list prices, and this spec's price book laid over it (negotiated rates, not discounted
        again; declared SKUs have only price-book offers)."""
        return _priced(self, load_catalog())


_PricedKey = tuple[int, tuple[Sku, ...], tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]
_PRICED: dict[_PricedKey, tuple[Catalog, Catalog]] = {}
_BY_INPUTS: dict[tuple[int, ...], tuple[tuple[object, ...], Catalog]] = {}


def _priced(spec: FleetSpec, base: Catalog) -> Catalog:
    """`FleetSpec.catalog`, made once per (base, SKUs, discounts, price book), found first by the
    identity of the spec's inputs (explain asks thousands of times); an entry keeps its inputs."""
    inputs = (base, spec.skus, spec.budget, spec.prices)
    same = _BY_INPUTS.get(ids := tuple(map(id, inputs)))
    if same is not None and all(a is b for a, b in zip(same[0], inputs, strict=True)):
        return same[1]
    declared, discounts, prices = tuple(spec.declared_skus(base)), spec.budget.discounts(), spec.prices
    key = (id(base), declared, tuple(sorted(discounts.items())), tuple(sorted(prices.items())))
    kept = _PRICED.get(key)
    if kept is None or kept[0] is not base:
        if len(_PRICED) >= 64 or len(_BY_INPUTS) >= 64:  # a long-lived process pricing many specs
            _PRICED.clear()
            _BY_INPUTS.clear()
        made = base.with_declared(declared).with_discounts(discounts).with_price_book(prices)
        kept = _PRICED[key] = (base, made)
    _BY_INPUTS[ids] = (inputs, kept[1])
    return kept[1]


def known_buckets(catalog: Catalog, cloud: str | None = None) -> list[str]:
    """Every quota bucket the catalog's SKUs draw on (on-demand and spot)."""
    regional = {b for m in registry.models() if cloud in (None, m.name) for b in m.regional_buckets}
    return sorted(regional | {
        bucket for sku in catalog.skus.values() if cloud in (None, sku.cloud)
        for bucket in (sku.quota_bucket, sku.spot_quota_bucket)
    })
