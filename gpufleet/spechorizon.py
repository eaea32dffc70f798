"""The fleet over time: the planning `horizon`, pool `schedule`s and commitments as contracts.

A flat commitment (`budget.commitments: {aws: 300000}`) is spend already committed per month, as
it always was. A contract (`budget.commitments: {aws: {total_usd: ..., start: ..., years: ...}}`)
is the deal itself: a total over a term, a minimum per contract year (`per-year`, with an
optional `ramp_usd`) or over the whole term (`whole-term`, with optional cumulative
`milestones`), a discount on the cloud's list prices, what a shortfall becomes (`cash` or
`credit`), which kinds of spend burn it, and what is burned already. docs/commitments.md is
the user's guide; docs/design.md, "Multi-period placement", the model.

The shapes are here; `horizon_problems` checks the rules that span them (called by the spec's
rules in gpufleet.spec), each naming the field, the value and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, WithJsonSchema

from gpufleet.errors import Problem
from gpufleet.months import MONTH_PATTERN, month_index, month_problem, month_text
from gpufleet.specnumbers import ContractUsd, Fraction, MonthlyUsd, Whole
from gpufleet.specwords import UNION_TAG

if TYPE_CHECKING:
    from gpufleet.specmodel import Pool

CostKind = Literal["compute", "storage", "transfer", "fixed"]
"""What a cost line pays for: GPU nodes (`compute`), dataset copies (`storage`), filling and
syncing them (`transfer`), and each region's and link's own infrastructure (`fixed`: control
planes, NAT and VPN gateways, system nodes). A contract's `burns` says which kinds burn it."""
COST_KINDS: tuple[CostKind, ...] = get_args(CostKind)
# Ten years: longer than the longest public cloud deal terms (AWS PPA 1-5 years, MACC per
# contract; /work/shared/catalog/frontier.md), and 120 monthly periods keep the model small.
MAX_HORIZON_MONTHS = 120
MAX_TERM_MONTHS = 240


def _month(value: object) -> object:
    problem = month_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


