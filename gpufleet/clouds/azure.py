"""Azure: quota families and the regional total, fixed costs, system pool, VNet and overlay pod
range, resource types, mock answers.

Rates are East US list prices (other regions differ by a few percent), for planning, not
invoicing; each names the page it reflects.
"""

from __future__ import annotations

import base64
import ipaddress
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from gpufleet.clouds.base import (
    AddressBlocks,
    CloudModel,
    DeclaredPool,
    DeclaredRange,
    DeclaredResource,
    FixedCost,
    MockArgs,
    Network,
    NodeRange,
    StorageRate,
    SystemPool,
    whole,
)

if TYPE_CHECKING:
    import pulumi

    from gpufleet.plan import FleetPlan

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
    "azure-native:storage:ObjectReplicationPolicy",
    "azure-native:storage:PrivateEndpointConnection",
    "azure-native:authorization:RoleAssignment",
    "azure-native:authorization:RoleDefinition",
    "azure-native:authorization:ManagementLockAtResourceGroupLevel",
    "azure-native:authorization:ManagementLockAtResourceLevel",
    "azure-native:authorization:ManagementLockByScope",
    "azure-native:managedidentity:FederatedIdentityCredential",
})

# azure-native resources take their Azure name in a type-specific input; the provider's `name`
# output is that name (the mock falls back to the logical name when it is absent).
_NAME_INPUTS: Mapping[str, str] = {
    "azure-native:resources:ResourceGroup": "resourceGroupName",
    "azure-native:network:VirtualNetwork": "virtualNetworkName",
    "azure-native:network:Subnet": "subnetName",
    "azure-native:network:NetworkSecurityGroup": "networkSecurityGroupName",
    "azure-native:network:PrivateEndpoint": "privateEndpointName",
    "azure-native:privatedns:PrivateZone": "privateZoneName",
    "azure-native:containerservice:ManagedCluster": "resourceName",
    "azure-native:containerservice:AgentPool": "agentPoolName",
    "azure-native:managedidentity:UserAssignedIdentity": "resourceName",
    "azure-native:storage:StorageAccount": "accountName",
    "azure-native:storage:BlobContainer": "containerName",
}
_KUBECONFIG = base64.b64encode(b"apiVersion: v1\nkind: Config\nclusters: []\n").decode()
_CODE = "fixed rate in gpufleet/clouds/azure.py"
AGENT_POOL = "azure-native:containerservice:AgentPool"
MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"
_CLUSTERS = frozenset({MANAGED_CLUSTER})
_SUBNETS = frozenset({"azure-native:network:Subnet"})
_VNETS = frozenset({"azure-native:network:VirtualNetwork"})
_OVERLAY = "Azure CNI Overlay (a /24 of the pod CIDR per node)"
_GROUPS = frozenset({"azure-native:resources:ResourceGroup"})

# Azure CNI Overlay gives every node a /24 of the cluster's pod CIDR, which is private to the
# cluster and "can be reused in different AKS clusters" (learn.microsoft.com/azure/aks/
# azure-cni-overlay). So every cluster gets the same range, sized for the most nodes an AKS
# cluster may ever have (5,000 with a raised limit: limits.csv azure nodes_per_cluster): a /11
# holds 8,192 nodes, and growing a pool never moves it. The first candidate that overlaps
# neither the supernet nor an override is used (they are the fleet's routed addresses).
OVERLAY_NODE_PREFIX = 24
OVERLAY_POD_CANDIDATES = (
    ipaddress.IPv4Network("100.64.0.0/11"),
    ipaddress.IPv4Network("100.96.0.0/11"),
    ipaddress.IPv4Network("172.16.0.0/12"),
)
# Subnets keep five addresses (learn.microsoft.com/azure/virtual-network/ip-services/
# private-ip-addresses, and the AKS overlay page: a /24 holds 251 nodes).
SUBNET_RESERVED = 5
# AKS surges node pools without upgradeSettings by 10% of their nodes, at least one
# (learn.microsoft.com/azure/aks/upgrade-aks-cluster, "max surge": default 10% on
# current API versions; older clusters 1). The system pool sets none.
DEFAULT_SURGE_SHARE = 0.10


def node_subnet(vnet: Network) -> Network:
    """The node subnet: the VNet's first half (the rest holds the endpoint subnet)."""
    return next(vnet.subnets(prefixlen_diff=1))


def default_surge(max_nodes: int) -> int:
    """AKS's surge for a pool that sets no `maxSurge` (DEFAULT_SURGE_SHARE, at least one)."""
    return max(1, math.ceil(DEFAULT_SURGE_SHARE * max_nodes))


