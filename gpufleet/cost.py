"""What the plan costs per month (hourly × 730), line by line, each saying where its price is from.

GPU nodes carry the catalog or price-book price chosen by placement. Everything else is a fixed
list price of its cloud model (`gpufleet/clouds/`), each with the public page it reflects; they
are US-East list prices (other regions differ by a few percent) and are meant for planning, not
for invoicing. The lines go into the plan's ledger (`gpufleet.ledger`), which makes every total.

A dataset with a `home` pays to fill and sync every copy away from home: (fill ÷ amortisation
+ churn) × the transfer rate of the path (`gpufleet.catalog.transfer`), on the HOME cloud's bill
(the source pays egress; ingress is free). `copy_costs` is the one place that prices a copy, for
placement, this estimate and `gpufleet.placement.spend` alike.

Every region that holds a placement also costs the same fixed amount per cloud (control plane,
NAT gateways on AWS, system nodes): `region_fixed_usd`, which placement puts in its model. With
`interconnect: vpn` a region's share of the link depends on how many other regions are open,
which a linear model cannot price; placement's model bounds it (`region_fixed_usd` with a spec),
and the plan's ledger prices the link the plan has (`plan_lines`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import replace

from gpufleet import clouds
from gpufleet.catalog import Catalog, Cloud, discount_note
from gpufleet.catalog.transfer import TransferRate, transfer_rate
from gpufleet.clouds.base import FixedCost
from gpufleet.clusters import cluster_counts, cluster_suffix
from gpufleet.ledger import Ledger
from gpufleet.plan import (
    CostKind,
    CostLine,
    CostSummary,
    LinkPlan,
    NetworkPlan,
    Placement,
    StoragePlan,
)
from gpufleet.spec import FleetSpec
from gpufleet.speccapacity import CapacityBlock
from gpufleet.specmodel import Storage

HOURS_PER_MONTH = 730
GB_PER_TIB = 1024  # both clouds bill storage and transfer per GB of 2**30 bytes



def estimate(
    spec: FleetSpec,
    placements: Sequence[Placement],
    networks: Sequence[NetworkPlan],
    storage: Sequence[StoragePlan],
    link: LinkPlan | None = None,
) -> CostSummary:
    """Every monthly cost line, spend per cloud against its commitment, and the budget: the
    plan's ledger (`gpufleet.ledger`), its clouds the configured ones and any with a line."""
    regions = [(n.cloud, n.region) for n in networks]
    sites = LinkPlan.places_of(link)
    hubs = {(s.cloud, s.region): s.hub for s in link.sites if s.hub} if link else {}
    ledger = Ledger(plan_lines(spec, placements, regions, storage, sites, hubs=hubs))
    present = set(spec.clouds.configured()) | set(ledger.by_cloud())
    shown = [c for c in clouds.names() if c in present]
    return CostSummary(
        monthly_usd=ledger.total_usd,
        by_cloud=ledger.burn(spec.budget.monthly_commitments(), shown),
        budget_usd=spec.budget.monthly_usd,
        lines=ledger.lines,
    )


def plan_lines(
    spec: FleetSpec,
    placements: Sequence[Placement],
    regions: Sequence[tuple[Cloud, str]],
    storage: Sequence[StoragePlan],
    sites: Sequence[tuple[Cloud, str]],
    *,
    hubs: Mapping[tuple[Cloud, str], str] | None = None,
) -> tuple[CostLine, ...]:
    """The lines of a plan: GPU nodes, each region's infrastructure, the link's sites (none
    without a link; `hubs`: each hub's size, gpufleet.pipes.hub_choice, else its smallest),
    every storage copy and every transfer from a dataset's home. A contract's discount lowers
    the clouds' list prices (GPU nodes carry theirs from the catalog)."""
    discounts = spec.budget.discounts()
    floors = {pool.name: pool.autoscale.min_nodes for pool in spec.pools if pool.autoscale}
    counts = cluster_counts(spec, placements)
    listed = [
        *(line for cloud, region in regions for line in region_lines(cloud, region)),
        *(line for (cloud, region), count in counts.items() for index in range(1, count)
          for line in cluster_lines(cloud, region, index)),
        *_link_lines(sites, hubs or {}),
        *(_storage_line(s) for s in storage),
    ]
    return (
        *(_node_line(p, floors.get(p.pool)) for p in placements),
        *block_lines(spec.capacity.blocks),
        *(_less_discount(line, discounts.get(line.cloud, 0.0)) for line in listed),
        *_transfer_lines(spec, storage),
    )


