"""Where each pool's nodes go: a mixed-integer program solved with HiGHS.

One integer variable per candidate offer (pool, cloud, region, SKU with a price for the pool's
capacity) counts whole nodes. Constraints: GPUs per pool, quotas in vCPUs per (cloud, region,
bucket) shared by all pools, min/max share per cloud, pins, the budget. The objective is
lexicographic (DESIGN.md): spend above each cloud's commitment, then total spend, then a fixed
order over candidates. Each level is its own solve with the levels before it held at their
optimum, so a tie-break can never trade away a dollar. The two cost levels are solved with
interchangeable pools grouped (`interchangeable`), which is exact and much faster; the plan is
then split back into each pool's nodes for the tie-break.

Shares are fractions of the pool's requested GPUs (`min_share: {aws: 0.25}` on 512 GPUs means
at least 128 on AWS), which keeps them linear and lets a pool's node count be bounded.

Spend is the whole plan's, as `gpufleet.cost` prices it: GPU nodes, plus for every region that
holds nodes its fixed cost (`cost.region_fixed_usd`: control plane, NAT gateways, system nodes)
and a copy of each storage entry co-located with a pool there. A binary per region (and per
co-located storage and region) switches those on; so a region is opened only when it pays for
itself, the budget caps the total that `gpufleet.cost` reports, and spend against commitments
includes the fixed part. Egress is not modelled: storage is co-located, so it is always zero.
"""

from __future__ import annotations

import copy
import math
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import highspy
import numpy as np
from highspy import cb
from highspy._core import _Highs as CoreHighs  # pyright: ignore[reportPrivateUsage]

from gpufleet.catalog import AZURE_REGIONAL_BUCKET, CLOUDS, Capacity, Catalog, Cloud, Offer, Sku, price_key
from gpufleet.cost import HOURS_PER_MONTH, region_fixed_usd, storage_monthly_usd
from gpufleet.errors import InfeasibleError
from gpufleet.plan import Placement, QuotaUse, SolverReport, colocated_storage
from gpufleet.spec import FleetSpec, Pool

TIME_LIMIT_SECONDS = 60.0
MAX_FIXES_SHOWN = 3
# HiGHS's random seed: fixed, so one input always gives one plan. It also fixes the search
# path, and with it the solve time; the placement benchmark varies it to show that spread.
RANDOM_SEED = 0
# Branch-and-bound nodes the first cost level gets on the bounded model (`offer_bounds`) before
# it is solved on the plain one instead. A count, not a time, so the plan never depends on the
# machine. On the benchmark's 50-pool fleet and 16 generated ones (two HiGHS seeds each) the
# bounded model needed at most 505 nodes, except on one fleet: over 40,000, where the plain
# model needed about 1,300.
BOUNDED_FIRST_NODES = 2_000
NODE_LIMIT = "Solution limit reached"  # HiGHS's status when mip_max_nodes is spent
# Level 2 runs ahead on a second core, if there is one (`_SpendAhead`); the plan is the same
# without it. The placement benchmark switches it off to show the one-core time.
LEVEL_TWO_AHEAD = True

QuotaKey = tuple[Cloud, str, str]


@dataclass(frozen=True)
class PlacementResult:
    placements: tuple[Placement, ...]
    solver: SolverReport
    skipped: tuple[str, ...]


