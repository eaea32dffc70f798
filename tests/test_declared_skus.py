"""A spec's own SKUs (`skus:`): validated like the rest, priced by the price book, placed, and
marked "declared by the spec" wherever the plan, its cost lines, the catalog and the policies
show them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gpufleet.catalog import DECLARED_SOURCE
from gpufleet.cli import main
from gpufleet.errors import SpecError
from gpufleet.pipeline import build_plan
from gpufleet.planjson import placement_json
from gpufleet.policy.budget import estimate
from gpufleet.policy.config import GPU_BUDGET, GPU_QUOTA, policy_config
from gpufleet.policy.props import catalog as policy_catalog
from gpufleet.spec import load_fleet

GB300 = {"accelerator": "GB300", "gpus": 4, "vcpus": 144, "memory_gib": 960, "arch": "arm64",
         "quota_bucket": "L-417A185B"}


def fleet(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "frontier",
        "network": {"supernet": "10.64.0.0/10"},
        "clouds": {"aws": {"regions": ["us-east-1"]}},
        "skus": {"aws/p6e-gb300.36xlarge": dict(GB300)},
        "prices": {"aws/us-east-1/p6e-gb300.36xlarge": 90.0},
        "pools": [{"name": "train", "accelerator": "GB300", "gpus": 16}],
    }
    data.update(changes)
    return data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_fleet(data)
    return [str(p) for p in caught.value.problems]


def test_a_declared_sku_is_placed_priced_and_marked() -> None:
    plan = build_plan(load_fleet(fleet()), "test")
    (placement,) = plan.pools[0].placements
    assert (placement.instance_type, placement.nodes, placement.gpus) == ("p6e-gb300.36xlarge", 4, 16)
    assert placement.price_source == "price book: aws/us-east-1/p6e-gb300.36xlarge"
    assert placement_json(placement).get("sku_source") == DECLARED_SOURCE
    line = next(line for line in plan.cost.lines if line.kind == "compute")
    assert line.source.endswith(f"; SKU {DECLARED_SOURCE}")


def test_catalog_skus_leave_the_plan_json_as_it_was() -> None:
    spec = load_fleet(fleet(skus={}, prices={}, pools=[{"name": "train", "accelerator": "H100", "gpus": 16}]))
    document = placement_json(build_plan(spec, "test").pools[0].placements[0])
    assert "sku_source" not in document
    assert "accelerator" not in document


def test_a_catalog_sku_without_a_public_price_is_priced_by_the_book() -> None:
    """Azure's H200 size was refused as an unknown instance type; now it is a catalog SKU
    without an offer, which the price book supplies."""
    spec = load_fleet(fleet(
        clouds={"azure": {"regions": ["eastus"]}}, skus={},
        prices={"azure/eastus/Standard_ND96isr_H200_v5": 110.0},
        pools=[{"name": "train", "accelerator": "H200", "gpus": 16}],
    ))
    (placement,) = build_plan(spec, "test").pools[0].placements
    assert (placement.instance_type, placement.price_usd_per_hour) == ("Standard_ND96isr_H200_v5", 110.0)
    assert placement.sku_source == ""


@pytest.mark.parametrize(
    ("skus", "expected"),
    [
        ({"p6e-gb300": GB300}, "skus.p6e-gb300: key 'p6e-gb300' must be 'cloud/instance_type'"),
        ({"gcp/a4x": GB300}, "skus.gcp/a4x: unknown cloud 'gcp'"),
        ({"aws/p5.48xlarge": GB300}, "skus.aws/p5.48xlarge: aws/p5.48xlarge is in the catalog (8 H100"),
        ({"aws/p6e-gb300.36xlarge": {**GB300, "accelerator": "GB3000"}},
         "skus.aws/p6e-gb300.36xlarge.accelerator: unknown accelerator 'GB3000' (did you mean 'GB300'?)"),
        ({"aws/p6e-gb300.36xlarge": {**GB300, "gpus": 0}},
         "skus.aws/p6e-gb300.36xlarge.gpus: "),
        ({"aws/p6e-gb300.36xlarge": {**GB300, "arch": "riscv64"}},
         "skus.aws/p6e-gb300.36xlarge.arch: "),
    ],
)
def test_declarations_are_validated_naming_the_field(skus: dict[str, Any], expected: str) -> None:
    found = problems(fleet(skus=skus))
    assert any(p.startswith(expected) for p in found), found


def test_an_unlisted_name_says_why_it_is_not_in_the_catalog() -> None:
    found = problems(fleet(skus={}))
    assert any(
        p.startswith("prices.aws/us-east-1/p6e-gb300.36xlarge: aws instance type 'p6e-gb300.36xlarge' "
                     "is not in the catalog: not in botocore")
        for p in found
    ), found


def test_an_unknown_name_is_told_it_can_be_declared() -> None:
    found = problems(fleet(skus={}, prices={"aws/us-east-1/p7.48xlarge": 1.0}))
    assert any(p.endswith("a SKU the catalog lacks can be declared under skus: aws/p7.48xlarge") for p in found)


def test_spot_nodes_of_a_declared_sku_need_its_spot_bucket() -> None:
    pools = [{"name": "train", "accelerator": "GB300", "gpus": 16, "capacity": "spot"}]
    prices = {"aws/us-east-1/p6e-gb300.36xlarge:spot": 30.0}
    (problem,) = problems(fleet(pools=pools, prices=prices))
    assert problem.startswith("pools[0].capacity: p6e-gb300.36xlarge on AWS: declared without spot_quota_bucket")
    spec = load_fleet(fleet(pools=pools, prices=prices,
                            skus={"aws/p6e-gb300.36xlarge": {**GB300, "spot_quota_bucket": "L-7212CCBC"}}))
    assert build_plan(spec, "test").pools[0].placements[0].quota_bucket == "L-7212CCBC"


def test_the_policies_count_and_price_declared_pools() -> None:
    """The budget and quota policies read the declared SKUs from their configuration, so a
    pool of a declared SKU is priced, not left out as an unknown type."""
    spec = load_fleet(fleet())
    config = policy_config(spec)
    assert config[GPU_QUOTA]["skus"] == config[GPU_BUDGET]["skus"] == {
        "aws/p6e-gb300.36xlarge": {**GB300, "memory_gib": 960.0, "rdma": 0},
    }
    book = policy_catalog(config[GPU_BUDGET]["prices"], config[GPU_BUDGET]["skus"])  # type: ignore[arg-type]
    assert book.offers[("aws", "p6e-gb300.36xlarge", "us-east-1")].price_usd_per_hour == 90.0
    assert "skus" not in policy_config(load_fleet(fleet(skus={}, prices={}, pools=[
        {"name": "train", "accelerator": "H100", "gpus": 8}])))[GPU_BUDGET]
    assert estimate([], config[GPU_BUDGET]).unpriced == []


def test_catalog_command_marks_the_specs_skus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "fleet.yaml"
    spec.write_text(json.dumps(fleet()))
    assert main(["catalog", "--spec", str(spec), "--accelerator", "GB300", "--format", "json"]) == 0
    offers = json.loads(capsys.readouterr().out)["offers"]
    mine = next(o for o in offers if o["instance_type"] == "p6e-gb300.36xlarge")
    assert (mine["sku_source"], mine["price_source"]) == (DECLARED_SOURCE, "price book: aws/us-east-1/p6e-gb300.36xlarge")
    assert main(["catalog", "--accelerator", "GB300", "--cloud", "aws", "--format", "json"]) == 0
    assert not json.loads(capsys.readouterr().out)["offers"]