Month = Annotated[
    str, BeforeValidator(_month), WithJsonSchema({"type": "string", "pattern": MONTH_PATTERN.pattern})
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Horizon(_Strict):
    """The months the plan covers, cut into periods of one placement each."""

    start: Month = Field(description="first month planned, YYYY-MM")
    months: Whole = Field(ge=1, le=MAX_HORIZON_MONTHS, description="months planned")
    period: Literal["month", "quarter"] = Field(
        default="month", description="months per period: one placement per period"
    )

    @property
    def period_months(self) -> int:
        return 3 if self.period == "quarter" else 1

    @property
    def first(self) -> int:
        return month_index(self.start)

    @property
    def end(self) -> int:
        """The first month after the horizon."""
        return self.first + self.months


class Contract(_Strict):
    """A commitment as its contract states it (docs/commitments.md)."""

    total_usd: ContractUsd = Field(gt=0, allow_inf_nan=False, description="committed spend over the term")
    start: Month = Field(description="the contract's first month, YYYY-MM")
    years: Whole | None = Field(default=None, ge=1, le=MAX_TERM_MONTHS // 12)
    months: Whole | None = Field(default=None, ge=1, le=MAX_TERM_MONTHS)
    minimum: Literal["per-year", "whole-term"] = Field(
        default="whole-term",
        description="per-year: each contract year must burn its part (ramp_usd); whole-term: "
        "the total by the term's end, and each milestone's amount by its month",
    )
    ramp_usd: tuple[ContractUsd, ...] | None = Field(
        default=None, description="per-year: the minimum of each contract year; they add up to total_usd"
    )
    milestones: dict[Month, ContractUsd] = Field(
        default_factory=dict[str, float],
        description="whole-term: cumulative spend due by the end of each month YYYY-MM",
    )
    discount: Fraction = Field(
        default=0.0, lt=1,
        description="negotiated discount on the cloud's list prices (not on price-book entries)",
    )
    shortfall: Literal["cash", "credit"] = Field(
        default="cash",
        description="cash: the gap is invoiced; credit: the gap is paid as prepayment credit, and "
        "consumption drawn from it later does not burn the commitment",
    )
    burns: tuple[CostKind, ...] = Field(default=COST_KINDS, description="kinds of spend that burn it")
    burned_usd: ContractUsd = Field(
        default=0.0,
        description="burned before as_of: in that contract year (per-year) or since the start (whole-term)",
    )
    as_of: Month | None = Field(default=None, description="the first month burned_usd does not cover")
    shortfall_threshold_usd: ContractUsd = Field(
        default=0.0, description="commitment-burn warns about a planned shortfall above this"
    )

    @property
    def first(self) -> int:
        return month_index(self.start)

    @property
    def term_months(self) -> int:
        """The term in months (the spec's rules require exactly one of years and months)."""
        return self.months if self.months is not None else 12 * (self.years or 0)

    @property
    def end(self) -> int:
        """The first month after the term."""
        return self.first + self.term_months

    @property
    def contract_years(self) -> int:
        return math.ceil(self.term_months / 12)

    def year_minimums(self) -> tuple[float, ...]:
        """Each contract year's minimum: the ramp, or the total spread by months."""
        if self.ramp_usd is not None:
            return self.ramp_usd
        months = [min(12, self.term_months - 12 * k) for k in range(self.contract_years)]
        return tuple(self.total_usd * m / self.term_months for m in months)


def _commitment_form(value: Any) -> str:
    return f"{UNION_TAG}contract" if isinstance(value, Mapping | Contract) else f"{UNION_TAG}monthly"


Commitment = Annotated[
    Annotated[Annotated[MonthlyUsd, Field(ge=0)], Tag(f"{UNION_TAG}monthly")]
    | Annotated[Contract, Tag(f"{UNION_TAG}contract")],
    Discriminator(_commitment_form),
]
"""$/month already committed (the flat form), or a contract."""


def horizon_problems(
    horizon: Horizon | None, commitments: Mapping[str, float | Contract], pools: Sequence[Pool]
) -> Iterator[Problem]:
    """The rules of contracts and schedules: they need a horizon, and their months and amounts
    must agree with each other and with it."""
    if horizon is not None and horizon.months % horizon.period_months:
        whole = horizon.months - horizon.months % 3
        yield Problem(
            "horizon.months",
            f"{horizon.months} months are not whole quarters; use {whole or 3} or {whole + 3}, or period: month",
        )
    for cloud, commitment in commitments.items():
        if isinstance(commitment, Contract):
            yield from _contract_problems(f"budget.commitments.{cloud}", commitment, horizon)
    for i, pool in enumerate(pools):
        yield from _schedule_problems(f"pools[{i}].schedule", pool, horizon)


CUMULATIVE = "milestones are cumulative (spend due since the start by that month)"


def _needs_horizon(path: str, what: str) -> Problem:
    return Problem(
        path, f"{what} is planned over months: add horizon: {{start: YYYY-MM, months: N, period: month|quarter}}"
    )


def _contract_problems(path: str, contract: Contract, horizon: Horizon | None) -> Iterator[Problem]:
    if horizon is None:
        yield _needs_horizon(path, "a commitment contract")
    if (contract.years is None) == (contract.months is None):
        yield Problem(path, "give the term as years: N or months: N (exactly one)")
        return
    end = contract.end
    last = month_text(end - 1)
    if contract.minimum == "per-year":
        if contract.milestones:
            yield Problem(f"{path}.milestones", "milestones apply to minimum: whole-term; per-year uses ramp_usd")
        if contract.ramp_usd is not None:
            yield from _ramp_problems(f"{path}.ramp_usd", contract)
    elif contract.ramp_usd is not None:
        yield Problem(f"{path}.ramp_usd", "ramp_usd applies to minimum: per-year; whole-term uses milestones")
    previous = 0.0
    for month, usd in sorted(contract.milestones.items()):
        where = f"{path}.milestones.{month}"
        if not contract.first <= month_index(month) < end:
            yield Problem(where, f"{month} is outside the term {contract.start} to {last}")
        elif usd > contract.total_usd:
            yield Problem(where, f"${usd:,.0f} is above total_usd ${contract.total_usd:,.0f}; {CUMULATIVE}")
        elif usd < previous:
            yield Problem(where, f"${usd:,.0f} is below an earlier milestone's ${previous:,.0f}; {CUMULATIVE}")
        previous = max(previous, usd)
    if "compute" not in contract.burns:
        yield Problem(f"{path}.burns", "GPU compute always burns a commitment: list compute")
    if len(set(contract.burns)) != len(contract.burns):
        yield Problem(f"{path}.burns", "a kind is listed twice")
    if contract.burned_usd > contract.total_usd:
        yield Problem(
            f"{path}.burned_usd", f"${contract.burned_usd:,.0f} is above total_usd ${contract.total_usd:,.0f}"
        )
    if horizon is None:
        return
    if end <= horizon.first:
        yield Problem(
            path, f"the term ends {last}, before the horizon starts {horizon.start}; remove the contract or "
            "move horizon.start",
        )
    elif contract.first >= horizon.end:
        yield Problem(
            f"{path}.start",
            f"{contract.start} is after the horizon's last month {month_text(horizon.end - 1)}; extend horizon.months",
        )
    if contract.as_of is not None and not contract.first <= month_index(contract.as_of) <= horizon.first:
        yield Problem(
            f"{path}.as_of",
            f"{contract.as_of} must be from the contract's start {contract.start} to the horizon's start "
            f"{horizon.start}: burned_usd is what was burned before the months planned",
        )


def _ramp_problems(path: str, contract: Contract) -> Iterator[Problem]:
    ramp = contract.ramp_usd or ()
    years = contract.contract_years
    if len(ramp) != years:
        longer = "longer" if len(ramp) > years else "shorter"
        yield Problem(path, f"{len(ramp)} amounts, {longer} than the term's {years} contract years; give one per year")
    total = sum(ramp)
    if abs(total - contract.total_usd) > max(1.0, 1e-9 * contract.total_usd):
        yield Problem(
            path, f"the years add up to ${total:,.0f}, not total_usd ${contract.total_usd:,.0f}; they must agree"
        )


def _schedule_problems(path: str, pool: Pool, horizon: Horizon | None) -> Iterator[Problem]:
    if not pool.schedule:
        return
    if horizon is None:
        yield _needs_horizon(path, "a pool schedule")
        return
    for month in sorted(pool.schedule):
        if not horizon.first <= month_index(month) < horizon.end:
            yield Problem(
                f"{path}.{month}",
                f"{month} is outside the horizon {horizon.start} to {month_text(horizon.end - 1)}",
            )
