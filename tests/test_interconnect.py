"""The fleet link (`network.interconnect: vpn`): the pure plan (ASNs, tunnel /30s, routes, costs)
and the program under mocks (every network reaches every other one, keys are secrets, adding a
region replaces nothing, `none` declares nothing new)."""

from __future__ import annotations

import ipaddress
import json
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from gpufleet import clouds
from gpufleet.clouds.aws import REGION_SLOTS as AWS_SLOTS
from gpufleet.clouds.azure import REGION_SLOTS as AZURE_SLOTS
from gpufleet.clouds.azure.pools import OVERLAY_POD_CANDIDATES
from gpufleet.clouds.azure.zones import availability_zones
from gpufleet.cost import region_fixed_usd
from gpufleet.diff import DiffDocument, diff_documents, resource_changes
from gpufleet.errors import SpecError
from gpufleet.interconnect import PRIVATE_ASNS, accepts, plan_link, shared_blocks
from gpufleet.pipeline import build_plan
from gpufleet.plan import FleetPlan, NetworkPlan
from gpufleet.planjson import PlanDocument
from gpufleet.policy import evaluate, policy_config
from gpufleet.policy.security import security_problems
from gpufleet.preview import Recording
from gpufleet.report import plan_markdown
from gpufleet.spec import load_fleet
from gpufleet.specmodel import FleetSpec
from tests.conftest import fleet_of, record_fleet
from tests.test_offline import plan_fleet

LINK_PACKAGES = ("aws:ec2transitgateway/", "aws:ec2/vpnConnection", "aws:ec2/customerGateway",
                 "azure-native:network:VirtualNetworkGateway", "azure-native:network:LocalNetworkGateway",
                 "azure-native:network:VirtualNetworkPeering", "azure-native:network:PublicIPAddress",
                 "random:", "gpufleet:aws:TransitHub", "gpufleet:azure:GatewayHub")
AWS2, AZURE2 = ("us-east-1", "us-west-2"), ("eastus", "westus2")


def mesh(aws: tuple[str, ...], azure: tuple[str, ...], interconnect: str = "vpn") -> dict[str, Any]:
    """A fleet with one pinned spot T4 node in each given region."""
    sites = [("aws", r) for r in aws] + [("azure", r) for r in azure]
    regions = {cloud: {"regions": list(rs)} for cloud, rs in (("aws", aws), ("azure", azure)) if rs}
    return {
        "name": "mesh",
        "network": {"supernet": "10.128.0.0/10", "interconnect": interconnect},
        "clouds": regions,
        "pools": [
            {"name": f"p-{cloud}-{region}", "accelerator": "T4", "gpus": 1, "gpus_per_node": 1,
             "capacity": "spot", "pin": {f"{cloud}/{region}": 1}}
            for cloud, region in sites
        ],
    }


def plan_of(fleet: dict[str, Any]) -> FleetPlan:
    return build_plan(load_fleet(fleet), "test")


@cache
def recorded(aws: tuple[str, ...], azure: tuple[str, ...], interconnect: str = "vpn") -> Recording:
    return record_fleet(mesh(aws, azure, interconnect))


def of_type(recording: Recording, suffix: str) -> list[Any]:
    return [r for r in recording.resources if r.type.endswith(suffix)]


# -- the pure plan -------------------------------------------------------------------------------


def test_shared_blocks_are_exactly_azures_apipa_range_in_28s() -> None:
    blocks = shared_blocks("aws", "azure")
    assert len(blocks) == 32
    covered = {ip for block in blocks for ip in block}
    assert covered == set(ipaddress.IPv4Network("169.254.21.0/24")) | set(ipaddress.IPv4Network("169.254.22.0/24"))


