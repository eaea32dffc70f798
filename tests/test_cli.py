"""The command line: exit codes, messages without tracebacks, schema and catalog contracts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gpufleet.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_does_not_import_cloud_sdks_or_pulumi() -> None:
    probe = (
        "import sys; from gpufleet.cli import build_parser; build_parser();"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pulumi', 'pulumi_aws', 'pulumi_azure_native', 'pydantic', 'highspy', 'rich')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_invalid_spec_exits_2_naming_field_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "name: llm\nnetwork: {supernet: 10.64.0.0/10}\nclouds: {aws: {regions: [us-east-1]}}\n"
        "pools:\n  - {name: train, accelerator: H1000, gpus: 8}\n"
    )
    code, out, err = run(capsys, "plan", "--spec", str(spec))
    assert code == 2
    assert out == ""
    assert "pools[0].accelerator: unknown accelerator 'H1000' (did you mean 'H100'?)" in err
    assert "Traceback" not in err


def test_yaml_syntax_error_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text("name: llm\npools: [\n  - a: b\n")
    code, _, err = run(capsys, "plan", "--spec", str(spec))
    assert code == 2
    assert f"{spec}:line 3" in err
    assert "YAML syntax error" in err


def test_unknown_stack_lists_the_stacks(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "plan", "--stack", "prod-us")
    assert code == 2
    assert "no stack 'prod-us'" in err
    assert "dev, prod-eu" in err


def test_bad_command_line_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["plan", "--stack", "dev", "--format", "yaml"])
    assert exited.value.code == 2
    assert "invalid choice: 'yaml'" in capsys.readouterr().err


def test_schema_is_the_spec_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    schema = json.loads(out)
    assert code == 0
    assert schema["title"] == "FleetSpec"
    assert schema["additionalProperties"] is False
    assert {"name", "network", "clouds", "pools"} <= set(schema["required"])
    assert schema["$defs"]["Pool"]["properties"]["capacity"]["enum"] == ["on-demand", "spot", "reserved"]


def test_catalog_json_follows_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalog", "--format", "json", "--cloud", "azure")
    catalog = json.loads(out)
    assert code == 0
    assert set(catalog) == {"offers", "skus_without_offers", "regions"}
    assert set(catalog["offers"][0]) == {
        "cloud", "region", "instance_type", "accelerator", "gpus", "vcpus",
        "price_usd_per_hour", "spot_price_usd_per_hour", "quota_bucket", "spot_quota_bucket",
        "price_source", "sku_source", "confidence",
    }
    h200 = next(s for s in catalog["skus_without_offers"] if s["instance_type"] == "Standard_ND96isr_H200_v5")
    assert (h200["confidence"], h200["price_key"]) == ("confirmed", "azure/<region>/Standard_ND96isr_H200_v5")
    assert set(catalog["regions"][0]) == {"cloud", "region", "country", "jurisdictions"}
    h100 = [o for o in catalog["offers"] if o["instance_type"] == "Standard_ND96isr_H100_v5"]
    assert h100
    assert all(o["gpus"] == 8 and o["spot_price_usd_per_hour"] is None for o in h100)
    sweden = next(r for r in catalog["regions"] if r["region"] == "swedencentral")
    assert sweden == {"cloud": "azure", "region": "swedencentral", "country": "SE", "jurisdictions": ["EEA", "EU", "SE"]}


def test_catalog_table_filters(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalog", "--accelerator", "H100", "--region", "eu-north-1")
    assert code == 0
    assert "p5.48xlarge" in out
    assert "58.8928" in out
    assert "g6" not in out
