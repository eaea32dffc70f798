"""Quota buckets: which buckets a node draws on, the declared limits, and what a plan uses.

Kept apart from the solver (no HiGHS or numpy import), so the quota policy reads the same
buckets as placement without loading the MILP solver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from gpufleet import clouds
from gpufleet.catalog import Capacity, Catalog, Cloud, Sku
from gpufleet.clouds.capabilities import GLOBAL
from gpufleet.live import LiveQuota
from gpufleet.plan import Placement, QuotaUse
from gpufleet.spec import FleetSpec

QuotaKey = tuple[Cloud, str, str]


def buckets_for(sku: Sku, capacity: Capacity) -> tuple[str, ...]:
    """Every quota bucket a node draws on: its family bucket and its cloud's regional ones."""
    return clouds.get(sku.cloud).quota_buckets(sku, capacity)


def quota_key(cloud: Cloud, region: str, bucket: str) -> QuotaKey:
    """A bucket as its cloud compares it: in its region, or once for the cloud (`quota_scope`
    global), spelled as the cloud compares names (Azure's ignore case)."""
    model = clouds.get(cloud)
    where = region if model.capabilities.quota_scope == "region" else GLOBAL
    return (cloud, where, model.bucket_key(bucket))


def quota_units(sku: Sku) -> int:
    """What one node of the SKU draws on each of its buckets: its vCPUs, or its GPUs where its
    cloud counts GPUs (`Capabilities.quota_unit`)."""
    return sku.gpus if clouds.get(sku.cloud).capabilities.quota_unit == "gpus" else sku.vcpus


def unit_noun(cloud: Cloud) -> str:
    """How messages name one unit of the cloud's quotas."""
    return "GPU" if clouds.get(cloud).capabilities.quota_unit == "gpus" else "vCPU"


def placement_units(placement: Placement) -> int:
    """What a placement draws on each of its buckets, in its cloud's quota unit."""
    if clouds.get(placement.cloud).capabilities.quota_unit == "gpus":
        return placement.gpus
    return placement.nodes * placement.vcpus_per_node


def declared_quotas(spec: FleetSpec) -> Mapping[QuotaKey, tuple[str, int]]:
    """Declared limits keyed by (cloud, region or GLOBAL, normalised bucket) → (name as declared,
    limit in the cloud's quota unit). Made once per declared quotas (a frozen spec's, shared by
    its copies): explain's counterfactuals ask for them thousands of times."""
    kept = _DECLARED.get(id(spec.quotas))
    if kept is not None and kept[0] is spec.quotas:
        return kept[1]
    made = MappingProxyType({
        quota_key(cloud, region, bucket): (bucket, limit)
        for cloud, regions in spec.quotas.items()
        for region, buckets in regions.items()
        for bucket, limit in buckets.items()
    })
    if len(_DECLARED) >= 64:
        _DECLARED.clear()
    _DECLARED[id(spec.quotas)] = (spec.quotas, made)
    return made


_DECLARED: dict[int, tuple[object, Mapping[QuotaKey, tuple[str, int]]]] = {}
"""`declared_quotas` by the identity of the quotas it was made from (kept, so an id is never
reused for others while cached); read-only, as it is shared."""


def with_live_quotas(
    spec: FleetSpec, live: Sequence[LiveQuota]
) -> tuple[FleetSpec, dict[QuotaKey, str]]:
    """The spec with live headroom (limit − usage) in every bucket it does not declare, and
    where each came from. Declared quotas stay authoritative: they are what the user asked for.
    Buckets of regions the spec does not configure are left out, as the spec's rules demand."""
    declared = declared_quotas(spec)
    quotas = {cloud: {region: dict(b) for region, b in regions.items()} for cloud, regions in spec.quotas.items()}
    sources: dict[QuotaKey, str] = {}
    for q in live:
        key = quota_key(q.cloud, q.region, q.bucket)
        if key in declared or q.headroom is None or q.region not in spec.clouds.regions_of(q.cloud):
            continue
        quotas.setdefault(q.cloud, {}).setdefault(q.region, {})[q.bucket] = q.headroom
        sources[key] = f"live: limit {q.limit_vcpus} - in use {q.used_vcpus}; {q.label}"
    return spec.model_copy(update={"quotas": quotas}), sources


def quota_use(
    spec: FleetSpec, catalog: Catalog, placements: Sequence[Placement],
    sources: Mapping[QuotaKey, str] | None = None, *, only: tuple[Cloud, str] | None = None,
) -> tuple[QuotaUse, ...]:
    """Units drawn per (cloud, region or GLOBAL, bucket) and the limit (None: unknown), in the
    cloud's quota unit, with the source of each limit that came from a live look-up. `only`
    (cloud, region): that region's own buckets alone (a counterfactual's, `gpufleet.movereasons`,
    asked thousands of times by explain)."""
    limits = declared_quotas(spec)
    if only is not None:
        limits = {k: v for k, v in limits.items() if (k[0], k[1]) == only}
        placements = [p for p in placements if (p.cloud, p.region) == only]
    used: dict[QuotaKey, int] = {}
    names: dict[QuotaKey, str] = {}
    for key, (name, _) in limits.items():
        used[key] = 0
        names[key] = name
    for p in placements:
        sku = catalog.sku(p.cloud, p.instance_type)
        buckets = buckets_for(sku, p.capacity) if sku else (p.quota_bucket,)
        for bucket in buckets:
            key = quota_key(p.cloud, p.region, bucket)
            if bucket in clouds.get(p.cloud).regional_buckets and key not in limits:
                continue  # the regional total is only shown when declared
            used[key] = used.get(key, 0) + placement_units(p)
            names.setdefault(key, bucket)
    return tuple(
        QuotaUse(cloud, region, names[(cloud, region, b)], used[(cloud, region, b)],
                 limits[(cloud, region, b)][1] if (cloud, region, b) in limits else None,
                 (sources or {}).get((cloud, region, b)), clouds.get(cloud).capabilities.quota_unit)
        for cloud, region, b in sorted(used) if only is None or (cloud, region) == only
    )
