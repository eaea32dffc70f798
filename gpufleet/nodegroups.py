"""Node groups within the clouds' cluster limits (issue 14).

Three jobs, shared by the planner, the components, the plan document and the spec's checks:
- `cluster_limits`: the limits one region's cluster respects, from the sourced table
  (catalog/data/limits.csv through each `CloudModel.limit_keys`), raised or lowered where the
  spec declares `limits: {cloud: {region: {key: value}}}` the way it declares quotas;
- `split`: one placement's nodes in a cluster as node groups (EKS managed node groups, AKS
  agent pools) that each fit. The first group is the placement's group of old, so its name and
  URN never change; growing adds groups at the end and shrinking removes them from the end
  (which cluster holds which nodes: `gpufleet.clusters`);
- `placement_parts`: the groups of some of a placement's nodes as the plan and the components
  declare them: on a rack-scale SKU one group per rack (`gpufleet.racks`), else `split` at the
  cluster's group size;
- `limit_problems`: the spec's `limits:` checked (configured region, known key, raisable,
  within the documented maximum).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpufleet import clouds
from gpufleet.catalog.limits import Limit
from gpufleet.errors import Problem
from gpufleet.racks import placement_racks
from gpufleet.specwords import one_of

if TYPE_CHECKING:
    from gpufleet.catalog import Catalog, Sku
    from gpufleet.plan import Placement
    from gpufleet.specmodel import FleetSpec

# Every cluster runs one system node group / agent pool besides the GPU pools (CloudModel.system_pool).
SYSTEM_GROUPS = 1
# The roles of `CloudModel.limit_keys` that bound one cluster (`blocks_per_network` bounds its network).
CLUSTER_ROLES = frozenset({"nodes_per_group", "groups_per_cluster", "nodes_per_cluster"})


@dataclass(frozen=True, slots=True)
class ClusterLimits:
    """What one region's cluster may hold: the effective values and the limits they come from.

    `nodes_per_cluster` is None where the cloud documents no such limit (EKS: only the two
    quotas bound a cluster). The system pool's group and its maximum nodes count too.
    """

    cloud: str
    region: str
    nodes_per_group: int
    groups_per_cluster: int
    nodes_per_cluster: int | None
    system_nodes: int
    sources: Mapping[str, Limit]
    clusters: int = 1
    """The most clusters the region may get (`clusters_per_region`); see
    docs/design.md, "Several clusters per region"."""
    blocks_per_network: int | None = None
    """IPv4 CIDR blocks one VPC/VNet may hold, the primary counted (None: the cloud adds none)."""

    @property
    def gpu_groups(self) -> int:
        """Groups left for GPU placements once the system pool has its own."""
        return max(0, self.groups_per_cluster - SYSTEM_GROUPS)

    @property
    def gpu_nodes(self) -> int | None:
        """Nodes left for GPU placements at the system pool's maximum size (None: no limit)."""
        if self.nodes_per_cluster is None:
            return None
        return max(0, self.nodes_per_cluster - self.system_nodes)

    def groups_for(self, nodes: int, sku: Sku | None = None) -> int:
        """Node groups one placement of `nodes` nodes (of `sku`) becomes (`group_size`)."""
        return math.ceil(nodes / self.group_size(sku))

    def group_size(self, sku: Sku | None = None) -> int:
        """The most nodes one group holds: its limit, or less where the cluster holds fewer
        (AKS: 1,000 nodes per cluster less the system pool's), and on a rack-scale SKU one rack
        of its smallest size (a placement's groups are its racks: `placement_parts`)."""
        most = self.gpu_nodes
        sizes = [self.nodes_per_group, *(rack.instances for rack in sku.racks)] if sku else [self.nodes_per_group]
        return min(sizes) if most is None else max(1, min(*sizes, most))

    def key(self, role: str) -> str:
        """The spec's (and limits.csv's) name of a role's limit: `nodes_per_node_group`."""
        return self.sources[role].key

    def raise_hint(self, role: str, value: int) -> str:
        """How to get `value` for a role's limit: the spec key to declare once the cloud raised
        it, or why it cannot be raised."""
        found = self.sources[role]
        where = f"{self.cloud}/{self.region}"
        if not found.adjustable:
            return f"{where} {found.key} is fixed at {found.value} ({found.source}); allow more regions"
        if found.maximum is not None and value > found.maximum:
            return f"{where} {found.key} can be raised to {found.maximum} at most ({found.source}); allow more regions"
        return (
            f"raise {where} {found.key} to {value} ({found.source}) and declare it as "
            f"`limits: {{{self.cloud}: {{{self.region}: {{{found.key}: {value}}}}}}}`"
        )


Declared = Mapping[str, Mapping[str, Mapping[str, int]]]
"""Limits as the spec declares them: cloud -> region -> limit key -> value."""


def cloud_limits(cloud: str) -> Mapping[str, Limit]:
    """Role -> limit (value, raisable, source) of a cloud's cluster limits (`CloudModel.limit_keys`)."""
    model = clouds.get(cloud)
    return {role: model.limit(key) for role, key in model.limit_keys.items()}


