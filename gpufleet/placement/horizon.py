"""Placement over a horizon (`place_horizon`, docs/design.md, "Multi-period placement").

Without a contract nothing ties one period's money to another's, so each period is today's
single-period placement (`place`) of the period's spec, with the period before as its previous
plan: the first period is exactly the plan `place` gives, and later periods keep earlier nodes
within `placement.stability_tolerance`. With a contract, one MILP over all periods
(`joint.HorizonModel`), solved by column generation (`master.Master`) and, where its LP mixes
plans, node by node in the joint MILP (`closing.close`), to within `HORIZON_GAP` of the
optimum, with the same lexicographic levels as one period: money paid above the commitments
(level 1), then total spend (level 2). Then each period in turn keeps the nodes of the period before where that
costs at most `placement.stability_tolerance` more and burns no less of any contract
(stability), and takes the earliest candidates among equal-cost ones (tie-break). Deploy limits
are lazy rows here too: a period plan that breaks one adds the place's rows to its group.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from gpufleet.burn import settle
from gpufleet.catalog import Catalog, Cloud
from gpufleet.errors import InfeasibleError
from gpufleet.horizon import (
    HORIZON_GAP,
    Period,
    Stretch,
    Terms,
    contract_clouds,
    contract_terms,
    period_spec,
    periods,
    relative_gap,
)
from gpufleet.placement.candidates import Candidate, candidates, placement_of, undominated
from gpufleet.placement.closing import close
from gpufleet.placement.formulation import Formulation, cost_model
from gpufleet.placement.joint import BlockCosts
from gpufleet.placement.master import Column, Group, Level, Master, NoPlan, Pricing, groups_of, level_one, level_two
from gpufleet.placement.milp import Milp, Solved, slack
from gpufleet.placement.options import DEFAULT_OPTIONS, SolverOptions
from gpufleet.placement.solve import PlacementResult, broken_limits, place, tie_break_rows
from gpufleet.plan import Placement, SolverReport
from gpufleet.spec import FleetSpec

# Branch-and-bound nodes a finishing solve may search: a count, not a time, so the plan never
# depends on the machine. Their plans are started from a feasible one and bounded by proven
# rows; on the two-deals example the pace and tie-break solves proved within 200 nodes except
# a few knapsacks over equal-price regions, which took seconds for no better plan.
FINISH_NODES = 500

PriceHook = Callable[[FleetSpec, Catalog], Catalog]
"""Turns a period's catalog into the one it is priced with (`place_horizon(prices=...)`): a
way to ask what the plan would be at other prices without another spec."""


@dataclass(frozen=True)
class HorizonResult:
    """Each period's spec (pools at the period's size) and placements, and one solver report."""

    periods: tuple[Period, ...]
    specs: tuple[FleetSpec, ...]
    placements: tuple[tuple[Placement, ...], ...]
    solver: SolverReport
    skipped: tuple[str, ...]


def place_horizon(
    spec: FleetSpec,
    previous: Sequence[Placement] = (),
    options: SolverOptions = DEFAULT_OPTIONS,
    prices: PriceHook | None = None,
) -> HorizonResult:
    """The optimal placement of every period of the spec's horizon; InfeasibleError names the
    period and what to change if one has none. `previous` is what runs before the horizon."""
    assert spec.horizon is not None  # callers plan specs without one with `place`
    cut = periods(spec.horizon)
    specs = tuple(period_spec(spec, p) for p in cut)
    priced = _Prices(prices)
    if not contract_clouds(spec):
        return _one_by_one(cut, specs, previous, options, priced)
    return _Joint(spec, cut, specs, tuple(previous), options, priced).solve()


@dataclass
class _Prices:
    """Each period spec's catalog, made once per distinct spec."""

    hook: PriceHook | None
    made: dict[tuple[object, ...], Catalog] = field(default_factory=dict[tuple[object, ...], Catalog])

    def __call__(self, spec: FleetSpec) -> Catalog:
        key = _spec_key(spec)
        if key not in self.made:
            catalog = spec.catalog()
            self.made[key] = self.hook(spec, catalog) if self.hook is not None else catalog
        return self.made[key]


