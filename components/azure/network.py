"""`gpufleet:azure:Network`: the region's VNet, a node subnet and an endpoint subnet behind an NSG.

Pods do not take VNet addresses (AKS uses Azure CNI overlay with the plan's pod CIDR), so the
node subnet only needs one address per node. The NSG denies all inbound traffic from the
Internet explicitly, above Azure's defaults, and allows nothing from anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network, privatedns

from components.azure.decisions import SubnetLayout


@dataclass(frozen=True)
class NetworkArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    cidr: str
    subnets: SubnetLayout
    tags: Mapping[str, str]
    blob_private_dns: bool = False  # a private DNS zone for blob endpoints (storage in region)
    link_sources: tuple[str, ...] = ()  # the fleet link: CIDRs that may reach the nodes (own first)


BLOB_PRIVATE_ZONE = "privatelink.blob.core.windows.net"


def link_rules(sources: tuple[str, ...]) -> list[network.SecurityRuleArgs]:
    """With the fleet link: allow the load balancer's probes and inbound from exactly the
    fleet's CIDRs, then deny the rest of the `VirtualNetwork` tag, which would otherwise admit
    whatever the VPN gateway learns over BGP (Azure's default AllowVnetInBound). None without
    the link."""
    if not sources:
        return []
    return [
        # Health probes come from 168.63.129.16 (AzureLoadBalancer) and must not be blocked
        # (learn.microsoft.com/azure/virtual-network/what-is-ip-address-168-63-129-16); the deny
        # below names the VirtualNetwork tag, which also takes in the host's virtual IP.
        _inbound("allow-azure-load-balancer-inbound", 3999, "Load balancer health probes (168.63.129.16)",
                 network.SecurityRuleAccess.ALLOW, prefix="AzureLoadBalancer"),
        _inbound("allow-fleet-inbound", 4000, "The fleet's own networks, here and across the link",
                 network.SecurityRuleAccess.ALLOW, prefixes=list(sources)),
        _inbound("deny-other-vnet-inbound", 4001, "Nothing else the VPN gateway may learn over BGP",
                 network.SecurityRuleAccess.DENY, prefix="VirtualNetwork"),
    ]


def _inbound(
    name: str, priority: int, description: str, access: network.SecurityRuleAccess,
    *, prefixes: list[str] | None = None, prefix: str | None = None,
) -> network.SecurityRuleArgs:
    """An inbound rule for any protocol and port from `prefixes` (or the one `prefix`)."""
    return network.SecurityRuleArgs(
        name=name, priority=priority, description=description, access=access,
        direction=network.SecurityRuleDirection.INBOUND,
        protocol=network.SecurityRuleProtocol.ASTERISK,
        source_address_prefixes=prefixes, source_address_prefix=prefix, source_port_range="*",
        destination_address_prefix="*", destination_port_range="*",
    )


class Network(pulumi.ComponentResource):
    """VNet + NSG + node and endpoint subnets (both associated with the NSG)."""

    vnet_id: pulumi.Output[str]
    vnet_name: pulumi.Output[str]
    node_subnet_id: pulumi.Output[str]
    endpoint_subnet_id: pulumi.Output[str]
    last_subnet: network.Subnet  # a further subnet of the VNet waits for it (serialised writes)
    blob_dns_zone_id: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gpufleet:azure:Network", name, {"location": args.location}, opts)
        child = pulumi.ResourceOptions(parent=self)
        nsg = network.NetworkSecurityGroup(
            f"{name}-nsg",
            resource_group_name=args.resource_group_name,
            location=args.location,
            network_security_group_name="nsg-nodes",
            security_rules=[
                {
                    "name": "deny-internet-inbound",
                    "description": "No inbound traffic from the Internet (MCSB NS-1)",
                    "priority": 4096,
                    "direction": network.SecurityRuleDirection.INBOUND,
                    "access": network.SecurityRuleAccess.DENY,
                    "protocol": network.SecurityRuleProtocol.ASTERISK,
                    "source_address_prefix": "Internet",
                    "source_port_range": "*",
                    "destination_address_prefix": "*",
                    "destination_port_range": "*",
                },
                *link_rules(args.link_sources),
            ],
            tags=dict(args.tags),
            opts=child,
        )
        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            resource_group_name=args.resource_group_name,
            location=args.location,
            virtual_network_name="vnet",
            address_space={"address_prefixes": [args.cidr]},
            tags=dict(args.tags),
            opts=child,
        )
        nodes = network.Subnet(
            f"{name}-nodes",
            resource_group_name=args.resource_group_name,
            virtual_network_name=vnet.name,
            subnet_name="nodes",
            address_prefix=args.subnets.nodes,
            network_security_group={"id": nsg.id},
            default_outbound_access=False,
            opts=child,
        )
        # Azure serialises writes to one VNet: the second subnet waits for the first.
        endpoints = network.Subnet(
            f"{name}-endpoints",
            resource_group_name=args.resource_group_name,
            virtual_network_name=vnet.name,
            subnet_name="endpoints",
            address_prefix=args.subnets.endpoints,
            network_security_group={"id": nsg.id},
            default_outbound_access=False,
            private_endpoint_network_policies=network.VirtualNetworkPrivateEndpointNetworkPolicies.ENABLED,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[nodes]),
        )
        self.vnet_id = vnet.id
        self.vnet_name = vnet.name
        self.node_subnet_id = nodes.id
        self.endpoint_subnet_id = endpoints.id
        self.last_subnet = endpoints
        self.blob_dns_zone_id = None
        outputs: dict[str, pulumi.Output[str]] = {
            "vnetId": self.vnet_id,
            "vnetName": self.vnet_name,
            "nodeSubnetId": self.node_subnet_id,
            "endpointSubnetId": self.endpoint_subnet_id,
        }
        if args.blob_private_dns:
            # Storage accounts take no public traffic: nodes reach them by private endpoint, and
            # this zone makes `<account>.blob.core.windows.net` resolve to it inside the VNet.
            # Private DNS zones are global resources by Azure's design (no data in them).
            zone = privatedns.PrivateZone(
                f"{name}-blob-dns",
                resource_group_name=args.resource_group_name,
                private_zone_name=BLOB_PRIVATE_ZONE,
                location="global",
                tags=dict(args.tags),
                opts=child,
            )
            privatedns.VirtualNetworkLink(
                f"{name}-blob-dns-link",
                resource_group_name=args.resource_group_name,
                private_zone_name=zone.name,
                virtual_network_link_name="vnet",
                virtual_network={"id": vnet.id},
                registration_enabled=False,
                location="global",
                tags=dict(args.tags),
                opts=child,
            )
            self.blob_dns_zone_id = zone.id
            outputs["blobDnsZoneId"] = zone.id
        self.register_outputs(outputs)