DAYS_PER_MONTH = 365.25 / 12


def block_lines(blocks: Sequence[CapacityBlock]) -> list[CostLine]:
    """Each capacity block once: its upfront (paid at purchase, sunk for placement, which gives
    its nodes no cost) as the month's share of the block's days, kind `fixed`, its end said.
    The plan and the budget policy (from its config's `capacity_blocks`) both write these."""
    lines: list[CostLine] = []
    for i, block in enumerate(blocks):
        days = (block.end - block.start).days + 1
        share = round(block.upfront_usd * min(1.0, DAYS_PER_MONTH / days), 2)
        label = block.id or f"capacity.blocks[{i}]"
        lines.append(CostLine(
            item=f"capacity block {label}: {block.units} × {block.sku}, {block.start} to {block.end} "
                 f"(ends {block.end}), ${block.upfront_usd:,.0f} upfront over {days} days",
            cloud=block.cloud,
            region=block.region,
            monthly_usd=share,
            source=f"capacity.blocks[{i}].upfront_usd, a month's share of {days} days",
            kind="fixed",
        ))
    return lines


def discounted(usd: float, discount: float) -> float:
    """A monthly list price less a contract's discount, to the cent (as it is without one)."""
    return round(usd * (1 - discount), 2) if discount else usd


def _less_discount(line: CostLine, discount: float) -> CostLine:
    if not discount:
        return line
    return replace(line, monthly_usd=discounted(line.monthly_usd, discount),
                   source=f"{line.source}; {discount_note(line.cloud, discount)}")


def monthly(usd_per_hour: float) -> float:
    """$/month of a $/hour rate, to the cent (docs/design.md: monthly = hourly × 730)."""
    return round(usd_per_hour * HOURS_PER_MONTH, 2)


def fixed_monthly(item: FixedCost) -> float:
    """$/month of a fixed item: its count × one unit's month to the cent, as the budget policy
    prices each declared unit (one resource each), so both sum the same cents."""
    return round(item.count * monthly(item.usd_per_hour), 2)


@functools.lru_cache(maxsize=4096)
def _node_line(p: Placement, min_nodes: int | None) -> CostLine:
    """At full size (what the budget must hold); an autoscaled pool's line (`min_nodes`, its
    autoscale.min_nodes) also says its floor, where the autoscaler leaves it when no pod asks for
    more (components build each placement's groups between min(autoscale.min_nodes, nodes) and
    nodes). Remembered: explain prices thousands of plans that share most placements."""
    item = f"pool {p.pool}: {p.nodes} × {p.instance_type} ({p.capacity})"
    if min_nodes is not None:
        floor = min(min_nodes, p.nodes)
        item += f", autoscales {floor}-{p.nodes}: ${monthly(floor * p.price_usd_per_hour):,.0f} at {floor}"
    return CostLine(
        item=item,
        cloud=p.cloud,
        region=p.region,
        monthly_usd=p.monthly_usd,
        source=f"{p.price_source} (${p.price_usd_per_hour:g}/h × {HOURS_PER_MONTH} h)"
        + (f"; SKU {p.sku_source}" if p.sku_source else ""),
        kind="compute",
    )


