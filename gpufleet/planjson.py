"""The plan JSON document (DESIGN.md contract) and reading placements back from one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from gpufleet.errors import Problem, SpecError
from gpufleet.plan import Placement
from gpufleet.textfile import read_utf8


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


def dumps(document: object) -> str:
    """JSON text that every JSON parser accepts: NaN and Infinity are refused, not written."""
    return json.dumps(document, indent=2, allow_nan=False)


def loads(text: str) -> Any:
    """Parse JSON; NaN and Infinity (which Python writes by default) are not JSON."""
    def refuse(constant: str) -> Any:
        raise json.JSONDecodeError(f"{constant} is not a JSON value", text, max(text.find(constant), 0))

    return json.loads(text, parse_constant=refuse)


def read_document(path: str | Path, error: type[SpecError] = SpecError) -> dict[str, Any]:
    """A plan JSON document; any problem raises `error` naming the file."""
    text = read_utf8(Path(path), "plan", error)
    try:
        document = loads(text)
    except json.JSONDecodeError as failure:
        raise error([Problem(f"{path}:line {failure.lineno}", f"not JSON: {failure.msg}")]) from None
    if not isinstance(document, dict) or "pools" not in document:
        raise error([Problem(str(path), "not a gpufleet plan (no 'pools' key)")])
    return cast(dict[str, Any], document)


def previous_placements(path: str | None) -> tuple[Placement, ...]:
    """Placements of a previous plan file, or none when no path is given."""
    return placements_from_document(read_document(path)) if path else ()