def _spec_key(spec: FleetSpec) -> tuple[object, ...]:
    """What tells period specs apart: pool sizes, discounts and the capacity blocks that run
    (the rest is the spec's)."""
    return (tuple(p.gpus for p in spec.pools), tuple(sorted(spec.budget.discounts().items())), spec.capacity.blocks)


def _one_by_one(
    cut: Sequence[Period], specs: Sequence[FleetSpec], previous: Sequence[Placement], options: SolverOptions,
    priced: _Prices,
) -> HorizonResult:
    """Each period placed alone, after the one before; a period like the one before keeps its
    plan (placing it again after that plan keeps every node), identical inputs solved once."""
    solved: dict[tuple[object, ...], PlacementResult] = {}
    plans: list[tuple[Placement, ...]] = []
    reports: list[SolverReport] = []
    skipped: set[str] = set()
    before = tuple(previous)
    last: tuple[object, ...] | None = None
    for period, period_spec_ in zip(cut, specs, strict=True):
        if _spec_key(period_spec_) == last:  # the period before, again: its plan stays
            plans.append(before)
            continue
        last = _spec_key(period_spec_)
        key = (last, before)
        if key not in solved:
            try:
                solved[key] = place(period_spec_, priced(period_spec_), before, options)
            except InfeasibleError as error:
                raise InfeasibleError(f"period {period.start}: {error}") from None
            reports.append(solved[key].solver)
        result = solved[key]
        plans.append(result.placements)
        skipped |= set(result.skipped)
        before = result.placements
    return HorizonResult(tuple(cut), tuple(specs), tuple(plans), _combined(reports, plans[0], previous),
                         tuple(sorted(skipped)))


def _combined(
    reports: Sequence[SolverReport], first: Sequence[Placement], previous: Sequence[Placement]
) -> SolverReport:
    """One report for many solves: the worst status, the largest gap, the time of all; the
    objective is the pipeline's to state (the deployed period's)."""
    worst = next((r for r in reports if r.status != "Optimal"), reports[-1])
    kept = {p.key: p.nodes for p in previous}
    return SolverReport(
        status=worst.status,
        optimality_gap=max(r.optimality_gap for r in reports),
        seconds=round(sum(r.seconds for r in reports), 4),
        objective_usd=0.0,
        kept_from_previous=sum(min(p.nodes, kept.get(p.key, 0)) for p in first),
    )


@dataclass(frozen=True)
class _Finished:
    """A period's final placements, and its cost, spend and burn per contract cloud."""

    placements: tuple[Placement, ...]
    cost: float
    spend: float
    burn: Mapping[Cloud, float]


