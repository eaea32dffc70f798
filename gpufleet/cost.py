"""What the plan costs per month (hourly × 730), line by line, each saying where its price is from.

GPU nodes carry the catalog or price-book price chosen by placement. Everything else is a fixed
list price in this module, each with the public page it reflects; they are US-East list prices
(other regions differ by a few percent) and are meant for planning, not for invoicing.

Every region that holds a placement also costs the same fixed amount per cloud (control plane,
NAT gateways on AWS, system nodes): `region_fixed_usd`, which placement puts in its objective and
budget row, so the planner and this estimate price a plan alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from gpufleet import clouds
from gpufleet.catalog import Cloud
from gpufleet.plan import (
    CloudSpend,
    CostLine,
    CostSummary,
    LinkPlan,
    NetworkPlan,
    Placement,
    StoragePlan,
)
from gpufleet.spec import FleetSpec

HOURS_PER_MONTH = 730
GB_PER_TIB = 1024  # both clouds bill storage and transfer per GB of 2**30 bytes

# https://aws.amazon.com/ec2/pricing/on-demand/ (Data Transfer) — between AWS regions: $0.02/GB;
# https://azure.microsoft.com/pricing/details/bandwidth/ — between Azure regions within a
# continent: $0.02/GB. Internet egress (another cloud), first 10 TB/month: $0.09/GB (AWS),
# $0.087/GB (Azure); $0.09 is used for both.
INTER_REGION_USD_PER_GB = 0.02
CROSS_CLOUD_USD_PER_GB = 0.09
EGRESS_READS_PER_MONTH = 1  # assumption: a pool reads its whole dataset once a month

_CODE = "fixed rate in gpufleet/cost.py"


def estimate(
    spec: FleetSpec,
    placements: Sequence[Placement],
    networks: Sequence[NetworkPlan],
    storage: Sequence[StoragePlan],
    link: LinkPlan | None = None,
) -> CostSummary:
    """Every monthly cost line, spend per cloud against its commitment, and the budget."""
    lines = [
        *(_node_line(p) for p in placements),
        *(line for n in networks for line in region_lines(n.cloud, n.region)),
        *(_link_lines(link) if link else []),
        *(_storage_line(s) for s in storage),
        *_egress_lines(spec, placements, storage),
    ]
    present = set(spec.clouds.configured()) | {li.cloud for li in lines}
    by_cloud: list[CloudSpend] = []
    for cloud in clouds.names():
        if cloud in present:
            spend = round(sum(li.monthly_usd for li in lines if li.cloud == cloud), 2)
            by_cloud.append(CloudSpend(cloud, spend, spec.budget.commitments.get(cloud, 0.0)))
    return CostSummary(
        monthly_usd=round(sum(li.monthly_usd for li in lines), 2),
        by_cloud=tuple(by_cloud),
        budget_usd=spec.budget.monthly_usd,
        lines=tuple(lines),
    )


def monthly(usd_per_hour: float) -> float:
    """$/month of a $/hour rate, to the cent (DESIGN.md: monthly = hourly × 730)."""
    return round(usd_per_hour * HOURS_PER_MONTH, 2)


def _node_line(p: Placement) -> CostLine:
    return CostLine(
        item=f"pool {p.pool}: {p.nodes} × {p.instance_type} ({p.capacity})",
        cloud=p.cloud,
        region=p.region,
        monthly_usd=p.monthly_usd,
        source=f"{p.price_source} (${p.price_usd_per_hour:g}/h × {HOURS_PER_MONTH} h)",
    )


def region_lines(cloud: Cloud, region: str) -> list[CostLine]:
    """The fixed cost of one region's infrastructure (the cloud's fixed items, e.g. control
    plane and NAT gateways, then its system nodes). The same for every region of a cloud."""
    model = clouds.get(cloud)
    lines = [
        CostLine(item.item, cloud, region, monthly(item.count * item.usd_per_hour), item.source)
        for item in model.fixed_costs()
    ]
    system = model.system_pool
    lines.append(CostLine(
        f"system nodes: {system.min_nodes} × {system.instance_type}", cloud, region,
        monthly(system.min_nodes * system.usd_per_hour),
        f"{system.source}; {system.min_nodes} nodes (the pool's minimum)",
    ))
    return lines


def _link_lines(link: LinkPlan) -> list[CostLine]:
    """Each site's share of the link (hub, connections, peerings), priced by its cloud for the
    number of peers it actually has; items with no count are left out."""
    lines: list[CostLine] = []
    for site in link.sites:
        same = sum(1 for s in link.sites if s.cloud == site.cloud) - 1
        peers = len(link.sites) - 1 - same
        lines += [
            CostLine(item.item, site.cloud, site.region, monthly(item.count * item.usd_per_hour), item.source)
            for item in clouds.get(site.cloud).link_costs(peers, same) if item.count
        ]
    return lines


def region_fixed_usd(cloud: Cloud, spec: FleetSpec | None = None) -> float:
    """$/month of one region's infrastructure on this cloud: the sum of its `region_lines`;
    with `spec`'s `interconnect: vpn`, also its link share as if every candidate region of the
    spec were open (an upper bound: placement cannot price pairs of regions linearly)."""
    fixed = sum(line.monthly_usd for line in region_lines(cloud, ""))
    candidates = [c for c, _ in spec.clouds.regions()] if spec is not None else []
    if spec is not None and spec.network.interconnect != "none" and len(candidates) > 1:
        same = candidates.count(cloud) - 1
        fixed += sum(
            monthly(item.count * item.usd_per_hour)
            for item in clouds.get(cloud).link_costs(len(candidates) - 1 - same, same)
        )
    return round(fixed, 2)


def storage_monthly_usd(cloud: Cloud, size_tib: float) -> float:
    """$/month of one copy of a dataset of this size on this cloud."""
    return round(size_tib * GB_PER_TIB * clouds.get(cloud).storage_rate.usd_per_gb_month, 2)


def _storage_line(s: StoragePlan) -> CostLine:
    rate = clouds.get(s.cloud).storage_rate
    return CostLine(
        item=f"storage {s.name}: {s.size_tib:g} TiB {rate.product}",
        cloud=s.cloud,
        region=s.region,
        monthly_usd=storage_monthly_usd(s.cloud, s.size_tib),
        source=rate.source,
    )


def _egress_lines(
    spec: FleetSpec, placements: Sequence[Placement], storage: Sequence[StoragePlan]
) -> list[CostLine]:
    """A pool that lands where its dataset has no copy reads it from the nearest copy.

    With co-located storage every such region gets a copy and this is empty; it prices a plan
    whose storage was placed otherwise. Assumption: one full read a month, billed to the
    cloud that holds the copy; same cloud → inter-region rate, other cloud → internet egress.
    """
    lines: list[CostLine] = []
    for entry in spec.storage:
        copies = [s for s in storage if s.name == entry.name]
        if not copies:
            continue
        readers = sorted({
            (p.pool, p.cloud, p.region) for p in placements if p.pool in entry.colocate_with
        })
        for pool, cloud, region in readers:
            if any(c.cloud == cloud and c.region == region for c in copies):
                continue
            same_cloud = [c for c in copies if c.cloud == cloud]
            source = (same_cloud or copies)[0]
            rate = INTER_REGION_USD_PER_GB if same_cloud else CROSS_CLOUD_USD_PER_GB
            kind = "inter-region" if same_cloud else "cross-cloud internet"
            gb = entry.size_tib * GB_PER_TIB * EGRESS_READS_PER_MONTH
            lines.append(CostLine(
                item=f"egress {entry.name}: {source.cloud}/{source.region} → pool {pool} "
                     f"in {cloud}/{region}",
                cloud=source.cloud,
                region=source.region,
                monthly_usd=round(gb * rate, 2),
                source=f"{_CODE}: {kind} ${rate}/GB, assuming {EGRESS_READS_PER_MONTH} full "
                       "read of the dataset per month",
            ))
    return lines
