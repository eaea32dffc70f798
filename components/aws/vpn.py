"""`gpufleet:aws:TransitHub`: AWS's end of the fleet link in one region (gpufleet/interconnect.py).

A transit gateway with BGP route propagation (its default route table learns the VPC by
propagation and the other cloud's networks over BGP), the VPC attached through its private
subnets, a route per remote network in every private route table, and ingress to the nodes from
exactly the fleet's remote networks. `connect` adds a VPN pair towards an active-active gateway
of another cloud; `peer` joins two regions' transit gateways. Every logical name derives from the
region or the pair (and tunnel) key, never a position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpufleet.clusters import cluster_suffix
from gpufleet.plan import LinkSite, TunnelPlan


@dataclass(frozen=True)
class TransitHubArgs:
    site: LinkSite
    remote: Mapping[str, str]  # remote site key -> its CIDR
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    route_table_ids: Mapping[str, pulumi.Input[str]]  # zone -> private route table
    node_security_group_ids: Sequence[pulumi.Input[str]]
    """Each cluster's security group in the region, the first cluster's first."""


def _slug(key: str) -> str:
    """A site or tunnel key as a logical-name part (`azure/swedencentral` -> `azure-swedencentral`)."""
    return key.replace("/", "-")


class TransitHub(pulumi.ComponentResource):
    """One region's transit gateway, VPC attachment, routes and link ingress rules."""

    transit_gateway_id: pulumi.Output[str]
    route_table_id: pulumi.Output[str]

    def __init__(self, name: str, args: TransitHubArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:aws:TransitHub", name, None, opts)
        self.name = name
        self.site = args.site
        child = pulumi.ResourceOptions(parent=self)
        tgw = aws.ec2transitgateway.TransitGateway(
            f"{name}-tgw",
            description=f"{name}: fleet link hub",
            amazon_side_asn=args.site.asn,
            default_route_table_association="enable",
            default_route_table_propagation="enable",
            auto_accept_shared_attachments="disable",
            dns_support="enable",
            vpn_ecmp_support="enable",
            tags={"Name": f"{name}-tgw"},
            opts=child,
        )
        attachment = aws.ec2transitgateway.VpcAttachment(
            f"{name}-tgw-vpc",
            transit_gateway_id=tgw.id,
            vpc_id=args.vpc_id,
            subnet_ids=list(args.subnet_ids),
            dns_support="enable",
            tags={"Name": f"{name}-tgw-vpc"},
            opts=child,
        )
        after_attachment = pulumi.ResourceOptions(parent=self, depends_on=[attachment])
        for remote, cidr in sorted(args.remote.items()):
            for zone, table in sorted(args.route_table_ids.items()):
                aws.ec2.Route(
                    f"{name}-{zone}-to-{_slug(remote)}",
                    route_table_id=table,
                    destination_cidr_block=cidr,
                    transit_gateway_id=tgw.id,
                    opts=after_attachment,
                )
            for index, group in enumerate(args.node_security_group_ids):
                rule = f"{name}{cluster_suffix(index)}-from-{_slug(remote)}"
                aws.vpc.SecurityGroupIngressRule(
                    rule,
                    security_group_id=group,
                    cidr_ipv4=cidr,
                    ip_protocol="-1",
                    description=f"fleet link: from {remote}",
                    tags={"Name": rule},
                    opts=child,
                )
        self.transit_gateway_id = tgw.id
        self.route_table_id = tgw.association_default_route_table_id
        self.register_outputs({"transitGatewayId": tgw.id, "asn": args.site.asn})

    def connect(
        self, gateway: LinkSite, gateway_ips: Sequence[pulumi.Output[str]],
        tunnels: Sequence[TunnelPlan], keys: Mapping[str, pulumi.Output[str]],
    ) -> dict[str, pulumi.Output[str]]:
        """A customer gateway per public IP of `gateway` and a VPN connection (two tunnels, BGP,
        the plan's inside CIDRs, the given secret pre-shared keys) to each; return every
        tunnel's outside address by tunnel key."""
        child = pulumi.ResourceOptions(parent=self)
        pair = f"{self.name}-to-{_slug(gateway.key)}"
        outside: dict[str, pulumi.Output[str]] = {}
        for connection, ip in enumerate(gateway_ips, start=1):
            mine = {t.tunnel: t for t in tunnels if t.connection == connection}
            customer = aws.ec2.CustomerGateway(
                f"{pair}-cgw{connection}",
                bgp_asn=str(gateway.asn),
                ip_address=ip,
                type="ipsec.1",
                tags={"Name": f"{pair}-cgw{connection}"},
                opts=child,
            )
            vpn = aws.ec2.VpnConnection(
                f"{pair}-vpn{connection}",
                customer_gateway_id=customer.id,
                transit_gateway_id=self.transit_gateway_id,
                type="ipsec.1",
                static_routes_only=False,
                tunnel1_inside_cidr=mine[1].inside_cidr,
                tunnel2_inside_cidr=mine[2].inside_cidr,
                tunnel1_preshared_key=keys[mine[1].key],
                tunnel2_preshared_key=keys[mine[2].key],
                tunnel1_ike_versions=["ikev2"],
                tunnel2_ike_versions=["ikev2"],
                tags={"Name": f"{pair}-vpn{connection}"},
                opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=[
                    "tunnel1PresharedKey", "tunnel2PresharedKey",
                ]),
            )
            outside[mine[1].key] = vpn.tunnel1_address
            outside[mine[2].key] = vpn.tunnel2_address
        return outside

    def peer(self, accepter: TransitHub) -> None:
        """Peer this transit gateway with `accepter`'s (another region, same account) and add a
        static route to the other VPC on each side (peering attachments do not propagate).
        The accepter's side is its child, so it runs with that region's provider."""
        pair = f"{self.name}-to-{_slug(accepter.site.key)}"
        peering = aws.ec2transitgateway.PeeringAttachment(
            f"{pair}-peering",
            transit_gateway_id=self.transit_gateway_id,
            peer_transit_gateway_id=accepter.transit_gateway_id,
            peer_region=accepter.site.region,
            tags={"Name": f"{pair}-peering"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        accepted = aws.ec2transitgateway.PeeringAttachmentAccepter(
            f"{pair}-peering",
            transit_gateway_attachment_id=peering.id,
            tags={"Name": f"{pair}-peering"},
            opts=pulumi.ResourceOptions(parent=accepter),
        )
        aws.ec2transitgateway.Route(
            f"{pair}-route",
            destination_cidr_block=accepter.site.cidr,
            transit_gateway_attachment_id=peering.id,
            transit_gateway_route_table_id=self.route_table_id,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[accepted]),
        )
        aws.ec2transitgateway.Route(
            f"{_slug(accepter.name)}-to-{_slug(self.site.key)}-route",
            destination_cidr_block=self.site.cidr,
            transit_gateway_attachment_id=accepted.id,
            transit_gateway_route_table_id=accepter.route_table_id,
            opts=pulumi.ResourceOptions(parent=accepter, depends_on=[accepted]),
        )
