"""Re-planning with one offer's price changed, and the break-even price found that way.

`Replanner` is the plan as a function of price overrides (and quota changes): it builds the
model from the spec with the overrides laid over the catalog as price-book entries (the
model's public construction, `placement.place` or `place_horizon`), so whatever the model
holds (quotas, shares, limits, address ranges, capacity blocks, unit constraints) is what the
answer obeys. Results are cached by override, so pools that share an offer share its probes.

`break_even` searches whole cents (finer below $2/h, to 0.5 % of the price): the highest
price at or below which the offer takes at least `target` nodes of the pool, proven by two
re-plans that close the bracket (at it: it takes them; at the bracket's top, or at today's
price: it does not). Between them it guesses where the cheapest
plan that takes the nodes and the cheapest that does not cost the same (the secant of their
ledger totals, exact when those two plans are the only ones that matter), confirms a guess
that takes the nodes one step of the resolution above, and halves the bracket between secants
otherwise, so it ends in a few re-plans and never in more than about twice a bisection's.
docs/design.md, "Explaining a plan".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

from gpufleet.catalog import Catalog
from gpufleet.cost import HOURS_PER_MONTH
from gpufleet.errors import InfeasibleError
from gpufleet.horizon import period_spec, periods
from gpufleet.pipeline import deployed_period
from gpufleet.placement import DEFAULT_OPTIONS, SolverOptions, place, plan_ledger
from gpufleet.placement.horizon import place_horizon
from gpufleet.plan import Placement
from gpufleet.spec import FleetSpec

PRICE_LABEL = "explain"
"""How an overridden price's source reads (`Catalog.with_price_book`)."""

Overrides = tuple[tuple[str, float], ...]
"""Price-book entries (`cloud/region/sku[:spot]`, $/hour) laid over the spec's catalog."""

QuotaChange = tuple[str, str, str, int]
"""(cloud, region, bucket as declared, units added) to the spec's declared quotas."""


def with_quota(spec: FleetSpec, change: QuotaChange) -> FleetSpec:
    """The spec with one declared quota raised (or lowered) by `units`."""
    cloud, region, bucket, units = change
    quotas = {c: {r: dict(b) for r, b in regions.items()} for c, regions in spec.quotas.items()}
    here = quotas.setdefault(cloud, {}).setdefault(region, {})
    here[bucket] = here.get(bucket, 0) + units
    return spec.model_copy(update={"quotas": quotas})


class SearchStopped(Exception):
    """A re-plan asked for after the search's deadline (`Replanner.deadline`): not made."""


class ReplanFailed(Exception):
    """A re-plan the solver did not finish (`InfeasibleError.solver_stopped`): the price it was
    asked at, and why."""

    def __init__(self, overrides: Mapping[str, float], error: InfeasibleError) -> None:
        super().__init__(str(error))
        self.overrides = dict(overrides)


