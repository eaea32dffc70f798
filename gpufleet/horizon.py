"""The fleet over time, as the planner and the burn report count it: the horizon's periods, what
each pool needs in each, the spec a period is placed with, and each contract's checkpoints.

Pure: months in, periods and checkpoints out; no solver.
docs/design.md, "Multi-period placement", states the rules this module implements:
- a period is one placement held for its months (1, or 3 for `period: quarter`);
- a pool's schedule is a step function, and a period needs the most GPUs any of its months
  asks for (the fleet is grown at the period's start, never in the middle);
- a contract's discount applies in the months of its term: a period the term starts or ends
  in gets it for its months inside the term (an average over the period);
- a contract's checkpoints are its contract years (`per-year`) or its milestones and the term's
  end (`whole-term`, cumulative). A checkpoint due after the horizon's end is judged at the
  horizon's end on pace: its minimum pro-rated by the months elapsed (`Checkpoint.paced`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from gpufleet import clouds
from gpufleet.catalog import Cloud
from gpufleet.months import month_index, month_text
from gpufleet.spec import FleetSpec, Pool
from gpufleet.specblocks import running_through
from gpufleet.spechorizon import Contract, Horizon

HORIZON_GAP = 1e-4
"""The relative gap to the bound within which a horizon's plan is reported "Optimal"
(`placement.closing`; a single period is proven exactly): HiGHS's default `mip_rel_gap`. A
commitment burned to its minimum is met with whole nodes (whole training units of them), a
knapsack whose exact optimum HiGHS does not prove in minutes (28 quarters of
examples/two-deals.yaml: 1.2e-5 left after 60 s); 1e-4 of that horizon's cost is $1.0 million,
the price of one 8-node AWS unit for two months."""


def relative_gap(value: float, bound: float) -> float:
    """How far a plan's value may be from the optimum its bound proves, relative to the value."""
    return max(0.0, value - bound) / max(1.0, abs(value))


@dataclass(frozen=True, slots=True)
class Period:
    """One placement held for `months` months from month `first`."""

    index: int
    first: int
    months: int

    @property
    def start(self) -> str:
        return month_text(self.first)

    @property
    def end(self) -> int:
        """The first month after the period."""
        return self.first + self.months

    def __contains__(self, month: int) -> bool:
        return self.first <= month < self.end