def cluster_limits(spec: FleetSpec, cloud: str, region: str) -> ClusterLimits:
    """The limits of the cluster in (cloud, region): the table's defaults, the spec's overrides."""
    return limits_in(spec.limits, cloud, region)


def limits_in(declared_limits: Declared, cloud: str, region: str | None) -> ClusterLimits:
    """The limits of the cluster in (cloud, region) under declared overrides (a region not
    known: the defaults)."""
    model = clouds.get(cloud)
    sources = cloud_limits(cloud)
    none: Mapping[str, int] = {}
    declared = declared_limits.get(cloud, {}).get(region, none) if region else none

    def value(role: str) -> int | None:
        found = sources.get(role)
        return None if found is None else declared.get(found.key, found.value)

    per_group, groups = value("nodes_per_group"), value("groups_per_cluster")
    if per_group is None or groups is None:
        raise ValueError(f"cloud {cloud} declares no nodes_per_group / groups_per_cluster limit keys")
    return ClusterLimits(
        cloud, region or "?", per_group, groups, value("nodes_per_cluster"), model.system_pool.max_nodes, sources,
        clusters=value("clusters_per_region") or 1, blocks_per_network=value("blocks_per_network"),
    )


@dataclass(frozen=True, slots=True)
class GroupPart:
    """One node group of a placement: `index` 0 is the placement's original group; `rack`
    names the rack (UltraServer, NVL72) the group holds, when it holds one."""

    index: int
    nodes: int
    min_nodes: int | None  # None: fixed size
    rack: str = ""

    @property
    def suffix(self) -> str:
        """What the group's logical and physical names add: nothing for the first, then `-g2`,
        ... (or `-r2`, ... when each group is a rack): from its place, so adding one renames none."""
        return "" if self.index == 0 else f"-{'r' if self.rack else 'g'}{self.index + 1}"


def split(nodes: int, min_nodes: int | None, per_group: int, rack: str = "") -> tuple[GroupPart, ...]:
    """`nodes` as full groups of `per_group` and one remainder, in that order (fill-first);
    with `rack`, each group is one rack of `per_group` instances.

    Fill-first keeps growth local: up to the limit only the last group changes size (in place),
    past it a group is added; never is an existing group renamed or replaced. The autoscale
    floor (capped at the planned nodes, as for one group) fills the groups in the same order.
    """
    if per_group < 1:
        raise ValueError(f"nodes per group must be at least 1, not {per_group}")
    floor = None if min_nodes is None else min(max(min_nodes, 0), nodes)
    parts: list[GroupPart] = []
    left, low = nodes, floor
    for index in range(max(1, math.ceil(nodes / per_group))):
        here = min(left, per_group)
        least = None if low is None else min(low, here)
        parts.append(GroupPart(index, here, least, rack))
        left -= here
        low = None if low is None or least is None else low - least
    return tuple(parts)


def placement_parts(
    spec: FleetSpec, catalog: Catalog, placement: Placement, min_nodes: int | None, nodes: int | None = None
) -> tuple[GroupPart, ...]:
    """The node groups one placement (or `nodes` of it, its share of one cluster) becomes: on a
    rack-scale SKU one per rack, all of a rack in its group (an NVLink domain is never cut,
    docs/frontier.md, "Whole racks"), else groups split at its cluster's group size. Rack i's
    group keeps its name when racks are added."""
    per_group = cluster_limits(spec, placement.cloud, placement.region).group_size()
    racks = placement_racks(spec, catalog, placement)
    count = placement.nodes if nodes is None else nodes
    if racks is None:
        return split(count, min_nodes, per_group)
    return split(count, min_nodes, min(racks.rack.instances, per_group), racks.rack.name)


def limit_problems(spec: FleetSpec) -> Iterator[Problem]:
    """The spec's `limits:`: each region configured, each key a limit the planner respects for
    that cloud, raisable (any limit may be lowered: `clusters_per_region: 1` keeps a region to
    one cluster), and within the documented maximum (values are positive integers by the
    model)."""
    configured = set(spec.clouds.regions())
    for cloud, per_region in spec.limits.items():
        sources = {found.key: found for found in cloud_limits(cloud).values()}
        for region, declared in per_region.items():
            if (cloud, region) not in configured:
                yield Problem(f"limits.{cloud}.{region}", f"region '{region}' is not under clouds.{cloud}.regions")
            for key, value in declared.items():
                path = f"limits.{cloud}.{region}.{key}"
                known = sources.get(key)
                if known is None:
                    yield Problem(path, one_of(f"{cloud} limit", key, sorted(sources)))
                elif not known.adjustable and value > known.value:
                    yield Problem(path, (
                        f"{key} is fixed at {known.value} {known.unit} and cannot be raised "
                        f"({known.source}); remove it and allow more regions instead"
                    ))
                elif known.maximum is not None and value > known.maximum:
                    yield Problem(path, (
                        f"{value} is above the most {cloud} allows for {key}, {known.maximum} "
                        f"{known.unit} ({known.source}); at most {known.maximum}"
                    ))