@dataclass
class Replanner:
    """The explained plan's placements as a function of price overrides, cached.

    With a horizon the period explained is the deployed one (`period`, as `plan --period`), and
    each re-plan is the whole horizon's (the periods before and after it still count)."""

    spec: FleetSpec
    period: str | None = None
    probes: dict[tuple[Overrides, QuotaChange | None], tuple[Placement, ...]] = field(
        default_factory=dict[tuple[Overrides, "QuotaChange | None"], tuple[Placement, ...]]
    )
    deadline: float | None = None
    """`time.monotonic()` from which a re-plan not in the cache is not made (`SearchStopped`)."""

    @cached_property
    def explained_spec(self) -> FleetSpec:
        """The spec whose plan is explained: the deployed period's with a horizon."""
        if self.spec.horizon is None:
            return self.spec
        return period_spec(self.spec, periods(self.spec.horizon)[deployed_period(self.spec.horizon, self.period)])

    def plan(self, overrides: Mapping[str, float] = {}, quota: QuotaChange | None = None) -> tuple[Placement, ...]:
        key = (tuple(sorted(overrides.items())), quota)
        if key not in self.probes:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                raise SearchStopped
            try:
                self.probes[key] = self._solve(dict(overrides), quota)
            except InfeasibleError as error:
                if not overrides and quota is None:
                    raise  # the plan itself has none: `plan` says why
                raise ReplanFailed(overrides, error) from error
        return self.probes[key]

    def _solve(self, overrides: dict[str, float], quota: QuotaChange | None) -> tuple[Placement, ...]:
        spec = with_quota(self.spec, quota) if quota is not None else self.spec

        def priced(_: FleetSpec, catalog: Catalog) -> Catalog:
            return catalog.with_price_book(overrides, PRICE_LABEL) if overrides else catalog

        options = self._options()
        if spec.horizon is None:
            result = place(spec, priced(spec, spec.catalog()), options=options)
            status, proven, found = result.solver.status, ("Optimal",), result.placements
        else:  # over a horizon, "Feasible" is within the master's gap, as `plan` takes it
            over = place_horizon(spec, options=options, prices=priced)
            status, proven = over.solver.status, ("Optimal", "Feasible")
            found = over.placements[deployed_period(spec.horizon, self.period)]
        if status not in proven and (overrides or quota is not None):  # a re-plan stopped short proves nothing
            raise InfeasibleError.solver_stopped(status, options.time_limit_seconds)
        return found

    def _options(self) -> SolverOptions:
        """Each solve's time limit: at most `OVERRUN_SECONDS` past the deadline (so a re-plan
        started just before it ends soon after), never more than placement's own."""
        if self.deadline is None:
            return DEFAULT_OPTIONS
        left = self.deadline + OVERRUN_SECONDS - time.monotonic()
        return replace(DEFAULT_OPTIONS, time_limit_seconds=max(1.0, min(DEFAULT_OPTIONS.time_limit_seconds, left)))

    def total_usd(self, placements: Sequence[Placement]) -> float:
        """The ledger's monthly total of a plan of the explained period."""
        return plan_ledger(self.explained_spec, placements).total_usd


OVERRUN_SECONDS = 10.0
"""How long past `Replanner.deadline` a re-plan begun before it may solve (each HiGHS solve's
time limit): one re-plan of the 50-pool fleet takes 6 s on a quiet machine, several times that
under load. One stopped by it proves nothing (`ReplanFailed`), and its offer is not searched."""


@dataclass(frozen=True)
class BreakEven:
    price_usd_per_hour: float
    nodes: int
    """Nodes of the pool on the offer at that price."""


UNIT = 10_000
"""Prices are searched in whole hundredths of a cent ($0.0001/h)."""
FLOOR = 100
"""The lowest price tried, $0.01/h: an offer that takes no nodes at it takes none at any price."""


