"""gpu-budget, gpu-budget-headroom and commitment-burn: what the stack's resources cost a month.

GPU pools at maximum size at the catalog or price-book price (spot price for spot pools), plus
each cloud's fixed items as declared (control planes, NAT gateways, link gateways and
connections, system nodes) and storage at gpufleet.cost's rates, and for each declared copy away
from its dataset's home (config `storage_homes`) its transfer on the home cloud; monthly = hourly
x 730. The items are cost lines of one ledger (`gpufleet.ledger`), the same kind of ledger the
plan's cost table reads, so a plan and the policies over its resources agree to the cent; each
line's source is the declared resource it prices. One estimate feeds all three policies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs
from pydantic import ValidationError

from gpufleet import clouds
from gpufleet.catalog import Catalog, price_key
from gpufleet.catalog.transfer import transfer_rate
from gpufleet.cost import (
    GB_PER_TIB,
    block_lines,
    discounted,
    fixed_monthly,
    monthly,
    transfer_gb_per_month,
    transfer_usd,
)
from gpufleet.ledger import Ledger
from gpufleet.plan import CostLine
from gpufleet.policy.config import (
    COMMITMENT_BURN,
    DEFAULT_HEADROOM,
    GPU_BUDGET,
    GPU_BUDGET_HEADROOM,
    effective_config,
)
from gpufleet.policy.gpu import declared_pools, gpu_pools
from gpufleet.policy.props import catalog, get, items, mapping, number, text
from gpufleet.policy.view import View, region_of
from gpufleet.speccapacity import CapacityBlock


@dataclass
class Estimate:
    """The declared resources' cost lines, and the pools that have no price to cost them at."""

    lines: list[CostLine] = field(default_factory=list[CostLine])
    unpriced: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])

    @property
    def ledger(self) -> Ledger:
        return Ledger(tuple(self.lines))

    def top(self, count: int = 3) -> str:
        return ", ".join(f"{line.item} {usd(line.monthly_usd)}" for line in self.ledger.largest(count)) or "none"


def usd(amount: float) -> str:
    return f"${amount:,.0f}"


STORAGE_TAGS = ("gpufleet:storage", "gpufleet-storage")


def storage_entry(resource: PolicyResource, sizes: Mapping[str, Any]) -> str | None:
    """The storage entry a bucket/account belongs to: its `gpufleet:storage` /
    `gpufleet-storage` tag, else the entry name as whole words of the logical name
    (`training-data` in `prod-training-data-eu-west-1`) or its start."""
    tags = mapping(get(resource.props, "tags"))
    for key in STORAGE_TAGS:
        tagged = text(tags.get(key))
        if tagged in sizes:
            return tagged
    words = _words(resource.name)
    matches = [name for name in sizes if _words(name) in words or resource.name.startswith(name)]
    return max(matches, key=len) if matches else None


def _words(name: str) -> str:
    """A name's words (lower-case letters and digits) between dashes, ends included."""
    return "-" + "-".join(w for w in re.split(r"[^a-z0-9]+", name.lower()) if w) + "-"


def estimate(resources: Sequence[PolicyResource], config: Mapping[str, Any]) -> Estimate:
    """The monthly cost of the stack's resources, item by item; a contract's discount (config
    `discounts`) lowers each cloud's list prices as it does in the plan (not price-book ones)."""
    book = catalog(mapping(config.get("prices")), mapping(config.get("skus")), mapping(config.get("discounts")))
    sizes = mapping(config.get("storage_tib"))
    result = Estimate()
    for pool in gpu_pools(resources, book):
        if pool.capacity_block:  # bought: its upfront is the block's line below
            result.lines.append(CostLine(f"{pool.label()} on a capacity block in {pool.cloud}/{pool.region}",
                                         pool.cloud, pool.region or "?", 0.0, pool.urn, "compute"))
            continue
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
        result.lines.append(CostLine(
            f"{pool.label()} {capacity} in {pool.cloud}/{pool.region}", pool.cloud, pool.region or "?",
            monthly(pool.nodes * hourly), pool.urn, "compute",
        ))
    homes = mapping(config.get("storage_homes"))
    for resource in resources:
        items = _fixed_items(resource, View(resource, resources), sizes, book)
        result.lines.extend(items)
        if items:
            result.lines.extend(_transfer_items(resource, book, sizes, homes))
    result.lines.extend(_system_items(resources, book))
    result.lines.extend(block_lines(_blocks(config.get("capacity_blocks"))))
    return result


def _blocks(value: object) -> list[CapacityBlock]:
    """The configured capacity blocks; one the spec's rules would refuse is left out."""
    found: list[CapacityBlock] = []
    for item in cast(list[object], value) if isinstance(value, list) else []:
        try:
            found.append(CapacityBlock.model_validate(item))
        except ValidationError:
            continue
    return found


def _system_items(resources: Sequence[PolicyResource], book: Catalog) -> list[CostLine]:
    """Non-GPU system nodes (each cloud's `system_pool`) at their minimum size, the size the plan
    prices them at; other general-purpose sizes are not priced."""
    found: list[CostLine] = []
    for resource, cloud, pool in declared_pools(resources):
        system = clouds.get(cloud).system_pool
        if pool.instance_types == (system.instance_type,) and pool.min_nodes:
            found.append(CostLine(
                f"system nodes {pool.name} ({pool.min_nodes:g} × {system.instance_type}) in "
                f"{cloud}/{pool.region or '?'}", cloud, pool.region or "?",
                discounted(monthly(pool.min_nodes * system.usd_per_hour), book.discount(cloud)),
                resource.urn, "fixed",
            ))
    return found


