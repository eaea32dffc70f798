"""Addresses that hold the nodes: what every node subnet and pod range must hold, against what
it holds.

A node takes addresses from its region's ranges as its cloud's model says (`node_ranges`,
`node_addresses`: the VPC CNI's bound on AWS, one address and an overlay /24 on Azure). A
range must hold every node that can reach it: each pool at its maximum plus its upgrade surge,
and the system pool. The planner reports it per region; the `address-capacity` policy
(gpufleet.policy.addresses) proves it again from the declared resources. When a range is short,
`shortfall` names the block that would hold it: the supernet, the region's override, or, where
no single network can, fewer nodes in the region.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from gpufleet import clouds
from gpufleet.clouds.base import AddressBlocks, CloudModel, NodeRange
from gpufleet.plan import NetworkPlan, Placement, RangeUse
from gpufleet.slots import SLOT_BITS, Network

Needs = Sequence[tuple[int, int | None]]
"""(nodes at most, addresses per node or None when unknown) of every pool that draws on a range."""


def plan_demand(model: CloudModel, placements: Iterable[Placement]) -> list[tuple[str, int]]:
    """The region's nodes as the plan sizes them: each placement at its maximum plus its
    surge, and the system pool at its maximum plus its surge."""
    system = model.system_pool
    found = [(p.instance_type, p.nodes + model.pool_surge(p.nodes)) for p in placements]
    found.append((system.instance_type, system.max_nodes + model.pool_surge(system.max_nodes)))
    return found


def range_use(model: CloudModel, key: str, node_range: NodeRange, needs: Needs) -> RangeUse:
    """Need against room of one range; a pool without address figures needs the whole range
    and more (it cannot be proven to fit)."""
    needed = sum(nodes * (per if per is not None else node_range.usable + 1) for nodes, per in needs)
    use = RangeUse(
        node_range.label, str(node_range.cidr), sum(n for n, _ in needs), needed, node_range.usable,
    )
    if use.fits:
        return use
    return RangeUse(use.label, use.cidr, use.nodes, use.needed, use.available,
                    shortfall(model, key, node_range, needed))


def shortfall(model: CloudModel, key: str, node_range: NodeRange, needed: int) -> str:
    """What to change so the range holds `needed` addresses: the override or supernet size, or,
    beyond the largest network one region may have, fewer nodes in the region."""
    prefix = 32 - math.ceil(math.log2(needed + node_range.reserved))
    if node_range.pods:
        return (
            f"the pod range must be a /{prefix} or larger: free a candidate overlay block from "
            "network.supernet and network.overrides (gpufleet/clouds, OVERLAY_POD_CANDIDATES)"
        )
    if node_range.depth is None or node_range.slot_depth is None:
        return f"give it a /{prefix} or larger (it is not laid out by gpufleet)"
    block = prefix - node_range.depth
    if block < model.largest_block_prefix:
        largest = (1 << (32 - model.largest_block_prefix - node_range.depth)) - node_range.reserved
        return (
            f"no {model.title} network of one region can hold it (a /{model.largest_block_prefix} "
            f"network's {node_range.label} holds {largest}): place fewer nodes in {key} (more "
            f"regions under clouds.{model.name}.regions, max_share or pins){model.address_shortfall_note}"
        )
    supernet = prefix - node_range.slot_depth - SLOT_BITS
    way = f"set network.overrides.{key} to a /{block} or larger"
    if supernet >= 8:
        way = f"set network.supernet to a /{supernet} or larger, or {way}"
    return way


def region_ranges(plan: NetworkPlan) -> tuple[NodeRange, ...]:
    """The node ranges of a planned network, as its cloud lays them out."""
    model = clouds.get(plan.cloud)
    pods = Network(plan.pod_cidr) if plan.pod_cidr else None
    return model.node_ranges(AddressBlocks(Network(plan.cidr), pods))


def with_use(networks: Sequence[NetworkPlan], placements: Sequence[Placement]) -> tuple[NetworkPlan, ...]:
    """The networks with what their nodes need of every range (`NetworkPlan.ranges`)."""
    filled: list[NetworkPlan] = []
    for net in networks:
        model = clouds.get(net.cloud)
        demand = plan_demand(model, (p for p in placements if p.cloud == net.cloud and p.region == net.region))
        key = f"{net.cloud}/{net.region}"
        uses = tuple(
            range_use(model, key, r, [(n, model.node_addresses(kind, r)) for kind, n in demand])
            for r in region_ranges(net)
        )
        filled.append(NetworkPlan(net.cloud, net.region, net.cidr, net.pod_cidr, uses))
    return tuple(filled)
