"""AWS side of the fleet: per region an explicit provider, a network, an EKS cluster, one GPU
node pool per placement and the co-located dataset buckets (issue 3).

Logical names derive from stable keys (fleet, region, pool, SKU, storage name), never from list
positions, so reordering pools or adding a region renames nothing that exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.aws import decisions, layout
from components.aws.autoscaler import AutoscalerAccess, AutoscalerAccessArgs, autoscaler_release
from components.aws.cluster import GpuCluster, GpuClusterArgs
from components.aws.network import Network, NetworkArgs
from components.aws.nodepool import GpuNodePool, GpuNodePoolArgs
from components.aws.replication import declare_replication
from components.aws.storage import DatasetBucket, DatasetBucketArgs
from components.aws.syncaccess import AwsStoreAccess
from components.aws.vpn import TransitHub, TransitHubArgs
from components.k8s import GpuPoolTarget
from components.k8s.layer import GpuLayer, GpuLayerArgs
from components.k8s.values import SystemPlacement
from components.link import LinkBoard
from components.sync import JobSite, SyncBoard
from gpufleet.catalog import Catalog
from gpufleet.clouds.aws import NAT_GATEWAYS_PER_REGION
from gpufleet.clusters import ClusterShare, cluster_suffix, planned_clusters
from gpufleet.errors import DecisionError
from gpufleet.kubeconfig import context_name
from gpufleet.plan import FleetPlan, Placement
from gpufleet.specblocks import block_for

__all__ = [
    "DatasetBucket",
    "GpuCluster",
    "GpuNodePool",
    "Network",
    "TransitHub",
    "build_aws",
    "placement_site",
]


def build_aws(
    plan: FleetPlan, parent: pulumi.Resource, board: LinkBoard | None = None,
    sync: SyncBoard | None = None,
) -> Mapping[str, pulumi.Output[object]]:
    """Declare every AWS region of the plan (and its link hub on `board`), the regions that only
    hold a dataset's home copy, and S3 replication from each home to its AWS copies; post the
    clusters and buckets cross-cloud sync jobs use on `sync`; outputs keyed `aws/<region>/<what>`."""
    outputs: dict[str, pulumi.Output[object]] = {}
    buckets: dict[tuple[str, str], DatasetBucket] = {}
    providers: dict[str, aws.Provider] = {}
    for region in plan.regions("aws"):
        providers[region] = _provider(plan, region, parent)
        outputs.update(_build_region(
            plan, region, NAT_GATEWAYS_PER_REGION, parent, providers[region], board=board, sync=sync
        ))
        outputs.update(_build_buckets(plan, region, parent, providers[region], buckets))
    for region in plan.storage_regions("aws"):
        providers[region] = _provider(plan, region, parent)
        outputs.update(_build_buckets(plan, region, parent, providers[region], buckets))
    declare_replication(plan, buckets, providers, parent)
    if sync is not None:
        sync.stores["aws"] = AwsStoreAccess(plan.fleet, buckets, providers, parent)
    return outputs


def _provider(plan: FleetPlan, region: str, parent: pulumi.Resource) -> aws.Provider:
    """The region's explicit provider, tagging everything with the fleet and stack."""
    base_tags = {"gpufleet:fleet": plan.fleet, "gpufleet:stack": plan.stack}
    return aws.Provider(
        decisions.region_name(plan.fleet, region),
        region=region,
        default_tags={"tags": base_tags},
        opts=pulumi.ResourceOptions(parent=parent),
    )


def _build_buckets(
    plan: FleetPlan,
    region: str,
    parent: pulumi.Resource,
    provider: aws.Provider,
    buckets: dict[tuple[str, str], DatasetBucket],
) -> dict[str, pulumi.Output[object]]:
    """The region's dataset buckets (co-located copies and home copies)."""
    scoped = pulumi.ResourceOptions(parent=parent, providers=[provider])
    outputs: dict[str, pulumi.Output[object]] = {}
    for storage in plan.storage_in("aws", region):
        bucket = DatasetBucket(
            decisions.storage_name(plan.fleet, storage.name, region),
            DatasetBucketArgs(storage=storage.name, protect=storage.protect),
            scoped,
        )
        buckets[(storage.name, region)] = bucket
        outputs[f"aws/{region}/buckets/{storage.name}"] = bucket.bucket_name
    return outputs


