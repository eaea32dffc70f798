"""Capacity bought: a reserved pool's `capacity_reservation_id`, and `capacity.blocks` (EC2
Capacity Blocks for ML: instances or UltraServers for dates, paid upfront).

A block is supply: placement uses it first while it runs, its nodes at no marginal cost (the
upfront is sunk; the plan's ledger shows it once, `cost.block_lines`), at most the block's
instances (`units` × the UltraServer's instances for a rack-scale SKU). Only `capacity:
reserved` pools draw on blocks. Without a horizon every block is taken as running (the plan
shows each block's end); with one, a period uses the blocks that run through all of it
(`running_through`). docs/frontier.md, "Capacity blocks", is the user's view.
"""

from __future__ import annotations

import calendar
import datetime
import re
from collections.abc import Iterator, Sequence

from gpufleet import clouds as registry
from gpufleet.catalog import Catalog, Cloud, Rack, Sku
from gpufleet.errors import Problem
from gpufleet.speccapacity import CapacityBlock
from gpufleet.specmodel import FleetSpec, Pool
from gpufleet.specwords import one_of

# AWS zone names: the region and a letter (docs.aws.amazon.com/global-infrastructure/latest/
# regions/aws-availability-zones.html, "us-east-1a"), or a Local Zone's, the region, a metro
# code and a number and letter (P6e-GB200 UltraServers are in the Dallas Local Zone
# us-east-1-dfw-2a: ../shared/catalog/frontier.md). The builder gives a Local Zone a subnet.
LOCAL_ZONE = r"{region}-[a-z]{{3}}-[0-9]+[a-z]"
AWS_ZONE = r"{region}[a-z]|" + LOCAL_ZONE


def block_sku(block: CapacityBlock, catalog: Catalog) -> tuple[Sku, Rack | None] | None:
    """The block's SKU, and the UltraServer when `sku` names one; None when it names neither."""
    sku = catalog.sku(block.cloud, block.sku)
    if sku is not None:
        return sku, None
    for found in catalog.skus.values():
        if found.cloud == block.cloud:
            rack = next((r for r in found.racks if r.name == block.sku), None)
            if rack is not None:
                return found, rack
    return None


def block_instances(block: CapacityBlock, catalog: Catalog) -> int:
    """The instances a block holds: `units`, times the UltraServer's instances when it names one."""
    found = block_sku(block, catalog)
    rack = found[1] if found else None
    return block.units * (rack.instances if rack else 1)


def block_label(index: int, block: CapacityBlock) -> str:
    """How the plan names a block: its id, else its place in the spec."""
    return block.id or f"capacity.blocks[{index}]"


def serves(block: CapacityBlock, pool: Pool, catalog: Catalog) -> bool:
    """Whether the pool may draw on the block: a reserved pool accepting its accelerator."""
    found = block_sku(block, catalog)
    return found is not None and pool.capacity == "reserved" and found[0].accelerator in pool.accelerators()


def block_for(spec: FleetSpec, catalog: Catalog, cloud: Cloud, region: str,
              instance_type: str) -> tuple[int, CapacityBlock] | None:
    """The block (and its index) of an instance type in a region: the spec allows one."""
    return next(
        ((i, b) for i, b in enumerate(spec.capacity.blocks)
         if (b.cloud, b.region) == (cloud, region)
         and (found := block_sku(b, catalog)) is not None and found[0].instance_type == instance_type),
        None,
    )


def block_supply(spec: FleetSpec, catalog: Catalog) -> dict[str, tuple[int, tuple[str, ...]]]:
    """Per offer key `cloud/region/instance_type`, the instances its blocks hold and their
    labels (a spec that passed the rules names only offers the catalog has)."""
    supply: dict[str, tuple[int, tuple[str, ...]]] = {}
    for i, block in enumerate(spec.capacity.blocks):
        found = block_sku(block, catalog)
        if found is None:
            continue
        key = f"{block.cloud}/{block.region}/{found[0].instance_type}"
        instances, labels = supply.get(key, (0, ()))
        supply[key] = (instances + block_instances(block, catalog), (*labels, block_label(i, block)))
    return supply


