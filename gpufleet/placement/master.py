"""`HorizonModel` solved exactly by column generation over the periods (docs/design.md,
"Multi-period placement").

The joint MILP is a block per period joined by a few contract rows, and branch-and-bound over
it is slow: each period's small integrality gap (a region's fixed cost, an address range's last
node) multiplies with every other period's. But periods are alike: periods with the same pool
sizes, discounts and place in every contract (same contract year, same side of each milestone)
are interchangeable, so a group of them needs only a count of periods per plan. The master
problem holds, per group, plans (columns) and how many of its periods use each; the contracts'
rows, shortfalls and credit as `HorizonModel` states them; and the levels already solved as
rows. A group's next plan is the single-period model's optimum at the prices the master's duals
set (`Pricing`): a contract cloud's burn is worth what the contract's rows say it is.

The master's LP optimum over every plan is a lower bound of the joint MILP (each group's periods
may only mix whole plans; the LP lets them mix fractions). When no plan prices below its group's
dual, the LP is that bound (`bounds`); when its counts are whole, they are the joint MILP's
optimum, proven. Otherwise plans near the LP's mix are added (`_around`), and the caller makes
the counts whole: whole counts of the plans found (`whole`, the master as a MILP) are a start,
and `closing.close` adjusts it node by node in the joint MILP until it is proven within
`HORIZON_GAP` of the bound: a commitment burned exactly to its minimum is met by whole plans
only to a whole period's plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import product

from gpufleet.catalog import Cloud
from gpufleet.horizon import HORIZON_GAP, Period, Terms
from gpufleet.placement.candidates import Candidate, placement_of, undominated
from gpufleet.placement.formulation import Formulation, cost_model, offer_bounds
from gpufleet.placement.joint import BlockCosts
from gpufleet.placement.milp import Milp, Solved, slack
from gpufleet.placement.options import SolverOptions
from gpufleet.placement.solve import broken_limits
from gpufleet.spec import FleetSpec
from gpufleet.spechorizon import Contract

# Branch-and-bound nodes for whole counts of the plans found (`Master.solve`): its plan's gap is
# measured to the LP's bound, so proving it best among those plans adds nothing but time (on
# the 84-month two-deals fleet: 9.7 s to prove what 2,000 nodes had found).
WHOLE_NODES = 2_000

# Branch-and-bound nodes for a plan near the LP's mix (`Master._around`): such a plan is a start
# for the whole counts, never part of a bound, so a good one is enough. Burning at least (or
# at most) an average is a knapsack: on the 50-pool benchmark with contracts one such search
# ran HiGHS's whole time limit (37,656 nodes, 1.6e-6 from its bound), another 7,693 nodes.
AROUND_NODES = 200

Level = Callable[[float, float], float]
"""A level's objective of a plan from its (cost, spend)."""


@dataclass(frozen=True)
class Column:
    """One plan of a group's period: nodes per candidate key, and per period its level 1 cost,
    its spend and its monthly burn per contract cloud (as the joint model counts them)."""

    group: int
    nodes: Mapping[str, int]
    cost: float
    spend: float
    burn: Mapping[Cloud, float]


@dataclass
class Group:
    """Interchangeable periods: the same period spec, months and place in every contract."""

    periods: list[int]
    spec: FleetSpec
    key: tuple[object, ...]
    months: int
    stretches: dict[Cloud, list[tuple[int, tuple[int, ...], int]]]
    """Per contract cloud, one period's stretches: (months, checkpoint windows, credit)."""

    def windows(self, cloud: Cloud, k: int) -> int:
        """Months of one of the group's periods in checkpoint k's window."""
        return sum(m for m, windows, _ in self.stretches.get(cloud, []) if k in windows)


