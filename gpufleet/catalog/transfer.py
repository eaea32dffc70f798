"""What moving a dataset costs per GB: same region, between regions of a cloud, and out to the
internet (another cloud), as sourced data in `data/transfer_rates.csv` (see README.md there).

Each row names its pricing page and how far it was confirmed; the source cloud pays (ingress is
free on both clouds). Each cloud's rows come with the catalog (`Catalog.transfer_rows`, chosen by
its model's `catalog_rows`); a rate is chosen by the source region's continent
(`data/continents.csv`) and, where the page distinguishes them, the pair class (same or another
continent). The price book overrides a kind for a whole cloud:
`prices: {aws/transfer/internet: 0.05}`.

Internet egress is tiered by the account's monthly volume, and the tiers are concave (each TB
is cheaper than the last). Placement and the cost table use the FIRST tier for every byte: the
tier a byte falls in depends on everything else the account sends out that month, which the
plan does not know, and the first tier is the only rate never below the bill. So a transfer
line is an upper bound; `TransferRate.tiers` keeps the page's tiers for the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from gpufleet.catalog import TRANSFER_SEGMENT, Catalog, Cloud, Region, packaged_rows

TransferKind = Literal["same-region", "inter-region", "internet"]
TRANSFER_KINDS: tuple[str, ...] = get_args(TransferKind)
ANY = "*"


@dataclass(frozen=True, slots=True)
class TransferRate:
    """$/GB for one path, with its source; `tiers` are (from TiB/month, $/GB) from the page."""

    cloud: Cloud
    kind: str
    usd_per_gb: float
    source: str
    tiers: tuple[tuple[float, float], ...] = ()
    negotiated: bool = False
    """Set by the price book: the user's rate, which no commitment discount lowers again."""

    def describe(self) -> str:
        """`internet $0.09/GB (first tier of 0.09/0.085/0.07/0.05; <url>)` for cost lines."""
        how = (
            f"first tier of {'/'.join(f'{r:g}' for _, r in self.tiers)}, a bound"
            if len(self.tiers) > 1 else ""
        )
        return f"{self.kind} ${self.usd_per_gb:g}/GB ({'; '.join(p for p in (how, self.source) if p)})"


def transfer_key(cloud: Cloud, kind: str) -> str:
    """The price-book key that overrides one kind of transfer for a cloud."""
    return f"{cloud}/{TRANSFER_SEGMENT}/{kind}"


def continent(country: str) -> str:
    """The pricing continent of a country (`north-america`, `europe`), else `other`."""
    return next((r["continent"] for r in packaged_rows("continents") if r["country"] == country), "other")


def kind_of(source: tuple[Cloud, str], destination: tuple[Cloud, str]) -> str:
    """Which kind of transfer a path is: within a region, within a cloud, or to another cloud."""
    if source[0] != destination[0]:
        return "internet"
    return "same-region" if source[1] == destination[1] else "inter-region"


def transfer_rate(catalog: Catalog, source: Region, destination: Region) -> TransferRate:
    """The rate the source cloud charges to move a GB from `source` to `destination`."""
    kind = kind_of((source.cloud, source.region), (destination.cloud, destination.region))
    key = transfer_key(source.cloud, kind)
    if key in catalog.transfer_prices:
        return TransferRate(source.cloud, kind, catalog.transfer_prices[key], f"price book: {key}", negotiated=True)
    here, there = continent(source.country), continent(destination.country)
    pair = "same-continent" if here == there and here != "other" else "cross-continent"
    rows = catalog.transfer_rows.get(source.cloud, ())
    chosen = _best([r for r in rows if r["kind"] == kind], here, pair)
    if not chosen:
        raise LookupError(f"no {kind} transfer rate for {source.cloud} in data/transfer_rates.csv")
    tiers = tuple(sorted((float(r["from_tib"]), float(r["usd_per_gb"])) for r in chosen))
    return TransferRate(source.cloud, kind, tiers[0][1], chosen[0]["source"], tiers)


def _best(rows: Sequence[Mapping[str, str]], here: str, pair: str) -> list[Mapping[str, str]]:
    """The rows of the most specific (continent, pair) match: exact beats `*`."""
    for want in ((here, pair), (here, ANY), (ANY, pair), (ANY, ANY)):
        found = [r for r in rows if (r["source_continent"], r["pair"]) == want]
        if found:
            return found
    return []
