"""The lexicographic solve (`place`): spend above commitments, then total spend, then the
tie-break, each level held at its optimum; where a plan may fit within every commitment both
cost levels are one solve, else level 2 runs ahead on a second core; a previous plan's nodes are
kept where that costs at most the stability tolerance."""

from __future__ import annotations

import copy
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

from gpufleet.catalog import Catalog, Cloud
from gpufleet.errors import InfeasibleError
from gpufleet.placement.candidates import Candidate, candidates, limits_reached, placement_of, undominated
from gpufleet.placement.diagnosis import diagnose
from gpufleet.placement.formulation import Formulation, cost_model, offer_bounds
from gpufleet.placement.milp import NODE_LIMIT, Solved, slack
from gpufleet.placement.options import DEFAULT_OPTIONS, SolverOptions
from gpufleet.placement.spend import plan_ledger
from gpufleet.plan import Placement, SolverReport
from gpufleet.spec import FleetSpec


@dataclass(frozen=True)
class PlacementResult:
    placements: tuple[Placement, ...]
    solver: SolverReport
    skipped: tuple[str, ...]


@dataclass
class _Run:
    """Solves in sequence with one set of options, accumulating the solver report."""

    options: SolverOptions = DEFAULT_OPTIONS
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


def place(
    spec: FleetSpec,
    catalog: Catalog,
    previous: Sequence[Placement] = (),
    options: SolverOptions = DEFAULT_OPTIONS,
) -> PlacementResult:
    """The optimal placement of every pool; InfeasibleError says what to change if there is none.

    Deploy limits (cluster limits, address ranges) are rows only where a plan broke them (lazy
    rows): each round solves the model with the limits of the places found so far, which is a
    relaxation of the whole, so a plan of it that breaks no other limit is optimal for the whole
    (the same lexicographic optimum, the same tie-break). Most fleets never reach a limit and
    keep the small model: its interchangeable pools grouped, its offers bounded."""
    found, skipped = candidates(spec, catalog)
    run = _Run(options)
    limited: frozenset[str] = frozenset()
    while True:
        placements, kept = _place_within(spec, catalog, found, skipped, previous=previous, run=run, limited=limited)
        broken = broken_limits(spec, placements) - limited
        if not broken:
            break
        limited |= broken
    report = run.report(plan_ledger(spec, placements).total_usd, kept)
    if report.status == "Infeasible":  # a solve that found a plan then called the model infeasible
        raise InfeasibleError.solver_stopped(report.status, options.time_limit_seconds)
    return PlacementResult(placements, report, tuple(skipped))


def broken_limits(spec: FleetSpec, placements: Sequence[Placement]) -> frozenset[str]:
    """The places (`cloud/region`) whose placements break a cluster limit or overfill a node
    range, by the same counts the rows hold (`candidates.limits_reached`)."""
    here: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for p in placements:
        here.setdefault((p.cloud, p.region), []).append((p.instance_type, p.nodes))
    return frozenset(
        f"{cloud}/{region}" for (cloud, region), placed in here.items() if limits_reached(spec, cloud, region, placed)
    )


def _place_within(
    spec: FleetSpec,
    catalog: Catalog,
    found: Sequence[Candidate],
    skipped: Sequence[str],
    *,
    previous: Sequence[Placement],
    run: _Run,
    limited: frozenset[str],
) -> tuple[tuple[Placement, ...], int]:
    """One round of `place`: the placements, and the previous plan's nodes they keep, with the
    deploy limits of the `limited` places only."""
    options = run.options
    keep = {p.key for p in previous}
    cands = undominated(spec, found, keep, limited)
    bounds: Mapping[str, int] | None = offer_bounds(spec, cands, keep, limited)
    form = cost_model(spec, cands, bounds, grouped=options.group_pools, limited=limited)
    first, cheapest = _cost_levels(form, run, options.bounded_first_nodes)
    if first.status == NODE_LIMIT:
        run.supersede(first)
        bounds = None
        form = cost_model(spec, cands, bounds, grouped=options.group_pools, limited=limited)
        first, cheapest = _cost_levels(form, run, None)
    if cheapest is None:
        if first.status != "Infeasible":
            raise InfeasibleError.solver_stopped(first.status, options.time_limit_seconds)
        raise InfeasibleError(diagnose(spec, catalog, cands, skipped, options))
    if len(form.members) < len(spec.pools):  # the tie-break and stability need each pool's nodes
        split = form.nodes_by_key(cheapest)
        form = cost_model(spec, cands, bounds, grouped=False, limited=limited)
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
    return tuple(placement_of(c, n) for c, n in zip(cands, nodes, strict=True) if n > 0), kept