def _build_region(
    plan: FleetPlan, region: str, nat_gateways: int, parent: pulumi.Resource, provider: aws.Provider,
    *, board: LinkBoard | None, sync: SyncBoard | None,
) -> dict[str, pulumi.Output[object]]:
    """The region's network, then each of its clusters (`gpufleet.clusters`: the first keeps
    the names of old, later ones add `-c2`, ...), then its link hub."""
    name = decisions.region_name(plan.fleet, region)
    scoped = pulumi.ResourceOptions(parent=parent, providers=[provider])
    zones = layout.availability_zones(region)
    addresses = plan.network("aws", region)
    catalog = plan.spec.catalog()  # with the spec's declared SKUs
    sites = {p.key: placement_site(plan, catalog, p, zones) for p in plan.placements_in("aws", region)}

    network = Network(
        name,
        NetworkArgs(
            region=region,
            cidr=addresses.cidr,
            zones=zones,
            nat_gateways=nat_gateways,
            pod_blocks=addresses.pod_blocks,
            local_zone=layout.local_zone_of(
                region, [zone for _, zone in sites.values()], grown=addresses.grown,
                clusters=max(1, len(addresses.pod_blocks) // len(zones)),
            ),
        ),
        scoped,
    )
    outputs: dict[str, pulumi.Output[object]] = {f"aws/{region}/vpcId": network.vpc_id}
    security_groups: list[pulumi.Output[str]] = []
    for index, shares in enumerate(planned_clusters(plan, "aws", region).clusters):
        cluster = _build_cluster(
            plan, region, index, shares, network=network, zones=zones, sites=sites, parent=parent, scoped=scoped,
            sync=sync,
        )
        security_groups.append(cluster.cluster_security_group_id)
        where = f"aws/{region}{cluster_suffix(index)}"
        outputs[f"{where}/clusterName"] = cluster.name
        outputs[f"{where}/kubeconfig"] = pulumi.Output.secret(cluster.kubeconfig)
    if board is not None:  # AWS VPN connections hand out the tunnels' endpoints
        site = board.link.site(f"aws/{region}")
        board.endpoints[site.key] = TransitHub(
            name,
            TransitHubArgs(
                site=site,
                remote=board.remote(site.key),
                vpc_id=network.vpc_id,
                subnet_ids=network.subnets(zones),
                route_table_ids=network.private_route_table_ids,
                node_security_group_ids=security_groups,
            ),
            scoped,
        )
    return outputs


def _build_cluster(
    plan: FleetPlan, region: str, index: int, shares: Sequence[ClusterShare], *, network: Network,
    zones: tuple[str, ...], sites: Mapping[str, tuple[str | None, str | None]], parent: pulumi.Resource,
    scoped: pulumi.ResourceOptions, sync: SyncBoard | None,
) -> GpuCluster:
    """One EKS cluster of the region with its node groups, autoscaler access and GPU layer."""
    suffix = cluster_suffix(index)
    name = decisions.region_name(plan.fleet, region) + suffix
    cluster_name = decisions.cluster_name(plan.fleet, plan.stack, region + suffix)
    base_tags = {"gpufleet:fleet": plan.fleet, "gpufleet:stack": plan.stack}
    grown = plan.network("aws", region).grown
    cluster = GpuCluster(
        name,
        GpuClusterArgs(
            region=region,
            cluster_name=cluster_name,
            subnet_ids=network.subnets(zones),
            logs_key_arn=network.logs_key_arn,
            instance_tags=base_tags,
            public_access_cidrs=tuple(str(cidr) for cidr in plan.spec.access.cidrs),
            pod_subnet_ids=network.pod_subnet_ids.get(index + 1, {}),
        ),
        scoped,
    )
    catalog = plan.spec.catalog()  # with the spec's declared SKUs
    targets: list[GpuPoolTarget] = []
    groups: list[pulumi.Output[str]] = [cluster.system_group_name]
    for share in shares:
        placement = share.placement
        pool = plan.spec.pool(placement.pool)
        sku = catalog.sku("aws", placement.instance_type)
        if sku is None:
            raise DecisionError(
                "pools",
                f"{placement.key}: instance type {placement.instance_type} is not in the catalog",
            )
        reservation_id, zone = sites[placement.key]
        targets.append(decisions.gpu_target(pool.name, sku, pool.interconnect))
        node_pool = GpuNodePool(
            decisions.placement_name(plan.fleet, placement.key) + suffix,
            GpuNodePoolArgs(
                fleet=plan.fleet,
                pool=pool.name,
                accelerator=sku.accelerator,
                sku=sku,
                capacity=placement.capacity,
                capacity_reservation_id=reservation_id,
                zone=zone,
                interconnect=pool.interconnect,
                parts=share.groups,
                zones=zones,
                subnet_ids=network.private_subnet_ids,
                vpc_id=network.vpc_id,
                cluster_name=cluster.name,
                cluster_security_group_id=cluster.cluster_security_group_id,
                node_role_arn=cluster.node_role_arn,
                depends_on=cluster.node_prerequisites,
                instance_tags=base_tags,
                grown=grown,
            ),
            scoped,
        )
        groups += node_pool.autoscaling_group_names

    system = SystemPlacement(decisions.SYSTEM_LABELS)
    # EKS scales nothing itself: the cluster autoscaler reaches every group (the system node
    # group scales between its minimum and maximum too, as AKS's built-in autoscaler does).
    AutoscalerAccess(name, AutoscalerAccessArgs(region, cluster.name, cluster_name, groups), scoped)
    if plan.cluster_software:
        layer = GpuLayer(
            name,
            GpuLayerArgs(
                context=context_name(plan.fleet, "aws", region + suffix), region=region,
                kubeconfig=cluster.kubeconfig, targets=targets, system=system,
                cluster_releases=(autoscaler_release(cluster_name, region, system),),
            ),
            pulumi.ResourceOptions(parent=parent),
        )
        first = index == 0  # the region's sync job runs in its first cluster
        if first and sync is not None and sync.runs_in("aws", region) and layer.provider is not None:
            # the EKS system node group carries no taint: the job needs no toleration
            sync.sites[f"aws/{region}"] = JobSite(name, layer.provider, cluster.oidc_issuer)
    return cluster


def placement_site(
    plan: FleetPlan, catalog: Catalog, placement: Placement, zones: tuple[str, ...]
) -> tuple[str | None, str | None]:
    """The reservation a placement's node groups target and the one zone they stay in (None:
    the network's zones). A capacity block's node groups take its id and zone
    (docs.aws.amazon.com/eks/latest/userguide/capacity-blocks-mng.html: a launch template with
    market type capacity-block targeting the block; "your instance can't launch in a subnet in
    a different Availability Zone from the Availability Zone where your Capacity Block is
    located", docs.aws.amazon.com/AWSEC2/latest/UserGuide/capacity-blocks-launch.html), else the
    pool's capacity_reservation_id. Racks (UltraServers) stay in one zone, the block's or the
    SKU's (`layout.rack_zone`: P6e-GB200 in the Dallas Local Zone); AWS recommends EKS managed
    or self-managed node groups for them, as DRA needs (docs.aws.amazon.com/eks/latest/
    userguide/ml-eks-nvidia-ultraserver.html). A block not yet bought plans, but its node group
    cannot be built without the id."""
    pool = plan.spec.pool(placement.pool)
    sku = catalog.sku("aws", placement.instance_type)
    rack_zone = layout.rack_zone(placement.region, placement.instance_type, zones) if sku and sku.racks else None
    found = block_for(plan.spec, catalog, "aws", placement.region, placement.instance_type)
    if not placement.blocks or found is None:
        return pool.capacity_reservation_id, rack_zone
    index, block = found
    reservation_id = block.id or pool.capacity_reservation_id
    if reservation_id is None:
        raise DecisionError(
            f"capacity.blocks[{index}].id",
            f"the block of {block.sku} in {block.region} has no id: its node group targets the bought "
            "block (cr-...); add the id once it is bought, or leave the block out to plan without it",
        )
    if block.zone is not None and block.zone not in zones and not layout.is_local_zone(block.region, block.zone):
        raise DecisionError(
            f"capacity.blocks[{index}].zone",
            f"'{block.zone}' is not a zone the {block.region} network spans; allowed: {', '.join(zones)}, "
            f"or a Local Zone of {block.region} (it gets a subnet of its own)",
        )
    return reservation_id, block.zone or rack_zone

