"""Several clusters per region (issue 29, part 2; docs/design.md, "Several clusters per region").

One cluster holds only so much (`gpufleet.nodegroups.ClusterLimits`: node groups, and on AKS
nodes); a region whose placements outgrow it gets more clusters instead of sending nodes to
dearer regions. This module is the one rule that says which nodes go to which cluster, read by
placement (to count what the clusters cost), the cost lines, the plan document and the
components, so they always agree:

- `fill`: the region's placements, in plan order, fill the first cluster, then the next
  (fill-first, as `nodegroups.split` fills node groups). A training unit (`gpufleet.units`)
  never crosses clusters, nor does a rack (`gpufleet.racks`: a share's groups are its racks,
  `nodegroups.placement_parts`). Growth only adds at the end: the first cluster keeps its name and
  everything in it, later clusters add `-c2`, `-c3`, ... (`cluster_suffix`).
- `model_fits`: the linear condition placement holds per region (`placement.clusters`) under
  which `fill` needs no more than the clusters paid for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpufleet import clouds
from gpufleet.memo import IdentityMemo
from gpufleet.nodegroups import ClusterLimits, GroupPart, cluster_limits, placement_parts
from gpufleet.racks import placement_racks
from gpufleet.units import unit_of

if TYPE_CHECKING:
    from gpufleet.plan import FleetPlan, Placement
    from gpufleet.spec import FleetSpec


def cluster_suffix(index: int) -> str:
    """What a cluster's names add: nothing for the region's first, `-c2`, `-c3`, ... after it."""
    return "" if index == 0 else f"-c{index + 1}"


@dataclass(frozen=True, slots=True)
class Share:
    """Some of one placement's nodes in one cluster (an item of `fill`'s input is (nodes, unit))."""

    item: int
    nodes: int


def fill(
    limits: ClusterLimits, items: Sequence[tuple[int, int]], sizes: Sequence[int] | None = None
) -> list[list[Share]]:
    """Items of (nodes, unit), in order, as shares of clusters filled one after the other: each
    cluster takes what fits of its nodes (`gpu_nodes`) and node groups (`gpu_groups` of the
    item's group size, `sizes[item]`, else `group_size()`), in whole units (a last unit that is
    partly filled moves whole), and the next cluster opens for the rest.

    A unit that no empty cluster holds is a `ValueError` (placement never plans one)."""
    most_nodes = limits.gpu_nodes
    clusters: list[list[Share]] = [[]]
    nodes_used = groups_used = 0
    for item, (nodes, unit) in enumerate(items):
        per_group = sizes[item] if sizes is not None else limits.group_size()
        left = nodes
        while left > 0:
            room = (limits.gpu_groups - groups_used) * per_group
            if most_nodes is not None:
                room = min(room, most_nodes - nodes_used)
            take = min(left, room)
            if take < left:
                take -= take % unit
            if take <= 0:
                if not clusters[-1]:
                    raise ValueError(f"a unit of {unit} nodes fits no empty cluster under {limits}")
                clusters.append([])
                nodes_used = groups_used = 0
                continue
            clusters[-1].append(Share(item, take))
            nodes_used += take
            groups_used += math.ceil(take / per_group)
            left -= take
    return clusters


def cluster_room(limits: ClusterLimits, unit: int, size: int | None = None) -> tuple[int, int | None]:
    """What each cluster after the first surely adds under `fill` when the region's largest unit
    is `unit` and its smallest group size `size` (None: `group_size()`): node groups and nodes
    (None: no node limit), never below 0.

    Without units (`unit` 1) a cluster closes only when full, and a placement is cut between
    two clusters at a whole group, so each adds all its groups and nodes: exact. With units a
    cluster closes when the next unit does not fit, so it holds its nodes less one unit's plus
    one, and its groups less one unit's (`c` groups) plus one, and a unit-aligned cut may leave
    a partial group: `c` more groups are set aside (the argument:
    docs/design.md, "Several clusters per region")."""
    if unit == 1:
        return limits.gpu_groups, limits.gpu_nodes
    spans = math.ceil(unit / (size or limits.group_size()))
    groups = max(0, limits.gpu_groups - 2 * spans)
    nodes = None if limits.gpu_nodes is None else max(0, limits.gpu_nodes - unit + 1)
    return groups, nodes


def model_fits(limits: ClusterLimits, items: Sequence[tuple[int, int]], clusters: int) -> bool:
    """Whether `clusters` clusters pass the rows placement holds (`placement.clusters`): the
    groups (each item's nodes / `group_size`, rounded up) within the first cluster's groups and
    `cluster_room`'s for each other, and the same for nodes."""
    if clusters < 1:
        return not any(nodes for nodes, _ in items)
    unit = max((u for n, u in items if n), default=1)
    groups_room, nodes_room = cluster_room(limits, unit)
    groups = sum(limits.groups_for(n) for n, _ in items)
    if groups > limits.gpu_groups + groups_room * (clusters - 1):
        return False
    if limits.gpu_nodes is None or nodes_room is None:
        return True
    return sum(n for n, _ in items) <= limits.gpu_nodes + nodes_room * (clusters - 1)


@dataclass(frozen=True, slots=True)
class ClusterShare:
    """One placement's nodes in one cluster, as node groups (`nodegroups.placement_parts`)."""

    placement: Placement
    cluster: int
    nodes: int
    min_nodes: int | None
    """The autoscale floor of the share (None: fixed size)."""
    groups: tuple[GroupPart, ...]

    @property
    def suffix(self) -> str:
        return cluster_suffix(self.cluster)


@dataclass(frozen=True, slots=True)
class RegionClusters:
    """One region's clusters as planned: its limits and, per cluster, the shares it holds."""

    limits: ClusterLimits
    clusters: tuple[tuple[ClusterShare, ...], ...]

    @property
    def count(self) -> int:
        return len(self.clusters)

    def shares_of(self, placement: Placement) -> list[ClusterShare]:
        return [s for shares in self.clusters for s in shares if s.placement.key == placement.key]


def plan_clusters(plan: FleetPlan) -> list[RegionClusters]:
    """Every region of the plan with its clusters (for the plan document)."""
    return [planned_clusters(plan, cloud, region) for cloud in clouds.names() for region in plan.regions(cloud)]


def planned_clusters(plan: FleetPlan, cloud: str, region: str) -> RegionClusters:
    """One region of the plan with its clusters, each placement's autoscale floor filled into
    its first shares (for the components)."""
    floors = {pool.name: pool.autoscale.min_nodes if pool.autoscale else None for pool in plan.spec.pools}
    return region_clusters(plan.spec, cloud, region, plan.placements_in(cloud, region), floors)


def placement_unit(spec: FleetSpec, placement: Placement) -> int:
    """What of a placement never crosses clusters: its pool's training unit on its SKU (1 where
    the SKU or pool is unknown), made whole racks of the rack it fills (a block's UltraServer
    may be larger than the unit: `gpufleet.racks`)."""
    catalog = spec.catalog()
    sku = catalog.sku(placement.cloud, placement.instance_type)
    pool = next((pool for pool in spec.pools if pool.name == placement.pool), None)
    unit = 1 if sku is None or pool is None else unit_of(pool, sku)
    racks = placement_racks(spec, catalog, placement)
    return unit if racks is None else math.lcm(unit, racks.rack.instances)


def placement_group_size(spec: FleetSpec, limits: ClusterLimits, placement: Placement) -> int:
    """The most nodes of one of a placement's groups (`ClusterLimits.group_size` of its SKU)."""
    return limits.group_size(spec.catalog().sku(placement.cloud, placement.instance_type))


def region_clusters(
    spec: FleetSpec, cloud: str, region: str, placements: Sequence[Placement],
    min_nodes: Mapping[str, int | None] | None = None,
) -> RegionClusters:
    """The region's placements (in plan order) filled into clusters, each share split into node
    groups; `min_nodes` (by pool) fills each placement's autoscale floor into its first shares."""
    limits = cluster_limits(spec, cloud, region)
    here = [p for p in placements if p.cloud == cloud and p.region == region]
    filled = fill(
        limits, [(p.nodes, placement_unit(spec, p)) for p in here],
        [placement_group_size(spec, limits, p) for p in here],
    )
    catalog = spec.catalog()
    floors = {p.key: (min_nodes or {}).get(p.pool) for p in here}
    clusters: list[tuple[ClusterShare, ...]] = []
    for index, shares in enumerate(filled):
        found: list[ClusterShare] = []
        for share in shares:
            placement = here[share.item]
            floor = floors[placement.key]
            least = None if floor is None else min(floor, share.nodes)
            found.append(ClusterShare(
                placement, index, share.nodes, least, placement_parts(spec, catalog, placement, least, share.nodes)
            ))
            if floor is not None and least is not None:
                floors[placement.key] = floor - least
        clusters.append(tuple(found))
    return RegionClusters(limits, tuple(clusters))


def clusters_needed(spec: FleetSpec, cloud: str, region: str, placements: Sequence[Placement]) -> int | None:
    """Clusters the region's placements fill (None: a training unit no cluster holds)."""
    try:
        return region_clusters(spec, cloud, region, placements).count
    except ValueError:
        return None


def cluster_counts(spec: FleetSpec, placements: Sequence[Placement]) -> dict[tuple[str, str], int]:
    """Clusters per (cloud, region) holding placements, sorted."""
    here: dict[tuple[str, str], list[Placement]] = {}
    for p in placements:
        here.setdefault((p.cloud, p.region), []).append(p)
    return {place: _count(spec, *place, tuple(here[place])) for place in sorted(here)}


def _count(spec: FleetSpec, cloud: str, region: str, here: tuple[Placement, ...]) -> int:
    """`region_clusters(...).count`, remembered for the last spec asked (a frozen spec's clusters
    depend on nothing else): explain prices thousands of counterfactual plans that differ from
    today's in one or two regions (`gpufleet.explain`)."""
    counts = _COUNTS.table(spec)
    if len(counts) >= 100_000:
        counts.clear()
    key = (cloud, region, here)
    if key not in counts:
        counts[key] = region_clusters(spec, cloud, region, here).count
    return counts[key]


_COUNTS: IdentityMemo[tuple[str, str, tuple[Placement, ...]], int] = IdentityMemo(kept=1)
