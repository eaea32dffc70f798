"""Quota buckets: which buckets a node draws on, the declared limits, and what a plan uses.

Kept apart from the solver (no HiGHS or numpy import), so the quota policy reads the same
buckets as placement without loading the MILP solver.
"""

from __future__ import annotations

from collections.abc import Sequence

from gpufleet import clouds
from gpufleet.catalog import Capacity, Catalog, Cloud, Sku
from gpufleet.plan import Placement, QuotaUse
from gpufleet.spec import FleetSpec

QuotaKey = tuple[Cloud, str, str]


def buckets_for(sku: Sku, capacity: Capacity) -> tuple[str, ...]:
    """Every quota bucket a node draws on: its family bucket and its cloud's regional ones."""
    return clouds.get(sku.cloud).quota_buckets(sku, capacity)


def quota_key(cloud: Cloud, region: str, bucket: str) -> QuotaKey:
    """A bucket as its cloud compares it (Azure's names ignore case)."""
    return (cloud, region, clouds.get(cloud).bucket_key(bucket))


def declared_quotas(spec: FleetSpec) -> dict[QuotaKey, tuple[str, int]]:
    """Declared limits keyed by (cloud, region, normalised bucket) → (name as declared, vCPUs)."""
    return {
        quota_key(cloud, region, bucket): (bucket, limit)
        for cloud, regions in spec.quotas.items()
        for region, buckets in regions.items()
        for bucket, limit in buckets.items()
    }


def quota_use(
    spec: FleetSpec, catalog: Catalog, placements: Sequence[Placement]
) -> tuple[QuotaUse, ...]:
    """vCPUs drawn per (cloud, region, bucket) and the declared limit (None: undeclared)."""
    limits = declared_quotas(spec)
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
            used[key] = used.get(key, 0) + p.nodes * p.vcpus_per_node
            names.setdefault(key, bucket)
    return tuple(
        QuotaUse(cloud, region, names[(cloud, region, b)], used[(cloud, region, b)],
                 limits[(cloud, region, b)][1] if (cloud, region, b) in limits else None)
        for cloud, region, b in sorted(used)
    )
