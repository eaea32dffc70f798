"""`gpufleet:k8s:GpuLayer`: one cluster's Kubernetes provider and its GPU software.

The provider is built from the cluster's kubeconfig output (a Pulumi secret, and marked secret
again in the provider's state); every release goes through it, so each lives where its cluster
lives and is located by the policies through that kubeconfig. A release that needs another's
CRDs or labels (`ReleasePlan.after`) depends on it, so the first install succeeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.agents import AGENT_NAMESPACE, daemon_set_spec, node_agents
from components.k8s.values import (
    GpuPoolTarget,
    ReleasePlan,
    SystemPlacement,
    infiniband_pools,
    nic_cluster_policy,
    releases,
)


@dataclass(frozen=True)
class GpuLayerArgs:
    context: str  # <fleet>-<cloud>-<region>: the kubeconfig context `gpufleet kubeconfig` writes
    region: str
    kubeconfig: pulumi.Input[str]
    targets: Sequence[GpuPoolTarget]
    system: SystemPlacement  # where helper Deployments run
    cluster_releases: Sequence[ReleasePlan] = field(default=())
    """Releases of the cluster itself (the EKS cluster autoscaler), installed with the GPU layer."""


class GpuLayer(pulumi.ComponentResource):
    """Device plugin + GFD, DCGM exporter, EFA or InfiniBand plugins and node agents on the GPU
    pools, helpers on the system pool; with no GPU pool, nothing (not even the provider)."""

    def __init__(
        self, name: str, args: GpuLayerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            "gpufleet:k8s:GpuLayer", name, {"context": args.context, "region": args.region}, opts
        )
        planned = releases(args.targets, args.system)
        installed: dict[str, k8s.helm.v3.Release] = {}
        self.provider: k8s.Provider | None = None
        """The cluster's provider (None without GPU pools): the dataset sync job uses it too."""
        if planned:
            provider = k8s.Provider(
                f"{name}-k8s",
                kubeconfig=pulumi.Output.secret(args.kubeconfig),
                enable_server_side_apply=True,
                opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["kubeconfig"]),
            )
            self.provider = provider
            for plan in [*planned, *args.cluster_releases]:  # `after` names an earlier key
                oci = plan.chart.repo.startswith("oci://")  # an OCI chart is named by its reference
                installed[plan.key] = k8s.helm.v3.Release(
                    f"{name}-{plan.key}",
                    name=plan.release,
                    chart=plan.chart.repo if oci else plan.chart.name,
                    version=plan.chart.version,
                    repository_opts=None if oci else {"repo": plan.chart.repo},
                    namespace=plan.chart.namespace,
                    create_namespace=plan.chart.namespace != "kube-system",
                    values=dict(plan.values),
                    atomic=True,  # helpers wait on the system pool, never on an empty GPU pool
                    opts=pulumi.ResourceOptions(
                        parent=self, provider=provider, depends_on=[installed[k] for k in plan.after],
                    ),
                )
            infiniband = infiniband_pools(args.targets)
            if infiniband:
                k8s.apiextensions.CustomResource(
                    f"{name}-nic-cluster-policy",
                    api_version="mellanox.com/v1alpha1",
                    kind="NicClusterPolicy",
                    metadata={"name": "nic-cluster-policy"},
                    spec=nic_cluster_policy(infiniband),
                    opts=pulumi.ResourceOptions(
                        parent=self, provider=provider,
                        depends_on=[installed["network-operator"]],
                    ),
                )
            for agent, pools in node_agents(args.targets):
                k8s.apps.v1.DaemonSet(
                    f"{name}-{agent.key}",
                    metadata={"name": agent.name, "namespace": AGENT_NAMESPACE},
                    spec=daemon_set_spec(agent, pools),  # pyright: ignore[reportArgumentType]
                    opts=pulumi.ResourceOptions(parent=self, provider=provider),
                )
        self.releases = {key: release.name for key, release in installed.items()}
        self.register_outputs({"releases": self.releases})


__all__ = ["GpuLayer", "GpuLayerArgs"]
