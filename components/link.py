"""The fleet link across clouds (`network.interconnect: vpn`, gpufleet/interconnect.py).

Each cloud's builder declares its hub in every region (AWS `TransitHub`, Azure `GatewayHub`, any
cloud's hub that keeps one of the two protocols below) and posts it on the `LinkBoard` by its
cloud's role in the plan's tunnels (`LinkTraits.role`): `endpoints` hand out tunnel endpoints
(AWS VPN connections), `gateways` terminate them on public IPs (Azure VPN gateways). Once every
cloud is declared, `wire` joins the hubs: a VPN pair (with secret pre-shared keys) between an
endpoint and a gateway, peering between two hubs of one role (the link planner refuses a pair of
two clouds of one role, so those are hubs of one cloud).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Protocol, Self

import pulumi
import pulumi_random as random

from gpufleet.plan import LinkPlan, LinkSite, TunnelPlan


class LinkEndpoint(Protocol):
    """A hub that hands out tunnel endpoints (an AWS transit gateway's VPN connections)."""

    def connect(
        self, gateway: LinkSite, gateway_ips: Sequence[pulumi.Output[str]],
        tunnels: Sequence[TunnelPlan], keys: Mapping[str, pulumi.Output[str]],
    ) -> Mapping[str, pulumi.Output[str]]:
        """One VPN connection per public IP of `gateway`, its tunnels on the plan's inside CIDRs
        with the given keys; every tunnel's outside address by tunnel key."""
        ...

    def peer(self, other: Self, /) -> None:
        """Join another region's hub of the same cloud."""
        ...


class LinkGateway(Protocol):
    """A hub that terminates tunnels on public IPs of its own (an Azure VPN gateway)."""

    @property
    def public_ips(self) -> Sequence[pulumi.Output[str]]: ...

    def connect(
        self, endpoint: LinkSite, tunnels: Sequence[TunnelPlan],
        outside: Mapping[str, pulumi.Output[str]], keys: Mapping[str, pulumi.Output[str]],
    ) -> None:
        """Per tunnel of `endpoint`'s pair, its end on this gateway (outside address, BGP peer)."""
        ...

    def peer(self, other: Self, /) -> None:
        """Join another region's hub of the same cloud."""
        ...

# Pre-shared keys: AWS allows alphanumerics, '.' and '_', 8-64 characters, not starting with '0'
# (docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-ec2-vpnconnection-
# vpntunneloptionsspecification.html); Azure takes any printable ASCII up to 128. The letter in
# front keeps a key from starting with '0'.
PSK_LENGTH = 40
PSK_SPECIAL = "._"
PSK_PREFIX = "k"


@dataclass
class LinkBoard:
    """The plan's link and the hubs the builders declared for it, by site key."""

    link: LinkPlan
    endpoints: dict[str, LinkEndpoint] = field(default_factory=dict[str, LinkEndpoint])
    gateways: dict[str, LinkGateway] = field(default_factory=dict[str, LinkGateway])

    def remote(self, site: str) -> dict[str, str]:
        """Every other site's CIDR, by key: what `site` routes over the link and admits."""
        return {s.key: s.cidr for s in self.link.sites if s.key != site}

    def wire(self, parent: pulumi.Resource) -> None:
        """VPN pairs between endpoints and gateways, peering within a role; sorted by key."""
        pairs = sorted({(t.endpoint, t.gateway) for t in self.link.tunnels})
        for endpoint, gateway in pairs:
            tunnels = self.link.tunnels_between(endpoint, gateway)
            keys = {t.key: preshared_key(t, parent) for t in tunnels}
            hub = self.gateways[gateway]
            outside = self.endpoints[endpoint].connect(
                self.link.site(gateway), hub.public_ips, tunnels, keys
            )
            hub.connect(self.link.site(endpoint), tunnels, outside, keys)
        for a, b in combinations(sorted(self.endpoints), 2):
            self.endpoints[a].peer(self.endpoints[b])
        for a, b in combinations(sorted(self.gateways), 2):
            self.gateways[a].peer(self.gateways[b])


def preshared_key(tunnel: TunnelPlan, parent: pulumi.Resource) -> pulumi.Output[str]:
    """A random key for one tunnel, shared by its two ends; a Pulumi secret throughout."""
    password = random.RandomPassword(
        f"link-{tunnel.key.replace('/', '-')}-psk",
        length=PSK_LENGTH,
        special=True,
        override_special=PSK_SPECIAL,
        min_lower=1,
        min_upper=1,
        min_numeric=1,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return pulumi.Output.secret(pulumi.Output.concat(PSK_PREFIX, password.result))
