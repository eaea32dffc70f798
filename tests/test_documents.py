"""The published JSON documents: plan and diff schemas, versions, integers, stable bytes; the
spec schema's enums."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from gpufleet.cli import main
from gpufleet.clouds.catalog import load_catalog
from gpufleet.diff import DiffDocument, diff_documents
from gpufleet.planjson import PlanDocument
from tests.test_offline import document


def schema(capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, Any]:
    assert main(["schema", *flags]) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_and_diff_documents_validate_against_their_published_schemas(capsys: pytest.CaptureFixture[str]) -> None:
    plan, diff = schema(capsys, "--plan"), schema(capsys, "--diff")
    assert plan["title"] == "PlanDocument"
    assert diff["title"] == "DiffDocument"
    assert plan == TypeAdapter(PlanDocument).json_schema()
    base, head = document("dev"), document("prod-eu")
    for doc in (base, head):
        TypeAdapter(PlanDocument).validate_python(doc, strict=True)  # ints stay ints, no stray keys
    change = diff_documents(base, head).to_json()
    assert change["version"] == 1
    TypeAdapter(DiffDocument).validate_python(json.loads(json.dumps(change)), strict=True)


def test_counts_are_integers_in_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    defs = schema(capsys, "--plan")["$defs"]
    for name, field in [("PlacementDoc", "nodes"), ("PlacementDoc", "gpus"), ("PlacementDoc", "vcpus_per_node"),
                        ("PoolDoc", "gpus"), ("QuotaDoc", "used_vcpus"), ("ResourceCountDoc", "count"),
                        ("SolverDoc", "kept_from_previous")]:
        assert defs[name]["properties"][field]["type"] == "integer", (name, field)
    assert schema(capsys, "--diff")["$defs"]["GpuChangeDoc"]["properties"]["after"]["type"] == "integer"


def test_a_stray_key_or_a_fractional_count_does_not_validate() -> None:
    doc = document("dev")
    doc["pools"][0]["placements"][0]["nodes"] = 1.5
    with pytest.raises(ValueError, match="nodes"):
        TypeAdapter(PlanDocument).validate_python(doc, strict=True)
    doc = document("dev")
    doc["surprise"] = 1
    with pytest.raises(ValueError, match="surprise"):
        TypeAdapter(PlanDocument).validate_python(doc, strict=True)


def test_the_same_plan_twice_with_stable_is_byte_identical(tmp_path: Path) -> None:
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    for out in (first, second):
        assert main(["plan", "--stack", "dev", "--format", "json", "--stable", "--out", str(out)]) == 0
    assert first.read_bytes() == second.read_bytes()
    stable = json.loads(first.read_text())
    assert "timings" not in stable
    assert "seconds" not in stable["solver"]
    full = document("dev")
    assert set(full["timings"]) == {"solver_seconds", "plan_seconds"}
    assert full["solver"]["seconds"] == full["timings"]["solver_seconds"]


def test_spec_schema_offers_catalog_accelerators_and_regions_per_cloud(capsys: pytest.CaptureFixture[str]) -> None:
    defs = schema(capsys)["$defs"]
    catalog = load_catalog()
    assert defs["AcceleratorName"]["enum"] == catalog.accelerators()
    one, several = defs["Pool"]["properties"]["accelerator"]["anyOf"]
    assert one == {"$ref": "#/$defs/AcceleratorName"}
    assert several["items"]["anyOf"] == [one, {"$ref": "#/$defs/AcceleratorChoice"}]
    assert defs["AcceleratorChoice"]["properties"]["name"] == one
    assert "H100" in catalog.accelerators()
    for cloud in ("aws", "azure"):
        ref = defs["Clouds"]["properties"][cloud]
        regions = defs[ref["$ref"].split("/")[-1]]["properties"]["regions"]
        assert regions["items"]["enum"] == catalog.region_names(cloud)
        assert regions["minItems"] == 1
    assert "eu-central-1" in catalog.region_names("aws")
    assert "swedencentral" in catalog.region_names("azure")