@dataclass
class Pricing:
    """One period spec's single-period model (grouped and bounded, as the cost levels solve
    it), with the deploy limits of the places its plans reached (`limited`), and the plain
    model that values a plan the way the joint model does; costs per month. Groups with the
    same spec share it, and the plans it has found (`known`: prices → nodes)."""

    spec: FleetSpec
    found: Sequence[Candidate]
    contracts: Mapping[Cloud, Contract]
    limited: frozenset[str] = frozenset()
    known: dict[tuple[float, ...], Mapping[str, int]] = field(
        default_factory=dict[tuple[float, ...], Mapping[str, int]]
    )
    _models: tuple[Formulation, BlockCosts] | None = None
    _plain: tuple[Formulation, BlockCosts] | None = None

    def model(self) -> tuple[Formulation, BlockCosts]:
        if self._models is None:
            cands = undominated(self.spec, self.found, (), self.limited)
            bounds = offer_bounds(self.spec, cands, (), self.limited)
            form = cost_model(self.spec, cands, bounds, limited=self.limited)
            self._models = (form, BlockCosts.of(form, 1, self.contracts))
        return self._models

    def plain(self) -> tuple[Formulation, BlockCosts]:
        if self._plain is None:
            form = cost_model(self.spec, self.found, None, grouped=False, limited=frozenset[str]())
            self._plain = (form, BlockCosts.of(form, 1, self.contracts))
        return self._plain

    def limit(self, places: frozenset[str]) -> None:
        """Hold these places' deploy limits from now on (plans found so far keep them)."""
        self.limited |= places
        self._models = None
        self.known.clear()


def groups_of(
    specs: Sequence[FleetSpec], cut: Sequence[Period], terms: Sequence[Terms],
    key: Callable[[FleetSpec], tuple[object, ...]],
) -> list[Group]:
    """The periods grouped where they are interchangeable, groups in order of first period."""
    made: dict[tuple[object, ...], Group] = {}
    for period, spec in zip(cut, specs, strict=True):
        stretches = {
            t.cloud: [(s.months, s.windows, s.credit) for s in t.stretches if s.period == period.index]
            for t in terms
        }
        signature = (key(spec), period.months, tuple((c, tuple(s)) for c, s in stretches.items()))
        if signature not in made:
            made[signature] = Group([], spec, key(spec), period.months, stretches)
        made[signature].periods.append(period.index)
    return list(made.values())


