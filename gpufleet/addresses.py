"""Addresses that hold the nodes: what every node subnet and pod range must hold, against what
it holds.

A node takes addresses from its region's ranges as its cloud's model says (`node_ranges`,
`node_addresses`: the VPC CNI's bound on AWS, one address and an overlay /24 on Azure). A
range must hold every node that can reach it: each pool at its maximum plus its upgrade surge,
and the system pool. The planner reports it per region; the `address-capacity` policy
(gpufleet.policy.addresses) proves it again from the declared resources. When a range is short,
`shortfall` names the block that would hold it: the supernet, the region's override, or, where
no single network can, fewer nodes in the region.

Placement sizes against the same ranges before any plan exists (`planned_rooms`, cut from the
spec as the address plan will cut them): where a plan could fill a range (`may_bind`), the
model holds each placement's `node_demand`, a linear bound of the same arithmetic, within it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gpufleet import clouds, ipam
from gpufleet.catalog import Sku
from gpufleet.clouds.base import AddressBlocks, CloudModel, NodeRange
from gpufleet.clusters import cluster_suffix, region_clusters
from gpufleet.memo import IdentityMemo
from gpufleet.nodegroups import cluster_limits
from gpufleet.plan import NetworkPlan, Placement, RangeUse
from gpufleet.poolneeds import able_clouds, takes
from gpufleet.slots import SLOT_BITS, SMALLEST_SLOT_PREFIX, Network
from gpufleet.specskus import weighted_gpus

if TYPE_CHECKING:
    from gpufleet.specmodel import FleetSpec, Pool

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
    needed = sum(nodes * _or_more(per, node_range) for nodes, per in needs)
    use = RangeUse(
        node_range.label, str(node_range.cidr), sum(n for n, _ in needs), needed, node_range.usable,
    )
    if use.fits:
        return use
    return RangeUse(use.label, use.cidr, use.nodes, use.needed, use.available,
                    shortfall(model, key, node_range, needed))


def _or_more(per_node: int | None, node_range: NodeRange) -> int:
    """Addresses per node, or for a type without address figures more than the range holds."""
    return per_node if per_node is not None else node_range.usable + 1


def shortfall(model: CloudModel, key: str, node_range: NodeRange, needed: int) -> str:
    """What to change so the range holds `needed` addresses: the override or supernet size, or,
    beyond the largest network one region may have, fewer nodes in the region."""
    prefix = 32 - math.ceil(math.log2(needed + node_range.reserved))
    if node_range.pods:
        return model.pod_range_shortfall(prefix)
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
    blocks = tuple(Network(b) for b in plan.pod_blocks)
    return model.node_ranges(AddressBlocks(Network(plan.cidr), pods, blocks))


def with_use(
    spec: FleetSpec, networks: Sequence[NetworkPlan], placements: Sequence[Placement]
) -> tuple[NetworkPlan, ...]:
    """The networks as `layout` grows them, with what their nodes need of every range
    (`NetworkPlan.ranges`)."""
    filled: list[NetworkPlan] = []
    for net in networks:
        model = clouds.get(net.cloud)
        here = [p for p in placements if p.cloud == net.cloud and p.region == net.region]
        shares = [
            [replace(s.placement, nodes=s.nodes) for s in cluster]
            for cluster in region_clusters(spec, net.cloud, net.region, here).clusters
        ]
        blocks = layout(spec, net.cloud, net.region, len(shares))
        grown = tuple(str(b) for b in blocks.pod_blocks) if blocks is not None else ()
        laid_out = NetworkPlan(net.cloud, net.region, net.cidr, net.pod_cidr, (), grown)
        key = f"{net.cloud}/{net.region}"
        uses: list[RangeUse] = []
        ranges = region_ranges(laid_out)
        own = {r.cluster for r in ranges if r.per_cluster}
        for r in ranges:
            if not r.per_cluster:  # shared by every cluster: all nodes, a system pool each
                demand = [d for cluster in shares for d in plan_demand(model, cluster)]
                uses.append(range_use(model, key, r, _needs(model, r, demand)))
                continue
            for index, cluster in enumerate(shares):
                if index == r.cluster or (r.cluster == 0 and index not in own):
                    label = r.label if index == r.cluster else f"{r.label} of cluster {cluster_suffix(index)[1:]}"
                    mine = replace(r, label=label)
                    uses.append(range_use(model, key, mine, _needs(model, mine, plan_demand(model, cluster))))
        filled.append(NetworkPlan(net.cloud, net.region, net.cidr, net.pod_cidr, tuple(uses), grown))
    return tuple(filled)


SUPERNET_BASE = "10.0.0.0"
"""Where `gpufleet init` cuts a supernet it sizes (RFC 1918's largest block)."""


def supernet_for(spec: FleetSpec) -> Network:
    """The smallest `10.0.0.0/N` supernet whose region slots hold the spec's pools as `layout`
    lays them out: every configured region's ranges, each pool whole there at its most
    addresses (`spec_most`, the bound growth uses), as full as the largest supernet leaves
    them (a range no supernet holds, such as a grown VPC's pod subnet, is another matter:
    the plan names its fix). For `gpufleet init`, which writes it where the spec has none."""
    def short(prefix: int) -> set[tuple[str, str, str]]:
        sized = spec.model_copy(update={"network": spec.network.model_copy(
            update={"supernet": Network(f"{SUPERNET_BASE}/{prefix}")}
        )})
        return {
            (cloud, region, room.node_range.label)
            for cloud, region in sized.clouds.regions()
            for room in planned_rooms(sized, cloud, region)
            if bounded_need(sized, room, spec_most(sized, clouds.get(cloud), region, room.node_range))
            > room.node_range.usable
        }

    largest = short(8)
    fitting = (p for p in range(SMALLEST_SLOT_PREFIX - SLOT_BITS, 8, -1) if short(p) <= largest)
    return Network(f"{SUPERNET_BASE}/{next(fitting, 8)}")


def most_clusters(spec: FleetSpec, cloud: str, region: str) -> int:
    """The most clusters the region may get: its `clusters_per_region` limit, and what its
    network holds (`CloudModel.clusters_in`: a grown VPC's CIDR block quota)."""
    limits = cluster_limits(spec, cloud, region)
    blocks = layout(spec, cloud, region)
    held = clouds.get(cloud).clusters_in(blocks, limits.blocks_per_network) if blocks is not None else None
    return limits.clusters if held is None else max(1, min(limits.clusters, held))


def _needs(model: CloudModel, node_range: NodeRange, demand: Sequence[tuple[str, int]]) -> Needs:
    return [(n, model.node_addresses(kind, node_range)) for kind, n in demand]


_LAYOUTS: IdentityMemo[tuple[str, str], AddressBlocks | None] = IdentityMemo(kept=8)
"""`layout` per spec object and region, for the last few specs."""


def layout(spec: FleetSpec, cloud: str, region: str, clusters: int = 1) -> AddressBlocks | None:
    """The blocks the address plan gives the region's `clusters` clusters (None where its layout
    refuses it: `ipam.allocate` says why): grown (`CloudModel.grown_blocks`) where the spec's pools could
    overfill its plain ranges, else plain.

    A rule of the spec alone, so a region's layout never flips with a plan's prices, and one
    that loses no optimum: where no plan can fill the plain ranges, their rows bind nothing;
    where one could, the grown layout holds every plan the plain one holds (its node ranges
    are the same subnets, each node needs no more of them, and its pods' blocks are larger
    than the subnets they leave; tests/test_growth.py checks both for every SKU), and growing
    costs nothing (secondary CIDR blocks and ENIConfigs are free).

    Remembered per (frozen) spec object: placement asks it of every region at every solve, and
    `gpufleet explain` re-plans one spec hundreds of times at other prices."""
    table = _LAYOUTS.table(spec)
    if (cloud, region) not in table:
        table[(cloud, region)] = _layout(spec, cloud, region)
    found = table[(cloud, region)]
    if clusters == 1 or found is None or not found.pod_blocks:
        return found
    return clouds.get(cloud).grown_blocks(found, clusters)  # each cluster its own pod blocks


def _layout(spec: FleetSpec, cloud: str, region: str) -> AddressBlocks | None:
    plain = ipam.region_blocks(spec, cloud, region)
    if plain is None:
        return None
    grown = clouds.get(cloud).grown_blocks(plain, 1)
    if grown is None or not within_block_quota(spec, cloud, region, grown):
        return plain
    model = clouds.get(cloud)
    full = any(
        bounded_need(spec, _room(spec, model, cloud, region, r), spec_most(spec, model, region, r)) > r.usable
        for r in model.node_ranges(plain)
    )
    return grown if full else plain


def within_block_quota(spec: FleetSpec, cloud: str, region: str, blocks: AddressBlocks) -> bool:
    """Whether a network's IPv4 CIDR blocks (its own and those growth adds) fit the cloud's
    quota of blocks per network (`blocks_per_network`: limits.csv, or the spec's `limits:`). A
    grown layout never asks for more than the account may associate: where it would, the region
    stays plain and its addresses bound what it holds. The same rule as `most_clusters`' (one
    cluster's blocks: `CloudModel.clusters_in`), so a declared quota raises both."""
    held = clouds.get(cloud).clusters_in(blocks, cluster_limits(spec, cloud, region).blocks_per_network)
    return held is None or held >= 1


def spec_most(spec: FleetSpec, model: CloudModel, region: str, node_range: NodeRange) -> list[tuple[str, int]]:
    """(instance type, nodes) per pool that may run in the region, bounding what any placement
    of the pool there takes of `node_range`: all its GPUs (or its pin) on the type that takes
    the most addresses per GPU, with room for one node's rounding on each other type. The spec's
    own bound, without prices, so a price book never changes it."""
    place = f"{model.name}/{region}"
    catalog = spec.catalog()  # the spec's own SKUs too (`skus:`); offers, not prices, matter here
    found: list[tuple[str, int]] = []
    for pool in spec.pools:
        if model.name not in able_clouds(pool, spec.clouds.configured()):
            continue
        skus = [
            o.sku for name in pool.accelerators() for o in catalog.offers_for(name, model.name, region)
            if takes(pool, o.sku)
        ]
        if not skus:
            continue

        def per_gpu(sku: Sku, pool: Pool = pool) -> float:
            per_node = model.node_addresses(sku.instance_type, node_range)
            return math.inf if per_node is None else float(per_node / weighted_gpus(pool, sku))

        worst = max(skus, key=per_gpu)
        rounding = sum(weighted_gpus(pool, s) for s in skus if s is not worst)
        nodes = max(math.ceil((pool.gpus + rounding) / weighted_gpus(pool, worst)), pool.pin.get(place, 0))
        found.append((worst.instance_type, nodes))
    return found


@dataclass(frozen=True, slots=True)
class NodeDemand:
    """What one placement of an instance type takes of a range at most, linear in its nodes and
    node groups: per node its addresses with its share of the upgrade surge, per group the
    group's fixed surge (`CloudModel.surge_per_node`, `surge_per_group`: a safe bound of the
    step function `pool_surge`, so a placement that fits the bound fits the address plan)."""

    per_node: float
    per_group: float

    def of(self, nodes: int, groups: int) -> float:
        return self.per_node * nodes + self.per_group * groups


def node_demand(model: CloudModel, instance_type: str, node_range: NodeRange) -> NodeDemand:
    """`NodeDemand` of one node type in a range, from the cloud's address figures."""
    per = _or_more(model.node_addresses(instance_type, node_range), node_range)
    return NodeDemand(per * (1 + model.surge_per_node), float(per * model.surge_per_group))


@dataclass(frozen=True, slots=True)
class RangeRoom:
    """A range the region's nodes will draw on and what its system pool takes of it (at its
    maximum with its surge, `plan_demand`), for placement to size against."""

    key: str
    """`cloud/region`, as messages name it."""
    node_range: NodeRange
    system: int

    @property
    def room(self) -> int:
        """Addresses left for GPU nodes once the region holds any (and so its system pool)."""
        return self.node_range.usable - self.system


def planned_rooms(spec: FleetSpec, cloud: str, region: str) -> tuple[RangeRoom, ...]:
    """The ranges the address plan will give the region's nodes (`layout`; none where its
    layout refuses the region: `ipam.allocate` says why once a plan uses it)."""
    blocks = layout(spec, cloud, region)
    if blocks is None:
        return ()
    model = clouds.get(cloud)
    return tuple(_room(spec, model, cloud, region, r) for r in model.node_ranges(blocks))


def _room(spec: FleetSpec, model: CloudModel, cloud: str, region: str, node_range: NodeRange) -> RangeRoom:
    """A range with what the region's system pool takes of it."""
    ((kind, nodes),) = plan_demand(model, ())
    taken = nodes * _or_more(model.node_addresses(kind, node_range), node_range)
    return RangeRoom(f"{cloud}/{region}", node_range, taken)


def bounded_need(
    spec: FleetSpec, room: RangeRoom, placed: Sequence[tuple[str, int]]
) -> float:
    """What placements (instance type, nodes) and the system pool take of a range by the bound
    placement respects, each placement in the node groups its cluster splits it into."""
    cloud, region = room.key.split("/", 1)
    model, per_group = clouds.get(cloud), cluster_limits(spec, cloud, region).nodes_per_group
    demands: dict[str, NodeDemand] = {}  # many pools place the same few types
    need = float(room.system)
    for kind, n in placed:
        if n > 0:
            if kind not in demands:
                demands[kind] = node_demand(model, kind, room.node_range)
            need += demands[kind].of(n, math.ceil(n / per_group))
    return need


def may_bind(spec: FleetSpec, cloud: str, region: str, most: Sequence[tuple[str, int]]) -> bool:
    """Whether placements of at most `most` (instance type, nodes) could fill one of the region's
    ranges; elsewhere no plan reaches an address limit and the model needs no row for it."""
    return any(bounded_need(spec, room, most) > room.node_range.usable for room in planned_rooms(spec, cloud, region))


def overfilled(spec: FleetSpec, cloud: str, region: str, placed: Sequence[tuple[str, int]]) -> list[RangeUse]:
    """The region's ranges that placements (instance type, nodes) overfill by the bound
    placement respects, with need, room and the fix (`shortfall`), for the diagnosis."""
    found: list[RangeUse] = []
    model = clouds.get(cloud)
    for room in planned_rooms(spec, cloud, region):
        needed = math.ceil(bounded_need(spec, room, placed) - 1e-9)
        r = room.node_range
        if needed > r.usable:
            nodes = sum(n for _, n in placed)
            found.append(RangeUse(r.label, str(r.cidr), nodes, needed, r.usable, shortfall(model, room.key, r, needed)))
    return found
