"""Racks of a placement (issue 27; docs/design.md, "Training units"; docs/frontier.md, "Whole
racks"): which rack a placement on a rack-scale SKU (racks.csv) fills, and how many.

A placement's nodes on such a SKU are whole racks of its smallest size (`gpufleet.units.unit_of`)
unless they run on a capacity block that names a larger UltraServer: then the block's
UltraServer is the rack (its instances were bought as one NVLink domain). Node groups are cut
at racks (`gpufleet.nodegroups.placement_parts`), so no NVLink domain spans two groups or zones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpufleet.catalog import Catalog, Rack
from gpufleet.specblocks import block_for, block_sku

if TYPE_CHECKING:
    from gpufleet.plan import Placement
    from gpufleet.specmodel import FleetSpec


@dataclass(frozen=True, slots=True)
class PlacementRacks:
    """The racks one placement fills: `count` racks of `rack` (the last one partly filled only
    when a block's UltraServer is larger than placement's unit)."""

    rack: Rack
    count: int


def rack_of(spec: FleetSpec, catalog: Catalog, placement: Placement) -> Rack | None:
    """The rack a placement fills: its capacity block's UltraServer when the block names one,
    else the SKU's smallest rack; None for a SKU that does not come in racks."""
    sku = catalog.sku(placement.cloud, placement.instance_type)
    if sku is None or not sku.racks:
        return None
    if placement.blocks:
        found = block_for(spec, catalog, placement.cloud, placement.region, placement.instance_type)
        bought = block_sku(found[1], catalog) if found is not None else None
        if bought is not None and bought[1] is not None:
            return bought[1]
    return min(sku.racks, key=lambda rack: rack.instances)


def placement_racks(spec: FleetSpec, catalog: Catalog, placement: Placement) -> PlacementRacks | None:
    """The racks of a placement (None off rack-scale SKUs): one node group each."""
    rack = rack_of(spec, catalog, placement)
    return None if rack is None else PlacementRacks(rack, math.ceil(placement.nodes / rack.instances))
