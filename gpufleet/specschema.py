"""The spec's JSON Schema for editors (`gpufleet schema`): the model's schema with the packaged
catalog's accelerators and each cloud's regions as enums."""

from __future__ import annotations

from typing import Any

from gpufleet import clouds
from gpufleet.catalog import load_catalog
from gpufleet.spec import FleetSpec


def spec_schema() -> dict[str, Any]:
    """The spec's JSON Schema (`gpufleet schema`), with the packaged catalog's accelerators and
    each cloud's regions as enums, so an editor completes them. Validation does not use these:
    `load_fleet` still names a wrong value and suggests the nearest known one."""
    schema = FleetSpec.model_json_schema()
    catalog = load_catalog()
    defs: dict[str, Any] = schema["$defs"]
    defs["AcceleratorName"] = {"type": "string", "enum": catalog.accelerators()}
    name = {"$ref": "#/$defs/AcceleratorName"}
    pool = defs["Pool"]["properties"]
    pool["accelerator"] = {
        "description": pool["accelerator"]["description"],
        "anyOf": [name, {"type": "array", "minItems": 1,
                         "items": {"anyOf": [name, {"$ref": "#/$defs/AcceleratorChoice"}]}}],
    }
    defs["AcceleratorChoice"]["properties"]["name"] = name
    defs["DeclaredSku"]["properties"]["accelerator"] = {
        **name, "description": defs["DeclaredSku"]["properties"]["accelerator"]["description"],
    }
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
