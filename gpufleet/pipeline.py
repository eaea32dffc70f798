"""The pure pipeline from a validated spec to a `FleetPlan`: placement, the address plan and the
cost model. The data model it fills in is `gpufleet.plan`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from gpufleet import addresses, cost, interconnect, ipam, pipes
from gpufleet.burn import burn_report
from gpufleet.catalog import Cloud
from gpufleet.errors import Problem, SpecError
from gpufleet.horizon import periods
from gpufleet.live import LiveQuota
from gpufleet.months import current_month, month_index, month_problem, month_text
from gpufleet.placement import colocated_storage, place, plan_ledger, unavailable_offers
from gpufleet.placement.candidates import candidates
from gpufleet.placement.horizon import place_horizon
from gpufleet.plan import FleetPlan, LinkPlan, NetworkPlan, PeriodPlan, Placement, PoolPlan, SolverReport, StoragePlan
from gpufleet.quota import QuotaKey, quota_use, with_live_quotas
from gpufleet.spec import FleetSpec
from gpufleet.spechorizon import Horizon
from gpufleet.spread import region_share


def build_plan(
    spec: FleetSpec, stack: str, previous: Sequence[Placement] = (), live: Sequence[LiveQuota] = (),
    period: str | None = None,
) -> FleetPlan:
    """Place the pools, cut the address plan and price it all: the whole pure pipeline.
    `live` quotas fill the buckets the spec does not declare (`with_live_quotas`). With a
    horizon, every period is planned and the plan deploys one: `period` (a month, YYYY-MM) or,
    without it, the period this month falls in (`deployed_period`)."""
    spec, sources = with_live_quotas(spec, live)
    if spec.horizon is not None:
        return _over_horizon(spec, stack, previous, sources, period)
    catalog = spec.catalog()
    result = place(spec, catalog, previous)
    return _plan_of(spec, stack, result.placements, result.solver, skipped=result.skipped, sources=sources)


def _plan_of(
    spec: FleetSpec, stack: str, placements: Sequence[Placement], solver: SolverReport, *, skipped: Sequence[str],
    sources: Mapping[QuotaKey, str],
) -> FleetPlan:
    """The plan of one set of placements: pools, networks, storage, cost and quota."""
    catalog = spec.catalog()
    planned_nodes: dict[str, int] = {}
    for made in placements:
        planned_nodes[made.pool] = planned_nodes.get(made.pool, 0) + made.nodes
    too_high = autoscale_problems(spec, planned_nodes)
    if too_high:
        raise SpecError(too_high)
    pools, networks, storage, link = _laid_out(spec, placements)
    return FleetPlan(
        stack=stack,
        spec=spec,
        pools=pools,
        networks=networks,
        storage=storage,
        cost=cost.estimate(spec, placements, networks, storage, link),
        quota=quota_use(spec, catalog, placements, sources),
        solver=solver,
        skipped_offers=tuple(skipped),
        unavailable_offers=tuple(unavailable_offers(spec, catalog)),
        link=link,
        pipes=pipes.pipe_uses(spec, storage, link),
    )


def _laid_out(
    spec: FleetSpec, placements: Sequence[Placement]
) -> tuple[tuple[PoolPlan, ...], tuple[NetworkPlan, ...], tuple[StoragePlan, ...], LinkPlan | None]:
    """Each pool's placements, the networks that hold them, the storage copies and the link."""
    found, _ = candidates(spec, spec.catalog())
    spread = {pool.name: region_share(spec, pool, [c for c in found if c.pool is pool]) for pool in spec.pools}
    by_pool = {
        pool.name: PoolPlan(
            pool.name, pool.accelerator_label(), pool.gpus, tuple(p for p in placements if p.pool == pool.name),
            spread[pool.name],
        )
        for pool in spec.pools
    }
    used: list[tuple[Cloud, str]] = sorted({(p.cloud, p.region) for p in placements})
    networks = addresses.with_use(spec, ipam.allocate(spec, used), placements)
    storage = colocated_storage(spec, placements)
    link = pipes.sized(spec, interconnect.plan_link(spec, networks), storage)
    return tuple(by_pool[pool.name] for pool in spec.pools), networks, storage, link


def _over_horizon(
    spec: FleetSpec, stack: str, previous: Sequence[Placement], sources: Mapping[QuotaKey, str], period: str | None
) -> FleetPlan:
    """Every period placed, priced and laid out; the deployed period's plan carries the
    schedule and each contract's burn (docs/design.md, "Multi-period placement")."""
    assert spec.horizon is not None
    deployed = deployed_period(spec.horizon, period)
    result = place_horizon(spec, previous)
    schedule: list[PeriodPlan] = []
    before: Sequence[Placement] = previous
    for cut, period_spec, placements in zip(result.periods, result.specs, result.placements, strict=True):
        pools, networks, storage, link = _laid_out(period_spec, placements)
        lines = cost.estimate(period_spec, placements, networks, storage, link).lines
        schedule.append(PeriodPlan(cut.start, cut.months, pools, lines, moved_nodes(before, placements)))
        before = placements
    here = result.specs[deployed]
    chosen = result.placements[deployed]
    solver = replace(result.solver, objective_usd=plan_ledger(here, chosen).total_usd)
    plan = _plan_of(here, stack, chosen, solver, skipped=result.skipped, sources=sources)
    return replace(
        plan, period=result.periods[deployed].start, schedule=tuple(schedule),
        commitments=burn_report(spec, schedule),
    )


def deployed_period(horizon: Horizon, month: str | None, source: str = "gpufleet:period") -> int:
    """The index of the period a deployment takes: the one `month` falls in, or without one
    the one this month (UTC) falls in; before the horizon, its first period. A month after
    the horizon (or outside it, given) is refused: planning further needs a longer horizon."""
    cut = periods(horizon)
    last = month_text(horizon.end - 1)
    if month is not None:
        problem = month_problem(month)
        if problem is not None:
            raise SpecError([Problem(source, problem)])
        wanted = month_index(month)
        if not horizon.first <= wanted < horizon.end:
            raise SpecError([Problem(source, f"{month} is outside the horizon {horizon.start} to {last}")])
    else:
        wanted = max(current_month(), horizon.first)
        if wanted >= horizon.end:
            raise SpecError([Problem(source, (
                f"this month ({month_text(wanted)}) is after the horizon {horizon.start} to {last}: move "
                "horizon.start or extend horizon.months, or pin a period with --period / gpufleet:period"
            ))])
    return next(p.index for p in cut if wanted in p)


def moved_nodes(before: Sequence[Placement], after: Sequence[Placement]) -> int:
    """Nodes drained from one offer and created on another, per pool: the smaller of the nodes
    a pool lost on some offers and gained on others (a pool that only shrinks or grows moves
    none)."""
    was: dict[tuple[str, str], int] = {}
    for p in before:
        was[(p.pool, p.key)] = was.get((p.pool, p.key), 0) + p.nodes
    now: dict[tuple[str, str], int] = {}
    for p in after:
        now[(p.pool, p.key)] = now.get((p.pool, p.key), 0) + p.nodes
    moved = 0
    for pool in {pool for pool, _ in was.keys() | now.keys()}:
        keys = [k for k in was.keys() | now.keys() if k[0] == pool]
        lost = sum(max(0, was.get(k, 0) - now.get(k, 0)) for k in keys)
        gained = sum(max(0, now.get(k, 0) - was.get(k, 0)) for k in keys)
        moved += min(lost, gained)
    return moved


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
