"""The placement MILP's share rows (`Formulation._pool_rows` calls them): a pool's GPUs per cloud
within its `min_share`/`max_share`, its pins, and its GPUs per region within its region share
(`gpufleet.spread`; docs/design.md, "Spreading"), and the node bounds those rows imply.

Every row counts a pool's nodes over its own columns (`Term`), so each holds in every model
built from them: the single-period levels, each period's block of a horizon's joint model and
its pricing problems, and the relaxed models of the diagnosis. A region's row counts GPUs as the
cloud rows do (what a node counts toward the pool, `Candidate.gpus`); a candidate in units
counts whole units (`Formulation.unit_cols`), so a share is met in whole units or not at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from gpufleet.catalog import Cloud
from gpufleet.placement.candidates import Candidate
from gpufleet.placement.milp import Milp
from gpufleet.quota import QuotaKey, quota_key, quota_units
from gpufleet.spec import Pool

SLACK = 1e-9
"""Float noise allowed on a share's bounds (shares are fractions of whole GPUs)."""


@dataclass(frozen=True)
class Term:
    """A column counting some of a pool's nodes: `gpus` each (what a node counts toward the
    pool, `Candidate.gpus`), on `cloud` (in `place`, if known: a group's split column has none,
    and a pool with a region share is never grouped)."""

    col: int
    cloud: Cloud
    place: str
    gpus: int | Fraction


def most_nodes(
    c: Candidate, limits: Mapping[QuotaKey, tuple[str, int]], elastic: set[QuotaKey], shares: bool
) -> int:
    """The most nodes any feasible plan puts on `c`: the pool's size (or pin) within its region
    share (`Candidate.max_nodes`), its declared quotas (unless elastic) and its cloud's max
    share. The region binaries' links use these bounds as their big-M (Σ nodes ≤ Σ bounds ×
    open), so tighter is better."""
    most = c.max_nodes if c.cap is None else min(c.max_nodes, c.cap)
    for bucket in c.buckets:
        key = quota_key(c.cloud, c.region, bucket)
        if key in limits and key not in elastic:
            most = min(most, limits[key][1] // quota_units(c.sku))
    if shares and c.cloud in c.pool.max_share:
        most = min(most, c.pool.max_gpus(c.cloud) // c.gpus)
    return most


def share_rows(milp: Milp, pool: Pool, terms: Sequence[Term], region_gpus: int | None) -> None:
    """The pool's GPUs per cloud within its min and max share, its pins, and its GPUs in each
    region at most `region_gpus` (its region share, `Candidate.region_gpus`; None: no cap)."""
    for cloud in sorted(set(pool.min_share) | set(pool.max_share)):
        gpus = {t.col: float(t.gpus) for t in terms if t.cloud == cloud}
        low = pool.min_share.get(cloud, 0.0) * pool.gpus
        high = pool.max_share.get(cloud, 1.0) * pool.gpus
        milp.row(low - SLACK, high + SLACK, gpus)
    for place, nodes in sorted(pool.pin.items()):
        milp.row(float(nodes), float(nodes), {t.col: 1.0 for t in terms if t.place == place})
    if region_gpus is not None:
        region_rows(milp, terms, region_gpus)


def region_rows(milp: Milp, terms: Sequence[Term], region_gpus: int) -> None:
    """Σ GPUs of the terms in each region ≤ `region_gpus`: a row per region the terms reach."""
    regions: dict[str, dict[int, float]] = {}
    for t in terms:
        assert t.place, "a region share needs the pool's own columns (interchangeable keeps it alone)"
        regions.setdefault(t.place, {})[t.col] = float(t.gpus)
    for _, gpus in sorted(regions.items()):
        milp.row(-math.inf, region_gpus + SLACK, gpus)