def surge_nodes(max_surge: object, max_nodes: int) -> int:
    """Nodes a pool's `upgradeSettings.maxSurge` ("0", "3", "33%") adds; unreadable or absent:
    the AKS default."""
    if isinstance(max_surge, int | float) and not isinstance(max_surge, bool):
        return max(0, int(max_surge))
    if not isinstance(max_surge, str) or not max_surge.strip():
        return default_surge(max_nodes)
    text = max_surge.strip()
    try:
        if text.endswith("%"):
            return max(0, math.ceil(float(text[:-1]) / 100 * max_nodes))
        return max(0, int(float(text)))
    except ValueError:
        return default_surge(max_nodes)


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
        "azure-native:resources:ResourceGroup", "azure-native:network:VirtualNetwork",
        "azure-native:network:NetworkSecurityGroup", "azure-native:network:NatGateway",
        "azure-native:network:PublicIPAddress", "azure-native:containerservice:ManagedCluster",
        "azure-native:containerservice:AgentPool", "azure-native:storage:StorageAccount",
        "azure-native:managedidentity:UserAssignedIdentity",
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
    }
    system_pool = SYSTEM_POOL
    # https://azure.microsoft.com/pricing/details/storage/blobs/ — Blob Storage hot tier, LRS,
    # first 50 TB/month: $0.0184 per GB-month (first-tier rate for all volumes: an upper bound).
    storage_rate = StorageRate(0.0184, "Blob hot LRS", f"{_CODE}: Blob hot LRS $0.0184/GB-month, first-tier list price")
    mock_calls: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "azure-native:authorization:getClientConfig": {
            "clientId": "00000000-0000-0000-0000-000000000001",
            "objectId": "00000000-0000-0000-0000-000000000002",
            "subscriptionId": "00000000-0000-0000-0000-000000000003",
            "tenantId": "00000000-0000-0000-0000-000000000004",
        },
        "azure-native:containerservice:listManagedClusterUserCredentials": {
            "kubeconfigs": [{"name": "clusterUser", "value": _KUBECONFIG}],
        },
    }

    def fixed_costs(self) -> tuple[FixedCost, ...]:
        # https://azure.microsoft.com/pricing/details/kubernetes-service/ — AKS Standard tier:
        # $0.10 per cluster per hour (the Free tier has no uptime SLA).
        return (
            FixedCost("AKS control plane (Standard tier)", 0.10, 1,
                      f"{_CODE}: $0.1/h per cluster (azure.microsoft.com/pricing/details/kubernetes-service)",
                      "azure-native:containerservice:ManagedCluster"),
        )

    storage_types = frozenset({"azure-native:storage:StorageAccount"})

    def declared_pools(self, resource: DeclaredResource) -> list[DeclaredPool]:
        """An agent pool, or the pools a managed cluster declares inline (`agentPoolProfiles`)."""
        if resource.type == AGENT_POOL:
            return [_pool(resource.name, resource.get, self._agent_pool_location(resource))]
        if resource.type == MANAGED_CLUSTER:
            listed = resource.items("agentPoolProfiles")
            profiles = [cast(Mapping[str, Any], p) for p in listed if isinstance(p, Mapping)]
            return [
                _pool(f"{resource.name}/{profile.get('name') or '?'}", _reader(profile), resource.region())
                for profile in profiles
            ]
        return []

    def _agent_pool_location(self, resource: DeclaredResource) -> str | None:
        """An agent pool has no location: its cluster's, found through the parent chain, the
        cluster it names (`resourceName`), or its resource group's."""
        found = resource.ancestor_region()
        for prop, types in (("resourceName", _CLUSTERS), ("resourceGroupName", _GROUPS)):
            if found is None and (linked := resource.linked(prop, types)) is not None:
                found = linked.region()
        return found or resource.region()

    def declared_fixed_hourly(self, resource: DeclaredResource) -> tuple[str, float] | None:
        """The Free tier's control plane costs nothing (and has no uptime SLA)."""
        found = super().declared_fixed_hourly(resource)
        if found is not None and resource.get("sku", "tier") == "Free":
            return found[0], 0.0
        return found

    def address_blocks(
        self, slot: Network | None, override: Network | None, avoid: Iterable[Network] = ()
    ) -> AddressBlocks:
        """The VNet takes the slot's lower half (or the override; the upper half stays free),
        the AKS overlay pod range the fleet-wide overlay block (OVERLAY_POD_CANDIDATES)."""
        if slot is None:
            raise ValueError("has no address slot (REGION_SLOTS in gpufleet/clouds/azure.py); append it there")
        vnet = override or next(slot.subnets(prefixlen_diff=1))
        taken = [vnet, *avoid]
        pods = next((c for c in OVERLAY_POD_CANDIDATES if not any(c.overlaps(t) for t in taken)), None)
        if pods is None:
            shown = ", ".join(map(str, OVERLAY_POD_CANDIDATES))
            raise ValueError(
                f"leaves no overlay pod range free: every candidate ({shown}) overlaps the fleet's addresses"
            )
        return AddressBlocks(vnet, pods)

    def node_ranges(self, blocks: AddressBlocks) -> tuple[NodeRange, ...]:
        """One address per node in the node subnet; one /24 per node in the overlay pod range."""
        ranges = [NodeRange("node subnet", node_subnet(blocks.cidr), SUBNET_RESERVED, 1, 2)]
        if blocks.pod_cidr is not None:
            ranges.append(NodeRange("overlay pod range", blocks.pod_cidr, 0, None, None, pods=True))
        return tuple(ranges)

    def declared_ranges(self, stack: Sequence[DeclaredResource]) -> list[DeclaredRange]:
        """Every node subnet with the pools that join it (one address per node) and every
        overlay cluster's pod CIDR with all its pools (a /24 per node), surge included."""
        subnets: dict[str, tuple[DeclaredResource, list[tuple[int, int | None]]]] = {}
        pods: dict[str, list[tuple[int, int | None]]] = {}
        clusters = {r.urn: r for r in stack if r.type == MANAGED_CLUSTER}
        for owner, read, cluster in _agent_pools(stack):
            pool = _pool(owner.name, read, None)
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

    def is_regional(self, resource_type: str, props: Mapping[str, Any]) -> bool:
        if resource_type in INHERITING_TYPES:
            return False
        location = props.get("location")
        return not (isinstance(location, str) and self.normalise_region(location) == GLOBAL_LOCATION)

    def mock_state(self, args: MockArgs, state: dict[str, Any]) -> dict[str, Any]:
        inputs = cast(dict[str, Any], args.inputs)
        name_input = _NAME_INPUTS.get(args.typ, "")
        if isinstance(inputs.get(name_input), str):
            state["name"] = inputs[name_input]
        state.setdefault("id", f"/subscriptions/mock/resourceGroups/mock/providers/{args.typ}/{args.name}")
        identity = cast(dict[str, Any], inputs.get("identity") or {})
        assigned = identity.get("userAssignedIdentities")
        if isinstance(assigned, list):
            # Inputs list the identity ids; the provider's state maps each id to its details.
            ids = cast(list[str], assigned)
            state["identity"] = {**identity, "userAssignedIdentities": {i: {} for i in ids}}
        if args.typ == "azure-native:managedidentity:UserAssignedIdentity":
            state.setdefault("principalId", "00000000-0000-0000-0000-00000000000a")
            state.setdefault("clientId", "00000000-0000-0000-0000-00000000000b")
        return state

    def builder(self) -> Callable[[FleetPlan, pulumi.Resource], Mapping[str, pulumi.Output[object]]]:
        from components.azure import build_azure

        return build_azure


