"""Where an AWS region's nodes and pods live: its zones, the VPC's subnets, NAT routes, the
pod subnets of a grown VPC and the VPC CNI settings of its clusters. Pure decisions, tested
table-driven (tests/test_aws_decisions.py), split out of `components.aws.decisions` by job.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gpufleet.clouds.aws import VPC_CNI, private_subnets
from gpufleet.clouds.aws.ranges import POD_BLOCKS, VPC_CNI_GROWN
from gpufleet.errors import DecisionError
from gpufleet.specblocks import LOCAL_ZONE

# Regions whose 'a'/'b' zone names are not both offered to every account: the first two zones
# that are. Everything else uses '<region>a' and '<region>b' (no describe-AZs invoke at plan time).
AZ_SUFFIX_EXCEPTIONS: Mapping[str, tuple[str, ...]] = {
    "ap-northeast-1": ("a", "c"),  # ap-northeast-1b is closed to new accounts
    "us-west-1": ("b", "c"),  # accounts see two of us-west-1a/b/c; b and c are the common pair
}



def availability_zones(region: str, count: int = 2) -> tuple[str, ...]:
    """The zones the network spans, by name, without an AWS call (see AZ_SUFFIX_EXCEPTIONS)."""
    suffixes = AZ_SUFFIX_EXCEPTIONS.get(region, ("a", "b", "c"))
    if not 2 <= count <= len(suffixes):
        raise DecisionError(
            "clouds.aws.regions",
            f"{region}: {count} availability zones asked; between 2 and {len(suffixes)} are known",
        )
    return tuple(f"{region}{suffix}" for suffix in suffixes[:count])


@dataclass(frozen=True, slots=True)
class SubnetLayout:
    """CIDRs per zone: large private subnets for nodes and pods, small public ones for NAT."""

    private: Mapping[str, str]
    public: Mapping[str, str]


def subnet_layout(cidr: str, zones: Sequence[str]) -> SubnetLayout:
    """Split the VPC block: quarter i is zone i's private subnet; the last quarter holds the
    public subnets, each a sixteenth of it (a /16 gives /18 private and /24 public subnets)."""
    network = ipaddress.IPv4Network(cidr)
    if network.prefixlen > 20:
        raise DecisionError(
            "network.overrides", f"VPC block {cidr} is smaller than /20; give the region a /20 or larger"
        )
    if not 1 <= len(zones) <= 3:
        raise DecisionError("clouds.aws.regions", f"{len(zones)} zones for {cidr}; 1 to 3 fit the layout")
    private = private_subnets(network, len(zones))
    public = list(list(network.subnets(prefixlen_diff=2))[3].subnets(prefixlen_diff=4))
    return SubnetLayout(
        private={zone: str(private[i]) for i, zone in enumerate(zones)},
        public={zone: str(public[i]) for i, zone in enumerate(zones)},
    )


def addon_configuration(addon: str) -> str | None:
    """The add-on's `configurationValues` (JSON): the VPC CNI's address settings (VPC_CNI in
    gpufleet/clouds/aws/ranges.py, which the address plan and the address-capacity policy count
    on); the other add-ons keep their defaults. A grown VPC's cluster: `grown_cni_configuration`."""
    if addon != "vpc-cni":
        return None
    return json.dumps({"env": VPC_CNI.env()}, sort_keys=True)


def grown_cni_configuration(region: str, pod_subnets: Mapping[str, str], security_group: str) -> str:
    """The vpc-cni add-on's `configurationValues` in a grown VPC: custom networking
    (VPC_CNI_GROWN) and an ENIConfig per zone, named after the zone, that puts the pods in the
    cluster's pod subnet of that zone behind the cluster security group. The add-on creates
    the ENIConfigs (its configuration schema's `eniConfig.create/region/subnets`, the
    aws-vpc-cni chart's values: github.com/aws/amazon-vpc-cni-k8s, charts/aws-vpc-cni/
    values.yaml), so they exist before any node joins: a node without one gets no pod address
    (issues 264 and 884 there), and the in-cluster layer comes only in the second stage."""
    if not pod_subnets:
        raise DecisionError("network", f"{region}: a grown VPC's cluster needs a pod subnet per zone")
    return json.dumps({
        "env": VPC_CNI_GROWN.env(),
        "eniConfig": {
            "create": True,
            "region": region,
            "subnets": {
                zone: {"id": subnet, "securityGroups": [security_group]}
                for zone, subnet in sorted(pod_subnets.items())
            },
        },
    }, sort_keys=True)