@pytest.mark.parametrize("aws_region", sorted(AWS_SLOTS))
def test_every_possible_pair_gets_30s_both_clouds_accept(aws_region: str) -> None:
    aws_link, azure_link = clouds.get("aws").link, clouds.get("azure").link
    assert aws_link is not None
    assert azure_link is not None
    spec = load_fleet(mesh(("us-east-1",), ("eastus",)))
    for azure_region in AZURE_SLOTS:
        networks = [NetworkPlan("aws", aws_region, "10.0.0.0/16"), NetworkPlan("azure", azure_region, "10.1.0.0/16")]
        link = plan_link(spec, networks)
        assert link is not None
        cidrs = [ipaddress.IPv4Network(t.inside_cidr) for t in link.tunnels]
        assert len(cidrs) == 4 == len(set(cidrs))
        for tunnel, cidr in zip(link.tunnels, cidrs, strict=True):
            assert cidr.prefixlen == 30
            assert accepts(aws_link, cidr)
            assert accepts(azure_link, cidr)
            assert not any(cidr.overlaps(r) for r in aws_link.inside_reserved)
            first, second = cidr.hosts()
            assert (tunnel.endpoint_address, tunnel.gateway_address) == (str(first), str(second))


def test_asns_are_private_distinct_and_not_reserved() -> None:
    link = plan_of(mesh(AWS2, AZURE2)).link
    assert link is not None
    asns = [s.asn for s in link.sites]
    assert len(set(asns)) == len(asns) == 4
    reserved = {asn for m in clouds.models() if m.link for asn in m.link.reserved_asns}
    assert all(asn in PRIVATE_ASNS and asn not in reserved for asn in asns)
    every = [64512 + slot for m in clouds.models() for slot in m.region_slots.values()]
    assert len(set(every)) == len(every)
    assert not set(every) & reserved


def test_inside_cidrs_are_unique_at_every_hub_and_stable() -> None:
    link = plan_of(mesh(AWS2, AZURE2)).link
    assert link is not None
    at_hub: dict[str, list[str]] = defaultdict(list)
    for t in link.tunnels:
        at_hub[t.endpoint].append(t.inside_cidr)
        at_hub[t.gateway].append(t.inside_cidr)
    assert all(len(cidrs) == len(set(cidrs)) == 8 for cidrs in at_hub.values())
    small = plan_of(mesh(AWS2[:1], AZURE2[:1])).link
    assert small is not None
    big = {t.key: t for t in link.tunnels}
    assert all(big[t.key] == t for t in small.tunnels)  # adding regions moves no tunnel


def test_pairs_that_would_share_a_hubs_addresses_are_refused() -> None:
    by_block: dict[int, list[str]] = defaultdict(list)
    for region, slot in sorted(AZURE_SLOTS.items(), key=lambda kv: kv[1]):
        by_block[slot % 32].append(region)
    first, second = next(regions[:2] for regions in by_block.values() if len(regions) > 1)
    networks = [NetworkPlan("aws", "us-east-1", "10.0.0.0/16"), NetworkPlan("azure", first, "10.1.0.0/16"),
                NetworkPlan("azure", second, "10.2.0.0/16")]
    with pytest.raises(SpecError) as error:
        plan_link(load_fleet(mesh(("us-east-1",), ("eastus",))), networks)
    assert "network.interconnect" in str(error.value)
    assert "share tunnel inside addresses" in str(error.value)


def test_a_gateway_takes_no_more_tunnels_than_its_sku_allows() -> None:
    spec = load_fleet(mesh(("us-east-1",), ("eastus",)))
    aws = ("af-south-1", "ap-east-1", "ap-northeast-1", "ap-northeast-2", "ap-south-1", "ca-central-1",
           "eu-central-1", "eu-north-1")  # 8 regions × 4 tunnels > 30
    networks = [NetworkPlan("aws", r, f"10.{i}.0.0/16") for i, r in enumerate(aws)]
    with pytest.raises(SpecError, match="azure/eastus would end 32 tunnels; its gateway takes at most 30"):
        plan_link(spec, [*networks, NetworkPlan("azure", "eastus", "10.99.0.0/16")])
    assert plan_link(spec, [*networks[:7], NetworkPlan("azure", "eastus", "10.99.0.0/16")]) is not None


def test_routes_cover_every_ordered_pair_with_the_right_path() -> None:
    link = plan_of(mesh(AWS2, AZURE2)).link
    assert link is not None
    pairs = {(r.source, r.destination): r for r in link.routes}
    keys = [s.key for s in link.sites]
    assert set(pairs) == {(a, b) for a in keys for b in keys if a != b}
    assert pairs[("aws/us-east-1", "aws/us-west-2")].path.startswith("transit gateway peering")
    assert pairs[("azure/eastus", "azure/westus2")].path == "global VNet peering"
    assert pairs[("azure/eastus", "aws/us-west-2")].path == "site-to-site VPN (BGP)"


