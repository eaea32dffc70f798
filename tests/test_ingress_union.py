"""Ingress judged across a group's rules (issue 31): a security group or NSG whose rules, inline
and in rule resources of their own, together let the internet in on a port is refused by
security-baseline-coverage, though each rule alone passes; rules on different ports or of
different groups are not added up. The arithmetic is gpufleet.cidrs.exposures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet import cidrs
from gpufleet.cli import main
from gpufleet.policy import security
from tests.conftest import fleet_of
from tests.test_policies import messages, res, stack_args

SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
NSG = "azure-native:network:NetworkSecurityGroup"
NSG_RULE = "azure-native:network:SecurityRule"
# 223 public /8s, each within the /8 a rule may open alone; together the whole IPv4 internet
EIGHTS = [f"{n}.0.0.0/8" for n in range(1, 224)]
HALF = len(EIGHTS) // 2


def _coverage(*resources: Any) -> list[str]:
    return messages(security.validate_security_coverage, stack_args(list(resources)))


def _sg_rule(name: str, cidrs_: list[str], port: int = 22, group: str | None = "web-id", **extra: Any) -> Any:
    inputs = {"type": "ingress", "securityGroupId": group, "protocol": "tcp", "fromPort": port,
              "toPort": port, "cidrBlocks": cidrs_, **extra}
    return res(SG_RULE, inputs, name=name)


def _ingress_rules(name: str, cidrs_: list[str], port: int = 22, group: str = "web-id") -> list[Any]:
    """One aws.vpc.SecurityGroupIngressRule per CIDR (that type takes one each)."""
    return [res(INGRESS_RULE, {"securityGroupId": group, "ipProtocol": "tcp", "fromPort": port, "toPort": port,
                               "cidrIpv4": cidr}, name=f"{name}-{i}") for i, cidr in enumerate(cidrs_)]


def test_two_rule_resources_that_together_cover_the_internet_on_port_22_are_refused() -> None:
    web = res(SG, {}, name="web")
    a, b = _sg_rule("a", EIGHTS[:HALF]), _sg_rule("b", EIGHTS[HALF:])
    assert _coverage(web, a) == []  # half the internet on one port is already too much, but...
    found = _coverage(res(SG, {}, name="idle"), web, a, b)  # a group with no rules first: judged, passes
    assert len(found) == 1, found
    assert found[0].startswith(f"{SG} 'web', with its rule resources, allows ingress from ")
    assert found[0].endswith("; allowed: sources inside the VPC or specific security groups (EC2.18/EC2.19)")
    assert "(tcp port 22; by " in found[0]
    assert f"{SG_RULE} 'a', {SG_RULE} 'b'" in found[0]
    assert "covers the whole public IPv4 internet" in found[0]


def test_each_half_of_the_internet_in_its_own_rule_is_refused_as_the_whole() -> None:
    web = res(SG, {}, name="web")
    found = _coverage(web, *_ingress_rules("half", ["0.0.0.0/1", "128.0.0.0/1"]))
    assert len(found) == 1, found
    assert "0.0.0.0/1, 128.0.0.0/1 (tcp port 22; by " in found[0]
    assert "covers the whole public IPv4 internet" in found[0]


def test_quarters_across_inline_rules_and_rule_resources_are_added_up() -> None:
    quarters = ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"]
    inline = {"ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": [q]} for q in quarters[:2]]}
    web = res(SG, inline, name="web")
    found = _coverage(web, *_ingress_rules("q", quarters[2:], port=443))
    assert len(found) == 1, found
    assert "(tcp port 443; by " in found[0]
    assert f"{SG} 'web'" in found[0].split("; by ")[1]  # the inline rules count as the group's own
    assert "covers the whole public IPv4 internet" in found[0]


def test_overlapping_port_ranges_expose_only_the_port_both_open() -> None:
    web = res(SG, {}, name="web")
    low = _sg_rule("low", EIGHTS[:HALF], port=0, fromPort=8000, toPort=8080)
    high = _sg_rule("high", EIGHTS[HALF:], port=0, fromPort=8080, toPort=9000)
    (found,) = _coverage(web, low, high)
    assert "(tcp port 8080; by " in found
    assert "8079" not in found
    assert "8081" not in found


def test_ipv6_halves_in_two_rules_are_the_whole_ipv6_internet() -> None:
    """The halves of 2000::/3, all of IPv6's global unicast space (::/1 alone would already
    hold all of it: that is the rule's own finding, not a sum)."""
    web = res(SG, {}, name="web")
    rules = [res(INGRESS_RULE, {"securityGroupId": "web-id", "ipProtocol": "-1", "cidrIpv6": half}, name=f"v6-{i}")
             for i, half in enumerate(["2000::/4", "3000::/4"])]
    (found,) = _coverage(web, *rules)
    assert "2000::/4, 3000::/4 (ports 0-65535 of any protocol; by " in found
    assert "covers the whole public IPv6 internet" in found
    ipv4_and_ipv6 = [res(INGRESS_RULE, {"securityGroupId": "web-id", "ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"}),
                     res(INGRESS_RULE, {"securityGroupId": "web-id", "ipProtocol": "-1", "cidrIpv6": "::/0"}, name="v6")]
    assert _coverage(web, *ipv4_and_ipv6) == []  # each covers its own internet alone: each rule's own finding


