"""data-pipes (mandatory): every copy away from its dataset's home fits the paths it travels at
line rate (docs/data-gravity.md, "Copies fit their pipes"; gpufleet/pipes.py).

Two sources, as commitment-burn has: the plan's own pipes (config `planned_pipes`, each path
with its copies, the throughput they need and the path's line rate, from `gpufleet plan` or
planned for the spec by `gpufleet policy-config`), and what the declared resources show by
themselves: each declared link hub with a size (an Azure VPN gateway's SKU) against the declared
copies on other clouds whose dataset's home (config `storage_homes`) is in its region and can
only be read over the link. What the declared resources cannot show is left to the plan's
figures: which tunnels a copy takes (the other end's VPN connections name the gateway's public
IPs, unknown before they exist) and which store a copy is read from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from gpufleet import clouds
from gpufleet.cost import GB_PER_TIB, transfer_gb_per_month
from gpufleet.pipes import gbps, tib_per_month
from gpufleet.plan import PipeUse
from gpufleet.policy.budget import storage_entry
from gpufleet.policy.config import DATA_PIPES, effective_config
from gpufleet.policy.props import items, mapping, number, text
from gpufleet.policy.view import View, region_of

FIX = ("allowed: fewer or smaller copies (colocate_with, churn_tib), a longer amortize_months, or the "
       "pools next to the data's home")


def shortfall(pipe: PipeUse) -> str:
    """The violation of a path its copies overfill: the copies, the path, needed and available
    (a hub the plan sized is at its largest size: it chose the smallest that would hold)."""
    available = pipe.available_gbps or 0.0
    at = f" even at its largest size, {pipe.size}," if pipe.kind == "vpn-gateway" and pipe.size else ""
    return (
        f"copies do not fit their pipe: {'; '.join(pipe.copies)} travel {pipe.path}, which carries "
        f"{available:.3f} Gbps ({tib_per_month(available):,.1f} TiB/month){at} at line rate; they need "
        f"{pipe.needed_gbps:.3f} Gbps ({tib_per_month(pipe.needed_gbps):,.1f} TiB/month: size ÷ amortize_months "
        f"+ churn_tib per copy); {FIX} (source: {pipe.source})"
    )


def validate_data_pipes(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """data-pipes (mandatory): the plan's pipes, then every declared hub, carry their copies."""
    config = effective_config(args, DATA_PIPES)
    if config is None:
        return
    for entry in items(config.get("planned_pipes")):
        pipe = mapping(entry)
        needed = number(pipe.get("needed_gbps"))
        planned = PipeUse(
            text(pipe.get("kind")) or "", text(pipe.get("path")) or "?",
            tuple(str(c) for c in items(pipe.get("copies"))), needed or 0.0, number(pipe.get("available_gbps")),
            text(pipe.get("size")) or "", text(pipe.get("source")) or "?",
        )
        if needed is not None and planned.fits is False:
            report_violation(shortfall(planned), None)
    for urn, message in _declared_hubs(args.resources, config):
        report_violation(message, urn)


def _declared_hubs(resources: Sequence[PolicyResource], config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Each declared hub whose SKU cannot carry the declared copies read through it."""
    copies = list(_declared_copies(resources, config))
    for resource in resources:
        owner = clouds.owner_of(resource.resource_type)
        rate = owner.declared_hub(View(resource, resources)) if owner is not None else None
        region = region_of(resource)
        if owner is None or rate is None or rate.gbps is None or region is None or not owner.storage_private_only:
            continue
        home = f"{owner.name}/{region}"
        carried = [(label, need) for label, place, cloud, need in copies if place == home and cloud != owner.name]
        needed = sum(need for _, need in carried)
        declared = PipeUse("declared", f"the VPN gateway {resource.name} ({rate.size}) in {home}",
                           tuple(label for label, _ in carried), needed, rate.gbps, rate.size, rate.source)
        if carried and declared.fits is False:
            yield resource.urn, shortfall(declared)


def _declared_copies(
    resources: Sequence[PolicyResource], config: Mapping[str, Any]
) -> Iterator[tuple[str, str, str, float]]:
    """(label, home 'cloud/region', copy's cloud, Gbps) of each declared copy away from its home."""
    sizes, homes = mapping(config.get("storage_tib")), mapping(config.get("storage_homes"))
    for resource in resources:
        owner = clouds.owner_of(resource.resource_type)
        if owner is None or resource.resource_type not in owner.storage_types:
            continue
        entry, region = storage_entry(resource, sizes), region_of(resource)
        home = mapping(homes.get(entry) if entry is not None else None)
        place, tib = text(home.get("home")), number(sizes.get(entry)) if entry is not None else None
        churn, months = number(home.get("churn_tib")), number(home.get("amortize_months"))
        if place is None or region is None or tib is None or churn is None or not months:
            continue
        if place != f"{owner.name}/{region}":
            need = gbps(transfer_gb_per_month(tib, int(months), churn) / GB_PER_TIB)
            yield f"{entry}: {place} -> {owner.name}/{region} ({resource.name})", place, owner.name, need
