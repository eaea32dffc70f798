"""The fleet link across clouds (`network.interconnect: vpn`, gpufleet/interconnect.py).

Each cloud's builder declares its hub in every region (AWS `TransitHub`, Azure `GatewayHub`) and
posts it on the `LinkBoard` by its role in the plan's tunnels: `endpoints` hand out tunnel
endpoints (AWS VPN connections), `gateways` terminate them on public IPs (Azure VPN gateways).
Once every cloud is declared, `wire` joins the hubs: a VPN pair (with secret pre-shared keys)
between an endpoint and a gateway, peering between two hubs of one role.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING

import pulumi
import pulumi_random as random

from gpufleet.plan import LinkPlan, TunnelPlan

if TYPE_CHECKING:
    from components.aws.vpn import TransitHub
    from components.azure.vpn import GatewayHub

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
    endpoints: dict[str, TransitHub] = field(default_factory=dict[str, "TransitHub"])
    gateways: dict[str, GatewayHub] = field(default_factory=dict[str, "GatewayHub"])

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
