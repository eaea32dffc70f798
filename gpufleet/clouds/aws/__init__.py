"""AWS: quota buckets, fixed costs, system pool, address shape, resource types (the offline
engine's answers: mocks.py).

Rates are US-East list prices (other regions differ by a few percent), for planning, not
invoicing; each names the page it reflects.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from gpufleet.clouds.aws import ranges
from gpufleet.clouds.aws.mocks import MOCK_CALLS, mock_state
from gpufleet.clouds.aws.ranges import (
    NODE_GROUP,
    SUBNET_RESERVED,
    SYSTEM_ENI,
    UNKNOWN_ENI,
    VPC_CNI,
    VPC_PREFIXES,
    ZONES_PER_REGION,
    eni_figures,
    kubelet_max_pods,
    private_subnets,
)
from gpufleet.clouds.base import (
    AddressBlocks,
    CloudModel,
    DeclaredRange,
    FixedCost,
    LinkTraits,
    LocatedPackage,
    Network,
    NodeRange,
    StorageRate,
    SystemPool,
)
from gpufleet.clouds.capabilities import Capabilities, Reservation
from gpufleet.clouds.declared import DeclaredPool, DeclaredResource, MockArgs, ResidencyJudge, decoded
from gpufleet.clouds.declared import whole as _whole

if TYPE_CHECKING:
    from gpufleet.clouds.controls import SecurityControls

__all__ = [
    "NODE_GROUP", "SUBNET_RESERVED", "SYSTEM_ENI", "UNKNOWN_ENI", "VPC_CNI", "VPC_PREFIXES",
    "ZONES_PER_REGION", "Aws", "eni_figures", "kubelet_max_pods", "private_subnets",
]

# One NAT gateway per AZ, two AZs per region: the AWS network component creates exactly this many.
NAT_GATEWAYS_PER_REGION = 2
# A managed node group update first adds nodes (ranges.update_surge), at most this many per
# group with the layout's two zones.
UPDATE_SURGE_PER_GROUP = 2 * ZONES_PER_REGION

# Fixed slots of the supernet (gpufleet.ipam). APPEND, never reorder: a slot is an address block.
REGION_SLOTS: Mapping[str, int] = {
    region: slot for slot, region in enumerate((
        "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2",
        "ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2",
        "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
        "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1",
        "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1",
        "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1",
        "us-west-2",
    ))
}

# Resources that are global (not in any region): they pass the sovereignty check.
GLOBAL_TYPES = frozenset({
    "aws:iam/role:Role",
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
    "aws:iam/instanceProfile:InstanceProfile",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
    "aws:iam/serviceLinkedRole:ServiceLinkedRole",
    "aws:iam/user:User",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/group:Group",
    "aws:iam/groupPolicy:GroupPolicy",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:route53/zone:Zone",
    "aws:route53/record:Record",
    "aws:cloudfront/distribution:Distribution",
    "aws:organizations/policy:Policy",
})

_CODE = "fixed rate in gpufleet/clouds/aws/__init__.py"

# AWS's end of the fleet link (gpufleet/interconnect.py): a transit gateway per region, Site-to-
# Site VPN connections to the other cloud's gateways, TGW peering between AWS regions.
# Tunnel inside CIDR: "A size /30 CIDR block from the 169.254.0.0/16 range. The following CIDR
# blocks are reserved and cannot be used: 169.254.0.0/30, 169.254.1.0/30, 169.254.2.0/30,
# 169.254.3.0/30, 169.254.4.0/30, 169.254.5.0/30, 169.254.169.252/30"; pre-shared key:
# "alphanumeric characters, periods (.), and underscores (_). Must be between 8 and 64 characters
# in length and cannot start with zero (0)" (docs.aws.amazon.com/AWSCloudFormation/latest/
# UserGuide/aws-properties-ec2-vpnconnection-vpntunneloptionsspecification.html). The first
# address of a tunnel's /30 is AWS's, the second the customer gateway's.
# Rates, us-east-1 list prices as of 2025 from memory (verify): transit gateway attachment
# $0.05/hour and $0.02/GB processed (aws.amazon.com/transit-gateway/pricing); Site-to-Site VPN
# connection $0.05/hour (aws.amazon.com/vpn/pricing); data out to the internet $0.09/GB
# (aws.amazon.com/ec2/pricing/on-demand, first 10 TB).
TGW_ATTACHMENT_USD_PER_HOUR = 0.05
VPN_CONNECTION_USD_PER_HOUR = 0.05
VPN_CONNECTIONS_PER_PEER = 2  # one per gateway public IP of an active-active peer
_LINK_SOURCE = (
    f"{_CODE}: TGW attachment $0.05/h (aws.amazon.com/transit-gateway/pricing), VPN connection "
    "$0.05/h (aws.amazon.com/vpn/pricing); list prices as of 2025, verify"
)
LINK = LinkTraits(
    tunnel_endpoint=True,
    inside_ranges=(Network("169.254.0.0/16"),),
    inside_reserved=tuple(Network(c) for c in (
        "169.254.0.0/30", "169.254.1.0/30", "169.254.2.0/30", "169.254.3.0/30",
        "169.254.4.0/30", "169.254.5.0/30", "169.254.169.252/30",
    )),
    # Transit gateway amazon_side_asn: 64512-65534 or 4200000000-4294967294; none reserved.
    reserved_asns=frozenset(),
    same_cloud_path="transit gateway peering (static routes)",
    cross_cloud_path="transit gateway, 2 customer gateways, 2 VPN connections (4 tunnels, BGP)",
    usd_per_gb=0.02 + 0.09,
    usd_per_gb_source=(
        f"{_CODE}: TGW processing $0.02/GB + data out $0.09/GB, list prices as of 2025, verify "
        "(aws.amazon.com/transit-gateway/pricing, aws.amazon.com/ec2/pricing/on-demand)"
    ),
)
TGW_PEERING = "aws:ec2transitgateway/peeringAttachment:PeeringAttachment"
TGW_PEERING_ACCEPTER = "aws:ec2transitgateway/peeringAttachmentAccepter:PeeringAttachmentAccepter"
LAUNCH_TEMPLATES = frozenset({"aws:ec2/launchTemplate:LaunchTemplate"})

# The EKS system node group (CoreDNS, add-ons): min = desired, one node per availability zone;
# max leaves room for one surge during updates. The cluster component and the cost model both
# read it. https://aws.amazon.com/ec2/pricing/on-demand/ — m7i.large, Linux, on-demand,
# us-east-1: $0.1008 per hour. List price as of 2025, from memory: verify against the page.
SYSTEM_POOL = SystemPool(
    "m7i.large", min_nodes=2, max_nodes=4, usd_per_hour=0.1008,
    source=f"{_CODE}: $0.1008/h per node, list price as of 2025, verify (aws.amazon.com/ec2/pricing/on-demand)",
)
SYSTEM_ROOT_GIB = 50


class Aws(CloudModel):
    name = "aws"
    live_module = "gpufleet.clouds.aws.live"
    title = "AWS"
    packages = ("aws",)
    location_key = "region"
    region_slots = REGION_SLOTS
    tag_keys = ("gpufleet:fleet", "gpufleet:stack")
    tag_inheritance = "the provider's defaultTags"
    taggable_types = frozenset({
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:ec2/customerGateway:CustomerGateway",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/eip:Eip",
        "aws:ec2/flowLog:FlowLog",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/placementGroup:PlacementGroup",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/vpc:Vpc",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:ec2/vpnConnection:VpnConnection",
        "aws:ec2transitgateway/transitGateway:TransitGateway",
        "aws:ec2transitgateway/vpcAttachment:VpcAttachment",
        "aws:eks/addon:Addon",
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        "aws:iam/role:Role",
        "aws:kms/key:Key",
        "aws:s3/bucket:Bucket",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        TGW_PEERING,
        TGW_PEERING_ACCEPTER,
    })
    # Types whose schema has no `tags` input (pulumi-aws 7 / azure-native 3 API docs,
    # www.pulumi.com/registry/packages/{aws,azure-native}/api-docs/).
    untaggable_types = frozenset({
        "aws:autoscaling/tag:Tag",
        "aws:ebs/encryptionByDefault:EncryptionByDefault",
        "aws:ec2/route:Route",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation",
        "aws:ec2transitgateway/route:Route",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
    })
    # Input properties whose change makes pulumi-aws replace the resource (provider schema).
    replace_on_change: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix", "region"),
        "aws:ec2/vpc:Vpc": ("cidrBlock",),
        "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone", "vpcId"),
        "aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation": ("cidrBlock", "vpcId"),
        "aws:eks/cluster:Cluster": ("name", "encryptionConfig", "kubernetesNetworkConfig"),
        "aws:eks/nodeGroup:NodeGroup": (
            "instanceTypes", "amiType", "capacityType", "subnetIds", "nodeGroupName", "clusterName",
        ),
        "aws:kms/key:Key": ("customerMasterKeySpec", "keyUsage"),
        "aws:ec2transitgateway/transitGateway:TransitGateway": ("amazonSideAsn",),
        "aws:ec2/customerGateway:CustomerGateway": ("bgpAsn", "ipAddress", "type"),
        "aws:ec2/vpnConnection:VpnConnection": ("customerGatewayId", "transitGatewayId", "type"),
    }
    system_pool = SYSTEM_POOL
    capabilities = Capabilities(
        capacity_types=frozenset({"on-demand", "spot", "reserved"}),
        # A reserved pool runs in an EC2 Capacity Block for ML through its launch template's
        # capacity reservation target (components/aws/launch.py); ids are cr- and hex digits
        # (docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CapacityReservation.html).
        reservation=Reservation(r"cr-[0-9a-f]{8,17}", "an EC2 capacity block (cr-...)"),
        rdma_fabric="efa",
        # Graviton (g5g) and Grace (p6e-gb200) GPU SKUs run the EKS AL2023 ARM 64 NVIDIA AMI
        # (components/aws/decisions.py).
        arm64_gpu_nodes=True,
        # AL2023 EKS AMIs: NVIDIA on x86_64 and arm64, Neuron on x86_64 (botocore eks AMITypes).
        device_families=frozenset({"nvidia", "neuron"}),
        # Service Quotas count vCPUs per instance-family bucket, per region (L-417A185B, ...).
        quota_unit="vcpus",
        quota_scope="region",
        # "Each Region has at least three Availability Zones"
        # (docs.aws.amazon.com/global-infrastructure/latest/regions/aws-availability-zones.html);
        # an account may see fewer in its oldest regions. The layout uses two (ZONES_PER_REGION).
        zonal_regions=None,
        zones_per_region=3,
        notes={"mig": "EKS node groups have no MIG setting, and gpufleet does not install the GPU "
                      "Operator's MIG manager that would partition the GPUs"},
    )
    # EKS service quotas: "Public endpoint access CIDR ranges per cluster: 40", not adjustable
    # (docs.aws.amazon.com/eks/latest/userguide/service-quotas.html).
    api_allowlist_max = 40
    group_noun = "node group"
    # EKS service quotas (catalog/data/limits.csv, docs.aws.amazon.com/eks/latest/userguide/
    # service-quotas.html). EKS documents no nodes-per-cluster limit beyond these two quotas:
    # a cluster holds at most node_groups_per_cluster x nodes_per_node_group managed nodes.
    limit_keys: ClassVar[Mapping[str, str]] = {
        "nodes_per_group": "nodes_per_node_group",
        "groups_per_cluster": "node_groups_per_cluster",
        "clusters_per_region": "clusters_per_region",
        "blocks_per_network": "ipv4_cidr_blocks_per_vpc",  # growth's secondary blocks (ranges.py)
    }
    link = LINK
    # https://aws.amazon.com/s3/pricing/ — S3 Standard, first 50 TB/month: $0.023 per GB-month
    # (the first-tier rate for all volumes, so figures are an upper bound).
    storage_rate = StorageRate(0.023, "S3 Standard", f"{_CODE}: S3 Standard $0.023/GB-month, first-tier list price")
    mock_calls = MOCK_CALLS

    def fixed_costs(self) -> tuple[FixedCost, ...]:
        return (
            # https://aws.amazon.com/eks/pricing/ — EKS cluster on standard support: $0.10/hour.
            FixedCost("EKS control plane", 0.10, 1,
                      f"{_CODE}: $0.1/h (aws.amazon.com/eks/pricing)", "aws:eks/cluster:Cluster", per_cluster=True),
            # https://aws.amazon.com/vpc/pricing/ — NAT gateway $0.045 per gateway-hour in
            # us-east-1; data processing depends on traffic and is not estimated.
            FixedCost(f"NAT gateways ({NAT_GATEWAYS_PER_REGION})", 0.045, NAT_GATEWAYS_PER_REGION,
                      f"{_CODE}: $0.045/h per gateway, hours only (aws.amazon.com/vpc/pricing)",
                      "aws:ec2/natGateway:NatGateway"),
        )

    def link_costs(
        self, peers: int, same_cloud_peers: int, region: str | None = None, hub: str | None = None
    ) -> tuple[FixedCost, ...]:
        """The VPC's TGW attachment (a transit gateway has no size: `hub` is ignored); per peer of
        another cloud two VPN connections, each with its TGW attachment; per AWS peer this end of
        a TGW peering attachment (both ends counted)."""
        connections = VPN_CONNECTIONS_PER_PEER * peers
        return (
            FixedCost("link: TGW VPC attachment", TGW_ATTACHMENT_USD_PER_HOUR, 1, _LINK_SOURCE,
                      "aws:ec2transitgateway/vpcAttachment:VpcAttachment"),
            FixedCost(f"link: VPN connections ({connections}) + their TGW attachments",
                      VPN_CONNECTION_USD_PER_HOUR + TGW_ATTACHMENT_USD_PER_HOUR, connections,
                      _LINK_SOURCE, "aws:ec2/vpnConnection:VpnConnection"),
            FixedCost(f"link: TGW peering attachments ({same_cloud_peers})",
                      TGW_ATTACHMENT_USD_PER_HOUR, same_cloud_peers, _LINK_SOURCE, TGW_PEERING,
                      (TGW_PEERING_ACCEPTER,)),
        )

    storage_types = frozenset({"aws:s3/bucket:Bucket"})

    def declared_pools(self, resource: DeclaredResource) -> list[DeclaredPool]:
        """An EKS managed node group: its instance types (or its launch template's) and scaling."""
        if resource.type != NODE_GROUP:
            return []
        kinds = [k for k in resource.items("instanceTypes") if isinstance(k, str)]
        template = resource.linked("launchTemplate", LAUNCH_TEMPLATES) if not kinds else None
        if template is not None and isinstance(template.get("instanceType"), str):
            kinds = [template.get("instanceType")]
        most = _whole(resource.get("scalingConfig", "maxSize"))
        most = most if most is not None else _whole(resource.get("scalingConfig", "desiredSize"))
        capacity = resource.get("capacityType")
        cluster = resource.get("clusterName")
        return [DeclaredPool(
            resource.name, tuple(kinds), _whole(resource.get("scalingConfig", "minSize")) or 0, most or 0,
            isinstance(capacity, str) and capacity.upper() == "SPOT", resource.region(),
            cluster if isinstance(cluster, str) else None,
            isinstance(capacity, str) and capacity.upper() == "CAPACITY_BLOCK",
        )]

    largest_block_prefix = VPC_PREFIXES[0]
    growth = "custom networking (pods in 100.64.0.0/10 secondary blocks)"

    def address_blocks(
        self, slot: Network | None, override: Network | None, avoid: Iterable[Network] = ()
    ) -> AddressBlocks:
        """A VPC takes its whole slot; an override may stand in for a region without one."""
        cidr = override or slot
        if cidr is None:
            raise ValueError(
                "has no address slot (REGION_SLOTS in gpufleet/clouds/aws/__init__.py); append it there or "
                "give it a CIDR here"
            )
        if cidr.prefixlen not in VPC_PREFIXES:
            raise ValueError(f"{cidr} is a /{cidr.prefixlen}; an AWS VPC CIDR must be /16 to /28")
        return AddressBlocks(cidr)

    def grown_blocks(self, blocks: AddressBlocks, clusters: int) -> AddressBlocks | None:
        """The VPC with a /16 pod block per cluster and zone from 100.64.0.0/10 (`ranges`)."""
        return AddressBlocks(blocks.cidr, blocks.pod_cidr, ranges.pod_blocks(clusters))

    def clusters_in(self, blocks: AddressBlocks, cidr_blocks: int | None) -> int | None:
        """A grown VPC's clusters within its IPv4 CIDR block quota (`ipv4_cidr_blocks_per_vpc`:
        5 by default, so 2 clusters of 2 pod blocks each); a plain VPC: None."""
        return ranges.clusters_in(cidr_blocks) if blocks.pod_blocks and cidr_blocks is not None else None

    def pod_range_shortfall(self, prefix: int) -> str:
        return (
            f"a pod subnet would have to be a /{prefix}, and a VPC CIDR block is a /{VPC_PREFIXES[0]} at "
            "most: fewer nodes per cluster (more regions under clouds.aws.regions, max_share or pins)"
        )

    def node_ranges(self, blocks: AddressBlocks) -> tuple[NodeRange, ...]:
        """The private subnets and, in a grown VPC, its pod subnets (`ranges.node_ranges`)."""
        return ranges.node_ranges(blocks)

    def node_addresses(self, instance_type: str, node_range: NodeRange) -> int | None:
        """Under VPC_CNI every address of the node's one ENI; in a grown VPC one in its private
        subnet and its pod ENI's in its pod subnet (`ranges.node_addresses`)."""
        return ranges.node_addresses(instance_type, node_range)

    def declared_ranges(self, stack: Sequence[DeclaredResource]) -> list[DeclaredRange]:
        """Every subnet a node group launches into and, under custom networking, every pod
        subnet its zones' ENIConfigs name, with the nodes that may reach it (`ranges`)."""
        return ranges.declared_ranges(stack, self.declared_pools)

    surge_per_group = UPDATE_SURGE_PER_GROUP  # exact for two zones; one (rdma) surges 2

    def pool_surge(self, max_nodes: int) -> int:
        """Every node group of the pool (split at the per-group limit) surges on update."""
        groups = max(1, math.ceil(max_nodes / self.limit("nodes_per_node_group").value))
        return groups * UPDATE_SURGE_PER_GROUP

    def is_regional(self, resource_type: str, props: Mapping[str, Any]) -> bool:
        return resource_type not in GLOBAL_TYPES

    # aws-native resources have no region input: the provider's `region` (aws-native:region) is
    # where they are created (www.pulumi.com/registry/packages/aws-native/installation-configuration/).
    located_packages = (LocatedPackage(
        "aws-native", (), ("region",), "www.pulumi.com/registry/packages/aws-native/installation-configuration/",
    ),)
    # An EKS API server is https://<id>.<gr7|yl4|...>.<region>.eks.amazonaws.com
    # (docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html); `aws eks get-token ...
    # --region R` in an exec kubeconfig names the region too
    # (docs.aws.amazon.com/cli/latest/reference/eks/get-token.html).
    cluster_kind = "EKS"
    cluster_endpoints = (
        re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-\d+)\.eks\.amazonaws\.com"),
        re.compile(r"--region[\"',\s]+([a-z]{2}(?:-[a-z]+)+-\d+)"),
    )
    # The inputs that hold a resource's own name, where it is not `name` (pulumi-aws 7 schemas).
    own_name_keys: ClassVar[Mapping[str, str]] = {
        "aws:s3/bucket:Bucket": "bucket",
        "aws:s3/bucketV2:BucketV2": "bucket",
        "aws:ec2/launchTemplate:LaunchTemplate": "name",
    }

    def residency_findings(self, resource: DeclaredResource, judge: ResidencyJudge) -> Iterable[str]:
        from gpufleet.clouds.aws.residency import findings

        return findings(resource, judge)

    def inherited_tags(self, provider_props: Mapping[str, Any]) -> Mapping[str, Any]:
        """The provider's `defaultTags.tags` (the SDK sends provider inputs JSON-encoded)."""
        return decoded(decoded(provider_props.get("defaultTags")).get("tags"))

    def mock_state(self, args: MockArgs, state: dict[str, Any]) -> dict[str, Any]:
        return mock_state(args, state)

    def security_controls(self) -> SecurityControls:
        from gpufleet.clouds.aws.controls import CONTROLS

        return CONTROLS