def region_lines(cloud: Cloud, region: str) -> list[CostLine]:
    """The fixed cost of one region's infrastructure (the cloud's fixed items, e.g. control
    plane and NAT gateways, then its system nodes). The same for every region of a cloud."""
    model = clouds.get(cloud)
    lines = [
        CostLine(item.item, cloud, region, fixed_monthly(item), item.source, "fixed")
        for item in model.fixed_costs()
    ]
    system = model.system_pool
    lines.append(CostLine(
        f"system nodes: {system.min_nodes} × {system.instance_type}", cloud, region,
        monthly(system.min_nodes * system.usd_per_hour),
        f"{system.source}; {system.min_nodes} nodes (the pool's minimum)", "fixed",
    ))
    return lines


def cluster_lines(cloud: Cloud, region: str, index: int) -> list[CostLine]:
    """What cluster `index` (from 0) of a region adds beyond the region's first: its cloud's
    per-cluster items and its system nodes (docs/design.md, "Several clusters per region")."""
    suffix = cluster_suffix(index)
    return [
        replace(line, item=f"{line.item} (cluster {suffix[1:]})")
        for line, per_cluster in zip(region_lines(cloud, region), _per_cluster(cloud), strict=True)
        if per_cluster
    ]


def _per_cluster(cloud: Cloud) -> list[bool]:
    """Per `region_lines` line, whether every cluster pays it again (the system nodes do)."""
    return [item.per_cluster for item in clouds.get(cloud).fixed_costs()] + [True]


def cluster_fixed_usd(cloud: Cloud, spec: FleetSpec) -> float:
    """$/month of one more cluster in a region (`cluster_lines`), less the cloud's discount."""
    discount = spec.budget.discounts().get(cloud, 0.0)
    return round(sum(discounted(line.monthly_usd, discount) for line in cluster_lines(cloud, "", 1)), 2)


def _link_lines(sites: Sequence[tuple[Cloud, str]], hubs: Mapping[tuple[Cloud, str], str]) -> list[CostLine]:
    """Each site's share of the link (hub at its size, connections, peerings), priced by its
    cloud for the number of peers it actually has; items with no count are left out."""
    lines: list[CostLine] = []
    for cloud, region in sites:
        same = sum(1 for other, _ in sites if other == cloud) - 1
        peers = len(sites) - 1 - same
        lines += [
            CostLine(item.item, cloud, region, fixed_monthly(item), item.source, "fixed")
            for item in clouds.get(cloud).link_costs(peers, same, region, hubs.get((cloud, region)))
            if item.count
        ]
    return lines


def region_fixed_usd(cloud: Cloud, spec: FleetSpec | None = None) -> float:
    """$/month of one region's infrastructure on this cloud: the sum of its `region_lines`;
    with `spec`'s `interconnect: vpn`, also its link share as if every candidate region of the
    spec were open (an upper bound: placement cannot price pairs of regions linearly)."""
    discount = spec.budget.discounts().get(cloud, 0.0) if spec is not None else 0.0
    fixed = sum(discounted(line.monthly_usd, discount) for line in region_lines(cloud, ""))
    candidates = [c for c, _ in spec.clouds.regions()] if spec is not None else []
    if spec is not None and spec.network.interconnect != "none" and len(candidates) > 1:
        same = candidates.count(cloud) - 1
        fixed += sum(
            discounted(fixed_monthly(item), discount)
            for item in clouds.get(cloud).link_costs(len(candidates) - 1 - same, same)
        )
    return round(fixed, 2)


def storage_monthly_usd(cloud: Cloud, region: str, size_tib: float) -> float:
    """$/month of one copy of a dataset of this size, at the rate of the copy the program
    declares in that region (`CloudModel.storage_rate_in`: Azure ZRS or LRS)."""
    return round(size_tib * GB_PER_TIB * clouds.get(cloud).storage_rate_in(region).usd_per_gb_month, 2)


def _storage_line(s: StoragePlan) -> CostLine:
    rate = clouds.get(s.cloud).storage_rate_in(s.region)
    return CostLine(
        item=f"storage {s.name}: {s.size_tib:g} TiB {rate.product}",
        cloud=s.cloud,
        region=s.region,
        monthly_usd=storage_monthly_usd(s.cloud, s.region, s.size_tib),
        source=rate.source,
        kind="storage",
    )


