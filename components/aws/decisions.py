"""Every AWS decision that is not a resource declaration: pure functions, tested table-driven.

Nothing here creates a resource or calls AWS. The SDK's `...ArgsDict` types are imported for type
checking only: at run time they are plain dicts, so this module stays import-light and pure.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.aws.efa import efa_interface_count
from components.k8s.devices import TAINT_VALUE, stack_for
from components.k8s.values import GpuPoolTarget, Taint
from gpufleet.catalog import Capacity, Sku
from gpufleet.catalog.names import logical_room
from gpufleet.clouds.aws import VPC_CNI, private_subnets
from gpufleet.errors import DecisionError

if TYPE_CHECKING:
    import pulumi
    from pulumi_aws.eks import ClusterVpcConfigArgsDict, NodeGroupTaintArgsDict

# -- limits and constants ------------------------------------------------------------------------

KUBERNETES_VERSION = "1.33"
NODE_GROUP_NAME_MAX = 63  # EKS: 1-63 characters
CLUSTER_NAME_MAX = 100  # EKS: 1-100 characters
# The longest logical names whose Pulumi autonames (+ '-' + 7 random hex) fit: IAM roles
# (64 characters) and S3 buckets (63), from catalog/data/name_rules.csv.
AUTONAMED_MAX = logical_room("iam_role", "aws")  # 56
BUCKET_LOGICAL_MAX = logical_room("s3_bucket", "aws")  # 55
CORE_ADDONS_BEFORE_NODES = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
CORE_ADDONS_AFTER_NODES = ("coredns",)
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator")
SYSTEM_LABELS = {"gpufleet.io/role": "system"}  # the system node group's (no taint)
GPU_TAINT_VALUE = TAINT_VALUE  # the key is the family's (components/k8s/devices.py)
GPU_TAINT_EFFECT = "NO_SCHEDULE"
MULTIPART_ABORT_DAYS = 7
LOG_RETENTION_DAYS = 365

# Regions whose 'a'/'b' zone names are not both offered to every account: the first two zones
# that are. Everything else uses '<region>a' and '<region>b' (no describe-AZs invoke at plan time).
AZ_SUFFIX_EXCEPTIONS: Mapping[str, tuple[str, ...]] = {
    "ap-northeast-1": ("a", "c"),  # ap-northeast-1b is closed to new accounts
    "us-west-1": ("b", "c"),  # accounts see two of us-west-1a/b/c; b and c are the common pair
}


# -- names ---------------------------------------------------------------------------------------


def slug(text: str) -> str:
    """Lowercase letters, digits and single dashes: safe in every AWS name and Pulumi URN."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")


def bounded(name: str, limit: int) -> str:
    """`name` if it fits in `limit`, else its head plus a short stable hash of the whole name."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: limit - 7].rstrip('-')}-{digest}"


def region_name(fleet: str, region: str) -> str:
    """Logical name of everything regional: provider and the network/cluster components."""
    return f"{fleet}-aws-{region}"


def placement_name(fleet: str, placement_key: str) -> str:
    """Logical name of a GPU node pool, from the placement's stable key (pool/cloud/region/SKU)."""
    return f"{fleet}-{slug(placement_key)}"


def storage_name(fleet: str, storage: str, region: str) -> str:
    """Logical name of a dataset bucket; short enough that Pulumi's autoname fits S3's 63."""
    return bounded(f"{fleet}-{storage}-{region}", BUCKET_LOGICAL_MAX)


def cluster_name(fleet: str, stack: str, region: str) -> str:
    """Physical EKS cluster name: unique per account and region across fleets and stacks."""
    return bounded(f"{fleet}-{stack}-{region}", CLUSTER_NAME_MAX)


def node_group_name(pool: str, instance_type: str, suffix: str = "") -> str:
    """Physical node group name (unique within its cluster, at most 63 characters); `suffix`
    (`-g2`, ...) names the extra groups of a placement split to fit (gpufleet.nodegroups) and
    is kept whole when the name is shortened."""
    return bounded(slug(f"{pool}-{instance_type}"), NODE_GROUP_NAME_MAX - len(suffix)) + suffix


