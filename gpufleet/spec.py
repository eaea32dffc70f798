"""The fleet spec: typed, strict, immutable, with errors that name the field and what is allowed.

`load_fleet(data)` is the one entry point (CLI, Pulumi program, policy pack): pydantic checks the
shape, then `_semantic_problems` checks the rules that span fields and the catalog. Every problem
becomes a `SpecError` whose lines read `path: message`.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gpufleet.catalog import AZURE_REGIONAL_BUCKET, CLOUDS, JURISDICTION_ALIASES, Capacity, Catalog, Cloud, load_catalog
from gpufleet.errors import Problem, SpecError

Share = Annotated[float, Field(ge=0.0, le=1.0)]
Mig = Literal["MIG1g", "MIG2g", "MIG3g", "MIG4g", "MIG7g"]
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,22}[a-z0-9]$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sovereignty(_Strict):
    """Where data and compute may live: jurisdictions from the region's country (EU, EEA, ISO code)."""

    jurisdictions: tuple[str, ...] = Field(min_length=1)


class Budget(_Strict):
    monthly_usd: float | None = Field(default=None, gt=0, description="hard cap for the fleet")
    commitments: dict[Cloud, Annotated[float, Field(ge=0)]] = Field(
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


class Clouds(_Strict):
    aws: CloudRegions | None = None
    azure: CloudRegions | None = None

    def regions(self) -> list[tuple[Cloud, str]]:
        """Every configured (cloud, region), in spec order."""
        return [
            (cloud, region)
            for cloud in CLOUDS
            for region in (getattr(self, cloud).regions if getattr(self, cloud) else ())
        ]

    def configured(self) -> list[Cloud]:
        return [cloud for cloud in CLOUDS if getattr(self, cloud) is not None]


class Autoscale(_Strict):
    min_nodes: int = Field(default=0, ge=0)


class Pool(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    accelerator: str
    gpus: int = Field(gt=0, description="total GPUs; placement decides where")
    gpus_per_node: int | None = Field(default=None, gt=0)
    capacity: Capacity = "on-demand"
    capacity_reservation_id: str | None = Field(
        default=None, pattern=r"^cr-[0-9a-f]{8,17}$", description="AWS capacity block for 'reserved'"
    )
    interconnect: Literal["none", "rdma"] = "none"
    mig: Mig | None = Field(default=None, description="MIG profile on Azure GPU agent pools")
    min_share: dict[Cloud, Share] = Field(default_factory=dict[Cloud, float])
    max_share: dict[Cloud, Share] = Field(default_factory=dict[Cloud, float])
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
    quotas: dict[Cloud, dict[str, dict[str, Annotated[int, Field(ge=0)]]]] = Field(
        default_factory=dict[Cloud, dict[str, dict[str, int]]]
    )
    pools: tuple[Pool, ...] = Field(min_length=1)
    storage: tuple[Storage, ...] = ()
    placement: PlacementOptions = Field(default_factory=PlacementOptions)

    @field_validator("quotas")
    @classmethod
    def _canonical_buckets(
        cls, value: dict[Cloud, dict[str, dict[str, int]]]
    ) -> dict[Cloud, dict[str, dict[str, int]]]:
        """Azure family names are case-insensitive: spell them as the catalog does."""
        spelling = {b.lower(): b for b in known_buckets(load_catalog())}
        return {
            cloud: {
                region: {spelling.get(b.lower(), b): n for b, n in buckets.items()}
                for region, buckets in regions.items()
            }
            for cloud, regions in value.items()
        }

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
    regional = {AZURE_REGIONAL_BUCKET} if cloud in (None, "azure") else set[str]()
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
        raise SpecError([_problem_from_pydantic(e, data) for e in errors]) from None
    problems = list(_semantic_problems(spec, load_catalog()))
    if problems:
        raise SpecError(problems)
    return spec


# -- rules that span fields or need the catalog ----------------------------------------------


def suggest(value: str, allowed: list[str]) -> str:
    """' (did you mean 'x'?)' for a close match, else ''."""
    match = difflib.get_close_matches(value, allowed, n=1, cutoff=0.6)
    if not match:
        match = [a for a in allowed if a.lower() == value.lower()]
    return f" (did you mean '{match[0]}'?)" if match else ""


def _one_of(kind: str, value: str, allowed: list[str]) -> str:
    shown = ", ".join(allowed[:12]) + (", ..." if len(allowed) > 12 else "")
    return f"unknown {kind} '{value}'{suggest(value, allowed)}; known: {shown}"


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
                    _one_of("jurisdiction", jurisdiction, known_jurisdictions),
                )
    if not spec.clouds.configured():
        yield Problem("clouds", "no cloud configured; allowed: aws, azure (at least one)")

    from gpufleet.ipam import supernet_problem  # ipam builds on the spec: import here, not above

    too_small = supernet_problem(spec.network.supernet)
    if too_small:
        yield Problem("network.supernet", too_small)

    configured = set(spec.clouds.regions())
    for cloud in spec.clouds.configured():
        cloud_regions = getattr(spec.clouds, cloud).regions
        known = catalog.region_names(cloud)
        for i, region in enumerate(cloud_regions):
            path = f"clouds.{cloud}.regions[{i}]"
            info = catalog.region(cloud, region)
            if info is None:
                yield Problem(path, _one_of(f"{cloud} region", region, known))
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
                        f"quotas.{cloud}.{region}.{bucket}", _one_of("quota bucket", bucket, buckets)
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
        if cloud not in CLOUDS:
            yield Problem(path, _one_of("cloud", cloud, list(CLOUDS)))
        elif catalog.region(cloud, region) is None:
            yield Problem(path, _one_of(f"{cloud} region", region, catalog.region_names(cloud)))
        elif catalog.sku(cloud, instance_type) is None:
            names = sorted(s for c, s in catalog.skus if c == cloud)
            yield Problem(path, _one_of(f"{cloud} instance type", instance_type, names))


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
        if pool.accelerator not in accelerators:
            yield Problem(f"{path}.accelerator", _one_of("accelerator", pool.accelerator, accelerators))
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
        yield from _share_problems(path, pool, clouds)
        for key in pool.pin:
            if _split_place(key) not in configured:
                yield Problem(
                    f"{path}.pin.{key}",
                    f"'{key}' is not a configured cloud/region; configured: "
                    + ", ".join(f"{c}/{r}" for c, r in sorted(configured)),
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
                yield Problem(f"storage[{i}].colocate_with[{j}]", _one_of("pool", name, pools))


# -- pydantic errors in words -------------------------------------------------------------------


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "fleet"


def _value_at(data: object, loc: tuple[int | str, ...]) -> object:
    for part in loc:
        if isinstance(data, Mapping) and part in data:
            data = typing.cast(Mapping[object, object], data)[part]
        elif isinstance(data, list | tuple) and isinstance(part, int):
            items = typing.cast(Sequence[object], data)
            if part >= len(items):
                return None
            data = items[part]
        else:
            return None
    return data


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that the location points into, following field annotations."""
    annotation: Any = FleetSpec
    for part in loc:
        model = _unwrap_model(annotation)
        if model is not None and isinstance(part, str) and part in model.model_fields:
            annotation = model.model_fields[part].annotation
        elif get_origin(annotation) in (tuple, list, dict) or _unwrap_model(annotation) is None:
            args = [a for a in get_args(annotation) if a is not Ellipsis]
            annotation = args[-1] if args else None
        else:
            return None
    return _unwrap_model(annotation)


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            found = _unwrap_model(arg)
            if found is not None:
                return found
    return None


def _problem_from_pydantic(error: Any, data: object) -> Problem:
    # pydantic marks an invalid dict key with a '[key]' step after the key itself
    loc: tuple[int | str, ...] = tuple(part for part in error["loc"] if part != "[key]")
    kind = error["type"]
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = sorted(model.model_fields) if model else []
        key = str(loc[-1])
        return Problem(
            _path(loc),
            f"unknown key '{key}'{suggest(key, allowed)}; allowed keys: {', '.join(allowed)}",
        )
    if kind == "missing":
        return Problem(_path(loc), "required key is missing")
    value = loc[-1] if "[key]" in error["loc"] else _value_at(data, loc)
    message: str = error["msg"]
    if kind == "literal_error":
        # ctx['expected'] reads "'on-demand', 'spot' or 'reserved'"
        listed = str(error.get("ctx", {}).get("expected", "")).replace(" or ", ", ")
        expected = [a.strip().strip("'") for a in listed.split(",")]
        return Problem(
            _path(loc),
            f"got {value!r}{suggest(str(value), expected)}; allowed: {', '.join(expected)}",
        )
    if kind == "string_pattern_mismatch":
        message = "must be lowercase letters, digits and '-' (2-24 characters, starting with a letter)"
        if "cr-" in str(error.get("ctx", {}).get("pattern", "")):
            message = "must be an EC2 capacity reservation id such as cr-0123456789abcdef0"
    elif kind == "value_error":
        message = message.removeprefix("Value error, ")
    return Problem(_path(loc), f"{message} (got {value!r})")


def spec_schema() -> dict[str, Any]:
    """The spec's JSON Schema (`gpufleet schema`), with the packaged catalog's accelerators and
    each cloud's regions as enums, so an editor completes them. Validation does not use these:
    `load_fleet` still names a wrong value and suggests the nearest known one."""
    schema = FleetSpec.model_json_schema()
    catalog = load_catalog()
    defs: dict[str, Any] = schema["$defs"]
    defs["Pool"]["properties"]["accelerator"]["enum"] = catalog.accelerators()
    generic = defs.pop("CloudRegions")
    for cloud in CLOUDS:
        name = f"CloudRegions_{cloud}"
        regions = {**generic["properties"]["regions"], "items": {"type": "string", "enum": catalog.region_names(cloud)}}
        defs[name] = {**generic, "title": f"{cloud} regions", "properties": {"regions": regions}}
        defs["Clouds"]["properties"][cloud]["anyOf"][0] = {"$ref": f"#/$defs/{name}"}
    return schema
