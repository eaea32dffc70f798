"""Azure: quota families and the regional total, fixed costs, system pool, VNet and overlay pod
range, resource types, mock answers.

Rates are East US list prices (other regions differ by a few percent), for planning, not
invoicing; each names the page it reflects.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

from gpufleet.clouds.base import (
    AddressBlocks,
    CloudModel,
    DeclaredPool,
    DeclaredResource,
    FixedCost,
    LinkTraits,
    MockArgs,
    Network,
    StorageRate,
    SystemPool,
    whole,
)

if TYPE_CHECKING:
    from gpufleet.clouds.base import Builder

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
    "azure-native:network:PublicIPAddress": "publicIpAddressName",
    "azure-native:network:VirtualNetworkGateway": "virtualNetworkGatewayName",
    "azure-native:network:LocalNetworkGateway": "localNetworkGatewayName",
    "azure-native:network:VirtualNetworkGatewayConnection": "virtualNetworkGatewayConnectionName",
    "azure-native:network:VirtualNetworkPeering": "virtualNetworkPeeringName",
}
_KUBECONFIG = base64.b64encode(b"apiVersion: v1\nkind: Config\nclusters: []\n").decode()
_CODE = "fixed rate in gpufleet/clouds/azure.py"

# Azure's end of the fleet link (gpufleet/interconnect.py): an active-active, zone-redundant VPN
# gateway per VNet, local network gateways for the other cloud's tunnel endpoints, global VNet
# peering between Azure regions. "The Azure APIPA BGP IP address must be in the range
# 169.254.21.0 to 169.254.22.255" and ASNs 65515, 65517, 65518, 65519, 65520 (and the public
# 8074, 8075, 12076) are reserved by Azure (learn.microsoft.com/azure/vpn-gateway/
# vpn-gateway-bgp-overview, .../vpn-gateway-howto-aws-bgp).
# SKU: VpnGw1AZ, the smallest zone-redundant SKU: 650 Mbps aggregate, 30 S2S tunnels at most, 10
# of them included in the hourly price (learn.microsoft.com/azure/vpn-gateway/about-gateway-skus).
# Rates, East US list prices as of 2025 from memory (verify at azure.microsoft.com/pricing/
# details/vpn-gateway and .../ip-addresses): VpnGw1AZ $0.361/hour, S2S tunnel beyond the included
# ones $0.015/hour, Standard static public IP $0.005/hour; data out $0.087/GB (.../bandwidth).
VPN_GATEWAY_SKU = "VpnGw1AZ"
VPN_GATEWAY_USD_PER_HOUR = 0.361
VPN_TUNNELS_INCLUDED = 10
VPN_TUNNELS_MAX = 30
VPN_EXTRA_TUNNEL_USD_PER_HOUR = 0.015
PUBLIC_IP_USD_PER_HOUR = 0.005
GATEWAY_PUBLIC_IPS = 2  # active-active: one per gateway instance
TUNNELS_PER_PEER = 4  # the other cloud's 2 connections × 2 tunnels
VPN_GATEWAY = "azure-native:network:VirtualNetworkGateway"
_LINK_SOURCE = (
    f"{_CODE}: {VPN_GATEWAY_SKU} $0.361/h, extra S2S tunnel $0.015/h, Standard public IP $0.005/h; "
    "list prices as of 2025, verify (azure.microsoft.com/pricing/details/vpn-gateway)"
)
LINK = LinkTraits(
    tunnel_endpoint=False,
    inside_ranges=(Network("169.254.21.0/24"), Network("169.254.22.0/24")),
    inside_reserved=(),
    reserved_asns=frozenset({8074, 8075, 12076, 65515, 65517, 65518, 65519, 65520}),
    same_cloud_path="global VNet peering",
    cross_cloud_path=f"{VPN_GATEWAY_SKU} active-active gateway, 4 local network gateways, 4 BGP connections",
    usd_per_gb=0.087,
    usd_per_gb_source=f"{_CODE}: data out $0.087/GB, list price as of 2025, verify "
                      "(azure.microsoft.com/pricing/details/bandwidth)",
    max_tunnels=VPN_TUNNELS_MAX,
)
AGENT_POOL = "azure-native:containerservice:AgentPool"
MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"
_CLUSTERS = frozenset({MANAGED_CLUSTER})
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
        "azure-native:managedidentity:UserAssignedIdentity", VPN_GATEWAY,
        "azure-native:network:LocalNetworkGateway",
        "azure-native:network:VirtualNetworkGatewayConnection",
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
        VPN_GATEWAY: ("location", "virtualNetworkGatewayName", "gatewayType", "vpnType"),
        "azure-native:network:PublicIPAddress": ("location", "publicIpAddressName", "sku", "zones"),
    }
    system_pool = SYSTEM_POOL
    link = LINK
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

    def link_costs(self, peers: int, same_cloud_peers: int) -> tuple[FixedCost, ...]:
        """The VNet's VPN gateway and its two public IPs, and the tunnels beyond those included
        (VNet peering has no hourly price, only per GB)."""
        extra = max(0, TUNNELS_PER_PEER * peers - VPN_TUNNELS_INCLUDED)
        return (
            FixedCost(f"link: VPN gateway {VPN_GATEWAY_SKU}", VPN_GATEWAY_USD_PER_HOUR, 1,
                      _LINK_SOURCE, VPN_GATEWAY),
            FixedCost(f"link: gateway public IPs ({GATEWAY_PUBLIC_IPS})", PUBLIC_IP_USD_PER_HOUR,
                      GATEWAY_PUBLIC_IPS, _LINK_SOURCE, "azure-native:network:PublicIPAddress"),
            # Not a resource of its own: the budget policy does not price it (planner is stricter).
            FixedCost(f"link: S2S tunnels beyond the {VPN_TUNNELS_INCLUDED} included ({extra})",
                      VPN_EXTRA_TUNNEL_USD_PER_HOUR, extra, _LINK_SOURCE, ""),
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

    def address_blocks(self, slot: Network | None, override: Network | None) -> AddressBlocks:
        """The VNet takes the slot's lower half (or the override), the AKS overlay pod range the
        upper half (overlay gives each node a /24)."""
        if slot is None:
            raise ValueError("has no address slot (REGION_SLOTS in gpufleet/clouds/azure.py); append it there")
        lower, upper = slot.subnets(prefixlen_diff=1)
        return AddressBlocks(override or lower, upper)

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
        if args.typ == "azure-native:network:PublicIPAddress":
            # TEST-NET-2 (RFC 5737), from the name: stable across runs.
            state.setdefault("ipAddress", f"198.51.100.{sum(args.name.encode()) % 254 + 1}")
        if args.typ == "azure-native:managedidentity:UserAssignedIdentity":
            state.setdefault("principalId", "00000000-0000-0000-0000-00000000000a")
            state.setdefault("clientId", "00000000-0000-0000-0000-00000000000b")
        return state

    def builder(self) -> Builder:
        from components.azure import build_azure

        return build_azure


def _reader(profile: Mapping[str, Any]) -> Callable[..., Any]:
    def read(*path: str) -> Any:
        value: Any = profile
        for key in path:
            value = cast(Mapping[str, Any], value).get(key) if isinstance(value, Mapping) else None
        return value

    return read


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