def test_every_protocol_adds_to_a_tcp_port() -> None:
    web = res(SG, {}, name="web")
    tcp = _sg_rule("tcp", EIGHTS[:HALF])
    every = _sg_rule("all", EIGHTS[HALF:], protocol="-1", fromPort=0, toPort=0)
    (found,) = _coverage(web, tcp, every)
    assert "(tcp port 22; by " in found


@pytest.mark.parametrize(("case", "added_up"), [
    ("the same port", True), ("different ports", False), ("different protocols", False),
    ("different groups", False),
])
def test_rules_on_different_ports_protocols_or_groups_are_not_added_up(case: str, added_up: bool) -> None:
    """Two /8s, each what one rule may open; on one port of one group they are two /8s."""
    web, db = res(SG, {}, name="web"), res(SG, {}, name="db")
    second = {
        "the same port": _sg_rule("b", ["12.0.0.0/8"]),
        "different ports": _sg_rule("b", ["12.0.0.0/8"], port=23),
        "different protocols": _sg_rule("b", ["12.0.0.0/8"], protocol="udp"),
        "different groups": _sg_rule("b", ["12.0.0.0/8"], group="db-id"),
    }[case]
    first = _sg_rule("a", ["11.0.0.0/8"])
    assert [security.security_problems(SG_RULE, r.props) for r in (first, second)] == [[], []]
    found = _coverage(web, db, first, second)
    assert bool(found) == added_up, found
    if added_up:
        assert "covers at least a /7's worth of public IPv4 addresses" in found[0]


def test_a_group_declared_elsewhere_is_judged_by_the_id_its_rules_name() -> None:
    a, b = _sg_rule("a", EIGHTS[:HALF], group="sg-0abc"), _sg_rule("b", EIGHTS[HALF:], group="sg-0abc")
    (found,) = _coverage(a, b)
    assert found.startswith("group 'sg-0abc' (not in the stack), with its rule resources, allows ingress from")
    assert _coverage(a, _sg_rule("b", EIGHTS[HALF:], group="sg-0def")) == []


def test_rules_whose_group_cannot_be_read_are_judged_together() -> None:
    a, b = _sg_rule("a", EIGHTS[:HALF], group=None), _sg_rule("b", EIGHTS[HALF:], group=None)
    (found,) = _coverage(a, b)
    assert found.startswith("a group that cannot be read before deployment, with its rule resources,")


