"""The address plan: a non-overlapping block of `network.supernet` for every VPC/VNet.

Stability is the point: a region's block depends only on the supernet and the region's fixed
slot, never on which other regions the plan uses, so adding or removing a region never moves
another one (a VPC/VNet CIDR cannot change in place). The supernet is cut into `SLOT_COUNT`
equal slots; each cloud's model lists its regions' slots (`region_slots` in gpufleet/clouds/,
append-only) and shapes its slot (`address_blocks`): an AWS VPC takes the whole slot, an Azure
VNet the lower half. The AKS overlay pod range lies outside the slot: it is private to its
cluster, so every cluster reuses one block that avoids the supernet and the overrides, sized for
the most nodes a cluster may have. `gpufleet.addresses` checks that every range holds its nodes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from gpufleet import clouds
from gpufleet.catalog import Cloud
from gpufleet.clouds.base import AddressBlocks
from gpufleet.errors import Problem, SpecError
from gpufleet.plan import NetworkPlan
from gpufleet.slots import Network, slot_block, slot_of, supernet_problem
from gpufleet.spec import FleetSpec


def allocate(spec: FleetSpec, regions: Sequence[tuple[Cloud, str]]) -> tuple[NetworkPlan, ...]:
    """CIDRs (and AKS pod ranges) for the used regions; SpecError names the field to change."""
    supernet = spec.network.supernet
    too_small = supernet_problem(supernet)
    if too_small:
        raise SpecError([Problem("network.supernet", too_small)])
    overrides = dict(spec.network.overrides)
    avoid = [supernet, *overrides.values()]
    plans = [_network(supernet, overrides, avoid, c, r) for c, r in dict.fromkeys(regions)]
    _check_overlaps(plans, overrides)
    return tuple(plans)


def region_blocks(spec: FleetSpec, cloud: Cloud, region: str) -> AddressBlocks | None:
    """The blocks the address plan will give the region if it is used (a function of the spec
    alone), for placement to size against; None where the layout refuses the region
    (`allocate` then says why)."""
    overrides = dict(spec.network.overrides)
    try:
        return _blocks(spec.network.supernet, overrides, [spec.network.supernet, *overrides.values()], cloud, region)
    except SpecError:
        return None


def _blocks(
    supernet: Network, overrides: dict[str, Network], avoid: Sequence[Network], cloud: Cloud, region: str
) -> AddressBlocks:
    """The region's blocks, shaped by its cloud (a VPC takes its slot, a VNet half of it);
    the error names the override to set."""
    key = f"{cloud}/{region}"
    slot = slot_of(cloud, region)
    try:
        return clouds.get(cloud).address_blocks(
            None if slot is None else slot_block(supernet, slot), overrides.get(key), avoid
        )
    except ValueError as error:
        raise SpecError([Problem(f"network.overrides.{key}", f"{key} {error}")]) from None


def _network(
    supernet: Network, overrides: dict[str, Network], avoid: Sequence[Network], cloud: Cloud, region: str
) -> NetworkPlan:
    blocks = _blocks(supernet, overrides, avoid, cloud, region)
    return NetworkPlan(cloud, region, str(blocks.cidr), str(blocks.pod_cidr) if blocks.pod_cidr else None)


def _check_overlaps(plans: Sequence[NetworkPlan], overrides: dict[str, Network]) -> None:
    """Blocks in use and every override must be disjoint; the error names the override. Pod
    ranges are private to their cluster: they may repeat, never overlap a network."""
    claimed: list[tuple[str, Network]] = []
    for plan in plans:
        key = f"{plan.cloud}/{plan.region}"
        claimed.append((key, ipaddress.IPv4Network(plan.cidr)))
        if plan.pod_cidr and not any(ipaddress.IPv4Network(plan.pod_cidr) == net for _, net in claimed):
            label = clouds.get(plan.cloud).pod_range_label
            claimed.append((f"{key} ({label})", ipaddress.IPv4Network(plan.pod_cidr)))
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
