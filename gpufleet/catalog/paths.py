"""The line rates of the paths dataset copies travel, as sourced data (`data/paths.csv`).

One row per path and size: an Azure VPN gateway SKU (aggregate and per-tunnel throughput, S2S
tunnels, $/hour), an AWS Site-to-Site VPN tunnel, each cloud's object store. A blank `gbps` is a
path with no documented cap (S3): such a copy is shown unchecked, never as fitting. Every row
names its source and how far it was confirmed; prices are marked in `notes`. The cloud models
read their rows (`CloudModel.path_rows`); gpufleet/pipes.py checks copies against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from gpufleet.catalog.limits import Confidence, data_rows


@dataclass(frozen=True, slots=True)
class PathRate:
    """One size of one path of one cloud: what it carries and what it costs."""

    cloud: str
    path: str
    size: str
    generation: str
    zone_redundant: bool
    gbps: float | None
    per_tunnel_gbps: float | None
    max_tunnels: int | None
    usd_per_hour: float | None
    source: str
    confidence: Confidence
    notes: str


def _number(text: str) -> float | None:
    return float(text) if text else None


@cache
def path_rates() -> tuple[PathRate, ...]:
    """Every row of data/paths.csv, in file order (smallest size first within a path)."""
    return tuple(
        PathRate(
            cloud=row["cloud"],
            path=row["path"],
            size=row["size"],
            generation=row["generation"],
            zone_redundant=row["zone_redundant"] == "yes",
            gbps=_number(row["gbps"]),
            per_tunnel_gbps=_number(row["per_tunnel_gbps"]),
            max_tunnels=int(row["max_tunnels"]) if row["max_tunnels"] else None,
            usd_per_hour=_number(row["usd_per_hour"]),
            source=row["source"],
            confidence=row["confidence"],  # type: ignore[arg-type]  # checked by the tests
            notes=row["notes"],
        )
        for row in data_rows("paths.csv")
    )
