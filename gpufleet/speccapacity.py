"""Capacity the clouds cannot deliver: the spec's `capacity:` section and `plan --unavailable`.

When `pulumi up` fails with `InsufficientInstanceCapacity` (AWS) or `AllocationFailed` /
`SkuNotAvailable` (Azure), the user marks that capacity here and re-plans with `--previous`:
`unavailable` takes offers out of placement ("cloud/region/sku", `*` for every region or SKU),
`available` caps the nodes of one offer, shared by every pool that uses it.

`blocks` is the other side: capacity the user bought or will buy (EC2 Capacity Blocks), with its
dates; gpufleet/specblocks.py checks it and says what placement and the builders take from it.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, cast

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from gpufleet import clouds as registry
from gpufleet.catalog import Catalog
from gpufleet.errors import Problem
from gpufleet.specnumbers import ContractUsd, Nodes
from gpufleet.specwords import one_of

ANY = "*"


DAY_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day(value: object) -> object:
    """A day written YYYY-MM-DD (YAML reads an unquoted one as a date already); nothing else
    pydantic would take for a date (a number of seconds, a datetime)."""
    if isinstance(value, datetime.datetime) or not isinstance(value, str | datetime.date):
        raise ValueError("must be a day written YYYY-MM-DD, e.g. 2026-03-01")
    if isinstance(value, str) and not DAY_PATTERN.match(value):
        raise ValueError(f"'{value}' must be a day written YYYY-MM-DD, e.g. 2026-03-01")
    return value


Day = Annotated[datetime.date, BeforeValidator(_day), WithJsonSchema({"type": "string", "format": "date"})]


class CapacityBlock(BaseModel):
    """Capacity bought for dates: `units` instances of `sku`, or UltraServers when `sku` names
    one (racks.csv `rack`), in one region (and zone), from `start` to `end` (the last day),
    paid `upfront_usd` once."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: str | None = Field(
        default=None, min_length=1, max_length=128,
        description="the reservation as the cloud names it (an EC2 Capacity Block: cr-...); absent: "
        "planned, not yet bought (the node group needs it before it can be built)",
    )
    cloud: str
    region: str
    zone: str | None = Field(default=None, description="the zone the block is in, e.g. us-east-1a")
    sku: str = Field(description="an instance type, or an UltraServer type such as u-p6e-gb200x72")
    units: Annotated[int, Field(gt=0, le=10_000, strict=True)] = Field(
        description="instances, or UltraServers when sku names one"
    )
    start: Day
    end: Day = Field(description="the block's last day")
    upfront_usd: ContractUsd = Field(description="what the block costs, paid once (sunk in placement)")


class CapacityLimits(BaseModel):
    """What the clouds could not deliver, as the user last saw it, and capacity bought in blocks."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    unavailable: tuple[str, ...] = Field(
        default=(),
        description="offers that cannot be had now: 'cloud/region/sku'; '*' for every region or SKU",
    )
    available: dict[str, Annotated[Nodes, Field(ge=0)]] = Field(
        default_factory=dict,
        description="the most nodes one offer 'cloud/region/sku' can deliver, shared by all pools",
    )
    blocks: tuple[CapacityBlock, ...] = Field(
        default=(), max_length=100, description="capacity bought or to buy for dates, used first while it runs"
    )


def entry_problem(entry: str, catalog: Catalog, *, wildcards: bool = True) -> str | None:
    """Why an entry names no capacity (unknown cloud, region or SKU, with suggestions), or None."""
    parts = entry.split("/")
    shape = "'cloud/region/sku'" + (" ('*' for every region or SKU)" if wildcards else "")
    if len(parts) != 3 or not all(parts):
        return f"'{entry}' must be {shape}"
    cloud, region, sku = parts
    if cloud not in registry.names():
        return one_of("cloud", cloud, list(registry.names()))
    if not wildcards and ANY in (region, sku):
        return f"'{entry}' must name one offer: {shape}, no '*'"
    if region != ANY and catalog.region(cloud, region) is None:
        return one_of(f"{cloud} region", region, catalog.region_names(cloud))
    if sku != ANY and catalog.sku(cloud, sku) is None:
        return one_of(f"{cloud} instance type", sku, sorted(s for c, s in catalog.skus if c == cloud))
    return None


def capacity_problems(limits: CapacityLimits, catalog: Catalog) -> Iterator[Problem]:
    """The section's entries checked against the catalog (called from the spec's rules)."""
    for i, entry in enumerate(limits.unavailable):
        if problem := entry_problem(entry, catalog):
            yield Problem(f"capacity.unavailable[{i}]", problem)
    for entry in limits.available:
        if problem := entry_problem(entry, catalog, wildcards=False):
            yield Problem(f"capacity.available.{entry}", problem)
        elif entry in limits.unavailable:
            yield Problem(f"capacity.available.{entry}", f"'{entry}' is also listed as unavailable")


def flag_problems(entries: Sequence[str], catalog: Catalog) -> list[Problem]:
    """`plan --unavailable` values, checked like the spec's entries but named as the flag."""
    return [
        Problem("--unavailable", problem)
        for entry in entries if (problem := entry_problem(entry, catalog))
    ]


def with_unavailable(data: object, entries: Sequence[str]) -> object:
    """The raw fleet mapping with one-off `--unavailable` entries added to `capacity.unavailable`
    (the original is not changed); anything but a mapping is left for validation to refuse."""
    if not entries or not isinstance(data, Mapping):
        return data
    fleet = dict(cast(Mapping[str, Any], data))
    found = fleet.get("capacity")
    section = dict(cast(Mapping[str, Any], found)) if isinstance(found, Mapping) else {}
    listed = section.get("unavailable")
    before = list(cast(Sequence[object], listed)) if isinstance(listed, list | tuple) else []
    section["unavailable"] = before + [e for e in entries if e not in before]
    fleet["capacity"] = section
    return fleet


@dataclass(frozen=True)
class Shortfalls:
    """The capacity rules as placement asks them: is an offer out, and how many nodes it has."""

    unavailable: tuple[str, ...] = ()
    available: Mapping[str, int] | None = None

    @classmethod
    def of(cls, limits: CapacityLimits) -> Shortfalls:
        return cls(limits.unavailable, dict(limits.available))

    def rule_for(self, offer_key: str) -> str | None:
        """The `unavailable` entry that takes out an offer 'cloud/region/sku', or None."""
        cloud, region, sku = offer_key.split("/")
        for entry in self.unavailable:
            c, r, s = entry.split("/")
            if c == cloud and r in (ANY, region) and s in (ANY, sku):
                return entry
        return None

    def cap(self, offer_key: str) -> int | None:
        """The most nodes the offer delivers (`available`), or None: no known limit."""
        return (self.available or {}).get(offer_key)
