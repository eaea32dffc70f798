"""The address layout: `network.supernet` cut into `SLOT_COUNT` equal slots; each cloud's model
lists which slot each of its regions owns (`region_slots` in gpufleet/clouds/, append-only). No
spec or plan here, so spec validation can check that a supernet holds every slot and
`gpufleet.ipam` can cut the plan's blocks from it.
"""

from __future__ import annotations

import ipaddress

from gpufleet import clouds
from gpufleet.catalog import Cloud

SLOT_COUNT = 256  # room for 176 more regions before the layout would have to change
SLOT_BITS = (SLOT_COUNT - 1).bit_length()
SMALLEST_SLOT_PREFIX = 20  # a /20 slot: Azure VNet /21 and pod range /21 (8 nodes)

Network = ipaddress.IPv4Network


def slotted_regions() -> list[str]:
    """Every registered `cloud/region` in slot order (position i holds slot i's owner)."""
    owners = {slot: f"{m.name}/{region}" for m in clouds.models() for region, slot in m.region_slots.items()}
    return [owners[slot] for slot in sorted(owners)]


def slot_of(cloud: Cloud, region: str) -> int | None:
    """The region's fixed slot (its cloud's `region_slots`), or None for a region without one."""
    return clouds.get(cloud).region_slots.get(region)


def slot_block(supernet: Network, slot: int) -> Network:
    """Slot `slot` of the supernet: it depends on nothing but these two values."""
    prefix = supernet.prefixlen + SLOT_BITS
    size = 1 << (32 - prefix)
    return ipaddress.IPv4Network((int(supernet.network_address) + slot * size, prefix))


def supernet_problem(supernet: Network) -> str | None:
    """Why a supernet cannot hold every region's slot, or None when it can."""
    if supernet.prefixlen + SLOT_BITS <= SMALLEST_SLOT_PREFIX:
        return None
    need = SMALLEST_SLOT_PREFIX - SLOT_BITS
    return (
        f"{supernet} is too small: {SLOT_COUNT} region slots of at least "
        f"/{SMALLEST_SLOT_PREFIX} need a /{need} or larger (e.g. 10.64.0.0/{need})"
    )
