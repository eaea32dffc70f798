"""The pure pipeline from a validated spec to a `FleetPlan`: placement, the address plan and the
cost model. The data model it fills in is `gpufleet.plan`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gpufleet import addresses, cost, interconnect, ipam
from gpufleet.catalog import Cloud
from gpufleet.errors import Problem, SpecError
from gpufleet.live import LiveQuota
from gpufleet.placement import colocated_storage, place, unavailable_offers
from gpufleet.plan import FleetPlan, Placement, PoolPlan
from gpufleet.quota import quota_use, with_live_quotas
from gpufleet.spec import FleetSpec


def build_plan(
    spec: FleetSpec, stack: str, previous: Sequence[Placement] = (), live: Sequence[LiveQuota] = ()
) -> FleetPlan:
    """Place the pools, cut the address plan and price it all: the whole pure pipeline.
    `live` quotas fill the buckets the spec does not declare (`with_live_quotas`)."""
    spec, sources = with_live_quotas(spec, live)
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
    networks = addresses.with_use(spec, ipam.allocate(spec, used), result.placements)
    link = interconnect.plan_link(spec, networks)
    storage = colocated_storage(spec, result.placements)
    return FleetPlan(
        stack=stack,
        spec=spec,
        pools=tuple(by_pool[pool.name] for pool in spec.pools),
        networks=networks,
        storage=storage,
        cost=cost.estimate(spec, result.placements, networks, storage, link),
        quota=quota_use(spec, catalog, result.placements, sources),
        solver=result.solver,
        skipped_offers=result.skipped,
        unavailable_offers=tuple(unavailable_offers(spec, catalog)),
        link=link,
    )


def autoscale_problems(spec: FleetSpec, planned_nodes: Mapping[str, int]) -> list[Problem]:
    """After placement: `autoscale.min_nodes` above a pool's planned nodes would be lowered to
    them without a word; refuse it, naming the planned count (it depends on the SKUs chosen)."""
    return [
        Problem(
            f"pools[{i}].autoscale.min_nodes",
            f"min_nodes {pool.autoscale.min_nodes} is above the {planned} nodes placed for pool "
            f"{pool.name}; at most {planned}",
        )
        for i, pool in enumerate(spec.pools)
        if pool.autoscale is not None
        and pool.autoscale.min_nodes > (planned := planned_nodes.get(pool.name, 0))
    ]