@dataclass
class Master:
    """The master problem over the groups' plans, solved level by level."""

    groups: list[Group]
    terms: Sequence[Terms]
    options: SolverOptions
    pricing: Mapping[tuple[object, ...], Pricing]
    """Each distinct period spec's model, by the groups' `key`."""
    columns: list[Column] = field(default_factory=list[Column])
    held: list[tuple[Level, float]] = field(default_factory=list[tuple[Level, float]])
    solves: list[Solved] = field(default_factory=list[Solved])
    side_seconds: float = 0.0
    """Time of the searches for plans near the LP's mix (`_around`): their status is not the plan's."""
    bounds: list[float] = field(default_factory=list[float])
    """Each level's lower bound: its LP optimum over every plan (the optimum, when whole)."""
    mixed: set[int] = field(default_factory=set[int])
    """The plans (indices in `columns`) the last LP whose counts were not whole mixed, and those added near
    its mix (`_around`): the offers `closing.close` searches over when not over every offer."""
    binding: set[tuple[Cloud, int]] = field(default_factory=set[tuple[Cloud, int]])
    """The contract checkpoints (cloud, index) whose row binds level 1's LP optimum: more burn
    there would lower the cost (a commitment burned to its minimum)."""

    def solve(self, level: Level, contract_weight: float) -> tuple[float, list[int]] | None:
        """This level's LP over every plan: columns priced until none improves it; its optimum
        goes to `bounds`. (value, periods per column) if its counts are whole (the optimum,
        proven); else None, after adding plans near the LP's mix (`_around`): the caller makes
        them whole (`whole`, `closing.close`). `contract_weight` is how much a dollar of
        shortfall (less credit drawn) weighs in this level (1 in level 1, 0 in level 2)."""
        if not self.columns:
            for g in range(len(self.groups)):
                self.add(self._price(g, level, _Prices({}, [])))
        while True:
            model = _MasterModel(self, level, contract_weight, integer=False)
            solved, duals = model.milp.solve_lp(model.objective, self.options)
            self.solves.append(solved)
            if not solved.feasible:
                raise RuntimeError(f"the master LP has no optimum ({solved.status}); the contract rows always have one")
            prices = model.prices(duals)
            added, bound = 0, solved.objective
            for g, group in enumerate(self.groups):
                column = self._price(g, level, prices)
                reduced = self._reduced(column, level, prices) - duals[model.convexity[g]]
                bound += len(group.periods) * min(0.0, reduced)
                if reduced < -1e-9 * (1.0 + abs(solved.objective)) and self.add(column):
                    added += 1
            if not added:
                break
        self.bounds.append(bound)
        if contract_weight:
            self.binding = {key for key, row in model.windows.items() if duals[row] > 1e-9}
        counts = [solved.values[col] for col in model.counts]
        if all(abs(c - round(c)) <= 1e-6 for c in counts):
            return solved.objective, [round(c) for c in counts]
        weighed = list(zip(self.columns, counts, strict=True))
        self.mixed = {i for i, n in enumerate(counts) if n > 1e-9}
        for g in range(len(self.groups)):
            self._around(g, level, prices, weighed)
        self.mixed |= set(range(len(weighed), len(self.columns)))
        return None

    def whole(self, level: Level, contract_weight: float) -> tuple[float, list[int]]:
        """Whole counts of the plans found (the master as a MILP, at most `WHOLE_NODES` nodes
        unless none is found within them): a start for `closing.close`."""
        whole_model = _MasterModel(self, level, contract_weight, integer=True)
        whole = whole_model.milp.solve(whole_model.objective, max_nodes=WHOLE_NODES, options=self.options)
        if not whole.feasible:  # none found within the nodes: search on
            whole = whole_model.milp.solve(whole_model.objective, options=self.options)
        # Its plan's gap is to the LP's bound (the caller's), not to the best whole counts.
        self.solves.append(replace(whole, optimal=whole.feasible, status="Optimal" if whole.feasible else whole.status,
                                   gap=0.0 if whole.feasible else whole.gap))
        return whole.objective, [round(whole.values[col]) for col in whole_model.counts]

    def per_period(self, counts: Sequence[int]) -> dict[int, Column]:
        """Each period's plan for whole counts per column: a group's periods in order take its
        columns in the order they were found."""
        chosen: dict[int, Column] = {}
        for g, group in enumerate(self.groups):
            planned = [c for c, n in zip(self.columns, counts, strict=True) if c.group == g for _ in range(n)]
            chosen.update(zip(group.periods, planned, strict=True))
        return chosen

    def hold(self, level: Level, value: float) -> None:
        """Keep a solved level at its optimum in the levels after it."""
        self.held.append((level, value + slack(value)))

    def add(self, column: Column) -> bool:
        """Keep a plan as a column, unless the group has it already (False)."""
        if any(c.group == column.group and c.nodes == column.nodes for c in self.columns):
            return False
        self.columns.append(column)
        return True

    def _reduced(self, column: Column, level: Level, prices: _Prices) -> float:
        """The column's cost in the master at these prices, before its group's convexity dual."""
        value = level(column.cost, column.spend) - sum(w * held(column.cost, column.spend) for held, w in prices.held)
        return value - sum(prices.burn(column.group, cloud) * usd for cloud, usd in column.burn.items())

    def _price(self, g: int, level: Level, prices: _Prices) -> Column:
        """The group's best plan at these prices (its single-period MILP), within every deploy
        limit. A plan found for the same spec at the same prices is not searched for again."""
        group = self.groups[g]
        pricing = self.pricing[group.key]
        signature = self._signature(g, level, prices)
        if signature not in pricing.known:
            best = self._best(g, level, prices, {})
            assert best is not None  # without burn rows a plan exists or NoPlan was raised
            pricing.known[signature] = best
        return self.column(g, pricing.known[signature])

    def _around(self, g: int, level: Level, prices: _Prices, weighed: Sequence[tuple[Column, float]]) -> None:
        """Plans close to what the LP mixes for a group: where it mixes plans, its periods burn
        on average what no one plan of them burns, and whole counts of those plans miss that
        average by a whole plan's difference. So for each contract cloud, good plans at the
        last prices (`AROUND_NODES`) that burn at least, and at most, that average: whole
        counts of them come close to it, and consecutive periods differ little (few nodes
        move)."""
        mixed = [(c, n) for c, n in weighed if c.group == g and n > 1e-9]
        if len(mixed) < 2:
            return
        periods = sum(n for _, n in mixed)
        average = {t.cloud: sum(n * c.burn.get(t.cloud, 0.0) for c, n in mixed) / periods for t in self.terms}
        for sides in product((1.0, -1.0), repeat=len(average)):
            burns = {cloud: (side, usd) for (cloud, usd), side in zip(average.items(), sides, strict=True)}
            nodes = self._best(g, level, prices, burns)
            if nodes is not None:
                self.add(self.column(g, nodes))

    def _signature(self, g: int, level: Level, prices: _Prices) -> tuple[float, ...]:
        group = self.groups[g]
        weights: list[tuple[float, Level]] = [(1.0, level), *((-w, held) for held, w in prices.held)]
        a = group.months * sum(weight * fn(1.0, 0.0) for weight, fn in weights)  # a level is linear
        b = group.months * sum(weight * fn(0.0, 1.0) for weight, fn in weights)  # in (cost, spend)
        worth = tuple(prices.burn(g, t.cloud) for t in self.terms)
        return tuple(float(f"{v:.12g}") for v in (a, b, *worth))

    def _best(
        self, g: int, level: Level, prices: _Prices, burns: Mapping[Cloud, tuple[float, float]]
    ) -> Mapping[str, int] | None:
        """The group's single-period MILP at these prices, its burn on each cloud of `burns`
        at least (side 1) or at most (side -1) the amount given (None: no plan does); a plan
        that breaks a deploy limit adds the place's rows and is solved again."""
        group = self.groups[g]
        pricing = self.pricing[group.key]
        a, b, *worth = self._signature(g, level, prices)
        while True:
            form, costs = pricing.model()
            objective: dict[int, float] = {}
            for row, weight in ((costs.cost, a), (costs.spend, b)):
                for col, v in row.items():
                    objective[col] = objective.get(col, 0.0) + weight * v
            for t, value in zip(self.terms, worth, strict=True):
                for col, v in costs.burn.get(t.cloud, {}).items():
                    objective[col] = objective.get(col, 0.0) - value * v
            milp = form.milp.copy() if burns else form.milp
            for cloud, (side, usd) in burns.items():
                bounds = (usd, math.inf) if side > 0 else (-math.inf, usd)
                milp.row(*bounds, costs.burn.get(cloud, {}))
            if burns:  # a start for the integer counts, not a bound: good plans, not the best
                solved = milp.solve(objective, max_nodes=AROUND_NODES, gap=HORIZON_GAP, options=self.options)
                self.side_seconds += solved.seconds
                if not solved.feasible:  # no plan burns that much, or that little (or none found)
                    return None
            else:
                solved = milp.solve(objective, self._start(pricing, form), options=self.options)
                self.solves.append(solved)
            if not solved.feasible:
                raise NoPlan(group.periods[0], solved.status)
            nodes = form.nodes_by_key(solved)
            by_key = {c.key: c for c in pricing.found}
            broken = broken_limits(pricing.spec, [placement_of(by_key[k], n) for k, n in nodes.items()])
            if not broken - pricing.limited:
                return nodes
            pricing.limit(broken)

    def _start(self, pricing: Pricing, form: Formulation) -> list[float] | None:
        """A start for the pricing MILP: the plan found last for this spec, if the model is
        not grouped (a grouped model's columns do not follow from nodes per pool)."""
        if not pricing.known or len(form.members) < len(pricing.spec.pools):
            return None
        return form.solution_for(list(pricing.known.values())[-1])

    def column(self, g: int, nodes: Mapping[str, int]) -> Column:
        """The plan valued as the joint model values it: the plain model's columns for these
        nodes (a region's binary where it holds nodes, and nowhere else)."""
        group = self.groups[g]
        plain, costs = self.pricing[group.key].plain()
        cost, spend, burn = costs.value(plain.solution_for(nodes))
        return Column(g, dict(nodes), group.months * cost, group.months * spend, burn)


