"""Each region's clusters in the placement MILP (docs/design.md, "Several clusters per region").

Where a plan could reach a region's cluster limits (`Formulation`'s lazy rows), the region gets
an integer column counting its clusters after the first, each priced at what one more cluster
costs (`cost.cluster_fixed_usd`: its control plane and system nodes), at most
`addresses.most_clusters` - 1 (`clusters_per_region`, and a grown VPC's CIDR block quota). The
limit rows then read: the node groups (and, where the cloud has a node limit, the nodes) within
the first cluster's and, per extra cluster, what `gpufleet.clusters.fill` surely puts in it
(`clusters.cluster_room`), so the clusters the model pays for hold the plan's nodes as the
components fill them. A training unit larger than one cluster holds is not placed in the
region (`fill` never cuts one).

The address rows add each extra cluster's system pool to every range; a range every cluster
has of its own (`NodeRange.per_cluster`) is held to one cluster's room for the whole region's
nodes, which is safe whichever cluster the fill puts them in (the fill knows no addresses).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gpufleet import addresses
from gpufleet.catalog import Cloud, Sku
from gpufleet.clusters import cluster_room
from gpufleet.cost import cluster_fixed_usd
from gpufleet.nodegroups import ClusterLimits, cluster_limits
from gpufleet.placement.candidates import groups_reached, nodes_reached

if TYPE_CHECKING:
    from gpufleet.placement.formulation import Formulation


def cluster_rows(form: Formulation, cloud: Cloud, region: str, here: Sequence[int]) -> bool:
    """The region's cluster limit rows over candidates `here`, with its count of extra clusters
    where the region may have more than one; False where no plan reaches a limit (no rows)."""
    most = [form.most[i] for i in here]
    skus = [form.cands[i].sku for i in here]
    groups = groups_reached(form.spec, cloud, region, most, skus)
    nodes = nodes_reached(form.spec, cloud, region, most)
    if not groups and not nodes:
        return False
    m = form.milp
    limits = cluster_limits(form.spec, cloud, region)
    placeable = [i for i in here if fits_one_cluster(limits, form.cands[i].unit, form.cands[i].sku)]
    for i in here:
        if i not in placeable:  # a unit no cluster holds: none of it here
            m.row(-math.inf, 0.0, {form.x[i]: 1.0})
    unit = max((form.cands[i].unit for i in placeable), default=1)
    size = min((limits.group_size(form.cands[i].sku) for i in placeable), default=None)
    groups_room, nodes_room = cluster_room(limits, unit, size)
    most_groups = sum(limits.groups_for(n, sku) for n, sku in zip(most, skus, strict=True))
    extra = _extra_clusters(form, cloud, region, limits, most_groups)
    if groups:
        row = {form.groups_col(i, limits): 1.0 for i in placeable}
        if extra is not None and groups_room:
            row[extra] = -float(groups_room)
        m.row(-math.inf, float(limits.gpu_groups), row)
    if nodes and limits.gpu_nodes is not None:
        row = {form.x[i]: 1.0 for i in placeable}
        if extra is not None and nodes_room:
            row[extra] = -float(nodes_room)
        m.row(-math.inf, float(limits.gpu_nodes), row)
    return True


def fits_one_cluster(limits: ClusterLimits, unit: int, sku: Sku | None = None) -> bool:
    """Whether one empty cluster holds a training unit (its nodes, and its groups of `sku`)."""
    within_nodes = limits.gpu_nodes is None or unit <= limits.gpu_nodes
    return within_nodes and limits.groups_for(unit, sku) <= limits.gpu_groups


def _extra_clusters(
    form: Formulation, cloud: Cloud, region: str, limits: ClusterLimits, most_groups: int
) -> int | None:
    """The region's integer count of clusters after the first (made once; None where it may
    have only one), priced on its cloud as a `fixed` cost."""
    key = (cloud, region)
    if key in form.extra_clusters:
        return form.extra_clusters[key]
    bound = min(addresses.most_clusters(form.spec, cloud, region) - 1, most_groups)
    if bound < 1:
        return None
    usd = cluster_fixed_usd(cloud, form.spec)
    col = form.milp.col(0.0, float(bound), True)
    form.fixed[col] = (cloud, usd)
    form.kinds[col] = {"fixed": usd}
    form.spend[col] = usd
    form.extra_clusters[key] = col
    return col


def settle_extra(form: Formulation, values: list[float]) -> None:
    """Each extra-cluster column's least value the rows allow at the other columns' `values`
    (a start for HiGHS): the most any of its rows needs."""
    milp = form.milp
    for col in form.extra_clusters.values():
        need = 0
        for _, upper, coefs in milp.rows:
            coef = coefs.get(col, 0.0)
            if coef >= 0:  # a row without the column (most of them) needs nothing of it
                continue
            rest = sum(c * values[j] for j, c in coefs.items() if j != col)
            if rest > upper:
                need = max(need, math.ceil((rest - upper) / -coef - 1e-9))
        values[col] = float(min(need, milp.upper[col]))
