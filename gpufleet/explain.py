"""Why not there? Every offer a pool may use that the plan left empty (or holding fewer nodes
than it could take), the binding reason from the closed set (`gpufleet.reasons`), and what
would change it: the break-even price, or what one more unit's worth of quota saves.

Each figure is a re-plan (`gpufleet.breakeven.Replanner`), never an estimate: the offer's
price lowered until the plan takes a node of the pool there, a quota raised by one unit's
worth. The reason for an offer the model could use is what one more unit there
(`Candidate.unit` nodes, the least the plan adds; its pool's GPUs taken off its other offers)
breaks or costs (`MoveCauses.blocked`): a rule broken at $0.01/h binds at any price.
docs/design.md, "Explaining a plan"; docs/explain.md.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

from gpufleet.breakeven import (
    FLOOR,
    PRICE_LABEL,
    UNIT,
    BreakEven,
    NoBreakEven,
    ReplanFailed,
    Replanner,
    SearchStopped,
    break_even,
)
from gpufleet.catalog import Offer, price_key
from gpufleet.cost import HOURS_PER_MONTH
from gpufleet.errors import CommandLineError, Problem
from gpufleet.explainjson import ExplainDoc
from gpufleet.movereasons import MoveCauses
from gpufleet.moves import Cause
from gpufleet.placement import candidates
from gpufleet.placement.candidates import Candidate
from gpufleet.plan import Placement
from gpufleet.poolneeds import able_clouds, fits
from gpufleet.quota import declared_quotas, quota_key, quota_units, quota_use
from gpufleet.spec import FleetSpec
from gpufleet.speccapacity import Shortfalls
from gpufleet.specskus import offer_refusal
from gpufleet.specwords import one_of


@dataclass(frozen=True)
class Explanation:
    pool: str
    offer: Offer
    nodes: int
    price_usd_per_hour: float | None
    cause: Cause
    even: BreakEven | None = None
    quota_bucket: str | None = None
    quota_value_usd_per_month: float | None = None
    unit: int = 1
    """Nodes per unit of the pool on the offer (`Candidate.unit`): what the plan adds at a time."""

    def to_json(self) -> ExplainDoc:
        return {
            "pool": self.pool, "cloud": self.offer.cloud, "region": self.offer.region,
            "instance_type": self.offer.sku.instance_type, "nodes": self.nodes,
            "price_usd_per_hour": self.price_usd_per_hour, "reason": self.cause.reason,
            "break_even_usd_per_hour": self.even.price_usd_per_hour if self.even else None,
            "nodes_at_break_even": self.even.nodes if self.even else None,
            "quota_bucket": self.quota_bucket,
            "quota_value_usd_per_month": self.quota_value_usd_per_month,
            "sentence": self.sentence,
        }

    @property
    def sentence(self) -> str:
        value = ""
        if self.quota_value_usd_per_month is not None:
            worth = "one more node's worth" if self.unit == 1 else f"one more unit's worth ({self.unit} nodes)"
            value = (f"; {worth} of {self.quota_bucket} quota saves "
                     f"${self.quota_value_usd_per_month:,.2f}/month")
        what = f"{self.offer.key} ({self.pool}, {_count(self.nodes)} today)"
        if self.even is None:
            return f"{what}: {self.cause.sentence}{value}"
        assert self.price_usd_per_hour is not None
        cut = 100 * (1 - self.even.price_usd_per_hour / self.price_usd_per_hour)
        offer = f"{self.offer.cloud}/{self.offer.region} {self.offer.sku.instance_type}"
        price = (f"{offer} would take {_count(self.even.nodes)} of {self.pool} at ≤ "
                 f"{_usd(self.even.price_usd_per_hour)}/h (today {_usd(self.price_usd_per_hour)}, {cut:.1f} % lower)")
        if self.cause.reason == "price":
            return price
        more = "" if self.nodes == 0 else "more "
        return f"{what} takes no {more}nodes: {self.cause.sentence}{value}; {price}"


class OfferCauses(MoveCauses):
    """`MoveCauses` asked of one more unit (`Candidate.unit` nodes: one node unless the pool
    comes in training units) on an offer the plan leaves short, said as such. Asking of one
    node where a unit is the least the plan can add would miss every rule the unit breaks."""

    def counterfactual(self, candidate: Candidate, nodes: int) -> str:
        if nodes == 1:
            return "one more node there"
        unit = f" (units of {candidate.unit})" if candidate.unit > 1 else ""
        return f"{nodes} more nodes there{unit}"

    def putting(self, words: str) -> str:
        return words

    def kept(self) -> str:
        return ""


SEARCH_SECONDS = 40.0
"""Seconds after explain begins (today's plan included) from which it starts no re-plan: the
offers searched by then have their exact answers, the rest today's reason and a sentence that
says so. No fleet of the benchmark but the 50-pool one comes near it (prod-eu 0.5 s, 32,768
GPUs 5 s); on that one a re-plan takes 6 s (quiet) to 20 s (under load) and its 8,229 offers
would need about two days (benchmarks/explain.py; docs/design.md, "Explaining a plan"). The
search's order (`_Today.order`) puts first the offers closest to winning. 40 s leaves room for
the re-plans under way then (`breakeven.OVERRUN_SECONDS`) within the issue's 60 s."""

PARALLEL_SECONDS = 1.0
"""Offers to re-plan times today's plan's seconds from which explain forks a second process
(where it may run on two cores; each offer takes a few re-plans, and below this the fork costs
more than it saves: dev's 8 offers took 0.79 s in two processes, 0.37 s in one, under load).
Each offer's search is its own and every re-plan is deterministic (one HiGHS thread, a fixed
seed), so two processes change no answer, only the wall time."""


def explain(
    spec: FleetSpec, pool: str | None = None, period: str | None = None, *,
    search_seconds: float | None = SEARCH_SECONDS, screen: bool = True,
) -> list[Explanation]:
    """Every offer each pool (or only `pool`) may use that its plan leaves empty or short,
    with its binding reason and, where one exists, its break-even price. No re-plan starts
    `search_seconds` after explain began (None: no limit); an offer left then keeps today's
    reason, and its sentence says what was not searched. `screen`: answer offers no plan can
    use at any price without re-planning (`_unusable`; off only to test it changes nothing)."""
    if pool is not None and pool not in (names := [p.name for p in spec.pools]):
        raise CommandLineError([Problem("--pool", one_of("pool", pool, names, len(names)))])
    replan = Replanner(spec, period)
    began = time.monotonic()
    base = replan.plan()
    seconds = time.monotonic() - began
    here = replan.explained_spec
    catalog = here.catalog()
    listed = candidates(here, catalog)[0]
    found = {c.key: c for c in listed}
    causes = OfferCauses(here, catalog, (), base)
    shortfalls = Shortfalls.of(here.capacity)
    explained: list[Explanation | tuple[str, int]] = []  # (candidate key, nodes): to re-plan
    for chosen in (p for p in here.pools if pool in (None, p.name)):
        able = able_clouds(chosen, here.clouds.configured())
        for cloud, region in sorted(here.clouds.regions()):
            info = catalog.region(cloud, region)
            if cloud not in able or info is None:
                continue
            offers = sorted(
                (o for name in chosen.accelerators() for o in catalog.offers_for(name, cloud, region)),
                key=lambda o: o.sku.instance_type,
            )
            for offer in offers:  # as placement lists them (`candidates`)
                if not fits(chosen, offer.sku) or offer_refusal(chosen, offer.sku) is not None:
                    continue  # not an offer for this pool in any region
                nodes = _nodes(base, chosen.name, offer.key)
                if nodes * offer.sku.gpus * chosen.weight_of(offer.sku.accelerator) >= chosen.gpus:
                    continue  # it holds the whole pool: nothing to explain
                price = offer.hourly(chosen.capacity)
                if rule := shortfalls.rule_for(offer.key):
                    cause = Cause("unavailable", f"capacity.unavailable '{rule}' takes it out")
                    explained.append(Explanation(chosen.name, offer, nodes, price, cause))
                elif price is None:
                    kind = "spot" if chosen.capacity == "spot" else "on-demand"
                    key = price_key(cloud, region, offer.sku.instance_type, spot=kind == "spot")
                    cause = Cause("no-price", f"no {kind} price in the catalog or the price book (`prices: {key}`)")
                    explained.append(Explanation(chosen.name, offer, nodes, price, cause))
                else:
                    explained.append((f"{chosen.name}/{offer.key}", nodes))
    jobs = [e for e in explained if isinstance(e, tuple)]
    replan.deadline = None if search_seconds is None else began + search_seconds
    unusable = _unusable(here, listed) if screen else frozenset[str]()
    shared = _Shared(replan, causes, found, unusable, search_seconds)
    priced = iter(_price_all(shared, jobs, parallel=len(jobs) * seconds >= PARALLEL_SECONDS))
    return [next(priced) if isinstance(e, tuple) else e for e in explained]


@dataclass(frozen=True)
class _Today:
    """One more unit on an offer against today's plan, no re-plan made: what it breaks or
    costs, and what the counterfactual costs more a month where it breaks no rule."""

    cause: Cause
    more_usd: float | None

    def order(self, candidate: Candidate, unusable: bool) -> tuple[int, float]:
        """Offers whose counterfactual breaks no rule first, the smallest cut of today's price
        that would pay for it first (a guess at how close the offer is to winning); then the
        rules; last the offers no plan can use (they need no break-even search)."""
        if unusable:
            return 2, 0.0
        if self.more_usd is None or candidate.hourly <= 0:
            return 1, 0.0
        return 0, self.more_usd / (candidate.unit * HOURS_PER_MONTH * candidate.hourly)


@dataclass(frozen=True)
class _Shared:
    """What pricing an offer needs, in the process and in a forked worker (`_SHARED`)."""

    replan: Replanner
    causes: OfferCauses
    found: dict[str, Candidate]
    unusable: frozenset[str]
    search_seconds: float | None


_SHARED: list[_Shared] = []
"""What a forked worker prices offers with (`_price_all`): set before the fork, inherited."""


def _price_all(shared: _Shared, jobs: list[tuple[str, int]], *, parallel: bool) -> list[Explanation]:
    """`_priced` of every (candidate key, nodes), in order: today's cause of each first (no
    re-plan), then the searches, closest to winning first (`_Today.order`); in two forked
    processes if `parallel` and there are two cores, each with today's plan in its cache."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    forked = parallel and cores >= 2 and len(jobs) >= 2 and "fork" in multiprocessing.get_all_start_methods()
    _SHARED[:] = [shared]
    try:
        with multiprocessing.get_context("fork").Pool(2) if forked else nullcontext() as workers:
            def each(work: Callable[[Any], _T], items: Sequence[Any], chunk: int) -> list[_T]:
                return workers.map(work, items, chunksize=chunk) if workers else [work(i) for i in items]

            todays = each(_today_job, jobs, 64)
            order = sorted(range(len(jobs)), key=lambda i: todays[i].order(
                shared.found[jobs[i][0]], _price_key(shared.found[jobs[i][0]]) in shared.unusable))
            searched = each(_search_job, [(jobs[i], todays[i]) for i in order], 1)
    finally:
        _SHARED.clear()
    placed = dict(zip(order, searched, strict=True))
    return [placed[i] for i in range(len(jobs))]


_T = TypeVar("_T")


def _today_job(job: tuple[str, int]) -> _Today:
    shared = _SHARED[0]
    candidate = shared.found[job[0]]
    return _Today(*shared.causes.judged(candidate, candidate.unit))


def _search_job(job: tuple[tuple[str, int], _Today]) -> Explanation:
    """The offer's answer: searched (`_priced`), answered without a search (`_unusable`), or,
    where the search's time is up (`SearchStopped`), today's reason said as not searched."""
    shared = _SHARED[0]
    (key, nodes), today = job
    candidate = shared.found[key]
    cause = _binding(today.cause)
    unusable = _price_key(candidate) in shared.unusable
    if unusable:
        cause = Cause(cause.reason, f"takes no more nodes at any price (even {_usd(FLOOR / UNIT)}/h): {cause.sentence}")
    try:
        if unusable:
            bucket, value = _quota_value(shared.replan, candidate) if cause.reason == "quota" else (None, None)
            return Explanation(candidate.pool.name, candidate.offer, nodes, candidate.hourly, cause, None, bucket,
                               value, candidate.unit)
        return _priced(shared.replan, candidate, nodes, today.cause)
    except SearchStopped:
        what = "its quota's value" if unusable else "its break-even"
        limit = f"{shared.search_seconds:g}"
        return Explanation(candidate.pool.name, candidate.offer, nodes, candidate.hourly, Cause(cause.reason, (
            f"{cause.sentence}; {what} was not searched: explain starts no re-plan {limit} s after it "
            "begins (--search-seconds)")), unit=candidate.unit)


def _price_key(candidate: Candidate) -> str:
    offer = candidate.offer
    return price_key(offer.cloud, offer.region, offer.sku.instance_type, spot=candidate.pool.capacity == "spot")


def _unusable(spec: FleetSpec, listed: Sequence[Candidate]) -> frozenset[str]:
    """Price keys no plan can put a node on: every candidate priced by the key draws on a
    declared bucket of its region that holds less than one node of it. At any price of such a
    key the model has the same plans and each costs the same, so its re-plan at $0.01/h, which
    the search would make to find no break-even, is today's plan: it need not be made."""
    limits = declared_quotas(spec)
    users: dict[str, list[bool]] = {}
    for c in listed:
        full = any(limits.get(quota_key(c.cloud, c.region, b), ("", math.inf))[1] < quota_units(c.sku)
                   for b in c.buckets)
        users.setdefault(_price_key(c), []).append(full)
    return frozenset(key for key, full in users.items() if all(full))


def _priced(replan: Replanner, candidate: Candidate, nodes: int, today: Cause) -> Explanation:
    """An offer the model could use: what one more unit there breaks or costs today (`today`,
    `OfferCauses.judged`), the break-even price, and at $0.01/h what still binds if even that
    takes no more."""
    pool, offer, unit = candidate.pool, candidate.offer, candidate.unit
    key = _price_key(candidate)

    def taken(placements: Sequence[Placement]) -> int:
        return _nodes(placements, pool.name, offer.key)

    try:
        found = break_even(replan, key, candidate.hourly, taken, target=nodes + 1,
                           guess=_marginal(replan.plan(), candidate))
    except ReplanFailed as failed:
        cause = _binding(today)
        at = ", ".join(f"{k} at ${v:g}/h" for k, v in sorted(failed.overrides.items()))
        return Explanation(pool.name, offer, nodes, candidate.hourly, Cause(cause.reason, (
            f"{cause.sentence}; no break-even: the re-plan with {at} did not solve ({failed})")))
    even = found if isinstance(found, BreakEven) else None
    if isinstance(found, NoBreakEven):
        floor, lowest = found.placements, found.price_usd_per_hour
        catalog = replan.explained_spec.catalog().with_price_book({key: lowest}, PRICE_LABEL)
        at_floor = OfferCauses(replan.explained_spec, catalog, (), floor)
        free = next(c for c in candidates(replan.explained_spec, catalog)[0] if c.key == candidate.key)
        short = max(1, nodes + 1 - taken(floor))  # the floor's plan may hold some already
        cause = _binding(at_floor.blocked(free, unit * math.ceil(short / unit)))
        cause = Cause(cause.reason, f"takes no more nodes at any price (even {_usd(lowest)}/h): {cause.sentence}")
    else:
        cause = _binding(today)
    bucket, value = _quota_value(replan, candidate) if cause.reason == "quota" else (None, None)
    return Explanation(pool.name, offer, nodes, candidate.hourly, cause, even, bucket, value, unit)


def _marginal(base: Sequence[Placement], candidate: Candidate) -> float | None:
    """A first guess at the break-even in a region the plan has open: the candidate's GPUs at
    the dearest per-GPU price its pool pays today (exact when only the node price differs).
    None in a closed region, where opening it costs more than the nodes (the search starts at
    $0.01/h instead)."""
    if not any((p.cloud, p.region) == (candidate.cloud, candidate.region) for p in base):
        return None
    paid = [p.price_usd_per_hour / (p.gpus // p.nodes) for p in base if p.pool == candidate.pool.name]
    return max(paid) * candidate.sku.gpus if paid else None


def _binding(cause: Cause) -> Cause:
    """With no previous plan, 'breaks no rule and costs no more' can only be a tie the
    tie-break settled (`price`), not the placement fault it would be after a move."""
    if cause.reason != "stability":
        return cause
    return Cause("price", "it costs the same as the plan: the tie-break prefers the earlier offer")


def _quota_value(replan: Replanner, candidate: Candidate) -> tuple[str | None, float | None]:
    """The full bucket in the offer's region and what one more unit's worth of it (one node's
    unless the pool comes in training units) saves a month, by re-planning with it raised."""
    spec, base = replan.explained_spec, replan.plan()
    units = quota_units(candidate.sku) * candidate.unit
    wanted = {quota_key(candidate.cloud, candidate.region, b) for b in candidate.buckets}
    for use in quota_use(spec, spec.catalog(), base):
        if use.limit_vcpus is None or quota_key(use.cloud, use.region, use.bucket) not in wanted:
            continue
        if use.used_vcpus + units > use.limit_vcpus:
            region = next((r for r, b in spec.quotas.get(use.cloud, {}).items() if use.bucket in b), use.region)
            try:
                more = replan.plan(quota=(use.cloud, region, use.bucket, units))
            except ReplanFailed:
                return use.bucket, None  # the bucket binds; what more of it saves is not known
            saving = replan.total_usd(base) - replan.total_usd(more)
            return use.bucket, round(max(0.0, saving), 2)
    return None, None


def _nodes(placements: Sequence[Placement], pool: str, offer: str) -> int:
    return sum(p.nodes for p in placements if p.pool == pool and f"{p.cloud}/{p.region}/{p.instance_type}" == offer)


def _count(nodes: int) -> str:
    return f"{nodes} node{'' if nodes == 1 else 's'}"


def _usd(hourly: float) -> str:
    """An hourly price as found: cents, or to $0.0001 below a dollar where the search was finer."""
    return f"${hourly:,.2f}" if hourly >= 1 or round(hourly, 2) == hourly else f"${hourly:.4f}"
