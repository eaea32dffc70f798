"""What-if in one flag: `plan --price-change` is, byte for byte, the plan of a spec whose price
book carries the scaled prices (built here from the catalog, not by gpufleet.whatif); `--quota`
is the plan of the spec with the quota declared; both record the scenario and the diff from the
unchanged plan; every malformed or unknown value exits 2 naming it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.catalog import price_key
from gpufleet.cli import main
from gpufleet.spec import load_fleet
from tests.conftest import fleet_of
from tests.test_placement import fleet, h100

STACK = "prod-eu"
BASE = fleet([h100("train", 16)])  # aws/us-east-1 $10/h, us-west-2 $12, azure/eastus $11


def _plan(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["plan", *args, "--format", "json", "--stable", "--stack-name", STACK]) == 0
    return json.loads(capsys.readouterr().out)


def _scaled_book(data: dict[str, Any], cloud: str, factor: float, region: str | None = None,
                 sku: str | None = None) -> dict[str, float]:
    """The spec's price book with every offer of its pools' accelerators in its regions of
    `cloud` (or one region / SKU) at today's price × factor."""
    spec = load_fleet(data)
    catalog = spec.catalog()
    book = dict(spec.prices)
    for name in spec.clouds.regions_of(cloud):
        for accelerator in sorted({name for p in spec.pools for name in p.accelerators()}):
            for offer in catalog.offers_for(accelerator, cloud, name):
                if region not in (None, name) or sku not in (None, offer.sku.instance_type):
                    continue
                for spot, price in ((False, offer.price_usd_per_hour), (True, offer.spot_price_usd_per_hour)):
                    if price is not None:
                        book[price_key(cloud, name, offer.sku.instance_type, spot=spot)] = round(price * factor, 6)
    return book


def test_a_price_change_on_prod_eu_is_the_plan_of_the_spec_with_the_scaled_price_book(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = fleet_of(STACK)
    scaled = tmp_path / "scaled.yaml"
    scaled.write_text(yaml.safe_dump({**data, "prices": _scaled_book(data, "aws", 0.85)}))
    what_if = _plan(capsys, "--stack", STACK, "--price-change", "aws=-15%")
    scenario = what_if.pop("scenario")
    assert json.dumps(what_if, sort_keys=True) == json.dumps(_plan(capsys, "--spec", str(scaled)), sort_keys=True)
    assert scenario["price_changes"] == [{"change": "aws=-15%", "percent": -15.0, "offers": 42}]
    assert scenario["diff"]["cost"][0]["after_usd"] == what_if["cost"]["monthly_usd"]
    assert scenario["diff"]["cost"][0]["before_usd"] > what_if["cost"]["monthly_usd"]


@pytest.mark.parametrize(("change", "cloud", "factor", "region", "sku"), [
    ("azure/eastus=-10%", "azure", 0.9, "eastus", None),
    ("aws/*/p5.48xlarge=-20%", "aws", 0.8, None, "p5.48xlarge"),
])
def test_a_price_change_by_region_or_sku_is_the_plan_of_the_scaled_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str, cloud: str, factor: float,
    region: str | None, sku: str | None,
) -> None:
    base, scaled = tmp_path / "base.yaml", tmp_path / "scaled.yaml"
    base.write_text(yaml.safe_dump(BASE))
    scaled.write_text(yaml.safe_dump({**BASE, "prices": _scaled_book(BASE, cloud, factor, region, sku)}))
    what_if = _plan(capsys, "--spec", str(base), "--price-change", change)
    assert what_if.pop("scenario")["price_changes"][0]["offers"] > 0
    assert json.dumps(what_if, sort_keys=True) == json.dumps(_plan(capsys, "--spec", str(scaled)), sort_keys=True)


