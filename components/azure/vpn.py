"""`gpufleet:azure:GatewayHub`: Azure's end of the fleet link in one VNet (gpufleet/interconnect.py).

An active-active route-based VPN gateway with BGP in the VNet's GatewaySubnet on two Standard
public IPs, of the SKU and generation the plan chose for the copies over the link (the site's
`hub`; gpufleet/pipes.py, catalog/data/paths.csv): zone-redundant (VpnGw1AZ..VpnGw5AZ, zonal IPs)
where the region has availability zones, regional (VpnGw1..VpnGw5, IPs without zones) where it
has none (gpufleet/clouds/azure/link.py); each
instance carries the custom APIPA BGP addresses of the tunnels that end on it. `connect` adds,
per tunnel of another cloud's VPN pair, a local network gateway (its outside address, its BGP
peer) and a BGP connection; `peer` joins two VNets by global VNet peering. Logical names derive
from the region and pair keys.

The VNet routes what the gateway learns over BGP to every subnet by itself, and peered VNets by
system routes, so no route table is declared; the nodes' NSG admits the fleet's remote CIDRs
(components/azure/network.py, `link_sources`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, network

from gpufleet.clouds.azure.link import vpn_gateway
from gpufleet.clouds.azure.zones import availability_zones
from gpufleet.plan import LinkSite, TunnelPlan

GATEWAY_SUBNET = "GatewaySubnet"  # the name Azure requires for a VNet gateway's subnet
INSTANCES = ("instance0", "instance1")  # active-active: one IP configuration per instance


@dataclass(frozen=True)
class GatewayHubArgs:
    site: LinkSite
    resource_group_name: pulumi.Input[str]
    location: str
    vnet_name: pulumi.Input[str]
    vnet_id: pulumi.Input[str]
    gateway_subnet_cidr: str
    instance_addresses: tuple[Sequence[str], Sequence[str]]  # APIPA BGP addresses per instance
    tags: Mapping[str, str]
    after: Sequence[pulumi.Resource]  # Azure serialises writes to one VNet's subnets


def _slug(key: str) -> str:
    return key.replace("/", "-")


class GatewayHub(pulumi.ComponentResource):
    """One VNet's GatewaySubnet, two public IPs and active-active BGP VPN gateway."""

    gateway_id: pulumi.Output[str]
    public_ips: list[pulumi.Output[str]]

    def __init__(self, name: str, args: GatewayHubArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:azure:GatewayHub", name, {"location": args.location}, opts)
        self.name = name
        self.site = args.site
        self.args = args
        child = pulumi.ResourceOptions(parent=self)
        subnet = network.Subnet(
            f"{name}-gateway-subnet",
            resource_group_name=args.resource_group_name,
            virtual_network_name=args.vnet_name,
            subnet_name=GATEWAY_SUBNET,
            address_prefix=args.gateway_subnet_cidr,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
        )
        ips = [
            network.PublicIPAddress(
                f"{name}-gateway-{instance}",
                resource_group_name=args.resource_group_name,
                location=args.location,
                public_ip_address_name=f"pip-vpngw-{instance}",
                sku={"name": network.PublicIPAddressSkuName.STANDARD,
                     "tier": network.PublicIPAddressSkuTier.REGIONAL},
                public_ip_allocation_method=network.IPAllocationMethod.STATIC,
                public_ip_address_version=network.IPVersion.I_PV4,
                zones=list(availability_zones(args.location)) or None,  # zonal only where zones exist
                tags=dict(args.tags),
                opts=child,
            )
            for instance in INSTANCES
        ]
        gateway_name = "vpngw"
        size = vpn_gateway(args.location, args.site.hub or None)  # the plan's SKU (gpufleet/pipes.py)
        subscription = authorization.get_client_config_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        ).subscription_id
        gateway_path = pulumi.Output.concat(
            "/subscriptions/", subscription, "/resourceGroups/", args.resource_group_name,
            "/providers/Microsoft.Network/virtualNetworkGateways/", gateway_name,
        )
        self.ip_configuration_ids = [
            pulumi.Output.concat(gateway_path, "/ipConfigurations/", instance) for instance in INSTANCES
        ]
        gateway = network.VirtualNetworkGateway(
            f"{name}-gateway",
            resource_group_name=args.resource_group_name,
            location=args.location,
            virtual_network_gateway_name=gateway_name,
            gateway_type=network.VirtualNetworkGatewayType.VPN,
            vpn_type=network.VpnType.ROUTE_BASED,
            vpn_gateway_generation=network.VpnGatewayGeneration(size.generation),
            sku={"name": network.VirtualNetworkGatewaySkuName(size.size),
                 "tier": network.VirtualNetworkGatewaySkuTier(size.size)},
            active_active=True,
            enable_bgp=True,
            bgp_settings={
                "asn": args.site.asn,
                "bgp_peering_addresses": [
                    {"ipconfiguration_id": config, "custom_bgp_ip_addresses": list(addresses)}
                    for config, addresses in zip(self.ip_configuration_ids, args.instance_addresses, strict=True)
                ],
            },
            ip_configurations=[
                {
                    "name": instance,
                    "private_ip_allocation_method": network.IPAllocationMethod.DYNAMIC,
                    "subnet": {"id": subnet.id},
                    "public_ip_address": {"id": ip.id},
                }
                for instance, ip in zip(INSTANCES, ips, strict=True)
            ],
            tags=dict(args.tags),
            # A new generation is a new gateway of the same name: the old one goes first.
            opts=pulumi.ResourceOptions(parent=self, replace_on_changes=["vpnGatewayGeneration"],
                                        delete_before_replace=True),
        )
        self.gateway_id = gateway.id
        self.public_ips = [ip.ip_address.apply(lambda a: a or "") for ip in ips]
        self.register_outputs({"gatewayId": gateway.id, "asn": args.site.asn})

    def connect(
        self, endpoint: LinkSite, tunnels: Sequence[TunnelPlan],
        outside: Mapping[str, pulumi.Output[str]], keys: Mapping[str, pulumi.Output[str]],
    ) -> None:
        """Per tunnel of `endpoint`'s VPN pair: a local network gateway for its outside address
        and BGP peer, and an IKEv2 connection with BGP whose custom APIPA addresses are the
        tunnel's gateway-side inside address on the instance it ends on."""
        pair = f"{self.name}-to-{_slug(endpoint.key)}"
        by_slot = {(t.connection, t.tunnel): t for t in tunnels}
        for t in sorted(tunnels, key=lambda t: t.key):
            stem = f"{pair}-c{t.connection}t{t.tunnel}"
            local = network.LocalNetworkGateway(
                f"{stem}-lng",
                resource_group_name=self.args.resource_group_name,
                location=self.args.location,
                local_network_gateway_name=f"lng-{_slug(endpoint.key)}-c{t.connection}t{t.tunnel}",
                gateway_ip_address=outside[t.key],
                bgp_settings={"asn": endpoint.asn, "bgp_peering_address": t.endpoint_address},
                tags=dict(self.args.tags),
                opts=pulumi.ResourceOptions(parent=self),
            )
            # Both instances need an address on every connection: each uses its own tunnel of
            # the same number (instance i is the customer gateway of connection i + 1).
            custom = [
                network.GatewayCustomBgpIpAddressIpConfigurationArgs(
                    ip_configuration_id=config,
                    custom_bgp_ip_address=by_slot[(i + 1, t.tunnel)].gateway_address,
                )
                for i, config in enumerate(self.ip_configuration_ids)
            ]
            network.VirtualNetworkGatewayConnection(
                f"{stem}-connection",
                resource_group_name=self.args.resource_group_name,
                location=self.args.location,
                virtual_network_gateway_connection_name=f"cn-{_slug(endpoint.key)}-c{t.connection}t{t.tunnel}",
                connection_type=network.VirtualNetworkGatewayConnectionType.IPSEC,
                connection_protocol=network.VirtualNetworkGatewayConnectionProtocol.IK_EV2,
                virtual_network_gateway1={"id": self.gateway_id},
                local_network_gateway2={"id": local.id},
                enable_bgp=True,
                shared_key=keys[t.key],
                gateway_custom_bgp_ip_addresses=custom,
                tags=dict(self.args.tags),
                opts=pulumi.ResourceOptions(parent=self),
            )

    def peer(self, other: GatewayHub) -> None:
        """Global VNet peering both ways (no gateway transit: each VNet has its own gateway)."""
        for here, there in ((self, other), (other, self)):
            network.VirtualNetworkPeering(
                f"{here.name}-to-{_slug(there.site.key)}",
                resource_group_name=here.args.resource_group_name,
                virtual_network_name=here.args.vnet_name,
                virtual_network_peering_name=f"peer-{_slug(there.site.key)}",
                remote_virtual_network={"id": there.args.vnet_id},
                allow_virtual_network_access=True,
                allow_forwarded_traffic=False,
                allow_gateway_transit=False,
                use_remote_gateways=False,
                opts=pulumi.ResourceOptions(parent=here),
            )
