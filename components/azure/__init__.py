"""Azure side of the fleet: per region a resource group, a network, an AKS cluster, one GPU agent
pool per placement and the co-located dataset storage.

`build_azure` turns the plan into components; every choice it passes on (names, address splits,
pool sizing, MIG and InfiniBand checks) comes from `components.azure.decisions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
from pulumi_azure_native import privatedns, resources

from components.k8s import GpuPoolTarget, Taint
from components.k8s.layer import GpuLayer, GpuLayerArgs
from components.k8s.values import SystemPlacement
from components.link import LinkBoard
from components.sync import JobSite, SyncBoard
from gpufleet.catalog import Catalog, Sku
from gpufleet.clusters import ClusterShare, cluster_suffix, planned_clusters
from gpufleet.errors import DecisionError
from gpufleet.kubeconfig import context_name
from gpufleet.plan import FleetPlan, Placement

from . import decisions
from .cluster import GpuCluster, GpuClusterArgs
from .network import Network, NetworkArgs
from .nodepool import AgentPoolGroup, GpuNodePool, GpuNodePoolArgs, PoolSettings
from .replication import declare_replication
from .storage import DatasetStorage, DatasetStorageArgs
from .syncaccess import AzureStoreAccess
from .vpn import GatewayHub, GatewayHubArgs

__all__ = [
    "DatasetStorage",
    "GatewayHub",
    "GpuCluster",
    "GpuNodePool",
    "Network",
    "build_azure",
    "pool_settings",
]


def _sku(catalog: Catalog, instance_type: str) -> Sku:
    sku = catalog.sku("azure", instance_type)
    if sku is None:
        raise DecisionError("pools", f"unknown Azure VM size '{instance_type}' in the plan")
    return sku


def _rdma_sizes(catalog: Catalog) -> list[str]:
    return sorted(s.instance_type for s in catalog.skus.values() if s.cloud == "azure" and s.rdma)


def pool_settings(plan: FleetPlan, placement: Placement, share: ClusterShare | None = None) -> PoolSettings:
    """Everything the agent pools of one placement's share of a cluster need (default: its
    share of the region's first cluster), decided and validated (no Pulumi). A later cluster's
    pools hash its suffix into their names (`-c2`), so no two pools of a region share one."""
    spec = plan.spec
    index = next(i for i, pool in enumerate(spec.pools) if pool.name == placement.pool)
    pool = spec.pools[index]
    catalog = spec.catalog()  # with the spec's declared SKUs
    sku = _sku(catalog, placement.instance_type)
    decisions.check_interconnect(
        pool.interconnect, sku, _rdma_sizes(catalog), f"pools[{index}].interconnect"
    )
    if share is None:
        share = planned_clusters(plan, placement.cloud, placement.region).shares_of(placement)[0]
    return PoolSettings(
        groups=tuple(
            AgentPoolGroup(
                part.suffix,
                decisions.agent_pool_name(placement.key, placement.pool, share.suffix + part.suffix),
                decisions.scale_settings(part.nodes, part.min_nodes),
            )
            for part in share.groups
        ),
        vm_size=placement.instance_type,
        priority=decisions.priority_settings(placement.capacity),
        gpu_instance_profile=decisions.gpu_instance_profile(pool.mig, sku, f"pools[{index}].mig"),
        node_taints=decisions.node_taints(placement.capacity, sku.family),
        node_labels=decisions.node_labels(
            plan.fleet, pool.name, sku.accelerator, rdma=pool.interconnect == "rdma"
        ),
        tags=decisions.resource_tags(plan.fleet, plan.stack, pool=pool.name),
        upgrade_settings=decisions.upgrade_settings(placement.capacity),
    )


def gpu_target(settings: PoolSettings, pool: str, rdma: bool, sku: Sku) -> GpuPoolTarget:
    """The agent pool as the in-cluster layer sees it: its taints, the device plugin's MIG
    strategy (`single` where AKS partitions every GPU with one gpuInstanceProfile, as
    learn.microsoft.com/azure/aks/gpu-multi-instance installs it), InfiniBand for rdma, and the
    SKU's device family (MI300X: AMD's plugin)."""
    return GpuPoolTarget(
        pool,
        tuple(Taint.parse(taint) for taint in settings.node_taints),
        "single" if settings.gpu_instance_profile else "none",
        "infiniband" if rdma else None,
        family=sku.family, instance_types=(sku.instance_type,),
        compute_domains=sku.multi_node_nvlink,
    )


# The AKS system pool: AKS labels its nodes `kubernetes.azure.com/mode: system`
# (learn.microsoft.com/azure/aks/use-system-pools, "System and user node pools"); gpufleet
# taints it CriticalAddonsOnly, so helpers tolerate that and nothing else.
SYSTEM_PLACEMENT = SystemPlacement(
    {"kubernetes.azure.com/mode": "system"}, (Taint.parse(decisions.SYSTEM_TAINT),)
)


def fleet_address_space(plan: FleetPlan) -> list[str]:
    """Every range the fleet routes (supernet, VPCs/VNets, pod ranges): service CIDRs avoid them."""
    ranges = [str(plan.spec.network.supernet)]
    ranges += [str(cidr) for cidr in plan.spec.network.overrides.values()]
    for net in plan.networks:
        ranges.append(net.cidr)
        if net.pod_cidr:
            ranges.append(net.pod_cidr)
    return ranges


def _gateway_hub(
    board: LinkBoard, stem: str, region: str, *, group: resources.ResourceGroup, net: Network,
    tags: Mapping[str, str], opts: pulumi.ResourceOptions,
) -> GatewayHub:
    """The region's VPN gateway; each instance carries the gateway-side APIPA address of every
    tunnel that ends on it (instance i takes connection i + 1 of every pair)."""
    site = board.link.site(f"azure/{region}")
    ending = [t for t in board.link.tunnels if t.gateway == site.key]
    return GatewayHub(
        stem,
        GatewayHubArgs(
            site=site,
            resource_group_name=group.name,
            location=region,
            vnet_name=net.vnet_name,
            vnet_id=net.vnet_id,
            gateway_subnet_cidr=decisions.gateway_subnet(site.cidr, f"network.overrides.azure/{region}"),
            instance_addresses=(
                sorted(t.gateway_address for t in ending if t.connection == 1),
                sorted(t.gateway_address for t in ending if t.connection == 2),
            ),
            tags=tags,
            after=[net.last_subnet],
        ),
        opts,
    )


def build_azure(
    plan: FleetPlan, parent: pulumi.Resource, board: LinkBoard | None = None,
    sync: SyncBoard | None = None,
) -> Mapping[str, pulumi.Output[object]]:
    """Declare the Azure side of `plan` under `parent` (and its link hubs on `board`, its sync
    job clusters and accounts on `sync`); return stack outputs by stable key."""
    fleet, stack = plan.fleet, plan.stack
    address_space = fleet_address_space(plan)
    service = decisions.service_network(address_space)
    # Validate every placement before declaring anything, so a bad spec creates nothing.
    for placement in plan.placements:
        if placement.cloud == "azure":
            pool_settings(plan, placement)
    outputs: dict[str, pulumi.Output[object]] = {}
    accounts: dict[tuple[str, str], DatasetStorage] = {}
    groups: dict[str, pulumi.Input[str]] = {}
    clusters: dict[str, tuple[GpuCluster, str]] = {}
    nets: dict[str, Network] = {}
    under_parent = pulumi.ResourceOptions(parent=parent)

    for region in plan.regions("azure"):
        stem = decisions.logical_name("azure", region)
        tags = decisions.resource_tags(fleet, stack)
        net_plan = plan.network("azure", region)
        others = [n.cidr for n in plan.networks if n is not net_plan]
        pods = decisions.pod_cidr(region, net_plan.cidr, net_plan.pod_cidr, others)
        stores = plan.storage_in("azure", region)

        group = resources.ResourceGroup(
            stem,
            resource_group_name=decisions.resource_group_name(fleet, stack, region),
            location=region,
            tags=tags,
            opts=under_parent,
        )
        net = Network(
            stem,
            NetworkArgs(
                resource_group_name=group.name,
                location=region,
                cidr=net_plan.cidr,
                subnets=decisions.subnet_layout(net_plan.cidr, f"network.overrides.azure/{region}"),
                tags=tags,
                blob_private_dns=bool(stores),
                link_sources=(
                    (net_plan.cidr, pods, *board.remote(f"azure/{region}").values()) if board else ()
                ),
            ),
            under_parent,
        )
        nets[region] = net
        if board is not None:  # an Azure VPN gateway terminates the other cloud's tunnels
            board.gateways[f"azure/{region}"] = _gateway_hub(
                board, stem, region, group=group, net=net, tags=tags, opts=under_parent
            )
        for index, shares in enumerate(planned_clusters(plan, "azure", region).clusters):
            cluster = _build_cluster(
                plan, region, index, shares, group=group, net=net, pods=pods, service=service,
                opts=under_parent, sync=sync,
            )
            clusters[region + cluster_suffix(index)] = (cluster, region)
            where = f"azure/{region}{cluster_suffix(index)}"
            outputs[f"{where}/cluster"] = cluster.cluster_name
            outputs[f"{where}/kubeconfig"] = cluster.kubeconfig
        outputs.update(_build_storage(
            plan, region, group.name, endpoint_subnet_id=net.endpoint_subnet_id,
            blob_dns_zone_id=net.blob_dns_zone_id, accounts=accounts, opts=under_parent,
        ))
        groups[region] = group.name
        outputs[f"azure/{region}/resourceGroup"] = group.name
    for region in plan.storage_regions("azure"):  # only a dataset's home copy: no VNet, no cluster
        group = resources.ResourceGroup(
            decisions.logical_name("azure", region),
            resource_group_name=decisions.resource_group_name(fleet, stack, region),
            location=region,
            tags=decisions.resource_tags(fleet, stack),
            opts=under_parent,
        )
        groups[region] = group.name
        outputs.update(_build_storage(
            plan, region, group.name, endpoint_subnet_id=None, blob_dns_zone_id=None,
            accounts=accounts, opts=under_parent,
        ))
        outputs[f"azure/{region}/resourceGroup"] = group.name
    if not plan.spec.access.cidrs and plan.link is not None:  # private servers, networks joined
        _link_private_zones(plan, clusters, nets, under_parent)
    declare_replication(plan, accounts, groups, parent)
    if sync is not None:
        sync.stores["azure"] = AzureStoreAccess(fleet, stack, accounts, groups, parent)
    return outputs


def _build_cluster(
    plan: FleetPlan, region: str, index: int, shares: Sequence[ClusterShare], *,
    group: resources.ResourceGroup, net: Network, pods: str, service: decisions.ServiceNetwork,
    opts: pulumi.ResourceOptions, sync: SyncBoard | None,
) -> GpuCluster:
    """One AKS cluster of the region (`gpufleet.clusters`: the first keeps the names of old,
    later ones add `-c2`, ...) with its agent pools and GPU layer; every cluster reuses the
    region's overlay pod range (it is private to each cluster)."""
    fleet, stack = plan.fleet, plan.stack
    suffix = cluster_suffix(index)
    stem = decisions.logical_name("azure", region) + suffix
    named = region + suffix
    cluster = GpuCluster(
        stem,
        GpuClusterArgs(
            resource_group_name=group.name,
            location=region,
            cluster_name=decisions.cluster_name(fleet, stack, named),
            dns_prefix=decisions.dns_prefix(fleet, stack, named),
            identity_name=f"id-{decisions.cluster_name(fleet, stack, named)}",
            role_assignment_name=decisions.role_assignment_name(fleet, stack, named),
            admin_assignment_name=decisions.role_assignment_name(fleet, stack, named, "deployer-admin"),
            vnet_id=net.vnet_id,
            node_subnet_id=net.node_subnet_id,
            pod_cidr=pods,
            service=service,
            tags=decisions.resource_tags(fleet, stack),
            authorized_ip_ranges=tuple(str(cidr) for cidr in plan.spec.access.cidrs),
        ),
        opts,
    )
    targets: list[GpuPoolTarget] = []
    catalog = plan.spec.catalog()
    for share in shares:
        placement = share.placement
        rdma = plan.spec.pool(placement.pool).interconnect == "rdma"
        sku = _sku(catalog, placement.instance_type)
        settings = pool_settings(plan, placement, share)
        targets.append(gpu_target(settings, placement.pool, rdma, sku))
        GpuNodePool(
            decisions.logical_name(placement.key) + suffix,
            GpuNodePoolArgs(
                resource_group_name=group.name,
                cluster_name=cluster.cluster_name,
                node_subnet_id=net.node_subnet_id,
                location=region,
                settings=settings,
            ),
            opts,
        )
    if plan.cluster_software:
        layer = GpuLayer(
            stem,
            GpuLayerArgs(context=context_name(fleet, "azure", named), region=region,
                         kubeconfig=cluster.kubeconfig, targets=targets, system=SYSTEM_PLACEMENT),
            opts,
        )
        first = index == 0  # the region's sync job runs in its first cluster
        if first and sync is not None and sync.runs_in("azure", region) and layer.provider is not None:
            # AKS keeps GPU pools for GPU work: the job tolerates the system pool's taint
            system = tuple(t.toleration() for t in SYSTEM_PLACEMENT.taints)
            sync.sites[f"azure/{region}"] = JobSite(stem, layer.provider, cluster.oidc_issuer, system)
    return cluster


