"""The fleet spec: one entry point, with errors that name the field and what is allowed.

`load_fleet(data)` is the one entry point (CLI, Pulumi program, policy pack): pydantic checks the
shape (specmodel.py), then `_semantic_problems` checks the rules that span fields and the catalog.
Every problem becomes a `SpecError` whose lines read `path: message`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from fractions import Fraction

from pydantic import ValidationError

from gpufleet import cidrs
from gpufleet import clouds as registry
from gpufleet.catalog import TRANSFER_SEGMENT, Catalog, Cloud, Sku
from gpufleet.catalog.transfer import TRANSFER_KINDS
from gpufleet.clouds.capabilities import GLOBAL
from gpufleet.clouds.catalog import load_catalog
from gpufleet.errors import Problem, SpecError
from gpufleet.nodegroups import limit_problems
from gpufleet.poolneeds import able_clouds, lacking, needs, refusal
from gpufleet.slots import supernet_problem
from gpufleet.specblocks import block_problems, rack_problems, reservation_problems
from gpufleet.speccapacity import capacity_problems
from gpufleet.spechorizon import horizon_problems
from gpufleet.specmodel import MAX_POOL_GPUS, TYPE_TOKEN_PATTERN, FleetSpec, Pool, known_buckets
from gpufleet.specskus import (
    accelerator_problems,
    declared_sku_problems,
    offer_refusal,
    pool_skus,
    refused_field,
    unknown_instance_type,
    weighted_gpus,
)
from gpufleet.specwords import one_of, problem_from_pydantic
from gpufleet.spread import share_problems
from gpufleet.units import unit_problems

__all__ = ["TYPE_TOKEN_PATTERN", "FleetSpec", "Pool", "load_fleet"]


def load_fleet(data: object) -> FleetSpec:
    """Validate a fleet mapping; raise SpecError naming every bad field, its value and what is allowed."""
    try:
        spec = FleetSpec.model_validate(data)
    except ValidationError as error:
        errors = error.errors()
        # A list whose items failed also reports 'too short'; the item errors say more.
        errors = [
            e for e in errors
            if not (e["type"] == "too_short" and any(
                len(o["loc"]) > len(e["loc"]) and o["loc"][: len(e["loc"])] == e["loc"] for o in errors
            ))
        ]
        raise SpecError([problem_from_pydantic(e, data, FleetSpec) for e in errors]) from None
    base = load_catalog()
    problems = list(declared_sku_problems(spec, base))
    problems += _semantic_problems(spec, base.with_declared(spec.declared_skus(base)))
    if problems:
        raise SpecError(problems)
    return spec


# -- rules that span fields or need the catalog ----------------------------------------------


def _split_place(key: str) -> tuple[str, str] | None:
    cloud, sep, region = key.partition("/")
    return (cloud, region) if sep and "/" not in region else None


# What people write for a jurisdiction the catalog spells as a code: a suggestion, never accepted.
JURISDICTION_NAMES = {"europe": "EU", "european union": "EU", "european economic area": "EEA",
                      "united kingdom": "GB", "great britain": "GB", "britain": "GB",
                      "united states": "US", "usa": "US", "america": "US"}


def _semantic_problems(spec: FleetSpec, catalog: Catalog) -> Iterator[Problem]:
    allowed = spec.allowed_jurisdictions()
    known_jurisdictions = catalog.known_jurisdictions()
    if spec.sovereignty:
        for i, jurisdiction in enumerate(spec.sovereignty.jurisdictions):
            if jurisdiction not in known_jurisdictions:
                allowed = None  # the regions cannot be judged against a misspelt list: no follow-on errors
                yield Problem(
                    f"sovereignty.jurisdictions[{i}]",
                    one_of("jurisdiction", jurisdiction, known_jurisdictions, names=JURISDICTION_NAMES),
                )
    if not spec.clouds.configured():
        yield Problem("clouds", f"no cloud configured; allowed: {', '.join(registry.names())} (at least one)")

    too_small = supernet_problem(spec.network.supernet)
    if too_small:
        yield Problem("network.supernet", too_small)

    configured = set(spec.clouds.regions())
    for cloud in spec.clouds.configured():
        cloud_regions = spec.clouds.regions_of(cloud)
        known = catalog.region_names(cloud)
        for i, region in enumerate(cloud_regions):
            path = f"clouds.{cloud}.regions[{i}]"
            info = catalog.region(cloud, region)
            if info is None:
                yield Problem(path, one_of(f"{cloud} region", region, known))
            elif allowed is not None and not info.jurisdictions & allowed:
                yield Problem(
                    path,
                    f"region '{region}' is in {info.country} ({info.display_name}), outside the "
                    f"allowed jurisdictions {', '.join(sorted(allowed))}; remove it or allow "
                    f"{info.country}",
                )
            if cloud_regions.index(region) != i:
                yield Problem(path, f"region '{region}' is listed twice")

    for cloud in spec.budget.commitments:
        if cloud not in spec.clouds.configured():
            yield Problem(f"budget.commitments.{cloud}", f"cloud '{cloud}' is not under clouds:")
    yield from _budget_problems(spec)

    for key in spec.network.overrides:
        place = _split_place(key)
        if place not in configured:
            yield Problem(
                f"network.overrides.{key}",
                f"'{key}' is not a configured cloud/region; configured: "
                + ", ".join(f"{c}/{r}" for c, r in sorted(configured)),
            )

    yield from _price_problems(spec, catalog)
    for cloud, per_region in spec.quotas.items():
        buckets = known_buckets(catalog, cloud)
        scope = registry.get(cloud).capabilities.quota_scope
        for region, limits in per_region.items():
            if scope == "global" and region != GLOBAL:
                yield Problem(
                    f"quotas.{cloud}.{region}",
                    f"{registry.get(cloud).title} quotas hold for all its regions; allowed: quotas.{cloud}.{GLOBAL}",
                )
            elif scope == "region" and (cloud, region) not in configured:
                yield Problem(
                    f"quotas.{cloud}.{region}",
                    f"region '{region}' is not under clouds.{cloud}.regions",
                )
            for bucket in limits:
                if bucket not in buckets:
                    yield Problem(
                        f"quotas.{cloud}.{region}.{bucket}", one_of("quota bucket", bucket, buckets)
                    )
    yield from limit_problems(spec)
    yield from _pool_problems(spec, catalog, configured)
    yield from _storage_problems(spec)
    yield from capacity_problems(spec.capacity, catalog)
    yield from block_problems(spec, catalog)
    yield from _home_problems(spec, catalog, configured, allowed)
    yield from _access_problems(spec)
    yield from horizon_problems(spec.horizon, spec.budget.commitments, spec.pools)


def _budget_problems(spec: FleetSpec) -> Iterator[Problem]:
    """A cap below the committed spend cannot hold: committed spend is paid whether it is used
    or not, so the month costs at least the commitments (docs/design.md, "The cost ledger")."""
    flat = spec.budget.monthly_commitments()
    cap, committed = spec.budget.monthly_usd, sum(flat.values())
    if cap is not None and cap < committed:
        parts = " + ".join(f"{cloud} ${usd:,.0f}" for cloud, usd in sorted(flat.items()) if usd)
        yield Problem("budget.monthly_usd", (
            f"the cap ${cap:,.0f} is below the ${committed:,.0f} committed per month ({parts}): committed "
            f"spend is paid whether it is used or not, so every month costs at least ${committed:,.0f}; "
            "raise the cap to at least that, or lower budget.commitments"
        ))


def _price_problems(spec: FleetSpec, catalog: Catalog) -> Iterator[Problem]:
    for key in spec.prices:
        path = f"prices.{key}"
        body, _, kind = key.partition(":")
        parts = body.split("/")
        if len(parts) == 3 and parts[1] == TRANSFER_SEGMENT and not kind:
            yield from _transfer_price_problems(path, parts[0], parts[2])
            continue
        if len(parts) != 3 or kind not in ("", "spot"):
            yield Problem(
                path,
                f"key '{key}' must be 'cloud/region/sku', 'cloud/region/sku:spot' or "
                f"'cloud/{TRANSFER_SEGMENT}/kind' (kind: {', '.join(TRANSFER_KINDS)})",
            )
            continue
        cloud, region, instance_type = parts
        if cloud not in registry.names():
            yield Problem(path, one_of("cloud", cloud, list(registry.names())))
        elif catalog.region(cloud, region) is None:
            yield Problem(path, one_of(f"{cloud} region", region, catalog.region_names(cloud)))
        elif catalog.sku(cloud, instance_type) is None:
            yield Problem(path, unknown_instance_type(catalog, cloud, instance_type))


def _transfer_price_problems(path: str, cloud: str, kind: str) -> Iterator[Problem]:
    """`cloud/transfer/kind`: a registered cloud and a kind of transfer ($/GB)."""
    if cloud not in registry.names():
        yield Problem(path, one_of("cloud", cloud, list(registry.names())))
    if kind not in TRANSFER_KINDS:
        yield Problem(path, one_of("transfer kind", kind, list(TRANSFER_KINDS)))


def _pool_problems(
    spec: FleetSpec, catalog: Catalog, configured: set[tuple[Cloud, str]]
) -> Iterator[Problem]:
    seen: set[str] = set()
    clouds = spec.clouds.configured()
    for i, pool in enumerate(spec.pools):
        path = f"pools[{i}]"
        if pool.name in seen:
            yield Problem(f"{path}.name", f"pool name '{pool.name}' is used twice; names must be unique")
        seen.add(pool.name)
        if pool.gpus > MAX_POOL_GPUS:
            yield Problem(
                f"{path}.gpus",
                f"{pool.gpus:,} GPUs is above the {MAX_POOL_GPUS:,} one pool may hold: the largest "
                "GPU clusters hold 100,000-200,000, and far beyond that the placement solver's "
                "tolerances no longer hold; split the fleet into several pools",
            )
            continue
        bad_names = list(accelerator_problems(path, pool, catalog.families))
        if bad_names:
            yield from bad_names
            continue
        able = able_clouds(pool, clouds)
        yield from _need_problems(path, pool, clouds, able)
        if not able:
            continue
        label = pool.accelerator_label()
        skus = pool_skus(pool, catalog, able)
        if not skus:
            sizes = sorted({s.gpus for c in able for a in pool.accelerators() for s in catalog.skus_for(a, c)})
            yield Problem(
                f"{path}.gpus_per_node" if pool.gpus_per_node else f"{path}.accelerator",
                f"no {label} SKU with {pool.gpus_per_node} GPUs per node on "
                f"{', '.join(able)}; sizes offered: {', '.join(map(str, sizes)) or 'none'}"
                if pool.gpus_per_node
                else f"no {label} SKU on {', '.join(able)}",
            )
        refused = {s.instance_type: why for s in skus if (why := offer_refusal(pool, s)) is not None}
        if skus and len(refused) == len(skus):  # no configured cloud can run the pool
            by_field: dict[str, dict[str, list[str]]] = {}
            for s in skus:
                field = refused_field(pool, s) or "accelerator"
                by_field.setdefault(field, {}).setdefault(refused[s.instance_type], []).append(
                    f"{s.instance_type} on {registry.get(s.cloud).title}"
                )
            for field, reasons in sorted(by_field.items()):
                yield Problem(f"{path}.{field}", "; ".join(
                    f"{', '.join(names)}: {why}" for why, names in sorted(reasons.items())
                ))
        skus = [s for s in skus if s.instance_type not in refused]
        if pool.interconnect == "rdma" and skus and not any(s.rdma for s in skus):
            fabrics = ", ".join(
                f"{fabric} on {registry.get(c).title}"
                for c in able if (fabric := registry.get(c).capabilities.rdma_fabric)
            )
            yield Problem(
                f"{path}.interconnect",
                f"rdma needs an RDMA fabric ({fabrics}); none of "
                + ", ".join(s.instance_type for s in skus)
                + " has it; use interconnect: none or an RDMA-capable SKU",
            )
        if pool.mig and pool.interconnect == "rdma":
            # NVIDIA MIG User Guide, "Application Considerations": MIG does not support GPU to
            # GPU P2P (PCIe or NVLink). https://docs.nvidia.com/datacenter/tesla/mig-user-guide/
            yield Problem(
                f"{path}.mig",
                f"MIG ({pool.mig}) cannot be used on an rdma pool: MIG slices have no GPU-to-GPU "
                "peer-to-peer (PCIe or NVLink), which the multi-node training an rdma pool pays "
                "for relies on; drop mig, or use it on a pool with interconnect: none",
            )
        sized = [s for s in skus if s.rdma or pool.interconnect != "rdma"]
        yield from _node_count_problems(path, pool, sized)
        yield from rack_problems(path, pool, sized)
        for month, gpus in sorted(pool.schedule.items()):
            yield from _scheduled_problems(f"{path}.schedule.{month}", pool.model_copy(update={"gpus": gpus}), sized)
        if pool.mig and skus and not any(s.mig_capable for s in skus):
            yield Problem(
                f"{path}.mig",
                f"MIG needs a MIG-capable GPU (A100, H100, ...); {label} on "
                + ", ".join(s.instance_type for s in skus)
                + " has none",
            )
        yield from reservation_problems(path, pool, clouds, spec, catalog)
        yield from _share_problems(path, pool, clouds)
        yield from unit_problems(path, pool)
        yield from share_problems(path, pool, spec)
        for key in pool.pin:
            if _split_place(key) not in configured:
                yield Problem(
                    f"{path}.pin.{key}",
                    f"'{key}' is not a configured cloud/region; configured: "
                    + ", ".join(f"{c}/{r}" for c, r in sorted(configured)),
                )


def _need_problems(path: str, pool: Pool, clouds: Sequence[Cloud], able: Sequence[Cloud]) -> Iterator[Problem]:
    """What the pool asks that no configured cloud offers (a refusal naming the clouds that do),
    that no single cloud offers together, and shares or pins on clouds that cannot hold it."""
    asked = needs(pool)
    missing = [n for n in asked if not any(n.met_by(registry.get(c).capabilities) for c in clouds)]
    for need in missing:
        yield Problem(f"{path}.{need.field}", refusal(need, clouds))
    if not able and not missing:
        together = " and ".join(n.label for n in asked)
        yield Problem(
            f"{path}.{asked[-1].field}",
            f"no configured cloud offers {together} together ({', '.join(clouds)}); drop one of them",
        )
    places = [(f"min_share.{c}", c) for c in pool.min_share] + [(f"pin.{k}", k.partition("/")[0]) for k in pool.pin]
    for where, cloud in places:
        lacks = lacking(pool, cloud) if cloud in registry.names() else ()
        if lacks:
            yield Problem(
                f"{path}.{where}",
                f"{registry.get(cloud).title} cannot hold this pool: it lacks "
                + ", ".join(n.label for n in lacks)
                + f"; clouds that can: {', '.join(able) or 'none configured'}",
            )


def _node_count_problems(path: str, pool: Pool, skus: Sequence[Sku]) -> Iterator[Problem]:
    """`gpus` must fill whole nodes of the sizes the pool may use (placement would round up
    without saying so), and a pin or `autoscale.min_nodes` may not exceed the most nodes it can
    have. A size is what a node counts toward `gpus` (its GPUs times its accelerator's weight);
    whole GPU counts fill whole nodes exactly when they are multiples of the sizes' common
    divisor's numerator (for unweighted pools, the gcd of the sizes)."""
    sizes = sorted({weighted_gpus(pool, s) for s in skus})
    if not sizes:
        return
    common = Fraction(math.lcm(*(Fraction(z).denominator for z in sizes)))
    step = math.gcd(*(int(z * common) for z in sizes))
    whole = (Fraction(step) / common).numerator
    shown = ", ".join(_count(z) for z in sizes)
    what = "hold" if all(w == 1 for _, w in pool.choices()) else "count as"
    if pool.gpus % whole:
        below, above = pool.gpus - pool.gpus % whole, pool.gpus - pool.gpus % whole + whole
        nearest = f"{below} or {above}" if below else str(above)
        yield Problem(
            f"{path}.gpus",
            f"{pool.gpus} GPUs do not fill whole {whole}-GPU nodes ({pool.accelerator_label()} "
            f"nodes offered {what} {shown}); use {nearest}",
        )
    most_nodes = math.floor(pool.gpus / sizes[0])
    for place, nodes in sorted(pool.pin.items()):
        if nodes > most_nodes:
            yield Problem(
                f"{path}.pin.{place}",
                f"{nodes:,} nodes is more than the {most_nodes:,} that {pool.gpus:,} GPUs fill on "
                f"{_count(sizes[0])}-GPU nodes; at most {most_nodes:,}, or raise gpus",
            )
    if pool.autoscale is not None and pool.autoscale.min_nodes > most_nodes:
        yield Problem(
            f"{path}.autoscale.min_nodes",
            f"min_nodes {pool.autoscale.min_nodes} is above the {most_nodes} nodes that "
            f"{pool.gpus} GPUs fill on {_count(sizes[0])}-GPU nodes; at most {most_nodes}",
        )


def _count(value: int | Fraction) -> str:
    return str(value) if isinstance(value, int) else f"{float(value):g}"


def _scheduled_problems(path: str, pool: Pool, skus: Sequence[Sku]) -> Iterator[Problem]:
    """A scheduled size is a size like `gpus`: whole nodes, within one pool's most."""
    if pool.gpus > MAX_POOL_GPUS:
        yield Problem(path, f"{pool.gpus:,} GPUs is above the {MAX_POOL_GPUS:,} one pool may hold; split the fleet")
        return
    for problem in _node_count_problems(path, pool, skus):
        if problem.path == f"{path}.gpus":
            yield Problem(path, problem.message)


def _share_problems(path: str, pool: Pool, clouds: list[Cloud]) -> Iterator[Problem]:
    for field in ("min_share", "max_share"):
        for cloud in getattr(pool, field):
            if cloud not in clouds:
                yield Problem(f"{path}.{field}.{cloud}", f"cloud '{cloud}' is not under clouds:")
    if sum(pool.min_share.values()) > 1.0 + 1e-9:
        yield Problem(
            f"{path}.min_share",
            f"min shares sum to {sum(pool.min_share.values()):g}; they must sum to at most 1",
        )
    for cloud, low in pool.min_share.items():
        high = pool.max_share.get(cloud, 1.0)
        if low > high:
            yield Problem(
                f"{path}.min_share.{cloud}",
                f"min_share {low:g} is above max_share {high:g} for {cloud}",
            )


def _storage_problems(spec: FleetSpec) -> Iterator[Problem]:
    pools = [pool.name for pool in spec.pools]
    seen: set[str] = set()
    for i, storage in enumerate(spec.storage):
        if storage.name in seen:
            yield Problem(f"storage[{i}].name", f"storage name '{storage.name}' is used twice")
        seen.add(storage.name)
        for j, name in enumerate(storage.colocate_with):
            if name not in pools:
                yield Problem(f"storage[{i}].colocate_with[{j}]", one_of("pool", name, pools))


def _home_problems(
    spec: FleetSpec, catalog: Catalog, configured: set[tuple[Cloud, str]], allowed: frozenset[str] | None
) -> Iterator[Problem]:
    """A dataset's `home` is one of the fleet's regions, inside the `allowed` jurisdictions;
    `churn_tib` and `amortize_months` only price transfers from a home, so they need one."""
    choices = [f"{c}/{r}" for c, r in sorted(configured)]
    for i, storage in enumerate(spec.storage):
        path = f"storage[{i}]"
        if storage.home is None:
            for field in sorted({"churn_tib", "amortize_months"} & storage.model_fields_set):
                yield Problem(
                    f"{path}.{field}",
                    f"{field} prices syncing copies from the dataset's home; set home: "
                    f"'cloud/region' (one of {', '.join(choices)}) or drop {field}",
                )
            continue
        place = _split_place(storage.home)
        if place not in configured:
            yield Problem(f"{path}.home", _not_configured(storage.home, place, catalog, choices))
            continue
        info = catalog.region(*place)
        if allowed is not None and info is not None and not info.jurisdictions & allowed:
            yield Problem(
                f"{path}.home",
                f"'{storage.home}' is in {info.country}, outside the allowed jurisdictions "
                f"{', '.join(sorted(allowed))}: the data's source of truth must stay inside them",
            )


def _not_configured(home: str, place: tuple[str, str] | None, catalog: Catalog, choices: list[str]) -> str:
    """Why a home is not one of the fleet's regions: a real region left out of `clouds`, or a
    name the catalog does not know."""
    if place is None or place[0] not in registry.names():
        return f"'{home}' must be 'cloud/region', one of the fleet's regions: {', '.join(choices)}"
    cloud, region = place
    if catalog.region(cloud, region) is None:
        return one_of(f"{cloud} region", region, catalog.region_names(cloud))
    return (f"'{home}' is not one of the fleet's regions ({', '.join(choices)}): add {region} to "
            f"clouds.{cloud}.regions, or name one of those")


def _access_problems(spec: FleetSpec) -> Iterator[Problem]:
    """An allowlist names at least one public range and never the whole internet; `private`
    takes none (a list there would suggest a reachability that does not exist)."""
    access = spec.access
    if access.mode == "private":
        if access.cidrs:
            yield Problem("access.cidrs", "cidrs apply only with mode allowlist; remove them or set mode: allowlist")
        return
    if not access.cidrs:
        yield Problem(
            "access.cidrs",
            "mode allowlist needs at least one CIDR (an empty list would leave the public "
            "endpoint unrestricted); allowed: the public IPv4 ranges of your runners and operators",
        )
    internet = ("it would open the API servers to the internet; allowed: the ranges your runners "
                "and operators use, or mode: private")
    wide_entry = False
    for i, cidr in enumerate(access.cidrs):
        if (wide := cidrs.reach([cidr])) is not None:
            wide_entry = True
            yield Problem(f"access.cidrs[{i}]", f"{cidr} {wide}; {internet}")
        elif (outside := cidrs.outside_public(cidr)) is not None:
            yield Problem(
                f"access.cidrs[{i}]",
                f"not a public range: {outside}; the public endpoint sees public source addresses "
                "(inside the networks the private endpoint is used)",
            )
    if not wide_entry and (wide := cidrs.reach(access.cidrs)) is not None:
        yield Problem("access.cidrs", f"the list {wide}; {internet}")
    for cloud in spec.clouds.configured():
        most = registry.get(cloud).api_allowlist_max
        if most is not None and len(access.cidrs) > most:
            yield Problem(
                "access.cidrs", f"{len(access.cidrs)} CIDRs; {registry.get(cloud).title} allows at most {most}"
            )
