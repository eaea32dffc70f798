"""Training units (issue 29, part 3; docs/design.md, "Training units"): a pool's nodes go to
each site in whole units (`placement.unit_nodes`; an rdma pool without it: the whole pool in one
site), in every period of a horizon, and an rdma pool split over sites without units is refused.

Prices as in tests/test_placement.py: an 8-GPU H100 node costs $10/h in aws/us-east-1, $12/h in
aws/us-west-2 and $11/h in azure/eastus; the quota below holds 5 nodes in us-east-1."""

from __future__ import annotations

from typing import Any

import pytest

from gpufleet.clouds.catalog import load_catalog
from gpufleet.errors import SpecError
from gpufleet.placement.horizon import place_horizon
from gpufleet.spec import load_fleet
from gpufleet.units import unit_of
from tests.test_placement import fleet, h100, solve, where

FIVE_NODES = {"aws": {"us-east-1": {"L-417A185B": 5 * 192}}}


def test_without_units_a_pool_fills_the_cheap_site_and_spills_over() -> None:
    _, result = solve(fleet([h100(gpus=64)], quotas=FIVE_NODES))
    assert where(result) == {"train/aws/us-east-1": 5, "train/azure/eastus": 3}


def test_an_rdma_pool_goes_whole_to_one_site_by_default() -> None:
    """The old plan split it 5 + 3 over two regions: one NCCL job cannot span them."""
    spec, result = solve(fleet([h100(gpus=64, interconnect="rdma")], quotas=FIVE_NODES))
    assert where(result) == {"train/azure/eastus": 8}
    assert {unit_of(spec.pools[0], p.sku) for p in spec.catalog().offers_for("H100", "aws", "us-east-1")} >= {8}


@pytest.mark.parametrize(("unit", "expected"), [
    (2, {"train/aws/us-east-1": 4, "train/azure/eastus": 4}),
    (3, {"train/aws/us-east-1": 3, "train/azure/eastus": 6}),  # 9 nodes: whole units of 3
    (8, {"train/azure/eastus": 8}),
])
def test_every_site_gets_whole_units(unit: int, expected: dict[str, int]) -> None:
    pool = h100(gpus=64, interconnect="rdma", placement={"unit_nodes": unit})
    _, result = solve(fleet([pool], quotas=FIVE_NODES))
    assert where(result) == expected
    assert all(p.nodes % unit == 0 for p in result.placements)


def test_units_hold_for_a_pool_without_rdma_too() -> None:
    _, result = solve(fleet([h100(gpus=64, placement={"unit_nodes": 4})], quotas=FIVE_NODES))
    assert where(result) == {"train/aws/us-east-1": 4, "train/azure/eastus": 4}


@pytest.mark.parametrize("asks", [
    {"min_share": {"aws": 0.5, "azure": 0.25}},
    {"pin": {"aws/us-east-1": 2, "azure/eastus": 2}},
])
def test_an_rdma_pool_split_without_units_is_refused_saying_how_to_allow_it(asks: dict[str, Any]) -> None:
    with pytest.raises(SpecError) as caught:
        load_fleet(fleet([h100(gpus=64, interconnect="rdma", **asks)]))
    message = str(caught.value)
    assert "pools[0].placement.unit_nodes" in message
    assert "placement: {unit_nodes: N}" in message
    load_fleet(fleet([h100(gpus=64, interconnect="rdma", placement={"unit_nodes": 2}, **asks)]))


@pytest.mark.parametrize("bad", [0, -1, "two", 2.5])
def test_unit_nodes_must_be_a_positive_whole_number(bad: object) -> None:
    with pytest.raises(SpecError) as caught:
        load_fleet(fleet([h100(gpus=64, placement={"unit_nodes": bad})]))
    assert "pools[0].placement.unit_nodes" in str(caught.value)


def test_units_hold_in_every_period_of_a_horizon() -> None:
    pool = h100(gpus=64, interconnect="rdma", placement={"unit_nodes": 2}, schedule={"2026-02": 80, "2026-03": 112})
    spec = load_fleet(fleet([pool], quotas=FIVE_NODES, horizon={"start": "2026-01", "months": 3, "period": "month"}))
    result = place_horizon(spec)
    sizes = [sum(p.nodes for p in plan) for plan in result.placements]
    assert sizes == [8, 10, 14]
    for plan in result.placements:
        assert all(p.nodes % 2 == 0 for p in plan), plan
        assert {p.region for p in plan if p.cloud == "aws"} <= {"us-east-1", "us-west-2"}


@pytest.mark.parametrize(("instance_type", "placement", "expected"), [
    ("aws/p6e-gb200.36xlarge", {}, 9),  # u-p6e-gb200x36: 9 instances, one NVLink domain
    ("aws/p6e-gb200.36xlarge", {"unit_nodes": 4}, 36),  # whole jobs of 4 in whole racks of 9
    ("azure/Standard_ND128isr_NDR_GB200_v6", {}, 18),  # 18 VMs per NVL72 rack
    ("aws/p5.48xlarge", {}, 1),  # not rack-scale: any count
])
def test_a_rack_scale_sku_is_placed_in_whole_racks(instance_type: str, placement: dict[str, Any], expected: int) -> None:
    cloud, name = instance_type.split("/")
    sku = load_catalog().skus[(cloud, name)]
    spec = load_fleet({
        "name": "racks", "network": {"supernet": "10.64.0.0/10"},
        "clouds": {"aws": {"regions": ["us-east-1"]}},
        "pools": [{"name": "train", "accelerator": "H100", "gpus": 64, "placement": placement} if placement
                  else {"name": "train", "accelerator": "H100", "gpus": 64}],
    })
    assert unit_of(spec.pools[0], sku) == expected