def _paces(
    terms: Sequence[Terms], cut: Sequence[Period], burns: Mapping[int, Mapping[Cloud, float]],
    most: Mapping[int, Mapping[Cloud, float]], binding: set[tuple[Cloud, int]],
) -> dict[int, dict[Cloud, float]]:
    """Each period's monthly burn per contract cloud that changes as little as it can from one
    period to the next (an LP: Σ |Δ burn| least), no more in a period than its most burning
    plan found (`most`: more would add nodes) nor, over the contract clouds, than the plan's
    burn there (a pace is burn moved between clouds, not added), where burn counts: in the
    window of a checkpoint the cost levels burn to its minimum (`binding`).

    The optimum has many plans of one cost there: a contract year's minimum burned early or
    late costs the same, and the plan found may swing between clouds. The paced plan keeps
    the fleet steady, so stability prefers it when it costs no more. It burns, before credit,
    what the plan burns in each run of months on the same side of every checkpoint (`Stretch`:
    the same windows, the same credit earned before): credit is only earned at a checkpoint's
    due and drawn by the months after it in order, so each checkpoint's counted burn, shortfall
    and credit drawn stay the plan's. Where more burn is worth nothing no pace is asked."""
    lp = Milp()
    pace: dict[tuple[Cloud, int], int] = {}
    smooth: dict[int, float] = {}
    for t in terms:
        counts = {k for k in range(len(t.checkpoints)) if (t.cloud, k) in binding}
        runs: dict[tuple[tuple[int, ...], int], list[Stretch]] = {}
        for stretch in t.stretches:
            if set(stretch.windows) & counts:
                runs.setdefault((stretch.windows, stretch.credit), []).append(stretch)
        paced = sorted({s.period for run in runs.values() for s in run})
        for p in paced:
            pace[t.cloud, p] = lp.col(0.0, max(most[p].get(t.cloud, 0.0), burns[p].get(t.cloud, 0.0)))
        for run in runs.values():
            burned = sum(s.months * burns[s.period].get(t.cloud, 0.0) for s in run)
            row: dict[int, float] = {}
            for s in run:
                row[pace[t.cloud, s.period]] = row.get(pace[t.cloud, s.period], 0.0) + s.months
            lp.row(burned - slack(burned), burned, row)
        for before, after in itertools.pairwise(paced):
            change = lp.col(0.0, math.inf)  # ≥ |pace after − pace before|
            lp.row(0.0, math.inf, {change: 1.0, pace[t.cloud, after]: -1.0, pace[t.cloud, before]: 1.0})
            lp.row(0.0, math.inf, {change: 1.0, pace[t.cloud, after]: 1.0, pace[t.cloud, before]: -1.0})
            smooth[change] = 1.0
    paces: dict[int, dict[Cloud, float]] = {p.index: {} for p in cut}
    if not pace:
        return paces
    for period in cut:
        clouds = [cloud for cloud, p in pace if p == period.index]
        if len(clouds) > 1:
            total = sum(burns[period.index].get(cloud, 0.0) for cloud in clouds)
            lp.row(-math.inf, total + slack(total), {pace[cloud, period.index]: 1.0 for cloud in clouds})
    solved = lp.solve(smooth)
    for (cloud, p), col in pace.items():
        paces[p][cloud] = solved.values[col]
    return paces


def _within(value: float, bound: float) -> bool:
    """Whether a level's value is proven within `HORIZON_GAP` of the optimum by its bound."""
    return math.isfinite(value) and relative_gap(value, bound) <= HORIZON_GAP


