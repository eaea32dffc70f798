"""The plan JSON document (DESIGN.md contract) and reading placements back from one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from gpufleet.errors import Problem, SpecError
from gpufleet.plan import Placement


def placement_json(placement: Placement) -> dict[str, Any]:
    return {
        "cloud": placement.cloud, "region": placement.region,
        "instance_type": placement.instance_type, "nodes": placement.nodes,
        "gpus": placement.gpus, "capacity": placement.capacity,
        "monthly_usd": round(placement.monthly_usd, 2),
        "price_usd_per_hour": placement.price_usd_per_hour, "price_source": placement.price_source,
        "vcpus_per_node": placement.vcpus_per_node, "quota_bucket": placement.quota_bucket,
    }


def placements_from_document(document: dict[str, Any]) -> tuple[Placement, ...]:
    """Placements of a plan JSON document (for `--previous` and `gpufleet diff`)."""
    found: list[Placement] = []
    for pool in cast(list[dict[str, Any]], document.get("pools", [])):
        for p in cast(list[dict[str, Any]], pool.get("placements", [])):
            found.append(
                Placement(
                    pool=pool["name"], cloud=p["cloud"], region=p["region"],
                    instance_type=p["instance_type"], nodes=int(p["nodes"]), gpus=int(p["gpus"]),
                    capacity=p.get("capacity", "on-demand"),
                    vcpus_per_node=int(p.get("vcpus_per_node", 0)),
                    quota_bucket=p.get("quota_bucket", ""),
                    price_usd_per_hour=float(p.get("price_usd_per_hour", 0.0)),
                    price_source=p.get("price_source", ""),
                    monthly_usd=float(p.get("monthly_usd", 0.0)),
                )
            )
    return tuple(found)


def read_document(path: str | Path) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise SpecError([Problem(str(path), f"cannot read plan: {error.strerror}")]) from None
    except json.JSONDecodeError as error:
        raise SpecError([Problem(f"{path}:line {error.lineno}", f"not JSON: {error.msg}")]) from None
    if not isinstance(document, dict) or "pools" not in document:
        raise SpecError([Problem(str(path), "not a gpufleet plan (no 'pools' key)")])
    return cast(dict[str, Any], document)


def previous_placements(path: str | None) -> tuple[Placement, ...]:
    """Placements of a previous plan file, or none when no path is given."""
    return placements_from_document(read_document(path)) if path else ()