def test_link_regions_come_from_the_validated_regions_only() -> None:
    """Sovereignty by construction: sites are the plan's networks, which are the spec's regions
    that passed the jurisdiction check; a region outside it never reaches the planner."""
    fleet = fleet_of("prod-eu")
    fleet["network"] = {**fleet["network"], "interconnect": "vpn"}
    plan = build_plan(load_fleet(fleet), "prod-eu")
    assert plan.link is not None
    allowed = {(c, r) for c, r in load_fleet(fleet).clouds.regions()}
    assert {(s.cloud, s.region) for s in plan.link.sites} <= allowed
    fleet["clouds"] = {**fleet["clouds"], "aws": {"regions": ["eu-north-1", "us-east-1"]}}
    with pytest.raises(SpecError, match=r"clouds\.aws\.regions\[1\]"):
        load_fleet(fleet)


def test_costs_of_a_two_region_fleet_by_hand() -> None:
    fleet = fleet_of("dev")
    base = build_plan(load_fleet(fleet), "dev")
    fleet["network"] = {**fleet["network"], "interconnect": "vpn"}
    plan = build_plan(load_fleet(fleet), "dev")
    link = {(line.cloud, line.item): line.monthly_usd for line in plan.cost.lines if line.item.startswith("link:")}
    assert link == {
        ("aws", "link: TGW VPC attachment"): 36.5,                               # 0.05 × 730
        ("aws", "link: VPN connections (2) + their TGW attachments"): 146.0,    # 2 × (0.05 + 0.05) × 730
        ("azure", "link: VPN gateway VpnGw1AZ"): 263.53,                        # 0.361 × 730
        ("azure", "link: gateway public IPs (2)"): 7.3,                         # 2 × 0.005 × 730
    }
    assert plan.cost.monthly_usd == pytest.approx(base.cost.monthly_usd + 453.33)
    spec = load_fleet(fleet)
    assert region_fixed_usd("aws", spec) == pytest.approx(region_fixed_usd("aws") + 36.5 + 146.0)
    assert region_fixed_usd("azure", spec) == pytest.approx(region_fixed_usd("azure") + 263.53 + 7.3)


def test_a_single_network_pays_for_no_hub() -> None:
    spec = load_fleet(mesh(("us-east-1",), ()))
    assert plan_link(spec, [NetworkPlan("aws", "us-east-1", "10.0.0.0/16")]) is None


def test_none_is_the_default_and_plans_no_link() -> None:
    assert load_fleet(fleet_of("dev")).network.interconnect == "none"
    assert build_plan(load_fleet(fleet_of("dev")), "dev").link is None
    with pytest.raises(SpecError, match=r"network\.interconnect"):
        load_fleet({**fleet_of("dev"), "network": {"supernet": "10.128.0.0/10", "interconnect": "ipsec"}})


# -- the program under mocks ---------------------------------------------------------------------


def test_none_declares_nothing_new() -> None:
    explicit = recorded(AWS2[:1], AZURE2[:1], "none")
    default = record_fleet({**mesh(AWS2[:1], AZURE2[:1]), "network": {"supernet": "10.128.0.0/10"}})
    assert sorted(r.urn for r in explicit.resources) == sorted(r.urn for r in default.resources)
    assert not [r for r in explicit.resources if r.type.startswith(LINK_PACKAGES)]


