"""Capabilities a cloud declares (CloudModel.capabilities), read by the spec and placement: a pool
asking for what no configured cloud offers exits 2 naming the clouds that offer it; with several
clouds the pool goes only to those that can hold it (docs/design.md, "Capabilities")."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.mgmt.containerservice.models import GPUInstanceProfile

from gpufleet import clouds
from gpufleet.cli import main
from gpufleet.errors import SpecError
from gpufleet.spec import load_fleet
from gpufleet.specmodel import Mig
from tests.test_placement import fleet, h100, solve, where


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_fleet(data)
    return [str(p) for p in caught.value.problems]


def test_mig_on_an_aws_only_fleet_exits_2_naming_the_clouds_that_offer_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = fleet([h100(mig="MIG1g")], clouds={"aws": {"regions": ["us-east-1"]}})
    path = tmp_path / "mig.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["plan", "--spec", str(path), "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert "pools[0].mig: mig is not offered on AWS; clouds that offer it: Azure" in err
    assert "EKS node groups have no MIG setting" in err
    assert "Traceback" not in err


def test_with_both_clouds_a_mig_pool_goes_only_to_the_clouds_that_offer_mig() -> None:
    # AWS is cheaper for H100 in these prices; without MIG the pool would go there
    _, plain = solve(fleet([h100()]))
    assert set(where(plain)) == {"train/aws/us-east-1"}
    _, result = solve(fleet([h100(mig="MIG3g")]))
    assert where(result) == {"train/azure/eastus": 2}


def test_a_share_or_pin_on_a_cloud_that_cannot_hold_the_pool_is_refused() -> None:
    found = problems(fleet([h100(mig="MIG1g", min_share={"aws": 0.5}, pin={"aws/us-east-1": 1})]))
    assert "pools[0].min_share.aws: AWS cannot hold this pool: it lacks mig; clouds that can: azure" in found
    assert "pools[0].pin.aws/us-east-1: AWS cannot hold this pool: it lacks mig; clouds that can: azure" in found


def test_reserved_capacity_goes_only_to_the_cloud_that_takes_reservations() -> None:
    reserved = h100(capacity="reserved", capacity_reservation_id="cr-0123456789abcdef0")
    _, result = solve(fleet([reserved], prices={"azure/eastus/Standard_ND96isr_H100_v5": 1.0}))
    assert set(where(result)) == {"train/aws/us-east-1"}  # Azure is far cheaper, but takes none
    [message] = problems(fleet([reserved], clouds={"azure": {"regions": ["eastus"]}}))
    assert message.startswith("pools[0].capacity: capacity: reserved is not offered on Azure; clouds that offer it: AWS")
    assert "Azure: a reservation is a billing discount on regular VMs" in message


def test_a_reservation_id_is_checked_against_the_clouds_that_take_one() -> None:
    [message] = problems(fleet([h100(capacity="reserved", capacity_reservation_id="res-123")]))
    assert message == (
        "pools[0].capacity_reservation_id: 'res-123' is not a capacity reservation id; "
        "allowed: AWS cr-[0-9a-f]{8,17}"
    )


def test_no_single_cloud_offering_all_a_pool_asks_is_refused() -> None:
    # reserved: AWS only; mig: Azure only
    pool = h100(capacity="reserved", capacity_reservation_id="cr-0123456789abcdef0", mig="MIG1g")
    assert problems(fleet([pool])) == [
        "pools[0].mig: no configured cloud offers capacity: reserved and mig together (aws, azure); drop one of them"
    ]


def test_arm64_skus_are_placed_only_on_clouds_with_arm64_gpu_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    aws = clouds.get("aws")
    data = fleet([{"name": "infer", "accelerator": "T4g", "gpus": 2, "gpus_per_node": 1}],
                 clouds={"aws": {"regions": ["us-east-1"]}})
    spec, result = solve(data)
    assert {p.instance_type for p in result.placements} <= {s.instance_type for s in spec.catalog().skus_for("T4g", "aws")}
    monkeypatch.setattr(aws, "capabilities", replace(aws.capabilities, arm64_gpu_nodes=False))
    [message] = problems(data)
    assert message == (  # each refused SKU with the reason (frontier: specskus.offer_refusal)
        "pools[0].accelerator: g5g.2xlarge on AWS, g5g.4xlarge on AWS, g5g.8xlarge on AWS, g5g.xlarge on AWS: "
        "AWS declares no arm64 GPU nodes"
    )


def test_the_shipped_clouds_declare_what_their_components_deploy() -> None:
    aws, azure = clouds.get("aws"), clouds.get("azure")
    assert (aws.link_role, azure.link_role) == ("endpoint", "gateway")
    assert aws.capabilities.mig_profiles == frozenset()
    # AKS takes exactly the ARM model's GPU instance profiles, and the spec allows no other
    assert azure.capabilities.mig_profiles == {p.value for p in GPUInstanceProfile}
    assert {p for model in clouds.models() for p in model.capabilities.mig_profiles} <= set(Mig.__args__)
    assert (aws.capabilities.rdma_fabric, azure.capabilities.rdma_fabric) == ("efa", "infiniband")
    assert {s.rdma_fabric for s in load_fleet(fleet([h100()])).catalog().skus.values() if s.rdma} == {"efa", "infiniband"}
    assert all("on-demand" in m.capabilities.capacity_types for m in clouds.models())
    assert (aws.capabilities.quota_unit, aws.capabilities.quota_scope) == ("vcpus", "region")


def test_zones_per_region() -> None:
    aws, azure = clouds.get("aws").capabilities, clouds.get("azure").capabilities
    assert aws.zones("us-east-1") == aws.zones("eu-north-1") == 3
    assert azure.zones("swedencentral") == 3
    assert azure.zones("francesouth") == 0  # no availability zones there