def test_egress_rules_and_private_sources_add_nothing() -> None:
    web = res(SG, {}, name="web")
    egress = _sg_rule("out", EIGHTS[HALF:], type="egress")
    private = _sg_rule("vpc", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"])
    assert _coverage(web, _sg_rule("a", EIGHTS[:HALF]), egress, private) == []


def _nsg_rule(name: str, prefixes: list[str], ports: str = "22", **extra: Any) -> Any:
    inputs = {"networkSecurityGroupName": "nodes-nsg", "resourceGroupName": "rg", "direction": "Inbound",
              "access": "Allow", "protocol": "Tcp", "priority": 100, "destinationPortRange": ports,
              "sourceAddressPrefixes": prefixes, **extra}
    return res(NSG_RULE, inputs, name=name)


def test_nsg_security_rules_that_together_cover_the_internet_are_refused() -> None:
    nsg = res(NSG, {"networkSecurityGroupName": "nodes-nsg", "resourceGroupName": "rg"}, name="nodes")
    (found,) = _coverage(nsg, _nsg_rule("a", EIGHTS[:HALF]), _nsg_rule("b", EIGHTS[HALF:], ports="20-30"))
    assert found.startswith(f"{NSG} 'nodes', with its rule resources, allows inbound traffic from ")
    assert "(tcp port 22; by " in found
    assert "covers the whole public IPv4 internet" in found


def test_nsg_inline_rules_plus_a_security_rule_are_added_up_but_denies_and_other_ports_are_not() -> None:
    inline = {"networkSecurityGroupName": "nodes-nsg", "resourceGroupName": "rg", "securityRules": [
        {"name": "half", "direction": "Inbound", "access": "Allow", "protocol": "*",
         "destinationPortRanges": ["22", "443"], "sourceAddressPrefixes": EIGHTS[:HALF]},
    ]}
    nsg = res(NSG, inline, name="nodes")
    (found,) = _coverage(nsg, _nsg_rule("b", EIGHTS[HALF:], ports="443"))
    assert "(tcp port 443; by " in found
    assert _coverage(nsg, _nsg_rule("b", EIGHTS[HALF:], ports="80")) == []
    assert _coverage(nsg, _nsg_rule("b", EIGHTS[HALF:], ports="443", access="Deny")) == []
    assert _coverage(nsg, _nsg_rule("b", EIGHTS[HALF:], ports="443", direction="Outbound")) == []


def test_a_group_too_large_to_judge_is_refused_not_skipped() -> None:
    rules = [_sg_rule(f"r{i}", [f"52.{i % 250}.{i // 250}.0/24"], port=i) for i in range(cidrs.MOST_GRANTS + 1)]
    (found,) = _coverage(res(SG, {}, name="web"), *rules)
    assert f"has {cidrs.MOST_GRANTS + 1} port ranges with address sources, too many to judge together" in found


def test_check_resources_judges_a_programs_rules_together_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def rule(name: str, cidr: str) -> dict[str, Any]:
        return {"type": INGRESS_RULE, "name": name, "region": "us-east-1", "inputs": {
            "securityGroupId": "sg-0abc", "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": cidr}}

    resources = tmp_path / "resources.json"
    spec = tmp_path / "Pulumi.t.yaml"
    spec.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": fleet_of("dev")}}))
    resources.write_text(json.dumps([rule(f"r{i}", c) for i, c in enumerate(EIGHTS)]))
    assert main(["check", "--resources", str(resources), "--spec", str(spec), "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    coverage = next(p for p in out["policies"] if p["policy"] == "security-baseline-coverage")
    (violation,) = coverage["violations"]
    assert "group 'sg-0abc' (not in the stack)" in violation["message"]
    assert "covers the whole public IPv4 internet" in violation["message"]
    resources.write_text(json.dumps([rule(f"r{i}", c) for i, c in enumerate(EIGHTS[:1])]))
    assert main(["check", "--resources", str(resources), "--spec", str(spec), "--format", "json"]) == 0


def _reported(*resources: Any) -> list[tuple[str | None, str]]:
    found: list[tuple[str | None, str]] = []
    security.validate_security_coverage(stack_args(list(resources)), lambda m, urn=None: found.append((urn, m)))
    return found


def test_the_finding_is_on_the_group_or_where_there_is_none_on_its_first_rule() -> None:
    web = res(SG, {}, name="web")
    a, b = _sg_rule("a", EIGHTS[:HALF]), _sg_rule("b", EIGHTS[HALF:])
    assert [urn for urn, _ in _reported(a, web, b)] == [web.urn]
    elsewhere = [_sg_rule(n, half, group="sg-0abc") for n, half in (("a", EIGHTS[:HALF]), ("b", EIGHTS[HALF:]))]
    assert [urn for urn, _ in _reported(*elsewhere)] == [elsewhere[0].urn]


def test_in_a_preview_a_rule_is_placed_in_its_group_by_the_engines_dependency() -> None:
    """The group's id is not known before it exists: the rule's dependency names the group."""
    web = res(SG, {}, name="web")
    rules = [res(SG_RULE, {"type": "ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": half},
                 name=name, deps={"securityGroupId": [web]}) for name, half in (("a", EIGHTS[:HALF]), ("b", EIGHTS[HALF:]))]
    [(urn, message)] = _reported(web, *rules)
    assert urn == web.urn
    assert message.startswith(f"{SG} 'web', with its rule resources,")


def test_a_groups_inline_rules_alone_are_the_groups_own_finding_not_the_stacks() -> None:
    inline = {"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": [eight]}
                          for eight in ("11.0.0.0/8", "12.0.0.0/8")]}
    assert _coverage(res(SG, inline, name="web")) == []
    (own,) = security.security_problems(SG, inline)
    assert own.startswith("ingress[] together allows ingress from 11.0.0.0/8, 12.0.0.0/8 ")
    assert "(tcp port 22; by ingress[0], ingress[1]): covers at least a /7's worth" in own


def test_an_nsg_not_in_the_stack_is_named_by_its_resource_group_and_name() -> None:
    (found,) = _coverage(_nsg_rule("a", EIGHTS[:HALF]), _nsg_rule("b", EIGHTS[HALF:]))
    assert found.startswith("group 'rg/nodes-nsg' (not in the stack), with its rule resources, allows inbound traffic")
    other = _nsg_rule("b", EIGHTS[HALF:], resourceGroupName="rg2")
    assert _coverage(_nsg_rule("a", EIGHTS[:HALF]), other) == []  # the same name in another resource group
    unread = [_nsg_rule(n, half, resourceGroupName=None) for n, half in (("a", EIGHTS[:HALF]), ("b", EIGHTS[HALF:]))]
    (found,) = _coverage(_nsg_rule("c", ["11.0.0.0/8"]), *unread)  # a resource group not known yet
    assert found.startswith("a group that cannot be read before deployment, with its rule resources,")
    assert found.endswith("; allowed: specific address prefixes or service tags other than Internet "
                          "(no inbound allow from anywhere)")


def test_each_exposed_group_is_reported() -> None:
    groups = [res(SG, {}, name=n) for n in ("web", "db")]
    rules = [_sg_rule(f"{g}-{i}", half, group=f"{g}-id") for g in ("web", "db")
             for i, half in enumerate((EIGHTS[:HALF], EIGHTS[HALF:]))]
    assert [urn for urn, _ in _reported(*groups, *rules)] == [g.urn for g in groups]
