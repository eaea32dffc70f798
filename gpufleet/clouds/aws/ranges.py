"""AWS's address layout and arithmetic: the private subnets of a VPC, the pod blocks a grown VPC
adds (EKS custom networking), the addresses a node takes from each under the program's VPC CNI
settings, and the ranges a stack declares with the nodes that reach them (address-capacity).
The model (gpufleet/clouds/aws/__init__.py) answers the address members from here.

Growth (docs/design.md, "Region-scale networks"): a VPC holds at most a /16 of the supernet, and
under the plain VPC CNI every pod address comes from the node's subnet, so a region's nodes run
out of addresses long before its clusters do (a /16 VPC holds about 320 p5.48xlarge). A grown
VPC adds secondary CIDR blocks from 100.64.0.0/10 and EKS custom networking puts the pods there:
each cluster gets one /16 per zone, named by an ENIConfig per zone, and its nodes keep one
address of their own in the private subnets. The pod blocks are private to their VPC (pods reach
other networks through their node's address, which the link routes; the link never advertises
them, components/aws/vpn.py), so every VPC reuses the same blocks, and they move nothing of the
slot: growth only adds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

from gpufleet.clouds.aws.vpccni import (
    DEFAULT_VPC_CNI,
    EniLimits,
    VpcCniSettings,
    eni_limits,
    max_pods,
    most_node_addresses,
    node_subnet_addresses,
    pod_subnet_addresses,
)
from gpufleet.clouds.base import AddressBlocks, DeclaredRange, Network, NodeRange
from gpufleet.clouds.declared import DeclaredPool, DeclaredResource, decoded
from gpufleet.clouds.declared import whole as _whole

# AWS allows VPC CIDRs of /16 to /28 (docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html).
VPC_PREFIXES = range(16, 29)
ZONES_PER_REGION = 2
# Every subnet keeps its first four and its last address (ec2 CreateSubnet documentation).
SUBNET_RESERVED = 5

# The VPC CNI on every node (the EKS cluster component sets it on the vpc-cni add-on's env):
# at most one ENI per node (MAX_ENI), so a node holds at most that ENI's addresses whatever
# runs on it (49 pods on a p5.48xlarge, 9 on a g4dn.xlarge, one GPU pod each plus daemon
# sets); a small warm pool (WARM_IP_TARGET/MINIMUM_IP_TARGET) instead of a whole warm ENI.
# Settings: github.com/aws/amazon-vpc-cni-k8s README ("MAX_ENI") and docs/eni-and-ip-target.md;
# all three are keys of the add-on's configuration schema (`aws eks
# describe-addon-configuration --addon-name vpc-cni`, env.MAX_ENI/WARM_IP_TARGET/MINIMUM_IP_TARGET).
VPC_CNI = VpcCniSettings(warm_ip_target=2, minimum_ip_target=10, max_eni=1)
# A grown VPC's clusters: custom networking, and one ENI for pods besides the primary (which
# holds no pod there), so a node holds as many pods as under VPC_CNI, plus one
# (`vpccni.max_pods`), and takes one address in its private subnet.
VPC_CNI_GROWN = VpcCniSettings(warm_ip_target=2, minimum_ip_target=10, max_eni=2, custom_networking=True)

# The pod blocks of a grown VPC: /16s of 100.64.0.0/10, which AWS allows as a secondary CIDR
# block of a VPC whose primary block is in RFC 1918 ("IPv4 CIDR block association
# restrictions", docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html) and which the
# EKS guide recommends for custom networking (docs.aws.amazon.com/eks/latest/userguide/
# cni-custom-network.html); a /16 is the largest CIDR block and subnet AWS takes. Block i is
# cluster i // ZONES_PER_REGION's pod subnet in zone i % ZONES_PER_REGION: fixed places, so a
# cluster added later moves no block. Every block counts against the VPC's IPv4 CIDR blocks
# (limits.csv ipv4_cidr_blocks_per_vpc: 5 with the primary, raisable to 50).
POD_SPACE = Network("100.64.0.0/10")
POD_BLOCK_PREFIX = 16
POD_BLOCKS = tuple(POD_SPACE.subnets(new_prefix=POD_BLOCK_PREFIX))

# The system node group's instance type is not a GPU SKU, so it is not in eni_limits.csv:
# m7i.large takes 3 ENIs of 10 IPv4 addresses (amazon-vpc-resource-controller-k8s
# pkg/aws/vpc/limits.go, as quoted by secondary sources; not confirmed offline).
SYSTEM_ENI = EniLimits(
    "m7i.large", max_enis=3, ipv4_per_eni=10, network_cards=1, eks_max_pods=29,
    source="https://github.com/aws/amazon-vpc-resource-controller-k8s/blob/master/pkg/aws/vpc/limits.go",
    confidence="secondary", notes="quoted, not confirmed offline",
)


def private_subnets(vpc: Network, zones: int) -> list[Network]:
    """The private (node and pod) subnets of a VPC: quarter i for zone i; the last quarter is
    left for the small public subnets. A function of the block alone, so growth moves nothing."""
    if not 1 <= zones <= 3:
        raise ValueError(f"{zones} zones for {vpc}; 1 to 3 fit the layout")
    return list(vpc.subnets(prefixlen_diff=2))[:zones]


# A type without a row (a SKU the spec declares, a type another program declares) counts at
# the most any EC2 type holds on its default card: 24 ENIs and 64 IPv4 addresses per ENI are the
# maxima of both columns over the 1,391 types of amazon-vpc-cni-k8s vpc_ip_resource_limit.go at
# b5218838 (c8a.48xlarge, x8i.48xlarge), so no subnet is planned or judged short for want of them.
UNKNOWN_ENI = EniLimits(
    "(not in eni_limits.csv)", max_enis=24, ipv4_per_eni=64, network_cards=None, eks_max_pods=1514,
    source="https://github.com/aws/amazon-vpc-cni-k8s/blob/b52188387f2e2f10bf289ace929d6a63b176a4fa/pkg/vpc/vpc_ip_resource_limit.go",
    confidence="unconfirmed", notes="the most ENIs and IPv4 per ENI of any instance type there",
)


def _known_eni(instance_type: str) -> EniLimits | None:
    """ENI figures of a GPU SKU (eni_limits.csv) or of the system node group's type."""
    return SYSTEM_ENI if instance_type == SYSTEM_ENI.instance_type else eni_limits(instance_type)


