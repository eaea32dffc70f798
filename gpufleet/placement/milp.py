"""A small typed MILP builder over highspy: columns and rows kept in Python, solved by HiGHS."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
from highspy import cb
from highspy._core import _Highs as CoreHighs  # pyright: ignore[reportPrivateUsage]

from gpufleet.placement.options import DEFAULT_OPTIONS, SolverOptions


def slack(value: float) -> float:
    """Room when holding an optimum as a row: float noise only, never a real plan change."""
    return 1e-6 + 1e-9 * abs(value)

NODE_LIMIT = "Solution limit reached"  # HiGHS's status when mip_max_nodes is spent


@dataclass
class Solved:
    status: str
    feasible: bool
    optimal: bool
    values: list[float]
    objective: float
    gap: float
    seconds: float
    nodes: int = 0
    """HiGHS's branch-and-bound nodes (the benchmark shows them: a count, not a time)."""
    bound: float = -math.inf
    """HiGHS's proven lower bound on the objective (the objective itself when optimal)."""


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
        start: Sequence[float] | Mapping[int, float] | None = None,
        *,
        proving: bool = False,
        max_nodes: int | None = None,
        gap: float = 0.0,
        sub_mips: bool = False,
        on_incumbent: Callable[[Solved], None] | None = None,
        stop: threading.Event | None = None,
        options: SolverOptions = DEFAULT_OPTIONS,
    ) -> Solved:
        """Minimise `objective`; the optimum is proven (relative gap 0, or `gap`) unless time
        runs out or `max_nodes` branch-and-bound nodes are spent.

        `start`: every column's value, or some columns' (by index): HiGHS completes a partial
        start by an LP over the others with the integer columns given fixed.

        `on_incumbent` is called (in this thread) with each better solution HiGHS finds; setting
        `stop` ends the search early ("Interrupted by user"). `options` gives the time limit
        and the random seed.

        The RENS and RINS sub-MIP heuristics are off: on the 50-pool benchmark they cost more
        time than their solutions saved (spend above commitments: 1.6 s instead of 2.2-2.9 s);
        `sub_mips` keeps them (over a horizon they find the plans that meet a minimum closely).
        `proving`: the start is a previous level's optimum and likely still optimal, so the
        other search heuristics are off too and the time goes to the proof (total spend: 0.8 s,
        not 2 s).
        """
        n = len(self.lower)
        if n == 0:  # HiGHS calls a model without columns "Empty"; decide it here
            ok = all(lower <= 0.0 <= upper for lower, upper, _ in self.rows)
            return Solved("Optimal" if ok else "Infeasible", ok, ok, [], 0.0, 0.0, 0.0)
        h = self._load(objective, options)
        off = (*(() if sub_mips else ("rens", "rins")), *(("root_reduced_cost", "feasibility_jump") if proving else ()))
        for heuristic in off:
            h.setOptionValue(f"mip_heuristic_run_{heuristic}", False)
        if max_nodes is not None:
            h.setOptionValue("mip_max_nodes", max_nodes)
        h.setOptionValue("mip_rel_gap", gap)
        if start is not None:
            index = list(start) if isinstance(start, Mapping) else range(n)
            given = list(start.values()) if isinstance(start, Mapping) else start
            h.setSolution(len(index), np.array(index, dtype=np.int32), np.array(given, dtype=np.float64))
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
        if start is not None and feasible and not _agrees(float(info.objective_function_value), value):
            # HiGHS 1.16 can return its start as "Optimal" beside an objective value the start
            # does not have (seen after presolve on a level-2 model: 9,440 returned, 6,015
            # reported, 6,783 the optimum without a start). A solution whose value disagrees
            # with HiGHS's own is not trusted: solve again without the start.
            return self.solve(
                objective, None, proving=proving, max_nodes=max_nodes, gap=gap, sub_mips=sub_mips,
                on_incumbent=on_incumbent,
                stop=stop, options=options,
            )
        return Solved(
            status=h.modelStatusToString(status),
            feasible=feasible,
            optimal=optimal,
            values=values,
            objective=value,
            gap=0.0 if optimal else float(info.mip_gap),
            seconds=seconds,
            nodes=max(0, int(info.mip_node_count)),
            bound=value if optimal and gap == 0.0 else float(info.mip_dual_bound),
        )

    def _load(self, objective: Mapping[int, float], options: SolverOptions) -> CoreHighs:
        """HiGHS holding this model and objective, with the options every solve uses."""
        n = len(self.lower)
        # The core class: `highspy.Highs` prints a banner to C stdout on first use, which would
        # corrupt `gpufleet plan --format json`; the core class is the same solver without it.
        h = CoreHighs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("time_limit", options.time_limit_seconds)
        # One thread per solve: level 2 may run beside level 1 (`_SpendAhead`), and HiGHS's
        # scheduler needs the same thread count in every instance that runs at once.
        h.setOptionValue("threads", 1)
        h.setOptionValue("random_seed", options.random_seed)
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
        return h

    def solve_lp(
        self, objective: Mapping[int, float], options: SolverOptions = DEFAULT_OPTIONS
    ) -> tuple[Solved, list[float]]:
        """The LP relaxation's optimum and its row duals (HiGHS's sign: a column's reduced cost
        is its cost − Σ row dual × coefficient), for column generation."""
        h = self.relaxed()._load(objective, options)
        began = time.perf_counter()
        h.run()
        seconds = time.perf_counter() - began
        optimal = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
        solution = h.getSolution()
        values = list(solution.col_value) if optimal else []
        value = sum(objective.get(i, 0.0) * v for i, v in enumerate(values))
        status = h.modelStatusToString(h.getModelStatus())
        solved = Solved(status, optimal, optimal, values, value, 0.0 if optimal else math.inf, seconds)
        return solved, list(solution.row_dual) if optimal else []

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


def _agrees(reported: float, computed: float) -> bool:
    """Whether HiGHS's objective value and the one computed from its columns are the same
    figure, up to rounding its integer columns (the bug it catches is off by a third)."""
    return abs(reported - computed) <= 0.01 + 1e-4 * abs(computed)
