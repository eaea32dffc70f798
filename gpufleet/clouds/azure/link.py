"""Azure's end of the fleet link: the VPN gateway's traits and its costs. The Azure model
(gpufleet/clouds/azure/__init__.py) reads both from here.
"""

from __future__ import annotations

from gpufleet.catalog.paths import PathRate, path_rates
from gpufleet.clouds.azure.zones import availability_zones
from gpufleet.clouds.base import FixedCost, LinkTraits, Network
from gpufleet.clouds.declared import DeclaredResource

_CODE = "fixed rate in gpufleet/clouds/azure/link.py"

# Azure's end of the fleet link (gpufleet/interconnect.py): an active-active, zone-redundant VPN
# gateway per VNet, local network gateways for the other cloud's tunnel endpoints, global VNet
# peering between Azure regions. "The Azure APIPA BGP IP address must be in the range
# 169.254.21.0 to 169.254.22.255" and ASNs 65515, 65517, 65518, 65519, 65520 (and the public
# 8074, 8075, 12076) are reserved by Azure (learn.microsoft.com/azure/vpn-gateway/
# vpn-gateway-bgp-overview, .../vpn-gateway-howto-aws-bgp).
# SKU: by the throughput the copies over the link need (gpufleet/pipes.py), the smallest that holds
# them, from catalog/data/paths.csv (aggregate and per-tunnel throughput, S2S tunnels, $/hour,
# each row with its source): the zone-redundant "AZ" SKUs where the region has availability zones
# (learn.microsoft.com/azure/vpn-gateway/about-zone-redundant-vnet-gateways), with zonal public
# IPs; the regional ones and non-zonal IPs elsewhere (westus). VpnGw1(AZ) is Generation1 (650 Mbps);
# the larger ones are Generation2, which carries more than Generation1 at the same SKU name (2AZ:
# 1.25 Gbps against 1 Gbps; 4AZ and 5AZ exist only there). Azure resizes a gateway only within its
# generation (about-gateway-skus, "resizing of VpnGw SKUs is allowed within the same generation"), so
# the step from VpnGw1AZ to a larger SKU recreates the gateway; steps above it resize in place.
# Rates as of 2025, verify (azure.microsoft.com/pricing/details/vpn-gateway and .../ip-addresses):
# gateway per SKU in paths.csv, S2S tunnel beyond the included ones $0.015/hour, Standard static
# public IP $0.005/hour; data out $0.087/GB (.../bandwidth).
GATEWAY_PATH = "vpn-gateway"
VPN_TUNNELS_INCLUDED = 10
VPN_TUNNELS_MAX = 30
VPN_EXTRA_TUNNEL_USD_PER_HOUR = 0.015
PUBLIC_IP_USD_PER_HOUR = 0.005
GATEWAY_PUBLIC_IPS = 2  # active-active: one per gateway instance
TUNNELS_PER_PEER = 4  # the other cloud's 2 connections × 2 tunnels
VPN_GATEWAY = "azure-native:network:VirtualNetworkGateway"
CONNECTION = "azure-native:network:VirtualNetworkGatewayConnection"
_LINK_SOURCE = (
    f"{_CODE}: extra S2S tunnel $0.015/h, Standard public IP $0.005/h; list prices as of 2025, verify "
    "(azure.microsoft.com/pricing/details/vpn-gateway)"
)
LINK = LinkTraits(
    tunnel_endpoint=False,
    inside_ranges=(Network("169.254.21.0/24"), Network("169.254.22.0/24")),
    inside_reserved=(),
    reserved_asns=frozenset({8074, 8075, 12076, 65515, 65517, 65518, 65519, 65520}),
    same_cloud_path="global VNet peering",
    cross_cloud_path=(
        "active-active VPN gateway (SKU by the copies' throughput), 4 local network gateways, 4 BGP connections"
    ),
    usd_per_gb=0.087,
    usd_per_gb_source=f"{_CODE}: data out $0.087/GB, list price as of 2025, verify "
                      "(azure.microsoft.com/pricing/details/bandwidth)",
    max_tunnels=VPN_TUNNELS_MAX,
)


