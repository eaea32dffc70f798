"""GPU node pools as the engine reports them: EKS managed node groups and AKS agent pools at
their maximum size, with the region and quota bucket each draws on.

Shared by the quota and budget policies, so both count the same nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pulumi_policy import PolicyResource

from gpufleet.catalog import Catalog, Sku
from gpufleet.policy.links import depends_on, find
from gpufleet.policy.props import aws_region, azure_location, get, items, number, text

EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
EC2_LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AKS_AGENT_POOL = "azure-native:containerservice:AgentPool"
AKS_CLUSTER = "azure-native:containerservice:ManagedCluster"
AZURE_RESOURCE_GROUP = "azure-native:resources:ResourceGroup"
_TEMPLATE = frozenset({EC2_LAUNCH_TEMPLATE})
_CLUSTER = frozenset({AKS_CLUSTER})
_GROUP = frozenset({AZURE_RESOURCE_GROUP})

@dataclass(frozen=True, slots=True)
class GpuPool:
    """One node group / agent pool of a GPU SKU, at its maximum node count."""

    urn: str
    name: str
    resource_type: str
    cloud: str
    region: str | None
    sku: Sku
    nodes: int
    spot: bool

    @property
    def vcpus(self) -> int:
        return self.nodes * self.sku.vcpus

    @property
    def bucket(self) -> str:
        return self.sku.bucket_for("spot" if self.spot else "on-demand")

    def label(self) -> str:
        return f"{self.name} ({self.sku.instance_type} x {self.nodes})"


def _largest_gpu_sku(catalog: Catalog, cloud: str, instance_types: Iterable[object]) -> Sku | None:
    skus = [catalog.sku(cloud, t) for t in instance_types if isinstance(t, str)]
    gpus = [s for s in skus if s is not None and s.gpus > 0]
    return max(gpus, key=lambda s: (s.vcpus, s.instance_type)) if gpus else None


def _node_group(
    resource: PolicyResource, resources: Sequence[PolicyResource], catalog: Catalog
) -> GpuPool | None:
    types = items(get(resource.props, "instanceTypes"))
    if not types:
        template = depends_on(resource, "launchTemplate", _TEMPLATE)
        reference = get(resource.props, "launchTemplate")
        for key in ("name", "id"):
            template = template or find(get(reference, key), resources, _TEMPLATE)
        if template is not None:
            types = [get(template.props, "instanceType")]
    sku = _largest_gpu_sku(catalog, "aws", types)
    if sku is None:
        return None
    scaling = get(resource.props, "scalingConfig")
    nodes = number(get(scaling, "maxSize"))
    nodes = nodes if nodes is not None else number(get(scaling, "desiredSize"))
    capacity = text(get(resource.props, "capacityType")) or "ON_DEMAND"
    return GpuPool(
        resource.urn, resource.name, resource.resource_type, "aws",
        aws_region(resource.props, resource.provider), sku, int(nodes or 0),
        capacity.upper() == "SPOT",
    )


def agent_pool_location(
    resource: PolicyResource, resources: Sequence[PolicyResource]
) -> str | None:
    """An agent pool has no location: its cluster's, found through the parent chain, the
    cluster it names (`resourceName`), or its resource group's."""
    parent = resource.parent
    while parent is not None:
        location = text(get(parent.props, "location"))
        if location and parent.resource_type.startswith("azure-native:"):
            return azure_location(parent.props, parent.provider)
        parent = parent.parent
    cluster = depends_on(resource, "resourceName", _CLUSTER) or find(
        get(resource.props, "resourceName"), resources, _CLUSTER
    )
    if cluster is not None and azure_location(cluster.props, cluster.provider):
        return azure_location(cluster.props, cluster.provider)
    group = depends_on(resource, "resourceGroupName", _GROUP) or find(
        get(resource.props, "resourceGroupName"), resources, _GROUP
    )
    if group is not None:
        return azure_location(group.props, group.provider)
    return azure_location(resource.props, resource.provider)


def _pool_nodes(profile: object) -> int:
    most = number(get(profile, "maxCount"))
    if most is None or get(profile, "enableAutoScaling") is False:
        most = number(get(profile, "count"))
    return int(most or 0)


def _agent_pool(
    resource: PolicyResource, resources: Sequence[PolicyResource], catalog: Catalog
) -> GpuPool | None:
    sku = _largest_gpu_sku(catalog, "azure", [get(resource.props, "vmSize")])
    if sku is None:
        return None
    return GpuPool(
        resource.urn, resource.name, resource.resource_type, "azure",
        agent_pool_location(resource, resources), sku, _pool_nodes(resource.props),
        text(get(resource.props, "scaleSetPriority")) == "Spot",
    )


def _cluster_profiles(resource: PolicyResource, catalog: Catalog) -> Iterable[GpuPool]:
    """GPU agent pools declared inline in a managed cluster's `agentPoolProfiles`."""
    for profile in items(get(resource.props, "agentPoolProfiles")):
        sku = _largest_gpu_sku(catalog, "azure", [get(profile, "vmSize")])
        if sku is not None:
            name = text(get(profile, "name")) or "?"
            yield GpuPool(
                resource.urn, f"{resource.name}/{name}", resource.resource_type, "azure",
                azure_location(resource.props, resource.provider), sku, _pool_nodes(profile),
                text(get(profile, "scaleSetPriority")) == "Spot",
            )


def gpu_pools(resources: Sequence[PolicyResource], catalog: Catalog) -> list[GpuPool]:
    """Every GPU node group and agent pool in the stack (non-GPU pools are left out)."""
    pools: list[GpuPool] = []
    for resource in resources:
        if resource.resource_type == EKS_NODE_GROUP:
            pool = _node_group(resource, resources, catalog)
        elif resource.resource_type == AKS_AGENT_POOL:
            pool = _agent_pool(resource, resources, catalog)
        else:
            if resource.resource_type == AKS_CLUSTER:
                pools.extend(_cluster_profiles(resource, catalog))
            continue
        if pool is not None:
            pools.append(pool)
    return pools
