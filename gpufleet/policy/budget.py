"""gpu-budget, gpu-budget-headroom and commitment-burn: what the stack's resources cost a month.

GPU pools at maximum size at the catalog or price-book price (spot price for spot pools), plus
cluster control planes, NAT gateways and storage at gpufleet.cost's rates; monthly = hourly x
730. One estimate feeds all three policies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from gpufleet.catalog import Cloud, price_key
from gpufleet.cost import (
    AKS_STANDARD_USD_PER_HOUR,
    AWS_NAT_USD_PER_HOUR,
    EKS_CONTROL_PLANE_USD_PER_HOUR,
    GB_PER_TIB,
    STORAGE_USD_PER_GB_MONTH,
    SYSTEM_NODES,
    monthly,
)
from gpufleet.policy.config import (
    COMMITMENT_BURN,
    DEFAULT_HEADROOM,
    GPU_BUDGET,
    GPU_BUDGET_HEADROOM,
    effective_config,
)
from gpufleet.policy.gpu import gpu_pools
from gpufleet.policy.locations import catalog_region
from gpufleet.policy.props import catalog, get, items, mapping, number, text

EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
# The system pools' VM sizes and $/hour, as the plan prices them (at their minimum size).
SYSTEM_PRICES: dict[tuple[str, str], float] = {
    (cloud, kind): hourly for cloud, (kind, _, hourly) in SYSTEM_NODES.items()
}
AKS_CLUSTER = "azure-native:containerservice:ManagedCluster"
AWS_NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
STORAGE_TYPES: dict[str, Cloud] = {
    "aws:s3/bucket:Bucket": "aws",
    "azure-native:storage:StorageAccount": "azure",
}


@dataclass(frozen=True, slots=True)
class CostItem:
    label: str
    cloud: str
    monthly_usd: float
    urn: str


@dataclass
class Estimate:
    items: list[CostItem] = field(default_factory=list[CostItem])
    unpriced: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])

    @property
    def monthly_usd(self) -> float:
        return round(sum(i.monthly_usd for i in self.items), 2)

    def by_cloud(self, cloud: str) -> float:
        return round(sum(i.monthly_usd for i in self.items if i.cloud == cloud), 2)

    def top(self, count: int = 3) -> str:
        ranked = sorted(self.items, key=lambda i: (-i.monthly_usd, i.label))[:count]
        return ", ".join(f"{i.label} {usd(i.monthly_usd)}" for i in ranked) or "none"


def usd(amount: float) -> str:
    return f"${amount:,.0f}"


STORAGE_TAGS = ("gpufleet:storage", "gpufleet-storage")


def _storage_entry(resource: PolicyResource, sizes: Mapping[str, Any]) -> str | None:
    """The storage entry a bucket/account belongs to: its `gpufleet:storage` /
    `gpufleet-storage` tag, else the entry name as a token of the logical name."""
    tags = mapping(get(resource.props, "tags"))
    for key in STORAGE_TAGS:
        tagged = text(tags.get(key))
        if tagged in sizes:
            return tagged
    tokens = set(re.split(r"[^a-z0-9]+", resource.name.lower()))
    matches = [name for name in sizes if name in tokens or resource.name.startswith(name)]
    return max(matches, key=len) if matches else None


def estimate(resources: Sequence[PolicyResource], config: Mapping[str, Any]) -> Estimate:
    """The monthly cost of the stack's resources, item by item."""
    book = catalog(mapping(config.get("prices")))
    sizes = mapping(config.get("storage_tib"))
    result = Estimate()
    for pool in gpu_pools(resources, book):
        capacity = "spot" if pool.spot else "on-demand"
        offer = book.offers.get((pool.cloud, pool.sku.instance_type, pool.region or ""))
        hourly = offer.hourly(capacity) if offer is not None else None
        if hourly is None:
            key = price_key(pool.cloud, pool.region or "?", pool.sku.instance_type, spot=pool.spot)
            result.unpriced.append((pool.urn, (
                f"{pool.resource_type} '{pool.name}': no {capacity} price for "
                f"{pool.sku.instance_type} in {pool.cloud}/{pool.region or '?'} in the catalog "
                f"or price book, so the budget cannot be checked; add '{key}' to prices"
            )))
            continue
        result.items.append(CostItem(
            f"{pool.label()} {capacity} in {pool.cloud}/{pool.region}", pool.cloud,
            monthly(pool.nodes * hourly), pool.urn,
        ))
    for resource in resources:
        item = _fixed_item(resource, sizes)
        if item is not None:
            result.items.append(item)
        result.items.extend(_system_items(resource))
    return result