class NoPlan(Exception):
    """A period has no placement of its own (the caller asks `place` why)."""

    def __init__(self, period: int, status: str) -> None:
        super().__init__(status)
        self.period = period
        self.status = status


@dataclass
class _Prices:
    """What the master's duals say a unit is worth to each group: a dollar of a contract
    cloud's monthly burn (× the months it counts in each window), and each held level."""

    burns: dict[tuple[int, Cloud], float]
    held: list[tuple[Level, float]]

    def burn(self, group: int, cloud: Cloud) -> float:
        return self.burns.get((group, cloud), 0.0)


class _MasterModel:
    """The master problem's MILP (or LP) for the columns so far."""

    def __init__(self, master: Master, level: Level, contract_weight: float, integer: bool) -> None:
        self.master = master
        m = self.milp = Milp()
        groups = master.groups
        self.objective: dict[int, float] = {}
        # No upper bound: the convexity rows imply it, and a bound would take duals the pricing
        # reads from those rows (a column at its bound may price below 0 and still be optimal).
        self.counts = [m.col(0.0, math.inf, integer) for _ in master.columns]
        for col, c in zip(self.counts, master.columns, strict=True):
            self.objective[col] = level(c.cost, c.spend)
        self.convexity = [
            m.row(float(len(g.periods)), float(len(g.periods)),
                  {col: 1.0 for col, c in zip(self.counts, master.columns, strict=True) if c.group == i})
            for i, g in enumerate(groups)
        ]
        self.windows: dict[tuple[Cloud, int], int] = {}  # (cloud, checkpoint) → row
        self.caps: dict[tuple[Cloud, int, int], int] = {}  # (cloud, group, stretch) → row
        contract_cost: dict[int, float] = {}
        for terms in master.terms:
            self._contract(terms, contract_cost)
        for col, v in contract_cost.items():
            self.objective[col] = self.objective.get(col, 0.0) + contract_weight * v
        self.held: list[int] = []
        for held, bound in master.held:
            row = {col: held(c.cost, c.spend) for col, c in zip(self.counts, master.columns, strict=True)}
            for col, v in contract_cost.items():  # every level held so far weighs the contracts
                row[col] = row.get(col, 0.0) + held(1.0, 0.0) * v
            self.held.append(m.row(-math.inf, bound, row))

    def _contract(self, terms: Terms, contract_cost: dict[int, float]) -> None:
        m, master, cloud = self.milp, self.master, terms.cloud
        shortfall = [m.col(0.0, math.inf) for _ in terms.checkpoints]
        for col in shortfall:
            contract_cost[col] = 1.0
        draws: dict[tuple[int, int], int] = {}
        for g, group in enumerate(master.groups):
            for s, (months, _, credit) in enumerate(group.stretches.get(cloud, [])):
                if credit:
                    draws[(g, s)] = drawn = m.col(0.0, math.inf)
                    contract_cost[drawn] = -1.0
                    row = {drawn: 1.0}
                    for col, c in zip(self.counts, master.columns, strict=True):
                        if c.group == g and c.burn.get(cloud):
                            row[col] = -months * c.burn[cloud]
                    self.caps[(cloud, g, s)] = m.row(-math.inf, 0.0, row)
        for k, checkpoint in enumerate(terms.checkpoints):
            row: dict[int, float] = {shortfall[k]: 1.0}
            if checkpoint.cumulative:
                row.update({shortfall[j]: 1.0 for j in range(k)})
            for col, c in zip(self.counts, master.columns, strict=True):
                months = master.groups[c.group].windows(cloud, k)
                if months and c.burn.get(cloud):
                    row[col] = months * c.burn[cloud]
            for (g, s), drawn in draws.items():
                if k in master.groups[g].stretches[cloud][s][1]:
                    row[drawn] = -1.0
            self.windows[(cloud, k)] = m.row(checkpoint.minimum - checkpoint.burned, math.inf, row)
        for j in range(1, len(terms.credit) + 1):
            row = {drawn: 1.0 for (g, s), drawn in draws.items() if master.groups[g].stretches[cloud][s][2] <= j}
            row.update({shortfall[k]: -1.0 for k in terms.credit[:j]})
            m.row(-math.inf, 0.0, row)

    def prices(self, duals: list[float]) -> _Prices:
        """A group's burn on a cloud is worth Σ checkpoint duals × its months in the window,
        less the credit caps' duals × the stretch's months; a held level's worth is its dual."""
        burns: dict[tuple[int, Cloud], float] = {}
        for (cloud, k), row in self.windows.items():
            for g, group in enumerate(self.master.groups):
                months = group.windows(cloud, k)
                if months:
                    burns[(g, cloud)] = burns.get((g, cloud), 0.0) + duals[row] * months
        for (cloud, g, s), row in self.caps.items():
            months = self.master.groups[g].stretches[cloud][s][0]
            burns[(g, cloud)] = burns.get((g, cloud), 0.0) - duals[row] * months
        held = [(level, duals[row]) for (level, _), row in zip(self.master.held, self.held, strict=True)]
        return _Prices(burns, held)


def level_one(cost: float, _spend: float) -> float:
    return cost


def level_two(_cost: float, spend: float) -> float:
    return spend
