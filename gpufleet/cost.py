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

from gpufleet import sizing
from gpufleet.catalog import CLOUDS, Cloud
from gpufleet.plan import CloudSpend, CostLine, CostSummary, NetworkPlan, Placement, StoragePlan
from gpufleet.spec import FleetSpec

HOURS_PER_MONTH = 730
GB_PER_TIB = 1024  # both clouds bill storage and transfer per GB of 2**30 bytes

# https://aws.amazon.com/eks/pricing/ — Amazon EKS cluster on standard support: $0.10 per hour.
EKS_CONTROL_PLANE_USD_PER_HOUR = 0.10
# https://azure.microsoft.com/pricing/details/kubernetes-service/ — AKS Standard tier: $0.10 per
# cluster per hour (the Free tier has no uptime SLA; production clusters use Standard).
AKS_STANDARD_USD_PER_HOUR = 0.10
# https://aws.amazon.com/vpc/pricing/ — NAT gateway: $0.045 per gateway-hour in us-east-1 (data
# processing, $0.045/GB, depends on traffic and is not estimated). One gateway per AZ, two AZs
# per region: the AWS network component creates exactly this many.
AWS_NAT_USD_PER_HOUR = 0.045
AWS_NAT_GATEWAYS_PER_REGION = 2
# System nodes (sizes in gpufleet/sizing.py, the same values the components deploy), priced at
# their minimum = initial size; the autoscaler may add nodes up to the pool's maximum.
# https://aws.amazon.com/ec2/pricing/on-demand/ — m7i.large, Linux, on-demand, us-east-1: $0.1008
# per hour. List price as of 2025, from memory: verify against the page.
AWS_SYSTEM_USD_PER_HOUR = 0.1008
# https://azure.microsoft.com/pricing/details/virtual-machines/linux/ — D4s v5, Linux, pay as you
# go, East US: $0.192 per hour. List price as of 2025, from memory: verify against the page.
AZURE_SYSTEM_USD_PER_HOUR = 0.192
SYSTEM_NODES: dict[Cloud, tuple[str, int, float]] = {
    "aws": (sizing.AWS_SYSTEM_INSTANCE_TYPE, sizing.AWS_SYSTEM_MIN_NODES, AWS_SYSTEM_USD_PER_HOUR),
    "azure": (sizing.AZURE_SYSTEM_VM_SIZE, sizing.AZURE_SYSTEM_MIN_NODES, AZURE_SYSTEM_USD_PER_HOUR),
}
# https://aws.amazon.com/s3/pricing/ — S3 Standard, first 50 TB/month: $0.023 per GB-month.
# https://azure.microsoft.com/pricing/details/storage/blobs/ — Blob Storage hot tier, LRS, first
# 50 TB/month: $0.0184 per GB-month. The first-tier rate is used for all volumes (larger volumes
# are a little cheaper per GB), so storage figures are an upper bound.
STORAGE_USD_PER_GB_MONTH: dict[Cloud, tuple[float, str]] = {
    "aws": (0.023, "S3 Standard"),
    "azure": (0.0184, "Blob hot LRS"),
}
# https://aws.amazon.com/ec2/pricing/on-demand/ (Data Transfer) — between AWS regions: $0.02/GB;
# https://azure.microsoft.com/pricing/details/bandwidth/ — between Azure regions within a
# continent: $0.02/GB. Internet egress (another cloud), first 10 TB/month: $0.09/GB (AWS),
# $0.087/GB (Azure); $0.09 is used for both.
INTER_REGION_USD_PER_GB = 0.02
CROSS_CLOUD_USD_PER_GB = 0.09
EGRESS_READS_PER_MONTH = 1  # assumption: a pool reads its whole dataset once a month

_CODE = "fixed rate in gpufleet/cost.py"
_SYSTEM_PAGES: dict[Cloud, str] = {
    "aws": "aws.amazon.com/ec2/pricing/on-demand",
    "azure": "azure.microsoft.com/pricing/details/virtual-machines/linux",
}


def estimate(
    spec: FleetSpec,
    placements: Sequence[Placement],
    networks: Sequence[NetworkPlan],
    storage: Sequence[StoragePlan],
) -> CostSummary:
    """Every monthly cost line, spend per cloud against its commitment, and the budget."""
    lines = [
        *(_node_line(p) for p in placements),
        *(line for n in networks for line in region_lines(n.cloud, n.region)),
        *(_storage_line(s) for s in storage),
        *_egress_lines(spec, placements, storage),
    ]
    present = set(spec.clouds.configured()) | {li.cloud for li in lines}
    by_cloud: list[CloudSpend] = []
    for cloud in CLOUDS:
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
    """The fixed cost of one region's infrastructure: control plane, AWS's NAT gateways and the
    system nodes. The same for every region of a cloud (one list price per item)."""
    kind, nodes, hourly = SYSTEM_NODES[cloud]
    system = CostLine(
        f"system nodes: {nodes} × {kind}", cloud, region, monthly(nodes * hourly),
        f"{_CODE}: ${hourly}/h per node, {nodes} nodes (the pool's minimum), list price as of "
        f"2025, verify ({_SYSTEM_PAGES[cloud]})",
    )
    if cloud == "aws":
        nat = AWS_NAT_GATEWAYS_PER_REGION * AWS_NAT_USD_PER_HOUR
        return [
            CostLine("EKS control plane", "aws", region, monthly(EKS_CONTROL_PLANE_USD_PER_HOUR),
                     f"{_CODE}: ${EKS_CONTROL_PLANE_USD_PER_HOUR}/h (aws.amazon.com/eks/pricing)"),
            CostLine(f"NAT gateways ({AWS_NAT_GATEWAYS_PER_REGION})", "aws", region,
                     monthly(nat),
                     f"{_CODE}: ${AWS_NAT_USD_PER_HOUR}/h per gateway, hours only "
                     "(aws.amazon.com/vpc/pricing)"),
            system,
        ]
    return [
        CostLine("AKS control plane (Standard tier)", "azure", region,
                 monthly(AKS_STANDARD_USD_PER_HOUR),
                 f"{_CODE}: ${AKS_STANDARD_USD_PER_HOUR}/h per cluster "
                 "(azure.microsoft.com/pricing/details/kubernetes-service)"),
        system,
    ]


def region_fixed_usd(cloud: Cloud) -> float:
    """$/month of one region's infrastructure on this cloud: the sum of its `region_lines`."""
    return round(sum(line.monthly_usd for line in region_lines(cloud, "")), 2)


def storage_monthly_usd(cloud: Cloud, size_tib: float) -> float:
    """$/month of one copy of a dataset of this size on this cloud."""
    rate, _ = STORAGE_USD_PER_GB_MONTH[cloud]
    return round(size_tib * GB_PER_TIB * rate, 2)


def _storage_line(s: StoragePlan) -> CostLine:
    rate, product = STORAGE_USD_PER_GB_MONTH[s.cloud]
    return CostLine(
        item=f"storage {s.name}: {s.size_tib:g} TiB {product}",
        cloud=s.cloud,
        region=s.region,
        monthly_usd=storage_monthly_usd(s.cloud, s.size_tib),
        source=f"{_CODE}: {product} ${rate}/GB-month, first-tier list price",
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