def _fixed_items(
    resource: PolicyResource, view: View, sizes: Mapping[str, Any], book: Catalog
) -> list[CostLine]:
    """A cloud's fixed items (control plane, NAT gateway, link gateway and its extra tunnels)
    or a dataset copy, as declared (`CloudModel.declared_fixed_costs`), at the cloud's list
    price less its contract's discount."""
    owner = clouds.owner_of(resource.resource_type)
    if owner is None:
        return []
    region = region_of(resource)
    where = f"{owner.name}/{region or '?'}"
    discount = book.discount(owner.name)
    fixed = owner.declared_fixed_costs(view)
    if fixed:
        return [
            CostLine(f"{item.item} {resource.name} in {where}", owner.name, region or "?",
                     discounted(fixed_monthly(item), discount), resource.urn, "fixed")
            for item in fixed
        ]
    if resource.resource_type in owner.storage_types:
        entry = storage_entry(resource, sizes)
        tib = number(sizes[entry]) if entry else None
        if tib is None:
            return []
        rate = owner.declared_storage_rate(view)
        usd = discounted(round(tib * GB_PER_TIB * rate.usd_per_gb_month, 2), discount)
        return [CostLine(f"storage {resource.name} ({tib:g} TiB {rate.product}) in {where}", owner.name,
                         region or "?", usd, resource.urn, "storage")]
    return []


def _transfer_items(
    resource: PolicyResource, book: Catalog, sizes: Mapping[str, Any], homes: Mapping[str, Any]
) -> list[CostLine]:
    """A declared copy away from its dataset's home pays (fill ÷ amortisation + churn) × the
    path's transfer rate on the home cloud, as the planner prices it (gpufleet.cost)."""
    owner = clouds.owner_of(resource.resource_type)
    entry = storage_entry(resource, sizes)
    region = region_of(resource)
    if owner is None or region is None or entry is None:
        return []
    home: Mapping[str, Any] = mapping(homes.get(entry))
    tib, churn, months = number(sizes.get(entry)), number(home.get("churn_tib")), number(home.get("amortize_months"))
    place = text(home.get("home"))
    if place is None or tib is None or churn is None or months is None:
        return []
    cloud, _, home_region = place.partition("/")
    source, destination = book.region(cloud, home_region), book.region(owner.name, region)
    if source is None or destination is None or (cloud, home_region) == (owner.name, region):
        return []
    rate = transfer_rate(book, source, destination)
    gb = transfer_gb_per_month(tib, int(months), churn)
    return [CostLine(
        f"transfer {entry}: {place} → {owner.name}/{region} ({rate.kind})", cloud, home_region,
        transfer_usd(book, rate, gb), resource.urn, "transfer",
    )]


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
    use = found.ledger.budget(cap)
    assert use is not None
    share = number(config.get("headroom")) or DEFAULT_HEADROOM
    figures = (
        f"GPU pools at maximum size plus clusters, NAT gateways, links and storage cost "
        f"{usd(use.spend_usd)}/month ({use.share:.0%} of the {usd(cap)} cap)"
    )
    top = f"; top contributors: {found.top()}"
    if not headroom and use.over:
        report_violation(
            f"{figures}, {usd(-use.headroom_usd)} over the cap{top}; lower pool sizes or raise "
            "budget.monthly_usd",
            None,
        )
    elif headroom and share * cap < use.spend_usd and not use.over:
        report_violation(
            f"{figures}, above the {share:.0%} headroom mark of {usd(share * cap)}; "
            f"{usd(use.headroom_usd)} left{top}",
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
    """commitment-burn (advisory): spend per cloud below its flat commitment is unused
    commitment; a contract checkpoint the plan leaves short by more than its threshold is a
    shortfall the contract charges (`planned_shortfalls`, from the plan's burn report)."""
    config = effective_config(args, COMMITMENT_BURN)
    if config is None:
        return
    for entry in items(config.get("planned_shortfalls")):
        shortfall = mapping(entry)
        message = _shortfall_message(shortfall)
        if message is not None:
            report_violation(message, None)
    commitments = mapping(config.get("commitments"))
    if not commitments:
        return
    committed = {str(cloud): value for cloud in commitments if (value := number(commitments[cloud])) is not None}
    for spend in estimate(args.resources, config).ledger.burn(committed, sorted(committed)):
        if spend.left_usd > 0:
            report_violation(
                f"{spend.cloud}: the stack spends {usd(spend.monthly_usd)}/month at maximum size, below "
                f"the {usd(spend.commitment_usd)} commitment; {usd(spend.left_usd)}/month of committed "
                f"spend is unused (allowed: spend at least the commitment, or lower it)",
                None,
            )


def _shortfall_message(shortfall: Mapping[str, Any]) -> str | None:
    """The warning for a planned shortfall above its contract's threshold, or None."""
    short, threshold = number(shortfall.get("shortfall_usd")), number(shortfall.get("threshold_usd")) or 0.0
    if short is None or short <= threshold:
        return None
    cloud, due = text(shortfall.get("cloud")) or "?", text(shortfall.get("due")) or "?"
    treatment = text(shortfall.get("treatment"))
    what = (
        "invoiced in cash" if treatment == "cash"
        else "charged as prepayment credit, whose consumption burns nothing" if treatment == "credit" else "charged"
    )
    when = (
        f"behind pace by {usd(short)} at {text(shortfall.get('through'))}, the horizon's end (due {due})"
        if shortfall.get("paced") is True else f"{usd(short)} short when due {due}"
    )
    return (
        f"{cloud} commitment, {text(shortfall.get('checkpoint')) or 'checkpoint'}: the plan burns {when}, "
        f"{what}; above the {usd(threshold)} threshold (budget.commitments.{cloud}.shortfall_threshold_usd). "
        f"Move load onto {cloud} in that window, or accept it by raising the threshold"
    )
