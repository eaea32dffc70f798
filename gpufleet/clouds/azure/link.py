"""Azure's end of the fleet link: the VPN gateway's traits and its costs. The Azure model
(gpufleet/clouds/azure/__init__.py) reads both from here.
"""

from __future__ import annotations

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
# SKU: VpnGw1AZ, the smallest zone-redundant SKU, where the region has availability zones ("AZ"
# SKUs are offered in Azure AZ regions: learn.microsoft.com/azure/vpn-gateway/about-zone-
# redundant-vnet-gateways, "Gateway SKUs"), with zonal public IPs; VpnGw1 and non-zonal IPs
# elsewhere (westus). Both: 650 Mbps aggregate, 30 S2S tunnels at most, 10 of them included in
# the hourly price (learn.microsoft.com/azure/vpn-gateway/about-gateway-skus).
# Rates, East US list prices as of 2025 from memory (verify at azure.microsoft.com/pricing/
# details/vpn-gateway and .../ip-addresses): VpnGw1AZ $0.361/hour, VpnGw1 $0.19/hour, S2S tunnel
# beyond the included ones $0.015/hour, Standard static public IP $0.005/hour; data out
# $0.087/GB (.../bandwidth).
ZONE_REDUNDANT_SKU, REGIONAL_SKU = "VpnGw1AZ", "VpnGw1"
VPN_GATEWAY_USD_PER_HOUR = {ZONE_REDUNDANT_SKU: 0.361, REGIONAL_SKU: 0.19}
VPN_TUNNELS_INCLUDED = 10
VPN_TUNNELS_MAX = 30
VPN_EXTRA_TUNNEL_USD_PER_HOUR = 0.015
PUBLIC_IP_USD_PER_HOUR = 0.005
GATEWAY_PUBLIC_IPS = 2  # active-active: one per gateway instance
TUNNELS_PER_PEER = 4  # the other cloud's 2 connections × 2 tunnels
VPN_GATEWAY = "azure-native:network:VirtualNetworkGateway"
CONNECTION = "azure-native:network:VirtualNetworkGatewayConnection"
_LINK_SOURCE = (
    f"{_CODE}: {ZONE_REDUNDANT_SKU} $0.361/h, {REGIONAL_SKU} $0.19/h, extra S2S tunnel $0.015/h, "
    "Standard public IP $0.005/h; list prices as of 2025, verify (azure.microsoft.com/pricing/details/vpn-gateway)"
)
LINK = LinkTraits(
    tunnel_endpoint=False,
    inside_ranges=(Network("169.254.21.0/24"), Network("169.254.22.0/24")),
    inside_reserved=(),
    reserved_asns=frozenset({8074, 8075, 12076, 65515, 65517, 65518, 65519, 65520}),
    same_cloud_path="global VNet peering",
    cross_cloud_path=(
        f"{ZONE_REDUNDANT_SKU} ({REGIONAL_SKU} without zones) active-active gateway, 4 local network "
        "gateways, 4 BGP connections"
    ),
    usd_per_gb=0.087,
    usd_per_gb_source=f"{_CODE}: data out $0.087/GB, list price as of 2025, verify "
                      "(azure.microsoft.com/pricing/details/bandwidth)",
    max_tunnels=VPN_TUNNELS_MAX,
)


def vpn_gateway_sku(region: str | None) -> str:
    """The zone-redundant SKU where the region has zones, else the regional one; with no region
    (placement's bound for any region) the dearer, zone-redundant one."""
    return ZONE_REDUNDANT_SKU if region is None or availability_zones(region) else REGIONAL_SKU


def link_costs(peers: int, region: str | None = None) -> tuple[FixedCost, ...]:
    """The VNet's VPN gateway and its two public IPs, and the tunnels beyond those included
    (VNet peering has no hourly price, only per GB)."""
    sku = vpn_gateway_sku(region)
    return (
        FixedCost(f"link: VPN gateway {sku}", VPN_GATEWAY_USD_PER_HOUR[sku], 1, _LINK_SOURCE, VPN_GATEWAY),
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
