"""What a placement spends, counted as the MILP counts it, and the storage copies it implies.

`gpufleet.cost` prices the same items line by line; `spend_by_cloud` is its total per cloud.
"""

from __future__ import annotations

from collections.abc import Sequence

from gpufleet.catalog import Cloud
from gpufleet.cost import region_fixed_usd, storage_monthly_usd
from gpufleet.plan import Placement, StoragePlan
from gpufleet.spec import FleetSpec


def colocated_storage(spec: FleetSpec, placements: Sequence[Placement]) -> tuple[StoragePlan, ...]:
    """A bucket/account per storage entry in every region where a `colocate_with` pool lands."""
    plans: list[StoragePlan] = []
    for storage in spec.storage:
        places: list[tuple[Cloud, str]] = sorted(
            {(p.cloud, p.region) for p in placements if p.pool in storage.colocate_with}
        )
        plans.extend(
            StoragePlan(storage.name, cloud, region, storage.size_tib, storage.protect)
            for cloud, region in places
        )
    return tuple(plans)


def spend_by_cloud(spec: FleetSpec, placements: Sequence[Placement]) -> dict[Cloud, float]:
    """$/month per cloud as the MILP counts it: GPU nodes as priced in each placement,
    `region_fixed_usd` per region that holds a placement, and a storage copy per region where a
    `colocate_with` pool lands. Without a link this is `gpufleet.cost.estimate`'s total per
    cloud (its only other lines are egress, zero as storage is co-located); with
    `interconnect: vpn` it is an upper bound, each region's link share counted as if every
    candidate region were open (`region_fixed_usd`)."""
    spend: dict[Cloud, float] = {}
    for cloud, usd in spend_items(spec, placements):
        spend[cloud] = spend.get(cloud, 0.0) + usd
    return {cloud: round(usd, 2) for cloud, usd in spend.items()}


def spend_items(spec: FleetSpec, placements: Sequence[Placement]) -> list[tuple[Cloud, float]]:
    """Every priced item of the placements, as (cloud, $/month): nodes, regions, storage."""
    places: set[tuple[Cloud, str]] = {(p.cloud, p.region) for p in placements}
    return [
        *((p.cloud, p.monthly_usd) for p in placements),
        *((cloud, region_fixed_usd(cloud, spec)) for cloud, _ in sorted(places)),
        *((s.cloud, storage_monthly_usd(s.cloud, s.size_tib))
          for s in colocated_storage(spec, placements)),
    ]
