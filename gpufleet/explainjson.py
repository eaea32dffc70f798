"""The plan JSON's keys for explanations and what-if scenarios (docs/design.md,
"The plan JSON"): `explain` (with `plan --explain`, and `gpufleet explain --format json`) and `scenario`
(with `--price-change` / `--quota`), written only then, so other plans stay as they were.
TypedDicts like gpufleet.planjson's: `gpufleet schema --plan` prints the schema they make."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from gpufleet.reasons import Reason

_closed = with_config(ConfigDict(extra="forbid"))


@_closed
class ExplainDoc(TypedDict):
    """One offer a pool could use that the plan left empty, or with fewer nodes than it could
    take, and why (docs/design.md, "Explaining a plan")."""

    pool: str
    cloud: str
    region: str
    instance_type: str
    nodes: int
    """Nodes of the pool on the offer in the plan."""
    price_usd_per_hour: float | None
    """Today's price for the pool's capacity (after a contract's discount); None: no price."""
    reason: Reason
    break_even_usd_per_hour: float | None
    """The whole-cent price at or below which the offer takes at least one more node of the
    pool, everything else unchanged (a re-plan); None where no price would."""
    nodes_at_break_even: int | None
    quota_bucket: str | None
    quota_value_usd_per_month: float | None
    """What one more unit's worth of the bucket's quota (one node's unless the pool comes in
    training units) saves a month (a re-plan); quota only."""
    sentence: str


@_closed
class PriceChangeDoc(TypedDict):
    change: str
    """As given: `cloud[/region[/sku]]=±N%` (`*` for any region or SKU)."""
    percent: float
    offers: int
    """Prices it changed (an offer's on-demand and spot price count once each)."""


@_closed
class QuotaChangeDoc(TypedDict):
    change: str
    cloud: str
    region: str
    bucket: str
    before: int | None
    after: int


@_closed
class ScenarioDoc(TypedDict):
    """A what-if plan: the changes written into the spec, and the diff from the plan without
    them to this one (the diff document, `gpufleet schema --diff`)."""

    price_changes: list[PriceChangeDoc]
    quota_changes: list[QuotaChangeDoc]
    diff: dict[str, Any]
