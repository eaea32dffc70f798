"""The offers each pool may use (`Candidate`), and the pruning that keeps the MILP small:
offers other offers beat outright, per-offer node bounds, and interchangeable pools."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

from gpufleet import addresses, clouds
from gpufleet.catalog import Catalog, Cloud, Offer, Sku
from gpufleet.clouds.catalog import load_catalog
from gpufleet.cost import HOURS_PER_MONTH, copy_costs, monthly, region_fixed_usd
from gpufleet.nodegroups import cluster_limits
from gpufleet.plan import Placement
from gpufleet.poolneeds import able_clouds, fits
from gpufleet.quota import QuotaKey, buckets_for, declared_quotas, quota_key, quota_units
from gpufleet.spec import FleetSpec, Pool
from gpufleet.specblocks import block_supply
from gpufleet.speccapacity import Shortfalls
from gpufleet.specskus import offer_refusal, weighted_gpus
from gpufleet.spread import region_share
from gpufleet.units import unit_of


@dataclass(frozen=True)
class Candidate:
    """One offer a pool may use: the SKU in a region at the price for the pool's capacity.

    `gpus` is what one node counts toward the pool's GPUs: the SKU's GPUs times the weight the
    pool gives its accelerator (`accelerator: [H200, {name: H100, weight: 0.5}]`), an int
    unless weighted. Every GPU row, bound and dominance test reads it, not `sku.gpus`.
    The derived facts are computed once: dominance pruning and the model read them thousands
    of times on large fleets.
    """

    pool: Pool
    offer: Offer
    hourly: float
    cap: int | None = None
    """The most nodes the offer delivers over all pools (`capacity.available`), or None."""
    blocks: str = ""
    """The capacity blocks that supply the offer (their labels), or empty."""
    region_gpus: int | None = None
    """The most of the pool's GPUs one region may hold (`gpufleet.spread`), or None."""
    sku: Sku = field(init=False, compare=False, repr=False)
    cloud: Cloud = field(init=False, compare=False, repr=False)
    region: str = field(init=False, compare=False, repr=False)
    place: str = field(init=False, compare=False, repr=False)
    key: str = field(init=False, compare=False, repr=False)
    monthly: float = field(init=False, compare=False, repr=False)
    buckets: tuple[str, ...] = field(init=False, compare=False, repr=False)
    gpus: int | Fraction = field(init=False, compare=False, repr=False)
    unit: int = field(init=False, compare=False, repr=False)
    """Nodes per unit (gpufleet.units): the candidate's nodes are a whole number of units."""

    def __post_init__(self) -> None:
        derived = {
            "sku": self.offer.sku,
            "cloud": self.offer.cloud,
            "region": self.offer.region,
            "place": f"{self.offer.cloud}/{self.offer.region}",
            "key": f"{self.pool.name}/{self.offer.key}",
            "monthly": self.hourly * HOURS_PER_MONTH,
            "buckets": buckets_for(self.offer.sku, self.pool.capacity),
            "gpus": weighted_gpus(self.pool, self.offer.sku),
            "unit": unit_of(self.pool, self.offer.sku),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @property
    def max_nodes(self) -> int:
        """More nodes than cover the pool alone (or its pin here), in whole units, never help:
        a safe bound."""
        nodes = max(math.ceil(self.pool.gpus / self.gpus), self.pool.pin.get(self.place, 0))
        most = math.ceil(nodes / self.unit) * self.unit
        if self.region_gpus is not None:  # whole units within the region's share
            most = min(most, math.floor(self.region_gpus / self.gpus) // self.unit * self.unit)
        return most

    @property
    def spread(self) -> bool:
        """Whether the pool's GPUs in one region are capped (`gpufleet.spread`): a move of nodes
        from one region to another may then break the cap there."""
        return self.region_gpus is not None


def candidates(spec: FleetSpec, catalog: Catalog) -> tuple[list[Candidate], list[str]]:
    """Offers each pool may use (of every accelerator it accepts), in a fixed order, and the
    offers that were skipped, each with why: no price for the pool's capacity, or a refusal
    (`specskus.offer_refusal`: Capacity Blocks only, a cloud that cannot run the SKU). An offer
    a capacity block covers is, for a reserved pool, the block's instances at no marginal cost
    (gpufleet/specblocks.py): capped by them, on no other terms. Offers
    `capacity.unavailable` takes out are left out (`unavailable_offers` lists them), and so
    are clouds that lack what the pool asks for (gpufleet/poolneeds.py)."""
    allowed = spec.allowed_jurisdictions()
    shortfalls = Shortfalls.of(spec.capacity)
    blocks = block_supply(spec, catalog)
    found: list[Candidate] = []
    skipped: set[str] = set()
    for pool in spec.pools:
        mine = len(found)
        able = able_clouds(pool, spec.clouds.configured())  # the clouds that offer what it asks
        for cloud, region in sorted(spec.clouds.regions()):
            info = catalog.region(cloud, region)
            if cloud not in able or info is None or (allowed is not None and not info.jurisdictions & allowed):
                continue
            offers = sorted(
                (o for name in pool.accelerators() for o in catalog.offers_for(name, cloud, region)),
                key=lambda o: o.sku.instance_type,
            )
            for offer in offers:
                sku = offer.sku
                if not fits(pool, sku) or shortfalls.rule_for(offer.key):
                    continue
                why = offer_refusal(pool, sku)  # what the cloud cannot run, said in the plan
                if why is not None:
                    skipped.add(f"{offer.key}: {why}")
                    continue
                if pool.capacity == "reserved" and offer.key in blocks:  # bought: no marginal cost
                    instances, labels = blocks[offer.key]
                    found.append(Candidate(pool, offer, 0.0, instances, ", ".join(labels)))
                    continue
                hourly = offer.hourly(pool.capacity)
                if hourly is None:
                    kind = "spot" if pool.capacity == "spot" else "on-demand"
                    skipped.add(f"{offer.key}: no {kind} price in catalog or price book")
                    continue
                found.append(Candidate(pool, offer, hourly, shortfalls.cap(offer.key)))
        most = region_share(spec, pool, found[mine:]).most_gpus
        if most is not None:
            found[mine:] = [replace(c, region_gpus=most) for c in found[mine:]]
    return found, sorted(skipped)


def unavailable_offers(spec: FleetSpec, catalog: Catalog) -> list[str]:
    """Offers of the pools' accelerators in the configured regions that `capacity.unavailable`
    takes out, each as 'cloud/region/sku: the rule', for the plan and the diagnosis."""
    shortfalls = Shortfalls.of(spec.capacity)
    accelerators = sorted({name for pool in spec.pools for name in pool.accelerators()})
    return [
        f"{offer.key}: capacity.unavailable '{rule}'"
        for cloud, region in sorted(spec.clouds.regions())
        for accelerator in accelerators
        for offer in catalog.offers_for(accelerator, cloud, region)
        if (rule := shortfalls.rule_for(offer.key))
    ]


def undominated(
    spec: FleetSpec, cands: Sequence[Candidate], keep: Iterable[str] = (), limited: Limited = None
) -> list[Candidate]:
    """Drop offers that other offers beat outright, so the MILP is smaller and solves faster.

    A dominates B for the same pool when both are in the same region and draw on the same
    buckets, B's GPUs per node are k times A's, and k A nodes cost no more and draw no more
    quota (vCPUs or GPUs, the cloud's unit) than one B node (less money when k > 1): swapping
    every B node for k A nodes keeps every constraint (pins, cluster limits and address ranges
    count nodes, so k > 1 needs a region without a pin and without a deploy limit that may bind,
    `tight_places`) and costs no more, so no optimum is lost. The region's fixed costs do not
    change: it holds nodes before and after, and the same pool's storage copies. Among equals in
    one region the earlier candidate stays, as the tie-break would choose. Offers that `unlimited_bounds` allows no
    node go as well, and so do whole regions that another region beats for every offer
    (`_in_regions_never_needed`). `keep` (previous placements) is never dropped, so stability
    can still keep them.
    """
    kept = set(keep)
    tight = tight_places(spec, cands, limited)
    rank = {c.key: i for i, c in enumerate(cands)}
    groups: dict[tuple[str, str, str, tuple[str, ...], str], list[Candidate]] = {}
    for c in cands:  # a capped offer could not take another's nodes: it is compared with none
        capped = c.offer.key if c.cap is not None else ""
        groups.setdefault((c.pool.name, c.cloud, c.region, c.buckets, capped), []).append(c)
    dominated: set[str] = set()
    for group in groups.values():
        frontier: list[Candidate] = []
        for size in sorted({c.gpus for c in group}):
            fewest = math.inf  # fewest quota units among offers of this size that cost no more
            for c in sorted(
                (c for c in group if c.gpus == size),
                key=lambda c: (c.monthly, quota_units(c.sku), rank[c.key]),
            ):
                if quota_units(c.sku) < fewest:
                    frontier.append(c)
                    fewest = quota_units(c.sku)
                else:
                    dominated.add(c.key)
        for big in frontier:
            if big.place in big.pool.pin or big.place in tight or big.unit > 1:
                continue  # k small nodes for one big one: not in whole units
            for small in frontier:
                k = big.gpus // small.gpus
                if (
                    k > 1 and big.gpus % small.gpus == 0
                    and k * small.monthly < big.monthly
                    and k * quota_units(small.sku) <= quota_units(big.sku)
                ):
                    dominated.add(big.key)
                    break
    outright = set(dominated)
    left = [c for c in cands if c.key not in dominated]
    dominated |= {key for key, most in unlimited_bounds(spec, left, limited).items() if most == 0}
    left = [c for c in left if c.key not in dominated]
    dominated |= _in_regions_never_needed(spec, left, declared_quotas(spec), kept, tight_places(spec, left, limited))
    # The exchange arguments move single nodes: a pool in units keeps every other offer.
    dominated -= {c.key for c in cands if c.unit > 1 and c.key not in outright}
    dominated -= kept
    return [c for c in cands if c.key not in dominated]


def _unlimited(c: Candidate, limits: Mapping[QuotaKey, tuple[str, int]], tight: Collection[str]) -> bool:
    """No declared quota, no capacity cap, no pin and no cluster limit or address range that may
    bind: nothing ties the offer's nodes to its region or caps them there."""
    return c.cap is None and c.place not in c.pool.pin and c.place not in tight and not any(
        quota_key(c.cloud, c.region, b) in limits for b in c.buckets
    )


Limited = Collection[str] | None
"""The places (`cloud/region`) whose deploy limits the model holds as rows; None: every place
where they may bind. `place` starts with none and adds the places a plan breaks (lazy rows)."""


def tight_places(spec: FleetSpec, cands: Sequence[Candidate], limited: Limited = None) -> frozenset[str]:
    """Places (`cloud/region`, among `limited`) whose deploy limits some plan could reach if
    every candidate there took its most nodes (`Candidate.max_nodes`): more groups or nodes
    than the cluster allows, or more addresses than a node range holds (`addresses.may_bind`).
    Elsewhere no plan meets such a limit (or the model holds none), and it needs no row."""
    return _places(spec, cands, limited, limits_reached)


def counted_places(spec: FleetSpec, cands: Sequence[Candidate], limited: Limited = None) -> frozenset[str]:
    """The `tight_places` where some plan could reach a limit that counts node groups
    (`groups_counted`), so the model must count each pool's own groups there; in the others
    only the cluster's node limit may bind, and it counts nodes, however pools share them."""
    return _places(spec, cands, limited, groups_counted)


def _places(
    spec: FleetSpec,
    cands: Sequence[Candidate],
    limited: Limited,
    reached: Callable[[FleetSpec, Cloud, str, Sequence[tuple[str, int]]], bool],
) -> frozenset[str]:
    here: dict[tuple[Cloud, str], list[Candidate]] = {}
    for c in cands:
        if limited is None or c.place in limited:
            here.setdefault((c.cloud, c.region), []).append(c)
    return frozenset(
        f"{cloud}/{region}" for (cloud, region), found in here.items()
        if reached(spec, cloud, region, [(c.sku.instance_type, c.max_nodes) for c in found])
    )


def limits_reached(spec: FleetSpec, cloud: Cloud, region: str, nodes: Sequence[tuple[str, int]]) -> bool:
    """Whether offers of (instance type, nodes) in the region break its cluster limits or
    overfill one of its node ranges: for the most nodes a plan may give (`tight_places`) or
    the nodes a plan gives (`solve.place`, which then adds the region's rows)."""
    return groups_counted(spec, cloud, region, nodes) or nodes_reached(spec, cloud, region, [n for _, n in nodes])


def groups_counted(spec: FleetSpec, cloud: Cloud, region: str, nodes: Sequence[tuple[str, int]]) -> bool:
    """Whether offers of (instance type, nodes), each its own placement, break a limit that
    counts node groups: the cluster's groups, or a node range (each group adds its surge)."""
    skus = [load_catalog().sku(cloud, kind) for kind, _ in nodes]  # racks are groups (a declared SKU has none)
    counts = [n for _, n in nodes]
    return groups_reached(spec, cloud, region, counts, skus) or addresses.may_bind(spec, cloud, region, nodes)


def groups_reached(
    spec: FleetSpec, cloud: Cloud, region: str, nodes: Sequence[int], skus: Sequence[Sku | None]
) -> bool:
    """Whether placements of these nodes (of these SKUs: racks are groups; None: a SKU without
    racks), each in its own node groups, break the cluster's group limit."""
    limits = cluster_limits(spec, cloud, region)
    return sum(limits.groups_for(n, sku) for n, sku in zip(nodes, skus, strict=True)) > limits.gpu_groups


def nodes_reached(spec: FleetSpec, cloud: Cloud, region: str, nodes: Sequence[int]) -> bool:
    """Whether placements of these nodes break the cluster's node limit (where it has one)."""
    most = cluster_limits(spec, cloud, region).gpu_nodes
    return most is not None and sum(nodes) > most


def unlimited_bounds(spec: FleetSpec, cands: Sequence[Candidate], limited: Limited = None) -> dict[str, int]:
    """Per candidate key, the most nodes a plan optimal on cost gives it, where an offer
    without limits (`_unlimited`) could take its nodes; candidates without such an offer are
    absent.

    Moving each node of B to k nodes of such an A of the same pool and cloud (k = B's GPUs per
    node / A's) keeps every row: the GPUs per cloud are the same, A draws on no declared quota
    and is not pinned (B must not be pinned either), and where A's nodes would pass A's bound
    they alone cover the pool, so the rest can go. It saves B's price less k times A's on every
    node and adds at most the moving cost (`_moving_cost`), nothing in B's own region. So with
    more than moving cost / saving nodes on B a plan costs strictly more, on every cloud's
    spend, than the plan after the move: no optimum of any cost level has them. The bound is 0
    where the saving exceeds the moving cost, and for an offer equal to an earlier one in its
    region (the tie-break would choose that one). Offers in regions whose cluster limits or
    address ranges may bind (`tight_places`) cannot take any number of nodes, so they are no
    such A, and a pool with a region share (`Candidate.spread`) is bounded by same-region
    offers only: another region may not take its nodes.
    """
    rank = {c.key: i for i, c in enumerate(cands)}
    moving = _moving_costs(spec)
    free = _cheapest_free(cands, declared_quotas(spec), tight_places(spec, cands, limited))
    bounds: dict[str, int] = {}
    for b in cands:
        if b.place in b.pool.pin or b.unit > 1:
            continue
        # None: only same-region offers bound (a region's share caps what another region takes)
        cost_of_move = None if b.spread else moving[(b.pool.name, b.cloud)]
        most = math.inf
        for size, offers in free.get((b.pool.name, b.cloud), {}).items():
            if b.gpus % size:
                continue
            k = b.gpus // size
            here = next((a for a in offers if a.region == b.region), None)
            if here is not None and here.key != b.key and (
                k * here.monthly < b.monthly
                or (k == 1 and here.monthly == b.monthly and rank[here.key] < rank[b.key])
            ):
                most = 0
                break
            far = next((a for a in offers if a.region != b.region), None)
            if cost_of_move is not None and far is not None and k * far.monthly < b.monthly:
                most = min(most, math.floor(cost_of_move / (b.monthly - k * far.monthly)))
        if most != math.inf:
            bounds[b.key] = int(most)
    return bounds


def _cheapest_free(
    cands: Sequence[Candidate], limits: Mapping[QuotaKey, tuple[str, int]], tight: Collection[str]
) -> dict[tuple[str, Cloud], dict[int | Fraction, list[Candidate]]]:
    """Per (pool, cloud) and GPUs per node, the cheapest offer without limits (`_unlimited`)
    of each region, cheapest first (the earlier candidate among equals)."""
    free: dict[tuple[str, Cloud], dict[int | Fraction, list[Candidate]]] = {}
    for c in sorted(cands, key=lambda c: c.monthly):  # stable: candidate order among equals
        if _unlimited(c, limits, tight):
            offers = free.setdefault((c.pool.name, c.cloud), {}).setdefault(c.gpus, [])
            if all(a.region != c.region for a in offers):
                offers.append(c)
    return free


def _in_regions_never_needed(
    spec: FleetSpec,
    cands: Sequence[Candidate],
    limits: Mapping[QuotaKey, tuple[str, int]],
    keep: set[str],
    tight: Collection[str],
) -> set[str]:
    """The candidates of regions that no plan optimal on cost uses: regions where another
    region of the cloud has, for every candidate, a cheaper offer without limits (k nodes
    for one node of k times the GPUs).

    Moving all of the region's nodes there saves on every node; the region's fixed cost pays
    for the other region's (the same in every region of a cloud) and its storage copies for
    the other region's, which must cost every cloud no more (`_copies_no_dearer`: storage
    redundancy and transfers from a home differ by region), its quotas free up, and the
    other offers draw on none and are not pinned. So a plan with
    nodes in the region costs strictly more than the plan after the move. A region with a pin
    or a previous placement (`keep`) stays: stability may keep nodes there, and so does a region
    of a pool with a region share (`Candidate.spread`): the other region may not take its nodes.
    """
    free = _cheapest_free(cands, limits, tight)
    copies = _copy_costs(spec)
    regions: dict[tuple[Cloud, str], list[Candidate]] = {}
    for c in cands:
        regions.setdefault((c.cloud, c.region), []).append(c)
    never: set[str] = set()
    for (cloud, region), here in regions.items():
        if any(c.place in c.pool.pin or c.key in keep or c.spread for c in here):
            continue
        elsewhere: set[str] | None = None  # regions cheaper for every candidate so far
        for b in here:
            cheaper = {
                a.region
                for size, offers in free.get((b.pool.name, cloud), {}).items()
                if b.gpus % size == 0
                for a in offers
                if b.gpus // size * a.monthly < b.monthly and a.region != region
                and _copies_no_dearer(spec, copies, b.pool, cloud, there=a.region, here=region)
            }
            elsewhere = cheaper if elsewhere is None else elsewhere & cheaper
            if not elsewhere:
                break
        if elsewhere:
            never |= {c.key for c in here}
    return never


_CopyCosts = dict[tuple[str, Cloud, str], dict[Cloud, float]]


def _copy_costs(spec: FleetSpec) -> _CopyCosts:
    """Per (storage entry, cloud, region) what its copy there costs each paying cloud:
    storage on the cloud itself, the transfer from a home on the home's cloud."""
    catalog = spec.catalog()
    costs: _CopyCosts = {}
    for entry in spec.storage:
        for cloud, region in spec.clouds.regions():
            paid: dict[Cloud, float] = {}
            for where, usd in copy_costs(catalog, entry, cloud, region):
                paid[where] = paid.get(where, 0.0) + usd
            costs[(entry.name, cloud, region)] = paid
    return costs


def _entries_of(spec: FleetSpec, pool: Pool) -> list[str]:
    return [entry.name for entry in spec.storage if pool.name in entry.colocate_with]


def _copies_no_dearer(
    spec: FleetSpec, costs: _CopyCosts, pool: Pool, cloud: Cloud, *, there: str, here: str
) -> bool:
    """Whether each of the pool's dataset copies costs every cloud no more `there` than `here`
    (storage rates differ by redundancy, transfers by the distance from the data's home)."""
    for name in _entries_of(spec, pool):
        mine = costs[(name, cloud, here)]
        if any(usd > mine.get(where, 0.0) for where, usd in costs[(name, cloud, there)].items()):
            return False
    return True


def _moving_costs(spec: FleetSpec) -> dict[tuple[str, Cloud], float | None]:
    """`_moving_cost` per (pool, cloud), computed once for all candidates."""
    copies = _copy_costs(spec)
    return {
        (pool.name, cloud): _moving_cost(spec, copies, pool, cloud)
        for pool in spec.pools for cloud in clouds.names()
    }


def _moving_cost(spec: FleetSpec, copies: _CopyCosts, pool: Pool, cloud: Cloud) -> float | None:
    """The most that moving a pool's nodes into another region of the cloud can add: the
    region's fixed cost and the dearest copy of each of the pool's datasets. None when a copy
    would bill another cloud (a transfer from a home elsewhere): the move could then raise
    that cloud's spend, so it is not cheaper on every cloud and bounds no offer."""
    total = region_fixed_usd(cloud, spec)
    for name in _entries_of(spec, pool):
        dearest = 0.0
        for region in spec.clouds.regions_of(cloud):
            paid = copies[(name, cloud, region)]
            if any(where != cloud and usd > 0 for where, usd in paid.items()):
                return None
            dearest = max(dearest, sum(paid.values()))
        total += dearest
    return total


def interchangeable(spec: FleetSpec, cands: Sequence[Candidate]) -> list[tuple[Pool, ...]]:
    """Pools, in spec order, grouped where they may swap nodes at no cost: the same capacity,
    candidate offers and prices, shares and storage, no pins, no units and no region share (a
    pool's region share counts its own nodes per region, which a group's column does not).

    Such pools make the MILP much harder than it is: every swap of nodes between them is
    another plan of the same cost, and HiGHS must rule each out. `Formulation` places a group's
    nodes once and splits them among its pools, which is exact (see `_split_group`). On the
    50-pool benchmark 50 pools become 21 groups and the two cost levels take 4.9 s, not 7.8 s.
    """
    offers: dict[str, list[tuple[str, float, int | Fraction]]] = {}
    for c in cands:  # with what a node counts as: pools that weigh an accelerator apart differ
        offers.setdefault(c.pool.name, []).append((c.offer.key, c.hourly, c.gpus))
    groups: dict[tuple[object, ...], list[Pool]] = {}
    for pool in spec.pools:
        stored = tuple(entry.name for entry in spec.storage if pool.name in entry.colocate_with)
        key: tuple[object, ...] = (
            ("alone", pool.name) if pool.pin or any(c.unit > 1 or c.spread for c in cands if c.pool is pool) else (
                pool.capacity, tuple(offers.get(pool.name, ())), stored,
                tuple(sorted(pool.min_share.items())), tuple(sorted(pool.max_share.items())),
            )
        )
        groups.setdefault(key, []).append(pool)
    return [tuple(group) for group in groups.values()]


def placement_of(c: Candidate, nodes: int) -> Placement:
    """The plan's record of `nodes` nodes of this offer; which accelerator only for a pool that
    accepts several, the SKU's source only for a SKU the spec declares."""
    return Placement(
        pool=c.pool.name,
        cloud=c.cloud,
        region=c.region,
        instance_type=c.sku.instance_type,
        nodes=nodes,
        gpus=nodes * c.sku.gpus,
        capacity=c.pool.capacity,
        vcpus_per_node=c.sku.vcpus,
        quota_bucket=c.sku.bucket_for(c.pool.capacity),
        price_usd_per_hour=c.hourly,
        price_source=f"capacity block {c.blocks}: paid upfront (a line of its own), no cost per node"
        if c.blocks else c.offer.price_source(c.pool.capacity),
        monthly_usd=monthly(nodes * c.hourly),
        accelerator=c.sku.accelerator if len(c.pool.accelerators()) > 1 else "",
        sku_source=c.sku.source if c.sku.declared else "",
        blocks=c.blocks,
    )
