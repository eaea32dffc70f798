"""`gpufleet:aws:GpuCluster`: a private EKS cluster with access entries, a system node group and
the core add-ons; the GPU node pools join it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws import decisions
from components.aws.launch import LaunchTemplateSpec, node_launch_template
from gpufleet.clouds.aws import SYSTEM_POOL, SYSTEM_ROOT_GIB, kubelet_max_pods


@dataclass(frozen=True)
class GpuClusterArgs:
    region: str
    cluster_name: str
    subnet_ids: Sequence[pulumi.Input[str]]
    logs_key_arn: pulumi.Input[str]
    instance_tags: Mapping[str, str]  # the provider's default tags do not reach launched instances
    public_access_cidrs: tuple[str, ...] = ()  # spec access.cidrs; empty: private endpoint only


class GpuCluster(pulumi.ComponentResource):
    """IAM roles with only the AWS-managed policies EKS needs, a rotated KMS key for secrets,
    a cluster reachable from inside the VPC and, with an allowlist, from its CIDRs only (API,
    audit and authenticator logs on), API access entries (no aws-auth config map), a small
    non-GPU system node group, and vpc-cni, kube-proxy, eks-pod-identity-agent (before any
    node) and coredns (after the system nodes)."""

    name: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    node_prerequisites: list[pulumi.Resource]

    def __init__(
        self, name: str, args: GpuClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gpufleet:aws:GpuCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        cluster_role, cluster_attachments = self._role(
            f"{name}-cluster", "eks.amazonaws.com", policies=decisions.CLUSTER_POLICIES,
            description=f"{args.cluster_name}: EKS control plane", region=args.region,
            actions=("sts:AssumeRole", "sts:TagSession"),
        )
        node_role, node_attachments = self._role(
            f"{name}-node", "ec2.amazonaws.com", policies=decisions.NODE_POLICIES,
            description=f"{args.cluster_name}: EKS worker nodes", region=args.region,
        )

        secrets_key = aws.kms.Key(
            f"{name}-secrets",
            description=f"{args.cluster_name}: Kubernetes secrets envelope encryption",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=child,
        )
        control_plane_logs = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=f"/aws/eks/{args.cluster_name}/cluster",  # the group EKS writes to
            retention_in_days=decisions.LOG_RETENTION_DAYS,
            kms_key_id=args.logs_key_arn,
            opts=child,
        )
        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            role_arn=cluster_role.arn,
            version=decisions.KUBERNETES_VERSION,
            vpc_config=decisions.endpoint_access(args.subnet_ids, args.public_access_cidrs),
            access_config={
                "authentication_mode": "API",
                "bootstrap_cluster_creator_admin_permissions": True,
            },
            encryption_config={
                "provider": {"key_arn": secrets_key.arn},
                "resources": ["secrets"],
            },
            enabled_cluster_log_types=list(decisions.CONTROL_PLANE_LOG_TYPES),
            bootstrap_self_managed_addons=False,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*cluster_attachments, control_plane_logs]
            ),
        )

        early_addons = [
            aws.eks.Addon(
                f"{name}-{addon}",
                cluster_name=cluster.name,
                addon_name=addon,
                configuration_values=decisions.addon_configuration(addon),
                resolve_conflicts_on_create="OVERWRITE",
                # The program owns the settings it sets (the address plan counts on them).
                resolve_conflicts_on_update="OVERWRITE" if decisions.addon_configuration(addon) else "PRESERVE",
                opts=child,
            )
            for addon in decisions.CORE_ADDONS_BEFORE_NODES
        ]
        self.node_prerequisites = [*early_addons, *node_attachments]

        system_template = node_launch_template(
            f"{name}-system",
            LaunchTemplateSpec(
                root_gib=SYSTEM_ROOT_GIB, instance_tags=args.instance_tags,
                max_pods=kubelet_max_pods(SYSTEM_POOL.instance_type),
            ),
            child,
        )
        low, high = SYSTEM_POOL.min_nodes, SYSTEM_POOL.max_nodes
        system = aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=cluster.name,
            node_group_name="system",
            node_role_arn=node_role.arn,
            subnet_ids=list(args.subnet_ids),
            instance_types=[SYSTEM_POOL.instance_type],
            ami_type="AL2023_x86_64_STANDARD",
            capacity_type="ON_DEMAND",
            scaling_config={"min_size": low, "max_size": high, "desired_size": low},
            update_config={"max_unavailable": 1},
            launch_template={
                "id": system_template.id,
                "version": system_template.latest_version.apply(str),
            },
            labels=dict(decisions.SYSTEM_LABELS),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=self.node_prerequisites,
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )
        for addon in decisions.CORE_ADDONS_AFTER_NODES:
            aws.eks.Addon(
                f"{name}-{addon}",
                cluster_name=cluster.name,
                addon_name=addon,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="PRESERVE",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[system]),
            )

        self.name = cluster.name
        self.system_group_name: pulumi.Output[str] = system.resources.apply(
            lambda found: next((g.name for r in found or () for g in r.autoscaling_groups or () if g.name), "")
        )
        # The service account token issuer (IRSA, and the sync job's Azure federation).
        self.oidc_issuer: pulumi.Output[str] = cluster.identities.apply(
            lambda ids: ids[0].oidcs[0].issuer if ids and ids[0].oidcs and ids[0].oidcs[0].issuer else ""
        )
        self.node_role_arn = node_role.arn
        self.cluster_security_group_id = cluster.vpc_config.apply(
            lambda config: config.cluster_security_group_id or ""
        )
        region = args.region
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                cluster.name,
                cluster.endpoint,
                cluster.certificate_authority.apply(lambda ca: ca.data or ""),
            ).apply(lambda parts: decisions.kubeconfig(parts[0], parts[1], parts[2], region))
        )
        self.register_outputs(
            {
                "name": self.name,
                "nodeRoleArn": self.node_role_arn,
                "clusterSecurityGroupId": self.cluster_security_group_id,
                "kubeconfig": self.kubeconfig,
            }
        )

    def _role(
        self, name: str, service: str, *, policies: Sequence[str], description: str, region: str,
        actions: Sequence[str] = ("sts:AssumeRole",),
    ) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
        """A role that `service` assumes, with only the named AWS-managed policies attached."""
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            decisions.bounded(name, decisions.AUTONAMED_MAX),
            assume_role_policy=decisions.assume_role_policy(service, actions),
            description=description,
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-{policy}",
                role=role.name,
                policy_arn=decisions.managed_policy_arn(region, policy),
                opts=child,
            )
            for policy in policies
        ]
        return role, attachments