def _reaches(recording: Recording, plan: FleetPlan) -> set[tuple[str, str]]:
    """(source, destination) pairs the declared resources route, read from the resources alone."""
    link = plan.link
    assert link is not None
    cidr = {s.cidr: s.key for s in link.sites}
    asn = {s.asn: s.key for s in link.sites}
    found: set[tuple[str, str]] = set()
    # AWS: a route to the destination via the transit gateway in every private route table...
    routes: dict[tuple[str, str], int] = defaultdict(int)
    for route in of_type(recording, "aws:ec2/route:Route"):
        if route.inputs.get("transitGatewayId"):
            routes[(f"aws/{route.region}", cidr[route.inputs["destinationCidrBlock"]])] += 1
    # ...and the transit gateway knows the way: a static route (AWS peer) or BGP from a VPN
    # connection to the destination's gateway (its customer gateway has that ASN).
    tgw_knows = {(f"aws/{r.region}", cidr[r.inputs["destinationCidrBlock"]])
                 for r in of_type(recording, "aws:ec2transitgateway/route:Route")}
    gateways = {r.urn: asn[int(r.inputs["bgpAsn"])] for r in of_type(recording, "aws:ec2/customerGateway:CustomerGateway")}
    for vpn in of_type(recording, "aws:ec2/vpnConnection:VpnConnection"):
        assert vpn.inputs["staticRoutesOnly"] is False
        owner = next(g for urn, g in gateways.items() if urn.endswith(vpn.name.replace("-vpn", "-cgw")))
        tgw_knows.add((f"aws/{vpn.region}", owner))
    found |= {pair for pair, tables in routes.items() if tables == 2 and pair in tgw_knows}
    # Azure: peering to the other VNet, or a BGP connection to the destination's tunnels.
    for peering in of_type(recording, "azure-native:network:VirtualNetworkPeering"):
        source, dest = peering.name.split("-to-")
        found.add((source.replace("-", "/", 1), dest.replace("-", "/", 1)))
    bgp_gateways = {g.urn for g in of_type(recording, "VirtualNetworkGateway") if g.inputs["enableBgp"]}
    assert len(bgp_gateways) == sum(1 for s in link.sites if s.cloud == "azure")
    lngs = {r.urn: asn[int(r.inputs["bgpSettings"]["asn"])] for r in of_type(recording, "LocalNetworkGateway")}
    for connection in of_type(recording, "VirtualNetworkGatewayConnection"):
        assert connection.inputs["enableBgp"] is True
        source = f"azure/{connection.name.split('-to-')[0].removeprefix('azure-')}"
        found.add((source, next(k for urn, k in lngs.items() if urn.endswith(connection.name.replace("-connection", "-lng")))))
    return found


def test_every_network_reaches_every_other_in_both_directions() -> None:
    recording = recorded(AWS2, AZURE2)
    plan = plan_of(mesh(AWS2, AZURE2))
    assert plan.link is not None
    keys = [s.key for s in plan.link.sites]
    assert _reaches(recording, plan) == {(a, b) for a in keys for b in keys if a != b}


def test_both_ends_of_every_tunnel_agree() -> None:
    recording = recorded(AWS2, AZURE2)
    link = plan_of(mesh(AWS2, AZURE2)).link
    assert link is not None
    vpns = of_type(recording, "aws:ec2/vpnConnection:VpnConnection")
    lngs = {r.name: r for r in of_type(recording, "LocalNetworkGateway")}
    connections = {r.name: r for r in of_type(recording, "VirtualNetworkGatewayConnection")}
    gateways = {r.name: r for r in of_type(recording, "VirtualNetworkGateway")}
    for t in link.tunnels:
        aws_end = f"mesh-{t.endpoint.replace('/', '-')}-to-{t.gateway.replace('/', '-')}-vpn{t.connection}"
        [vpn] = [v for v in vpns if v.name == aws_end]
        assert vpn.inputs[f"tunnel{t.tunnel}InsideCidr"] == t.inside_cidr
        stem = f"{t.gateway.replace('/', '-')}-to-{t.endpoint.replace('/', '-')}-c{t.connection}t{t.tunnel}"
        assert lngs[f"{stem}-lng"].inputs["bgpSettings"]["bgpPeeringAddress"] == t.endpoint_address
        custom = connections[f"{stem}-connection"].inputs["gatewayCustomBgpIpAddresses"]
        assert custom[t.connection - 1]["customBgpIpAddress"] == t.gateway_address
        gateway = gateways[f"{t.gateway.replace('/', '-')}-gateway"]
        instance = gateway.inputs["bgpSettings"]["bgpPeeringAddresses"][t.connection - 1]
        assert t.gateway_address in instance["customBgpIpAddresses"]
        assert gateway.inputs["bgpSettings"]["asn"] == link.site(t.gateway).asn
    tgws = {r.region: r.inputs["amazonSideAsn"] for r in of_type(recording, "transitGateway:TransitGateway")}
    assert tgws == {s.region: s.asn for s in link.sites if s.cloud == "aws"}