def transfer_gb_per_month(size_tib: float, amortize_months: int, churn_tib: float) -> float:
    """GB a copy away from home receives per month: its fill spread over `amortize_months`,
    plus the month's churn (the budget policy prices declared copies with it too)."""
    return (size_tib / amortize_months + churn_tib) * GB_PER_TIB


def copy_transfer(catalog: Catalog, entry: Storage, cloud: Cloud, region: str) -> tuple[TransferRate, float] | None:
    """(rate, $/month) of filling and syncing the entry's copy in (cloud, region) from its
    home, billed to the home cloud, less the home cloud's discount on a list rate; None without
    a home, or for the home copy itself."""
    home = entry.home_place()
    if home is None or home == (cloud, region):
        return None
    source, destination = catalog.region(*home), catalog.region(cloud, region)
    if source is None or destination is None:  # the spec's rules accept only known regions
        raise LookupError(f"storage {entry.name}: unknown region in {entry.home} → {cloud}/{region}")
    rate = transfer_rate(catalog, source, destination)
    gb = transfer_gb_per_month(entry.size_tib, entry.amortize_months, entry.churn_tib)
    return rate, transfer_usd(catalog, rate, gb)


def transfer_usd(catalog: Catalog, rate: TransferRate, gb: float) -> float:
    """$/month of moving `gb` a month at `rate`, less the paying cloud's contract discount on a
    list rate (a price-book rate is negotiated already)."""
    return discounted(round(gb * rate.usd_per_gb, 2), _list_discount(catalog, rate))


def _list_discount(catalog: Catalog, rate: TransferRate) -> float:
    """The discount on a transfer rate: its cloud's, unless the price book set the rate."""
    return 0.0 if rate.negotiated else catalog.discount(rate.cloud)


def copy_costs(catalog: Catalog, entry: Storage, cloud: Cloud, region: str) -> list[tuple[Cloud, float]]:
    """What one copy adds per month, as (paying cloud, $): its storage on its own cloud and,
    away from home, its transfer on the home cloud."""
    return [(where, usd) for where, _, usd in copy_cost_items(catalog, entry, cloud, region)]


def copy_cost_items(
    catalog: Catalog, entry: Storage, cloud: Cloud, region: str
) -> list[tuple[Cloud, CostKind, float]]:
    """`copy_costs` with each item's kind: storage first, then any transfer."""
    storage = discounted(storage_monthly_usd(cloud, region, entry.size_tib), catalog.discount(cloud))
    costs: list[tuple[Cloud, CostKind, float]] = [(cloud, "storage", storage)]
    moved = copy_transfer(catalog, entry, cloud, region)
    home = entry.home_place()
    if moved is not None and home is not None:
        costs.append((home[0], "transfer", moved[1]))
    return costs


def _transfer_lines(spec: FleetSpec, storage: Sequence[StoragePlan]) -> list[CostLine]:
    """A line per copy away from its dataset's home: the path, the volume and the rate's source."""
    catalog = spec.catalog()
    entries = {entry.name: entry for entry in spec.storage}
    lines: list[CostLine] = []
    for s in storage:
        entry = entries[s.name]
        moved = copy_transfer(catalog, entry, s.cloud, s.region)
        home = entry.home_place()
        if moved is None or home is None:
            continue
        rate, usd = moved
        lines.append(CostLine(
            item=f"transfer {s.name}: {entry.home} → {s.cloud}/{s.region} "
                 f"({entry.size_tib:g} TiB fill ÷ {entry.amortize_months} months "
                 f"+ {entry.churn_tib:g} TiB/month churn)",
            cloud=home[0],
            region=home[1],
            monthly_usd=usd,
            source=rate.describe() + (f"; {discount_note(home[0], d)}" if (d := _list_discount(catalog, rate)) else ""),
            kind="transfer",
        ))
    return lines
