"""Azure side of the fleet: per region a resource group, a network, an AKS cluster, one GPU agent
pool per placement and the co-located dataset storage.

`build_azure` turns the plan into components; every choice it passes on (names, address splits,
pool sizing, MIG and InfiniBand checks) comes from `components.azure.decisions`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
from pulumi_azure_native import privatedns, resources

from components.k8s import GpuPoolTarget, Taint
from components.k8s.layer import GpuLayer, GpuLayerArgs
from components.k8s.values import SystemPlacement
from components.link import LinkBoard
from components.sync import JobSite, SyncBoard
from gpufleet.catalog import Catalog, Sku
from gpufleet.errors import DecisionError
from gpufleet.kubeconfig import context_name
from gpufleet.nodegroups import placement_groups
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


def pool_settings(plan: FleetPlan, placement: Placement) -> PoolSettings:
    """Everything one placement's agent pool needs, decided and validated (no Pulumi)."""
    spec = plan.spec
    index = next(i for i, pool in enumerate(spec.pools) if pool.name == placement.pool)
    pool = spec.pools[index]
    catalog = spec.catalog()  # with the spec's declared SKUs
    sku = _sku(catalog, placement.instance_type)
    decisions.check_interconnect(
        pool.interconnect, sku, _rdma_sizes(catalog), f"pools[{index}].interconnect"
    )
    parts = placement_groups(plan, placement, pool.autoscale.min_nodes if pool.autoscale else None)
    return PoolSettings(
        groups=tuple(
            AgentPoolGroup(
                part.suffix,
                decisions.agent_pool_name(placement.key, placement.pool, part.suffix),
                decisions.scale_settings(part.nodes, part.min_nodes),
            )
            for part in parts
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
    settings = {p.key: pool_settings(plan, p) for p in plan.placements if p.cloud == "azure"}
    outputs: dict[str, pulumi.Output[object]] = {}
    accounts: dict[tuple[str, str], DatasetStorage] = {}
    groups: dict[str, pulumi.Input[str]] = {}
    clusters: dict[str, tuple[GpuCluster, Network]] = {}
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
        if board is not None:  # an Azure VPN gateway terminates the other cloud's tunnels
            board.gateways[f"azure/{region}"] = _gateway_hub(
                board, stem, region, group=group, net=net, tags=tags, opts=under_parent
            )
        cluster = GpuCluster(
            stem,
            GpuClusterArgs(
                resource_group_name=group.name,
                location=region,
                cluster_name=decisions.cluster_name(fleet, stack, region),
                dns_prefix=decisions.dns_prefix(fleet, stack, region),
                identity_name=f"id-{decisions.cluster_name(fleet, stack, region)}",
                role_assignment_name=decisions.role_assignment_name(fleet, stack, region),
                admin_assignment_name=decisions.role_assignment_name(fleet, stack, region, "deployer-admin"),
                vnet_id=net.vnet_id,
                node_subnet_id=net.node_subnet_id,
                pod_cidr=pods,
                service=service,
                tags=tags,
                authorized_ip_ranges=tuple(str(cidr) for cidr in plan.spec.access.cidrs),
            ),
            under_parent,
        )
        clusters[region] = (cluster, net)
        targets: list[GpuPoolTarget] = []
        catalog = plan.spec.catalog()
        for placement in plan.placements_in("azure", region):
            rdma = plan.spec.pool(placement.pool).interconnect == "rdma"
            sku = _sku(catalog, placement.instance_type)
            targets.append(gpu_target(settings[placement.key], placement.pool, rdma, sku))
            GpuNodePool(
                decisions.logical_name(placement.key),
                GpuNodePoolArgs(
                    resource_group_name=group.name,
                    cluster_name=cluster.cluster_name,
                    node_subnet_id=net.node_subnet_id,
                    location=region,
                    settings=settings[placement.key],
                ),
                under_parent,
            )
        outputs.update(_build_storage(
            plan, region, group.name, endpoint_subnet_id=net.endpoint_subnet_id,
            blob_dns_zone_id=net.blob_dns_zone_id, accounts=accounts, opts=under_parent,
        ))
        groups[region] = group.name
        if plan.cluster_software:
            layer = GpuLayer(
                stem,
                GpuLayerArgs(context=context_name(fleet, "azure", region), region=region,
                             kubeconfig=cluster.kubeconfig, targets=targets, system=SYSTEM_PLACEMENT),
                under_parent,
            )
            if sync is not None and sync.runs_in("azure", region) and layer.provider is not None:
                # AKS keeps GPU pools for GPU work: the job tolerates the system pool's taint
                system = tuple(t.toleration() for t in SYSTEM_PLACEMENT.taints)
                sync.sites[f"azure/{region}"] = JobSite(stem, layer.provider, cluster.oidc_issuer, system)
        outputs[f"azure/{region}/resourceGroup"] = group.name
        outputs[f"azure/{region}/cluster"] = cluster.cluster_name
        outputs[f"azure/{region}/kubeconfig"] = cluster.kubeconfig
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
        _link_private_zones(plan, clusters, under_parent)
    declare_replication(plan, accounts, groups, parent)
    if sync is not None:
        sync.stores["azure"] = AzureStoreAccess(fleet, stack, accounts, groups, parent)
    return outputs


def _link_private_zones(
    plan: FleetPlan, clusters: Mapping[str, tuple[GpuCluster, Network]], opts: pulumi.ResourceOptions
) -> None:
    """A private API server's name resolves only in the VNets its private DNS zone is linked to,
    and AKS links it to the cluster's own (learn.microsoft.com/azure/aks/private-clusters): link
    every cluster's zone to every other fleet VNet, so a runner in any of them (over VNet
    peering or the fleet link) reaches every AKS cluster."""
    for region, (cluster, _) in sorted(clusters.items()):
        node_group = decisions.node_resource_group(decisions.cluster_name(plan.fleet, plan.stack, region))
        for other, (_, net) in sorted(clusters.items()):
            if other == region:
                continue
            privatedns.VirtualNetworkLink(
                decisions.logical_name("azure", region, "api-dns", other),
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
