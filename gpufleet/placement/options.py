"""How `place` runs HiGHS: passed as an argument, so a caller (the benchmark) changes one solve's
options without changing every other's."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SolverOptions:
    """`random_seed`: HiGHS's random seed, fixed so one input always gives one plan. It also
    fixes the search path, and with it the solve time; the placement benchmark varies it to
    show that spread.

    `level_two_ahead`: level 2 runs ahead on a second core, if there is one (`_SpendAhead`);
    the plan is the same without it. The placement benchmark switches it off to show the
    one-core time.

    `time_limit_seconds`: the most one HiGHS solve may take.

    `bounded_first_nodes`: branch-and-bound nodes the first cost level gets on the bounded model
    (`offer_bounds`) before it is solved on the plain one instead. A count, not a time, so the
    plan never depends on the machine. On the benchmark's 50-pool fleet and 16 generated ones
    (two HiGHS seeds each) the bounded model needed at most 505 nodes, except on one fleet: over
    40,000, where the plain model needed about 1,300.

    `group_pools`: the cost levels place interchangeable pools together (`cost_model`); the
    levels' optimum is the same without. The placement benchmark switches it off (`--exact`)
    to compare its plan with every pool's own columns.

    `within_commitments_first`: where a plan may spend within every commitment, both cost
    levels are first solved as one (`solve._within_commitments`); the levels' optimum is the
    same without. Tests switch it off to compare.
    """

    random_seed: int = 0
    level_two_ahead: bool = True
    time_limit_seconds: float = 60.0
    bounded_first_nodes: int = 2_000
    group_pools: bool = True
    within_commitments_first: bool = True


DEFAULT_OPTIONS = SolverOptions()
