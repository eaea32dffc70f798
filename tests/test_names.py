"""Issue 26, names: every physical name a plan records is within its cloud's rules, as the
provider will send it (given, or made from the logical name), for every type the program
declares on both clouds and in the clusters; names that would overflow are shortened by a
stable hash, and names that fit never change."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.aws.decisions import AUTONAMED_MAX, bounded
from gpufleet.catalog.limits import name_kinds, name_problem
from gpufleet.catalog.names import AUTONAME_SUFFIXES, autonamed, known_types, logical_room, name_inputs
from gpufleet.policy import stack_of
from gpufleet.policy.readiness import readiness_findings
from gpufleet.preview import RecordedResource, Recording, record_program
from tests.conftest import fleet_of, planned_stack

EXAMPLES = Path(__file__).parent.parent / "examples"
ALLOWLIST = {"mode": "allowlist", "cidrs": ["52.1.0.0/16"]}


STACKS = ("dev", "prod-eu")


def _samples() -> dict[str, dict[str, Any]]:
    """Every sample stack and example spec."""
    found = {stack: fleet_of(stack) for stack in STACKS}
    for path in sorted(EXAMPLES.glob("*.yaml")):
        found[path.stem] = yaml.safe_load(path.read_text())
    return found


def _linked(fleet: dict[str, Any]) -> dict[str, Any]:
    """The fleet with `interconnect: vpn` and an allowlist (more types: the link's)."""
    changed = copy.deepcopy(fleet)
    changed.setdefault("network", {})["interconnect"] = "vpn"
    changed["access"] = ALLOWLIST
    return changed


@cache
def _recorded(sample: str, linked: bool, stage_two: bool = True) -> Recording:
    if sample in STACKS and not linked:
        return planned_stack(sample, stage_two).recording
    fleet = _samples()[sample]
    config: dict[str, Any] = {"gpufleet:fleet": _linked(fleet) if linked else fleet}
    config["gpufleet:clusterSoftware"] = "true" if stage_two else "false"
    return record_program(sample, config)


def _findings(recording: Recording) -> list[tuple[str, str]]:
    return readiness_findings(stack_of(recording.resources))


def _physical(resource: RecordedResource) -> set[str]:
    """Every physical name of a recorded resource, as its provider will send it."""
    names: set[str] = set()
    for row in name_inputs(resource.type) or ():
        head = row.segments[0].removesuffix("[]")
        made = None if head in resource.inputs else autonamed(row.autoname, resource.name)
        value: Any = made if made is not None else resource.inputs.get(head)
        if isinstance(value, str):
            names.add(value)
    return names


SAMPLES = sorted(_samples())


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_recorded_type_has_a_name_rule_or_says_it_has_no_name(sample: str) -> None:
    recording = _recorded(sample, linked=True)
    declared = {r.type for r in recording.resources if r.custom and not r.is_provider}
    assert declared - known_types() == set()
    for token in declared:
        for row in name_inputs(token) or ():
            assert row.kind in name_kinds(), row  # a named kind of name_rules.csv


@pytest.mark.parametrize("sample", SAMPLES)
def test_samples_at_stage_two_with_the_link_and_an_allowlist_record_only_valid_names(sample: str) -> None:
    assert _findings(_recorded(sample, linked=True)) == []


def test_stage_one_names_are_stage_two_names_and_valid() -> None:
    first = _recorded("prod-eu", linked=False, stage_two=False)
    second = _recorded("prod-eu", linked=True)
    assert _findings(first) == []
    assert {r.urn for r in first.resources} <= {r.urn for r in second.resources}


def test_the_prod_eu_sync_role_fits_iam_once_named_by_pulumi() -> None:
    """The issue's example: the role's logical name (59 characters) plus Pulumi's '-' and 7
    random characters was 67, over IAM's 64."""
    roles = _recorded("prod-eu", linked=True).by_type("aws:iam/role:Role")
    for role in roles:
        (physical,) = _physical(role)
        assert len(physical) <= 64, physical
    readers = [r for r in roles if "sync-read" in r.name]
    assert readers
    assert all(len(r.name) <= AUTONAMED_MAX for r in readers)


# The longest names a spec allows (24 characters) in the longest region names with prices.
LONGEST = "a" * 10 + "-" + "b" * 13


def _longest_fleet() -> dict[str, Any]:
    return {
        "name": LONGEST,
        "network": {"supernet": "10.64.0.0/10", "interconnect": "vpn"},
        "clouds": {"aws": {"regions": ["ap-southeast-2"]}, "azure": {"regions": ["germanywestcentral"]}},
        "prices": {"azure/germanywestcentral/Standard_NC4as_T4_v3": 0.6},
        "pools": [{"name": "p" * 24, "accelerator": "T4", "gpus": 2, "gpus_per_node": 1,
                   "min_share": {"aws": 0.5, "azure": 0.5}, "autoscale": {"min_nodes": 0}}],
        "storage": [{"name": "s" * 24, "size_tib": 1, "colocate_with": ["p" * 24],
                     "home": "aws/ap-southeast-2"}],
    }


def test_the_longest_names_a_spec_allows_record_only_valid_names() -> None:
    recording = record_program(
        "a-very-long-stack-name-for-a-test", {"gpufleet:fleet": _longest_fleet(), "gpufleet:clusterSoftware": "true"}
    )
    assert {r.type for r in recording.resources} >= {"aws:iam/role:Role", "kubernetes:batch/v1:CronJob"}
    assert _findings(recording) == []


def test_shortening_keeps_a_name_that_fits_and_shortens_the_rest_stably() -> None:
    fits = "x" * AUTONAMED_MAX
    assert bounded(fits, AUTONAMED_MAX) == fits
    long = fits + "-sync-read-azure-germanywestcentral"
    short = bounded(long, AUTONAMED_MAX)
    assert len(short) <= AUTONAMED_MAX
    assert short == bounded(long, AUTONAMED_MAX)
    assert bounded(long + "x", AUTONAMED_MAX) != short  # the hash keeps two long names apart
    assert AUTONAMED_MAX == 64 - len(AUTONAME_SUFFIXES["aws"]) == logical_room("iam_role", "aws")


def _resource(token: str, logical: str, **inputs: Any) -> RecordedResource:
    return RecordedResource(
        urn=f"urn:pulumi:t::p::{token}::{logical}", type=token, name=logical, parent="", provider="",
        custom=True, protect=False, retain_on_delete=False, ignore_changes=(), inputs=inputs,
    )


@pytest.mark.parametrize(("resource", "message"), [
    (_resource("aws:iam/role:Role", "r" * 57), "IAM role name"),
    (_resource("aws:iam/rolePolicy:RolePolicy", "p", name="bad name"), "IAM policy name"),
    (_resource("aws:kms/alias:Alias", "key"), "must begin with alias/"),
    (_resource("aws:ec2/securityGroup:SecurityGroup", "g", name="sg-mine"), "not start with sg-"),
    (_resource("azure-native:managedidentity:UserAssignedIdentity", "i" * 121), "managed identity name"),
    (_resource("azure-native:network:VirtualNetworkGateway", "g", virtualNetworkGatewayName="gw-"), "VPN gateway"),
    (_resource("azure-native:network:PublicIPAddress", "ip", publicIpAddressName="p" * 81), "public IP"),
    (_resource("kubernetes:batch/v1:CronJob", "job", metadata={"name": "c" * 53}), "CronJob name"),
    (_resource("kubernetes:helm.sh/v3:Release", "r", name="h" * 54), "Helm release name"),
    (_resource("kubernetes:core/v1:Namespace", "n" * 56), "DNS-1123 label"),
    (_resource("aws:eks/nodeGroup:NodeGroup", "g", nodeGroupName="ng", labels={"gpufleet.io/pool": "x" * 64}),
     "label value"),
])
def test_readiness_refuses_a_name_the_cloud_or_the_cluster_would_refuse(resource: RecordedResource, message: str) -> None:
    found = _findings(Recording(stack="t", resources=[resource]))
    assert len(found) == 1, found
    assert message in found[0][1]


@pytest.mark.parametrize(("kind", "name"), [
    ("iam_role", "r" * 64), ("k8s_cronjob", "c" * 52), ("helm_release", "h" * 53), ("k8s_dns_label", "n" * 63),
    ("azure_vpn_gateway", "v" * 80), ("azure_vnet", "v" * 64), ("kms_alias", "alias/gpufleet"),
])
def test_names_at_the_limit_pass(kind: str, name: str) -> None:
    assert name_problem(kind, name) is None
    assert name_problem(kind, name + "x") is not None or kind == "kms_alias"
