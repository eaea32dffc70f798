"""The fleet spec: typed, strict, immutable, with errors that name the field and what is allowed.

`load_fleet(data)` is the one entry point (CLI, Pulumi program, policy pack): pydantic checks the
shape, then `_semantic_problems` checks the rules that span fields and the catalog. Every problem
becomes a `SpecError` whose lines read `path: message`.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterator, Sequence
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from gpufleet import clouds as registry
from gpufleet.catalog import JURISDICTION_ALIASES, Capacity, Catalog, Cloud, Sku, load_catalog
from gpufleet.errors import Problem, SpecError
from gpufleet.slots import supernet_problem
from gpufleet.specwords import one_of, problem_from_pydantic


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
Share = Annotated[float, Field(ge=0.0, le=1.0)]
Mig = Literal["MIG1g", "MIG2g", "MIG3g", "MIG4g", "MIG7g"]
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,22}[a-z0-9]$"
# The most GPUs one pool may ask for. The largest GPU clusters built so far hold 100,000-200,000
# GPUs; at 10,000,000 H100 the plan's dollar sums reach 10^10 and HiGHS's absolute 1e-6
# tolerances no longer hold (it called a feasible model infeasible), so the bound keeps a
# factor of 5 above real clusters and 10 below the solver's trouble.
MAX_POOL_GPUS = 1_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sovereignty(_Strict):
    """Where data and compute may live: jurisdictions from the region's country (EU, EEA, ISO code)."""

    jurisdictions: tuple[str, ...] = Field(min_length=1)


class Budget(_Strict):
    monthly_usd: float | None = Field(default=None, gt=0, description="hard cap for the fleet")
    commitments: dict[CloudName, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict[Cloud, float], description="spend already committed per cloud, used first ($/month)"
    )