def _cost_levels(form: Formulation, run: _Run, max_nodes: int | None) -> tuple[Solved, Solved | None]:
    """Level 1 (spend above commitments) and, if it ends with a plan, level 2 (`_then_spend`),
    which runs ahead on a second core (`_SpendAhead`). Level 2 is None without a plan, or when
    level 1 spent `max_nodes`. Where a plan may fit within every commitment, both levels are
    first solved at once (`_within_commitments`)."""
    within = _within_commitments(form, run, max_nodes) if run.options.within_commitments_first else None
    if within is not None:
        return within
    with _SpendAhead(form, run.options) as ahead:
        first = run.record(form.milp.solve(
            form.excess, max_nodes=max_nodes, on_incumbent=ahead.start, options=run.options
        ))
        if not first.feasible or first.status == NODE_LIMIT:
            return first, None
        return first, ahead.finish(first, run)


def _within_commitments(form: Formulation, run: _Run, max_nodes: int | None) -> tuple[Solved, Solved | None] | None:
    """Both cost levels in one solve when some plan spends within every commitment: the least
    total spend among such plans. None when there is none (level 1's optimum is above 0).

    Spend above commitments is never below 0, so a plan with none is optimal for level 1, and
    level 2 is then exactly this model: the excess held at 0 (with `_then_spend`'s slack),
    total spend minimised. Solving level 1 instead is a search with a flat objective: every
    plan within the commitments scores 0, and nothing guides HiGHS to one. On the 50-pool
    benchmark, whose spot pools' region shares (`gpufleet.spread`) make such plans rare, level 1
    took 1,925 branch-and-bound nodes and level 2 another 87; this solve takes 110. It is not
    tried where the pools' cheapest GPUs already cost more than the commitments hold together
    (`_least_spend`), and a model it proves infeasible costs one solve (its time is counted)
    before the levels are solved in turn, as before."""
    spec = form.spec
    if not _has_commitments(spec):  # spend above commitments is all spend: level 1 is level 2
        return None
    committed = sum(spec.budget.monthly_commitment(cloud) for cloud in form.above)
    if _least_spend(form) > committed:
        return None
    trial = form.milp.copy()
    trial.row(-math.inf, slack(0.0), form.excess)
    solved = run.record(trial.solve(form.spend, max_nodes=max_nodes, options=run.options))
    if solved.status == NODE_LIMIT:
        return solved, None  # `_place_within` falls back to the plain model
    if not solved.feasible:
        run.supersede(solved)
        return None
    form.milp = trial  # with the held row, as `_then_spend` leaves it
    return replace(solved, objective=form.value(solved, form.excess)), solved


def _least_spend(form: Formulation) -> float:
    """A lower bound of any plan's monthly spend: each pool's GPUs at its cheapest offer's
    price per GPU (fixed costs left out)."""
    cheapest: dict[str, float] = {}
    for c in form.cands:
        for pool in form.stands_for(c):
            per_gpu = c.monthly / float(c.gpus)
            cheapest[pool.name] = min(cheapest.get(pool.name, per_gpu), per_gpu)
    return sum(pool.gpus * cheapest.get(pool.name, 0.0) for pool in form.spec.pools)


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

    def __init__(self, form: Formulation, options: SolverOptions) -> None:
        self.form = form
        self.options = options
        self.enabled = options.level_two_ahead and _has_commitments(form.spec) and _cores() > 1
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
        ahead = _Ahead(incumbent, form, _Run(self.options))
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