def test_a_big_enough_cut_moves_gpus_and_the_table_shows_the_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(BASE))
    assert main(["plan", "--spec", str(base), "--price-change", "azure=-20%", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| azure=-20% | 3 prices scaled by -20 % |" in out  # the H100 SKUs' on-demand and spot prices
    diff = out[out.index("**GPUs**"):]
    assert "| train | aws | us-east-1 | 16 | 0 |" in diff
    assert "| train | azure | eastus | 0 | 16 |" in diff


def test_changes_compound_in_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, scaled = tmp_path / "base.yaml", tmp_path / "scaled.yaml"
    base.write_text(yaml.safe_dump(BASE))
    scaled.write_text(yaml.safe_dump({**BASE, "prices": _scaled_book(
        {**BASE, "prices": _scaled_book(BASE, "aws", 0.9)}, "aws", 0.8)}))
    twice = _plan(capsys, "--spec", str(base), "--price-change", "aws=-10%", "--price-change", "aws=-20%")
    twice.pop("scenario")
    assert json.dumps(twice, sort_keys=True) == json.dumps(_plan(capsys, "--spec", str(scaled)), sort_keys=True)


def test_a_quota_change_is_the_plan_of_the_spec_with_the_quota(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = fleet_of(STACK)
    # units of one node, so that moving a node to AWS can stay within Azure's commitment (with
    # prod-eu's units of 4 the move would leave Azure's commitment unburned, and the quota
    # would bind nothing)
    data["pools"][0]["placement"] = {"unit_nodes": 1}
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(data))
    bucket = "L-417A185B"
    before = data["quotas"]["aws"]["eu-north-1"][bucket]
    raised = tmp_path / "raised.yaml"
    quotas = {**data["quotas"], "aws": {**data["quotas"]["aws"], "eu-north-1": {
        **data["quotas"]["aws"]["eu-north-1"], bucket: before + 1536}}}
    raised.write_text(yaml.safe_dump({**data, "quotas": quotas}))
    what_if = _plan(capsys, "--spec", str(base), "--quota", f"aws/eu-north-1/{bucket}=+1536")
    scenario = what_if.pop("scenario")
    assert json.dumps(what_if, sort_keys=True) == json.dumps(_plan(capsys, "--spec", str(raised)), sort_keys=True)
    assert scenario["quota_changes"] == [{"change": f"aws/eu-north-1/{bucket}=+1536", "cloud": "aws",
                                          "region": "eu-north-1", "bucket": bucket, "before": before,
                                          "after": before + 1536}]
    assert what_if["cost"]["monthly_usd"] < scenario["diff"]["cost"][0]["before_usd"]  # the quota binds today


@pytest.mark.parametrize(("flag", "value", "named"), [
    ("--price-change", "gcp=-5%", "unknown cloud 'gcp'"),
    ("--price-change", "aws/mars-1=-5%", "unknown aws region 'mars-1'"),
    ("--price-change", "aws/*/p9.48xlarge=-5%", "unknown aws SKU 'p9.48xlarge'"),
    ("--price-change", "aws=-15", "the change must be a percentage"),
    ("--price-change", "aws=-100%", "the change must be a percentage"),
    ("--price-change", "aws=abc%", "the change must be a percentage"),
    ("--price-change", "aws-15%", "expected TARGET=CHANGE"),
    ("--price-change", "aws/eu-north-1/p5.48xlarge/x=-5%", "expected cloud, cloud/region or cloud/region/sku"),
    ("--quota", "aws/eu-north-1/L-NOPE=+5", "unknown aws quota bucket 'L-NOPE'"),
    ("--quota", "aws/eu-north-1=+5", "expected cloud/region/bucket"),
    ("--quota", "aws/eu-north-1/L-417A185B=+1.5", "whole units"),
    ("--quota", "aws/eu-north-1/L-417A185B=-99999", "a quota is at least 0"),
    ("--quota", "aws/eu-central-1/L-417A185B=+192", "declares no L-417A185B quota"),
])
def test_a_malformed_or_unknown_change_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str], flag: str, value: str, named: str
) -> None:
    assert main(["plan", "--stack", STACK, flag, value]) == 2
    err = capsys.readouterr().err
    assert flag in err, err
    assert named in err, err