def test_preshared_keys_are_secrets_everywhere() -> None:
    recording = recorded(AWS2[:1], AZURE2[:1])
    vpns = of_type(recording, "aws:ec2/vpnConnection:VpnConnection")
    connections = of_type(recording, "VirtualNetworkGatewayConnection")
    assert len(vpns) == 2
    assert len(connections) == 4
    for vpn in vpns:
        assert {"tunnel1PresharedKey", "tunnel2PresharedKey"} <= vpn.secret_inputs
        assert vpn.to_json()["inputs"]["tunnel1PresharedKey"] == "[secret]"
    for connection in connections:
        assert "sharedKey" in connection.secret_inputs
    passwords = of_type(recording, "randomPassword:RandomPassword")
    assert len(passwords) == 4
    assert all(p.inputs["overrideSpecial"] == "._" for p in passwords)
    assert not [k for k, v in recording.outputs.items() if "M0ck" in str(v)]


def test_adding_regions_replaces_and_removes_nothing() -> None:
    small = [r.to_json() for r in recorded(AWS2[:1], AZURE2[:1]).resources]
    big = [r.to_json() for r in recorded(AWS2, AZURE2).resources]
    changes = resource_changes(small, big)
    assert not [c for c in changes if c.action in ("replace", "remove")]
    tunnels_before = {r["urn"]: r["inputs"] for r in small if r["type"] == "aws:ec2/vpnConnection:VpnConnection"}
    tunnels_after = {r["urn"]: r["inputs"] for r in big if r["type"] == "aws:ec2/vpnConnection:VpnConnection"}
    assert all(tunnels_after[urn] == inputs for urn, inputs in tunnels_before.items())


def test_link_resources_pass_every_mandatory_policy_and_are_judged() -> None:
    recording = recorded(AWS2, AZURE2)
    spec = load_fleet(mesh(AWS2, AZURE2))
    verdicts = evaluate(recording.resources, policy_config(spec))
    broken = [(v.policy, x) for v in verdicts if v.enforcement == "mandatory" for x in v.violations]
    assert broken == []


def test_security_checks_of_the_link_types() -> None:
    assert security_problems("aws:ec2/vpnConnection:VpnConnection", {}) == []  # AWS defaults are fine
    assert security_problems("aws:ec2/vpnConnection:VpnConnection", {"tunnel1IkeVersions": ["ikev1", "ikev2"]})
    assert security_problems("aws:ec2transitgateway/transitGateway:TransitGateway", {"autoAcceptSharedAttachments": "enable"})
    assert security_problems("azure-native:network:PublicIPAddress", {"sku": {"name": "Basic"}})
    assert not security_problems("azure-native:network:PublicIPAddress", {"sku": {"name": "Standard"}})
    assert security_problems("azure-native:network:VirtualNetworkGatewayConnection",
                             {"connectionType": "IPsec", "connectionProtocol": "IKEv1", "sharedKey": "x"})


def test_nodes_admit_only_the_fleets_cidrs_across_the_link() -> None:
    recording = recorded(AWS2, AZURE2)
    link = plan_of(mesh(AWS2, AZURE2)).link
    assert link is not None
    cidrs = {s.cidr for s in link.sites}
    ingress = of_type(recording, "securityGroupIngressRule:SecurityGroupIngressRule")
    assert {r.inputs["cidrIpv4"] for r in ingress} == cidrs
    assert len(ingress) == 2 * 3
    for nsg in of_type(recording, "NetworkSecurityGroup"):
        [allow] = [r for r in nsg.inputs["securityRules"] if r["name"] == "allow-fleet-inbound"]
        sources = {ipaddress.IPv4Network(c) for c in allow["sourceAddressPrefixes"]}
        # the fleet's networks, and the cluster's own overlay pod range (outside the supernet)
        pods = ipaddress.IPv4Network(OVERLAY_POD_CANDIDATES[0])
        assert all(s.subnet_of(ipaddress.IPv4Network("10.128.0.0/10")) or s == pods for s in sources)
        assert {ipaddress.IPv4Network(c) for c in cidrs} <= sources