# -- availability zones and addresses ------------------------------------------------------------


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
    gpufleet/clouds/aws/__init__.py, which the address plan and the address-capacity policy count on);
    the other add-ons keep their defaults."""
    if addon != "vpc-cni":
        return None
    return json.dumps({"env": VPC_CNI.env()}, sort_keys=True)


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


# -- node groups ---------------------------------------------------------------------------------

# EKS-optimised AL2023 accelerated AMIs per (device family, CPU architecture): botocore 1.44.8
# eks AMITypes (pulumi-aws 7.x NodeGroup.amiType takes the EKS API's values); AL2023_ARM_64_NVIDIA
# is the variant AWS recommends for P6e-GB200 (docs.aws.amazon.com/eks/latest/userguide/
# ml-eks-nvidia-ultraserver.html), AL2023_x86_64_NEURON carries the Neuron driver.
_AMI_TYPES: Mapping[tuple[str, str], str] = {
    ("nvidia", "x86_64"): "AL2023_x86_64_NVIDIA",
    ("nvidia", "arm64"): "AL2023_ARM_64_NVIDIA",
    ("neuron", "x86_64"): "AL2023_x86_64_NEURON",
}


def ami_type(sku: Sku) -> str:
    """EKS-optimised accelerated AMI for the SKU's device family and CPU architecture (Grace and
    Graviton SKUs are arm64)."""
    try:
        return _AMI_TYPES[(sku.family, sku.arch)]
    except KeyError:
        raise DecisionError(
            "pools",
            f"{sku.instance_type}: no EKS AMI for {sku.family} devices on '{sku.arch}'; "
            f"known: {', '.join(f'{f} on {a}' for f, a in sorted(_AMI_TYPES))}"
        ) from None


def capacity_type(capacity: Capacity, reservation_id: str | None) -> str:
    """EKS capacity type: a reserved pool with a capacity block id runs on CAPACITY_BLOCK; one
    without an id runs ON_DEMAND and draws on any open capacity reservation (see
    `capacity_reservation`)."""
    if capacity == "spot":
        return "SPOT"
    if capacity == "reserved" and reservation_id:
        return "CAPACITY_BLOCK"
    return "ON_DEMAND"


@dataclass(frozen=True, slots=True)
class CapacityReservation:
    """Launch-template settings for reserved capacity: market type and reservation target."""

    market_type: str | None
    preference: str | None
    reservation_id: str | None


NO_RESERVATION = CapacityReservation(None, None, None)


def capacity_reservation(capacity: Capacity, reservation_id: str | None) -> CapacityReservation:
    """Capacity blocks need market type 'capacity-block' and the block's id as the target;
    other reserved capacity uses open reservations; on-demand and spot set nothing."""
    if capacity == "reserved" and reservation_id:
        return CapacityReservation("capacity-block", None, reservation_id)
    if capacity == "reserved":
        return CapacityReservation(None, "open", None)
    return NO_RESERVATION


@dataclass(frozen=True, slots=True)
class Scaling:
    min_size: int
    max_size: int
    desired_size: int
    autoscaled: bool


def scaling(nodes: int, min_nodes: int | None) -> Scaling:
    """maxSize is the planned node count; minSize the autoscale floor (capped at the plan), or
    the plan itself for a fixed-size pool. Desired starts at minSize and is then left to the
    autoscaler (the component ignores later changes to it)."""
    if nodes < 1:
        raise DecisionError("pools", f"a node group needs at least one node (plan gives {nodes})")
    if min_nodes is None:
        return Scaling(nodes, nodes, nodes, autoscaled=False)
    low = min(max(min_nodes, 0), nodes)
    return Scaling(low, nodes, low, autoscaled=True)


def root_volume_gib(gpus: int) -> int:
    """Root volume for ML images (CUDA, frameworks, model layers): 200 GiB plus 50 per GPU
    beyond the first four, so an 8-GPU node gets 400 GiB."""
    return 200 + 50 * max(0, gpus - 4)


def gpu_taints(sku: Sku) -> list[NodeGroupTaintArgsDict]:
    """GPU nodes only run pods that tolerate their family's taint: `nvidia.com/gpu=true`,
    `aws.amazon.com/neuron=true` (NoSchedule; components/k8s/devices.py)."""
    return [{"key": stack_for(sku.family).taint_key, "value": GPU_TAINT_VALUE, "effect": GPU_TAINT_EFFECT}]


# EKS API taint effects -> Kubernetes spelling (docs.aws.amazon.com/eks/latest/APIReference/API_Taint.html).
TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute",
                 "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


def gpu_target_taints(sku: Sku) -> tuple[Taint, ...]:
    """`gpu_taints(sku)` in Kubernetes spelling (the layer's and the autoscaler's)."""
    return (Taint(stack_for(sku.family).taint_key, GPU_TAINT_VALUE, TAINT_EFFECTS[GPU_TAINT_EFFECT]),)


def gpu_target(pool: str, sku: Sku, interconnect: str) -> GpuPoolTarget:
    """The node group as the in-cluster layer sees it: its taints, and EFA when it has EFA
    interfaces; EKS has no managed MIG, so the device plugin's strategy stays none."""
    fabric = "efa" if efa_interface_count(sku, interconnect) else None
    return GpuPoolTarget(
        pool, gpu_target_taints(sku), "none", fabric, family=sku.family,
        instance_types=(sku.instance_type,), compute_domains=sku.multi_node_nvlink,
    )


