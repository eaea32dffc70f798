"""Which SKUs a pool may use: the accelerators it accepts (with their weights), the SKUs the
spec declares (`skus:`), and why an offer is refused. Shared by the spec's rules and placement's
candidates, so both refuse the same offers for the same reasons (docs/design.md, "The spec")."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction

from gpufleet import clouds as registry
from gpufleet.catalog import Catalog, Cloud, Sku
from gpufleet.errors import Problem
from gpufleet.poolneeds import sku_problem
from gpufleet.specmodel import SKU_KEY_PATTERN, FleetSpec, Pool
from gpufleet.specwords import one_of


def weighted_gpus(pool: Pool, sku: Sku) -> int | Fraction:
    """How many of the pool's GPUs one node of the SKU counts as: its GPUs times the weight
    the pool gives its accelerator; an int when whole, so unweighted pools compute as before."""
    weight = pool.weight_of(sku.accelerator)
    if weight == 1:
        return sku.gpus
    gpus = sku.gpus * weight
    return int(gpus) if gpus.denominator == 1 else gpus


def pool_skus(pool: Pool, catalog: Catalog, clouds: Sequence[Cloud]) -> list[Sku]:
    """The SKUs of every accelerator the pool accepts on the clouds, with its GPUs per node."""
    return [
        sku for name in pool.accelerators() for cloud in clouds for sku in catalog.skus_for(name, cloud)
        if pool.gpus_per_node in (None, sku.gpus)
    ]


def offer_refusal(pool: Pool, sku: Sku) -> str | None:
    """Why the pool cannot have nodes of the SKU whatever the region (said after the SKU's
    name), or None; `refused_field` says which of the pool's fields to change."""
    found = _refused(pool, sku)
    return found[1] if found else None


def refused_field(pool: Pool, sku: Sku) -> str | None:
    """The pool's field a refusal is about: `capacity` (Capacity Blocks, spot buckets) or
    `accelerator` (a cloud that cannot run it); None when the SKU is not refused."""
    found = _refused(pool, sku)
    return found[0] if found else None


def _refused(pool: Pool, sku: Sku) -> tuple[str, str] | None:
    """A SKU sold only as Capacity Blocks needs `capacity: reserved` (the block's id); a cloud
    whose GPU pools cannot run such nodes says why (`poolneeds.sku_problem`: its capabilities'
    CPU architectures and device families); spot nodes of a
    declared SKU need the quota bucket they draw on."""
    if sku.capacity_block_only and pool.capacity != "reserved":
        racks = " or ".join(f"{r.name} ({r.instances} instances)" for r in sku.racks)
        return "capacity", (f"sold only as EC2 Capacity Blocks of {racks}: use capacity: reserved "
                            "with the block's capacity_reservation_id, or a capacity.blocks entry")
    problem = sku_problem(sku)
    if problem is not None:
        return "accelerator", problem
    if pool.capacity == "spot" and not sku.spot_quota_bucket:
        return "capacity", (f"declared without spot_quota_bucket: set it under "
                            f"skus.{sku.cloud}/{sku.instance_type} to plan spot nodes")
    return None


def accelerator_problems(path: str, pool: Pool, families: Mapping[str, str]) -> Iterator[Problem]:
    """Every accelerator the pool names is known, each once, and all of one device family (a
    pool's workloads are built for one stack, CUDA, Neuron or ROCm, and its nodes get one device
    plugin: components/k8s/devices.py)."""
    single = len(pool.accelerator) == 1
    seen: set[str] = set()
    for j, name in enumerate(pool.accelerators()):
        where = f"{path}.accelerator" if single else f"{path}.accelerator[{j}]"
        if name not in families:
            yield Problem(where, one_of("accelerator", name, sorted(families)))
        elif name in seen:
            yield Problem(where, f"accelerator '{name}' is listed twice; list each once")
        seen.add(name)
    stacks = {families[name] for name in seen if name in families}
    if len(stacks) > 1:
        named = ", ".join(f"{name} ({families[name]})" for name in pool.accelerators())
        yield Problem(f"{path}.accelerator", f"{named} need different device stacks; a pool's "
                                             "accelerators must share one (split it into pools)")


def unknown_instance_type(catalog: Catalog, cloud: str, instance_type: str) -> str:
    """Why a name is not a SKU: a name the catalog leaves out on purpose says why (unlisted.csv);
    any other gets the nearest names and the way to declare it."""
    why = catalog.unlisted.get((cloud, instance_type))
    if why is not None:
        return f"{cloud} instance type '{instance_type}' is {why}"
    names = sorted(s for c, s in catalog.skus if c == cloud)
    return (one_of(f"{cloud} instance type", instance_type, names)
            + f"; a SKU the catalog lacks can be declared under skus: {cloud}/{instance_type}")


def declared_sku_problems(spec: FleetSpec, base: Catalog) -> Iterator[Problem]:
    """`skus:` keys are `cloud/instance_type` of a registered cloud, never a catalog SKU (a
    declaration adds, it does not override sourced facts); the accelerator is one the catalog
    knows (its device family decides the cluster software), and RDMA needs the cloud's fabric."""
    families = sorted(base.families)
    for key, declared in spec.skus.items():
        path = f"skus.{key}"
        match = SKU_KEY_PATTERN.match(key)
        if match is None:
            yield Problem(path, f"key '{key}' must be 'cloud/instance_type', the instance type as the "
                                "cloud spells it (letters, digits, '.', '_', '-')")
            continue
        cloud, name = match["cloud"], match["name"]
        if cloud not in registry.names():
            yield Problem(path, one_of("cloud", cloud, list(registry.names())))
            continue
        found = base.sku(cloud, name)
        if found is not None:
            yield Problem(path, f"{cloud}/{name} is in the catalog ({found.gpus} {found.accelerator}, "
                                f"{found.vcpus} vCPUs; source: {found.source}); remove the declaration "
                                "(a declared SKU never replaces sourced facts)")
        if declared.accelerator not in base.families:
            yield Problem(f"{path}.accelerator", one_of("accelerator", declared.accelerator, families))
        if declared.rdma and not base.fabric_of(cloud):
            yield Problem(f"{path}.rdma", f"{registry.get(cloud).title} has no RDMA fabric in the "
                                          "catalog; use rdma: 0")