def periods(horizon: Horizon) -> tuple[Period, ...]:
    """The horizon cut into periods, in order (the spec's rules make them whole)."""
    step = horizon.period_months
    return tuple(
        Period(i, horizon.first + step * i, step) for i in range(horizon.months // step)
    )


def gpus_in(pool: Pool, month: int) -> int:
    """The pool's GPUs in a month: the latest schedule entry at or before it, else `gpus`."""
    gpus = pool.gpus
    for when, scheduled in sorted(pool.schedule.items()):
        if month_index(when) <= month:
            gpus = scheduled
    return gpus


def period_gpus(pool: Pool, period: Period) -> int:
    """What the pool needs in the period: the most GPUs any of its months asks for."""
    return max(gpus_in(pool, month) for month in range(period.first, period.end))


def months_in_term(contract: Contract, first: int, end: int) -> int:
    """How many of the months [first, end) fall in the contract's term."""
    return max(0, min(end, contract.end) - max(first, contract.first))


def period_spec(spec: FleetSpec, period: Period) -> FleetSpec:
    """The spec the period is placed with: each pool at the period's size, each contract's
    discount as it applies in the period's months (the single-period pieces price with it),
    and the capacity blocks that run through the whole period (one ending inside it supplies
    nothing there: its nodes move or stop at its end)."""
    pools = tuple(
        pool if (gpus := period_gpus(pool, period)) == pool.gpus else pool.model_copy(update={"gpus": gpus})
        for pool in spec.pools
    )
    commitments = {
        cloud: _in_period(committed, period) if isinstance(committed, Contract) else committed
        for cloud, committed in spec.budget.commitments.items()
    }
    budget = spec.budget.model_copy(update={"commitments": commitments})
    capacity = spec.capacity.model_copy(
        update={"blocks": running_through(spec.capacity.blocks, period.first, period.months)}
    )
    return spec.model_copy(update={"pools": pools, "budget": budget, "capacity": capacity})


def _in_period(contract: Contract, period: Period) -> Contract:
    """The contract with its discount as it applies over the period's months."""
    inside = months_in_term(contract, period.first, period.end)
    if inside == period.months:
        return contract
    return contract.model_copy(update={"discount": contract.discount * inside / period.months})


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One minimum of a contract that the horizon reaches: the burn of months [start, due] must
    reach `minimum`, with `burned` (burned before the horizon) counted in. `cumulative`: a
    whole-term milestone, which counts the shortfalls charged at earlier checkpoints. Paced when
    the contract's `deadline` is after the horizon: then it is judged at the horizon's last
    month (`due`), its minimum pro-rated from the contract's `due_usd`."""

    label: str
    start: int
    due: int
    deadline: int
    minimum: float
    due_usd: float
    burned: float
    cumulative: bool

    @property
    def paced(self) -> bool:
        return self.deadline != self.due


def checkpoints(contract: Contract, horizon: Horizon) -> tuple[Checkpoint, ...]:
    """The contract's checkpoints the horizon reaches, in order of their deadline; at most one
    is paced (due after the horizon: the later ones are further away and add nothing)."""
    as_of = month_index(contract.as_of) if contract.as_of is not None else horizon.first
    found: list[Checkpoint] = []
    if contract.minimum == "per-year":
        for k, minimum in enumerate(contract.year_minimums()):
            start, end = contract.first + 12 * k, min(contract.first + 12 * (k + 1), contract.end)
            label = f"year {k + 1}"
            burned = contract.burned_usd if start <= as_of < end else 0.0
            found.append(_judged(Checkpoint(label, start, end - 1, end - 1, minimum, minimum, burned, False), 0.0,
                                 start, horizon))
    else:
        due = {month_index(m): usd for m, usd in contract.milestones.items()}
        due[contract.end - 1] = contract.total_usd
        since, before = contract.first, 0.0
        for month, usd in sorted(due.items()):
            label = "term" if month == contract.end - 1 else "milestone"
            checkpoint = Checkpoint(label, contract.first, month, month, usd, usd, contract.burned_usd, True)
            found.append(_judged(checkpoint, before, since, horizon))
            since, before = month + 1, usd
    reached = [c for c in found if c.deadline >= horizon.first and c.start < horizon.end]
    first_paced = next((i for i, c in enumerate(reached) if c.paced), len(reached))
    return tuple(reached[: first_paced + 1])


def _judged(checkpoint: Checkpoint, before: float, since: int, horizon: Horizon) -> Checkpoint:
    """A checkpoint due after the horizon is judged at its last month on pace: `before` (due by
    month `since`) plus the rest of the minimum pro-rated over the months since then."""
    if checkpoint.deadline < horizon.end:
        return checkpoint
    share = (horizon.end - since) / (checkpoint.deadline + 1 - since)
    return replace(checkpoint, due=horizon.end - 1, minimum=before + (checkpoint.due_usd - before) * share)


@dataclass(frozen=True, slots=True)
class Stretch:
    """Months [first, first + months) of one period inside a contract's term, on one side of
    every checkpoint: `windows` are the checkpoints whose window holds them, `credit` how many
    credit-earning checkpoints are due before them (credit may be drawn when it is not 0)."""

    period: int
    first: int
    months: int
    windows: tuple[int, ...]
    credit: int


@dataclass(frozen=True)
class Terms:
    """A contract over the horizon: its checkpoints, the periods' stretches of its term, and
    the checkpoints whose shortfall becomes credit (`shortfall: credit`; none when paced)."""

    cloud: Cloud
    contract: Contract
    checkpoints: tuple[Checkpoint, ...]
    stretches: tuple[Stretch, ...]
    credit: tuple[int, ...]


def contract_terms(spec: FleetSpec, cut: Sequence[Period]) -> tuple[Terms, ...]:
    """Each contract's terms over the periods, clouds in registry order."""
    horizon = spec.horizon
    if horizon is None:
        return ()
    found: list[Terms] = []
    for cloud, contract in contract_clouds(spec).items():
        due = checkpoints(contract, horizon)
        credit = tuple(k for k, c in enumerate(due) if not c.paced) if contract.shortfall == "credit" else ()
        cuts = sorted({contract.first, contract.end} | {c.start for c in due} | {c.due + 1 for c in due})
        stretches: list[Stretch] = []
        for period in cut:
            first, end = max(period.first, contract.first), min(period.end, contract.end)
            for cut_at in [c for c in cuts if first < c < end] + [end]:
                if cut_at > first:
                    windows = tuple(k for k, c in enumerate(due) if c.start <= first <= c.due)
                    earned = sum(1 for k in credit if due[k].due < first)
                    stretches.append(Stretch(period.index, first, cut_at - first, windows, earned))
                    first = cut_at
        found.append(Terms(cloud, contract, due, tuple(stretches), credit))
    return tuple(found)


def contract_clouds(spec: FleetSpec) -> dict[Cloud, Contract]:
    """The clouds whose commitment is a contract, in registry order."""
    contracts = spec.budget.contracts()
    return {cloud: contracts[cloud] for cloud in clouds.names() if cloud in contracts}
