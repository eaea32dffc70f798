"""The address plan: a non-overlapping block of `network.supernet` for every VPC/VNet.

Stability is the point: a region's block depends only on the supernet and the region's fixed
slot, never on which other regions the plan uses, so adding or removing a region never moves
another one (a VPC/VNet CIDR cannot change in place). `gpufleet.slots` cuts the supernet into
`SLOT_COUNT` equal slots; slot i belongs to the i-th entry of `REGION_SLOTS`. An AWS VPC takes
its whole slot (AWS allows VPCs of /16 to /28); an Azure VNet takes the slot's lower half and the
AKS overlay pod range the upper half (overlay gives each node a /24: a /19 pod range holds 32
nodes).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from gpufleet.catalog import Cloud
from gpufleet.errors import Problem, SpecError
from gpufleet.plan import NetworkPlan
from gpufleet.slots import Network, slot_block, slot_of, supernet_problem
from gpufleet.spec import FleetSpec

AWS_VPC_PREFIXES = range(16, 29)


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
            f"{key} has no address slot in gpufleet.slots.REGION_SLOTS; append it there"
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
