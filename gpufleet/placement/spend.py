"""What a placement spends, counted as the MILP counts it, and the storage copies it implies.

`gpufleet.cost` prices the same items line by line; `spend_by_cloud` is its total per cloud.
"""

from __future__ import annotations

from collections.abc import Sequence

from gpufleet.catalog import Cloud
from gpufleet.cost import copy_costs, region_fixed_usd
from gpufleet.plan import Placement, StoragePlan
from gpufleet.spec import FleetSpec


def colocated_storage(spec: FleetSpec, placements: Sequence[Placement]) -> tuple[StoragePlan, ...]:
    """A bucket/account per storage entry in every region where a `colocate_with` pool lands,
    and in its `home` (the source of truth, always kept); copies away from home name it as
    their source."""
    plans: list[StoragePlan] = []
    for storage in spec.storage:
        home = storage.home_place()
        places: set[tuple[Cloud, str]] = {
            (p.cloud, p.region) for p in placements if p.pool in storage.colocate_with
        }
        plans.extend(
            StoragePlan(
                storage.name, cloud, region, storage.size_tib, storage.protect,
                None if home in (None, (cloud, region)) else storage.home,
            )
            for cloud, region in sorted(places | ({home} if home else set()))
        )
    return tuple(plans)


def spend_by_cloud(spec: FleetSpec, placements: Sequence[Placement]) -> dict[Cloud, float]:
    """$/month per cloud as the MILP counts it: GPU nodes as priced in each placement,
    `region_fixed_usd` per region that holds a placement, and every storage copy
    (`colocated_storage`) with its transfer from home on the home cloud. Without a link this is
    `gpufleet.cost.estimate`'s total per cloud; with `interconnect: vpn` it is an upper bound,
    each region's link share counted as if every candidate region were open (`region_fixed_usd`)."""
    spend: dict[Cloud, float] = {}
    for cloud, usd in spend_items(spec, placements):
        spend[cloud] = spend.get(cloud, 0.0) + usd
    return {cloud: round(usd, 2) for cloud, usd in spend.items()}


def spend_items(spec: FleetSpec, placements: Sequence[Placement]) -> list[tuple[Cloud, float]]:
    """Every priced item of the placements, as (cloud, $/month): nodes, regions, storage and
    transfers."""
    places: set[tuple[Cloud, str]] = {(p.cloud, p.region) for p in placements}
    catalog = spec.catalog()
    entries = {entry.name: entry for entry in spec.storage}
    return [
        *((p.cloud, p.monthly_usd) for p in placements),
        *((cloud, region_fixed_usd(cloud, spec)) for cloud, _ in sorted(places)),
        *(item for s in colocated_storage(spec, placements)
          for item in copy_costs(catalog, entries[s.name], s.cloud, s.region)),
    ]