def _has_commitments(spec: FleetSpec) -> bool:
    return any(spec.budget.monthly_commitment(cloud) > 0 for cloud in spec.budget.commitments)


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
    # The excess recomputed from the integer columns: HiGHS leaves its continuous columns within
    # its feasibility tolerance of the rows, which was 2.4e-4 below the whole plan's excess on a
    # generated fleet, too little to hold as a row.
    start = form.with_excess(list(first.values))
    excess = sum(start[col] * weight for col, weight in form.excess.items())
    held = excess + slack(excess)
    if not _has_commitments(spec) or _burned_in_every_tie(spec, form, held, run.options):
        return replace(first, objective=form.value(first, form.spend))
    form.milp.row(-math.inf, held, form.excess)
    return run.record(form.milp.solve(form.spend, start, proving=True, stop=stop, options=run.options))


def _burned_in_every_tie(spec: FleetSpec, form: Formulation, held: float, options: SolverOptions) -> bool:
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
    for cloud in spec.budget.commitments:
        commitment = spec.budget.monthly_commitment(cloud)
        if commitment <= 0 or cloud not in form.above:  # nothing to burn, or a constant 0
            continue
        lp = form.milp.relaxed()
        lp.row(-math.inf, held, form.excess)
        lp.row(-math.inf, commitment, form.spend_row(cloud))
        if lp.solve({}, options=options).feasible:
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
    m.row(-math.inf, allowed + slack(allowed), form.excess)
    m.row(-math.inf, cheapest.objective * (1 + tolerance) + slack(cheapest.objective), form.spend)
    kept: dict[int, float] = {}
    start = list(cheapest.values)
    for i, previous_nodes in keepable:
        col = m.col(0.0, float(previous_nodes))
        m.row(-math.inf, 0.0, {col: 1.0, form.x[i]: -1.0})
        kept[col] = -1.0
        start.append(min(start[form.x[i]], previous_nodes))
    most = run.record(m.solve(kept, start, options=run.options))
    m.row(-math.inf, most.objective + slack(most.objective), kept)
    least = run.record(m.solve(form.excess, most.values, options=run.options))
    return _tie_break(form, run, _then_spend(spec, form, run, least))


def _tie_break(form: Formulation, run: _Run, solved: Solved) -> Solved:
    """Among plans of equal cost, the one using the earliest candidates in the fixed order
    (`tie_break_rows`)."""
    return run.record(form.milp.solve(tie_break_rows(form, solved), solved.values, options=run.options))


def tie_break_rows(form: Formulation, solved: Solved) -> dict[int, float]:
    """Rows that keep `solved`'s cost, and the objective that prefers earlier candidates.

    Ties come from offers of equal price: one list price in several regions, or SKUs that cost
    the same. Nodes may move only between offers of the same pool, cloud, GPUs per node and
    price, with each such class keeping its node count, so every cost level stays exactly as
    solved; then Σ rank × nodes is minimised. Equal totals built from different prices
    (2 × $5 against 1 × $10) are not compared: HiGHS's deterministic search settles those.
    Holding the cost with a row instead makes an exact knapsack that takes HiGHS seconds.
    Fixed costs are held the same way: at most as many fixed columns of each (cloud, cost) may
    be 1 as are now (a region's cost is the same in every region of a cloud; a storage copy's
    may differ by redundancy and transfer), so nodes may move to another region only where
    that opens nothing new at a price.
    """
    classes: dict[tuple[str, Cloud, int | Fraction, float], dict[int, float]] = {}
    for i, c in enumerate(form.cands):
        classes.setdefault((c.pool.name, c.cloud, c.gpus, c.monthly), {})[form.x[i]] = 1.0
    for cols in classes.values():
        nodes = float(sum(solved.values[col] for col in cols))
        form.milp.row(nodes, nodes, cols)
    fixed: dict[tuple[Cloud, float], dict[int, float]] = {}
    for col, key in form.fixed.items():
        fixed.setdefault(key, {})[col] = 1.0
    for cols in fixed.values():
        form.milp.row(-math.inf, float(sum(solved.values[col] for col in cols)), cols)
    return form.tie_break()
