"""The spec's JSON Schema for editors (`gpufleet schema`): the model's schema with the packaged
catalog's accelerators and each cloud's regions as enums."""

from __future__ import annotations

from typing import Any

from gpufleet import clouds
from gpufleet.clouds.catalog import load_catalog
from gpufleet.spec import FleetSpec


def spec_schema() -> dict[str, Any]:
    """The spec's JSON Schema (`gpufleet schema`), with the packaged catalog's accelerators and
    each cloud's regions as enums, so an editor completes them. Validation does not use these:
    `load_fleet` still names a wrong value and suggests the nearest known one."""
    schema = FleetSpec.model_json_schema()
    catalog = load_catalog()
    defs: dict[str, Any] = schema["$defs"]
    defs["Pool"]["properties"]["accelerator"]["enum"] = catalog.accelerators()
    generic = defs.pop("CloudRegions")
    per_cloud: dict[str, Any] = {}
    for cloud in clouds.names():
        name = f"CloudRegions_{cloud}"
        regions = {**generic["properties"]["regions"], "items": {"type": "string", "enum": catalog.region_names(cloud)}}
        defs[name] = {**generic, "title": f"{cloud} regions", "properties": {"regions": regions}}
        per_cloud[cloud] = {"$ref": f"#/$defs/{name}"}
    defs["Clouds"] = {
        key: value for key, value in defs["Clouds"].items() if key not in ("additionalProperties", "propertyNames")
    } | {"properties": per_cloud, "additionalProperties": False}
    return schema