def _resolution(low: int) -> int:
    """How close the bracket closes: a cent, or 0.5 % of the price where that is finer (so a
    price 1 % either side of the answer is on the answer's side), at least $0.0001."""
    return min(FLOOR, max(1, low // 200))


@dataclass(frozen=True)
class NoBreakEven:
    """No price takes the nodes: the lowest price re-planned ($0.01/h, or the nearest above it
    that the solver finished, `NUDGES`) and that re-plan, where the rule that binds is found."""

    price_usd_per_hour: float
    placements: tuple[Placement, ...]


NUDGES = 3
"""Where the solver fails at a probed price, the neighbouring prices tried, $0.0001 at a time
either side (nearest first, inside the bracket): HiGHS's numerical "Solve error" comes and goes
with the exact coefficients (a 32,768-GPU fleet failed at $45.9999/h and solved at $45.9998
and $46.00 under every random seed), and a neighbour's re-plan is as good a proof."""


def break_even(
    replan: Replanner, price_key: str, today: float, taken: Callable[[Sequence[Placement]], int], *, target: int,
    guess: float | None = None,
) -> BreakEven | NoBreakEven:
    """The highest price below `today` (to a cent, or 0.5 % where finer) at which the offer
    (`price_key`) takes at least `target` nodes (`taken` counts them in a plan), or
    `NoBreakEven` when even $0.01/h does not. A `guess` ($/h) only saves re-plans when it is
    close; the answer does not depend on it. Every bracket end is a price re-planned: where the
    solver fails at a price, a neighbour (`NUDGES`) stands in for it; ReplanFailed only where
    every neighbour fails too."""

    def at(units: float) -> tuple[Placement, ...]:
        return replan.plan({price_key: units / UNIT})

    def near(units: int, low: float, high: float) -> tuple[int, tuple[Placement, ...]]:
        """The re-plan at `units`, or at the nearest price strictly inside (low, high) that the
        solver finishes."""
        failed: ReplanFailed | None = None
        for step in sorted(range(-NUDGES, NUDGES + 1), key=lambda n: (abs(n), n)):
            if low < units + step < high:
                try:
                    return units + step, at(units + step)
                except ReplanFailed as error:
                    failed = failed or error
        assert failed is not None  # `units` itself is inside the bracket
        raise failed

    low: int | None = None
    high, high_plan = today * UNIT, replan.plan()  # today's plan takes fewer: why it is explained
    first = math.floor(guess * UNIT + 1e-6) if guess is not None else 0
    if FLOOR < first < high:
        try:
            first, plan = near(first, FLOOR, high)
            if taken(plan) >= target:
                low = first
            else:
                high, high_plan = first, plan
        except ReplanFailed:
            pass  # a guess only saves re-plans
    if low is None:
        floor, plan = near(FLOOR, FLOOR - 1, high)
        if taken(plan) < target:
            return NoBreakEven(floor / UNIT, plan)
        low = floor
    step: str = "secant"
    while (below_high := math.ceil(high - 1e-6) - 1) > low and high - low > _resolution(low):
        if step == "secant":
            aim: float = _secant(replan, price_key, (at(low), low), (high_plan, high))
        else:
            aim = low + _resolution(low) if step == "confirm" else (low + high) // 2
        probe, plan = near(int(min(max(aim, low + 1), below_high)), low, high)
        took = taken(plan) >= target
        if took:
            low = probe
        else:
            high, high_plan = probe, plan
        # a secant that lands below the answer is usually on it: a step of the resolution
        # above confirms it; anything else halves the bracket once before the next secant
        after_secant = "confirm" if took else "halve"
        step = after_secant if step == "secant" else "secant" if step == "halve" else "halve"
    shown = low - low % FLOOR  # whole cents where the search was to a cent (above $2/h)
    if _resolution(low) == FLOOR and shown != low:
        try:
            if taken(at(shown)) >= target:
                low = shown
        except ReplanFailed:
            pass  # `low` is proven; the whole cent below it is only nicer to read
    return BreakEven(low / UNIT, taken(at(low)))


def _secant(
    replan: Replanner, price_key: str, taking_at: tuple[Sequence[Placement], int],
    other_at: tuple[Sequence[Placement], float],
) -> float:
    """The price (in `UNIT`s) where the plan that takes the nodes (priced at `low`) and the one
    that does not (at `high`) cost the same, each repriced along its own nodes on the offer."""
    (taking, low), (other, high) = taking_at, other_at
    on_taking, on_other = _nodes_on(taking, price_key), _nodes_on(other, price_key)
    if on_taking <= on_other:
        return (low + high) // 2
    cost_taking = replan.total_usd(taking)
    cost_other = replan.total_usd(other) + on_other * (low - high) / UNIT * HOURS_PER_MONTH
    units = low + (cost_other - cost_taking) / ((on_taking - on_other) * HOURS_PER_MONTH) * UNIT
    return math.ceil(units - 1e-6) - 1  # just below the tie: at it, the tie-break decides


def _nodes_on(placements: Sequence[Placement], price_key: str) -> int:
    """Nodes, over every pool, that an override of `price_key` prices."""
    path, _, kind = price_key.partition(":")
    spot = kind == "spot"
    return sum(
        p.nodes for p in placements
        if f"{p.cloud}/{p.region}/{p.instance_type}" == path and (p.capacity == "spot") == spot
    )
