"""Placement over a horizon (`place_horizon`, docs/design.md, "Multi-period placement").

Without a contract nothing ties one period's money to another's, so each period is today's
single-period placement (`place`) of the period's spec, with the period before as its previous
plan: the first period is exactly the plan `place` gives, and later periods keep earlier nodes
within `placement.stability_tolerance`. With a contract, one MILP over all periods
(`joint.HorizonModel`), solved exactly by column generation (`master.Master`) with the same
lexicographic levels as one period: money paid above the commitments (level 1), then total
spend (level 2). Then each period in turn keeps the nodes of the period before where that
costs at most `placement.stability_tolerance` more and burns no less of any contract
(stability), and takes the earliest candidates among equal-cost ones (tie-break). Deploy limits
are lazy rows here too: a period plan that breaks one adds the place's rows to its group.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from gpufleet.catalog import Catalog
from gpufleet.errors import InfeasibleError
from gpufleet.horizon import Period, contract_clouds, contract_terms, period_spec, periods
from gpufleet.placement.candidates import Candidate, candidates, placement_of, undominated
from gpufleet.placement.formulation import Formulation, cost_model
from gpufleet.placement.joint import BlockCosts
from gpufleet.placement.master import Column, Group, Master, NoPlan, Pricing, groups_of, level_one, level_two
from gpufleet.placement.milp import Solved
from gpufleet.placement.options import DEFAULT_OPTIONS, SolverOptions
from gpufleet.placement.solve import PlacementResult, broken_limits, place, tie_break_rows
from gpufleet.plan import Placement, SolverReport
from gpufleet.spec import FleetSpec

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
    """What tells period specs apart: pool sizes and discounts (the rest is the spec's)."""
    return (tuple(p.gpus for p in spec.pools), tuple(sorted(spec.budget.discounts().items())))


def _one_by_one(
    cut: Sequence[Period], specs: Sequence[FleetSpec], previous: Sequence[Placement], options: SolverOptions,
    priced: _Prices,
) -> HorizonResult:
    """Each period placed alone, after the one before (identical inputs solved once)."""
    solved: dict[tuple[object, ...], PlacementResult] = {}
    plans: list[tuple[Placement, ...]] = []
    reports: list[SolverReport] = []
    skipped: set[str] = set()
    before = tuple(previous)
    for period, period_spec_ in zip(cut, specs, strict=True):
        key = (_spec_key(period_spec_), before)
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


def _slack(value: float) -> float:
    """Room when holding an optimum as a row: float noise only (as `solve._slack`)."""
    return 1e-6 + 1e-9 * abs(value)


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
    finished: dict[tuple[object, ...], tuple[Placement, ...]] = field(
        default_factory=dict[tuple[object, ...], tuple[Placement, ...]]
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
            first, _ = master.solve(level_one, 1.0)
            master.hold(level_one, first)
            _, counts = master.solve(level_two, 0.0)
        except NoPlan as failed:
            self._explain(failed)
        self.solves += master.solves
        chosen: dict[int, Column] = {}
        for g, group in enumerate(groups):
            planned = [c for c, n in zip(master.columns, counts, strict=True) if c.group == g for _ in range(n)]
            chosen.update(zip(group.periods, planned, strict=True))
        plans: list[tuple[Placement, ...]] = []
        before = self.previous
        group_of = {p: group for group in groups for p in group.periods}
        for period in self.cut:
            group = group_of[period.index]
            before = self._finish(group, pricing[group.key], chosen[period.index], before)
            plans.append(before)
        skipped = sorted({s for _, out in found.values() for s in out})
        return HorizonResult(tuple(self.cut), tuple(self.specs), tuple(plans), self._report(plans[0], master.gap),
                             tuple(skipped))

    def _report(self, first: Sequence[Placement], gap: float) -> SolverReport:
        worst = next((s for s in self.solves if not s.optimal), None)
        kept = {p.key: p.nodes for p in self.previous}
        return SolverReport(
            status=worst.status if worst is not None else "Optimal",
            optimality_gap=max([gap, *(s.gap for s in self.solves)]),
            seconds=round(sum(s.seconds for s in self.solves), 4),
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
        self, group: Group, pricing: Pricing, column: Column, before: Sequence[Placement]
    ) -> tuple[Placement, ...]:
        """The period's placements: the column's plan, kept closer to the period before within
        the stability tolerance, then the earliest candidates among equal-cost ones (the same
        inputs give the same placements: solved once)."""
        key = (group.key, group.months, tuple(sorted(column.nodes.items())), tuple(before))
        if key not in self.finished:
            self.finished[key] = self._finished(group, pricing, column, before)
        return self.finished[key]

    def _finished(
        self, group: Group, pricing: Pricing, column: Column, before: Sequence[Placement]
    ) -> tuple[Placement, ...]:
        while True:
            keep = {p.key for p in before}
            usable = {c.key for c in undominated(group.spec, pricing.found, keep, pricing.limited)} | set(column.nodes)
            cands = [c for c in pricing.found if c.key in usable]
            form = cost_model(group.spec, cands, None, grouped=False, limited=pricing.limited)
            costs = BlockCosts.of(form, group.months, pricing.contracts)
            solved = Solved("Optimal", True, True, form.solution_for(column.nodes), 0.0, 0.0, 0.0)
            was = {p.key: p.nodes for p in before}
            if any(n > column.nodes.get(key, 0) for key, n in was.items()):
                solved = self._steady(form, costs, column, was, solved)
            objective = tie_break_rows(form, solved)
            solved = self._record(form.milp.solve(objective, solved.values, options=self.options))
            placements = tuple(placement_of(c, n) for c, n in zip(form.cands, form.nodes(solved), strict=True) if n > 0)
            broken = broken_limits(group.spec, placements) - pricing.limited
            if not broken:
                return placements
            pricing.limit(broken)

    def _steady(
        self, form: Formulation, costs: BlockCosts, column: Column, was: Mapping[str, int], solved: Solved
    ) -> Solved:
        """Most nodes kept from the period before among plans that cost at most the stability
        tolerance more on both levels and burn no less of any contract; then the least cost
        and spend among those (as `solve._keep_previous` does for one period)."""
        tolerance = self.spec.placement.stability_tolerance
        m = form.milp
        allowed = column.cost + tolerance * column.spend
        m.row(-math.inf, allowed + _slack(allowed), costs.cost)
        m.row(-math.inf, column.spend * (1 + tolerance) + _slack(column.spend), costs.spend)
        for cloud, row in costs.burn.items():
            m.row(column.burn[cloud] - _slack(column.burn[cloud]), math.inf, row)
        kept: dict[int, float] = {}
        start = list(solved.values)
        for i, c in enumerate(form.cands):
            if was.get(c.key, 0) > 0:
                col = m.col(0.0, float(was[c.key]))
                m.row(-math.inf, 0.0, {col: 1.0, form.x[i]: -1.0})
                kept[col] = -1.0
                start.append(min(start[form.x[i]], was[c.key]))
        most = self._record(m.solve(kept, start, options=self.options))
        m.row(-math.inf, most.objective + _slack(most.objective), kept)
        least = self._record(m.solve(costs.cost, most.values, options=self.options))
        m.row(-math.inf, least.objective + _slack(least.objective), costs.cost)
        return self._record(m.solve(costs.spend, least.values, proving=True, options=self.options))

    def _record(self, solved: Solved) -> Solved:
        self.solves.append(solved)
        return solved
