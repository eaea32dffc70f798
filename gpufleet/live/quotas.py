"""`gpufleet quotas` and `plan --live-quotas`: which quotas a spec's regions have, declared and
live, and what a plan may still draw (headroom = limit − usage)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpufleet.live import LiveQuota, QuotaLookup, RegionFailure, live_quotas
from gpufleet.quota import buckets_for, declared_quotas, quota_key
from gpufleet.spec import FleetSpec
from gpufleet.specmodel import known_buckets

HEADER = ("cloud", "region", "bucket", "declared", "live limit", "in use", "headroom", "source")


def look_up(
    spec: FleetSpec, lookups: Mapping[str, QuotaLookup] | None = None
) -> tuple[list[LiveQuota], list[RegionFailure]]:
    """Live quotas of every configured region, for every bucket the catalog's SKUs draw on."""
    catalog = spec.catalog()
    buckets = {cloud: known_buckets(catalog, cloud) for cloud in spec.clouds.configured()}
    return live_quotas(spec.clouds.regions(), buckets, lookups)


def quotas_document(spec: FleetSpec, live: list[LiveQuota], failed: list[RegionFailure]) -> dict[str, Any]:
    """Declared and live quotas side by side; the declared value is the one a plan uses."""
    declared = declared_quotas(spec)
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for q in live:
        key = quota_key(q.cloud, q.region, q.bucket)
        seen.add(key)
        rows.append({**q.to_json(), "declared_vcpus": declared[key][1] if key in declared else None,
                     "headroom_vcpus": q.headroom})
    for key, (bucket, limit) in sorted(declared.items()):
        if key not in seen:
            seen.add(key)
            rows.append({"cloud": key[0], "region": key[1], "bucket": bucket, "declared_vcpus": limit,
                         "limit_vcpus": None, "used_vcpus": None, "headroom_vcpus": None,
                         "source": "spec", "fetched_at": ""})
    for cloud, region, bucket in pool_buckets(spec):  # what the plan may draw on, undeclared
        if quota_key(cloud, region, bucket) not in seen:
            seen.add(quota_key(cloud, region, bucket))
            rows.append({"cloud": cloud, "region": region, "bucket": bucket, "declared_vcpus": None,
                         "limit_vcpus": None, "used_vcpus": None, "headroom_vcpus": None,
                         "source": "undeclared: unlimited in plans",
                         "fetched_at": ""})
    rows.sort(key=lambda r: (r["cloud"], r["region"], r["bucket"]))
    return {"quotas": rows, "failures": [{"cloud": f.cloud, "region": f.region, "reason": f.reason} for f in failed]}


def pool_buckets(spec: FleetSpec) -> list[tuple[str, str, str]]:
    """(cloud, region, bucket) of every bucket the spec's pools may draw on: the buckets of each
    SKU offered for a pool's accelerator in a configured region, at the pool's capacity."""
    catalog = spec.catalog()
    return sorted({
        (cloud, region, bucket)
        for cloud, region in spec.clouds.regions()
        for pool in spec.pools
        for accelerator in pool.accelerators()
        for offer in catalog.offers_for(accelerator, cloud, region)
        for bucket in buckets_for(offer.sku, pool.capacity)
    })


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def table_rows(document: dict[str, Any]) -> list[tuple[str, ...]]:
    return [
        (r["cloud"], r["region"], r["bucket"], _cell(r["declared_vcpus"]), _cell(r["limit_vcpus"]),
         _cell(r["used_vcpus"]), _cell(r["headroom_vcpus"]),
         f"{r['source']} at {r['fetched_at']}" if r["fetched_at"] else r["source"])
        for r in document["quotas"]
    ]
