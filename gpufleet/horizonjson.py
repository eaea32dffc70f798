"""The plan JSON's keys for a plan over a horizon (docs/design.md, "The plan JSON"): `horizon`,
`schedule` and `commitments`, written only for such plans, so other plans stay as they were.
TypedDicts like gpufleet.planjson's: `gpufleet schema --plan` prints the schema they make."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from gpufleet.catalog import Cloud
from gpufleet.plan import FleetPlan

_closed = with_config(ConfigDict(extra="forbid"))


@_closed
class HorizonDoc(TypedDict):
    """The spec's horizon and the period this plan deploys: the plan's pools, networks, storage
    and cost are that period's (docs/design.md, "Multi-period placement")."""

    start: str
    months: int
    period: Literal["month", "quarter"]
    deployed: str


@_closed
class ScheduledPlacementDoc(TypedDict):
    cloud: Cloud
    region: str
    instance_type: str
    nodes: int


@_closed
class ScheduledPoolDoc(TypedDict):
    """`largest_region_share`: the most of the pool's GPUs one region holds in the period."""

    name: str
    gpus: int
    placements: list[ScheduledPlacementDoc]
    largest_region_share: float


@_closed
class PeriodDoc(TypedDict):
    """One period of the horizon: placements held from `period` for `months` months, the
    spend per month by cloud (its cost lines'), and the nodes moved since the period before
    (drained from one offer, created on another)."""

    period: str
    months: int
    pools: list[ScheduledPoolDoc]
    cost_by_cloud: dict[str, float]
    monthly_usd: float
    moved_nodes: int


@_closed
class BurnWindowDoc(TypedDict):
    """One checkpoint of a contract: burn in months start..end (with what was burned before
    the horizon) against the minimum due by `due`. `paced`: due after the horizon, judged at
    its end with the minimum pro-rated. `shortfall_usd` is what the contract charges (cash or
    credit by its rule); `over_usd` what was burned beyond the minimum."""

    label: str
    start: str
    end: str
    due: str
    minimum_usd: float
    burn_usd: float
    shortfall_usd: float
    over_usd: float
    paced: bool


@_closed
class CommitmentBurnDoc(TypedDict):
    """A contract's burn over the horizon (`treatment`: cash or credit); `used_up`: the month
    its total is burned at the plan's pace, null if not within the term; `shortfall_cost_usd`:
    shortfalls paid for nothing (credit: left undrawn at the horizon's end)."""

    cloud: Cloud
    start: str
    end: str
    treatment: Literal["cash", "credit"]
    total_usd: float
    periods: list[BurnWindowDoc]
    used_up: str | None
    shortfall_cost_usd: float
    credit_drawn_usd: float
    shortfall_threshold_usd: float
    burned_before_usd: float
    by_period: list[PeriodBurnDoc]


@_closed
class PeriodBurnDoc(TypedDict):
    """A contract's burn in one period of the horizon, after credit drawn."""

    period: str
    burn_usd: float


def horizon_json(plan: FleetPlan) -> tuple[HorizonDoc, list[PeriodDoc], list[CommitmentBurnDoc]] | None:
    """The horizon, schedule and burn of a plan over periods; None for a one-month plan."""
    horizon = plan.spec.horizon
    if horizon is None or plan.period is None:
        return None
    schedule: list[PeriodDoc] = [
        {
            "period": p.start, "months": p.months,
            "pools": [
                {"name": pool.name, "gpus": pool.gpus, "placements": [
                    {"cloud": x.cloud, "region": x.region, "instance_type": x.instance_type, "nodes": x.nodes}
                    for x in pool.placements
                ], "largest_region_share": round(pool.largest_region[1], 4)}
                for pool in p.pools
            ],
            "cost_by_cloud": {c: p.spend(c) for c in plan.spec.clouds.configured()},
            "monthly_usd": round(sum(li.monthly_usd for li in p.lines), 2),
            "moved_nodes": p.moved_nodes,
        }
        for p in plan.schedule
    ]
    burns: list[CommitmentBurnDoc] = [
        {
            "cloud": c.cloud, "start": c.start, "end": c.end,
            "treatment": "credit" if c.treatment == "credit" else "cash", "total_usd": c.total_usd,
            "periods": [
                {"label": w.label, "start": w.start, "end": w.end, "due": w.due, "minimum_usd": w.minimum_usd,
                 "burn_usd": w.burn_usd, "shortfall_usd": w.shortfall_usd, "over_usd": w.over_usd, "paced": w.paced}
                for w in c.windows
            ],
            "used_up": c.used_up, "shortfall_cost_usd": c.shortfall_cost_usd,
            "credit_drawn_usd": c.credit_drawn_usd, "shortfall_threshold_usd": c.threshold_usd,
            "burned_before_usd": c.burned_before_usd,
            "by_period": [{"period": start, "burn_usd": usd} for start, usd in c.by_period],
        }
        for c in plan.commitments
    ]
    doc: HorizonDoc = {"start": horizon.start, "months": horizon.months, "period": horizon.period,
                       "deployed": plan.period}
    return doc, schedule, burns
