"""The fleet link (`network.interconnect: vpn`): which networks join, their BGP ASNs, every
tunnel's inside /30 and the path each network takes to every other one.

Topology: a full mesh of regions, each with one hub of its cloud (an AWS transit gateway, an
Azure active-active zone-redundant VPN gateway). Two regions of different clouds get their own
site-to-site VPN (2 connections × 2 tunnels, BGP, ECMP on the transit gateway); two regions of
one cloud peer directly (TGW peering, global VNet peering). Against one hub per cloud (a VPN pair
between two hub regions, peering to the rest) the mesh pays a VPN pair ($146/month on AWS, see
`Aws.link_costs`) per (AWS region, Azure region) instead of one, but no traffic hairpins through
a hub region (no second inter-region transfer charge, no extra latency), throughput adds up per
pair (AWS: up to 1.25 Gbps per tunnel; each Azure VpnGw1AZ: 650 Mbps aggregate, the SKU in
gpufleet/clouds/azure/link.py), and no hub exists whose move would replace every tunnel: a pair's
resources depend on that pair alone. Datasets stay co-located, so the link carries control and
service traffic, not bulk reads.

Stability is the point, as in gpufleet.ipam: the ASN of a network and the inside /30s of a pair
derive from the regions' fixed address slots (gpufleet/slots.py), never from positions in a list,
so adding a region adds its tunnels and changes none that exist.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from functools import cache
from itertools import combinations

from gpufleet import clouds
from gpufleet.clouds.base import LinkTraits
from gpufleet.errors import Problem, SpecError
from gpufleet.plan import LinkPlan, LinkSite, NetworkPlan, RoutePlan, TunnelPlan
from gpufleet.slots import slot_of
from gpufleet.spec import FleetSpec

FIELD = "network.interconnect"
# Private 16-bit ASNs (RFC 6996): 64512-65534. A network's ASN is ASN_BASE + its address slot
# (slots are unique across clouds and below 256), so every ASN is distinct and stays put.
PRIVATE_ASNS = range(64512, 65535)
ASN_BASE = 64512
CONNECTIONS = (1, 2)  # one per public IP of the active-active gateway
TUNNELS = (1, 2)  # each VPN connection has two tunnels
PAIR_PREFIX = 28  # a pair's four /30s
VPN_PATH = "site-to-site VPN (BGP)"

Network = ipaddress.IPv4Network


def plan_link(spec: FleetSpec, networks: Sequence[NetworkPlan]) -> LinkPlan | None:
    """The link of the plan's networks, or None with `interconnect: none` or a single network
    (nothing to reach: no hub is paid for until a second region joins, which replaces nothing);
    SpecError says why a link cannot be built (a cloud without one, a region without a slot, a
    clash of /30s, a gateway over its tunnel limit)."""
    if not linked(spec, len(networks)):
        return None
    problems = list(_site_problems(networks))
    if problems:
        raise SpecError(problems)
    sites = tuple(
        LinkSite(n.cloud, n.region, ASN_BASE + _slot(n), n.cidr) for n in networks
    )
    tunnels = _tunnels(sites)
    routes = tuple(
        RoutePlan(source.key, dest.key, dest.cidr, _path(source, dest))
        for source in sites for dest in sites if source is not dest
    )
    return LinkPlan(sites, tunnels, routes)


def linked(spec: FleetSpec, networks: int) -> bool:
    """Whether a plan with this many networks has a link: `interconnect` set and a second
    network to reach (placement prices a plan's link by this rule too)."""
    return spec.network.interconnect != "none" and networks >= 2


def _slot(network: NetworkPlan) -> int:
    slot = slot_of(network.cloud, network.region)
    assert slot is not None  # _site_problems refused it
    return slot


def _traits(cloud: str) -> LinkTraits:
    traits = clouds.get(cloud).link
    assert traits is not None  # _site_problems refused it
    return traits


def _site_problems(networks: Sequence[NetworkPlan]) -> Iterator[Problem]:
    for n in networks:
        model = clouds.get(n.cloud)
        slot = slot_of(n.cloud, n.region)
        if model.link is None:
            yield Problem(FIELD, f"vpn: {model.title} cannot join the link; allowed: none")
        elif slot is None:
            yield Problem(FIELD, f"vpn: {n.cloud}/{n.region} has no address slot to derive its "
                                 "ASN and tunnel addresses from; allowed: none for this fleet")
        elif ASN_BASE + slot in model.link.reserved_asns or ASN_BASE + slot not in PRIVATE_ASNS:
            yield Problem(FIELD, f"vpn: ASN {ASN_BASE + slot} of {n.cloud}/{n.region} is reserved")


def _path(source: LinkSite, dest: LinkSite) -> str:
    return _traits(source.cloud).same_cloud_path if source.cloud == dest.cloud else VPN_PATH


def _tunnels(sites: Sequence[LinkSite]) -> tuple[TunnelPlan, ...]:
    """Four tunnels per pair of sites of different clouds, from the pair's /28 (its index is the
    sum of the two slots modulo the number of /28s both clouds accept)."""
    tunnels: list[TunnelPlan] = []
    used: dict[tuple[str, int], str] = {}  # (site, block index) -> the pair that took it
    problems: list[Problem] = []
    for a, b in combinations(sites, 2):
        if a.cloud == b.cloud:
            continue
        ends = _oriented(a, b)
        if ends is None:
            problems.append(Problem(FIELD, f"vpn: no VPN between {a.key} and {b.key} (neither or "
                                           "both ends hand out tunnel endpoints)"))
            continue
        endpoint, gateway = ends
        blocks = shared_blocks(endpoint.cloud, gateway.cloud)
        index = (endpoint.asn + gateway.asn - 2 * ASN_BASE) % len(blocks)
        pair = f"{endpoint.key}--{gateway.key}"
        for site in (endpoint, gateway):
            taken = used.setdefault((site.key, index), pair)
            if taken != pair:
                problems.append(Problem(FIELD, (
                    f"vpn: {pair} and {taken} would share tunnel inside addresses at {site.key} "
                    f"(both get {blocks[index]} from their address slots; {len(blocks)} blocks); "
                    "allowed: regions whose pairs differ (drop one of them from clouds.*.regions)"
                )))
        tunnels.extend(_pair_tunnels(endpoint, gateway, blocks[index]))
    problems += _capacity_problems(sites, tunnels)
    if problems:
        raise SpecError(problems)
    return tuple(tunnels)


def _capacity_problems(sites: Sequence[LinkSite], tunnels: Sequence[TunnelPlan]) -> list[Problem]:
    """A hub whose cloud caps its tunnels (an Azure gateway SKU) must not be given more."""
    problems: list[Problem] = []
    for site in sites:
        most = _traits(site.cloud).max_tunnels
        count = sum(1 for t in tunnels if site.key in (t.endpoint, t.gateway))
        if most is not None and count > most:
            problems.append(Problem(FIELD, (
                f"vpn: {site.key} would end {count} tunnels; its gateway takes at most {most} "
                f"({len(CONNECTIONS) * len(TUNNELS)} per region of another cloud); allowed: fewer "
                "regions of the other clouds"
            )))
    return problems


def _oriented(a: LinkSite, b: LinkSite) -> tuple[LinkSite, LinkSite] | None:
    a_end, b_end = _traits(a.cloud).tunnel_endpoint, _traits(b.cloud).tunnel_endpoint
    if a_end == b_end:
        return None
    return (a, b) if a_end else (b, a)


def _pair_tunnels(endpoint: LinkSite, gateway: LinkSite, block: Network) -> list[TunnelPlan]:
    quads = list(block.subnets(new_prefix=30))
    found: list[TunnelPlan] = []
    for c in CONNECTIONS:
        for t in TUNNELS:
            cidr = quads[(c - 1) * len(TUNNELS) + (t - 1)]
            first, second = list(cidr.hosts())
            found.append(TunnelPlan(endpoint.key, gateway.key, c, t, str(cidr), str(first), str(second)))
    return found


@cache
def shared_blocks(endpoint_cloud: str, gateway_cloud: str) -> tuple[Network, ...]:
    """Every /28 whose four /30s both clouds accept as tunnel inside CIDRs, in address order."""
    a, b = _traits(endpoint_cloud), _traits(gateway_cloud)
    reserved = (*a.inside_reserved, *b.inside_reserved)
    return tuple(
        block
        for outer in sorted(a.inside_ranges)
        for block in outer.subnets(new_prefix=PAIR_PREFIX)
        if accepts(b, block) and not any(block.overlaps(r) for r in reserved)
    )


def accepts(traits: LinkTraits, cidr: Network) -> bool:
    """Whether a cloud accepts `cidr` for tunnel inside addresses (in a range, not reserved)."""
    return any(cidr.subnet_of(r) for r in traits.inside_ranges) and not any(
        cidr.overlaps(r) for r in traits.inside_reserved
    )

