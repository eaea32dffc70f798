"""The address layout: `network.supernet` cut into `SLOT_COUNT` equal slots, slot i for the i-th
entry of `REGION_SLOTS`. A leaf module (no spec, no plan), so spec validation can check that a
supernet holds every slot and `gpufleet.ipam` can cut the plan's blocks from it.
"""

from __future__ import annotations

import ipaddress

from gpufleet.catalog import Cloud

# Slot order of every known region. APPEND new regions at the end, never insert or reorder:
# a region's position is its address block. (The first 80 entries are the packaged regions.csv
# sorted by cloud and region when slots were introduced.)
REGION_SLOTS: tuple[str, ...] = (
    "aws/af-south-1", "aws/ap-east-1", "aws/ap-east-2", "aws/ap-northeast-1",
    "aws/ap-northeast-2", "aws/ap-northeast-3", "aws/ap-south-1", "aws/ap-south-2",
    "aws/ap-southeast-1", "aws/ap-southeast-2", "aws/ap-southeast-3", "aws/ap-southeast-4",
    "aws/ap-southeast-5", "aws/ap-southeast-6", "aws/ap-southeast-7", "aws/ca-central-1",
    "aws/ca-west-1", "aws/eu-central-1", "aws/eu-central-2", "aws/eu-north-1", "aws/eu-south-1",
    "aws/eu-south-2", "aws/eu-west-1", "aws/eu-west-2", "aws/eu-west-3", "aws/il-central-1",
    "aws/me-central-1", "aws/me-south-1", "aws/mx-central-1", "aws/sa-east-1", "aws/us-east-1",
    "aws/us-east-2", "aws/us-west-1", "aws/us-west-2", "azure/australiacentral",
    "azure/australiaeast", "azure/australiasoutheast", "azure/brazilsouth", "azure/canadacentral",
    "azure/canadaeast", "azure/centralindia", "azure/centralus", "azure/eastasia", "azure/eastus",
    "azure/eastus2", "azure/francecentral", "azure/francesouth", "azure/germanynorth",
    "azure/germanywestcentral", "azure/israelcentral", "azure/italynorth", "azure/japaneast",
    "azure/japanwest", "azure/koreacentral", "azure/koreasouth", "azure/mexicocentral",
    "azure/newzealandnorth", "azure/northcentralus", "azure/northeurope", "azure/norwayeast",
    "azure/norwaywest", "azure/polandcentral", "azure/qatarcentral", "azure/southafricanorth",
    "azure/southcentralus", "azure/southeastasia", "azure/southindia", "azure/spaincentral",
    "azure/swedencentral", "azure/switzerlandnorth", "azure/switzerlandwest", "azure/uaenorth",
    "azure/uksouth", "azure/ukwest", "azure/westcentralus", "azure/westeurope", "azure/westindia",
    "azure/westus", "azure/westus2", "azure/westus3",
)
SLOT_COUNT = 256  # room for 176 more regions before the layout would have to change
SLOT_BITS = (SLOT_COUNT - 1).bit_length()
SMALLEST_SLOT_PREFIX = 20  # a /20 slot: Azure VNet /21 and pod range /21 (8 nodes)

Network = ipaddress.IPv4Network


def slot_of(cloud: Cloud, region: str) -> int | None:
    """The region's fixed slot, or None for a region added to the catalog without one."""
    key = f"{cloud}/{region}"
    return REGION_SLOTS.index(key) if key in REGION_SLOTS else None


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
