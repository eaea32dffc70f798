"""Why there is no placement: relaxed problems re-solved to name the pool, the shortfall, the
limits that bind and the smallest quota raises or price-book entries that would help."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gpufleet import addresses, clouds
from gpufleet.catalog import Catalog, Cloud, price_key
from gpufleet.clusters import model_fits
from gpufleet.interconnect import linked
from gpufleet.nodegroups import SYSTEM_GROUPS, ClusterLimits, cluster_limits
from gpufleet.placement.candidates import Candidate, placement_of, unavailable_offers
from gpufleet.placement.formulation import Formulation
from gpufleet.placement.milp import Solved
from gpufleet.placement.options import SolverOptions
from gpufleet.placement.shares import Term, region_rows
from gpufleet.placement.spend import plan_ledger
from gpufleet.plan import RangeUse
from gpufleet.poolneeds import lacking
from gpufleet.quota import QuotaKey, declared_quotas, quota_key, unit_noun
from gpufleet.spec import FleetSpec, Pool
from gpufleet.specskus import offer_refusal, pool_skus

MAX_FIXES_SHOWN = 3


def diagnose(
    spec: FleetSpec,
    catalog: Catalog,
    cands: Sequence[Candidate],
    skipped: Sequence[str],
    options: SolverOptions,
) -> str:
    """Re-solve relaxed problems to name the pool, the shortfall and the limits that bind."""
    for pool in spec.pools:
        mine = [c for c in cands if c.pool.name == pool.name]
        hint = _PriceHint(catalog, skipped, unavailable_offers(spec, catalog))
        problem = _pool_problem(spec, pool, mine, hint, options)
        if problem:
            return problem
    joint = Formulation(spec, cands, spec.pools, budget=False)
    cheapest = joint.milp.solve(joint.spend, options=options)
    if not cheapest.feasible:
        unlimited = Formulation(spec, cands, spec.pools, budget=False, clusters=False)
        solved = unlimited.milp.solve(unlimited.spend, options=options)
        if solved.feasible:
            return _cluster_problem(spec, cands, unlimited.nodes(solved))
        return _coupling_problem(spec, cands, options)
    return _budget_problem(spec, joint, cheapest)


def _budget_problem(spec: FleetSpec, joint: Formulation, cheapest: Solved) -> str:
    """The cheapest plan's ledger against the budget. With a VPN link the model charges each
    region's link share as if every candidate region were open (gpufleet.placement): when only
    that bound is above the budget, say so rather than call the plan too dear."""
    placed = [placement_of(c, n) for c, n in zip(joint.cands, joint.nodes(cheapest), strict=True) if n > 0]
    ledger = plan_ledger(spec, placed)
    total, gpu = ledger.total_usd, ledger.by_kind().get("compute", 0.0)
    budget = spec.budget.monthly_usd or 0.0
    fix = "raise budget.monthly_usd, use spot capacity, or ask for fewer GPUs"
    if total <= budget:
        return (
            f"cheapest placement costs ${total:,.0f}/month, within the budget ${budget:,.0f}, but placement "
            f"prices the VPN link as if all {len(spec.clouds.regions())} regions of the spec were open "
            f"(${cheapest.objective:,.0f}/month), above the budget: {fix}, or list fewer regions"
        )
    rest = "system nodes, storage and links" if linked(spec, len(spec.clouds.regions())) else "system nodes and storage"
    return (
        f"cheapest placement costs ${total:,.0f}/month (GPU nodes ${gpu:,.0f}, clusters, NAT gateways, "
        f"{rest} ${total - gpu:,.0f}), above the budget ${budget:,.0f} by ${total - budget:,.0f}: {fix}"
    )


def _describe(pool: Pool) -> str:
    extras = [f"{pool.gpus_per_node} per node"] if pool.gpus_per_node else []
    extras += ["rdma"] if pool.interconnect == "rdma" else []
    extras += [f"MIG {pool.mig}"] if pool.mig else []
    extras += [pool.capacity]
    return f"{pool.gpus} {pool.accelerator_label()} ({', '.join(extras)})"


@dataclass(frozen=True)
class _PriceHint:
    """Why a pool has no offer in some places, and the price-book entry that would add one."""

    catalog: Catalog
    skipped: Sequence[str]
    unavailable: Sequence[str] = ()

    def __call__(self, pool: Pool, places: Sequence[str]) -> str:
        out = [
            s for s in self.unavailable
            if any(s.startswith(p + "/") for p in places) and self._accelerator(s) in pool.accelerators()
        ]
        if out:
            return (
                "; offers taken out as unavailable: " + "; ".join(out)
                + "; capacity elsewhere (another region or cloud) or fewer GPUs would help"
            )
        lines = [s for s in self.skipped if any(s.startswith(p + "/") for p in places)]
        if lines:
            cloud, region, sku = lines[0].split(":")[0].split("/")
            key = price_key(cloud, region, sku, spot=pool.capacity == "spot")
            return (
                "; offers skipped for want of a price: " + "; ".join(lines)
                + f"; a price-book entry `prices: {key}: <usd/h>` would add one"
            )
        for place in places:
            cloud, region = place.split("/")
            fitting = [
                s for s in pool_skus(pool, self.catalog, [cloud])
                if (pool.interconnect != "rdma" or s.rdma) and (pool.mig is None or s.mig_capable)
                and offer_refusal(pool, s) is None and not lacking(pool, cloud)
            ]
            if fitting:
                name = fitting[0].instance_type
                key = price_key(cloud, region, name, spot=pool.capacity == "spot")
                return (
                    f"; the catalog has no offer of {', '.join(s.instance_type for s in fitting)} "
                    f"in {', '.join(places)}; a price-book entry `prices: {key}: <usd/h>` "
                    "declares one"
                )
        return ""

    def _accelerator(self, line: str) -> str | None:
        cloud, _, instance_type = line.split(":", maxsplit=1)[0].split("/")
        sku = self.catalog.sku(cloud, instance_type)
        return sku.accelerator if sku else None


def _pool_problem(
    spec: FleetSpec, pool: Pool, mine: list[Candidate], hint: _PriceHint, options: SolverOptions
) -> str | None:
    places = [f"{c}/{r}" for c, r in sorted(spec.clouds.regions())]
    if not mine:
        return (
            f"pool {pool.name} needs {_describe(pool)}, but no configured region "
            f"({', '.join(places)}) has a candidate offer" + hint(pool, places)
            + "; or allow regions that offer it"
        )
    for place, nodes in sorted(pool.pin.items()):
        if not any(c.place == place for c in mine):
            return (
                f"pool {pool.name} pins {nodes} nodes in {place}, but no priced "
                f"{pool.accelerator_label()} SKU there fits the pool" + hint(pool, [place])
                + f"; or remove pools.{pool.name}.pin.{place}"
            )
    for cloud, share in sorted(pool.min_share.items()):
        if share > 0 and not any(c.cloud == cloud for c in mine):
            cloud_places = [p for p in places if p.startswith(cloud + "/")]
            return (
                f"pool {pool.name} needs min_share {cloud} {share:g} of {_describe(pool)}, but no "
                f"{cloud} region has a candidate offer" + hint(pool, cloud_places)
                + f"; or lower min_share.{cloud}"
            )
    spread = _spread_problem(spec, pool, mine)
    if spread:
        return spread
    alone = Formulation(spec, mine, [pool], budget=False, clusters=False)
    if alone.milp.solve(alone.spend, options=options).feasible:
        return None
    free = Formulation(spec, mine, [pool], quotas=False, budget=False, clusters=False)
    if not free.milp.solve(free.spend, options=options).feasible:
        rules = [f"pin {k}: {v} nodes" for k, v in sorted(pool.pin.items())]
        rules += [f"min_share {k} {v:g}" for k, v in sorted(pool.min_share.items())]
        rules += [f"max_share {k} {v:g}" for k, v in sorted(pool.max_share.items())]
        rules += [_region_rule(spec, pool, mine[0].region_gpus)] if mine[0].region_gpus is not None else []
        units = sorted({c.unit for c in mine if c.unit > 1})
        whole = f"whole-unit ({', '.join(map(str, units))} nodes)" if units else "whole-node"
        return (
            f"pool {pool.name}: no {whole} placement of {_describe(pool)} meets "
            f"{', '.join(rules)} even without quotas; change the pins or shares"
        )
    hold = _capacity(spec, mine, pool, None, options)
    if hold < pool.gpus:
        capped = f", {_region_rule(spec, pool, mine[0].region_gpus)}," if mine[0].region_gpus is not None else ""
        head = (
            f"pool {pool.name} needs {pool.gpus} {pool.accelerator_label()}; allowed regions hold {hold} "
            f"under declared quotas{capped} ({pool.gpus - hold} short)"
        )
    else:
        head = (
            f"pool {pool.name} cannot place {pool.gpus} {pool.accelerator_label()} under declared quotas "
            "with its pins and shares"
        )
        for cloud, share in sorted(pool.min_share.items()):
            need = pool.min_gpus(cloud)
            held = _capacity(spec, mine, pool, cloud, options)
            if held < need:
                head = (
                    f"pool {pool.name} needs {need} of its {pool.gpus} {pool.accelerator_label()} on "
                    f"{cloud} (min_share {share:g}); {cloud} regions hold {held} under declared "
                    f"quotas ({need - held} short)"
                )
                break
    return head + ": " + _fixes(spec, mine, [pool], options)


def _spread_problem(spec: FleetSpec, pool: Pool, mine: Sequence[Candidate]) -> str | None:
    """A region share (`gpufleet.spread`) that the regions offering the pool cannot meet
    whatever the quotas: fewer regions than the share needs, or a unit more than one region
    may hold (a unit is never split)."""
    most = mine[0].region_gpus
    if most is None:
        return None
    rule = _region_rule(spec, pool, most)
    if all(c.unit * c.gpus > most for c in mine):
        least = min(mine, key=lambda c: c.unit * c.gpus)
        what = f"one unit of {least.unit} {least.sku.instance_type} nodes" if least.unit > 1 else (
            f"one {least.sku.instance_type} node")
        fix = " or lower placement.unit_nodes" if least.unit > 1 else ""
        return (
            f"pool {pool.name}: {what} counts {least.unit * least.gpus:g} of its {pool.gpus} GPUs, more than "
            f"{rule}, and it is never split; raise max_region_share{fix}"
        )
    held: dict[str, int] = {}  # per region, the most whole nodes and units may hold within the share
    for place in sorted({c.place for c in mine}):
        steps = [c.unit * c.gpus for c in mine if c.place == place]
        whole = [s for s in steps if isinstance(s, int)]
        step = math.gcd(*whole) if len(whole) == len(steps) else 1  # every sum is a multiple of it
        held[place] = int(most // step * step)
    if sum(held.values()) < pool.gpus:
        most_held = max(held.values())
        whole = f", {most_held} in whole nodes and units," if most_held < most else ""
        return (
            f"pool {pool.name} needs {pool.gpus} {pool.accelerator_label()} under {rule}{whole} so at "
            f"least {math.ceil(pool.gpus / max(most_held, 1))} regions, and only {len(held)} offer it "
            f"({', '.join(held)}); allow more regions or raise max_region_share"
        )
    return None


def _region_rule(spec: FleetSpec, pool: Pool, most: int | None) -> str:
    """How a message names the pool's region share: declared, or the default for its capacity
    and how to turn it off."""
    own = pool.placement.max_region_share
    if own is not None:
        return f"max_region_share {own:g} (at most {most} GPUs in one region)"
    return (
        f"max_region_share {spec.placement.region_share(pool.capacity):g}, the default for {pool.capacity} "
        f"pools (at most {most} GPUs in one region; placement: {{max_region_share: 1}} on the pool allows one region)"
    )


def _capacity(
    spec: FleetSpec, mine: list[Candidate], pool: Pool, cloud: Cloud | None, options: SolverOptions
) -> int:
    """Most GPUs the pool (on one cloud) may hold under quotas, max shares and its region
    share, capped at size."""
    chosen = [c for c in mine if cloud is None or c.cloud == cloud]
    form = Formulation(spec, chosen, [], shares_and_pins=False, budget=False, clusters=False)
    for capped, share in pool.max_share.items():
        row = {form.x[i]: float(c.gpus) for i, c in enumerate(chosen) if c.cloud == capped}
        form.milp.row(-math.inf, share * pool.gpus + 1e-9, row)
    if chosen and chosen[0].region_gpus is not None:
        terms = [Term(form.x[i], c.cloud, c.place, c.gpus) for i, c in enumerate(chosen)]
        region_rows(form.milp, terms, chosen[0].region_gpus)
    gpus = {form.x[i]: -float(c.gpus) for i, c in enumerate(chosen)}
    solved = form.milp.solve(gpus, options=options)
    return min(pool.gpus, round(-solved.objective)) if solved.feasible else 0


def _fixes(
    spec: FleetSpec, cands: Sequence[Candidate], pools: Sequence[Pool], options: SolverOptions
) -> str:
    """The smallest raise of each single declared quota that makes the pools placeable."""
    limits = declared_quotas(spec)
    keys = sorted({quota_key(c.cloud, c.region, b) for c in cands for b in c.buckets} & set(limits))
    fixes: list[tuple[int, str]] = []
    for key in keys:
        raised = _raises(spec, cands, pools, [key], options)
        if raised:
            fixes.append((raised[0][1], _raise_text(limits, raised)))
    fixes.sort()
    shown = [text for _, text in fixes[:MAX_FIXES_SHOWN]]
    if not shown:
        together = _raises(spec, cands, pools, keys, options)
        if not together:
            return "no quota increase is enough; allow more regions or relax the pins and shares"
        shown = [_raise_text(limits, together)]
    return ", or ".join([*shown, "allow more regions"])


def _raises(
    spec: FleetSpec,
    cands: Sequence[Candidate],
    pools: Sequence[Pool],
    keys: Sequence[QuotaKey],
    options: SolverOptions,
) -> list[tuple[QuotaKey, int]]:
    """The least total raise of these quotas (in their units) that makes the pools placeable
    ([] if none)."""
    form = Formulation(spec, cands, pools, budget=False, elastic=keys, clusters=False)
    solved = form.milp.solve(dict.fromkeys(form.elastic.values(), 1.0), options=options)
    if not solved.feasible:
        return []
    raised = [(key, math.ceil(solved.values[col] - 1e-6)) for key, col in form.elastic.items()]
    return [(key, n) for key, n in raised if n > 0]


def _raise_text(
    limits: Mapping[QuotaKey, tuple[str, int]], raised: list[tuple[QuotaKey, int]]
) -> str:
    return "raise " + " and ".join(
        f"{limits[key][0]} in {key[1]} by {n} {unit_noun(key[0])}" for key, n in raised
    )


def _coupling_problem(spec: FleetSpec, cands: Sequence[Candidate], options: SolverOptions) -> str:
    """Pools that fit alone but not together: GPUs short per accelerator, and quota raises.
    Shortfall relaxes each pool's size, not its min shares and pins; when even those do not
    fit together, no count of GPUs short means anything, and the message says so."""
    form = Formulation(spec, cands, spec.pools, budget=False, shortfall=True, clusters=False)
    solved = form.milp.solve(dict.fromkeys(form.short.values(), 1.0), options=options)
    names = ", ".join(pool.name for pool in spec.pools)
    head = f"pools {names} each fit alone but not together under shared quotas"
    if not solved.feasible:
        head += " (not even their min shares and pins fit together)"
    else:
        short: dict[str, int] = {}
        for name, col in form.short.items():
            accelerator = spec.pool(name).accelerator_label()
            short[accelerator] = short.get(accelerator, 0) + round(solved.values[col])
        shorts = ", ".join(f"{n} {accelerator}" for accelerator, n in sorted(short.items()) if n > 0)
        if shorts:
            head += f" ({shorts} short)"
    return head + ": " + _fixes(spec, cands, spec.pools, options)


def _cluster_problem(spec: FleetSpec, cands: Sequence[Candidate], nodes: Sequence[int]) -> str:
    """Quotas, pins and shares allow a placement, the clusters' limits or the networks' ranges
    do not: name, for each region the cheapest such placement overfills, the limit, its value
    and the value to raise it to (or that it is fixed), and each range too small, its need
    and room and the field to change (`addresses.shortfall`, as the address-capacity policy
    words it)."""
    here: dict[tuple[Cloud, str], list[tuple[str, int]]] = {}
    for c, n in zip(cands, nodes, strict=True):
        if n > 0:
            here.setdefault((c.cloud, c.region), []).append((c.sku.instance_type, n))
    units = {(c.cloud, c.region, c.sku.instance_type): c.unit for c in cands}
    found = [
        text for (cloud, region), placed in sorted(here.items())
        if (text := _overfilled(
            cluster_limits(spec, cloud, region), [(n, units[cloud, region, kind]) for kind, n in placed]
        ))
    ]
    found += [
        _short_ranges(f"{cloud}/{region}", uses)
        for (cloud, region), placed in sorted(here.items())
        if (uses := addresses.overfilled(spec, cloud, region, placed))
    ]
    head = "no placement fits the clusters' limits and network ranges (one network per region)"
    if not found:
        return head + "; allow more regions, raise the limits under `limits:` or enlarge network.supernet"
    return f"{head}; the cheapest placement without them needs " + "; ".join(found)


def _overfilled(limits: ClusterLimits, items: Sequence[tuple[int, int]]) -> str | None:
    """What one region's placements ((nodes, training unit) each) need beyond its cluster's
    limits (a unit never crosses clusters)."""
    if model_fits(limits, items, limits.clusters):  # several clusters hold them
        return None
    counts = [n for n, _ in items]
    noun = clouds.get(limits.cloud).group_noun
    place = f"{limits.cloud}/{limits.region}"
    if limits.clusters > 1:
        place += f" (per cluster, at most {limits.clusters} clusters: {limits.key('clusters_per_region')})"
    needs: list[str] = []
    groups = sum(limits.groups_for(n) for n in counts)
    if groups > limits.gpu_groups:
        per_group = limits.nodes_per_group
        while sum(math.ceil(n / per_group) for n in counts) > limits.gpu_groups and per_group < max(counts):
            per_group += 1
        options = [limits.raise_hint("groups_per_cluster", groups + SYSTEM_GROUPS)]
        if limits.gpu_groups >= len(counts):
            options.append(limits.raise_hint("nodes_per_group", per_group))
        needs.append(
            f"{groups} GPU {noun}s of at most {limits.nodes_per_group} nodes in {place}, where "
            f"{limits.key('groups_per_cluster')} = {limits.groups_per_cluster} allows "
            f"{limits.gpu_groups} beside the system pool: " + ", or ".join(options)
        )
    total = sum(counts)
    if limits.gpu_nodes is not None and total > limits.gpu_nodes:
        needs.append(
            f"{total} GPU nodes in {place}, where {limits.key('nodes_per_cluster')} = "
            f"{limits.nodes_per_cluster} allows {limits.gpu_nodes} beside the system pool's "
            f"{limits.system_nodes}: " + limits.raise_hint("nodes_per_cluster", total + limits.system_nodes)
        )
    return "; ".join(needs) or None


def _short_ranges(place: str, uses: Sequence[RangeUse]) -> str:
    """One region's ranges too small, in the address-capacity policy's words; ranges of one
    size and need (AWS's private subnets) share one sentence, with the first one's fix."""
    alike: dict[tuple[int, int], list[RangeUse]] = {}
    for use in uses:
        alike.setdefault((use.needed, use.available), []).append(use)
    return "; ".join(
        f"{place} {' and '.join(f'{u.label} {u.cidr}' for u in same)}: {same[0].nodes} GPU nodes at "
        f"maximum size with upgrade surge and the system pool need {needed} addresses, "
        f"{'each' if len(same) > 1 else 'it'} holds {available}; {same[0].fix}"
        for (needed, available), same in alike.items()
    )