def node_labels(fleet: str, pool: str, accelerator: str) -> dict[str, str]:
    """Kubernetes labels that let workloads select a pool or an accelerator."""
    return {
        "gpufleet.io/fleet": fleet,
        "gpufleet.io/pool": pool,
        "gpufleet.io/accelerator": accelerator,
    }


# -- documents (IAM, bucket and key policies) ----------------------------------------------------


def partition(region: str) -> str:
    """AWS partition of a region, for ARNs of AWS-managed policies."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def managed_policy_arn(region: str, name: str) -> str:
    return f"arn:{partition(region)}:iam::aws:policy/{name}"


CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEKS_CNI_Policy",
)


def assume_role_policy(service: str, actions: Sequence[str] = ("sts:AssumeRole",)) -> str:
    """Trust policy that lets one AWS service assume the role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": list(actions),
                }
            ],
        }
    )


def flow_logs_trust_policy(account_id: str) -> str:
    """VPC Flow Logs may assume the role only on behalf of this account (confused deputy)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                }
            ],
        }
    )


def flow_logs_policy(log_group_arn: str) -> str:
    """Write access to one log group, nothing else (the CloudWatch Logs flow-log role)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": [
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogGroups",
                        "logs:DescribeLogStreams",
                    ],
                    "Resource": [log_group_arn, f"{log_group_arn}:*"],
                }
            ],
        }
    )


def logs_key_policy(account_id: str, region: str) -> str:
    """KMS key policy: the account administers the key; CloudWatch Logs in this region may use
    it for log groups of this account only."""
    arn_partition = partition(region)
    log_groups = f"arn:{arn_partition}:logs:{region}:{account_id}:log-group:*"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{arn_partition}:iam::{account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "CloudWatchLogsEncrypts",
                    "Effect": "Allow",
                    "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                    "Action": [
                        "kms:Encrypt*",
                        "kms:Decrypt*",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:Describe*",
                    ],
                    "Resource": "*",
                    "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
                },
            ],
        }
    )


def tls_only_bucket_policy(bucket_arn: str) -> str:
    """Deny every request to the bucket and its objects that does not use TLS (S3.5)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def endpoint_access(
    subnet_ids: Sequence[pulumi.Input[str]], public_cidrs: Sequence[str]
) -> ClusterVpcConfigArgsDict:
    """The private endpoint always; the public one only with an allowlist (EKS.1: with no
    `publicAccessCidrs` EKS opens it to 0.0.0.0/0, so the list is always explicit)."""
    config: ClusterVpcConfigArgsDict = {
        "subnet_ids": list(subnet_ids),
        "endpoint_private_access": True,
        "endpoint_public_access": bool(public_cidrs),
    }
    if public_cidrs:
        config["public_access_cidrs"] = list(public_cidrs)
    return config


def kubeconfig(cluster: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig (JSON is YAML) that authenticates with `aws eks get-token`; no credential in it,
    but it is still exported as a secret: it names a private endpoint and a CA."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster,
                    "cluster": {"server": endpoint, "certificate-authority-data": ca_data},
                }
            ],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
            "current-context": cluster,
            "users": [
                {
                    "name": cluster,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": [
                                "eks",
                                "get-token",
                                "--cluster-name",
                                cluster,
                                "--region",
                                region,
                            ],
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        },
        indent=2,
    )