@dataclass(frozen=True)
class Candidate:
    """One offer a pool may use: the SKU in a region at the price for the pool's capacity.

    The derived facts are computed once: dominance pruning and the model read them thousands
    of times on large fleets.
    """

    pool: Pool
    offer: Offer
    hourly: float
    sku: Sku = field(init=False, compare=False, repr=False)
    cloud: Cloud = field(init=False, compare=False, repr=False)
    region: str = field(init=False, compare=False, repr=False)
    place: str = field(init=False, compare=False, repr=False)
    key: str = field(init=False, compare=False, repr=False)
    monthly: float = field(init=False, compare=False, repr=False)
    buckets: tuple[str, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        derived = {
            "sku": self.offer.sku,
            "cloud": self.offer.cloud,
            "region": self.offer.region,
            "place": f"{self.offer.cloud}/{self.offer.region}",
            "key": f"{self.pool.name}/{self.offer.key}",
            "monthly": self.hourly * HOURS_PER_MONTH,
            "buckets": buckets_for(self.offer.sku, self.pool.capacity),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @property
    def max_nodes(self) -> int:
        """More nodes than cover the pool alone (or its pin here) never help: a safe bound."""
        return max(math.ceil(self.pool.gpus / self.sku.gpus), self.pool.pin.get(self.place, 0))


def buckets_for(sku: Sku, capacity: Capacity) -> tuple[str, ...]:
    """Every quota bucket a node draws on: its family bucket, and Azure's regional total."""
    bucket = sku.bucket_for(capacity)
    if sku.cloud == "azure" and capacity != "spot":
        return (bucket, AZURE_REGIONAL_BUCKET)
    return (bucket,)


def quota_key(cloud: Cloud, region: str, bucket: str) -> QuotaKey:
    """Azure quota names are case-insensitive (the usages API and the docs disagree on case)."""
    return (cloud, region, bucket.lower() if cloud == "azure" else bucket)


def declared_quotas(spec: FleetSpec) -> dict[QuotaKey, tuple[str, int]]:
    """Declared limits keyed by (cloud, region, normalised bucket) → (name as declared, vCPUs)."""
    return {
        quota_key(cloud, region, bucket): (bucket, limit)
        for cloud, regions in spec.quotas.items()
        for region, buckets in regions.items()
        for bucket, limit in buckets.items()
    }


def candidates(spec: FleetSpec, catalog: Catalog) -> tuple[list[Candidate], list[str]]:
    """Offers each pool may use, in a fixed order, and the unpriced offers that were skipped."""
    allowed = spec.allowed_jurisdictions()
    found: list[Candidate] = []
    skipped: set[str] = set()
    for pool in spec.pools:
        for cloud, region in sorted(spec.clouds.regions()):
            info = catalog.region(cloud, region)
            if info is None or (allowed is not None and not info.jurisdictions & allowed):
                continue
            for offer in catalog.offers_for(pool.accelerator, cloud, region):
                sku = offer.sku
                if (
                    pool.gpus_per_node not in (None, sku.gpus)
                    or (pool.interconnect == "rdma" and not sku.rdma)
                    or (pool.mig is not None and not sku.mig_capable)
                ):
                    continue
                hourly = offer.hourly(pool.capacity)
                if hourly is None:
                    kind = "spot" if pool.capacity == "spot" else "on-demand"
                    skipped.add(f"{offer.key}: no {kind} price in catalog or price book")
                    continue
                found.append(Candidate(pool, offer, hourly))
    return found, sorted(skipped)


def undominated(
    spec: FleetSpec, cands: Sequence[Candidate], keep: Iterable[str] = ()
) -> list[Candidate]:
    """Drop offers that other offers beat outright, so the MILP is smaller and solves faster.

    A dominates B for the same pool when both are in the same region and draw on the same
    buckets, B's GPUs per node are k times A's, and k A nodes cost no more and use no more
    vCPUs than one B node (less money when k > 1): swapping every B node for k A nodes keeps
    every constraint (pins count nodes, so k > 1 needs a region without a pin) and costs no
    more, so no optimum is lost. The region's fixed costs do not change: it holds nodes before
    and after, and the same pool's storage copies. Among equals in one region the earlier
    candidate stays, as the tie-break would choose. Offers that `unlimited_bounds` allows no
    node go as well, and so do whole regions that another region beats for every offer
    (`_in_regions_never_needed`). `keep` (previous placements) is never dropped, so stability
    can still keep them.
    """
    kept = set(keep)
    rank = {c.key: i for i, c in enumerate(cands)}
    groups: dict[tuple[str, str, str, tuple[str, ...]], list[Candidate]] = {}
    for c in cands:
        groups.setdefault((c.pool.name, c.cloud, c.region, c.buckets), []).append(c)
    dominated: set[str] = set()
    for group in groups.values():
        frontier: list[Candidate] = []
        for size in sorted({c.sku.gpus for c in group}):
            fewest = math.inf  # fewest vCPUs among offers of this size that cost no more
            for c in sorted(
                (c for c in group if c.sku.gpus == size),
                key=lambda c: (c.monthly, c.sku.vcpus, rank[c.key]),
            ):
                if c.sku.vcpus < fewest:
                    frontier.append(c)
                    fewest = c.sku.vcpus
                else:
                    dominated.add(c.key)
        for big in frontier:
            if big.place in big.pool.pin:
                continue
            for small in frontier:
                k = big.sku.gpus // small.sku.gpus
                if (
                    k > 1 and big.sku.gpus % small.sku.gpus == 0
                    and k * small.monthly < big.monthly
                    and k * small.sku.vcpus <= big.sku.vcpus
                ):
                    dominated.add(big.key)
                    break
    left = [c for c in cands if c.key not in dominated]
    dominated |= {key for key, most in unlimited_bounds(spec, left).items() if most == 0}
    left = [c for c in left if c.key not in dominated]
    dominated |= _in_regions_never_needed(left, declared_quotas(spec), kept)
    dominated -= kept
    return [c for c in cands if c.key not in dominated]


def _unlimited(c: Candidate, limits: Mapping[QuotaKey, tuple[str, int]]) -> bool:
    """No declared quota and no pin: nothing ties the offer's nodes to its region."""
    return c.place not in c.pool.pin and not any(
        quota_key(c.cloud, c.region, b) in limits for b in c.buckets
    )


def unlimited_bounds(spec: FleetSpec, cands: Sequence[Candidate]) -> dict[str, int]:
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
    region (the tie-break would choose that one).
    """
    rank = {c.key: i for i, c in enumerate(cands)}
    moving = _moving_costs(spec)
    free = _cheapest_free(cands, declared_quotas(spec))
    bounds: dict[str, int] = {}
    for b in cands:
        if b.place in b.pool.pin:
            continue
        cost_of_move = moving[(b.pool.name, b.cloud)]
        most = math.inf
        for size, offers in free.get((b.pool.name, b.cloud), {}).items():
            if b.sku.gpus % size:
                continue
            k = b.sku.gpus // size
            here = next((a for a in offers if a.region == b.region), None)
            if here is not None and here.key != b.key and (
                k * here.monthly < b.monthly
                or (k == 1 and here.monthly == b.monthly and rank[here.key] < rank[b.key])
            ):
                most = 0
                break
            far = next((a for a in offers if a.region != b.region), None)
            if far is not None and k * far.monthly < b.monthly:
                most = min(most, math.floor(cost_of_move / (b.monthly - k * far.monthly)))
        if most != math.inf:
            bounds[b.key] = int(most)
    return bounds


def _cheapest_free(
    cands: Sequence[Candidate], limits: Mapping[QuotaKey, tuple[str, int]]
) -> dict[tuple[str, Cloud], dict[int, list[Candidate]]]:
    """Per (pool, cloud) and GPUs per node, the cheapest offer without limits (`_unlimited`)
    of each region, cheapest first (the earlier candidate among equals)."""
    free: dict[tuple[str, Cloud], dict[int, list[Candidate]]] = {}
    for c in sorted(cands, key=lambda c: c.monthly):  # stable: candidate order among equals
        if _unlimited(c, limits):
            offers = free.setdefault((c.pool.name, c.cloud), {}).setdefault(c.sku.gpus, [])
            if all(a.region != c.region for a in offers):
                offers.append(c)
    return free


def _in_regions_never_needed(
    cands: Sequence[Candidate], limits: Mapping[QuotaKey, tuple[str, int]], keep: set[str]
) -> set[str]:
    """The candidates of regions that no plan optimal on cost uses: regions where another
    region of the cloud has, for every candidate, a cheaper offer without limits (k nodes
    for one node of k times the GPUs).

    Moving all of the region's nodes there saves on every node; the region's fixed cost and
    its storage copies pay for the other region's (both the same in every region of a cloud),
    its quotas free up, and the other offers draw on none and are not pinned. So a plan with
    nodes in the region costs strictly more than the plan after the move. A region with a pin
    or a previous placement (`keep`) stays: stability may keep nodes there.
    """
    free = _cheapest_free(cands, limits)
    regions: dict[tuple[Cloud, str], list[Candidate]] = {}
    for c in cands:
        regions.setdefault((c.cloud, c.region), []).append(c)
    never: set[str] = set()
    for (cloud, region), here in regions.items():
        if any(c.place in c.pool.pin or c.key in keep for c in here):
            continue
        elsewhere: set[str] | None = None  # regions cheaper for every candidate so far
        for b in here:
            cheaper = {
                a.region
                for size, offers in free.get((b.pool.name, cloud), {}).items()
                if b.sku.gpus % size == 0
                for a in offers
                if b.sku.gpus // size * a.monthly < b.monthly and a.region != region
            }
            elsewhere = cheaper if elsewhere is None else elsewhere & cheaper
            if not elsewhere:
                break
        if elsewhere:
            never |= {c.key for c in here}
    return never


def _moving_costs(spec: FleetSpec) -> dict[tuple[str, Cloud], float]:
    """`_moving_cost` per (pool, cloud), computed once for all candidates."""
    return {(pool.name, cloud): _moving_cost(spec, pool, cloud) for pool in spec.pools for cloud in CLOUDS}


def _moving_cost(spec: FleetSpec, pool: Pool, cloud: Cloud) -> float:
    """The most that moving a pool's nodes into another region of the cloud can add: the
    region's fixed cost and a copy of every storage entry co-located with the pool."""
    copies = sum(
        storage_monthly_usd(cloud, entry.size_tib)
        for entry in spec.storage if pool.name in entry.colocate_with
    )
    return region_fixed_usd(cloud) + copies


def _most_nodes(
    c: Candidate, limits: Mapping[QuotaKey, tuple[str, int]], elastic: set[QuotaKey], shares: bool
) -> int:
    """The most nodes any feasible plan puts on `c`: the pool's size (or pin), its declared
    quotas (unless elastic) and its cloud's max share. The region binaries' links use these
    bounds as their big-M (Σ nodes ≤ Σ bounds × open), so tighter is better."""
    most = c.max_nodes
    for bucket in c.buckets:
        key = quota_key(c.cloud, c.region, bucket)
        if key in limits and key not in elastic:
            most = min(most, limits[key][1] // c.sku.vcpus)
    if shares and c.cloud in c.pool.max_share:
        most = min(most, c.pool.max_gpus(c.cloud) // c.sku.gpus)
    return most


def interchangeable(spec: FleetSpec, cands: Sequence[Candidate]) -> list[tuple[Pool, ...]]:
    """Pools, in spec order, grouped where they may swap nodes at no cost: the same capacity,
    candidate offers and prices, shares and storage, and no pins.

    Such pools make the MILP much harder than it is: every swap of nodes between them is
    another plan of the same cost, and HiGHS must rule each out. `Formulation` places a group's
    nodes once and splits them among its pools, which is exact (see `_split_group`). On the
    50-pool benchmark 50 pools become 21 groups and the two cost levels take 4.9 s, not 7.8 s.
    """
    offers: dict[str, list[tuple[str, float]]] = {}
    for c in cands:
        offers.setdefault(c.pool.name, []).append((c.offer.key, c.hourly))
    groups: dict[tuple[object, ...], list[Pool]] = {}
    for pool in spec.pools:
        stored = tuple(entry.name for entry in spec.storage if pool.name in entry.colocate_with)
        key: tuple[object, ...] = (
            ("pinned", pool.name) if pool.pin else (
                pool.capacity, tuple(offers.get(pool.name, ())), stored,
                tuple(sorted(pool.min_share.items())), tuple(sorted(pool.max_share.items())),
            )
        )
        groups.setdefault(key, []).append(pool)
    return [tuple(group) for group in groups.values()]


@dataclass(frozen=True)
class _Term:
    """A column counting some of a pool's nodes: `gpus` each, on `cloud` (in `place`, if known)."""

    col: int
    cloud: Cloud
    place: str
    gpus: int


# -- a small typed MILP builder over highspy --------------------------------------------------


@dataclass
class Solved:
    status: str
    feasible: bool
    optimal: bool
    values: list[float]
    objective: float
    gap: float
    seconds: float


@dataclass
class Milp:
    """Columns and rows kept in Python so a model can be copied, extended and re-solved."""

    lower: list[float] = field(default_factory=list[float])
    upper: list[float] = field(default_factory=list[float])
    integer: list[bool] = field(default_factory=list[bool])
    rows: list[tuple[float, float, dict[int, float]]] = field(
        default_factory=list[tuple[float, float, dict[int, float]]]
    )

    def col(self, lower: float, upper: float, integer: bool = False) -> int:
        self.lower.append(lower)
        self.upper.append(upper)
        self.integer.append(integer)
        return len(self.lower) - 1

    def row(self, lower: float, upper: float, coefs: Mapping[int, float]) -> int:
        self.rows.append((lower, upper, {c: v for c, v in coefs.items() if v != 0.0}))
        return len(self.rows) - 1

    def copy(self) -> Milp:
        """A copy that rows can be added to without changing this model."""
        return Milp(list(self.lower), list(self.upper), list(self.integer), list(self.rows))

    def relaxed(self) -> Milp:
        """A copy without integrality: its LP relaxation."""
        lp = self.copy()
        lp.integer = [False] * len(lp.lower)
        return lp

    def solve(
        self,
        objective: Mapping[int, float],
        start: Sequence[float] | None = None,
        *,
        proving: bool = False,
        max_nodes: int | None = None,
        on_incumbent: Callable[[Solved], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Solved:
        """Minimise `objective`; the optimum is proven (relative gap 0) unless time runs out
        or `max_nodes` branch-and-bound nodes are spent.

        `on_incumbent` is called (in this thread) with each better solution HiGHS finds; setting
        `stop` ends the search early ("Interrupted by user").

        The RENS and RINS sub-MIP heuristics are off: on the 50-pool benchmark they cost more
        time than their solutions saved (spend above commitments: 1.6 s instead of 2.2-2.9 s).
        `proving`: the start is a previous level's optimum and likely still optimal, so the
        other search heuristics are off too and the time goes to the proof (total spend: 0.8 s,
        not 2 s).
        """
        n = len(self.lower)
        if n == 0:  # HiGHS calls a model without columns "Empty"; decide it here
            ok = all(lower <= 0.0 <= upper for lower, upper, _ in self.rows)
            return Solved("Optimal" if ok else "Infeasible", ok, ok, [], 0.0, 0.0, 0.0)
        # The core class: `highspy.Highs` prints a banner to C stdout on first use, which would
        # corrupt `gpufleet plan --format json`; the core class is the same solver without it.
        h = CoreHighs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("time_limit", TIME_LIMIT_SECONDS)
        # One thread per solve: level 2 may run beside level 1 (`_SpendAhead`), and HiGHS's
        # scheduler needs the same thread count in every instance that runs at once.
        h.setOptionValue("threads", 1)
        h.setOptionValue("random_seed", RANDOM_SEED)
        off = ("rens", "rins", *(("root_reduced_cost", "feasibility_jump") if proving else ()))
        for heuristic in off:
            h.setOptionValue(f"mip_heuristic_run_{heuristic}", False)
        cost = np.zeros(n)
        for col, value in objective.items():
            cost[col] = value
        starts: list[int] = []
        index: list[int] = []
        value_list: list[float] = []
        for _, _, coefs in self.rows:
            starts.append(len(index))
            for col in sorted(coefs):
                index.append(col)
                value_list.append(coefs[col])
        h.passModel(
            n,
            len(self.rows),
            len(index),
            int(highspy.MatrixFormat.kRowwise.value),
            int(highspy.ObjSense.kMinimize.value),
            0.0,
            cost,
            np.array(self.lower, dtype=np.float64),
            np.array(self.upper, dtype=np.float64),
            np.array([r[0] for r in self.rows], dtype=np.float64),
            np.array([r[1] for r in self.rows], dtype=np.float64),
            np.array(starts, dtype=np.int32),
            np.array(index, dtype=np.int32),
            np.array(value_list, dtype=np.float64),
            np.array([1 if i else 0 for i in self.integer], dtype=np.int32),
        )
        if max_nodes is not None:
            h.setOptionValue("mip_max_nodes", max_nodes)
        if start is not None:
            h.setSolution(n, np.arange(n, dtype=np.int32), np.array(start, dtype=np.float64))
        if on_incumbent is not None or stop is not None:
            self._watch(h, objective, on_incumbent, stop)
        began = time.perf_counter()
        h.run()
        if h.getModelStatus() == highspy.HighsModelStatus.kSolveError:
            # HiGHS re-checks its optimum against an absolute 1e-6 tolerance, and a spend row
            # summing hundreds of prices to millions of dollars misses it by float rounding
            # alone (3e-13 relative on one benchmark fleet). Solve again with room for that.
            h.clearSolver()
            h.setOptionValue("mip_feasibility_tolerance", 1e-5)
            h.run()
        seconds = time.perf_counter() - began
        status = h.getModelStatus()
        info = h.getInfo()
        optimal = status == highspy.HighsModelStatus.kOptimal
        feasible = optimal or info.primal_solution_status == highspy.kSolutionStatusFeasible
        values, value = self._solution(h.getSolution().col_value if feasible else [], objective)
        return Solved(
            status=h.modelStatusToString(status),
            feasible=feasible,
            optimal=optimal,
            values=values,
            objective=value,
            gap=0.0 if optimal else float(info.mip_gap),
            seconds=seconds,
        )

    def _solution(self, raw: Sequence[float], objective: Mapping[int, float]) -> tuple[list[float], float]:
        """HiGHS's column values, integers rounded, and `objective`'s value for them."""
        values = [float(round(v)) if self.integer[i] else float(v) for i, v in enumerate(raw)]
        return values, sum(objective.get(i, 0.0) * v for i, v in enumerate(values))

    def _watch(
        self,
        h: CoreHighs,
        objective: Mapping[int, float],
        on_incumbent: Callable[[Solved], None] | None,
        stop: threading.Event | None,
    ) -> None:
        """Hand each improving solution to `on_incumbent`; interrupt once `stop` is set."""

        def callback(kind: cb.HighsCallbackType, _message: str, out: Any, data_in: Any, _user: Any) -> None:
            if kind == cb.HighsCallbackType.kCallbackMipImprovingSolution and on_incumbent is not None:
                values, value = self._solution(out.mip_solution, objective)
                on_incumbent(Solved("Feasible", True, False, values, value, math.inf, 0.0))
            elif stop is not None and stop.is_set():
                data_in.user_interrupt = True

        h.setCallback(callback, None)
        if on_incumbent is not None:
            h.startCallback(cb.HighsCallbackType.kCallbackMipImprovingSolution)
        if stop is not None:
            h.startCallback(cb.HighsCallbackType.kCallbackMipInterrupt)


def _slack(value: float) -> float:
    """Room when holding an optimum as a constraint: float noise only, never a real plan change."""
    return 1e-6 + 1e-9 * abs(value)


# -- the formulation ------------------------------------------------------------------------------


class Formulation:
    """The placement MILP over a set of candidates; options switch limits off for diagnosis."""

    def __init__(
        self,
        spec: FleetSpec,
        cands: Sequence[Candidate],
        pools: Sequence[Pool],
        *,
        groups: Mapping[str, Sequence[Pool]] | None = None,
        quotas: bool = True,
        shares_and_pins: bool = True,
        budget: bool = True,
        elastic: Iterable[QuotaKey] = (),
        shortfall: bool = False,
        bounds: Mapping[str, int] | None = None,
    ) -> None:
        """`groups` maps a pool to the interchangeable pools it stands for (`interchangeable`):
        its candidates then carry the whole group's nodes, shared out by `_split_group`.
        `bounds`: the most nodes per candidate key in a plan optimal on cost
        (`unlimited_bounds`), for the cost levels; a group's column takes its pools' bound
        (the same for all of them) unless one of them has none."""
        self.spec = spec
        self.cands = list(cands)
        self.milp = Milp()
        m = self.milp
        limits = declared_quotas(spec) if quotas else {}
        raised = set(elastic)
        fixed_limits = {key for key in limits if key not in raised}
        capped = {pool.name for pool in pools} if shares_and_pins else set[str]()
        self.members = {pool.name: tuple((groups or {}).get(pool.name, (pool,))) for pool in pools}
        self.most: list[int] = []
        for c in self.cands:
            alike = [
                c if member is c.pool else replace(c, pool=member)
                for member in self.members.get(c.pool.name, (c.pool,))
            ]
            most = sum(_most_nodes(a, limits, raised, c.pool.name in capped) for a in alike)
            if bounds is not None and all(a.key in bounds for a in alike):
                most = min(most, max(bounds[a.key] for a in alike))
            self.most.append(most)
        self.covers: dict[int, list[int]] = {}  # binary → the candidates that switch it on
        quota_linked = [
            any(quota_key(c.cloud, c.region, b) in fixed_limits for b in c.buckets)
            for c in self.cands
        ]
        self.x = [m.col(0.0, float(most), True) for most in self.most]
        self.short: dict[str, int] = {}
        self.split: dict[tuple[str, Cloud, int], int] = {}  # (member, cloud, GPUs per node) → column
        by_pool: dict[str, list[int]] = {}
        for i, c in enumerate(self.cands):
            by_pool.setdefault(c.pool.name, []).append(i)
        for pool in pools:
            mine = by_pool.get(pool.name, [])
            if len(self.members[pool.name]) == 1:
                terms = [
                    _Term(self.x[i], self.cands[i].cloud, self.cands[i].place, self.cands[i].sku.gpus)
                    for i in mine
                ]
                self._pool_rows(pool, terms, shortfall, shares_and_pins)
            else:
                self._split_group(pool.name, mine, shortfall, shares_and_pins)
        self.spend = {self.x[i]: c.monthly for i, c in enumerate(self.cands)}
        self.fixed: dict[int, tuple[Cloud, float]] = {}
        self.opened: dict[tuple[Cloud, str], int] = {}
        self._fixed_costs(quota_linked)
        self.elastic: dict[QuotaKey, int] = {}
        if quotas:
            self._quotas(limits, raised)
        used: set[Cloud] = {c.cloud for c in self.cands}
        self.excess: dict[int, float] = {}
        self.above: dict[Cloud, int] = {}
        for cloud in CLOUDS:
            if cloud not in used:
                continue
            commitment = spec.budget.commitments.get(cloud, 0.0)
            above = m.col(0.0, math.inf)
            self.excess[above] = 1.0
            self.above[cloud] = above
            row = self.spend_row(cloud)  # above >= spend_cloud - commitment
            row[above] = -1.0
            m.row(-math.inf, commitment, row)
        if budget and spec.budget.monthly_usd is not None:
            m.row(-math.inf, spec.budget.monthly_usd, self.spend)

    def spend_row(self, cloud: Cloud) -> dict[int, float]:
        """The cloud's monthly spend: its GPU nodes and the fixed costs of what it opens."""
        row = {self.x[i]: c.monthly for i, c in enumerate(self.cands) if c.cloud == cloud}
        row.update({col: usd for col, (where, usd) in self.fixed.items() if where == cloud})
        return row

    def _fixed_costs(self, quota_linked: Sequence[bool]) -> None:
        """A binary per region with a candidate, and per (storage, region) where a
        `colocate_with` pool has one: it adds its cost to the cloud's spend and must be 1 for
        the nodes it covers. Being 1 without nodes only costs, so at an optimum the binaries
        are 1 exactly where the cost model prices a cluster or a storage copy.

        Links: a declared quota row reads vCPUs ≤ limit × open (`_quotas`); a region's other
        candidates share Σ nodes ≤ (Σ their bounds) × open. On the 50-pool benchmark that
        solved faster and more steadily than a row per candidate (x ≤ bound × open).
        """
        regions: dict[tuple[Cloud, str], list[int]] = {}
        for i, c in enumerate(self.cands):
            regions.setdefault((c.cloud, c.region), []).append(i)
        copies: dict[tuple[str, ...], list[float]] = {}  # same pools → one binary, costs add
        for entry in self.spec.storage:
            copies.setdefault(tuple(sorted(set(entry.colocate_with))), []).append(entry.size_tib)
        for (cloud, region), here in sorted(regions.items()):
            unlinked = [i for i in here if not quota_linked[i]]  # the quota rows link the rest
            self.opened[(cloud, region)] = self._link(here, cloud, region_fixed_usd(cloud), unlinked)
            for pools, sizes in sorted(copies.items()):
                covered = [i for i in here if self.cands[i].pool.name in pools]
                if covered:
                    usd = sum(storage_monthly_usd(cloud, tib) for tib in sizes)
                    self._link(covered, cloud, usd)

    def _link(
        self, covered: list[int], cloud: Cloud, usd: float, linked: list[int] | None = None
    ) -> int:
        """A binary costing `usd` on `cloud`, 1 wherever a covered candidate has nodes; this
        row links the `linked` ones (default: all covered), other rows the rest."""
        binary = self.milp.col(0.0, 1.0, True)
        self.fixed[binary] = (cloud, usd)
        self.spend[binary] = usd
        self.covers[binary] = covered
        rowed = covered if linked is None else linked
        if rowed:
            row = {self.x[i]: 1.0 for i in rowed}
            row[binary] = -float(sum(self.most[i] for i in rowed))
            self.milp.row(-math.inf, 0.0, row)
        return binary

    def _pool_rows(
        self, pool: Pool, terms: Sequence[_Term], shortfall: bool, shares_and_pins: bool
    ) -> None:
        """The pool's GPUs, its shares per cloud and its pins, over the columns counting its nodes."""
        m = self.milp
        demand = {t.col: float(t.gpus) for t in terms}
        if shortfall:
            self.short[pool.name] = m.col(0.0, float(pool.gpus))
            demand[self.short[pool.name]] = 1.0
        m.row(float(pool.gpus), math.inf, demand)
        if not shares_and_pins:
            return
        for cloud in sorted(set(pool.min_share) | set(pool.max_share)):
            gpus = {t.col: float(t.gpus) for t in terms if t.cloud == cloud}
            low = pool.min_share.get(cloud, 0.0) * pool.gpus
            high = pool.max_share.get(cloud, 1.0) * pool.gpus
            m.row(low - 1e-9, high + 1e-9, gpus)
        for place, nodes in sorted(pool.pin.items()):
            m.row(float(nodes), float(nodes), {t.col: 1.0 for t in terms if t.place == place})

    def _split_group(
        self, name: str, mine: list[int], shortfall: bool, shares_and_pins: bool
    ) -> None:
        """The group's nodes of each (cloud, GPUs per node) are shared out among its pools.

        Nodes of one class are alike to a pool (its rows count GPUs per cloud), so any split
        of the class's nodes with these counts is a plan of the same cost. A pool never needs
        more nodes of a class than cover it alone or its max share: one more could be removed
        at a saving, as `Candidate.max_nodes` argues; the bound keeps each split within the
        per-candidate bounds of the full model.
        """
        m = self.milp
        classes: dict[tuple[Cloud, int], list[int]] = {}
        for i in mine:
            classes.setdefault((self.cands[i].cloud, self.cands[i].sku.gpus), []).append(i)
        terms: dict[str, list[_Term]] = {}
        for (cloud, size), here in sorted(classes.items()):
            row = {self.x[i]: 1.0 for i in here}
            for member in self.members[name]:
                bound = math.ceil(member.gpus / size)
                if shares_and_pins and cloud in member.max_share:
                    bound = min(bound, member.max_gpus(cloud) // size)
                col = m.col(0.0, float(bound), True)
                self.split[(member.name, cloud, size)] = col
                row[col] = -1.0
                terms.setdefault(member.name, []).append(_Term(col, cloud, "", size))
            m.row(0.0, 0.0, row)
        for member in self.members[name]:
            self._pool_rows(member, terms.get(member.name, []), shortfall, shares_and_pins)

    def _quotas(self, limits: Mapping[QuotaKey, tuple[str, int]], elastic: set[QuotaKey]) -> None:
        rows: dict[QuotaKey, dict[int, float]] = {}
        for i, c in enumerate(self.cands):
            for bucket in c.buckets:
                key = quota_key(c.cloud, c.region, bucket)
                if key in limits:
                    rows.setdefault(key, {})[self.x[i]] = float(c.sku.vcpus)
        for key in sorted(rows):
            row = rows[key]
            limit = float(limits[key][1])
            if key in elastic:  # a variable raise of this quota, for diagnosis
                self.elastic[key] = self.milp.col(0.0, math.inf, True)
                row[self.elastic[key]] = -1.0
                self.milp.row(-math.inf, limit, row)
            else:  # vCPUs ≤ limit × open: the quota, and the region's link for these nodes
                cloud, region, _ = key
                row[self.opened[(cloud, region)]] = -limit
                self.milp.row(-math.inf, 0.0, row)

    def tie_break(self) -> dict[int, float]:
        """Among equal-cost plans prefer earlier candidates in (pool, cloud, region, SKU) order."""
        return {col: float(i + 1) for i, col in enumerate(self.x)}

    def nodes(self, solved: Solved) -> list[int]:
        return [int(solved.values[col]) for col in self.x]

    def nodes_by_key(self, solved: Solved) -> dict[str, int]:
        """Nodes per candidate key of every pool. A group's nodes of each class go to its pools
        in spec order, each taking the earliest candidates first: few node groups per pool, and
        the same solution always splits the same way."""
        values = solved.values
        need = {key: round(values[col]) for key, col in self.split.items()}
        nodes: dict[str, int] = {}
        for i, c in enumerate(self.cands):
            have = round(values[self.x[i]])
            members = self.members.get(c.pool.name, (c.pool,))
            if len(members) == 1:
                nodes[c.key] = have
                continue
            for member in members:
                class_key = (member.name, c.cloud, c.sku.gpus)
                take = min(have, need[class_key])
                nodes[f"{member.name}/{c.offer.key}"] = take
                need[class_key] -= take
                have -= take
        return {key: n for key, n in nodes.items() if n > 0}

    def solution_for(self, nodes: Mapping[str, int]) -> list[float]:
        """Every column's value for a plan given as nodes per candidate key: a start for HiGHS
        (for a model without groups)."""
        values = [0.0] * len(self.milp.lower)
        for col, c in zip(self.x, self.cands, strict=True):
            values[col] = float(nodes.get(c.key, 0))
        for binary, covered in self.covers.items():
            values[binary] = 1.0 if any(values[self.x[i]] > 0 for i in covered) else 0.0
        for cloud, above in self.above.items():
            spend = sum(usd * values[col] for col, usd in self.spend_row(cloud).items())
            values[above] = max(0.0, spend - self.spec.budget.commitments.get(cloud, 0.0))
        return values

    def value(self, solved: Solved, objective: Mapping[int, float]) -> float:
        return sum(v * solved.values[col] for col, v in objective.items())


@dataclass
class _Run:
    """Solves in sequence, accumulating the solver report."""

    solves: list[Solved] = field(default_factory=list[Solved])
    superseded_seconds: float = 0.0

    def record(self, solved: Solved) -> Solved:
        """Count a solve in the report; returns it, so a solve can be recorded where it is made."""
        self.solves.append(solved)
        return solved

    def supersede(self, solved: Solved) -> None:
        """A solve that another replaces: its time counts, its status and gap do not."""
        self.solves.remove(solved)
        self.superseded_seconds += solved.seconds

    def report(self, objective_usd: float, kept: int) -> SolverReport:
        worst = next((s for s in self.solves if not s.optimal), self.solves[-1])
        return SolverReport(
            status=worst.status,
            optimality_gap=max(s.gap for s in self.solves),
            seconds=round(self.superseded_seconds + sum(s.seconds for s in self.solves), 4),
            objective_usd=round(objective_usd, 2),
            kept_from_previous=kept,
        )


def place(spec: FleetSpec, catalog: Catalog, previous: Sequence[Placement] = ()) -> PlacementResult:
    """The optimal placement of every pool; InfeasibleError says what to change if there is none."""
    cands, skipped = candidates(spec, catalog)
    keep = {p.key for p in previous}
    cands = undominated(spec, cands, keep)
    bounds: Mapping[str, int] | None = offer_bounds(spec, cands, keep)
    form = cost_model(spec, cands, bounds)
    run = _Run()
    first, cheapest = _cost_levels(form, run, BOUNDED_FIRST_NODES)
    if first.status == NODE_LIMIT:
        run.supersede(first)
        bounds = None
        form = cost_model(spec, cands, bounds)
        first, cheapest = _cost_levels(form, run, None)
    if cheapest is None:
        if first.status != "Infeasible":
            raise InfeasibleError.solver_stopped(first.status, TIME_LIMIT_SECONDS)
        raise InfeasibleError(diagnose(spec, catalog, cands, skipped))
    if len(form.members) < len(spec.pools):  # the tie-break and stability need each pool's nodes
        split = form.nodes_by_key(cheapest)
        form = cost_model(spec, cands, bounds, grouped=False)
        cheapest = replace(cheapest, values=form.solution_for(split))
    kept_previous = {p.key: p.nodes for p in previous}
    keepable = [
        (i, kept_previous[c.key]) for i, c in enumerate(cands) if kept_previous.get(c.key, 0) > 0
    ]
    if keepable:
        solved = _keep_previous(spec, form, run, (first, cheapest), keepable)
    else:
        solved = _tie_break(form, run, cheapest)
    nodes = form.nodes(solved)
    kept = sum(min(nodes[i], kept_previous.get(c.key, 0)) for i, c in enumerate(cands))
    placements = tuple(_placement(c, n) for c, n in zip(cands, nodes, strict=True) if n > 0)
    objective = sum(usd for _, usd in _spend_items(spec, placements))
    report = run.report(objective, kept)
    if report.status == "Infeasible":  # a solve that found a plan then called the model infeasible
        raise InfeasibleError.solver_stopped(report.status, TIME_LIMIT_SECONDS)
    return PlacementResult(placements, report, tuple(skipped))


def _cost_levels(form: Formulation, run: _Run, max_nodes: int | None) -> tuple[Solved, Solved | None]:
    """Level 1 (spend above commitments) and, if it ends with a plan, level 2 (`_then_spend`),
    which runs ahead on a second core (`_SpendAhead`). Level 2 is None without a plan, or when
    level 1 spent `max_nodes`."""
    with _SpendAhead(form) as ahead:
        first = run.record(form.milp.solve(form.excess, max_nodes=max_nodes, on_incumbent=ahead.start))
        if not first.feasible or first.status == NODE_LIMIT:
            return first, None
        return first, ahead.finish(first, run)


def _cores() -> int:
    """The CPUs this process may run on: its affinity (a container's or `taskset`'s), if known."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class _Ahead:
    """Level 2 solved from one level-1 incumbent, on a copy of the model, in its own thread."""

    incumbent: Solved
    form: Formulation
    run: _Run = field(default_factory=_Run)
    stop: threading.Event = field(default_factory=threading.Event)
    result: Solved | None = None
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._solve, name="gpufleet-level-2")

    def _solve(self) -> None:
        try:
            self.result = _then_spend(self.form.spec, self.form, self.run, self.incumbent, self.stop)
        except BaseException as error:  # re-raised in the caller's thread by `finish`
            self.error = error


class _SpendAhead:
    """Level 2 solved on a second core while HiGHS proves level 1's incumbent optimal.

    Most of level 1's time goes to the proof, after the optimum is found (on the 50-pool
    benchmark it is found at 0.3 s of 1.2 s). Each new incumbent starts level 2 from it on a
    copy of the model, in a thread (HiGHS runs without Python's lock), and stops the one
    started before. It is used only if level 1 ends on exactly that incumbent; then it solved
    the model a sequential level 2 solves (the same rows, held value and start), and HiGHS is
    deterministic, so the plan is the same either way: only the wall time differs. Off with
    one core, where it would slow level 1 down, and without commitments, where level 2 is free.
    """

    def __init__(self, form: Formulation) -> None:
        self.form = form
        self.enabled = LEVEL_TWO_AHEAD and _has_commitments(form.spec) and _cores() > 1
        self.started: list[_Ahead] = []

    def __enter__(self) -> _SpendAhead:
        return self

    def __exit__(self, *_: object) -> None:
        """Stop every thread and wait for it: none may outlive `place` and still be inside
        HiGHS when the interpreter exits. (HiGHS noticed `stop` within 0.3 s in every solve
        measured, and the threads stopped before the last incumbent are long done by then.)"""
        self._stop()
        for ahead in self.started:
            ahead.thread.join()

    def _stop(self) -> None:
        for ahead in self.started:
            ahead.stop.set()

    def start(self, incumbent: Solved) -> None:
        if not self.enabled:
            return
        self._stop()
        form = copy.copy(self.form)
        form.milp = self.form.milp.copy()
        ahead = _Ahead(incumbent, form)
        self.started.append(ahead)
        ahead.thread.start()

    def finish(self, first: Solved, run: _Run) -> Solved:
        """Level 2 for level 1's optimum `first`: the thread's if it started from `first`."""
        ahead = self.started[-1] if self.started else None
        if ahead is None or ahead.incumbent.values != first.values:
            self._stop()
            return _then_spend(self.form.spec, self.form, run, first)
        began = time.perf_counter()
        ahead.thread.join()
        waited = time.perf_counter() - began
        if ahead.error is not None:
            raise ahead.error
        assert ahead.result is not None
        if not ahead.run.solves:  # shown by LP: no level-2 solve, nothing to adopt
            return replace(first, objective=ahead.result.objective)
        self.form.milp = ahead.form.milp  # with the held row, as `_then_spend` leaves it
        return run.record(replace(ahead.result, seconds=waited))  # the time it added after level 1


def offer_bounds(spec: FleetSpec, cands: Sequence[Candidate], keep: Collection[str] = ()) -> dict[str, int]:
    """`unlimited_bounds` for the cost model, except for the previous plan's offers (`keep`),
    which stability may keep at any count.

    The bounds cut no optimum, and they shrink HiGHS's work per integer column and the region
    links' big-M: on 32 generated 50-pool solves the median `place` took 0.8 s, not 2.0 s.
    On one fleet they made the search far longer (`BOUNDED_FIRST_NODES`)."""
    return {key: most for key, most in unlimited_bounds(spec, cands).items() if key not in keep}


def cost_model(
    spec: FleetSpec,
    cands: Sequence[Candidate],
    bounds: Mapping[str, int] | None = None,
    *,
    grouped: bool = True,
) -> Formulation:
    """The model the cost levels are solved on: each offer within `bounds` (`offer_bounds`) if
    given, and interchangeable pools grouped unless `grouped` is False."""
    if not grouped:
        return Formulation(spec, cands, spec.pools, bounds=bounds)
    groups = {group[0].name: group for group in interchangeable(spec, cands)}
    leaders = [group[0] for group in groups.values()]
    return Formulation(
        spec, [c for c in cands if c.pool.name in groups], leaders, groups=groups, bounds=bounds
    )


def spend_by_cloud(spec: FleetSpec, placements: Sequence[Placement]) -> dict[Cloud, float]:
    """$/month per cloud as the MILP counts it: GPU nodes as priced in each placement,
    `region_fixed_usd` per region that holds a placement, and a storage copy per region where a
    `colocate_with` pool lands. This is `gpufleet.cost.estimate`'s total per cloud: its only
    other lines are egress, which is zero because storage is co-located by construction."""
    spend: dict[Cloud, float] = {}
    for cloud, usd in _spend_items(spec, placements):
        spend[cloud] = spend.get(cloud, 0.0) + usd
    return {cloud: round(usd, 2) for cloud, usd in spend.items()}


def _spend_items(spec: FleetSpec, placements: Sequence[Placement]) -> list[tuple[Cloud, float]]:
    places: set[tuple[Cloud, str]] = {(p.cloud, p.region) for p in placements}
    return [
        *((p.cloud, p.monthly_usd) for p in placements),
        *((cloud, region_fixed_usd(cloud)) for cloud, _ in sorted(places)),
        *((s.cloud, storage_monthly_usd(s.cloud, s.size_tib))
          for s in colocated_storage(spec, placements)),
    ]


def _has_commitments(spec: FleetSpec) -> bool:
    return any(v > 0 for v in spec.budget.commitments.values())


def _then_spend(
    spec: FleetSpec, form: Formulation, run: _Run, first: Solved, stop: threading.Event | None = None
) -> Solved:
    """Level 2: the least total spend among plans with `first`'s (optimal) spend above commitments.

    Solved with the excess held at its optimum by a row, started from `first`, unless no such
    solve is needed: without commitments excess is spend, and `_burned_in_every_tie` often
    shows by LP that `first` is already the answer. (A blended objective, excess + 1e-4 ×
    spend, cannot keep the levels exact and was slower.) Returns the solution with
    `objective` = total spend.
    """
    held = first.objective + _slack(first.objective)
    if not _has_commitments(spec) or _burned_in_every_tie(spec, form, held):
        return replace(first, objective=form.value(first, form.spend))
    form.milp.row(-math.inf, held, form.excess)
    return run.record(form.milp.solve(form.spend, first.values, proving=True, stop=stop))


def _burned_in_every_tie(spec: FleetSpec, form: Formulation, held: float) -> bool:
    """Whether every plan equal on level 1 burns every commitment, shown by LP relaxations.

    Total spend = spend above commitments + Σ per cloud min(spend, commitment). Among plans
    equal on level 1 (excess at most `held`), those that burn every commitment spend the same
    in total; only one that leaves a commitment unburned could spend less. If for each cloud
    with a commitment the LP relaxation of "excess at most `held` and this cloud's spend at
    most its commitment" is infeasible, there is no such plan, and the level-1 plan (which
    meets those rows had it left a commitment unburned) is level 2's answer too. The LPs are
    infeasible when every cloud spends well above its commitment; when one is barely burned
    they are not, and level 2 is solved.
    """
    for cloud, commitment in spec.budget.commitments.items():
        if commitment <= 0 or cloud not in form.above:  # nothing to burn, or a constant 0
            continue
        lp = form.milp.relaxed()
        lp.row(-math.inf, held, form.excess)
        lp.row(-math.inf, commitment, form.spend_row(cloud))
        if lp.solve({}).feasible:
            return False
    return True


def _keep_previous(
    spec: FleetSpec,
    form: Formulation,
    run: _Run,
    optimum: tuple[Solved, Solved],
    keepable: list[tuple[int, int]],
) -> Solved:
    """Keep as many previous nodes as cost at most `stability_tolerance` more, then re-optimise.

    Both cost levels may grow by the tolerance times the optimal total spend, so a plan that
    was within commitments may move a little above them, never more than the tolerance allows.
    """
    tolerance = spec.placement.stability_tolerance
    first, cheapest = optimum
    m = form.milp
    allowed = first.objective + tolerance * cheapest.objective
    m.row(-math.inf, allowed + _slack(allowed), form.excess)
    m.row(-math.inf, cheapest.objective * (1 + tolerance) + _slack(cheapest.objective), form.spend)
    kept: dict[int, float] = {}
    start = list(cheapest.values)
    for i, previous_nodes in keepable:
        col = m.col(0.0, float(previous_nodes))
        m.row(-math.inf, 0.0, {col: 1.0, form.x[i]: -1.0})
        kept[col] = -1.0
        start.append(min(start[form.x[i]], previous_nodes))
    most = run.record(m.solve(kept, start))
    m.row(-math.inf, most.objective + _slack(most.objective), kept)
    least = run.record(m.solve(form.excess, most.values))
    return _tie_break(form, run, _then_spend(spec, form, run, least))


def _tie_break(form: Formulation, run: _Run, solved: Solved) -> Solved:
    """Among plans of equal cost, the one using the earliest candidates in the fixed order.

    Ties come from offers of equal price: one list price in several regions, or SKUs that cost
    the same. Nodes may move only between offers of the same pool, cloud, GPUs per node and
    price, with each such class keeping its node count, so every cost level stays exactly as
    solved; then Σ rank × nodes is minimised. Equal totals built from different prices
    (2 × $5 against 1 × $10) are not compared: HiGHS's deterministic search settles those.
    Holding the cost with a row instead makes an exact knapsack that takes HiGHS seconds.
    Fixed costs are held the same way: a region's or a storage copy's cost is the same in every
    region of a cloud, so at most as many binaries of each (cloud, cost) may be 1 as are now;
    nodes may move to another region only where that opens nothing new at a price.
    """
    classes: dict[tuple[str, Cloud, int, float], dict[int, float]] = {}
    for i, c in enumerate(form.cands):
        classes.setdefault((c.pool.name, c.cloud, c.sku.gpus, c.monthly), {})[form.x[i]] = 1.0
    for cols in classes.values():
        nodes = float(sum(solved.values[col] for col in cols))
        form.milp.row(nodes, nodes, cols)
    fixed: dict[tuple[Cloud, float], dict[int, float]] = {}
    for col, key in form.fixed.items():
        fixed.setdefault(key, {})[col] = 1.0
    for cols in fixed.values():
        form.milp.row(-math.inf, float(sum(solved.values[col] for col in cols)), cols)
    return run.record(form.milp.solve(form.tie_break(), solved.values))


def _placement(c: Candidate, nodes: int) -> Placement:
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
        price_source=c.offer.price_source(c.pool.capacity),
        monthly_usd=round(nodes * c.monthly, 2),
    )


# -- why there is no placement ----------------------------------------------------------------


def diagnose(
    spec: FleetSpec, catalog: Catalog, cands: Sequence[Candidate], skipped: Sequence[str]
) -> str:
    """Re-solve relaxed problems to name the pool, the shortfall and the limits that bind."""
    for pool in spec.pools:
        mine = [c for c in cands if c.pool.name == pool.name]
        problem = _pool_problem(spec, pool, mine, _PriceHint(catalog, skipped))
        if problem:
            return problem
    joint = Formulation(spec, cands, spec.pools, budget=False)
    cheapest = joint.milp.solve(joint.spend)
    if not cheapest.feasible:
        return _coupling_problem(spec, cands)
    fixed = joint.value(cheapest, {col: usd for col, (_, usd) in joint.fixed.items()})
    budget = spec.budget.monthly_usd or 0.0
    return (
        f"cheapest placement costs ${cheapest.objective:,.0f}/month (GPU nodes "
        f"${cheapest.objective - fixed:,.0f}, clusters, NAT gateways, system nodes and storage "
        f"${fixed:,.0f}), above the budget ${budget:,.0f} by ${cheapest.objective - budget:,.0f}: "
        "raise budget.monthly_usd, use spot capacity, or ask for fewer GPUs"
    )


def _describe(pool: Pool) -> str:
    extras = [f"{pool.gpus_per_node} per node"] if pool.gpus_per_node else []
    extras += ["rdma"] if pool.interconnect == "rdma" else []
    extras += [f"MIG {pool.mig}"] if pool.mig else []
    extras += [pool.capacity]
    return f"{pool.gpus} {pool.accelerator} ({', '.join(extras)})"


@dataclass(frozen=True)
class _PriceHint:
    """Why a pool has no offer in some places, and the price-book entry that would add one."""

    catalog: Catalog
    skipped: Sequence[str]

    def __call__(self, pool: Pool, places: Sequence[str]) -> str:
        lines = [s for s in self.skipped if any(s.startswith(p + "/") for p in places)]
        if lines:
            cloud, region, sku = lines[0].split(":")[0].split("/")
            key = price_key(cloud, region, sku, spot=pool.capacity == "spot")
            return (
                "; offers skipped for want of a price: " + "; ".join(lines)
                + f"; a price-book entry `prices: {key}: <usd/h>` would add one"
            )
        for place in places:
            cloud, region = place.split("/")
            fitting = [
                s for s in self.catalog.skus_for(pool.accelerator, cloud)
                if pool.gpus_per_node in (None, s.gpus)
                and (pool.interconnect != "rdma" or s.rdma)
                and (pool.mig is None or s.mig_capable)
            ]
            if fitting:
                name = fitting[0].instance_type
                key = price_key(cloud, region, name, spot=pool.capacity == "spot")
                return (
                    f"; the catalog has no offer of {', '.join(s.instance_type for s in fitting)} "
                    f"in {', '.join(places)}; a price-book entry `prices: {key}: <usd/h>` "
                    "declares one"
                )
        return ""


def _pool_problem(
    spec: FleetSpec, pool: Pool, mine: list[Candidate], hint: _PriceHint
) -> str | None:
    places = [f"{c}/{r}" for c, r in sorted(spec.clouds.regions())]
    if not mine:
        return (
            f"pool {pool.name} needs {_describe(pool)}, but no configured region "
            f"({', '.join(places)}) has a candidate offer" + hint(pool, places)
            + "; or allow regions that offer it"
        )
    for place, nodes in sorted(pool.pin.items()):
        if not any(c.place == place for c in mine):
            return (
                f"pool {pool.name} pins {nodes} nodes in {place}, but no priced "
                f"{pool.accelerator} SKU there fits the pool" + hint(pool, [place])
                + f"; or remove pools.{pool.name}.pin.{place}"
            )
    for cloud, share in sorted(pool.min_share.items()):
        if share > 0 and not any(c.cloud == cloud for c in mine):
            cloud_places = [p for p in places if p.startswith(cloud + "/")]
            return (
                f"pool {pool.name} needs min_share {cloud} {share:g} of {_describe(pool)}, but no "
                f"{cloud} region has a candidate offer" + hint(pool, cloud_places)
                + f"; or lower min_share.{cloud}"
            )
    alone = Formulation(spec, mine, [pool], budget=False)
    if alone.milp.solve(alone.spend).feasible:
        return None
    free = Formulation(spec, mine, [pool], quotas=False, budget=False)
    if not free.milp.solve(free.spend).feasible:
        rules = [f"pin {k}: {v} nodes" for k, v in sorted(pool.pin.items())]
        rules += [f"min_share {k} {v:g}" for k, v in sorted(pool.min_share.items())]
        rules += [f"max_share {k} {v:g}" for k, v in sorted(pool.max_share.items())]
        return (
            f"pool {pool.name}: no whole-node placement of {_describe(pool)} meets "
            f"{', '.join(rules)} even without quotas; change the pins or shares"
        )
    hold = _capacity(spec, mine, pool, None)
    if hold < pool.gpus:
        head = (
            f"pool {pool.name} needs {pool.gpus} {pool.accelerator}; allowed regions hold {hold} "
            f"under declared quotas ({pool.gpus - hold} short)"
        )
    else:
        head = (
            f"pool {pool.name} cannot place {pool.gpus} {pool.accelerator} under declared quotas "
            "with its pins and shares"
        )
        for cloud, share in sorted(pool.min_share.items()):
            need = pool.min_gpus(cloud)
            held = _capacity(spec, mine, pool, cloud)
            if held < need:
                head = (
                    f"pool {pool.name} needs {need} of its {pool.gpus} {pool.accelerator} on "
                    f"{cloud} (min_share {share:g}); {cloud} regions hold {held} under declared "
                    f"quotas ({need - held} short)"
                )
                break
    return head + ": " + _fixes(spec, mine, [pool])


def _capacity(spec: FleetSpec, mine: list[Candidate], pool: Pool, cloud: Cloud | None) -> int:
    """Most GPUs the pool (on one cloud) may hold under quotas and max shares, capped at size."""
    chosen = [c for c in mine if cloud is None or c.cloud == cloud]
    form = Formulation(spec, chosen, [], shares_and_pins=False, budget=False)
    for capped, share in pool.max_share.items():
        row = {form.x[i]: float(c.sku.gpus) for i, c in enumerate(chosen) if c.cloud == capped}
        form.milp.row(-math.inf, share * pool.gpus + 1e-9, row)
    gpus = {form.x[i]: -float(c.sku.gpus) for i, c in enumerate(chosen)}
    solved = form.milp.solve(gpus)
    return min(pool.gpus, round(-solved.objective)) if solved.feasible else 0


def _fixes(spec: FleetSpec, cands: Sequence[Candidate], pools: Sequence[Pool]) -> str:
    """The smallest raise of each single declared quota that makes the pools placeable."""
    limits = declared_quotas(spec)
    keys = sorted({quota_key(c.cloud, c.region, b) for c in cands for b in c.buckets} & set(limits))
    fixes: list[tuple[int, str]] = []
    for key in keys:
        raised = _raises(spec, cands, pools, [key])
        if raised:
            fixes.append((raised[0][1], _raise_text(limits, raised)))
    fixes.sort()
    shown = [text for _, text in fixes[:MAX_FIXES_SHOWN]]
    if not shown:
        together = _raises(spec, cands, pools, keys)
        if not together:
            return "no quota increase is enough; allow more regions or relax the pins and shares"
        shown = [_raise_text(limits, together)]
    return ", or ".join([*shown, "allow more regions"])


def _raises(
    spec: FleetSpec, cands: Sequence[Candidate], pools: Sequence[Pool], keys: Sequence[QuotaKey]
) -> list[tuple[QuotaKey, int]]:
    """The least total vCPU raise of these quotas that makes the pools placeable ([] if none)."""
    form = Formulation(spec, cands, pools, budget=False, elastic=keys)
    solved = form.milp.solve(dict.fromkeys(form.elastic.values(), 1.0))
    if not solved.feasible:
        return []
    raised = [(key, math.ceil(solved.values[col] - 1e-6)) for key, col in form.elastic.items()]
    return [(key, n) for key, n in raised if n > 0]


def _raise_text(
    limits: Mapping[QuotaKey, tuple[str, int]], raised: list[tuple[QuotaKey, int]]
) -> str:
    return "raise " + " and ".join(
        f"{limits[key][0]} in {key[1]} by {n} vCPU" for key, n in raised
    )


def _coupling_problem(spec: FleetSpec, cands: Sequence[Candidate]) -> str:
    """Pools that fit alone but not together: GPUs short per accelerator, and quota raises.
    Shortfall relaxes each pool's size, not its min shares and pins; when even those do not
    fit together, no count of GPUs short means anything, and the message says so."""
    form = Formulation(spec, cands, spec.pools, budget=False, shortfall=True)
    solved = form.milp.solve(dict.fromkeys(form.short.values(), 1.0))
    names = ", ".join(pool.name for pool in spec.pools)
    head = f"pools {names} each fit alone but not together under shared quotas"
    if not solved.feasible:
        head += " (not even their min shares and pins fit together)"
    else:
        short: dict[str, int] = {}
        for name, col in form.short.items():
            accelerator = spec.pool(name).accelerator
            short[accelerator] = short.get(accelerator, 0) + round(solved.values[col])
        shorts = ", ".join(f"{n} {accelerator}" for accelerator, n in sorted(short.items()) if n > 0)
        if shorts:
            head += f" ({shorts} short)"
    return head + ": " + _fixes(spec, cands, spec.pools)


# -- quota use and the greedy baseline -------------------------------------------------------------


def quota_use(
    spec: FleetSpec, catalog: Catalog, placements: Sequence[Placement]
) -> tuple[QuotaUse, ...]:
    """vCPUs drawn per (cloud, region, bucket) and the declared limit (None: undeclared)."""
    limits = declared_quotas(spec)
    used: dict[QuotaKey, int] = {}
    names: dict[QuotaKey, str] = {}
    for key, (name, _) in limits.items():
        used[key] = 0
        names[key] = name
    for p in placements:
        sku = catalog.sku(p.cloud, p.instance_type)
        buckets = buckets_for(sku, p.capacity) if sku else (p.quota_bucket,)
        for bucket in buckets:
            key = quota_key(p.cloud, p.region, bucket)
            if bucket == AZURE_REGIONAL_BUCKET and key not in limits:
                continue  # the regional total is only shown when declared
            used[key] = used.get(key, 0) + p.nodes * p.vcpus_per_node
            names.setdefault(key, bucket)
    return tuple(
        QuotaUse(cloud, region, names[(cloud, region, b)], used[(cloud, region, b)],
                 limits[(cloud, region, b)][1] if (cloud, region, b) in limits else None)
        for cloud, region, b in sorted(used)
    )


def greedy_place(spec: FleetSpec, catalog: Catalog) -> tuple[Placement, ...] | None:
    """Baseline as launch-time tools do it: each pool in turn takes the cheapest $/GPU offers left.

    Pins are placed first, then each min share from its cloud's cheapest offers, then the rest
    from the cheapest offers within max shares. An offer in a region no pool uses yet is charged
    the region's fixed cost (and the copies of storage co-located with the pool) on top of its
    nodes, so greedy too opens a region only when that is cheaper per GPU. Quotas are consumed
    pool by pool; commitments and the budget are ignored. None when a pool cannot be placed
    this way. `spend_by_cloud` prices the result as the MILP's plans are priced.
    """
    cands, _ = candidates(spec, catalog)
    greedy = _Greedy(spec, {key: limit for key, (_, limit) in declared_quotas(spec).items()})
    for pool in spec.pools:
        mine = sorted(
            (c for c in cands if c.pool.name == pool.name),
            key=lambda c: (c.hourly / c.sku.gpus, c.key),
        )
        if not greedy.place_pool(pool, mine):
            return None
    order = {c.key: i for i, c in enumerate(cands)}
    chosen = sorted(greedy.chosen.values(), key=lambda pair: order[pair[0].key])
    return tuple(_placement(c, n) for c, n in chosen)


@dataclass
class _Greedy:
    spec: FleetSpec
    room: dict[QuotaKey, int]
    chosen: dict[str, tuple[Candidate, int]] = field(
        default_factory=dict[str, tuple[Candidate, int]]
    )
    per_cloud: dict[str, int] = field(default_factory=dict[str, int])
    pools_at: dict[str, set[str]] = field(default_factory=dict[str, set[str]])  # place → pools

    def place_pool(self, pool: Pool, mine: list[Candidate]) -> bool:
        self.per_cloud = {}
        for place_key, pinned in sorted(pool.pin.items()):
            here = [c for c in mine if c.place == place_key and self.quota_nodes(c) >= pinned]
            if not here:
                return False
            self.take(here[0], pinned)
        free = [c for c in mine if c.place not in pool.pin]
        for cloud in sorted(pool.min_share):
            need = pool.min_gpus(cloud) - self.per_cloud.get(cloud, 0)
            if self.fill(pool, [c for c in free if c.cloud == cloud], need) > 0:
                return False
        return self.fill(pool, free, pool.gpus - sum(self.per_cloud.values())) <= 0

    def quota_nodes(self, c: Candidate) -> int:
        keys = [quota_key(c.cloud, c.region, b) for b in c.buckets]
        return min([self.room[k] // c.sku.vcpus for k in keys if k in self.room], default=1 << 30)

    def take(self, c: Candidate, nodes: int) -> None:
        for b in c.buckets:
            key = quota_key(c.cloud, c.region, b)
            if key in self.room:
                self.room[key] -= nodes * c.sku.vcpus
        self.chosen[c.key] = (c, self.chosen.get(c.key, (c, 0))[1] + nodes)
        self.pools_at.setdefault(c.place, set()).add(c.pool.name)
        self.per_cloud[c.cloud] = self.per_cloud.get(c.cloud, 0) + nodes * c.sku.gpus

    def opening(self, c: Candidate) -> float:
        """What taking nodes of `c` adds besides the nodes: a new region, new storage copies."""
        there = self.pools_at.get(c.place, set())
        usd = 0.0 if there else region_fixed_usd(c.cloud)
        for entry in self.spec.storage:
            if c.pool.name in entry.colocate_with and not there & set(entry.colocate_with):
                usd += storage_monthly_usd(c.cloud, entry.size_tib)
        return usd

    def fill(self, pool: Pool, options: list[Candidate], need: int) -> int:
        """Take the offer of least $/GPU, fixed costs included, until `need` GPUs are placed."""
        while need > 0:
            best: tuple[float, int, Candidate, int] | None = None
            for i, c in enumerate(options):
                cap = pool.max_share.get(c.cloud, 1.0) * pool.gpus - self.per_cloud.get(c.cloud, 0)
                nodes = min(
                    math.ceil(need / c.sku.gpus), self.quota_nodes(c), int(cap + 1e-9) // c.sku.gpus
                )
                if nodes > 0:
                    per_gpu = (nodes * c.monthly + self.opening(c)) / (nodes * c.sku.gpus)
                    if best is None or (per_gpu, i) < best[:2]:
                        best = (per_gpu, i, c, nodes)
            if best is None:
                break
            _, _, c, nodes = best
            self.take(c, nodes)
            need -= nodes * c.sku.gpus
        return need
