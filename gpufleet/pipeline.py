"""The pure pipeline from a validated spec to a `FleetPlan`: placement, the address plan and the
cost model. The data model it fills in is `gpufleet.plan`."""

from __future__ import annotations

from collections.abc import Sequence

from gpufleet import cost, ipam
from gpufleet.catalog import Cloud
from gpufleet.errors import SpecError
from gpufleet.placement import colocated_storage, place
from gpufleet.plan import FleetPlan, Placement, PoolPlan
from gpufleet.quota import quota_use
from gpufleet.spec import FleetSpec, autoscale_problems


def build_plan(spec: FleetSpec, stack: str, previous: Sequence[Placement] = ()) -> FleetPlan:
    """Place the pools, cut the address plan and price it all: the whole pure pipeline."""
    catalog = spec.catalog()
    result = place(spec, catalog, previous)
    planned_nodes: dict[str, int] = {}
    for made in result.placements:
        planned_nodes[made.pool] = planned_nodes.get(made.pool, 0) + made.nodes
    too_high = autoscale_problems(spec, planned_nodes)
    if too_high:
        raise SpecError(too_high)
    by_pool = {
        pool.name: PoolPlan(
            pool.name,
            pool.accelerator,
            pool.gpus,
            tuple(p for p in result.placements if p.pool == pool.name),
        )
        for pool in spec.pools
    }
    used: list[tuple[Cloud, str]] = sorted({(p.cloud, p.region) for p in result.placements})
    networks = ipam.allocate(spec, used)
    storage = colocated_storage(spec, result.placements)
    return FleetPlan(
        stack=stack,
        spec=spec,
        pools=tuple(by_pool[pool.name] for pool in spec.pools),
        networks=networks,
        storage=storage,
        cost=cost.estimate(spec, result.placements, networks, storage),
        quota=quota_use(spec, catalog, result.placements),
        solver=result.solver,
        skipped_offers=result.skipped,
    )