def _system_items(resource: PolicyResource) -> list[CostItem]:
    """Non-GPU system nodes (EKS system node group, AKS system agent pool) at their minimum
    size, the size the plan prices them at; other general-purpose sizes are not priced."""
    where = catalog_region(resource.resource_type, resource.props, resource.provider) or "?"
    if resource.resource_type == EKS_NODE_GROUP:
        kinds = [text(k) for k in items(get(resource.props, "instanceTypes"))]
        nodes = number(get(resource.props, "scalingConfig", "minSize"))
        pools = [("aws", kinds[0] if len(kinds) == 1 else None, nodes)]
    elif resource.resource_type == AKS_CLUSTER:
        pools = [
            ("azure", text(get(p, "vmSize")), number(get(p, "minCount")) or number(get(p, "count")))
            for p in items(get(resource.props, "agentPoolProfiles"))
        ]
    else:
        return []
    found: list[CostItem] = []
    for cloud, kind, nodes in pools:
        hourly = SYSTEM_PRICES.get((cloud, kind or ""))
        if hourly is not None and nodes:
            found.append(CostItem(
                f"system nodes {resource.name} ({nodes:g} × {kind}) in {cloud}/{where}", cloud,
                monthly(nodes * hourly), resource.urn,
            ))
    return found


def _fixed_item(resource: PolicyResource, sizes: Mapping[str, Any]) -> CostItem | None:
    where = catalog_region(resource.resource_type, resource.props, resource.provider) or "?"
    kind = resource.resource_type
    if kind == EKS_CLUSTER:
        return CostItem(f"EKS cluster {resource.name} in aws/{where}", "aws",
                        monthly(EKS_CONTROL_PLANE_USD_PER_HOUR), resource.urn)
    if kind == AKS_CLUSTER:
        free = text(get(resource.props, "sku", "tier")) == "Free"
        return CostItem(f"AKS cluster {resource.name} in azure/{where}", "azure",
                        0.0 if free else monthly(AKS_STANDARD_USD_PER_HOUR), resource.urn)
    if kind == AWS_NAT_GATEWAY:
        return CostItem(f"NAT gateway {resource.name} in aws/{where}", "aws",
                        monthly(AWS_NAT_USD_PER_HOUR), resource.urn)
    if kind in STORAGE_TYPES:
        cloud = STORAGE_TYPES[kind]
        entry = _storage_entry(resource, sizes)
        tib = number(sizes[entry]) if entry else None
        if tib is None:
            return None
        rate, product = STORAGE_USD_PER_GB_MONTH[cloud]
        return CostItem(f"storage {resource.name} ({tib:g} TiB {product}) in {cloud}/{where}",
                        cloud, round(tib * GB_PER_TIB * rate, 2), resource.urn)
    return None


def _budget(
    args: StackValidationArgs, report_violation: ReportViolation, policy: str, headroom: bool
) -> None:
    config = effective_config(args, policy)
    if config is None:
        return
    cap = number(config.get("monthly_usd"))
    if cap is None:
        return
    found = estimate(args.resources, config)
    if not headroom:
        for urn, message in found.unpriced:
            report_violation(message, urn)
    total = found.monthly_usd
    share = number(config.get("headroom")) or DEFAULT_HEADROOM
    figures = (
        f"GPU pools at maximum size plus clusters, NAT gateways and storage cost "
        f"{usd(total)}/month ({total / cap:.0%} of the {usd(cap)} cap)"
    )
    top = f"; top contributors: {found.top()}"
    if not headroom and total > cap:
        report_violation(
            f"{figures}, {usd(total - cap)} over the cap{top}; lower pool sizes or raise "
            "budget.monthly_usd",
            None,
        )
    elif headroom and share * cap < total <= cap:
        report_violation(
            f"{figures}, above the {share:.0%} headroom mark of {usd(share * cap)}; "
            f"{usd(cap - total)} left{top}",
            None,
        )


def validate_gpu_budget(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """gpu-budget (mandatory): the stack's monthly cost at maximum size is within the cap."""
    _budget(args, report_violation, GPU_BUDGET, headroom=False)


def validate_gpu_budget_headroom(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """gpu-budget-headroom (advisory): the monthly cost is above 80 % of the cap."""
    _budget(args, report_violation, GPU_BUDGET_HEADROOM, headroom=True)


def validate_commitment_burn(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """commitment-burn (advisory): spend per cloud below its commitment is unused commitment."""
    config = effective_config(args, COMMITMENT_BURN)
    if config is None:
        return
    commitments = mapping(config.get("commitments"))
    if not commitments:
        return
    found = estimate(args.resources, config)
    for cloud in sorted(commitments):
        committed = number(commitments[cloud])
        if committed is None:
            continue
        spend = found.by_cloud(cloud)
        if spend < committed:
            report_violation(
                f"{cloud}: the stack spends {usd(spend)}/month at maximum size, below the "
                f"{usd(committed)} commitment; {usd(committed - spend)}/month of committed spend "
                f"is unused (allowed: spend at least the commitment, or lower it)",
                None,
            )
