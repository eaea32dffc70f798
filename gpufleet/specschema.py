"""The spec's JSON Schema for editors (`gpufleet schema`): the model's schema with the packaged
catalog's accelerators and each cloud's regions as enums, and the clouds' reservation ids."""

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
    defs["AcceleratorName"] = {"type": "string", "enum": catalog.accelerators()}
    accelerator_ref = {"$ref": "#/$defs/AcceleratorName"}
    pool = defs["Pool"]["properties"]
    pool["accelerator"] = {
        "description": pool["accelerator"]["description"],
        "anyOf": [accelerator_ref, {"type": "array", "minItems": 1,
                         "items": {"anyOf": [accelerator_ref, {"$ref": "#/$defs/AcceleratorChoice"}]}}],
    }
    defs["AcceleratorChoice"]["properties"]["name"] = accelerator_ref
    defs["DeclaredSku"]["properties"]["accelerator"] = {
        **accelerator_ref, "description": defs["DeclaredSku"]["properties"]["accelerator"]["description"],
    }
    patterns = [r.pattern for m in clouds.models() if (r := m.capabilities.reservation) is not None]
    if patterns:  # the clouds' reservation ids (validation: gpufleet/spec.py, with the message)
        reservation = defs["Pool"]["properties"]["capacity_reservation_id"]["anyOf"][0]
        reservation["pattern"] = f"^{patterns[0]}$" if len(patterns) == 1 else f"^(?:{'|'.join(patterns)})$"
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