class Network(_Strict):
    supernet: ipaddress.IPv4Network = Field(description="private block every VPC/VNet is cut from")
    overrides: dict[str, ipaddress.IPv4Network] = Field(
        default_factory=dict, description="fixed CIDR per 'cloud/region', e.g. aws/eu-west-1"
    )

    @field_validator("supernet")
    @classmethod
    def _private(cls, value: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not value.is_private:
            raise ValueError(
                f"supernet {value} must be a private IPv4 block (within 10.0.0.0/8, "
                "172.16.0.0/12 or 192.168.0.0/16)"
            )
        return value


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
    min_nodes: int = Field(default=0, ge=0)


class Pool(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    accelerator: str
    gpus: int = Field(
        gt=0, description=f"total GPUs (at most {MAX_POOL_GPUS:,}); placement decides where"
    )
    gpus_per_node: int | None = Field(default=None, gt=0)
    capacity: Capacity = "on-demand"
    capacity_reservation_id: str | None = Field(
        default=None, pattern=r"^cr-[0-9a-f]{8,17}$", description="AWS capacity block for 'reserved'"
    )
    interconnect: Literal["none", "rdma"] = "none"
    mig: Mig | None = Field(default=None, description="MIG profile on Azure GPU agent pools")
    min_share: dict[CloudName, Share] = Field(default_factory=dict[Cloud, float])
    max_share: dict[CloudName, Share] = Field(default_factory=dict[Cloud, float])
    autoscale: Autoscale | None = Field(
        default=None, description="scale between min_nodes and the planned nodes; absent: fixed size"
    )
    pin: dict[str, Annotated[int, Field(gt=0)]] = Field(
        default_factory=dict, description="nodes fixed by hand per 'cloud/region'"
    )

    def min_gpus(self, cloud: Cloud) -> int:
        """The fewest GPUs `min_share` asks for on a cloud (GPUs are whole; float noise is not)."""
        return math.ceil(self.min_share.get(cloud, 0.0) * self.gpus - 1e-9)

    def max_gpus(self, cloud: Cloud) -> int:
        """The most GPUs `max_share` allows on a cloud it names (a pool may round up elsewhere)."""
        return math.floor(self.max_share[cloud] * self.gpus + 1e-9)


class Storage(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    size_tib: float = Field(gt=0)
    colocate_with: tuple[str, ...] = Field(min_length=1)
    protect: bool = True


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


class PlacementOptions(_Strict):
    stability_tolerance: float = Field(
        default=0.01, ge=0, le=0.5,
        description="keep the previous plan's placements when they cost at most this fraction more",
    )


class FleetSpec(_Strict):
    """The whole fleet: what the stack config key `gpufleet:fleet` holds."""

    name: str = Field(pattern=NAME_PATTERN)
    sovereignty: Sovereignty | None = None
    budget: Budget = Field(default_factory=Budget)
    network: Network
    clouds: Clouds
    prices: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    quotas: dict[CloudName, dict[str, dict[str, Annotated[int, Field(ge=0)]]]] = Field(
        default_factory=dict[Cloud, dict[str, dict[str, int]]]
    )
    pools: tuple[Pool, ...] = Field(min_length=1)
    storage: tuple[Storage, ...] = ()
    placement: PlacementOptions = Field(default_factory=PlacementOptions)
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

    def catalog(self) -> Catalog:
        """The packaged catalog with this spec's price book laid over it."""
        return load_catalog().with_price_book(self.prices)


def known_buckets(catalog: Catalog, cloud: str | None = None) -> list[str]:
    """Every quota bucket the catalog's SKUs draw on (on-demand and spot)."""
    regional = {b for m in registry.models() if cloud in (None, m.name) for b in m.regional_buckets}
    return sorted(regional | {
        bucket for sku in catalog.skus.values() if cloud in (None, sku.cloud)
        for bucket in (sku.quota_bucket, sku.spot_quota_bucket)
    })


def load_fleet(data: object) -> FleetSpec:
    """Validate a fleet mapping; raise SpecError naming every bad field, its value and what is allowed."""
    try:
        spec = FleetSpec.model_validate(data)
    except ValidationError as error:
        errors = error.errors()
        # A list whose items failed also reports 'too short'; the item errors say more.
        errors = [
            e for e in errors
            if not (e["type"] == "too_short" and any(
                len(o["loc"]) > len(e["loc"]) and o["loc"][: len(e["loc"])] == e["loc"] for o in errors
            ))
        ]
        raise SpecError([problem_from_pydantic(e, data, FleetSpec) for e in errors]) from None
    problems = list(_semantic_problems(spec, load_catalog()))
    if problems:
        raise SpecError(problems)
    return spec


# -- rules that span fields or need the catalog ----------------------------------------------


def _split_place(key: str) -> tuple[str, str] | None:
    cloud, sep, region = key.partition("/")
    return (cloud, region) if sep and "/" not in region else None


def _semantic_problems(spec: FleetSpec, catalog: Catalog) -> Iterator[Problem]:
    allowed = spec.allowed_jurisdictions()
    known_jurisdictions = catalog.known_jurisdictions()
    if spec.sovereignty:
        for i, jurisdiction in enumerate(spec.sovereignty.jurisdictions):
            if jurisdiction not in known_jurisdictions:
                yield Problem(
                    f"sovereignty.jurisdictions[{i}]",
                    one_of("jurisdiction", jurisdiction, known_jurisdictions),
                )
    if not spec.clouds.configured():
        yield Problem("clouds", f"no cloud configured; allowed: {', '.join(registry.names())} (at least one)")

    too_small = supernet_problem(spec.network.supernet)
    if too_small:
        yield Problem("network.supernet", too_small)

    configured = set(spec.clouds.regions())
    for cloud in spec.clouds.configured():
        cloud_regions = spec.clouds.regions_of(cloud)
        known = catalog.region_names(cloud)
        for i, region in enumerate(cloud_regions):
            path = f"clouds.{cloud}.regions[{i}]"
            info = catalog.region(cloud, region)
            if info is None:
                yield Problem(path, one_of(f"{cloud} region", region, known))
            elif allowed is not None and not info.jurisdictions & allowed:
                yield Problem(
                    path,
                    f"region '{region}' is in {info.country} ({info.display_name}), outside the "
                    f"allowed jurisdictions {', '.join(sorted(allowed))}; remove it or allow "
                    f"{info.country}",
                )
            if cloud_regions.index(region) != i:
                yield Problem(path, f"region '{region}' is listed twice")

    for cloud in spec.budget.commitments:
        if cloud not in spec.clouds.configured():
            yield Problem(f"budget.commitments.{cloud}", f"cloud '{cloud}' is not under clouds:")

    for key in spec.network.overrides:
        place = _split_place(key)
        if place not in configured:
            yield Problem(
                f"network.overrides.{key}",
                f"'{key}' is not a configured cloud/region; configured: "
                + ", ".join(f"{c}/{r}" for c, r in sorted(configured)),
            )

    yield from _price_problems(spec, catalog)
    for cloud, per_region in spec.quotas.items():
        buckets = known_buckets(catalog, cloud)
        for region, limits in per_region.items():
            if (cloud, region) not in configured:
                yield Problem(
                    f"quotas.{cloud}.{region}",
                    f"region '{region}' is not under clouds.{cloud}.regions",
                )
            for bucket in limits:
                if bucket not in buckets:
                    yield Problem(
                        f"quotas.{cloud}.{region}.{bucket}", one_of("quota bucket", bucket, buckets)
                    )
    yield from _pool_problems(spec, catalog, configured)
    yield from _storage_problems(spec)


def _price_problems(spec: FleetSpec, catalog: Catalog) -> Iterator[Problem]:
    for key in spec.prices:
        path = f"prices.{key}"
        body, _, kind = key.partition(":")
        parts = body.split("/")
        if len(parts) != 3 or kind not in ("", "spot"):
            yield Problem(path, f"key '{key}' must be 'cloud/region/sku' or 'cloud/region/sku:spot'")
            continue
        cloud, region, instance_type = parts
        if cloud not in registry.names():
            yield Problem(path, one_of("cloud", cloud, list(registry.names())))
        elif catalog.region(cloud, region) is None:
            yield Problem(path, one_of(f"{cloud} region", region, catalog.region_names(cloud)))
        elif catalog.sku(cloud, instance_type) is None:
            names = sorted(s for c, s in catalog.skus if c == cloud)
            yield Problem(path, one_of(f"{cloud} instance type", instance_type, names))


def _pool_problems(
    spec: FleetSpec, catalog: Catalog, configured: set[tuple[Cloud, str]]
) -> Iterator[Problem]:
    accelerators = catalog.accelerators()
    seen: set[str] = set()
    clouds = spec.clouds.configured()
    for i, pool in enumerate(spec.pools):
        path = f"pools[{i}]"
        if pool.name in seen:
            yield Problem(f"{path}.name", f"pool name '{pool.name}' is used twice; names must be unique")
        seen.add(pool.name)
        if pool.gpus > MAX_POOL_GPUS:
            yield Problem(
                f"{path}.gpus",
                f"{pool.gpus:,} GPUs is above the {MAX_POOL_GPUS:,} one pool may hold: the largest "
                "GPU clusters hold 100,000-200,000, and far beyond that the placement solver's "
                "tolerances no longer hold; split the fleet into several pools",
            )
            continue
        if pool.accelerator not in accelerators:
            yield Problem(f"{path}.accelerator", one_of("accelerator", pool.accelerator, accelerators))
            continue
        skus = [
            s for cloud in clouds for s in catalog.skus_for(pool.accelerator, cloud)
            if pool.gpus_per_node in (None, s.gpus)
        ]
        if not skus:
            sizes = sorted({s.gpus for c in clouds for s in catalog.skus_for(pool.accelerator, c)})
            yield Problem(
                f"{path}.gpus_per_node" if pool.gpus_per_node else f"{path}.accelerator",
                f"no {pool.accelerator} SKU with {pool.gpus_per_node} GPUs per node on "
                f"{', '.join(clouds)}; sizes offered: {', '.join(map(str, sizes)) or 'none'}"
                if pool.gpus_per_node
                else f"no {pool.accelerator} SKU on {', '.join(clouds)}",
            )
        if pool.interconnect == "rdma" and skus and not any(s.rdma for s in skus):
            yield Problem(
                f"{path}.interconnect",
                "rdma needs EFA (AWS) or InfiniBand (Azure); none of "
                + ", ".join(s.instance_type for s in skus)
                + " has it; use interconnect: none or an RDMA-capable SKU",
            )
        if pool.mig and pool.interconnect == "rdma":
            # NVIDIA MIG User Guide, "Application Considerations": MIG does not support GPU to
            # GPU P2P (PCIe or NVLink). https://docs.nvidia.com/datacenter/tesla/mig-user-guide/
            yield Problem(
                f"{path}.mig",
                f"MIG ({pool.mig}) cannot be used on an rdma pool: MIG slices have no GPU-to-GPU "
                "peer-to-peer (PCIe or NVLink), which the multi-node training an rdma pool pays "
                "for relies on; drop mig, or use it on a pool with interconnect: none",
            )
        yield from _node_count_problems(path, pool, [s for s in skus if s.rdma or pool.interconnect != "rdma"])
        if pool.mig and skus and not any(s.mig_capable for s in skus):
            yield Problem(
                f"{path}.mig",
                f"MIG needs a MIG-capable GPU (A100, H100, ...); {pool.accelerator} on "
                + ", ".join(s.instance_type for s in skus)
                + " has none",
            )
        if pool.capacity_reservation_id and pool.capacity != "reserved":
            yield Problem(
                f"{path}.capacity_reservation_id",
                f"a capacity reservation needs capacity: reserved (got '{pool.capacity}')",
            )
        if pool.capacity == "reserved" and not pool.capacity_reservation_id:
            yield Problem(
                f"{path}.capacity_reservation_id",
                "capacity: reserved needs the id of an EC2 capacity block (cr-...), which AWS "
                "nodes then run in; without one the nodes would be created and priced as "
                "on-demand. On Azure a reservation is a billing discount on regular VMs, not a "
                "VM setting: use capacity: on-demand there and put the reserved price under "
                "prices:",
            )
        yield from _share_problems(path, pool, clouds)
        for key in pool.pin:
            if _split_place(key) not in configured:
                yield Problem(
                    f"{path}.pin.{key}",
                    f"'{key}' is not a configured cloud/region; configured: "
                    + ", ".join(f"{c}/{r}" for c, r in sorted(configured)),
                )


def _node_count_problems(path: str, pool: Pool, skus: Sequence[Sku]) -> Iterator[Problem]:
    """`gpus` must fill whole nodes of the sizes the pool may use (placement would round up
    without saying so), and `autoscale.min_nodes` may not exceed the most nodes it can have."""
    sizes = sorted({s.gpus for s in skus})
    if not sizes:
        return
    step = math.gcd(*sizes)
    if pool.gpus % step:
        below, above = pool.gpus - pool.gpus % step, pool.gpus - pool.gpus % step + step
        nearest = f"{below} or {above}" if below else str(above)
        yield Problem(
            f"{path}.gpus",
            f"{pool.gpus} GPUs do not fill whole {step}-GPU nodes ({pool.accelerator} nodes "
            f"offered hold {', '.join(map(str, sizes))}); use {nearest}",
        )
    most_nodes = pool.gpus // sizes[0]
    if pool.autoscale is not None and pool.autoscale.min_nodes > most_nodes:
        yield Problem(
            f"{path}.autoscale.min_nodes",
            f"min_nodes {pool.autoscale.min_nodes} is above the {most_nodes} nodes that "
            f"{pool.gpus} GPUs fill on {sizes[0]}-GPU nodes; at most {most_nodes}",
        )


def _share_problems(path: str, pool: Pool, clouds: list[Cloud]) -> Iterator[Problem]:
    for field in ("min_share", "max_share"):
        for cloud in getattr(pool, field):
            if cloud not in clouds:
                yield Problem(f"{path}.{field}.{cloud}", f"cloud '{cloud}' is not under clouds:")
    if sum(pool.min_share.values()) > 1.0 + 1e-9:
        yield Problem(
            f"{path}.min_share",
            f"min shares sum to {sum(pool.min_share.values()):g}; they must sum to at most 1",
        )
    for cloud, low in pool.min_share.items():
        high = pool.max_share.get(cloud, 1.0)
        if low > high:
            yield Problem(
                f"{path}.min_share.{cloud}",
                f"min_share {low:g} is above max_share {high:g} for {cloud}",
            )


def _storage_problems(spec: FleetSpec) -> Iterator[Problem]:
    pools = [pool.name for pool in spec.pools]
    seen: set[str] = set()
    for i, storage in enumerate(spec.storage):
        if storage.name in seen:
            yield Problem(f"storage[{i}].name", f"storage name '{storage.name}' is used twice")
        seen.add(storage.name)
        for j, name in enumerate(storage.colocate_with):
            if name not in pools:
                yield Problem(f"storage[{i}].colocate_with[{j}]", one_of("pool", name, pools))
