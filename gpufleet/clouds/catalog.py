"""The catalog of the registered clouds: each cloud's rows of the packaged tables (or its own),
its known source errors corrected in code (so the corrections are visible and tested), and the
refreshed offers of GPUFLEET_CATALOG_DIR over them (gpufleet.catalog.overlay).

It sits above both the catalog's data types and the registry, so the catalog imports no cloud
and a cloud model may use the catalog's types (docs/design.md, "The cloud interface").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import cache
from pathlib import Path

from gpufleet import clouds
from gpufleet.catalog import Catalog, Offer, Rack, Region, Sku, overlay, packaged_rows


def cloud_rows(table: str) -> Iterable[Mapping[str, str]]:
    """Every registered cloud's rows of a table (each cloud chooses its own: gpufleet.clouds)."""
    return [row for model in clouds.models() for row in model.catalog_rows(table, packaged_rows(table))]


def _price(text: str) -> float | None:
    return float(text) if text else None


def load_catalog() -> Catalog:
    """The packaged catalog with the known source errors corrected, and the refreshed offers of
    GPUFLEET_CATALOG_DIR over it (gpufleet.catalog.overlay); cached per registry state and file."""
    return _load_catalog(clouds.revision(), overlay.overlay_identity())


def _offer_rows(skus: Mapping[tuple[str, str], Sku], identity: tuple[str, int, int] | None) -> list[Mapping[str, str]]:
    """The packaged offer rows, each replaced (or joined) by its refreshed row, if any."""
    rows = {(r["cloud"], r["instance_type"], r["region"]): r for r in cloud_rows("offers")}
    if identity is not None:
        regions = {(r["cloud"], r["region"]) for r in cloud_rows("regions")}
        for row in overlay.read_offers(Path(identity[0]), skus.keys(), regions):
            rows[(row["cloud"], row["instance_type"], row["region"])] = row
    return list(rows.values())


def _racks() -> dict[tuple[str, str], tuple[Rack, ...]]:
    found: dict[tuple[str, str], list[Rack]] = {}
    for row in cloud_rows("racks"):
        found.setdefault((row["cloud"], row["instance_type"]), []).append(Rack(
            row["rack"], int(row["instances"]), row["interconnect"], row["sold_as"], row["source"]
        ))
    return {key: tuple(sorted(racks, key=lambda r: r.instances)) for key, racks in found.items()}


@cache
def _load_catalog(_registered: tuple[object, ...], refreshed: tuple[str, int, int] | None) -> Catalog:
    rdma = {(r["cloud"], r["instance_type"]): r for r in cloud_rows("rdma")}
    families = {row["accelerator"]: row["family"] for row in packaged_rows("accelerators")}
    racks = _racks()
    corrections: list[str] = []
    skus: dict[tuple[str, str], Sku] = {}
    for row in cloud_rows("skus"):
        key = (row["cloud"], row["instance_type"])
        fabric = rdma.get(key)
        sku = Sku(
            cloud=row["cloud"],
            instance_type=row["instance_type"],
            accelerator=row["accelerator"],
            gpus=int(row["gpus"]),
            vcpus=int(row["vcpus"]),
            memory_gib=float(row["memory_gib"]),
            arch=row["arch"],
            quota_bucket=row["quota_bucket"],
            spot_quota_bucket=row["spot_quota_bucket"],
            rdma_interfaces=int(fabric["rdma_interfaces"]) if fabric else 0,
            rdma_fabric=fabric["fabric"] if fabric else "",
            family=families[row["accelerator"]],
            racks=racks.get(key, ()),
            source=row.get("source", ""),
            confidence=row.get("confidence", ""),
        )
        fixes = clouds.get(sku.cloud).sku_corrections
        if sku.instance_type in fixes:
            attribute, value, why = fixes[sku.instance_type]
            sku = replace(sku, **{attribute: value})
            corrections.append(f"{key[0]}/{key[1]}: {attribute}={value} ({why})")
        skus[key] = sku

    offers: dict[tuple[str, str, str], Offer] = {}
    repeated: Counter[str] = Counter()
    for row in _offer_rows(skus, refreshed):
        sku = skus[(row["cloud"], row["instance_type"])]
        on_demand, spot = _price(row["price_usd_per_hour"]), _price(row["spot_price_usd_per_hour"])
        if spot is not None and spot == on_demand:
            # Both sources repeat the on-demand price where they have no spot price (AWS p5 in
            # us-east-1: $55.04 both): a spot price equal to on-demand is unknown, on any SKU,
            # packaged or refreshed.
            spot = None
            repeated[sku.cloud] += 1
        offers[(sku.cloud, sku.instance_type, row["region"])] = Offer(
            sku, row["region"], on_demand, spot, row["source"]
        )
    if repeated:
        counts = ", ".join(f"{cloud} {n}" for cloud, n in sorted(repeated.items()))
        corrections.append(f"spot price equal to on-demand: treated as unknown ({counts} offers)")

    regions = {
        (row["cloud"], row["region"]): Region(
            row["cloud"], row["region"], row["display_name"], row["country"], row["source"]
        )
        for row in cloud_rows("regions")
    }
    transfer = {
        model.name: tuple(model.catalog_rows("transfer_rates", packaged_rows("transfer_rates")))
        for model in clouds.models()
    }
    unlisted = {(row["cloud"], row["instance_type"]): row["why"] for row in cloud_rows("unlisted")}
    return Catalog(
        skus=skus, regions=regions, offers=offers, corrections=tuple(corrections), transfer_rows=transfer,
        families=families, unlisted=unlisted,
    )
