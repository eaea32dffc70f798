"""`gpufleet:azure:GpuCluster`: a private AKS cluster with Entra ID auth and a small system pool.

The control plane runs as a user-assigned identity that holds Network Contributor on the VNet
(AKS must join its nodes and internal load balancers to a subnet it does not own); the role
assignment exists before the cluster is created. GPU pools are separate `GpuNodePool`s.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, containerservice, managedidentity

from components.azure import decisions
from components.azure.decisions import ServiceNetwork
from gpufleet.clouds.azure import SYSTEM_POOL


@dataclass(frozen=True)
class GpuClusterArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    cluster_name: str
    dns_prefix: str
    identity_name: str
    role_assignment_name: str
    admin_assignment_name: str
    vnet_id: pulumi.Input[str]
    node_subnet_id: pulumi.Input[str]
    pod_cidr: str
    service: ServiceNetwork
    tags: Mapping[str, str]
    authorized_ip_ranges: tuple[str, ...] = ()  # spec access.cidrs; empty: private cluster


def _decode_kubeconfig(result: containerservice.ListManagedClusterUserCredentialsResult) -> str:
    """The first kubeconfig AKS returns, its kubelogin user switched to the Azure CLI login."""
    return decisions.kubelogin_azurecli(base64.b64decode(result.kubeconfigs[0].value).decode())


class GpuCluster(pulumi.ComponentResource):
    """AKS: private API server (or a public one answering the spec's allowlist only), no local
    accounts, Entra ID + Azure RBAC, Cilium network policy."""

    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]

    def __init__(
        self, name: str, args: GpuClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gpufleet:azure:GpuCluster", name, {"location": args.location}, opts)
        tags = dict(args.tags)
        identity = managedidentity.UserAssignedIdentity(
            f"{name}-identity",
            resource_group_name=args.resource_group_name,
            location=args.location,
            resource_name_=args.identity_name,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        subscription_id = client.subscription_id
        network_role = authorization.RoleAssignment(
            f"{name}-network-contributor",
            role_assignment_name=args.role_assignment_name,
            scope=args.vnet_id,
            principal_id=identity.principal_id,
            principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
            role_definition_id=subscription_id.apply(
                lambda sub: decisions.role_definition_id(sub, decisions.NETWORK_CONTRIBUTOR_ROLE)
            ),
            description="AKS control plane joins nodes and load balancers to the fleet VNet",
            opts=pulumi.ResourceOptions(parent=self),
        )
        cluster = containerservice.ManagedCluster(
            f"{name}-aks",
            resource_group_name=args.resource_group_name,
            location=args.location,
            resource_name_=args.cluster_name,
            dns_prefix=args.dns_prefix,
            node_resource_group=decisions.node_resource_group(args.cluster_name),
            identity={
                "type": containerservice.ResourceIdentityType.USER_ASSIGNED,
                "user_assigned_identities": [identity.id],
            },
            sku={
                "name": containerservice.ManagedClusterSKUName.BASE,
                "tier": containerservice.ManagedClusterSKUTier.STANDARD,
            },
            enable_rbac=True,
            disable_local_accounts=True,
            aad_profile={"managed": True, "enable_azure_rbac": True},
            api_server_access_profile=decisions.api_server_access(args.authorized_ip_ranges),
            network_profile={
                "network_plugin": containerservice.NetworkPlugin.AZURE,
                "network_plugin_mode": containerservice.NetworkPluginMode.OVERLAY,
                "network_policy": containerservice.NetworkPolicy.CILIUM,
                "network_dataplane": containerservice.NetworkDataplane.CILIUM,
                "pod_cidr": args.pod_cidr,
                "service_cidr": args.service.cidr,
                "dns_service_ip": args.service.dns_service_ip,
                "load_balancer_sku": containerservice.LoadBalancerSku.STANDARD,
                "outbound_type": containerservice.OutboundType.LOAD_BALANCER,
            },
            oidc_issuer_profile={"enabled": True},
            security_profile={
                "workload_identity": {"enabled": True},
                "image_cleaner": {"enabled": True, "interval_hours": 168},
            },
            auto_upgrade_profile={
                "upgrade_channel": containerservice.UpgradeChannel.STABLE,
                "node_os_upgrade_channel": containerservice.NodeOSUpgradeChannel.NODE_IMAGE,
            },
            agent_pool_profiles=[
                {
                    "name": decisions.SYSTEM_POOL_NAME,
                    "mode": containerservice.AgentPoolMode.SYSTEM,
                    "vm_size": SYSTEM_POOL.instance_type,
                    "os_type": containerservice.OSType.LINUX,
                    "os_sku": containerservice.OSSKU.AZURE_LINUX,
                    "type": containerservice.AgentPoolType.VIRTUAL_MACHINE_SCALE_SETS,
                    "enable_auto_scaling": True,
                    "count": SYSTEM_POOL.min_nodes,
                    "min_count": SYSTEM_POOL.min_nodes,
                    "max_count": SYSTEM_POOL.max_nodes,
                    "node_taints": [decisions.SYSTEM_TAINT],
                    "enable_node_public_ip": False,
                    "vnet_subnet_id": args.node_subnet_id,
                    "tags": tags,
                }
            ],
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[network_role],
                # The system pool is fixed at creation; the autoscaler moves its count.
                ignore_changes=["agentPoolProfiles[0].count"],
            ),
        )
        # The deployer (whoever runs `pulumi up`) administers the cluster's Kubernetes API for the
        # second stage; declared in the first, as an assignment takes up to five minutes to reach
        # the API server (learn.microsoft.com/azure/aks/manage-azure-rbac).
        authorization.RoleAssignment(
            f"{name}-deployer-admin",
            role_assignment_name=args.admin_assignment_name,
            scope=cluster.id,
            principal_id=client.object_id,
            role_definition_id=subscription_id.apply(
                lambda sub: decisions.role_definition_id(sub, decisions.RBAC_CLUSTER_ADMIN_ROLE)
            ),
            description="gpufleet deployer: the in-cluster GPU layer (Azure RBAC, no local accounts)",
            opts=pulumi.ResourceOptions(parent=self),
        )
        for config in decisions.MAINTENANCE_CONFIGURATIONS:
            containerservice.MaintenanceConfiguration(
                f"{name}-{config}",
                resource_group_name=args.resource_group_name,
                resource_name_=cluster.name,
                config_name=config,
                maintenance_window=decisions.maintenance_window(),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.cluster_name = cluster.name
        # The zone AKS made for the private API server ("system"): the private FQDN's parent.
        self.private_zone: pulumi.Output[str] = cluster.private_fqdn.apply(
            lambda fqdn: fqdn.split(".", 1)[1] if fqdn and "." in fqdn else ""
        )
        # The service account token issuer (workload identity, and the sync job's AWS federation).
        self.oidc_issuer: pulumi.Output[str] = cluster.oidc_issuer_profile.apply(
            lambda profile: (profile.issuer_url or "") if profile else ""
        )
        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=args.resource_group_name,
            resource_name=cluster.name,
            format="exec",
            opts=pulumi.InvokeOutputOptions(parent=self, depends_on=[cluster]),
        )
        self.kubeconfig = pulumi.Output.secret(credentials.apply(_decode_kubeconfig))
        self.register_outputs({"clusterName": self.cluster_name, "kubeconfig": self.kubeconfig})