def _link_private_zones(
    plan: FleetPlan, clusters: Mapping[str, tuple[GpuCluster, str]], nets: Mapping[str, Network],
    opts: pulumi.ResourceOptions,
) -> None:
    """A private API server's name resolves only in the VNets its private DNS zone is linked to,
    and AKS links it to the cluster's own (learn.microsoft.com/azure/aks/private-clusters): link
    every cluster's zone (`clusters`: by name with its cluster suffix, with its region) to every
    other region's VNet, so a runner in any of them (over VNet peering or the fleet link)
    reaches every AKS cluster."""
    for named, (cluster, region) in sorted(clusters.items()):
        node_group = decisions.node_resource_group(decisions.cluster_name(plan.fleet, plan.stack, named))
        for other, net in sorted(nets.items()):
            if other == region:
                continue
            privatedns.VirtualNetworkLink(
                decisions.logical_name("azure", named, "api-dns", other),
                resource_group_name=node_group,
                private_zone_name=cluster.private_zone,
                virtual_network_link_name=f"gpufleet-{other}",
                virtual_network={"id": net.vnet_id},
                registration_enabled=False,
                location="global",
                tags=decisions.resource_tags(plan.fleet, plan.stack),
                opts=opts,
            )


def _build_storage(
    plan: FleetPlan,
    region: str,
    group: pulumi.Input[str],
    *,
    endpoint_subnet_id: pulumi.Input[str] | None,
    blob_dns_zone_id: pulumi.Input[str] | None,
    accounts: dict[tuple[str, str], DatasetStorage],
    opts: pulumi.ResourceOptions,
) -> dict[str, pulumi.Output[object]]:
    """The region's dataset accounts; a home account with copies keeps a change feed."""
    fleet, stack = plan.fleet, plan.stack
    outputs: dict[str, pulumi.Output[object]] = {}
    for store in plan.storage_in("azure", region):
        account = DatasetStorage(
            decisions.logical_name(store.name, "azure", region),
            DatasetStorageArgs(
                resource_group_name=group,
                location=region,
                account_name=decisions.storage_account_name(fleet, stack, store.name, region),
                container_name=decisions.container_name(store.name),
                sku=decisions.storage_sku(region),
                endpoint_subnet_id=endpoint_subnet_id,
                blob_dns_zone_id=blob_dns_zone_id,
                protect=store.protect,
                tags=decisions.resource_tags(fleet, stack, storage=store.name),
                change_feed=any(c.cloud == "azure" for c in plan.replicas_of(store)),
            ),
            opts,
        )
        accounts[(store.name, region)] = account
        outputs[f"azure/{region}/storage/{store.name}"] = account.account_name
    return outputs