def running_through(blocks: Sequence[CapacityBlock], first_month: int, months: int) -> tuple[CapacityBlock, ...]:
    """The blocks that run every day of the months [first_month, first_month + months) (months
    as gpufleet.months counts them): a period uses a block only if it runs through it all."""
    first = datetime.date(first_month // 12, first_month % 12 + 1, 1)
    last_month = first_month + months - 1
    year, month = last_month // 12, last_month % 12 + 1
    last = datetime.date(year, month, calendar.monthrange(year, month)[1])
    return tuple(b for b in blocks if b.start <= first and b.end >= last)


def block_problems(spec: FleetSpec, catalog: Catalog) -> Iterator[Problem]:
    """Each block names a configured cloud and region, a SKU or UltraServer of that cloud (an
    UltraServer for a rack-scale SKU), a zone of its region, an id as the cloud spells it,
    and an end after its start; some pool must be able to draw on it."""
    configured = spec.clouds.configured()
    for i, block in enumerate(spec.capacity.blocks):
        path = f"capacity.blocks[{i}]"
        if block.cloud not in configured:
            yield Problem(f"{path}.cloud", one_of("configured cloud", block.cloud, list(configured)))
            continue
        title = registry.get(block.cloud).title
        reservation = registry.get(block.cloud).capabilities.reservation
        if reservation is None:
            note = registry.get(block.cloud).capabilities.notes.get("capacity: reserved", "")
            yield Problem(f"{path}.cloud", f"{title} takes no capacity blocks here{f': {note}' if note else ''}; "
                          "allowed: " + ", ".join(c for c in configured if registry.get(c).capabilities.reservation))
            continue
        if block.region not in spec.clouds.regions_of(block.cloud):
            yield Problem(f"{path}.region", one_of(f"{block.cloud} region under clouds.{block.cloud}.regions",
                                                   block.region, list(spec.clouds.regions_of(block.cloud))))
        found = block_sku(block, catalog)
        if found is None:
            names = sorted({s.instance_type for s in catalog.skus.values() if s.cloud == block.cloud and not s.racks}
                           | {r.name for s in catalog.skus.values() if s.cloud == block.cloud for r in s.racks})
            yield Problem(f"{path}.sku", one_of(f"{block.cloud} instance type or UltraServer", block.sku, names))
        elif (block.cloud, found[0].instance_type, block.region) not in catalog.offers:
            where = sorted(r for c, t, r in catalog.offers if (c, t) == (block.cloud, found[0].instance_type))
            yield Problem(f"{path}.region", f"{found[0].instance_type} is not offered in {block.region}; "
                          f"regions offering it: {', '.join(where) or 'none'}")
        if found is not None and found[1] is None and found[0].racks:
            racks = ", ".join(f"{r.name} ({r.instances} instances)" for r in found[0].racks)
            yield Problem(f"{path}.sku", f"'{block.sku}' comes in UltraServers, bought whole: name one ({racks}) "
                          "and count units in UltraServers")
        if block.zone is not None and not re.fullmatch(AWS_ZONE.format(region=re.escape(block.region)), block.zone):
            yield Problem(f"{path}.zone", f"'{block.zone}' is not a zone of {block.region}; allowed: "
                          f"{block.region} and a letter, e.g. {block.region}a, or one of its Local Zones, "
                          f"{block.region}-<metro>-<number><letter> (us-east-1-dfw-2a)")
        if block.id is not None and not re.fullmatch(reservation.pattern, block.id):
            yield Problem(f"{path}.id", f"'{block.id}' is not {reservation.noun}; allowed: {reservation.pattern}")
        if block.end < block.start:
            yield Problem(f"{path}.end", f"{block.end} is before start {block.start}; allowed: on or after it")
        earlier = [j for j, other in enumerate(spec.capacity.blocks[:i])
                   if (other.cloud, other.region) == (block.cloud, block.region)
                   and (f := block_sku(other, catalog)) is not None and found is not None and f[0] == found[0]]
        if earlier:
            yield Problem(f"{path}.sku", f"capacity.blocks[{earlier[0]}] is already a block of {block.sku} in "
                          f"{block.region}: one block per instance type and region (its node group targets one "
                          "reservation); plan one, or the other in another region")
        if found is not None and not any(serves(block, pool, catalog) for pool in spec.pools):
            yield Problem(path, f"no pool can use it: a pool with capacity: reserved and accelerator "
                          f"{found[0].accelerator} draws on it")


def reservation_problems(path: str, pool: Pool, clouds: Sequence[Cloud], spec: FleetSpec,
                         catalog: Catalog) -> Iterator[Problem]:
    """A reserved pool names the reservation it runs in, as the clouds that take one spell it,
    unless a block of the spec serves it (the block's id is the node group's target then)."""
    reserving = [c for c in clouds if registry.get(c).capabilities.reservation is not None]
    # a block the rules refuse for its SKU says so itself: no follow-on problem here
    blocked = any(serves(b, pool, catalog) or block_sku(b, catalog) is None for b in spec.capacity.blocks)
    if pool.capacity_reservation_id and pool.capacity != "reserved":
        yield Problem(
            f"{path}.capacity_reservation_id",
            f"a capacity reservation needs capacity: reserved (got '{pool.capacity}')",
        )
    elif pool.capacity == "reserved" and reserving and not pool.capacity_reservation_id and not blocked:
        needed = "; ".join(_reservation_text(c) for c in reserving)
        notes = "".join(
            f". On {registry.get(c).title} {note}"
            for c in clouds if (note := registry.get(c).capabilities.notes.get("capacity: reserved"))
        )
        yield Problem(f"{path}.capacity_reservation_id",
                      f"capacity: reserved needs the id of {needed}, or a capacity.blocks entry it can use{notes}")
    elif pool.capacity_reservation_id and reserving:
        patterns = {c: reservation_pattern(c) for c in reserving}
        if not any(re.fullmatch(p, pool.capacity_reservation_id) for p in patterns.values()):
            shown = ", ".join(f"{registry.get(c).title} {p}" for c, p in patterns.items())
            yield Problem(
                f"{path}.capacity_reservation_id",
                f"'{pool.capacity_reservation_id}' is not a capacity reservation id; allowed: {shown}",
            )


def _reservation_text(cloud: Cloud) -> str:
    model = registry.get(cloud)
    reservation = model.capabilities.reservation
    assert reservation is not None  # the caller chose clouds that take one
    return (
        f"{reservation.noun}, which {model.title} nodes then run in; without one the nodes would be "
        "created and priced as on-demand"
    )


def reservation_pattern(cloud: Cloud) -> str:
    """The whole-string pattern of a cloud's reservation ids ('' when it takes none)."""
    reservation = registry.get(cloud).capabilities.reservation
    return reservation.pattern if reservation is not None else ""


def rack_problems(path: str, pool: Pool, skus: Sequence[Sku]) -> Iterator[Problem]:
    """A pool whose every SKU comes only in racks (UltraServers sold as Capacity Blocks) fills
    whole racks: its nodes a multiple of the smallest rack, else refused naming the racks and
    the nearest sizes that fit. (Racks as placement's unit, all of one rack in one zone and
    group, is left for the unit-per-candidate mechanism; this is the spec-level rule.)"""
    if not skus or not all(s.capacity_block_only for s in skus):
        return
    sku = min(skus, key=lambda s: min(r.instances for r in s.racks))
    rack = min(sku.racks, key=lambda r: r.instances)
    nodes = -(-pool.gpus // sku.gpus)
    if nodes % rack.instances == 0:
        return
    step = rack.instances * sku.gpus
    below, above = nodes // rack.instances * step, (nodes // rack.instances + 1) * step
    racks = ", ".join(f"{r.name} holds {r.instances} instances ({r.instances * sku.gpus} GPUs)" for r in sku.racks)
    yield Problem(
        f"{path}.gpus",
        f"{pool.gpus} GPUs are {nodes} {sku.instance_type} nodes, not whole racks: {racks}; "
        f"use a multiple of {step} GPUs" + (f", e.g. {below} or {above}" if below else f", e.g. {above}"),
    )
