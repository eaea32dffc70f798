"""What a placement spends, and the storage copies it implies.

`plan_ledger` is the ledger of the plan a placement makes: the same lines `gpufleet.cost`
prices for it (its networks are the placements' regions, its link joins them), so placement's
reported objective, `spend_by_cloud` and the plan's cost table are one set of figures.
"""

from __future__ import annotations

from collections.abc import Sequence

from gpufleet.catalog import Cloud
from gpufleet.cost import plan_lines
from gpufleet.interconnect import linked
from gpufleet.ledger import Ledger
from gpufleet.pipes import hub_choice
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


def plan_ledger(spec: FleetSpec, placements: Sequence[Placement]) -> Ledger:
    """The ledger of the plan these placements make: GPU nodes, each region's infrastructure,
    the link between the regions (`interconnect.linked`), every storage copy
    (`colocated_storage`) and its transfer from home on the home cloud."""
    regions = sorted({(p.cloud, p.region) for p in placements})
    sites = regions if linked(spec, len(regions)) else []
    storage = colocated_storage(spec, placements)
    return Ledger(plan_lines(spec, placements, regions, storage, sites, hubs=hub_choice(spec, storage, sites)))


def spend_by_cloud(spec: FleetSpec, placements: Sequence[Placement]) -> dict[Cloud, float]:
    """$/month per cloud of the plan these placements make (`plan_ledger`)."""
    return plan_ledger(spec, placements).by_cloud()
