"""Azure: quota families and the regional total, fixed costs, system pool, VNet and overlay pod
range, resource types, mock answers.

Rates are East US list prices (other regions differ by a few percent), for planning, not
invoicing; each names the page it reflects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, cast

from gpufleet.catalog.paths import PathRate
from gpufleet.clouds.azure.link import (
    LINK,
    VPN_GATEWAY,
    VPN_GATEWAY_USD_PER_HOUR,
    declared_tunnels,
    gateway_sizes,
    gateway_sku,
    link_costs,
)
from gpufleet.clouds.azure.mocks import MOCK_CALLS, NAME_INPUTS, mock_call, mock_state
from gpufleet.clouds.azure.pools import (
    AGENT_POOL,
    AMD_GPU_REFUSAL,
    ARM64_GPU_REFUSAL,
    CLUSTERS,
    DEFAULT_SURGE_SHARE,
    MANAGED_CLUSTER,
    OVERLAY_NODE_PREFIX,
    OVERLAY_POD_CANDIDATES,
    SUBNET_RESERVED,
    agent_pools,
    declared_pool,
    default_surge,
    node_subnet,
    reader,
    surge_nodes,
)
from gpufleet.clouds.azure.zones import ZONE_REDUNDANT_REGIONS, availability_zones
from gpufleet.clouds.base import (
    AddressBlocks,
    CloudModel,
    DeclaredRange,
    FixedCost,
    LocatedPackage,
    Network,
    NodeRange,
    StorageRate,
    SystemPool,
)
from gpufleet.clouds.capabilities import Capabilities
from gpufleet.clouds.declared import DeclaredPool, DeclaredResource, MockArgs, ResidencyJudge

if TYPE_CHECKING:
    from gpufleet.clouds.controls import SecurityControls

# Azure's "Total Regional vCPUs" quota: every non-spot VM draws on it as well as on its family
# bucket; it limits placement only where the spec declares it.
REGIONAL_BUCKET = "cores"
# Azure's own name for resources that are not in a region (DNS zones, Front Door, ...).
GLOBAL_LOCATION = "global"

# Fixed slots of the supernet (gpufleet.ipam), after AWS's 34. APPEND, never reorder.
REGION_SLOTS: Mapping[str, int] = {
    region: 34 + i for i, region in enumerate((
        "australiacentral", "australiaeast", "australiasoutheast", "brazilsouth", "canadacentral",
        "canadaeast", "centralindia", "centralus", "eastasia", "eastus", "eastus2", "francecentral",
        "francesouth", "germanynorth", "germanywestcentral", "israelcentral", "italynorth",
        "japaneast", "japanwest", "koreacentral", "koreasouth", "mexicocentral", "newzealandnorth",
        "northcentralus", "northeurope", "norwayeast", "norwaywest", "polandcentral",
        "qatarcentral", "southafricanorth", "southcentralus", "southeastasia", "southindia",
        "spaincentral", "swedencentral", "switzerlandnorth", "switzerlandwest", "uaenorth",
        "uksouth", "ukwest", "westcentralus", "westeurope", "westindia", "westus", "westus2",
        "westus3",
    ))
}

# Child resources whose schema has no `location`: they live where their parent lives, and the
# parent (cluster, account, virtual network, NSG, resource group) is checked itself.
INHERITING_TYPES = frozenset({
    "azure-native:containerservice:AgentPool",
    "azure-native:containerservice:MaintenanceConfiguration",
    "azure-native:containerservice:TrustedAccessRoleBinding",
    "azure-native:containerservice:PrivateEndpointConnection",
    "azure-native:network:Subnet",
    "azure-native:network:SecurityRule",
    "azure-native:network:Route",
    "azure-native:network:VirtualNetworkPeering",
    "azure-native:network:PrivateDnsZoneGroup",
    "azure-native:network:InboundNatRule",
    "azure-native:storage:BlobContainer",
    "azure-native:storage:BlobServiceProperties",
    "azure-native:storage:ObjectReplicationPolicy",
    "azure-native:storage:FileServiceProperties",
    "azure-native:storage:QueueServiceProperties",
    "azure-native:storage:TableServiceProperties",
    "azure-native:storage:FileShare",
    "azure-native:storage:Queue",
    "azure-native:storage:Table",
    "azure-native:storage:Blob",
    "azure-native:storage:ManagementPolicy",
    "azure-native:storage:EncryptionScope",
    "azure-native:storage:BlobInventoryPolicy",
    "azure-native:storage:PrivateEndpointConnection",
    "azure-native:authorization:RoleAssignment",
    "azure-native:authorization:RoleDefinition",
    "azure-native:authorization:ManagementLockAtResourceGroupLevel",
    "azure-native:authorization:ManagementLockAtResourceLevel",
    "azure-native:authorization:ManagementLockByScope",
    "azure-native:managedidentity:FederatedIdentityCredential",
})

# The Entra ID server application of every AKS cluster's API (the kubelogin --server-id),
# github.com/Azure/kubelogin docs "Azure CLI" login; the same id in every tenant.
_CODE = "fixed rate in gpufleet/clouds/azure/__init__.py"
_SUBNETS = frozenset({"azure-native:network:Subnet"})
_VNETS = frozenset({"azure-native:network:VirtualNetwork"})
_OVERLAY = "Azure CNI Overlay (a /24 of the pod CIDR per node)"

_GROUPS = frozenset({"azure-native:resources:ResourceGroup"})

# AKS cannot change these on an existing agent pool: a change replaces the pool. The agent pool
# component declares them as `replace_on_changes`, and `gpufleet diff` reports them as replacing.
AGENT_POOL_REPLACE_ON_CHANGE = (
    "agentPoolName",
    "vmSize",
    "scaleSetPriority",
    "scaleSetEvictionPolicy",
    "spotMaxPrice",
    "gpuInstanceProfile",
    "vnetSubnetID",
)

# The AKS system-mode agent pool (autoscaled between min and max, created at min); the cluster
# component and the cost model both read it. https://azure.microsoft.com/pricing/details/
# virtual-machines/linux/ — D4s v5, Linux, pay as you go, East US: $0.192 per hour. List price
# as of 2025, from memory: verify against the page.
SYSTEM_POOL = SystemPool(
    "Standard_D4s_v5", min_nodes=2, max_nodes=3, usd_per_hour=0.192,
    source=f"{_CODE}: $0.192/h per node, list price as of 2025, verify "
           "(azure.microsoft.com/pricing/details/virtual-machines/linux)",
)


class Azure(CloudModel):
    name = "azure"
    live_module = "gpufleet.clouds.azure.live"
    title = "Azure"
    packages = ("azure-native",)
    location_key = "location"
    region_slots = REGION_SLOTS
    regional_buckets = frozenset({REGIONAL_BUCKET})
    # Azure quota names are case-insensitive (the usages API and the docs disagree on case).
    buckets_case_insensitive = True
    # Azure tag names cannot hold ':' everywhere.
    tag_keys = ("gpufleet-fleet", "gpufleet-stack")
    taggable_types = frozenset({
        "azure-native:containerservice:AgentPool",
        "azure-native:containerservice:ManagedCluster",
        "azure-native:managedidentity:UserAssignedIdentity",
        "azure-native:network:LocalNetworkGateway",
        "azure-native:network:NatGateway",
        "azure-native:network:NetworkSecurityGroup",
        "azure-native:network:PublicIPAddress",
        "azure-native:network:VirtualNetwork",
        "azure-native:network:VirtualNetworkGatewayConnection",
        "azure-native:resources:ResourceGroup",
        "azure-native:storage:StorageAccount",
        VPN_GATEWAY,
    })
    # Types whose schema has no `tags` input (pulumi-aws 7 / azure-native 3 API docs,
    # www.pulumi.com/registry/packages/{aws,azure-native}/api-docs/).
    untaggable_types = frozenset({
        "azure-native:authorization:RoleAssignment",
        "azure-native:containerservice:MaintenanceConfiguration",
        "azure-native:managedidentity:FederatedIdentityCredential",
        "azure-native:network:PrivateDnsZoneGroup",
        "azure-native:network:SecurityRule",
        "azure-native:network:Subnet",
        "azure-native:network:VirtualNetworkPeering",
        "azure-native:storage:BlobContainer",
        "azure-native:storage:BlobServiceProperties",
        "azure-native:storage:ObjectReplicationPolicy",
    })
    sku_corrections: ClassVar[Mapping[str, tuple[str, int, str]]] = {
        "Standard_ND96isr_H100_v5": (
            "gpus", 8, "source lists 12 GPUs; Azure documents 8 H100 per ND96isr_H100_v5",
        ),
    }
    # Input properties whose change makes azure-native replace the resource (provider schema).
    replace_on_change: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "azure-native:resources:ResourceGroup": ("location", "resourceGroupName"),
        "azure-native:storage:StorageAccount": ("accountName", "location", "resourceGroupName"),
        "azure-native:containerservice:AgentPool": AGENT_POOL_REPLACE_ON_CHANGE,
        "azure-native:containerservice:ManagedCluster": ("location", "resourceName", "resourceGroupName"),
        "azure-native:network:VirtualNetwork": ("location",),
        # A gateway resizes only within its generation (learn.microsoft.com/azure/vpn-gateway/
        # about-gateway-skus): VpnGw1AZ (Generation1) to a larger SKU (Generation2) recreates it.
        VPN_GATEWAY: ("location", "virtualNetworkGatewayName", "gatewayType", "vpnType", "vpnGatewayGeneration"),
        "azure-native:network:PublicIPAddress": ("location", "publicIpAddressName", "sku", "zones"),
    }
    system_pool = SYSTEM_POOL
    capabilities = Capabilities(
        capacity_types=frozenset({"on-demand", "spot"}),
        # AKS agent pools' gpuInstanceProfile (learn.microsoft.com/azure/aks/gpu-multi-instance;
        # the ARM model's GPUInstanceProfile enum, checked in tests/test_capabilities.py).
        mig_profiles=frozenset({"MIG1g", "MIG2g", "MIG3g", "MIG4g", "MIG7g"}),
        rdma_fabric="infiniband",
        # The arm64 (Grace) ND GB200/GB300 v6 sizes: no AKS source read here confirms them.
        arm64_gpu_nodes=False,
        # MI300X (amd): AKS installs no AMD GPU driver (notes, gpufleet/clouds/azure/pools.py).
        device_families=frozenset({"nvidia"}),
        # Compute usages count vCPUs per VM family (and the regional total), per region.
        quota_unit="vcpus",
        quota_scope="region",
        # "All availability zone-enabled regions have a minimum of three availability zones"
        # (learn.microsoft.com/azure/reliability/migrate-app-configuration); which regions have
        # them: ZONE_REDUNDANT_REGIONS.
        zonal_regions=ZONE_REDUNDANT_REGIONS,
        zones_per_region=3,
        notes={"capacity: reserved": "a reservation is a billing discount on regular VMs, not a VM "
                                     "setting: use capacity: on-demand there and put the reserved "
                                     "price under prices:",
               "arm64": ARM64_GPU_REFUSAL, "amd": AMD_GPU_REFUSAL},
    )
    # "API server authorized IP ranges": at most 200 ranges
    # (learn.microsoft.com/azure/aks/api-server-authorized-ip-ranges, Limitations).
    api_allowlist_max = 200
    link = LINK
    # DatasetStorage sets publicNetworkAccess Disabled: "only private endpoint connections can
    # access the account" (learn.microsoft.com/azure/storage/common/storage-network-security).
    storage_private_only = True
    group_noun = "agent pool"
    pod_range_label = "AKS pods"
    # AKS limits (catalog/data/limits.csv, learn.microsoft.com/azure/aks/quotas-skus-regions).
    limit_keys: ClassVar[Mapping[str, str]] = {
        "nodes_per_group": "nodes_per_agent_pool",
        "groups_per_cluster": "agent_pools_per_cluster",
        "nodes_per_cluster": "nodes_per_cluster",
        # no per-region limit is documented: a region holds no more than the subscription
        "clusters_per_region": "clusters_per_subscription",
    }
    # https://azure.microsoft.com/pricing/details/storage/blobs/ — Blob Storage hot tier, first
    # 50 TB/month, East US: LRS $0.0184, ZRS $0.023 per GB-month (first-tier rates for all
    # volumes: an upper bound; ZRS read from memory of the page, not offline). The accounts are
    # created with `storage_sku(region)`, and each copy is priced at that SKU's rate.
    storage_rate = StorageRate(0.0184, "Blob hot LRS", f"{_CODE}: Blob hot LRS $0.0184/GB-month, first-tier list price")
    storage_rates: ClassVar[Mapping[str, StorageRate]] = {
        "Standard_LRS": storage_rate,
        "Standard_ZRS": StorageRate(
            0.023, "Blob hot ZRS", f"{_CODE}: Blob hot ZRS $0.023/GB-month, first-tier list price "
            "(https://azure.microsoft.com/pricing/details/storage/blobs/)",
        ),
    }

    def storage_sku(self, region: str) -> str:
        """Zone-redundant where the region has availability zones, else locally redundant."""
        return "Standard_ZRS" if availability_zones(region) else "Standard_LRS"

    def storage_rate_in(self, region: str) -> StorageRate:
        return self.storage_rates[self.storage_sku(region)]

    def declared_storage_rate(self, resource: DeclaredResource) -> StorageRate:
        sku = resource.get("sku", "name")
        return self.storage_rates.get(sku, self.storage_rate) if isinstance(sku, str) else self.storage_rate
    mock_calls = MOCK_CALLS

    def mock_call(
        self, token: str, args: Mapping[str, Any], created: Mapping[str, Mapping[str, Any]]
    ) -> Mapping[str, Any]:
        return mock_call(token, args, created) or super().mock_call(token, args, created)

    def fixed_costs(self) -> tuple[FixedCost, ...]:
        # https://azure.microsoft.com/pricing/details/kubernetes-service/ — AKS Standard tier:
        # $0.10 per cluster per hour (the Free tier has no uptime SLA).
        return (
            FixedCost("AKS control plane (Standard tier)", 0.10, 1,
                      f"{_CODE}: $0.1/h per cluster (azure.microsoft.com/pricing/details/kubernetes-service)",
                      "azure-native:containerservice:ManagedCluster", per_cluster=True),
        )

    def link_costs(
        self, peers: int, same_cloud_peers: int, region: str | None = None, hub: str | None = None
    ) -> tuple[FixedCost, ...]:
        return link_costs(peers, region, hub)

    def hub_sizes(self, region: str | None) -> tuple[PathRate, ...]:
        return gateway_sizes(region)

    def declared_hub(self, resource: DeclaredResource) -> PathRate | None:
        """A VPN gateway's SKU as declared, from the rows of either kind of region."""
        return gateway_sku(resource.get("sku", "name")) if resource.type == VPN_GATEWAY else None

    storage_types = frozenset({"azure-native:storage:StorageAccount"})

    def declared_pools(self, resource: DeclaredResource) -> list[DeclaredPool]:
        """An agent pool, or the pools a managed cluster declares inline (`agentPoolProfiles`)."""
        if resource.type == AGENT_POOL:
            location = self._agent_pool_location(resource)
            return [declared_pool(resource.name, resource.get, location, resource.get("resourceName"))]
        if resource.type == MANAGED_CLUSTER:
            listed = resource.items("agentPoolProfiles")
            profiles = [cast(Mapping[str, Any], p) for p in listed if isinstance(p, Mapping)]
            return [
                declared_pool(f"{resource.name}/{profile.get('name') or '?'}", reader(profile), resource.region(),
                      resource.get("resourceName"))
                for profile in profiles
            ]
        return []

    def _agent_pool_location(self, resource: DeclaredResource) -> str | None:
        """An agent pool has no location: its cluster's, found through the parent chain, the
        cluster it names (`resourceName`), or its resource group's."""
        found = resource.ancestor_region()
        for prop, types in (("resourceName", CLUSTERS), ("resourceGroupName", _GROUPS)):
            if found is None and (linked := resource.linked(prop, types)) is not None:
                found = linked.region()
        return found or resource.region()

    def declared_fixed_costs(self, resource: DeclaredResource) -> list[FixedCost]:
        """The Free tier's control plane costs nothing (and has no uptime SLA); a VPN gateway is
        priced by the SKU it declares, and pays its tunnels beyond the included ones
        (`declared_tunnels`)."""
        found = super().declared_fixed_costs(resource)
        if resource.get("sku", "tier") == "Free":
            found = [replace(item, usd_per_hour=0.0) for item in found]
        sku = resource.get("sku", "name")
        if resource.type == VPN_GATEWAY and sku in VPN_GATEWAY_USD_PER_HOUR:
            found = [replace(item, item=f"link: VPN gateway {sku}", usd_per_hour=VPN_GATEWAY_USD_PER_HOUR[sku])
                     for item in found]
        return [*found, *declared_tunnels(resource)]

    def address_blocks(
        self, slot: Network | None, override: Network | None, avoid: Iterable[Network] = ()
    ) -> AddressBlocks:
        """The VNet takes the slot's lower half (or the override; the upper half stays free),
        the AKS overlay pod range the fleet-wide overlay block (OVERLAY_POD_CANDIDATES)."""
        if slot is None:
            raise ValueError("has no address slot (REGION_SLOTS in gpufleet/clouds/azure/__init__.py); append it there")
        vnet = override or next(slot.subnets(prefixlen_diff=1))
        taken = [vnet, *avoid]
        pods = next((c for c in OVERLAY_POD_CANDIDATES if not any(c.overlaps(t) for t in taken)), None)
        if pods is None:
            shown = ", ".join(map(str, OVERLAY_POD_CANDIDATES))
            raise ValueError(
                f"leaves no overlay pod range free: every candidate ({shown}) overlaps the fleet's addresses"
            )
        return AddressBlocks(vnet, pods)

    def pod_range_shortfall(self, prefix: int) -> str:
        return (
            f"the pod range must be a /{prefix} or larger: free a candidate overlay block from "
            "network.supernet and network.overrides (gpufleet/clouds, OVERLAY_POD_CANDIDATES)"
        )

    def node_ranges(self, blocks: AddressBlocks) -> tuple[NodeRange, ...]:
        """One address per node in the node subnet; one /24 per node in the overlay pod range."""
        ranges = [NodeRange("node subnet", node_subnet(blocks.cidr), SUBNET_RESERVED, 1, 2)]
        if blocks.pod_cidr is not None:
            ranges.append(NodeRange("overlay pod range", blocks.pod_cidr, 0, None, None, pods=True, per_cluster=True))
        return tuple(ranges)

    def declared_ranges(self, stack: Sequence[DeclaredResource]) -> list[DeclaredRange]:
        """Every node subnet with the pools that join it (one address per node) and every
        overlay cluster's pod CIDR with all its pools (a /24 per node), surge included."""
        subnets: dict[str, tuple[DeclaredResource, list[tuple[int, int | None]]]] = {}
        pods: dict[str, list[tuple[int, int | None]]] = {}
        clusters = {r.urn: r for r in stack if r.type == MANAGED_CLUSTER}
        for owner, read, cluster in agent_pools(stack):
            pool = declared_pool(owner.name, read, None, None)
            nodes = pool.max_nodes + surge_nodes(read("upgradeSettings", "maxSurge"), pool.max_nodes)
            subnet = owner.refers(read("vnetSubnetID"), _SUBNETS)
            if subnet is not None:
                subnets.setdefault(subnet.urn, (subnet, []))[1].append((nodes, 1))
            if cluster is not None:
                pods.setdefault(cluster.urn, []).append((nodes, 1 << (32 - OVERLAY_NODE_PREFIX)))
        found: list[DeclaredRange] = []
        for subnet, needs in subnets.values():
            prefix = subnet.get("addressPrefix")
            if isinstance(prefix, str):
                cidr = Network(prefix, strict=False)
                found.append(DeclaredRange(
                    subnet, subnet.ancestor_region(), self._declared_subnet(subnet, cidr), tuple(needs),
                    "one address per node",
                ))
        for urn, needs in pods.items():
            cluster = clusters[urn]
            pod_cidr = cluster.get("networkProfile", "podCidr")
            if cluster.get("networkProfile", "networkPluginMode") != "overlay" or not isinstance(pod_cidr, str):
                continue
            pod_range = NodeRange("overlay pod range", Network(pod_cidr, strict=False), 0, None, None, pods=True)
            found.append(DeclaredRange(cluster, cluster.region(), pod_range, tuple(needs), _OVERLAY))
        return found

    def _declared_subnet(self, subnet: DeclaredResource, cidr: Network) -> NodeRange:
        """The layout's node subnet when its VNet follows the layout; else the subnet as it is."""
        vnet = subnet.linked("virtualNetworkName", _VNETS)
        listed = vnet.items("addressSpace", "addressPrefixes") if vnet is not None else []
        for block in (b for b in listed if isinstance(b, str)):
            for known in self.node_ranges(AddressBlocks(Network(block, strict=False))):
                if known.cidr == cidr:
                    return known
        return NodeRange(f"subnet {subnet.name}", cidr, SUBNET_RESERVED, None, None)

    # A pool surges max(1, ceil(10% of its nodes)) at most, which is below 10% + 1 per pool.
    surge_per_node = DEFAULT_SURGE_SHARE
    surge_per_group = 1

    def pool_surge(self, max_nodes: int) -> int:
        """An upper bound: GPU pools set maxSurge 0 (regular) or none (spot, the AKS default)."""
        return default_surge(max_nodes)

    def node_addresses(self, instance_type: str, node_range: NodeRange) -> int | None:
        if node_range.pods:
            return 1 << (32 - OVERLAY_NODE_PREFIX)
        return 1

    def normalise_region(self, value: str) -> str:
        """Azure accepts 'Sweden Central' and 'swedencentral'; the catalog uses the latter."""
        return value.replace(" ", "").lower()

    # Classic azure (azurerm) resources take `location`; its provider has no default location
    # (www.pulumi.com/registry/packages/azure/installation-configuration/), so a child resource
    # without `location` (a container, a subnet) cannot be located by itself.
    located_packages = (LocatedPackage("azure", ("location",), (), "www.pulumi.com/registry/packages/azure/api-docs/"),)
    # An AKS API server is <fqdn-prefix>.hcp.<location>.azmk8s.io, a private one
    # <...>.privatelink.<location>.azmk8s.io (learn.microsoft.com/azure/aks/private-clusters).
    cluster_kind = "AKS"
    cluster_endpoints = (re.compile(r"\.([a-z0-9]+)\.azmk8s\.io"),)
    own_name_keys = NAME_INPUTS  # by which other resources refer to them

    def residency_findings(self, resource: DeclaredResource, judge: ResidencyJudge) -> Iterable[str]:
        from gpufleet.clouds.azure.residency import findings

        return findings(resource, judge)

    def is_regional(self, resource_type: str, props: Mapping[str, Any]) -> bool:
        if resource_type in INHERITING_TYPES:
            return False
        location = props.get("location")
        return not (isinstance(location, str) and self.normalise_region(location) == GLOBAL_LOCATION)

    def mock_state(self, args: MockArgs, state: dict[str, Any]) -> dict[str, Any]:
        return mock_state(args, state)

    def security_controls(self) -> SecurityControls:
        from gpufleet.clouds.azure.controls import CONTROLS

        return CONTROLS