def gateway_sizes(region: str | None) -> tuple[PathRate, ...]:
    """The VPN gateway SKUs a region can have, smallest first: the zone-redundant ones where it
    has availability zones, else the regional ones; with no region (placement's bound for any
    region) the zone-redundant ones, the dearer."""
    zonal = region is None or bool(availability_zones(region))
    return tuple(r for r in path_rates() if r.cloud == "azure" and r.path == GATEWAY_PATH
                 and r.zone_redundant == zonal)


def gateway_sku(name: object) -> PathRate | None:
    """The gateway row of a SKU name, zone-redundant or regional; None for another name."""
    return next((r for r in path_rates() if r.cloud == "azure" and r.path == GATEWAY_PATH and r.size == name), None)


def vpn_gateway(region: str | None, sku: str | None = None) -> PathRate:
    """The gateway SKU `sku` of the region's sizes, or without one its smallest; a SKU the region
    does not offer is a programming error naming those it does."""
    sizes = gateway_sizes(region)
    if sku is None:
        return sizes[0]
    found = next((r for r in sizes if r.size == sku), None)
    if found is None:
        raise KeyError(f"no VPN gateway SKU {sku!r} in {region}; known: {', '.join(r.size for r in sizes)}")
    return found


def gateway_source(rate: PathRate) -> str:
    """A gateway's cost source: its row of paths.csv (price and where it is from) and the fixed rates."""
    return (f"{rate.size} ${rate.usd_per_hour:g}/h (catalog/data/paths.csv; secondary or from memory, an "
            f"upper bound: verify at azure.microsoft.com/pricing/details/vpn-gateway); {_LINK_SOURCE}")


VPN_GATEWAY_USD_PER_HOUR = {
    r.size: r.usd_per_hour for r in path_rates()
    if r.cloud == "azure" and r.path == GATEWAY_PATH and r.usd_per_hour is not None
}


def link_costs(peers: int, region: str | None = None, sku: str | None = None) -> tuple[FixedCost, ...]:
    """The VNet's VPN gateway (`sku`, else the region's smallest) and its two public IPs, and the
    tunnels beyond those included (VNet peering has no hourly price, only per GB)."""
    gateway = vpn_gateway(region, sku)
    assert gateway.usd_per_hour is not None  # every gateway row has a price (tests/test_pipes.py)
    return (
        FixedCost(f"link: VPN gateway {gateway.size}", gateway.usd_per_hour, 1, gateway_source(gateway), VPN_GATEWAY),
        FixedCost(f"link: gateway public IPs ({GATEWAY_PUBLIC_IPS})", PUBLIC_IP_USD_PER_HOUR,
                  GATEWAY_PUBLIC_IPS, _LINK_SOURCE, "azure-native:network:PublicIPAddress"),
        _extra_tunnels(max(0, TUNNELS_PER_PEER * peers - VPN_TUNNELS_INCLUDED)),
    )


def _extra_tunnels(extra: int) -> FixedCost:
    """The S2S tunnels of a gateway beyond those its price includes: not a resource of their
    own (each is a connection), so the budget policy counts a declared gateway's connections
    (`declared_tunnels`)."""
    return FixedCost(f"link: S2S tunnels beyond the {VPN_TUNNELS_INCLUDED} included ({extra})",
                     VPN_EXTRA_TUNNEL_USD_PER_HOUR, extra, _LINK_SOURCE, "")


def declared_tunnels(resource: DeclaredResource) -> list[FixedCost]:
    """A declared VPN gateway's tunnels beyond the included ones: one per connection that names
    it as its gateway (`virtualNetworkGateway1`); none for other resources."""
    if resource.type != VPN_GATEWAY:
        return []
    tunnels = len(resource.referrers("virtualNetworkGateway1", frozenset({CONNECTION})))
    extra = tunnels - VPN_TUNNELS_INCLUDED
    return [_extra_tunnels(extra)] if extra > 0 else []
