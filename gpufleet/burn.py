"""What each contract burns over the horizon (`burn_report`), read from the plan's own cost
lines: each period's monthly lines of the kinds the contract's `burns` lists, month by month.

The contract's rule, as the placement model holds it
(docs/design.md, "Multi-period placement"; docs/commitments.md): a checkpoint's burn is what
was burned before the horizon plus the months of its window, less consumption drawn from
credit; its shortfall is the minimum
less that burn (and, for a cumulative milestone, less the shortfalls charged before). With
`shortfall: credit` the shortfall is paid as credit that the following months' consumption draws
first (a drawn dollar burns nothing); with `cash` it is paid and that is all. The month the
total is used up counts the burn since the contract's start, continued past the horizon at the
last month's pace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gpufleet.catalog import Cloud
from gpufleet.horizon import Checkpoint, Period, checkpoints, contract_clouds, periods
from gpufleet.months import month_index, month_text
from gpufleet.plan import CommitmentBurn, PeriodPlan, WindowBurn
from gpufleet.spec import FleetSpec
from gpufleet.spechorizon import Contract, Horizon


def burn_report(spec: FleetSpec, schedule: Sequence[PeriodPlan]) -> tuple[CommitmentBurn, ...]:
    """Each contract's burn over the planned periods, clouds in registry order."""
    horizon = spec.horizon
    if horizon is None:
        return ()
    cut = periods(horizon)
    return tuple(
        _burn(cloud, contract, horizon, cut, schedule) for cloud, contract in contract_clouds(spec).items()
    )


def monthly_burn(
    contract: Contract, cloud: Cloud, cut: Sequence[Period], schedule: Sequence[PeriodPlan]
) -> dict[int, float]:
    """The contract's burning spend in each planned month of its term, before credit."""
    found: dict[int, float] = {}
    for period, plan in zip(cut, schedule, strict=True):
        usd = plan.spend(cloud, contract.burns)
        for month in range(max(period.first, contract.first), min(period.end, contract.end)):
            found[month] = usd
    return found


@dataclass
class Settled:
    """A contract's checkpoints settled month by month: each checkpoint's counted burn and
    shortfall, each month's burn after credit, and the credit drawn in all."""

    counted_in: list[float]
    shortfalls: list[float]
    counted: dict[int, float]
    drawn: float

    def cost(self) -> float:
        """What the contract adds to the money paid: shortfalls less credit drawn (as
        `joint.HorizonModel` counts it, paced shortfalls included)."""
        return sum(self.shortfalls) - self.drawn


def settle(due: Sequence[Checkpoint], by_month: Mapping[int, float], credit: bool) -> Settled:
    """Burn `by_month` (before credit) against the checkpoints, in month order: credit earned at
    a checkpoint is drawn first by the months after it."""
    balance = 0.0
    found = Settled([0.0] * len(due), [0.0] * len(due), {}, 0.0)
    for month in sorted(by_month):
        draw = min(balance, by_month[month])
        balance -= draw
        found.drawn += draw
        found.counted[month] = by_month[month] - draw
        for k, checkpoint in enumerate(due):
            if checkpoint.start <= month <= checkpoint.due:
                found.counted_in[k] += found.counted[month]
            if checkpoint.due == month:
                have = _have(checkpoint, found.counted_in[k], found.shortfalls[:k])
                found.shortfalls[k] = max(0.0, checkpoint.minimum - have)
                if credit and not checkpoint.paced:
                    balance += found.shortfalls[k]
    return found


def _burn(
    cloud: Cloud, contract: Contract, horizon: Horizon, cut: Sequence[Period], schedule: Sequence[PeriodPlan]
) -> CommitmentBurn:
    due = checkpoints(contract, horizon)
    credit = contract.shortfall == "credit"
    settled = settle(due, monthly_burn(contract, cloud, cut, schedule), credit)
    shortfalls = settled.shortfalls
    windows = tuple(
        WindowBurn(
            label=c.label,
            start=month_text(c.start),
            end=month_text(c.due),
            due=month_text(c.deadline),
            minimum_usd=round(c.minimum, 2),
            burn_usd=round(c.burned + settled.counted_in[k], 2),
            shortfall_usd=round(shortfalls[k], 2),
            over_usd=round(max(0.0, _have(c, settled.counted_in[k], shortfalls[:k]) - c.minimum), 2),
            paced=c.paced,
        )
        for k, c in enumerate(due)
    )
    charged = sum(s for s, c in zip(shortfalls, due, strict=True) if not c.paced)
    return CommitmentBurn(
        cloud=cloud,
        start=contract.start,
        end=month_text(contract.end - 1),
        treatment=contract.shortfall,
        total_usd=contract.total_usd,
        windows=windows,
        used_up=_used_up(contract, horizon, settled.counted),
        shortfall_cost_usd=round(charged - settled.drawn if credit else charged, 2),
        credit_drawn_usd=round(settled.drawn, 2),
        threshold_usd=contract.shortfall_threshold_usd,
        burned_before_usd=round(_before(contract, horizon), 2),
        by_period=tuple(
            (p.start, round(sum(settled.counted.get(m, 0.0) for m in range(p.first, p.end)), 2))
            for p in cut if p.end > contract.first and p.first < contract.end
        ),
    )


def _have(checkpoint: Checkpoint, counted: float, earlier: Sequence[float]) -> float:
    """What counts against a checkpoint's minimum: burned before, in its window, and for a
    cumulative milestone the shortfalls charged before it."""
    return checkpoint.burned + counted + (sum(earlier) if checkpoint.cumulative else 0.0)


def _before(contract: Contract, horizon: Horizon) -> float:
    """The burn since the contract's start before the horizon: `burned_usd`, and for a
    per-year contract the years before `as_of`'s at their minimum (they are settled)."""
    as_of = month_index(contract.as_of) if contract.as_of is not None else horizon.first
    total = contract.burned_usd
    if contract.minimum == "per-year":
        total += sum(contract.year_minimums()[: (as_of - contract.first) // 12])
    return total


def _used_up(contract: Contract, horizon: Horizon, counted: dict[int, float]) -> str | None:
    """The month the burn since the contract's start reaches its total: what was burned before
    the horizon (`_before`), the planned months, then the last planned month's pace to the
    term's end; None if not within the term."""
    total = _before(contract, horizon)
    pace = counted[max(counted)] if counted else 0.0
    for month in range(max(horizon.first, contract.first), contract.end):
        total += counted.get(month, pace if month >= horizon.end else 0.0)
        if total >= contract.total_usd - 0.005:
            return month_text(month)
    return None
