"""Rebuild gpufleet/catalog/data/ from the sourced CSVs in ../shared/catalog and scripts/catalog/.

Rows are copied as the source shows them (one offer row per SKU and region); the known source
errors are corrected at load time in gpufleet/catalog/__init__.py, where tests can see them.
`scripts/catalog/frontier_*.csv` add the SKUs the shared files lack (GB200, Trainium,
Inferentia2, H200/GB300/MI300X on Azure), each row naming its source and a confidence.
Run: python scripts/build_catalog.py [SHARED_CATALOG_DIR]
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "gpufleet" / "catalog" / "data"
FRONTIER = ROOT / "scripts" / "catalog"
AZURE_SPOT_BUCKET = "lowPriorityCores"
SKU_COLUMNS = ["cloud", "instance_type", "accelerator", "gpus", "vcpus", "memory_gib", "arch",
               "quota_bucket", "spot_quota_bucket", "source", "confidence"]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _number(text: str) -> str:
    """Canonical decimal text ('4.0' -> '4', '0.519000' -> '0.519'); blank stays blank."""
    if not text:
        return ""
    value = float(text)
    return str(int(value)) if value.is_integer() else repr(value)


def main(source: Path) -> None:
    vm_rows = _read(source / "aws_gpu_vms.csv") + _read(source / "azure_gpu_vms.csv")
    quota = {(r["cloud"], r["instance_type"]): r for r in _read(source / "quota_families.csv")}

    # The shared files' facts come from SkyPilot's catalog, generated from the clouds' APIs.
    skus: dict[tuple[str, str], list[str]] = {}
    # AWS lists one row per AZ spot price; the offer keeps the highest, a conservative plan.
    spot: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    on_demand: dict[tuple[str, str, str], str] = {}
    sources: dict[tuple[str, str, str], str] = {}
    for row in vm_rows:
        cloud, sku, region = row["cloud"], row["instance_type"], row["region"]
        q = quota[(cloud, sku)]
        skus[(cloud, sku)] = [
            cloud, sku, row["accelerator"], _number(row["accelerator_count"]),
            _number(row["vcpus"]), _number(row["memory_gib"]), row["arch"] or "x86_64",
            q["ondemand_quota_id"], q["spot_quota_id"] or AZURE_SPOT_BUCKET,
            row["source"], "confirmed",
        ]
        key = (cloud, sku, region)
        on_demand[key] = _number(row["price_usd_per_hour"])
        if row["spot_price_usd_per_hour"]:
            spot[key].append(float(row["spot_price_usd_per_hour"]))
        sources[key] = row["source"]
    for row in _read(FRONTIER / "frontier_skus.csv"):
        skus[(row["cloud"], row["instance_type"])] = [row[column] for column in SKU_COLUMNS]
    for row in _read(FRONTIER / "frontier_offers.csv"):  # one row per zone, as the shared files
        key = (row["cloud"], row["instance_type"], row["region"])
        on_demand[key] = _number(row["price_usd_per_hour"])
        if row["spot_price_usd_per_hour"]:
            spot[key].append(float(row["spot_price_usd_per_hour"]))
        sources[key] = row["source"]

    _write(
        DATA / "skus.csv",
        SKU_COLUMNS,
        sorted(skus.values()),
    )
    _write(
        DATA / "offers.csv",
        ["cloud", "instance_type", "region", "price_usd_per_hour", "spot_price_usd_per_hour",
         "source"],
        [
            [c, s, r, on_demand[(c, s, r)],
             _number(str(max(spot[(c, s, r)]))) if spot[(c, s, r)] else "", sources[(c, s, r)]]
            for (c, s, r) in sorted(on_demand)
        ],
    )
    _write(
        DATA / "regions.csv",
        ["cloud", "region", "display_name", "country", "source"],
        [[r["cloud"], r["region"], r["display_name"], r["country_iso2"], r["source"]]
         for r in _read(source / "all_regions.csv")],
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "catalog")