def _reader(profile: Mapping[str, Any]) -> Callable[..., Any]:
    def read(*path: str) -> Any:
        value: Any = profile
        for key in path:
            value = cast(Mapping[str, Any], value).get(key) if isinstance(value, Mapping) else None
        return value

    return read


def _agent_pools(
    stack: Sequence[DeclaredResource],
) -> list[tuple[DeclaredResource, Callable[..., Any], DeclaredResource | None]]:
    """(declaring resource, reader, cluster) of every agent pool: separate ones and the pools a
    managed cluster declares inline."""
    found: list[tuple[DeclaredResource, Callable[..., Any], DeclaredResource | None]] = []
    for resource in stack:
        if resource.type == AGENT_POOL:
            found.append((resource, resource.get, resource.linked("resourceName", _CLUSTERS)))
        elif resource.type == MANAGED_CLUSTER:
            listed = resource.items("agentPoolProfiles")
            profiles = [cast(Mapping[str, Any], p) for p in listed if isinstance(p, Mapping)]
            found += [(resource, _reader(profile), resource) for profile in profiles]
    return found


def _pool(name: str, read: Callable[..., Any], region: str | None) -> DeclaredPool:
    """An agent pool's nodes: at most `maxCount` when autoscaled, else `count`."""
    most = whole(read("maxCount"))
    if most is None or read("enableAutoScaling") is False:
        most = whole(read("count"))
    least = whole(read("minCount")) or whole(read("count"))
    kind = read("vmSize")
    return DeclaredPool(
        name, (kind,) if isinstance(kind, str) else (), least or 0, most or 0,
        read("scaleSetPriority") == "Spot", region,
    )
