"""`gpufleet catalog refresh`: the catalog's GPU offers priced by the clouds' own price APIs.

Which SKUs and regions: every SKU of the catalog in every catalog region of the cloud (so Azure
regions without a packaged price get one). The regions run on the bounded pool of
`gpufleet.live`; each cloud's calls live in its live module (`region_prices`). The result is
offer rows in the packaged offers.csv format (gpufleet.catalog.overlay), each row's `source`
naming the API and the UTC time of the look-up, and a list of what changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gpufleet.catalog import Catalog
from gpufleet.catalog.overlay import COLUMNS
from gpufleet.live import RegionFailure, in_parallel, ready_modules

HEADER = ("cloud", "instance type", "region", "on-demand $/h", "spot $/h", "source")


@dataclass(frozen=True, slots=True)
class LivePrice:
    """One SKU's $/hour in a region as a price API gave it (None: the API has no such price)."""

    cloud: str
    instance_type: str
    region: str
    on_demand: float | None
    spot: float | None
    source: str
    fetched_at: str

    def row(self) -> dict[str, str]:
        """The offers.csv row. A spot price equal to on-demand is written as unknown: both
        clouds' data repeat the on-demand price where there is no spot price (the packaged
        catalog's rule, which the loader applies to refreshed rows as well)."""
        spot = None if self.spot == self.on_demand else self.spot
        values = (self.cloud, self.instance_type, self.region, _cell(self.on_demand), _cell(spot),
                  f"{self.source} at {self.fetched_at}")
        return dict(zip(COLUMNS, values, strict=True))


class PriceLookup(Protocol):
    """What a cloud's live module offers for prices."""

    def prices_credentials_problem(self) -> str | None: ...

    def region_prices(self, region: str, instance_types: Sequence[str]) -> list[LivePrice]: ...


def _cell(price: float | None) -> str:
    """A price as the file holds it: to the micro-dollar (the APIs give at most 6 decimals)."""
    return "" if price is None else repr(round(price, 6))


def targets(catalog: Catalog, chosen: Iterable[str], regions: Sequence[str] = ()) -> dict[tuple[str, str], list[str]]:
    """(cloud, region) -> the cloud's instance types, for the chosen clouds' catalog regions
    (only `regions` where given)."""
    found: dict[tuple[str, str], list[str]] = {}
    for cloud in chosen:
        types = sorted(s.instance_type for s in catalog.skus.values() if s.cloud == cloud)
        for region in catalog.region_names(cloud):
            if not regions or region in regions:
                found[(cloud, region)] = types
    return found


def refresh(
    wanted: Mapping[tuple[str, str], Sequence[str]], lookups: Mapping[str, PriceLookup] | None = None
) -> tuple[list[LivePrice], list[RegionFailure]]:
    """Every (cloud, region)'s prices, regions in parallel; NoCredentialsError (checked once per
    cloud, before any call) when a cloud's price API needs credentials and has none."""
    modules = ready_modules((cloud for cloud, _ in wanted), lookups, lambda m: m.prices_credentials_problem())
    work: dict[str, Callable[[], list[LivePrice]]] = {
        f"{cloud}/{region}": (lambda c=cloud, r=region, t=types: modules[c].region_prices(r, t))
        for (cloud, region), types in sorted(wanted.items())
    }
    results, failures = in_parallel(work)
    found = sorted((p for prices in results.values() for p in prices),
                   key=lambda p: (p.cloud, p.instance_type, p.region))
    failed = [
        RegionFailure(cloud, region, reason)
        for name, reason in sorted(failures.items())
        for cloud, region in [name.split("/", 1)]
    ]
    return found, failed


def incomplete(
    wanted: Mapping[tuple[str, str], Sequence[str]], failed: Sequence[RegionFailure],
    rows: Sequence[Mapping[str, str]], out: Path | None,
) -> str | None:
    """Why a refresh must not count as one, or None: a region that did not answer (its offers
    would keep the packaged prices while the file looks refreshed), or no price at all (an
    empty file would plan with packaged prices under `--catalog-dir`)."""
    kept = f"nothing written to {out}" if out else "nothing to write"
    if failed:
        return (f"{len(failed)} of {len(wanted)} regions not read (first: {failed[0].cloud}/{failed[0].region}, "
                f"{failed[0].reason}); {kept}: a refresh with regions missing would pass for a whole one; "
                "retry, or name the regions that answer with --region")
    if not rows:
        places = ", ".join(f"{cloud}/{region}" for cloud, region in sorted(wanted)[:3])
        more = f" and {len(wanted) - 3} more" if len(wanted) > 3 else ""
        return (f"the price APIs gave no price for the catalog's SKUs in {places}{more}; {kept}: "
                "an empty file would plan with the packaged prices")
    return None


def merged(existing: Sequence[Mapping[str, str]], fresh: Sequence[Mapping[str, str]]) -> list[Mapping[str, str]]:
    """An earlier refreshed file's rows with this refresh's rows over them (refreshing one cloud
    keeps the other's rows)."""
    rows = {(r["cloud"], r["instance_type"], r["region"]): r for r in existing}
    rows.update({(r["cloud"], r["instance_type"], r["region"]): r for r in fresh})
    return list(rows.values())


def _was_is(before: float | None, after: str) -> str:
    old = "-" if before is None else repr(before)
    return old if before == (float(after) if after else None) else f"{old} -> {after or '-'}"


def changes(catalog: Catalog, rows: Sequence[Mapping[str, str]]) -> list[tuple[str, ...]]:
    """Refreshed rows whose prices differ from the catalog's (`old -> new`; `-`: none)."""
    found: list[tuple[str, ...]] = []
    for row in rows:
        offer = catalog.offers.get((row["cloud"], row["instance_type"], row["region"]))
        on_demand = _was_is(offer.price_usd_per_hour if offer else None, row["price_usd_per_hour"])
        spot = _was_is(offer.spot_price_usd_per_hour if offer else None, row["spot_price_usd_per_hour"])
        if "->" in on_demand + spot:
            found.append((row["cloud"], row["instance_type"], row["region"], on_demand, spot, row["source"]))
    return found