@dataclass
class _Joint:
    """The master's two cost levels, then each period's stability and tie-break."""

    spec: FleetSpec
    cut: Sequence[Period]
    specs: Sequence[FleetSpec]
    previous: tuple[Placement, ...]
    options: SolverOptions
    priced: _Prices
    solves: list[Solved] = field(default_factory=list[Solved])
    finish_seconds: float = 0.0
    finished: dict[tuple[object, ...], _Finished | None] = field(
        default_factory=dict[tuple[object, ...], "_Finished | None"]
    )
    cheapest: dict[tuple[object, ...], tuple[Solved, float | None] | None] = field(
        default_factory=dict[tuple[object, ...], "tuple[Solved, float | None] | None"]
    )

    def solve(self) -> HorizonResult:
        terms = contract_terms(self.spec, self.cut)
        contracts = {t.cloud: t.contract for t in terms}
        groups = groups_of(self.specs, self.cut, terms, _spec_key)
        found: dict[tuple[object, ...], tuple[list[Candidate], list[str]]] = {}
        pricing: dict[tuple[object, ...], Pricing] = {}
        for group in groups:
            if group.key not in pricing:
                found[group.key] = candidates(group.spec, self.priced(group.spec))
                pricing[group.key] = Pricing(group.spec, found[group.key][0], contracts)
        master = Master(groups, terms, self.options, pricing)
        try:
            first, chosen = self._level(master, level_one, 1.0, None)
            master.hold(level_one, first)
            spent, chosen = self._level(master, level_two, 0.0, chosen)
        except NoPlan as failed:
            self._explain(failed)
        self.solves += master.solves
        group_of = {p: group for group in groups for p in group.periods}
        own = {p: dict(column.burn) for p, column in chosen.items()}
        most = {
            p: {t.cloud: max(c.burn.get(t.cloud, 0.0) for c in master.columns if c.group == g) for t in terms}
            for g, group in enumerate(groups) for p in group.periods
        }
        paces = _paces(terms, self.cut, own, most, master.binding)
        plans = self._schedule(group_of, pricing, chosen, paces, within=(first, spent))
        if plans is None or not self._steadier_allowed(self._costs(plans, terms), first, spent):
            plans = self._schedule(group_of, pricing, chosen, own)
        assert plans is not None  # each column burns its own burn: a plan always meets it
        skipped = sorted({s for _, out in found.values() for s in out})
        report = self._report(plans[0].placements, self._gap(master, plans, terms, (first, spent)), master.side_seconds)
        placements = tuple(plan.placements for plan in plans)
        return HorizonResult(tuple(self.cut), tuple(self.specs), placements, report, tuple(skipped))

    def _level(
        self, master: Master, level: Level, contract_weight: float, before: Mapping[int, Column] | None
    ) -> tuple[float, dict[int, Column]]:
        """A cost level's value and plan per period: the master's LP if its counts are whole
        (proven); else a start: the level before's plan (which meets every level held) or, if
        that is not within `HORIZON_GAP` of the LP's bound, whole counts of the master's plans
        if they are better; kept if within `HORIZON_GAP`, else made whole node by node
        (`closing.close`)."""
        relaxed = master.solve(level, contract_weight)
        if relaxed is not None:
            return relaxed[0], master.per_period(relaxed[1])
        value = math.inf if before is None else self._value(level, before, master.terms)
        if not _within(value, master.bounds[-1]):
            whole, counts = master.whole(level, contract_weight)
            if whole < value:
                before, value = master.per_period(counts), whole
        assert before is not None
        if _within(value, master.bounds[-1]):
            return value, dict(before)
        return close(master, self.spec, self.cut, level, before, options=self.options)

    def _value(self, level: Level, plans: Mapping[int, Column], terms: Sequence[Terms]) -> float:
        """A level's value of a plan per period (its contracts settled by their rule)."""
        columns = [plans[period.index] for period in self.cut]
        return level(*self._costs([_Finished((), c.cost, c.spend, c.burn) for c in columns], terms))

    def _schedule(
        self, group_of: Mapping[int, Group], pricing: Mapping[tuple[object, ...], Pricing],
        chosen: Mapping[int, Column], targets: Mapping[int, Mapping[Cloud, float]],
        within: tuple[float, float] | None = None,
    ) -> list[_Finished] | None:
        """Each period finished in order after the one before; None if a period cannot burn
        its target, or (given the levels' optimum `within`) once the periods finished and the
        least the others may cost already put the schedule beyond the stability tolerance
        (`_steadier_allowed`): it would be dropped. A period burning at least its target
        spends at least that, and on a contract cloud its cost counts its whole spend; the
        contracts add shortfalls less credit drawn, never less than 0. On the 50-pool benchmark
        with contracts a paced schedule dropped at its end searched 12 periods × 500 nodes."""
        least = [p.months * sum(usd - slack(usd) for usd in targets[p.index].values()) for p in self.cut]
        plans: list[_Finished] = []
        before = self.previous
        for i, period in enumerate(self.cut):
            ahead = sum(least[i:])
            levels = (sum(p.cost for p in plans) + ahead, sum(p.spend for p in plans) + ahead)
            if within is not None and not self._steadier_allowed(levels, *within):
                return None
            group = group_of[period.index]
            done = self._finish(group, pricing[group.key], chosen[period.index], before, targets[period.index])
            if done is None:
                return None
            plans.append(done)
            before = done.placements
        return plans

    def _costs(self, plans: Sequence[_Finished], terms: Sequence[Terms]) -> tuple[float, float]:
        """A schedule's level 1 cost (its contracts settled by their rule, `burn.settle`) and
        its spend, over every period."""
        total = sum(plan.cost for plan in plans)
        for t in terms:
            by_month = {
                month: plan.burn.get(t.cloud, 0.0)
                for period, plan in zip(self.cut, plans, strict=True)
                for month in range(max(period.first, t.contract.first), min(period.end, t.contract.end))
            }
            total += settle(t.checkpoints, by_month, t.contract.shortfall == "credit").cost()
        return total, sum(plan.spend for plan in plans)

    def _gap(
        self, master: Master, plans: Sequence[_Finished], terms: Sequence[Terms], found: tuple[float, float]
    ) -> float:
        """How far the cost levels may be from the optimum, relative: the larger of each
        level's gap between the best plan found (the levels' or the steadier schedule, if
        cheaper) and its bound (level 2's holds level 1 at the value found)."""
        final = self._costs(plans, terms)
        return max(
            relative_gap(min(value, done), bound)
            for value, done, bound in zip(found, final, master.bounds, strict=True)
        )

    def _steadier_allowed(self, levels: tuple[float, float], cost: float, spend: float) -> bool:
        """Whether a steadier schedule's (cost, spend) are within the stability tolerance of the
        levels' optimum on both levels, as each period's `_steady` holds them."""
        tolerance = self.spec.placement.stability_tolerance
        allowed = cost + tolerance * spend
        return levels[0] <= allowed + slack(allowed) and levels[1] <= spend * (1 + tolerance) + slack(spend)

    def _report(self, first: Sequence[Placement], gap: float, side_seconds: float) -> SolverReport:
        """The worst status and largest gap of every solve; the master's gap to its bound
        (a plan within it is not a proven optimum: "Feasible")."""
        worst = next((s for s in self.solves if not s.optimal), None)
        kept = {p.key: p.nodes for p in self.previous}
        status = worst.status if worst is not None else "Optimal" if gap <= HORIZON_GAP else "Feasible"
        return SolverReport(
            status=status,
            optimality_gap=max([gap, *(s.gap for s in self.solves)]),
            seconds=round(side_seconds + self.finish_seconds + sum(s.seconds for s in self.solves), 4),
            objective_usd=0.0,
            kept_from_previous=sum(min(p.nodes, kept.get(p.key, 0)) for p in first),
        )

    def _explain(self, failed: NoPlan) -> NoReturn:
        """A period without a plan of its own: `place` says why (or the solver stopped)."""
        period = self.cut[failed.period]
        spec = self.specs[failed.period]
        try:
            place(spec, self.priced(spec), options=self.options)
        except InfeasibleError as error:
            raise InfeasibleError(f"period {period.start}: {error}") from None
        raise InfeasibleError.solver_stopped(failed.status, self.options.time_limit_seconds)

    def _finish(
        self, group: Group, pricing: Pricing, column: Column, before: Sequence[Placement],
        target: Mapping[Cloud, float],
    ) -> _Finished | None:
        """The period's placements: its cheapest plan burning at least `target` per month on
        each contract cloud, kept closer to the period before within the stability tolerance,
        then the earliest candidates among equal-cost ones; None if no plan burns the target.
        The same inputs give the same placements: solved once."""
        key = (group.key, group.months, tuple(sorted(column.nodes.items())), tuple(before),
               tuple(sorted(target.items())))
        if key not in self.finished:
            self.finished[key] = self._finished(group, pricing, column, before, target)
        return self.finished[key]

    def _finished(
        self, group: Group, pricing: Pricing, column: Column, before: Sequence[Placement],
        target: Mapping[Cloud, float],
    ) -> _Finished | None:
        while True:
            keep = {p.key for p in before}
            usable = {c.key for c in undominated(group.spec, pricing.found, keep, pricing.limited)} | set(column.nodes)
            cands = [c for c in pricing.found if c.key in usable]
            form = cost_model(group.spec, cands, None, grouped=False, limited=pricing.limited)
            costs = BlockCosts.of(form, group.months, pricing.contracts)
            m = form.milp
            for cloud, usd in target.items():
                m.row(usd - slack(usd), math.inf, costs.burn[cloud])
            own = all(column.burn.get(cloud, 0.0) >= usd - slack(usd) for cloud, usd in target.items())
            key = (group.key, group.months, tuple(c.key for c in cands), pricing.limited,
                   tuple(sorted(target.items())), tuple(sorted(column.nodes.items())) if own else None)
            if key not in self.cheapest:
                self.cheapest[key] = self._cheapest(form, costs, form.solution_for(column.nodes) if own else None)
            cheapest = self.cheapest[key]
            if cheapest is None:  # no plan burns the target (or none found within the nodes)
                return None
            solved, held = cheapest
            if held is not None:  # the rows the solve left, so the solves after see the same model
                m.row(-math.inf, held, costs.cost)
            was = {p.key: p.nodes for p in before}
            nodes = form.nodes(solved)
            if any(n > nodes[i] for i, c in enumerate(form.cands) if (n := was.get(c.key, 0))):
                solved = self._steady(form, costs, was, solved)
            objective = tie_break_rows(form, solved)
            solved = self._quick(m, objective, solved.values)
            placements = tuple(placement_of(c, n) for c, n in zip(form.cands, form.nodes(solved), strict=True) if n > 0)
            broken = broken_limits(group.spec, placements) - pricing.limited
            if not broken:
                cost, spend, burn = costs.value(solved.values)
                return _Finished(placements, cost, spend, burn)
            pricing.limit(broken)

    def _cheapest(
        self, form: Formulation, costs: BlockCosts, start: Sequence[float] | None
    ) -> tuple[Solved, float | None] | None:
        """The period's cheapest plan burning its target (its burn rows in `form`), then the
        least spend among those (holding the cost by a row: its bound, or None without a
        second solve); None if no plan is found. Periods alike (the same spec, candidates,
        limits, target and start) have the same model and HiGHS is deterministic, so
        `_finished` solves it once for them: on the 50-pool benchmark with contracts the
        paced schedule asked the same 500-node search of three quarters in a row."""
        m = form.milp
        solved = self._quick(m, costs.cost, start)
        if not solved.feasible:
            return None
        if costs.spend == costs.cost:  # equal without flat commitments: nothing to solve
            return solved, None
        held = solved.objective + slack(solved.objective)
        m.row(-math.inf, held, costs.cost)
        return self._quick(m, costs.spend, solved.values), held

    def _steady(self, form: Formulation, costs: BlockCosts, was: Mapping[str, int], solved: Solved) -> Solved:
        """Most nodes kept from the period before among plans that cost at most the stability
        tolerance more than `solved` on both levels, burn the same target and give no pool more
        GPUs than `solved` (a kept node replaces one); then the least cost and spend among those
        (as `solve._keep_previous` does for one period)."""
        tolerance = self.spec.placement.stability_tolerance
        m = form.milp
        cost, spend, _ = costs.value(solved.values)
        allowed = cost + tolerance * spend
        m.row(-math.inf, allowed + slack(allowed), costs.cost)
        m.row(-math.inf, spend * (1 + tolerance) + slack(spend), costs.spend)
        gpus: dict[str, dict[int, float]] = {}  # kept nodes replace nodes, never add to a pool
        for i, c in enumerate(form.cands):
            gpus.setdefault(c.pool.name, {})[form.x[i]] = float(c.sku.gpus)
        for row in gpus.values():
            m.row(-math.inf, sum(v * solved.values[col] for col, v in row.items()), row)
        kept: dict[int, float] = {}
        start = list(solved.values)
        for i, c in enumerate(form.cands):
            if was.get(c.key, 0) > 0:
                col = m.col(0.0, float(was[c.key]))
                m.row(-math.inf, 0.0, {col: 1.0, form.x[i]: -1.0})
                kept[col] = -1.0
                start.append(min(start[form.x[i]], was[c.key]))
        most = self._quick(m, kept, start)
        m.row(-math.inf, most.objective + slack(most.objective), kept)
        least = self._quick(m, costs.cost, most.values)
        if costs.spend == costs.cost:
            return least
        m.row(-math.inf, least.objective + slack(least.objective), costs.cost)
        return self._quick(m, costs.spend, least.values)

    def _quick(self, milp: Milp, objective: Mapping[int, float], start: Sequence[float] | None) -> Solved:
        """A finishing solve (pace, stability, tie-break): at most `FINISH_NODES` nodes of
        search, ended once within `HORIZON_GAP` of its bound (on the 50-pool benchmark with
        contracts, searches at 2.4e-5 and 3.3e-6 spent all 500 nodes), its best plan taken.
        What it may cost is bounded by rows the cost levels proved (the stability tolerance,
        the class counts), so it claims no optimum and its status is not the plan's; its time
        is."""
        solved = milp.solve(objective, start, max_nodes=FINISH_NODES, gap=HORIZON_GAP, options=self.options)
        self.finish_seconds += solved.seconds
        return solved
