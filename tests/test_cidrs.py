"""Address guards by arithmetic (gpufleet.cidrs, issue 31): a set of ranges is judged by what it
covers, in the spec, in every policy that judges a CIDR, and through `check --resources`. Each
walk-around of the string comparison these replaced is a case here."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet import cidrs
from gpufleet.cli import main
from gpufleet.errors import SpecError
from gpufleet.policy.security import security_problems
from gpufleet.spec import load_fleet
from tests.conftest import fleet_of

HALVES = ["0.0.0.0/1", "128.0.0.0/1"]
SG = "aws:ec2/securityGroup:SecurityGroup"
NSG = "azure-native:network:NetworkSecurityGroup"
EKS = "aws:eks/cluster:Cluster"
AKS = "azure-native:containerservice:ManagedCluster"


def _net(text: str) -> cidrs.Range:
    return ipaddress.ip_network(text)


# -- the arithmetic ----------------------------------------------------------------------------


def test_the_public_internet_is_everything_but_the_special_blocks() -> None:
    # IPv4: 2^32 less the IANA special-purpose blocks (counted once where they nest)
    assert cidrs.PUBLIC_TOTAL[4] == 3_702_258_432
    assert cidrs.public_addresses([_net("0.0.0.0/0")])[4] == cidrs.PUBLIC_TOTAL[4]
    # overlapping and adjacent ranges count once
    assert cidrs.public_addresses([_net("8.8.0.0/16"), _net("8.8.8.0/24"), _net("8.9.0.0/16")])[4] == 2 * 65536
    assert cidrs.public_addresses([_net("10.0.0.0/8"), _net("fd00::/8")]) == {4: 0, 6: 0}


@pytest.mark.parametrize("ranges", [
    ["0.0.0.0/0"], HALVES, ["0.0.0.0/1"], ["128.0.0.0/1"], ["0::/0"], ["::/0"], ["::/1", "8000::/1"],
    ["2000::/3"], [f"{n}.0.0.0/8" for n in range(1, 224)], ["1.0.0.0/8", "2.0.0.0/8"], ["2a00::/16"],
])
def test_a_set_wider_than_a_slash_8_or_a_slash_32_reaches_the_internet(ranges: list[str]) -> None:
    assert cidrs.opening(ranges) is not None


@pytest.mark.parametrize("ranges", [
    ["52.1.0.0/16"], ["3.0.0.0/8"], ["2a00:1450::/32"], ["10.0.0.0/8", "172.16.0.0/12"], ["not-a-cidr"], [],
])
def test_named_networks_do_not(ranges: list[str]) -> None:
    assert cidrs.opening(ranges) is None


@pytest.mark.parametrize(("cidr", "words"), [
    ("10.0.0.0/8", "private-use"), ("127.0.0.0/8", "loopback"), ("169.254.0.0/16", "link-local"),
    ("224.0.0.0/4", "multicast"), ("240.0.0.0/4", "reserved"), ("100.64.0.0/10", "shared address space"),
    ("192.0.2.0/24", "documentation"), ("0.0.0.0/8", "'this network'"), ("fe80::/10", "link-local"),
    ("ff02::/16", "multicast"), ("fd00::/8", "unique-local"), ("2001:db8::/32", "documentation"),
    ("4000::/2", "reserved by the IETF"),
])
def test_each_special_block_is_named_with_its_source(cidr: str, words: str) -> None:
    text = cidrs.outside_public(_net(cidr))
    assert text is not None
    assert words in text
    assert "RFC" in text


def test_a_range_that_reaches_into_special_space_names_what_it_reaches() -> None:
    text = cidrs.outside_public(_net("96.0.0.0/4"))
    assert text == "96.0.0.0/4 reaches 100.64.0.0/10 (shared address space (carrier-grade NAT), RFC 6598)"
    assert cidrs.outside_public(_net("52.1.0.0/16")) is None


@pytest.mark.parametrize(("cidr", "words"), [
    ("127.0.0.0/8", "loopback"), ("0.0.0.0/8", "'this network'"), ("8.8.0.0/16", "public address space"),
    ("10.0.0.0/7", "beyond its private-use block"), ("100.64.0.0/10", "shared address space"),
])
def test_a_private_block_lies_inside_rfc_1918(cidr: str, words: str) -> None:
    text = cidrs.private_block_problem(ipaddress.IPv4Network(cidr))
    assert text is not None
    assert words in text
    assert "allowed: a block inside 10.0.0.0/8" in text
    assert cidrs.private_block_problem(ipaddress.IPv4Network("172.20.0.0/14")) is None


def test_a_message_names_a_few_ranges_and_counts_the_rest() -> None:
    many = [f"{n}.0.0.0/8" for n in range(1, 224)]
    opened = cidrs.opening(many)
    assert opened is not None
    assert opened.ranges.endswith("and 220 more")
    assert len(" ".join(cidrs.allowlist_problems(many))) < 1000


# -- the spec ----------------------------------------------------------------------------------


def _problems(**changes: Any) -> str:
    try:
        load_fleet({**fleet_of("dev"), **changes})
    except SpecError as error:
        return str(error)
    return ""


@pytest.mark.parametrize(("cidrs_", "expected"), [
    (HALVES, "access.cidrs[0]: 0.0.0.0/1 covers at least a /2's worth of public IPv4 addresses"),
    (["0.0.0.0/1"], "access.cidrs[0]: 0.0.0.0/1 covers"),
    (["52.0.0.0/9", "52.128.0.0/9", "53.0.0.0/9"], "access.cidrs: the list covers at least a /8's worth"),
    (["10.0.0.0/8"], "access.cidrs[0]: not a public range: 10.0.0.0/8 is private-use"),
    (["224.0.0.0/4"], "access.cidrs[0]: not a public range: 224.0.0.0/4 is multicast"),
])
def test_an_allowlist_that_reaches_the_internet_or_private_space_is_refused(
    cidrs_: list[str], expected: str
) -> None:
    assert expected in _problems(access={"mode": "allowlist", "cidrs": cidrs_})


def test_an_allowlist_of_named_public_networks_is_accepted() -> None:
    assert _problems(access={"mode": "allowlist", "cidrs": ["52.1.0.0/16", "3.0.0.0/9"]}) == ""


@pytest.mark.parametrize(("network", "expected"), [
    ({"supernet": "127.0.0.0/8"}, "network.supernet: 127.0.0.0/8 is loopback"),
    ({"supernet": "0.0.0.0/8"}, "network.supernet: 0.0.0.0/8 is 'this network'"),
    ({"supernet": "10.64.0.0/10", "overrides": {"aws/us-east-1": "8.8.0.0/16"}},
     "network.overrides.aws/us-east-1: 8.8.0.0/16 is public address space"),
    ({"supernet": "10.64.0.0/10", "overrides": {"azure/eastus": "224.0.0.0/16"}},
     "network.overrides.azure/eastus: 224.0.0.0/16 is multicast"),
])
def test_the_fleets_networks_come_from_private_use_space(network: dict[str, Any], expected: str) -> None:
    assert expected in _problems(network=network)


def test_the_cli_refuses_the_halves_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "Pulumi.t.yaml"
    fleet = {**fleet_of("dev"), "access": {"mode": "allowlist", "cidrs": HALVES}}
    spec.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": fleet}}))
    assert main(["plan", "--spec", str(spec)]) == 2
    assert "access.cidrs[0]" in capsys.readouterr().err


# -- the policies ------------------------------------------------------------------------------


def _ingress(**rule: Any) -> dict[str, Any]:
    return {"ingress": [{"fromPort": 22, "toPort": 22, "protocol": "tcp", **rule}]}


@pytest.mark.parametrize("props", [
    _ingress(cidrBlocks=HALVES),
    _ingress(cidrBlocks=["0.0.0.0/1"]),
    _ingress(ipv6CidrBlocks=["0::/0"]),
    _ingress(ipv6CidrBlocks=["::/1", "8000::/1"]),
    {"ingress": [{"fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/1"]},
                 {"fromPort": 22, "toPort": 22, "cidrBlocks": ["128.0.0.0/1"]}]},
    {"ingress": [{"fromPort": 22, "toPort": 22, "cidrBlocks": [f"{n}.0.0.0/9" for n in range(1, 100)]},
                 {"fromPort": 22, "toPort": 22, "cidrBlocks": [f"{n}.128.0.0/9" for n in range(1, 100)]}]},
])
def test_a_security_group_open_to_the_internet_by_any_spelling_fails(props: dict[str, Any]) -> None:
    problems = security_problems(SG, props)
    assert problems
    assert "EC2.18/EC2.19" in problems[0], problems


def test_many_small_rules_that_open_the_internet_only_together_fail() -> None:
    rules = [{"fromPort": 22, "toPort": 22, "cidrBlocks": [f"{n}.0.0.0/9", f"{n}.128.0.0/9"]} for n in range(1, 224)]
    assert security_problems(SG, {"ingress": rules[:1]}) == []
    (problem,) = security_problems(SG, {"ingress": rules})
    assert problem.startswith("ingress[] together allows ingress from")
    assert "covers the whole public IPv4 internet" in problem


@pytest.mark.parametrize(("kind", "props"), [
    ("aws:ec2/securityGroupRule:SecurityGroupRule", {"type": "ingress", "cidrBlocks": HALVES}),
    ("aws:ec2/securityGroupRule:SecurityGroupRule", {"type": "ingress", "ipv6CidrBlocks": ["0::/0"]}),
    ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", {"cidrIpv4": "0.0.0.0/1"}),
    ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", {"cidrIpv6": "0::/0"}),
])
def test_each_security_group_rule_type_is_judged_the_same(kind: str, props: dict[str, Any]) -> None:
    assert security_problems(kind, props)


def test_a_security_group_from_named_networks_passes() -> None:
    assert security_problems(SG, _ingress(cidrBlocks=["10.0.0.0/8", "52.1.0.0/16"])) == []


def _nsg_rule(**rule: Any) -> dict[str, Any]:
    return {"direction": "Inbound", "access": "Allow", "name": "ssh", "destinationPortRange": "22", **rule}


@pytest.mark.parametrize("rules", [
    [_nsg_rule(sourceAddressPrefixes=HALVES)],
    [_nsg_rule(sourceAddressPrefix="0::/0")],
    [_nsg_rule(sourceAddressPrefix="0.0.0.0/1")],
    [_nsg_rule(sourceAddressPrefix="0.0.0.0/1"), _nsg_rule(sourceAddressPrefix="128.0.0.0/1")],
    [_nsg_rule(sourceAddressPrefix="Internet")],
])
def test_an_nsg_open_to_the_internet_by_any_spelling_fails(rules: list[dict[str, Any]]) -> None:
    problems = security_problems(NSG, {"securityRules": rules})
    assert problems
    assert "allows inbound traffic from" in problems[0], problems


def test_an_nsg_deny_rule_or_a_named_network_passes() -> None:
    rules = [{**_nsg_rule(sourceAddressPrefix="0.0.0.0/0"), "access": "Deny"},
             _nsg_rule(sourceAddressPrefix="VirtualNetwork"), _nsg_rule(sourceAddressPrefix="52.1.0.0/16")]
    assert security_problems(NSG, {"securityRules": rules}) == []


def _eks(public: list[str]) -> dict[str, Any]:
    return {
        "vpcConfig": {"endpointPublicAccess": True, "endpointPrivateAccess": True, "publicAccessCidrs": public},
        "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "k"}},
        "enabledClusterLogTypes": ["api", "audit", "authenticator"],
    }


def _aks(ranges: list[str]) -> dict[str, Any]:
    return {
        "apiServerAccessProfile": {"enablePrivateCluster": False, "authorizedIPRanges": ranges},
        "disableLocalAccounts": True, "aadProfile": {"enableAzureRBAC": True},
        "networkProfile": {"networkPolicy": "azure"},
    }


@pytest.mark.parametrize(("ranges", "words"), [
    (HALVES, "includes 0.0.0.0/1, 128.0.0.0/1: the list covers the whole public IPv4 internet"),
    (["0.0.0.0/1"], "covers at least a /2's worth"),
    (["10.0.0.0/8"], "includes ranges that are not public: 10.0.0.0/8 is private-use"),
    (["0::/0"], "covers the whole public IPv6 internet"),
    (["52.1.0.0/16", "lots"], "includes 'lots', not a CIDR"),
])
def test_api_server_allowlists_are_judged_by_what_they_cover(ranges: list[str], words: str) -> None:
    eks = security_problems(EKS, _eks(ranges))
    aks = security_problems(AKS, _aks(ranges))
    assert any(words in p and p.startswith("vpcConfig.publicAccessCidrs ") for p in eks), eks
    assert any(words in p and p.startswith("apiServerAccessProfile.authorizedIPRanges ") for p in aks), aks


def test_api_server_allowlists_of_named_public_networks_pass() -> None:
    assert security_problems(EKS, _eks(["52.1.0.0/16"])) == []
    assert security_problems(AKS, _aks(["52.1.0.0/16"])) == []


def test_check_resources_judges_the_halves_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resources = tmp_path / "resources.json"
    resources.write_text(json.dumps([
        {"type": SG, "name": "ssh", "region": "us-east-1", "inputs": _ingress(cidrBlocks=HALVES)},
    ]))
    spec = tmp_path / "Pulumi.t.yaml"
    spec.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": fleet_of("dev")}}))
    assert main(["check", "--resources", str(resources), "--spec", str(spec), "--format", "json"]) == 1
    assert "ingress[0] allows ingress from 0.0.0.0/1, 128.0.0.0/1" in capsys.readouterr().out


# -- edges a user or an attacker would meet (issue 32) -----------------------------------------


def test_an_ipv6_documentation_or_unique_local_source_is_never_public() -> None:
    """IPv6 is judged against the IPv6 blocks, not the IPv4 ones (which it never overlaps)."""
    assert cidrs.outside_public(_net("2001:db8:1::/48")) == \
        "2001:db8:1::/48 is documentation (2001:db8::/32, RFC 3849)"
    assert cidrs.not_public(_net("fd00::/8")) == ["fc00::/7 (unique-local, RFC 4193)"]
    assert cidrs.not_public(_net("4000::/3")) == ["reserved by the IETF (outside 2000::/3, global unicast; RFC 4291)"]
    assert cidrs.outside_public(_net("2a00:1450::/32")) is None


def test_a_wide_ipv6_list_names_its_prefix() -> None:
    assert cidrs.reach([_net("2400::/12")]) == (
        "covers at least a /12's worth of public IPv6 addresses; the networks of runners and operators "
        "reach at most a /8 of IPv4 or a /32 of IPv6")
    assert cidrs.reach([_net("2400::/32")]) is None  # one registry member's allocation: at the edge


def test_the_widest_sources_are_named_first_and_the_rest_counted_from_the_fourth() -> None:
    three = ["1.0.0.0/24", "64.0.0.0/2", "128.0.0.0/3"]
    assert cidrs.opening(three) == cidrs.Opening(
        "64.0.0.0/2, 128.0.0.0/3, 1.0.0.0/24",
        "covers at least a /2's worth of public IPv4 addresses; the networks of runners and operators "
        "reach at most a /8 of IPv4 or a /32 of IPv6")
    four = cidrs.opening([*three, "2.0.0.0/24"])
    assert four is not None
    assert four.ranges == "64.0.0.0/2, 128.0.0.0/3, 1.0.0.0/24 and 1 more"


def test_ranges_that_are_not_public_are_named_three_at_a_time_and_counted() -> None:
    three = ["10.0.0.0/8", "127.0.0.0/8", "192.0.2.0/24"]
    named = ("10.0.0.0/8 is private-use (10.0.0.0/8, RFC 1918); 127.0.0.0/8 is loopback (127.0.0.0/8, RFC 1122); "
             "192.0.2.0/24 is documentation (TEST-NET-1) (192.0.2.0/24, RFC 5737)")
    assert cidrs.allowlist_problems(three) == [f"includes ranges that are not public: {named}"]
    assert cidrs.allowlist_problems([*three, "169.254.0.0/16", "0.0.0.0/8"]) == [
        f"includes ranges that are not public: {named}; and 2 more"]


def test_a_cidr_is_text_of_at_most_64_characters_with_host_bits_allowed() -> None:
    assert cidrs.parse("10.1.2.3/24") == ipaddress.IPv4Network("10.1.2.0/24")  # as the clouds read it
    assert cidrs.parse(" 52.1.0.0/16".ljust(64)) == ipaddress.IPv4Network("52.1.0.0/16")
    assert cidrs.parse(" 52.1.0.0/16".ljust(65)) is None  # bounded before parsing
    assert [cidrs.parse(v) for v in (None, 12, ["52.1.0.0/16"])] == [None, None, None]
    assert cidrs.allowlist_problems([12, "x" * 50]) == [f"includes 12, {('x' * 50)!r:.40}, not a CIDR"]


def test_a_fleet_block_reaching_special_or_public_space_says_which() -> None:
    allowed = "allowed: a block inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918)"
    assert cidrs.private_block_problem(ipaddress.IPv4Network("100.0.0.0/8")) == (
        f"100.0.0.0/8 reaches 100.64.0.0/10 (shared address space (carrier-grade NAT), RFC 6598); {allowed}")
    assert cidrs.private_block_problem(ipaddress.IPv4Network("10.0.0.0/7")) == (
        f"10.0.0.0/7 reaches public address space beyond its private-use block; {allowed}")
    assert cidrs.private_block_problem(ipaddress.IPv4Network("8.8.0.0/16")) == f"8.8.0.0/16 is public address space; {allowed}"
