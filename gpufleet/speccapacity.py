"""Capacity the clouds cannot deliver: the spec's `capacity:` section and `plan --unavailable`.

When `pulumi up` fails with `InsufficientInstanceCapacity` (AWS) or `AllocationFailed` /
`SkuNotAvailable` (Azure), the user marks that capacity here and re-plans with `--previous`:
`unavailable` takes offers out of placement ("cloud/region/sku", `*` for every region or SKU),
`available` caps the nodes of one offer, shared by every pool that uses it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, cast

from pydantic import BaseModel, ConfigDict, Field

from gpufleet import clouds as registry
from gpufleet.catalog import Catalog
from gpufleet.errors import Problem
from gpufleet.specnumbers import Nodes
from gpufleet.specwords import one_of

ANY = "*"


class CapacityLimits(BaseModel):
    """What the clouds could not deliver, as the user last saw it."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    unavailable: tuple[str, ...] = Field(
        default=(),
        description="offers that cannot be had now: 'cloud/region/sku'; '*' for every region or SKU",
    )
    available: dict[str, Annotated[Nodes, Field(ge=0)]] = Field(
        default_factory=dict,
        description="the most nodes one offer 'cloud/region/sku' can deliver, shared by all pools",
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