def eni_figures(instance_type: str) -> EniLimits:
    """ENI figures of a GPU SKU, of the system node group's type, or for any other type the most
    any EC2 type holds (UNKNOWN_ENI): an upper bound for address planning."""
    return _known_eni(instance_type) or replace(UNKNOWN_ENI, instance_type=instance_type)


def cni_settings(grown: bool) -> VpcCniSettings:
    """The VPC CNI settings of a cluster in a grown VPC or in a plain one."""
    return VPC_CNI_GROWN if grown else VPC_CNI


def kubelet_max_pods(instance_type: str, grown: bool = False) -> int | None:
    """The kubelet's max pods under the cluster's VPC CNI settings (launch template user data);
    None where the type's ENI figures are unknown (a SKU the spec declares: UNKNOWN_ENI is an
    upper bound for address planning, never a max pods to promise the kubelet)."""
    eni = _known_eni(instance_type)
    cni = cni_settings(grown)
    return max_pods(eni, cni.max_eni, cni.custom_networking) if eni is not None else None


def describe(cni: VpcCniSettings) -> str:
    """The settings as the add-on's env spells them, for messages."""
    return "VPC CNI " + " ".join(f"{k}={v}" for k, v in sorted(cni.env().items()))


def pod_blocks(clusters: int) -> tuple[Network, ...]:
    """The pod blocks of a VPC with `clusters` clusters (ZONES_PER_REGION per cluster)."""
    most = len(POD_BLOCKS) // ZONES_PER_REGION
    if not 1 <= clusters <= most:
        raise ValueError(f"{clusters} clusters in one VPC; 1 to {most} fit 100.64.0.0/10")
    return POD_BLOCKS[: clusters * ZONES_PER_REGION]


def pod_block_cluster(block: Network) -> tuple[int, int]:
    """(cluster, zone) of a pod block, both counted from 1."""
    index = POD_BLOCKS.index(block)
    return index // ZONES_PER_REGION + 1, index % ZONES_PER_REGION + 1


def node_ranges(blocks: AddressBlocks) -> tuple[NodeRange, ...]:
    """The private subnets (nodes and their pods, or in a grown VPC nodes only) and a grown
    VPC's pod subnets, one per cluster and zone."""
    if blocks.cidr.prefixlen > 20:
        return ()  # the layout refuses such a VPC (components.aws.decisions.subnet_layout)
    grown = bool(blocks.pod_blocks)
    ranges = [
        NodeRange(f"private subnet {i + 1}", subnet, SUBNET_RESERVED, 2, 2, pods_elsewhere=grown)
        for i, subnet in enumerate(private_subnets(blocks.cidr, ZONES_PER_REGION))
    ]
    for block in blocks.pod_blocks:
        cluster, zone = pod_block_cluster(block)
        label = f"pod subnet {zone}" + (f" of cluster c{cluster}" if cluster > 1 else "")
        ranges.append(NodeRange(
            label, block, SUBNET_RESERVED, None, None, pods=True, per_cluster=True, cluster=cluster - 1
        ))
    return tuple(ranges)


def node_addresses(instance_type: str, node_range: NodeRange) -> int | None:
    """Addresses one node of the type holds at most in the range: under VPC_CNI every address
    of its one ENI; in a grown VPC one in its private subnet and its pod ENI's in its pod subnet."""
    eni = eni_figures(instance_type)
    if node_range.pods:
        return pod_subnet_addresses(eni, VPC_CNI_GROWN)
    if node_range.pods_elsewhere:
        return node_subnet_addresses(eni, VPC_CNI_GROWN)
    return most_node_addresses(eni, VPC_CNI)