def pod_subnet_layout(pod_blocks: Sequence[str], zones: Sequence[str]) -> dict[tuple[int, str], str]:
    """(cluster, zone) -> pod subnet of a grown VPC: each pod block is one cluster's subnet in
    one zone, in the order the address plan lists them (cluster by cluster, zone by zone); the
    subnet is the whole block (a /16 at most, as large as AWS allows)."""
    if len(pod_blocks) % len(zones):
        raise DecisionError("network", f"{len(pod_blocks)} pod blocks do not split over {len(zones)} zones")
    return {
        (i // len(zones) + 1, zones[i % len(zones)]): block for i, block in enumerate(pod_blocks)
    }


def nat_zones(zones: Sequence[str], count: int) -> tuple[str, ...]:
    """Zones that get a NAT gateway: the first `count` (one per zone for zonal resilience)."""
    if not 1 <= count <= len(zones):
        raise DecisionError(
            "clouds.aws.regions", f"{count} NAT gateways for {len(zones)} zones; 1 to {len(zones)} fit"
        )
    return tuple(zones[:count])


def nat_for_zone(zone: str, zones: Sequence[str], nats: Sequence[str]) -> str:
    """NAT zone a private subnet routes through: its own when it has one, else round robin."""
    return zone if zone in nats else nats[list(zones).index(zone) % len(nats)]


def node_zones(zones: Sequence[str], efa: bool) -> tuple[str, ...]:
    """Zones a node group spans: every zone, or only the first for EFA (a cluster placement
    group and EFA traffic stay inside one zone)."""
    return (zones[0],) if efa else tuple(zones)


# Where a rack-scale SKU's racks are when the spec names no zone: P6e-GB200 UltraServers are in
# the Dallas Local Zone only. "To use P6e-GB200 UltraServer Capacity Blocks, you must be opted in
# to the Dallas Local Zone" (docs.aws.amazon.com/AWSEC2/latest/UserGuide/capacity-blocks-launch.html);
# its name us-east-1-dfw-2a is secondary (../shared/catalog/frontier.md; describe-availability-zones
# listings show it as a local-zone of us-east-1 that needs opting in).
RACK_LOCAL_ZONES: Mapping[tuple[str, str], str] = {
    ("us-east-1", "p6e-gb200.36xlarge"): "us-east-1-dfw-2a",
}


def is_local_zone(region: str, zone: str) -> bool:
    """Whether `zone` names a Local Zone of `region` (its name: the region, a metro code, a
    number and a letter)."""
    return re.fullmatch(LOCAL_ZONE.format(region=re.escape(region)), zone) is not None


def rack_zone(region: str, instance_type: str, zones: Sequence[str]) -> str:
    """The one zone a rack-scale SKU's racks are in when no block names one: its documented
    Local Zone (RACK_LOCAL_ZONES), else the network's first zone (as for an EFA pool)."""
    return RACK_LOCAL_ZONES.get((region, instance_type), zones[0])


def local_zone_subnet(cidr: str, zones: Sequence[str]) -> str:
    """The private subnet of a region's Local Zone: the VPC's third quarter, the private subnet a
    third zone would take, which networks of two zones (ZONES_PER_REGION) leave free. So adding
    it moves no subnet, and it holds as many nodes as a zone's (a /16 gives a /18)."""
    if len(zones) > 2:
        raise DecisionError(
            "clouds.aws.regions", f"{cidr}: a network of {len(zones)} zones has no quarter free for a Local Zone"
        )
    network = ipaddress.IPv4Network(cidr)
    if network.prefixlen > 20:
        raise DecisionError(
            "network.overrides", f"VPC block {cidr} is smaller than /20; give the region a /20 or larger"
        )
    return str(private_subnets(network, 3)[2])


def local_zone_pod_block() -> str:
    """A grown VPC's pod block for its Local Zone's pods: the last of POD_SPACE's blocks, which
    the clusters' pod blocks (two per cluster from the first, at most 24 clusters within the
    quota of 50 CIDR blocks per VPC) never reach, so adding it moves none."""
    return str(POD_BLOCKS[-1])


def local_zone_of(region: str, zones: Iterable[str | None], *, grown: bool, clusters: int = 1) -> str | None:
    """The Local Zone the region's node groups (their `zones`, None: the network's) need a
    subnet in, at most one per network (`local_zone_subnet` has room for one). Opting in to it
    is the account's step (docs/frontier.md, "Local Zones"). In a grown VPC it also gets a pod
    subnet (`local_zone_pod_block`) for the first cluster only: refused for a second."""
    wanted = sorted({zone for zone in zones if zone is not None and is_local_zone(region, zone)})
    if not wanted:
        return None
    if len(wanted) > 1:
        raise DecisionError(
            "capacity.blocks", f"{region}: node groups in {len(wanted)} Local Zones ({', '.join(wanted)}); "
            "a network holds one Local Zone subnet: keep the region's racks and blocks in one of them",
        )
    if grown and clusters > 1:
        raise DecisionError(
            "network", f"{region}: the VPC is grown and holds {clusters} clusters; the Local Zone "
            f"{wanted[0]} has a pod subnet for the first cluster only; keep the region to one cluster",
        )
    return wanted[0]
