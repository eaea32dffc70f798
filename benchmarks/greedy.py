"""The greedy baseline the placement benchmark compares `place` against: not product code."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gpufleet.catalog import Catalog
from gpufleet.cost import region_fixed_usd, storage_monthly_usd
from gpufleet.placement import Candidate, candidates, placement_of
from gpufleet.plan import Placement
from gpufleet.quota import QuotaKey, declared_quotas, quota_key
from gpufleet.spec import FleetSpec, Pool


def greedy_place(spec: FleetSpec, catalog: Catalog) -> tuple[Placement, ...] | None:
    """Baseline as launch-time tools do it: each pool in turn takes the cheapest $/GPU offers left.

    Pins are placed first, then each min share from its cloud's cheapest offers, then the rest
    from the cheapest offers within max shares. An offer in a region no pool uses yet is charged
    the region's fixed cost (and the copies of storage co-located with the pool) on top of its
    nodes, so greedy too opens a region only when that is cheaper per GPU. Quotas are consumed
    pool by pool; commitments and the budget are ignored. None when a pool cannot be placed
    this way. `spend_by_cloud` prices the result as the MILP's plans are priced.
    """
    cands, _ = candidates(spec, catalog)
    greedy = _Greedy(spec, {key: limit for key, (_, limit) in declared_quotas(spec).items()})
    for pool in spec.pools:
        mine = sorted(
            (c for c in cands if c.pool.name == pool.name),
            key=lambda c: (c.hourly / c.sku.gpus, c.key),
        )
        if not greedy.place_pool(pool, mine):
            return None
    order = {c.key: i for i, c in enumerate(cands)}
    chosen = sorted(greedy.chosen.values(), key=lambda pair: order[pair[0].key])
    return tuple(placement_of(c, n) for c, n in chosen)


@dataclass
class _Greedy:
    spec: FleetSpec
    room: dict[QuotaKey, int]
    chosen: dict[str, tuple[Candidate, int]] = field(
        default_factory=dict[str, tuple[Candidate, int]]
    )
    per_cloud: dict[str, int] = field(default_factory=dict[str, int])
    pools_at: dict[str, set[str]] = field(default_factory=dict[str, set[str]])  # place → pools

    def place_pool(self, pool: Pool, mine: list[Candidate]) -> bool:
        self.per_cloud = {}
        for place_key, pinned in sorted(pool.pin.items()):
            here = [c for c in mine if c.place == place_key and self.quota_nodes(c) >= pinned]
            if not here:
                return False
            self.take(here[0], pinned)
        free = [c for c in mine if c.place not in pool.pin]
        for cloud in sorted(pool.min_share):
            need = pool.min_gpus(cloud) - self.per_cloud.get(cloud, 0)
            if self.fill(pool, [c for c in free if c.cloud == cloud], need) > 0:
                return False
        return self.fill(pool, free, pool.gpus - sum(self.per_cloud.values())) <= 0

    def quota_nodes(self, c: Candidate) -> int:
        keys = [quota_key(c.cloud, c.region, b) for b in c.buckets]
        return min([self.room[k] // c.sku.vcpus for k in keys if k in self.room], default=1 << 30)

    def take(self, c: Candidate, nodes: int) -> None:
        for b in c.buckets:
            key = quota_key(c.cloud, c.region, b)
            if key in self.room:
                self.room[key] -= nodes * c.sku.vcpus
        self.chosen[c.key] = (c, self.chosen.get(c.key, (c, 0))[1] + nodes)
        self.pools_at.setdefault(c.place, set()).add(c.pool.name)
        self.per_cloud[c.cloud] = self.per_cloud.get(c.cloud, 0) + nodes * c.sku.gpus

    def opening(self, c: Candidate) -> float:
        """What taking nodes of `c` adds besides the nodes: a new region, new storage copies."""
        there = self.pools_at.get(c.place, set())
        usd = 0.0 if there else region_fixed_usd(c.cloud)
        for entry in self.spec.storage:
            if c.pool.name in entry.colocate_with and not there & set(entry.colocate_with):
                usd += storage_monthly_usd(c.cloud, c.region, entry.size_tib)
        return usd

    def fill(self, pool: Pool, options: list[Candidate], need: int) -> int:
        """Take the offer of least $/GPU, fixed costs included, until `need` GPUs are placed."""
        while need > 0:
            best: tuple[float, int, Candidate, int] | None = None
            for i, c in enumerate(options):
                cap = pool.max_share.get(c.cloud, 1.0) * pool.gpus - self.per_cloud.get(c.cloud, 0)
                nodes = min(
                    math.ceil(need / c.sku.gpus), self.quota_nodes(c), int(cap + 1e-9) // c.sku.gpus
                )
                if nodes > 0:
                    per_gpu = (nodes * c.monthly + self.opening(c)) / (nodes * c.sku.gpus)
                    if best is None or (per_gpu, i) < best[:2]:
                        best = (per_gpu, i, c, nodes)
            if best is None:
                break
            _, _, c, nodes = best
            self.take(c, nodes)
            need -= nodes * c.sku.gpus
        return need
