"""The address plan: a non-overlapping block of `network.supernet` for every VPC/VNet.

Stability is the point: a region's block depends only on the supernet and the region's fixed
slot, never on which other regions the plan uses, so adding or removing a region never moves
another one (a VPC/VNet CIDR cannot change in place). The supernet is cut into `SLOT_COUNT`
equal slots; slot i belongs to the i-th entry of `REGION_SLOTS`. An AWS VPC takes its whole
slot (AWS allows VPCs of /16 to /28); an Azure VNet takes the slot's lower half and the AKS
overlay pod range the upper half (overlay gives each node a /24: a /19 pod range holds 32 nodes).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from gpufleet.catalog import Cloud
from gpufleet.errors import Problem, SpecError
from gpufleet.plan import NetworkPlan
from gpufleet.spec import FleetSpec

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
AWS_VPC_PREFIXES = range(16, 29)

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


def allocate(spec: FleetSpec, regions: Sequence[tuple[Cloud, str]]) -> tuple[NetworkPlan, ...]:
    """CIDRs (and AKS pod ranges) for the used regions; SpecError names the field to change."""
    supernet = spec.network.supernet
    too_small = supernet_problem(supernet)
    if too_small:
        raise SpecError([Problem("network.supernet", too_small)])
    overrides = dict(spec.network.overrides)
    plans = [_network(supernet, overrides, c, r) for c, r in dict.fromkeys(regions)]
    _check_overlaps(plans, overrides)
    return tuple(plans)


def _network(
    supernet: Network, overrides: dict[str, Network], cloud: Cloud, region: str
) -> NetworkPlan:
    key = f"{cloud}/{region}"
    slot = slot_of(cloud, region)
    if slot is None and (cloud == "azure" or key not in overrides):
        raise SpecError([Problem(
            f"network.overrides.{key}",
            f"{key} has no address slot in gpufleet.ipam.REGION_SLOTS; append it there"
            + ("" if cloud == "azure" else " or give it a CIDR here"),
        )])
    if cloud == "aws":
        cidr = overrides.get(key) or slot_block(supernet, slot or 0)
        if cidr.prefixlen not in AWS_VPC_PREFIXES:
            raise SpecError([Problem(
                f"network.overrides.{key}",
                f"{cidr} is a /{cidr.prefixlen}; an AWS VPC CIDR must be /16 to /28",
            )])
        return NetworkPlan(cloud, region, str(cidr))
    lower, upper = slot_block(supernet, slot or 0).subnets(prefixlen_diff=1)
    return NetworkPlan(cloud, region, str(overrides.get(key) or lower), str(upper))


def _check_overlaps(plans: Sequence[NetworkPlan], overrides: dict[str, Network]) -> None:
    """Blocks in use and every override must be disjoint; the error names the override."""
    claimed: list[tuple[str, Network]] = []
    for plan in plans:
        key = f"{plan.cloud}/{plan.region}"
        claimed.append((key, ipaddress.IPv4Network(plan.cidr)))
        if plan.pod_cidr:
            claimed.append((f"{key} (AKS pods)", ipaddress.IPv4Network(plan.pod_cidr)))
    used = {f"{p.cloud}/{p.region}" for p in plans}
    claimed += [(key, net) for key, net in sorted(overrides.items()) if key not in used]
    problems: list[Problem] = []
    for i, (a_key, a_net) in enumerate(claimed):
        for b_key, b_net in claimed[i + 1:]:
            if a_net.overlaps(b_net):
                (key, net), (other, other_net) = sorted(
                    [(a_key, a_net), (b_key, b_net)], key=lambda kn: kn[0] not in overrides
                )
                problems.append(Problem(
                    f"network.overrides.{key}",
                    f"{net} overlaps {other} ({other_net}); choose a disjoint block",
                ))
    if problems:
        raise SpecError(problems)