# -- documents -----------------------------------------------------------------------------------


def test_spec_schema_offers_the_interconnect_modes() -> None:
    prop = FleetSpec.model_json_schema()["$defs"]["Network"]["properties"]["interconnect"]
    assert (prop["enum"], prop["default"]) == (["none", "vpn"], "none")


def test_plan_document_states_the_link_without_secrets(tmp_path: Path) -> None:
    fleet = fleet_of("dev")
    fleet["network"] = {**fleet["network"], "interconnect": "vpn"}
    doc = plan_fleet(fleet, tmp_path, "dev")
    TypeAdapter(PlanDocument).validate_python(doc, strict=True)
    link = doc["interconnect"]
    assert (link["version"], link["mode"], len(link["sites"]), len(link["tunnels"])) == (1, "vpn", 2, 4)
    assert link["usd_per_gb"] == {"aws": pytest.approx(0.11), "azure": 0.087}
    text = json.dumps(doc)
    assert "M0ck" not in text
    assert text.count('"[secret]"') == 2 * 2 + 4
    assert doc["policies"]
    assert not [v for v in doc["policies"] if v["enforcement"] == "mandatory" and v["violations"]]
    markdown = plan_markdown(doc)
    assert "**Link tunnels**" in markdown
    assert link["tunnels"][0]["inside_cidr"] in markdown
    assert "**Link routes**" in markdown
    assert "interconnect" not in plan_fleet(fleet_of("dev"), tmp_path, "dev")  # none: the key is absent


def test_diff_lists_the_tunnels_a_new_region_adds(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "head").mkdir()
    base = plan_fleet(mesh(AWS2[:1], AZURE2[:1]), tmp_path / "base", "test")
    head = plan_fleet(mesh(AWS2, AZURE2[:1]), tmp_path / "head", "test")
    change = diff_documents(base, head)
    assert [action for _, action, _, _ in change.tunnels] == ["add"] * 4
    assert all(key.startswith("aws/us-west-2--azure/eastus/") for key, *_ in change.tunnels)
    assert not [c for c in change.resources if c.action in ("replace", "remove")]
    document = json.loads(json.dumps(change.to_json()))
    TypeAdapter(DiffDocument).validate_python(document, strict=True)
    assert len(document["tunnels"]) == 4
    assert "tunnels" not in diff_documents(base, base).to_json()


def test_a_region_without_zones_gets_the_regional_gateway_and_ips_without_zones() -> None:
    """Issue 26: westus (H100, no availability zones) refused VpnGw1AZ and zonal IPs; the SKU
    and the IPs' zones follow the region, and the cost line prices the SKU declared."""
    recording = recorded(("us-west-2",), ("westus", "eastus"))
    gateways = {g.inputs["location"]: g.inputs["sku"] for g in of_type(recording, "VirtualNetworkGateway")}
    assert gateways == {"westus": {"name": "VpnGw1", "tier": "VpnGw1"},
                        "eastus": {"name": "VpnGw1AZ", "tier": "VpnGw1AZ"}}
    zones = {ip.inputs["location"]: ip.inputs.get("zones") for ip in of_type(recording, "network:PublicIPAddress")}
    assert zones == {"westus": None, "eastus": ["1", "2", "3"]}
    assert availability_zones("westus") == ()
    plan = plan_of(mesh(("us-west-2",), ("westus",)))
    (line,) = [li for li in plan.cost.lines if li.item.startswith("link: VPN gateway")]
    assert (line.item, line.monthly_usd) == ("link: VPN gateway VpnGw1", 138.7)  # 0.19 × 730
    config = policy_config(load_fleet(mesh(("us-west-2",), ("westus", "eastus"))))
    (readiness,) = [v for v in evaluate(recording.resources, config) if v.policy == "deploy-readiness"]
    assert readiness.violations == []


PAIR = [NetworkPlan("aws", "us-east-1", "10.0.0.0/16"), NetworkPlan("azure", "eastus", "10.1.0.0/16")]


