"""The column generation's plans made whole node by node (`close`, docs/design.md,
"Multi-period placement"): the joint MILP (`joint.HorizonModel`) over the offers the plans
found use, each period free to take any whole number of nodes of each.

Where the master's LP mixes plans in fractions it meets a commitment's minimum exactly; whole
counts of those plans meet it only to a whole period's plan, so on the benchmarks the best of
them stayed 1.3e-4 to 3.3e-4 above the LP's bound. Any plan of the joint MILP over a subset of
the offers is a plan of the whole, and the master's LP optimum (the Dantzig-Wolfe bound) bounds
every plan, so their difference is a proven gap. Over the plans' offers the joint MILP adjusts
single nodes (units) in single periods and comes within 1e-5 of the bound on those instances;
its search stops once a plan is within `HORIZON_GAP` of the bound, or after `CLOSING_NODES`
branch-and-bound nodes (a count, not a time: the plan never depends on the machine).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace

from gpufleet.horizon import HORIZON_GAP, Period, relative_gap
from gpufleet.placement.candidates import placement_of, undominated
from gpufleet.placement.formulation import Formulation, cost_model, offer_bounds
from gpufleet.placement.joint import HorizonModel
from gpufleet.placement.master import Column, Level, Master
from gpufleet.placement.milp import Solved
from gpufleet.placement.options import SolverOptions
from gpufleet.placement.solve import broken_limits
from gpufleet.spec import FleetSpec

CLOSING_NODES = 5_000
"""Branch-and-bound nodes `close` may search (it stops earlier once within `HORIZON_GAP`)."""

JOINT_COLUMNS = 4_000
"""The most integer columns of a joint MILP over every offer: up to it, `close` searches every
offer, and HiGHS's own bound proves what the master's cannot (on a small fleet a unit of nodes
is a large part of the cost: its optimum may be 0.3 % above the master's bound); above it,
the offers of the plans found (the 50-pool benchmark's 12 quarters: 12,000 columns, whose root
alone took HiGHS a minute)."""


def close(
    master: Master, spec: FleetSpec, cut: Sequence[Period], level: Level, start: Mapping[int, Column], *,
    options: SolverOptions,
) -> tuple[float, dict[int, Column]]:
    """This level's value and plan per period from the joint MILP over every offer of the
    periods' specs (`JOINT_COLUMNS`) or over those of the master's plans and of `start` (a plan
    per period that meets the levels held, its start). The plans join the master's columns,
    the solve its `solves` (optimal when within `HORIZON_GAP` of the larger of the master's
    bound and, over every offer, HiGHS's, which then becomes the level's bound in
    `master.bounds`). A period plan that breaks a deploy limit adds the place's rows to its
    group (`Pricing.limit`) and the joint MILP is solved again."""
    group_of = {p: g for g, group in enumerate(master.groups) for p in group.periods}
    while True:
        forms = [_model(master, g, start, every=True) for g in range(len(master.groups))]
        columns = sum(sum(f.milp.integer) * len(group.periods) for f, group in zip(forms, master.groups, strict=True))
        every = columns <= JOINT_COLUMNS
        if not every:
            forms = [_model(master, g, start, every=False) for g in range(len(master.groups))]
        model = HorizonModel(spec, [(p, master.groups[group_of[p.index]].spec, forms[group_of[p.index]]) for p in cut])
        given: dict[int, float] = {}
        for period, block in zip(cut, model.blocks, strict=True):
            values = block.form.solution_for(start[period.index].nodes)
            given.update((block.col(col), v) for col, v in enumerate(values) if block.form.milp.integer[col])
        for held, value in master.held:
            model.milp.row(-math.inf, value, _objective(held, model))
        solved = _search(model, _objective(level, model), given, master.bounds[-1], every=every, options=options)
        chosen: dict[int, Column] = {}
        broken = False
        for period, block in zip(cut, model.blocks, strict=True):
            g = group_of[period.index]
            pricing = master.pricing[master.groups[g].key]
            nodes = block.form.nodes_by_key(block.solved(solved))
            by_key = {c.key: c for c in block.form.cands}
            limits = broken_limits(pricing.spec, [placement_of(by_key[k], n) for k, n in nodes.items()])
            if limits - pricing.limited:
                pricing.limit(limits)
                broken = True
            chosen[period.index] = master.column(g, nodes)
        if broken:
            continue
        for column in chosen.values():
            master.add(column)
        if every:  # HiGHS's bound is the whole joint MILP's
            master.bounds[-1] = max(master.bounds[-1], solved.bound)
        gap = relative_gap(solved.objective, master.bounds[-1])
        proven = gap <= HORIZON_GAP
        master.solves.append(replace(solved, optimal=proven, status="Optimal" if proven else "Feasible", gap=gap))
        return solved.objective, chosen


def _search(
    model: HorizonModel, objective: Mapping[int, float], start: Mapping[int, float], bound: float, *,
    every: bool, options: SolverOptions,
) -> Solved:
    """HiGHS's search from the start, stopped once a plan is within `HORIZON_GAP` of `bound`
    (or of its own bound, over every offer) or after `CLOSING_NODES` nodes."""
    stop = threading.Event()

    def enough(found: Solved) -> None:
        if relative_gap(found.objective, bound) <= HORIZON_GAP:
            stop.set()

    solved = model.milp.solve(
        objective, start, max_nodes=CLOSING_NODES, gap=HORIZON_GAP if every else 0.0, sub_mips=True,
        on_incumbent=enough, stop=stop, options=options,
    )
    if not solved.feasible:  # HiGHS keeps its start unless it finds better
        raise RuntimeError(f"the joint MILP lost its start ({solved.status})")
    return solved


def _model(master: Master, g: int, start: Mapping[int, Column], *, every: bool) -> Formulation:
    """The group's single-period model (every pool its own columns, deploy limits where its
    plans reached them) over the offers of the plans the master's LP mixed (`Master.mixed`)
    and of its periods' starts, and if `every`,
    all it may use (`undominated`, within `offer_bounds`, as the master prices plans)."""
    group = master.groups[g]
    pricing = master.pricing[group.key]
    used = {key for i in master.mixed if master.columns[i].group == g for key in master.columns[i].nodes}
    used |= {key for p in group.periods for key in start[p].nodes}
    usable = used | {c.key for c in undominated(pricing.spec, pricing.found, used, pricing.limited)} if every else used
    cands = [c for c in pricing.found if c.key in usable]
    bounds = offer_bounds(pricing.spec, cands, used, pricing.limited) if every else None
    return cost_model(pricing.spec, cands, bounds, grouped=False, limited=pricing.limited)


def _objective(level: Level, model: HorizonModel) -> dict[int, float]:
    """A level's objective over the joint model (a level is linear in cost and spend)."""
    weights = (level(1.0, 0.0), level(0.0, 1.0))
    objective: dict[int, float] = {}
    for weight, row in zip(weights, (model.cost, model.spend), strict=True):
        for col, v in row.items():
            objective[col] = objective.get(col, 0.0) + weight * v
    return {col: v for col, v in objective.items() if v}
