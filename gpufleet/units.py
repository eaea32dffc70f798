"""Training units (issue 29, docs/design.md, "Training units"): the nodes one job needs in one
site. One NCCL job cannot span regions, so a training pool is only useful in whole, co-located
units: every site that gets nodes of the pool gets a whole number of units.

The mechanism is one number per placement candidate, `unit_of(pool, sku)` (`Candidate.unit`):
the MILP counts a candidate's nodes as an integer number of units. Rack-scale SKUs (a unit of
one rack's instances) reuse it by answering a unit of their own here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from gpufleet.catalog import Sku
from gpufleet.errors import Problem
from gpufleet.specmodel import Pool
from gpufleet.specskus import weighted_gpus


def unit_of(pool: Pool, sku: Sku) -> int:
    """Nodes per unit of the pool on the SKU: `placement.unit_nodes`; for an `rdma` pool without
    it, the whole pool (one site holds all of it, counting the GPUs one node stands for among
    the pool's accelerator choices); else 1 (any node count). On a rack-scale SKU (racks.csv)
    the unit is also whole racks of its smallest size, so an NVLink domain is never cut."""
    if pool.placement.unit_nodes is not None:
        unit = pool.placement.unit_nodes
    elif pool.interconnect == "rdma":
        unit = max(1, math.ceil(pool.gpus / weighted_gpus(pool, sku)))
    else:
        unit = 1
    return math.lcm(unit, min(rack.instances for rack in sku.racks)) if sku.racks else unit


def unit_problems(path: str, pool: Pool) -> Iterator[Problem]:
    """An `rdma` pool whose shares or pins ask for several sites needs units to be split."""
    if pool.interconnect != "rdma" or pool.placement.unit_nodes is not None:
        return
    shared = sorted(cloud for cloud, share in pool.min_share.items() if share > 0)
    if len(shared) > 1 or len(pool.pin) > 1:
        asks = f"min_share on {' and '.join(shared)}" if len(shared) > 1 else f"pins in {len(pool.pin)} places"
        yield Problem(
            f"{path}.placement.unit_nodes",
            f"pool {pool.name} is interconnect: rdma, so it is placed whole in one site (one job "
            f"cannot span regions), but its {asks} split it; to allow a split, set "
            f"placement: {{unit_nodes: N}} to the nodes one job needs: every site then gets whole "
            f"units of N nodes",
        )
