"""Spreading for availability (issue 29; docs/design.md, "Spreading"): the most of a pool's GPUs
one region (a cloud's region: a site) may hold, so one region's outage or spot reclaim never
takes a whole pool.

A pool's own `placement.max_region_share` is declared: every region holds at most that share of
the pool's GPUs (`gpus`, as `min_share`/`max_share` count them), in whole nodes and whole units
(`gpufleet.units`): a unit is never split to meet a share, so a share that whole units cannot
meet makes the plan infeasible, and the diagnosis says why. Without it, the fleet's default for
the pool's capacity (`placement.max_region_share`, spot 0.5 unless set) applies where the pool
can spread: two or more regions offer it on clouds its `max_share` allows, and one node or unit
is less than the pool. A default
is met to within one node or unit (half of three nodes is two in one region and one in
another): it asks for a spread, not for an infeasible plan. Where it cannot apply, the plan says
why (`RegionShare.note`).

Pure: no solver import. The placement model reads `Candidate.region_gpus`; the plan shows
`RegionShare` and each pool's largest region share (`largest_region_share`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from gpufleet.errors import Problem
from gpufleet.specmodel import FleetSpec, Pool


@dataclass(frozen=True, slots=True)
class RegionShare:
    """The share one region may hold of a pool, as placement holds it: `most_gpus` (None: no
    cap); `declared` when the pool sets it, else a fleet default; `note` why a default does
    not apply (or empty)."""

    share: float | None
    most_gpus: int | None
    declared: bool = False
    note: str = ""

    @property
    def label(self) -> str:
        """How the plan names the cap: `0.5`, `0.5 (spot default)`, or `-`."""
        if self.share is None:
            return "-"
        return f"{self.share:g}" if self.declared else f"{self.share:g} (default)"


NO_CAP = RegionShare(None, None)


class Site(Protocol):
    """Where a pool may run (a placement candidate): its place, nodes per unit, GPUs per node."""

    @property
    def place(self) -> str: ...

    @property
    def unit(self) -> int: ...

    @property
    def gpus(self) -> int | Fraction: ...


def region_share(spec: FleetSpec, pool: Pool, sites: Sequence[Site]) -> RegionShare:
    """The region share in force for `pool`, given its placement candidates."""
    own = pool.placement.max_region_share
    if own is not None:
        return NO_CAP if own >= 1.0 else RegionShare(own, math.floor(own * pool.gpus + 1e-9), declared=True)
    share = spec.placement.region_share(pool.capacity)
    if share is None:
        return NO_CAP
    why = f"{pool.capacity} pools spread at most {share:g} of their GPUs per region by default"
    if pool.interconnect == "rdma" and pool.placement.unit_nodes is None:
        return RegionShare(None, None, note=(
            f"{why}; an rdma pool stays whole in one site (set placement.unit_nodes to spread it)"
        ))
    places = sorted({s.place for s in sites if pool.max_share.get(s.place.partition("/")[0], 1.0) > 0})
    if len(places) < 2:
        where = places[0] if places else "no region"
        return RegionShare(None, None, note=f"{why}; only {where} can hold this pool, so it stays in one region")
    most = max(math.ceil(share * pool.gpus / (s.unit * s.gpus)) * s.unit * s.gpus for s in sites)
    if most >= pool.gpus:
        return RegionShare(None, None, note=f"{why}; one node or unit of this pool is {share:g} of it or more")
    return RegionShare(share, math.floor(most))


def largest_region_share(pool_gpus: int, gpus_by_place: Sequence[tuple[str, int]]) -> tuple[str, float]:
    """The region holding most of a pool's GPUs and its share of the pool's `gpus` ("", 0.0
    for a pool without placements)."""
    totals: dict[str, int] = {}
    for place, gpus in gpus_by_place:
        totals[place] = totals.get(place, 0) + gpus
    if not totals or pool_gpus <= 0:
        return "", 0.0
    place = min(totals, key=lambda p: (-totals[p], p))
    return place, totals[place] / pool_gpus


def share_problems(path: str, pool: Pool, spec: FleetSpec) -> Iterator[Problem]:
    """A declared `placement.max_region_share` that no plan can meet, from the spec alone: too
    few configured regions for the pool's GPUs, a cloud's `min_share` its regions cannot hold,
    an rdma pool that is whole in one site, or a unit larger than one region may hold."""
    share = pool.placement.max_region_share
    if share is None or share >= 1.0:
        return
    field = f"{path}.placement.max_region_share"
    most = math.floor(share * pool.gpus + 1e-9)
    regions = spec.clouds.regions()
    if most * len(regions) < pool.gpus:
        yield Problem(field, (
            f"{share:g} lets one region hold at most {most} of pool {pool.name}'s {pool.gpus} GPUs, so it "
            f"needs {math.ceil(pool.gpus / max(most, 1))} regions and the spec configures {len(regions)}; "
            f"at least {_least(math.ceil(pool.gpus / len(regions)), pool)}, or configure more regions"
        ))
    for cloud, low in sorted(pool.min_share.items()):
        there = len(spec.clouds.regions_of(cloud))
        if pool.min_gpus(cloud) > most * there:
            yield Problem(field, (
                f"{share:g} lets each of {cloud}'s {there} region(s) hold at most {most} GPUs, but "
                f"min_share.{cloud} {low:g} asks for {pool.min_gpus(cloud)} on {cloud}; at least "
                f"{_least(math.ceil(pool.min_gpus(cloud) / there), pool)}, or more {cloud} regions"
            ))
    if pool.interconnect == "rdma" and pool.placement.unit_nodes is None:
        yield Problem(field, (
            f"pool {pool.name} is interconnect: rdma, so it is placed whole in one site, and {share:g} splits "
            "it; set placement: {unit_nodes: N} to the nodes one job needs, or remove max_region_share"
        ))
    elif pool.gpus_per_node is not None:
        nodes = pool.placement.unit_nodes or 1
        unit = nodes * pool.gpus_per_node
        what = f"one unit of {nodes} nodes is" if nodes > 1 else "one node holds"
        fix = ", or a smaller placement.unit_nodes" if nodes > 1 else ""
        if unit > most:
            yield Problem(field, (
                f"{what} {unit} GPUs, more than the {most} of {pool.gpus} that {share:g} lets one region "
                f"hold, and a {'unit' if nodes > 1 else 'node'} is never split; at least {_least(unit, pool)}{fix}"
            ))


def _least(gpus: int, pool: Pool) -> str:
    """The smallest share (three decimals, rounded up) that lets one region hold `gpus`."""
    return f"{math.ceil(gpus / pool.gpus * 1000 - 1e-9) / 1000:g}"
