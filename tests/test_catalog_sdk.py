"""The catalog's AWS instance facts agree with botocore's EC2 model, where the model has them.

botocore's `ec2` service model names instance types (the `InstanceType` enum), accelerators
(`AcceleratorName`) and architectures (`ArchitectureType`); it carries no per-type specs
(those come from DescribeInstanceTypes at run time), so names are what can be compared. CI does
not install botocore: each test skips cleanly without it (tests/test_limits_sdk.py).
"""

from __future__ import annotations

import pytest

from gpufleet.clouds.catalog import load_catalog
from tests.test_limits_sdk import botocore_model

CATALOG = load_catalog()
AWS_SKUS = sorted(s.instance_type for s in CATALOG.skus.values() if s.cloud == "aws")


def _enum(shape: str) -> set[str]:
    return set(botocore_model("ec2")["shapes"][shape]["enum"])


@pytest.mark.parametrize("instance_type", AWS_SKUS)
def test_every_aws_sku_is_an_ec2_instance_type(instance_type: str) -> None:
    assert instance_type in _enum("InstanceType")


def test_unlisted_aws_names_are_not_in_the_ec2_model_yet() -> None:
    """p6e-gb300.36xlarge stays out of the catalog until the EC2 model names it: when a botocore
    update adds it, this fails and the row can be sourced and added."""
    unlisted = {name for cloud, name in CATALOG.unlisted if cloud == "aws"}
    assert unlisted
    assert not unlisted & _enum("InstanceType")


def test_accelerator_names_the_ec2_model_knows_are_spelled_alike() -> None:
    """The model's AcceleratorName values are lower-case names (trainium2, inferentia2, h100);
    each of ours it knows must be that name, and the Neuron ones must all be known."""
    known = _enum("AcceleratorName")
    ours = {s.accelerator for s in CATALOG.skus.values() if s.cloud == "aws"}
    assert {a for a in ours if a.lower() in known} >= {"Trainium", "Trainium2", "Inferentia2", "H100", "A100"}
    assert all(a.lower() in known for a in ours if CATALOG.families[a] == "neuron")


def test_every_architecture_is_an_ec2_architecture() -> None:
    assert {s.arch for s in CATALOG.skus.values()} <= _enum("ArchitectureType")


def test_ultraservers_are_capacity_block_offerings_in_the_model() -> None:
    """UltraServers are bought as Capacity Blocks (DescribeCapacityBlockOfferings takes an
    UltraserverType and UltraserverCount), the purchase the catalog marks `capacity-block`."""
    request = botocore_model("ec2")["shapes"]["DescribeCapacityBlockOfferingsRequest"]["members"]
    assert {"UltraserverType", "UltraserverCount"} <= set(request)
    rack_skus = [s for s in CATALOG.skus.values() if s.cloud == "aws" and s.racks]
    assert rack_skus
    assert all(s.capacity_block_only for s in rack_skus)