def test_a_deployed_pairs_tunnel_addresses_never_move() -> None:
    """The inside addresses of a live tunnel, written down: the pair's /28 is the (sum of the two
    address slots, 30 + 43) mod 32 = 9th of Azure's APIPA /28s, its /30s in address order,
    connection by connection, AWS (the endpoint) on the first host. A change of that arithmetic
    would re-address, and so replace, every tunnel of every fleet."""
    link = plan_link(load_fleet(mesh(("us-east-1",), ("eastus",))), PAIR)
    assert link is not None
    assert [(t.endpoint, t.gateway, t.connection, t.tunnel, t.inside_cidr, t.endpoint_address, t.gateway_address)
            for t in link.tunnels] == [
        ("aws/us-east-1", "azure/eastus", 1, 1, "169.254.21.144/30", "169.254.21.145", "169.254.21.146"),
        ("aws/us-east-1", "azure/eastus", 1, 2, "169.254.21.148/30", "169.254.21.149", "169.254.21.150"),
        ("aws/us-east-1", "azure/eastus", 2, 1, "169.254.21.152/30", "169.254.21.153", "169.254.21.154"),
        ("aws/us-east-1", "azure/eastus", 2, 2, "169.254.21.156/30", "169.254.21.157", "169.254.21.158"),
    ]


def test_the_order_of_the_networks_decides_no_tunnel_end_and_every_route_leads_to_its_network() -> None:
    spec = load_fleet(mesh(("us-east-1",), ("eastus",)))
    forward, reverse = plan_link(spec, PAIR), plan_link(spec, PAIR[::-1])
    assert forward is not None
    assert reverse is not None
    assert reverse.tunnels == forward.tunnels  # AWS hands out the endpoints, whichever comes first
    assert {(r.source, r.destination, r.cidr) for r in reverse.routes} == {
        ("aws/us-east-1", "azure/eastus", "10.1.0.0/16"), ("azure/eastus", "aws/us-east-1", "10.0.0.0/16")}
    assert [(s.key, s.asn, s.cidr) for s in reverse.sites] == [
        ("azure/eastus", 64512 + 43, "10.1.0.0/16"), ("aws/us-east-1", 64512 + 30, "10.0.0.0/16")]


def test_a_region_without_an_address_slot_is_refused_naming_the_field() -> None:
    spec = load_fleet(mesh(("us-east-1",), ("eastus",)))
    with pytest.raises(SpecError) as error:
        plan_link(spec, [*PAIR, NetworkPlan("aws", "xx-nowhere-1", "10.2.0.0/16")])
    assert [str(p) for p in error.value.problems] == [
        "network.interconnect: vpn: aws/xx-nowhere-1 has no address slot to derive its ASN and tunnel "
        "addresses from; allowed: none for this fleet"]


def test_a_gateway_over_its_tunnel_limit_is_refused_with_the_whole_reason() -> None:
    aws = ("af-south-1", "ap-east-1", "ap-northeast-1", "ap-northeast-2", "ap-south-1", "ca-central-1",
           "eu-central-1", "eu-north-1")  # 8 regions × 4 tunnels > 30
    networks = [NetworkPlan("aws", r, f"10.{i}.0.0/16") for i, r in enumerate(aws)]
    with pytest.raises(SpecError) as error:
        plan_link(load_fleet(mesh(("us-east-1",), ("eastus",))), [*networks, NetworkPlan("azure", "eastus", "10.99.0.0/16")])
    assert [str(p) for p in error.value.problems] == [
        "network.interconnect: vpn: azure/eastus would end 32 tunnels; its gateway takes at most 30 "
        "(4 per region of another cloud); allowed: fewer regions of the other clouds"]


def test_two_clouds_that_both_wait_for_tunnels_are_refused_naming_the_pair() -> None:
    """Azure and the test cloud both terminate tunnels on gateways; neither hands out endpoints,
    so no VPN joins them: refused, the pair named, while each still links to AWS."""
    from tests.fakecloud import registered

    with registered():
        spec = load_fleet(mesh(("us-east-1",), ("eastus",)))
        with pytest.raises(SpecError) as error:
            plan_link(spec, [PAIR[1], NetworkPlan("fakecloud", "fk-frankfurt", "10.2.0.0/16"), PAIR[0]])
    assert [str(p) for p in error.value.problems] == [
        "network.interconnect: vpn: no VPN between azure/eastus and fakecloud/fk-frankfurt (neither or both "
        "ends hand out tunnel endpoints)"]
