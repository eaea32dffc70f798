"""The Kubernetes Cluster Autoscaler for EKS: what makes `autoscale:` pools grow and shrink.

EKS leaves node scaling to an autoscaler in the cluster; a managed node group only keeps the
desired size it is given. gpufleet installs the Cluster Autoscaler (chart pin in
components/k8s/charts.py; docs/deploy.md, "Autoscaling", says why not Karpenter) on the system
node group, finding the node groups by the tags EKS puts on their Auto Scaling groups
(`k8s.io/cluster-autoscaler/enabled`, `k8s.io/cluster-autoscaler/<cluster>`). Its AWS access
is an EKS Pod Identity association to a role only its service account in kube-system of this
cluster may assume, with the permissions of the autoscaler's documented policy
(kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/README.md, "Full Cluster
Autoscaler Features Policy", at tag cluster-autoscaler-1.33.0, 1959f5f6), scoped as that page
recommends: the two actions that change a group only on this cluster's Auto Scaling groups by
ARN, `eks:DescribeNodegroup` only on its node groups; the Describe actions that take no
resource stay on "*".

A group that may sit at zero nodes tells the autoscaler its labels, taints and EFA devices by
ASG tags `k8s.io/cluster-autoscaler/node-template/...` (same README, "Auto-Discovery Setup"):
the EKS API answers only for a group never scaled up yet, so after its first scale-down a
pending GPU pod would otherwise find no group to grow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws import decisions
from components.k8s import charts
from components.k8s.values import ReleasePlan, SystemPlacement, Taint

# A GPU node carries this label from boot, so the autoscaler waits for its device plugin instead
# of adding nodes again (README, "Special note on GPU instances", CA >= 1.15); EFA devices as
# the EFA plugin advertises them.
GPU_NODE_LABEL = "k8s.amazonaws.com/accelerator"
EFA_RESOURCE = "vpc.amazonaws.com/efa"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
RELEASE_KEY = "cluster-autoscaler"
TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
# Scaling a group (README, second statement of the full policy).
SCALING_ACTIONS = ("autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup")
# Reading groups, launch templates and instance types: these actions take no resource ARN.
DESCRIBE_ACTIONS = (
    "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
    "ec2:DescribeImages", "ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
)


def autoscaler_policy(region: str, account: str, cluster: str, groups: Sequence[str]) -> str:
    """The autoscaler's permissions, each action on the narrowest resource it takes."""
    arn = decisions.partition(region)
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Describe", "Effect": "Allow", "Action": list(DESCRIBE_ACTIONS), "Resource": "*"},
            {"Sid": "ScaleThisClustersGroups", "Effect": "Allow", "Action": list(SCALING_ACTIONS),
             "Resource": [
                 f"arn:{arn}:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/{group}"
                 for group in sorted(groups)
             ]},
            {"Sid": "ReadThisClustersNodeGroups", "Effect": "Allow", "Action": ["eks:DescribeNodegroup"],
             "Resource": [f"arn:{arn}:eks:{region}:{account}:nodegroup/{cluster}/*/*"]},
        ],
    })


def pod_identity_trust(cluster: str) -> str:
    """Only EKS Pod Identity, for the autoscaler's service account in kube-system of this
    cluster, may assume the role: the session tags Pod Identity sets, checked in the trust
    policy (EKS User Guide, "Create IAM role with trust policy required by EKS Pod Identity",
    pod-id-role.html, and its session tags, pod-id-abac.html)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {"StringEquals": {
                "aws:RequestTag/eks-cluster-name": cluster,
                "aws:RequestTag/kubernetes-namespace": NAMESPACE,
                "aws:RequestTag/kubernetes-service-account": SERVICE_ACCOUNT,
            }},
        }],
    })


def autoscaler_release(cluster: str, region: str, system: SystemPlacement) -> ReleasePlan:
    """The chart's values: AWS auto-discovery of this cluster's groups, our service account
    name (the Pod Identity association's), on the system node group; groups of one pool split
    at the per-group limit are balanced, and a scale-up picks the group that wastes least."""
    values: dict[str, Any] = {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster},
        "rbac": {"serviceAccount": {"create": True, "name": SERVICE_ACCOUNT}},
        "extraArgs": {"balance-similar-node-groups": True, "expander": "least-waste"},
        "extraEnv": {"AWS_STS_REGIONAL_ENDPOINTS": "regional"},
        **system.values(),
    }
    return ReleasePlan(RELEASE_KEY, charts.CLUSTER_AUTOSCALER, "cluster-autoscaler", values)


def gpu_node_labels(fleet: str, pool: str, accelerator: str, family: str) -> dict[str, str]:
    """The GPU node group's labels: the pool's, and on NVIDIA pools the accelerator label the
    autoscaler reads. Not on other families: the autoscaler's AWS provider reads that label as
    "wait for nvidia.com/gpu", which a Neuron or AMD node never advertises, so it would count the
    node unready for good (cluster-autoscaler/cloudprovider/aws/aws_cloud_provider.go: GPULabel,
    GetNodeGpuConfig through utils/gpu)."""
    labels = decisions.node_labels(fleet, pool, accelerator)
    return labels | {GPU_NODE_LABEL: f"nvidia-{accelerator.lower()}"} if family == "nvidia" else labels


def node_template_tags(
    labels: Mapping[str, str], taints: Sequence[Taint], resources: Mapping[str, int]
) -> dict[str, str]:
    """The ASG tags that describe a group's nodes while it has none (README, "Auto-Discovery
    Setup": label, taint `value:Effect`, and resources tags)."""
    tags = {f"{TEMPLATE}/label/{key}": value for key, value in labels.items()}
    tags |= {f"{TEMPLATE}/taint/{t.key}": f"{t.value}:{t.effect}" for t in taints}
    tags |= {f"{TEMPLATE}/resources/{name}": str(count) for name, count in resources.items()}
    return dict(sorted(tags.items()))


@dataclass(frozen=True)
class AutoscalerAccessArgs:
    region: str
    cluster_name: pulumi.Input[str]
    cluster: str  # the physical name, known from the plan
    group_names: Sequence[pulumi.Output[str]]  # every Auto Scaling group of the cluster


class AutoscalerAccess(pulumi.ComponentResource):
    """The autoscaler's role, its inline policy and the Pod Identity association."""

    def __init__(self, name: str, args: AutoscalerAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:aws:AutoscalerAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        role = aws.iam.Role(
            decisions.bounded(f"{name}-autoscaler", decisions.AUTONAMED_MAX),
            assume_role_policy=pod_identity_trust(args.cluster),
            description=f"{args.cluster}: Kubernetes Cluster Autoscaler (EKS Pod Identity)",
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-autoscaler",
            role=role.id,
            policy=pulumi.Output.all(account, *args.group_names).apply(
                lambda found: autoscaler_policy(args.region, found[0], args.cluster, found[1:])
            ),
            opts=child,
        )
        aws.eks.PodIdentityAssociation(
            f"{name}-autoscaler",
            cluster_name=args.cluster_name,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role_arn=role.arn,
            opts=child,
        )
        self.register_outputs({"roleArn": role.arn})