def update_surge(zones: int, max_unavailable: int) -> int:
    """Nodes a managed node group update adds above its maximum: "the larger of up to twice the
    number of Availability Zones the Auto Scaling group is deployed in, or the maximum
    unavailability" (docs.aws.amazon.com/eks/latest/userguide/managed-node-update-behavior.html)."""
    return max(2 * zones, max_unavailable)


NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
SUBNETS = frozenset({"aws:ec2/subnet:Subnet"})
VPCS = frozenset({"aws:ec2/vpc:Vpc"})
ADDON = "aws:eks/addon:Addon"

Needs = dict[str, tuple[DeclaredResource, list[tuple[int, int | None]], set[str]]]


def declared_ranges(
    stack: Sequence[DeclaredResource], pools_of: Callable[[DeclaredResource], list[DeclaredPool]]
) -> list[DeclaredRange]:
    """Every subnet a node group launches into, with every group that may put all its nodes
    in it (an Auto Scaling group fills any of its zones when another is short), each node
    counted at the most addresses its cluster's VPC CNI settings let it hold; under custom
    networking also the pod subnet each zone's ENIConfig names (the vpc-cni add-on's
    `eniConfig.subnets`), with every group that has a subnet in that zone."""
    addons = {
        r.get("clusterName"): decoded(r.get("configurationValues"))
        for r in stack if r.type == ADDON and r.get("addonName") == "vpc-cni"
    }
    needs: Needs = {}
    for group in (r for r in stack if r.type == NODE_GROUP):
        config = addons.get(group.get("clusterName"), {})
        cni = VpcCniSettings.from_env(decoded(config.get("env"))) if config else DEFAULT_VPC_CNI
        subnets = group.linked_each("subnetIds", SUBNETS)
        surge = update_surge(len(subnets), _whole(group.get("updateConfig", "maxUnavailable")) or 1)
        pod_subnets = _eni_config_subnets(group, config) if cni.custom_networking else {}
        for pool in pools_of(group):
            eni = eni_figures(pool.instance_types[0]) if len(pool.instance_types) == 1 else None
            per_node = node_subnet_addresses(eni, cni) if eni is not None else None
            per_pod_node = pod_subnet_addresses(eni, cni) if eni is not None else None
            for subnet in subnets:
                _add(needs, subnet, (pool.max_nodes + surge, per_node), describe(cni))
                pods = pod_subnets.get(subnet.get("availabilityZone"))
                if pods is not None:
                    _add(needs, pods, (pool.max_nodes + surge, per_pod_node), describe(cni))
    found: list[DeclaredRange] = []
    for subnet, pools, cnis in needs.values():
        cidr = subnet.get("cidrBlock")
        if not isinstance(cidr, str):
            continue
        found.append(DeclaredRange(
            subnet, subnet.region(), _declared_range(subnet, Network(cidr, strict=False)),
            tuple(pools), "; ".join(sorted(cnis)),
        ))
    return found


def _add(needs: Needs, subnet: DeclaredResource, need: tuple[int, int | None], cni: str) -> None:
    entry = needs.setdefault(subnet.urn, (subnet, [], set()))
    entry[1].append(need)
    entry[2].add(cni)


def _eni_config_subnets(group: DeclaredResource, config: object) -> dict[object, DeclaredResource]:
    """Zone -> the pod subnet the cluster's ENIConfig for that zone names (the add-on's
    `eniConfig.subnets`, keyed by zone: ENI_CONFIG_LABEL_DEF is the zone label)."""
    subnets = decoded(decoded(decoded(config).get("eniConfig")).get("subnets"))
    found: dict[object, DeclaredResource] = {}
    for zone, entry in subnets.items():
        subnet = group.refers(decoded(entry).get("id"), SUBNETS)
        if subnet is not None:
            found[zone] = subnet
    return found


def _declared_range(subnet: DeclaredResource, cidr: Network) -> NodeRange:
    """The layout's range for the subnet when its VPC follows the layout (so a shortfall can
    name the block size); else the subnet as it is."""
    vpc = subnet.linked("vpcId", VPCS)
    block = vpc.get("cidrBlock") if vpc is not None else None
    if isinstance(block, str):
        grown = AddressBlocks(Network(block, strict=False), pod_blocks=POD_BLOCKS)
        for known in node_ranges(grown):
            if known.cidr == cidr:
                return known
    return NodeRange(f"subnet {subnet.name}", cidr, SUBNET_RESERVED, None, None)


def clusters_in(cidr_blocks: int) -> int:
    """The most clusters a grown VPC holds within its IPv4 CIDR block quota (the primary block
    and ZONES_PER_REGION pod blocks per cluster)."""
    return max(0, math.floor((cidr_blocks - 1) / ZONES_PER_REGION))
