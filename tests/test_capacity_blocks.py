"""Capacity blocks as supply (gpufleet/specblocks.py): the GB200 racks example plans on its block
with the capacity-block node group, the arm64 AMI, the DRA driver and each pool's device plugin;
blocks are used first at no marginal cost and their upfront shows once; bad blocks and pools
that are not whole racks are refused naming the field, the value and what is allowed."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.errors import DecisionError, InfeasibleError, SpecError
from gpufleet.months import month_index
from gpufleet.offline import OfflinePlan, SpecSource, run_plan
from gpufleet.pipeline import build_plan
from gpufleet.preview import RecordedResource
from gpufleet.spec import load_fleet
from gpufleet.specblocks import running_through

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "gb200-racks.yaml"
BLOCK_ID = "cr-0a1b2c3d4e5f60718"


def example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


@cache
def planned() -> OfflinePlan:
    return run_plan(SpecSource(spec=EXAMPLE, cluster_software=True))


def _by_name(kind: str) -> dict[str, RecordedResource]:
    return {r.name: r for r in planned().recording.by_type(kind)}


def test_the_example_plans_on_its_block() -> None:
    plan = planned()
    assert plan.exit_code == 0
    train, serve = plan.document["pools"]
    [on_block] = train["placements"]
    assert (on_block["cloud"], on_block["nodes"], on_block["gpus"]) == ("aws", 36, 144)  # 2 × 18
    assert (on_block["blocks"], on_block["monthly_usd"]) == (BLOCK_ID, 0.0)  # sunk: no cost per node
    assert [(p["cloud"], p["instance_type"]) for p in serve["placements"]] == [
        ("azure", "Standard_ND96isr_H200_v5")]
    [upfront] = [line for line in plan.document["cost"]["lines"] if BLOCK_ID in line["item"]
                 and line["kind"] == "fixed"]
    assert "(ends 2027-04-03)" in upfront["item"]
    assert upfront["monthly_usd"] == round(3_900_000 * (365.25 / 12) / 90, 2)  # a month of 90 days


def test_the_block_node_group_targets_the_reservation_on_the_arm64_ami() -> None:
    groups = _by_name("aws:eks/nodeGroup:NodeGroup")
    group = groups["racks-train-aws-us-east-1-p6e-gb200-36xlarge-ng"]
    assert (group.inputs["capacityType"], group.inputs["amiType"]) == ("CAPACITY_BLOCK", "AL2023_ARM_64_NVIDIA")
    template = _by_name("aws:ec2/launchTemplate:LaunchTemplate")["racks-train-aws-us-east-1-p6e-gb200-36xlarge-lt"]
    assert template.inputs["instanceMarketOptions"] == {"marketType": "capacity-block"}
    assert template.inputs["capacityReservationSpecification"] == {
        "capacityReservationTarget": {"capacityReservationId": BLOCK_ID}}


def test_each_cluster_gets_the_device_plugin_of_its_pools_and_the_racks_the_dra_driver() -> None:
    releases = {(r.region, r.inputs["name"]): r for r in planned().recording.by_type("kubernetes:helm.sh/v3:Release")}
    for region, pool in (("us-east-1", "train"), ("eastus", "serve")):
        values = releases[(region, "nvidia-device-plugin")].inputs["values"]
        terms = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert terms["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == [pool]
    dra = releases[("us-east-1", "nvidia-dra-driver-gpu")].inputs["values"]
    assert dra["resources"]["computeDomains"] == {"enabled": True}
    assert ("eastus", "nvidia-dra-driver-gpu") not in releases  # H200 nodes share no NVLink domain
    assert not any(name.startswith(("neuron", "amd")) for _, name in releases)


def test_a_block_is_used_first_and_only_up_to_its_instances() -> None:
    """A block of 2 p5.48xlarge in us-east-1 and a reserved pool of 4 H100 nodes: the block's 2
    nodes cost nothing more and are taken first; the other 2 are paid for in us-west-2."""
    fleet: dict[str, Any] = {
        "name": "blocks", "network": {"supernet": "10.64.0.0/10"},
        "clouds": {"aws": {"regions": ["us-east-1", "us-west-2"]}},
        "capacity": {"blocks": [{"id": BLOCK_ID, "cloud": "aws", "region": "us-east-1", "sku": "p5.48xlarge",
                                 "units": 2, "start": "2027-01-04", "end": "2027-01-17", "upfront_usd": 60_000}]},
        "pools": [{"name": "train", "accelerator": "H100", "gpus": 32, "gpus_per_node": 8, "capacity": "reserved"}],
    }
    plan = build_plan(load_fleet(fleet), "test")
    found = {(p.region, p.blocks): (p.nodes, p.monthly_usd > 0) for p in plan.pools[0].placements}
    assert found == {("us-east-1", BLOCK_ID): (2, False), ("us-west-2", ""): (2, True)}
    [line] = [li for li in plan.cost.lines if li.item.startswith(f"capacity block {BLOCK_ID}")]
    assert (line.kind, line.monthly_usd) == ("fixed", 60_000)  # 14 days: the whole upfront in the month


def test_pools_share_a_block_and_no_more() -> None:
    fleet = example()
    fleet["pools"].append({"name": "more", "accelerator": "GB200", "gpus": 36, "capacity": "reserved"})
    with pytest.raises(InfeasibleError) as caught:
        build_plan(load_fleet(fleet), "test")
    assert "36 GB200 short" in str(caught.value)


def test_one_block_per_instance_type_and_region() -> None:
    fleet = example()
    fleet["capacity"]["blocks"].append({**fleet["capacity"]["blocks"][0], "sku": "u-p6e-gb200x36", "units": 1})
    with pytest.raises(SpecError) as caught:
        load_fleet(fleet)
    assert [p.path for p in caught.value.problems] == ["capacity.blocks[1].sku"]
    assert "one block per instance type and region" in caught.value.problems[0].message


def test_the_block_makes_a_reserved_pool_runnable_without_its_own_id() -> None:
    fleet = example()
    fleet["capacity"]["blocks"] = []
    with pytest.raises(SpecError) as caught:
        load_fleet(fleet)
    assert any(p.path == "pools[0].capacity_reservation_id" and "or a capacity.blocks entry" in p.message
               for p in caught.value.problems)


def test_a_block_without_id_plans_but_its_node_group_needs_the_id() -> None:
    fleet = example()
    del fleet["capacity"]["blocks"][0]["id"]
    spec = load_fleet(fleet)
    assert build_plan(spec, "test").pools[0].placements[0].blocks == "capacity.blocks[0]"
    path = Path(__file__).parent / "_block_without_id.yaml"
    try:
        path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": fleet}}))
        with pytest.raises(DecisionError) as caught:
            run_plan(SpecSource(spec=path))
    finally:
        path.unlink()
    assert caught.value.path == "capacity.blocks[0].id"


def _refused(change: dict[str, Any]) -> list[str]:
    fleet = example()
    fleet["capacity"]["blocks"][0].update(change)
    with pytest.raises(SpecError) as caught:
        load_fleet(fleet)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"cloud": "gcp"}, "capacity.blocks[0].cloud: unknown configured cloud 'gcp'; known: aws, azure"),
        ({"cloud": "azure", "region": "eastus", "sku": "Standard_ND96isr_H200_v5"},
         "capacity.blocks[0].cloud: Azure takes no capacity blocks here"),
        ({"region": "us-west-2"}, "capacity.blocks[0].region: unknown aws region under clouds.aws.regions 'us-west-2'"),
        ({"sku": "p6e-gb200.36xlarge"}, "capacity.blocks[0].sku: 'p6e-gb200.36xlarge' comes in UltraServers, "
         "bought whole: name one (u-p6e-gb200x36 (9 instances), u-p6e-gb200x72 (18 instances))"),
        ({"sku": "u-p6e-gb200x73"}, "capacity.blocks[0].sku: unknown aws instance type or UltraServer "
         "'u-p6e-gb200x73' (did you mean 'u-p6e-gb200x72'?)"),
        ({"zone": "eu-west-1a"}, "capacity.blocks[0].zone: 'eu-west-1a' is not a zone of us-east-1"),
        ({"id": "cb-123"}, "capacity.blocks[0].id: 'cb-123' is not an EC2 capacity block (cr-...); "
         "allowed: cr-[0-9a-f]{8,17}"),
        ({"end": "2027-01-03"}, "capacity.blocks[0].end: 2027-01-03 is before start 2027-01-04"),
        ({"start": "2027/01/04"}, "capacity.blocks[0].start: '2027/01/04' must be a day written YYYY-MM-DD"),
        ({"units": 0}, "capacity.blocks[0].units:"),
        ({"upfront_usd": -1}, "capacity.blocks[0].upfront_usd:"),
        ({"sku": "p5.48xlarge"}, "capacity.blocks[0]: no pool can use it: a pool with capacity: reserved "
         "and accelerator H100 draws on it"),
    ],
)
def test_bad_blocks_are_refused_naming_field_value_and_what_is_allowed(change: dict[str, Any], expected: str) -> None:
    found = _refused(change)
    assert any(problem.startswith(expected) for problem in found), found


def test_local_zone_names_are_zones_of_their_region() -> None:
    fleet = example()
    fleet["capacity"]["blocks"][0]["zone"] = "us-east-1-dfw-2a"  # P6e-GB200's Dallas Local Zone
    assert load_fleet(fleet).capacity.blocks[0].zone == "us-east-1-dfw-2a"


@pytest.mark.parametrize(("gpus", "refused"), [(160, True), (144, False), (36, False), (180, False)])
def test_a_gb200_pool_fills_whole_racks_on_aws(gpus: int, refused: bool) -> None:
    """40 GB200 nodes (160 GPUs) are no whole number of 9-instance UltraServers."""
    fleet = copy.deepcopy(example())
    fleet["pools"][0]["gpus"] = gpus
    if not refused:
        load_fleet(fleet)
        return
    with pytest.raises(SpecError) as caught:
        load_fleet(fleet)
    assert [str(p) for p in caught.value.problems] == [
        "pools[0].gpus: 160 GPUs are 40 p6e-gb200.36xlarge nodes, not whole racks: u-p6e-gb200x36 holds "
        "9 instances (36 GPUs), u-p6e-gb200x72 holds 18 instances (72 GPUs); use a multiple of 36 GPUs, "
        "e.g. 144 or 180"]


def test_a_period_uses_only_the_blocks_that_run_through_it() -> None:
    [block] = load_fleet(example()).capacity.blocks  # 2027-01-04 to 2027-04-03
    january, february, march, april = (month_index(f"2027-0{m}") for m in (1, 2, 3, 4))
    assert running_through([block], january, 1) == ()  # starts on the 4th
    assert running_through([block], february, 1) == (block,)
    assert running_through([block], february, 2) == (block,)
    assert running_through([block], march, 2) == ()  # ends on April 3rd
    assert running_through([block], april, 1) == ()


def test_over_a_horizon_a_block_supplies_only_the_periods_it_runs_through() -> None:
    """February and March run on the block; April, after its end, has no GB200 supply and
    says so for that period (the racks stop there unless another offer is priced)."""
    fleet = example()
    fleet["horizon"] = {"start": "2027-02", "months": 2}
    plan = build_plan(load_fleet(fleet), "test", period="2027-02")
    assert [p.pools[0].placements[0].nodes for p in plan.schedule] == [36, 36]
    fleet["horizon"] = {"start": "2027-02", "months": 3}
    with pytest.raises(InfeasibleError) as caught:
        build_plan(load_fleet(fleet), "test", period="2027-02")
    assert str(caught.value).startswith("period 2027-04: pool train needs 144 GB200 (reserved)")
