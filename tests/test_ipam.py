"""Address plan: fixed slots, disjoint blocks, stability when regions come and go, and errors."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpufleet.catalog import Cloud
from gpufleet.clouds.catalog import load_catalog
from gpufleet.errors import SpecError
from gpufleet.ipam import allocate
from gpufleet.plan import NetworkPlan
from gpufleet.slots import SLOT_COUNT, slot_of, slotted_regions
from gpufleet.spec import FleetSpec, load_fleet

ALL_REGIONS: list[tuple[Cloud, str]] = sorted(
    (r.cloud, r.region) for r in load_catalog().regions.values()
)
# sha256 of the first 80 slots as introduced: reordering or inserting moves live networks.
FIRST_SLOTS_SHA256 = "38fb80f5bb0cd626e15ccc287ef02b5b46d29a3cb3a77e9ec2fbd4c6fed3bb64"


def spec(supernet: str = "10.64.0.0/10", **extra: Any) -> FleetSpec:
    return load_fleet({
        "name": "net",
        "network": {"supernet": supernet, **extra},
        "clouds": {"aws": {"regions": ["eu-north-1", "us-east-1"]},
                   "azure": {"regions": ["swedencentral"]}},
        "pools": [{"name": "serve", "accelerator": "L4", "gpus": 1}],
    })


def blocks(plans: tuple[NetworkPlan, ...]) -> list[ipaddress.IPv4Network]:
    """The routed blocks (VPCs, VNets); AKS overlay pod ranges are private to their cluster."""
    return [ipaddress.IPv4Network(p.cidr) for p in plans]


def pod_ranges(plans: tuple[NetworkPlan, ...]) -> list[ipaddress.IPv4Network]:
    return [ipaddress.IPv4Network(p.pod_cidr) for p in plans if p.pod_cidr]


def test_every_catalog_region_has_a_slot_and_slots_only_grow() -> None:
    slots = slotted_regions()
    assert len(set(slots)) == len(slots) <= SLOT_COUNT
    assert all(slot_of(cloud, region) is not None for cloud, region in ALL_REGIONS)
    digest = hashlib.sha256("\n".join(slots[:80]).encode()).hexdigest()
    assert digest == FIRST_SLOTS_SHA256, "REGION_SLOTS may only be appended to"


def test_blocks_by_hand() -> None:
    # /10 in 256 slots: /18 each (64 × 256 addresses). aws/eu-north-1 is slot 19:
    # 10.64.0.0 + 19 × 64 × 256 = 10.68.192.0. azure/swedencentral is slot 68: 10.81.0.0/18,
    # VNet the lower /19; the AKS overlay pod range is the reused /11 outside the supernet.
    plans = allocate(spec(), [("aws", "eu-north-1"), ("azure", "swedencentral")])
    assert plans == (
        NetworkPlan("aws", "eu-north-1", "10.68.192.0/18"),
        NetworkPlan("azure", "swedencentral", "10.81.0.0/19", "100.64.0.0/11"),
    )


def test_override_wins_and_must_not_overlap() -> None:
    plans = allocate(spec(overrides={"aws/us-east-1": "10.200.0.0/16"}), [("aws", "us-east-1")])
    assert plans == (NetworkPlan("aws", "us-east-1", "10.200.0.0/16"),)
    clash = spec(overrides={"aws/us-east-1": "10.68.0.0/16"})
    with pytest.raises(SpecError) as caught:
        allocate(clash, [("aws", "us-east-1"), ("aws", "eu-north-1")])
    assert str(caught.value.problems[0]) == (
        "network.overrides.aws/us-east-1: 10.68.0.0/16 overlaps aws/eu-north-1 "
        "(10.68.192.0/18); choose a disjoint block"
    )


def test_aws_override_must_be_a_valid_vpc_size() -> None:
    """The error names the override to change, as the user wrote its key."""
    with pytest.raises(SpecError) as caught:
        allocate(spec(overrides={"aws/us-east-1": "10.200.0.0/15"}), [("aws", "us-east-1")])
    assert [str(p) for p in caught.value.problems] == [
        "network.overrides.aws/us-east-1: aws/us-east-1 10.200.0.0/15 is a /15; an AWS VPC CIDR must be /16 to /28"]


def test_too_small_a_supernet_says_how_big_it_must_be() -> None:
    with pytest.raises(SpecError) as caught:
        allocate(spec("10.64.0.0/16"), [("aws", "us-east-1")])
    assert str(caught.value.problems[0]) == (
        "network.supernet: 10.64.0.0/16 is too small: 256 region slots of at least /20 need "
        "a /12 or larger (e.g. 10.64.0.0/12)"
    )


supernets = st.sampled_from(["10.0.0.0/8", "10.64.0.0/10", "172.16.0.0/12", "10.128.0.0/12"])
subsets = st.lists(st.sampled_from(ALL_REGIONS), unique=True, max_size=30)


@settings(max_examples=60, deadline=None)
@given(supernet=supernets, used=subsets, more=subsets)
def test_blocks_are_disjoint_inside_the_supernet_and_stable(
    supernet: str, used: list[tuple[Cloud, str]], more: list[tuple[Cloud, str]]
) -> None:
    fleet = spec(supernet)
    plans = allocate(fleet, used)
    nets = blocks(plans)
    assert all(net.subnet_of(fleet.network.supernet) for net in nets)
    assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    # Adding or removing other regions never changes a region's block.
    grown = allocate(fleet, used + [r for r in more if r not in used])
    bigger = {(p.cloud, p.region): p for p in grown}
    assert all(bigger[(p.cloud, p.region)] == p for p in plans)
    assert all(p.pod_cidr is not None for p in plans if p.cloud == "azure")
    # Pod ranges overlap neither the supernet nor any network.
    assert all(not pods.overlaps(net) for pods in pod_ranges(plans) for net in [fleet.network.supernet, *nets])
