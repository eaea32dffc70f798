"""The Azure side of the whole program under mocks: shape, sizing, security settings, names.

Whole-program recordings of the sample stacks (the `recorded` fixture) and of small ad-hoc
fleets (`record_fleet`); `pool_settings` is checked directly on hand-built plans.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.azure import decisions as d
from components.azure import pool_settings
from gpufleet.cli import main
from gpufleet.clouds.catalog import load_catalog
from gpufleet.errors import DecisionError
from gpufleet.plan import (
    CostSummary,
    FleetPlan,
    NetworkPlan,
    Placement,
    PoolPlan,
    SolverReport,
)
from gpufleet.preview import RecordedResource, Recording
from gpufleet.spec import load_fleet
from tests.conftest import fleet_of, record_fleet

Recorder = Callable[[str], Recording]
STACKS = ["prod-eu", "dev"]

RG = "azure-native:resources:ResourceGroup"
VNET = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
NSG = "azure-native:network:NetworkSecurityGroup"
CLUSTER = "azure-native:containerservice:ManagedCluster"
AGENT_POOL = "azure-native:containerservice:AgentPool"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
ROLE = "azure-native:authorization:RoleAssignment"
ACCOUNT = "azure-native:storage:StorageAccount"
BLOB_SERVICE = "azure-native:storage:BlobServiceProperties"
CONTAINER = "azure-native:storage:BlobContainer"
ENDPOINT = "azure-native:network:PrivateEndpoint"
DNS_GROUP = "azure-native:network:PrivateDnsZoneGroup"
ZONE = "azure-native:privatedns:PrivateZone"
ZONE_LINK = "azure-native:privatedns:VirtualNetworkLink"
C_NETWORK = "gpufleet:azure:Network"
C_CLUSTER = "gpufleet:azure:GpuCluster"
C_POOL = "gpufleet:azure:GpuNodePool"
C_STORAGE = "gpufleet:azure:DatasetStorage"
FLEET = "gpufleet:index:GpuFleet"
# Types whose Azure schema has `tags` (subnets, blob services, containers, DNS groups and role
# assignments have none).
MAINTENANCE = "azure-native:containerservice:MaintenanceConfiguration"
TAGGABLE = {RG, VNET, NSG, CLUSTER, AGENT_POOL, IDENTITY, ACCOUNT, ENDPOINT, ZONE, ZONE_LINK}
OPEN_SOURCES = {"*", "internet", "0.0.0.0/0", "any", "::/0"}
IB_SIZES = {s.instance_type for s in load_catalog().skus.values() if s.cloud == "azure" and s.rdma}


def azure(recording: Recording) -> list[RecordedResource]:
    return [
        r
        for r in recording.resources
        if r.type.startswith("azure-native:") or r.type.startswith("gpufleet:azure:")
    ]


def plan_of(recording: Recording) -> FleetPlan:
    return recording.result


def home_region(recording: Recording, resource: RecordedResource) -> str | None:
    """The region of the resource's component (DNS zones are 'global' but belong to a region)."""
    current: RecordedResource | None = resource
    while current is not None and not current.type.startswith("gpufleet:azure:"):
        current = next((r for r in recording.resources if r.urn == current.parent), None)
    return current.region if current is not None else resource.region


def by_region(recording: Recording) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for resource in azure(recording):
        counts.setdefault(home_region(recording, resource) or "?", Counter())[resource.type] += 1
    return counts


def cluster_in(recording: Recording, region: str) -> RecordedResource:
    (cluster,) = [r for r in recording.by_type(CLUSTER) if r.region == region]
    return cluster


# -- shape ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_each_azure_region_gets_one_group_network_cluster_and_a_pool_per_placement(
    recorded: Recorder, stack: str
) -> None:
    recording = recorded(stack)
    plan = plan_of(recording)
    regions = plan.regions("azure")
    assert regions, f"{stack} should place something on Azure"
    counts = by_region(recording)
    assert set(counts) == set(regions)
    for region in regions:
        pools = len(plan.placements_in("azure", region))
        stores = len(plan.storage_in("azure", region))
        expected = Counter(
            {
                RG: 1,
                C_NETWORK: 1,
                NSG: 1,
                VNET: 1,
                SUBNET: 2,
                C_CLUSTER: 1,
                IDENTITY: 1,
                ROLE: 2,  # Network Contributor for the cluster, RBAC Cluster Admin for the deployer
                MAINTENANCE: 2,  # the auto-upgrade and node OS upgrade windows
                CLUSTER: 1,
                C_POOL: pools,
                AGENT_POOL: pools,
                C_STORAGE: stores,
                ACCOUNT: stores,
                BLOB_SERVICE: stores,
                CONTAINER: stores,
                ENDPOINT: stores,
                DNS_GROUP: stores,
                ZONE: min(stores, 1),
                ZONE_LINK: min(stores, 1),
            }
        )
        assert counts[region] == +expected, region


@pytest.mark.parametrize("stack", STACKS)
def test_sample_stack_azure_resource_totals(recorded: Recorder, stack: str) -> None:
    """One Azure region, one GPU placement and one storage account in each sample stack:
    4 components and 19 Azure resources (16, and since issue 26 the deployer's admin role and
    two maintenance windows)."""
    resources = azure(recorded(stack))
    assert len([r for r in resources if r.custom]) == 19
    assert len([r for r in resources if not r.custom]) == 4


@pytest.mark.parametrize("stack", STACKS)
def test_every_azure_placement_has_one_agent_pool_of_its_size_in_its_regions_cluster(
    recorded: Recorder, stack: str
) -> None:
    recording = recorded(stack)
    plan = plan_of(recording)
    pools = recording.by_type(AGENT_POOL)
    placements = [p for p in plan.placements if p.cloud == "azure"]
    assert len(pools) == len(placements)
    for placement in placements:
        cluster = cluster_in(recording, placement.region)
        matching = [
            p
            for p in pools
            if p.inputs["vmSize"] == placement.instance_type
            and p.inputs["resourceName"] == cluster.inputs["resourceName"]
            and p.inputs["resourceGroupName"] == cluster.inputs["resourceGroupName"]
        ]
        assert len(matching) == 1, placement.key
        (pool,) = matching
        size = pool.inputs["maxCount"] if pool.inputs["enableAutoScaling"] else pool.inputs["count"]
        assert size == placement.nodes
        assert pool.inputs["agentPoolName"] == d.agent_pool_name(placement.key, placement.pool)


@pytest.mark.parametrize("stack", STACKS)
def test_gpu_agent_pools_are_tainted_labelled_private_with_drivers(
    recorded: Recorder, stack: str
) -> None:
    recording = recorded(stack)
    plan = plan_of(recording)
    for pool in recording.by_type(AGENT_POOL):
        inputs = pool.inputs
        spec_pool = plan.spec.pool(inputs["tags"]["gpufleet-pool"])
        assert inputs["mode"] == "User"
        assert inputs["osType"] == "Linux"
        assert "nvidia.com/gpu=true:NoSchedule" in inputs["nodeTaints"]
        assert inputs["nodeLabels"]["gpufleet.io/pool"] == spec_pool.name
        assert inputs["nodeLabels"]["gpufleet.io/accelerator"] == spec_pool.accelerator_label()
        assert inputs["nodeLabels"]["gpufleet.io/fleet"] == plan.fleet
        assert inputs["enableNodePublicIP"] is False
        assert inputs["gpuProfile"] == {"driver": "Install"}
        assert inputs["vnetSubnetID"]
        assert len(inputs["agentPoolName"]) <= 12
        assert inputs.get("gpuInstanceProfile") == spec_pool.mig
        if spec_pool.autoscale is None:
            assert inputs["enableAutoScaling"] is False
        else:
            assert inputs["enableAutoScaling"] is True
            assert inputs["minCount"] == min(spec_pool.autoscale.min_nodes, inputs["maxCount"])
            assert "count" in pool.ignore_changes


def test_prod_eu_training_pool_is_on_demand_infiniband(recorded: Recorder) -> None:
    (pool,) = recorded("prod-eu").by_type(AGENT_POOL)
    assert pool.inputs["vmSize"] in IB_SIZES
    assert pool.inputs["nodeLabels"]["gpufleet.io/interconnect"] == "infiniband"
    assert pool.inputs["scaleSetPriority"] == "Regular"
    assert "scaleSetEvictionPolicy" not in pool.inputs
    assert "spotMaxPrice" not in pool.inputs
    assert pool.inputs["nodeTaints"] == ["nvidia.com/gpu=true:NoSchedule"]
    assert pool.inputs["upgradeSettings"] == {"maxSurge": "0", "maxUnavailable": "1"}


def test_dev_inference_pool_is_spot_delete_at_any_price(recorded: Recorder) -> None:
    (pool,) = recorded("dev").by_type(AGENT_POOL)
    assert pool.inputs["vmSize"] == "Standard_NC4as_T4_v3"
    assert pool.inputs["scaleSetPriority"] == "Spot"
    assert pool.inputs["scaleSetEvictionPolicy"] == "Delete"
    assert pool.inputs["spotMaxPrice"] == -1
    assert pool.inputs["nodeTaints"] == [
        "nvidia.com/gpu=true:NoSchedule",
        "kubernetes.azure.com/scalesetpriority=spot:NoSchedule",
    ]
    assert (pool.inputs["enableAutoScaling"], pool.inputs["minCount"]) == (True, 0)
    assert "upgradeSettings" not in pool.inputs


# -- security ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_clusters_are_private_entra_only_with_network_policy(
    recorded: Recorder, stack: str
) -> None:
    recording = recorded(stack)
    plan = plan_of(recording)
    for cluster in recording.by_type(CLUSTER):
        inputs = cluster.inputs
        net = plan.network("azure", cluster.region or "")
        assert inputs["apiServerAccessProfile"]["enablePrivateCluster"] is True
        assert inputs["apiServerAccessProfile"]["enablePrivateClusterPublicFQDN"] is False
        assert inputs["disableLocalAccounts"] is True
        assert inputs["enableRBAC"] is True
        assert inputs["aadProfile"] == {"managed": True, "enableAzureRBAC": True}
        assert inputs["identity"]["type"] == "UserAssigned"
        assert inputs["oidcIssuerProfile"] == {"enabled": True}
        assert inputs["securityProfile"]["workloadIdentity"] == {"enabled": True}
        assert inputs["autoUpgradeProfile"] == {
            "upgradeChannel": "stable",
            "nodeOSUpgradeChannel": "NodeImage",
        }
        assert inputs["sku"] == {"name": "Base", "tier": "Standard"}
        profile = inputs["networkProfile"]
        assert profile["networkPlugin"] == "azure"
        assert profile["networkPluginMode"] == "overlay"
        assert profile["networkPolicy"] == "cilium"
        assert profile["networkDataplane"] == "cilium"
        assert profile["podCidr"] == net.pod_cidr
        assert profile["serviceCidr"] == "10.0.0.0/16"
        assert profile["dnsServiceIP"] == "10.0.0.10"
        (system,) = inputs["agentPoolProfiles"]
        assert system["mode"] == "System"
        assert system["vmSize"] == "Standard_D4s_v5"
        assert (system["minCount"], system["maxCount"]) == (2, 3)
        assert system["nodeTaints"] == ["CriticalAddonsOnly=true:NoSchedule"]
        assert system["enableNodePublicIP"] is False
        assert cluster.inputs["tags"] == d.resource_tags(plan.fleet, plan.stack)


@pytest.mark.parametrize("stack", STACKS)
def test_cluster_identity_may_join_the_vnet_before_the_cluster_exists(
    recorded: Recorder, stack: str
) -> None:
    recording = recorded(stack)
    roles = [r for r in recording.by_type(ROLE) if r.name.endswith("-network-contributor")]
    assert roles
    for role in roles:
        assert role.inputs["roleDefinitionId"].endswith(
            "/roleDefinitions/4d97b98b-1d4f-4787-a291-c67834d212e7"
        )
        assert role.inputs["principalType"] == "ServicePrincipal"
        assert role.inputs["principalId"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_deployer_administers_each_cluster_and_upgrades_wait_for_a_window(
    recorded: Recorder, stack: str
) -> None:
    """Issue 26: with Azure RBAC and local accounts off, stage 2 needs the deployer to hold
    "Azure Kubernetes Service RBAC Cluster Admin" on the cluster; auto-upgrade and node image
    upgrades happen only in a declared weekly window, never mid-run at any time."""
    recording = recorded(stack)
    for cluster in recording.by_type(CLUSTER):
        assert cluster.inputs["disableLocalAccounts"] is True
        assert cluster.inputs["aadProfile"]["enableAzureRBAC"] is True
        admins = [r for r in recording.by_type(ROLE) if r.name.endswith("-deployer-admin")]
        assert len(admins) == 1
        assert admins[0].inputs["roleDefinitionId"].endswith("/roleDefinitions/b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b")
        assert admins[0].inputs["principalId"] == "00000000-0000-0000-0000-000000000002"  # the client's object id
        windows = {m.inputs["configName"]: m.inputs for m in recording.by_type(MAINTENANCE)}
        assert set(windows) == {"aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule"}
        for window in windows.values():
            assert window["resourceName"] == cluster.inputs["resourceName"]
            assert window["maintenanceWindow"]["durationHours"] >= 4
            assert window["maintenanceWindow"]["schedule"]["weekly"]["intervalWeeks"] == 1


@pytest.mark.parametrize("stack", STACKS)
def test_service_range_overlaps_no_fleet_network(recorded: Recorder, stack: str) -> None:
    recording = recorded(stack)
    plan = plan_of(recording)
    for cluster in recording.by_type(CLUSTER):
        service = ipaddress.ip_network(cluster.inputs["networkProfile"]["serviceCidr"])
        pods = ipaddress.ip_network(cluster.inputs["networkProfile"]["podCidr"])
        ranges = [plan.spec.network.supernet] + [
            ipaddress.ip_network(n.cidr) for n in plan.networks
        ]
        assert not any(service.overlaps(r) for r in [*ranges, pods])
        assert not any(pods.overlaps(ipaddress.ip_network(n.cidr)) for n in plan.networks)


@pytest.mark.parametrize("stack", STACKS)
def test_nsg_allows_nothing_inbound_from_anywhere_and_guards_every_subnet(
    recorded: Recorder, stack: str
) -> None:
    recording = recorded(stack)
    for nsg in recording.by_type(NSG):
        rules = nsg.inputs["securityRules"]
        for rule in rules:
            sources = [rule.get("sourceAddressPrefix", ""), *rule.get("sourceAddressPrefixes", [])]
            opens = {s.lower() for s in sources} & OPEN_SOURCES
            assert not (rule["direction"] == "Inbound" and rule["access"] == "Allow" and opens), (
                rule
            )
        assert {
            "name": "deny-internet-inbound",
            "direction": "Inbound",
            "access": "Deny",
            "sourceAddressPrefix": "Internet",
            "destinationAddressPrefix": "*",
        }.items() <= rules[0].items()
    for subnet in recording.by_type(SUBNET):
        assert subnet.inputs["networkSecurityGroup"]["id"]
        assert subnet.inputs["defaultOutboundAccess"] is False


@pytest.mark.parametrize("stack", STACKS)
def test_vnet_uses_the_plan_cidr_and_subnets_split_it(recorded: Recorder, stack: str) -> None:
    recording = recorded(stack)
    plan = plan_of(recording)
    for vnet in recording.by_type(VNET):
        cidr = plan.network("azure", vnet.region or "").cidr
        assert vnet.inputs["addressSpace"] == {"addressPrefixes": [cidr]}
        layout = d.subnet_layout(cidr)
        prefixes = {
            s.inputs["addressPrefix"] for s in recording.by_type(SUBNET) if s.parent == vnet.parent
        }
        assert prefixes == {layout.nodes, layout.endpoints}


@pytest.mark.parametrize("stack", STACKS)
def test_storage_accounts_are_locked_down_and_protected(recorded: Recorder, stack: str) -> None:
    recording = recorded(stack)
    plan = plan_of(recording)
    accounts = recording.by_type(ACCOUNT)
    assert len(accounts) == len([s for s in plan.storage if s.cloud == "azure"]) > 0
    for account in accounts:
        inputs = account.inputs
        assert re.fullmatch(r"[a-z0-9]{3,24}", inputs["accountName"])
        assert inputs["kind"] == "StorageV2"
        assert inputs["sku"]["name"] in {"Standard_LRS", "Standard_ZRS"}
        assert inputs["enableHttpsTrafficOnly"] is True
        assert inputs["minimumTlsVersion"] == "TLS1_2"
        assert inputs["allowBlobPublicAccess"] is False
        assert inputs["allowSharedKeyAccess"] is False
        assert inputs["publicNetworkAccess"] == "Disabled"
        assert inputs["networkRuleSet"]["defaultAction"] == "Deny"
        assert inputs["encryption"]["requireInfrastructureEncryption"] is True
        assert (account.protect, account.retain_on_delete) == (True, True)
    for service in recording.by_type(BLOB_SERVICE):
        assert service.inputs["isVersioningEnabled"] is True
        assert service.inputs["deleteRetentionPolicy"] == {"enabled": True, "days": 30}
        assert service.inputs["containerDeleteRetentionPolicy"] == {"enabled": True, "days": 30}
    for container in recording.by_type(CONTAINER):
        assert container.inputs["publicAccess"] == "None"
        assert (container.protect, container.retain_on_delete) == (True, True)
    for endpoint in recording.by_type(ENDPOINT):
        (connection,) = endpoint.inputs["privateLinkServiceConnections"]
        assert connection["groupIds"] == ["blob"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_taggable_resource_carries_fleet_and_stack(recorded: Recorder, stack: str) -> None:
    recording = recorded(stack)
    plan = plan_of(recording)
    for resource in azure(recording):
        if resource.type in TAGGABLE:
            tags = resource.inputs["tags"]
            assert tags["gpufleet-fleet"] == plan.fleet, resource.urn
            assert tags["gpufleet-stack"] == plan.stack, resource.urn
    for pool in recording.by_type(AGENT_POOL):
        assert pool.inputs["tags"]["gpufleet-pool"] in {p.name for p in plan.pools}


@pytest.mark.parametrize("stack", STACKS)
def test_kubeconfig_is_a_secret_output_per_region(recorded: Recorder, stack: str) -> None:
    recording = recorded(stack)
    for region in plan_of(recording).regions("azure"):
        assert f"azure/{region}/kubeconfig" in recording.secret_outputs
        assert recording.outputs[f"azure/{region}/kubeconfig"].startswith("apiVersion: v1")
        assert f"azure/{region}/cluster" not in recording.secret_outputs
        assert (
            recording.outputs[f"azure/{region}/cluster"]
            == cluster_in(recording, region).inputs["resourceName"]
        )


@pytest.mark.parametrize("stack", STACKS)
def test_children_are_parented_to_their_component(recorded: Recorder, stack: str) -> None:
    recording = recorded(stack)
    types = {r.urn: r.type for r in recording.resources}
    expected_parent = {
        RG: FLEET,
        C_NETWORK: FLEET,
        C_CLUSTER: FLEET,
        C_POOL: FLEET,
        C_STORAGE: FLEET,
        NSG: C_NETWORK,
        VNET: C_NETWORK,
        SUBNET: C_NETWORK,
        ZONE: C_NETWORK,
        ZONE_LINK: C_NETWORK,
        IDENTITY: C_CLUSTER,
        ROLE: C_CLUSTER,
        MAINTENANCE: C_CLUSTER,
        CLUSTER: C_CLUSTER,
        AGENT_POOL: C_POOL,
        ACCOUNT: C_STORAGE,
        BLOB_SERVICE: C_STORAGE,
        CONTAINER: C_STORAGE,
        ENDPOINT: C_STORAGE,
        DNS_GROUP: C_STORAGE,
    }
    for resource in azure(recording):
        assert types[resource.parent] == expected_parent[resource.type], resource.urn
        if resource.type.startswith("azure-native:") and resource.type != RG:
            # each child is named after its own component
            assert resource.name.startswith(resource.parent.split("::")[-1]), resource.urn


# -- names are stable ----------------------------------------------------------------------------


def test_names_unchanged_when_pools_and_storage_are_reordered(recorded: Recorder) -> None:
    fleet = copy.deepcopy(fleet_of("prod-eu"))
    fleet["pools"] = list(reversed(fleet["pools"]))
    reordered = record_fleet(fleet, stack="prod-eu")
    baseline = recorded("prod-eu")
    assert {p.key for p in plan_of(reordered).placements} == {
        p.key for p in plan_of(baseline).placements
    }
    assert {r.urn for r in azure(reordered)} == {r.urn for r in azure(baseline)}
    names = {
        r.urn: r.inputs.get("agentPoolName") or r.inputs.get("accountName") for r in azure(baseline)
    }
    assert {
        r.urn: r.inputs.get("agentPoolName") or r.inputs.get("accountName")
        for r in azure(reordered)
    } == names


# -- ad-hoc fleets -------------------------------------------------------------------------------

MIG_FLEET: dict[str, Any] = {
    "name": "tune",
    "network": {"supernet": "10.32.0.0/12"},
    "clouds": {"azure": {"regions": ["eastus"]}},
    "pools": [
        {
            "name": "tune",
            "accelerator": "A100-80GB",
            "gpus": 2,
            "gpus_per_node": 1,
            "mig": "MIG3g",
        },
        {
            "name": "infer",
            "accelerator": "T4",
            "gpus": 2,
            "gpus_per_node": 1,
            "capacity": "spot",
            "autoscale": {"min_nodes": 1},
        },
    ],
    "storage": [
        {"name": "scratch", "size_tib": 1, "colocate_with": ["tune"], "protect": False},
        {"name": "models", "size_tib": 1, "colocate_with": ["infer"]},
    ],
}


@pytest.fixture(scope="module")
def mig_recording() -> Recording:
    return record_fleet(MIG_FLEET, stack="mig")


def pool_of(recording: Recording, name: str) -> RecordedResource:
    (pool,) = [
        p for p in recording.by_type(AGENT_POOL) if p.inputs["tags"]["gpufleet-pool"] == name
    ]
    return pool


def test_mig_pool_gets_its_instance_profile_and_fixed_size(mig_recording: Recording) -> None:
    plan = plan_of(mig_recording)
    (placement,) = [p for p in plan.placements if p.pool == "tune"]
    pool = pool_of(mig_recording, "tune")
    assert pool.inputs["vmSize"] == placement.instance_type
    assert load_catalog().sku("azure", placement.instance_type).mig_capable  # type: ignore[union-attr]
    assert pool.inputs["gpuInstanceProfile"] == "MIG3g"
    assert pool.inputs["gpuProfile"] == {"driver": "Install"}
    assert (pool.inputs["enableAutoScaling"], pool.inputs["count"]) == (False, placement.nodes)
    assert "minCount" not in pool.inputs
    assert "maxCount" not in pool.inputs
    assert pool.inputs["scaleSetPriority"] == "Regular"
    assert pool.ignore_changes == ()
    assert "gpuInstanceProfile" not in pool_of(mig_recording, "infer").inputs


def test_two_pools_in_one_region_share_the_cluster_under_distinct_names(
    mig_recording: Recording,
) -> None:
    (cluster,) = mig_recording.by_type(CLUSTER)
    pools = mig_recording.by_type(AGENT_POOL)
    assert len(pools) == 2
    assert {p.inputs["resourceName"] for p in pools} == {cluster.inputs["resourceName"]}
    assert len({p.inputs["agentPoolName"] for p in pools}) == 2
    infer = pool_of(mig_recording, "infer")
    assert (infer.inputs["minCount"], infer.inputs["scaleSetPriority"]) == (1, "Spot")


def test_storage_protection_follows_the_spec(mig_recording: Recording) -> None:
    accounts = {r.inputs["tags"]["gpufleet-storage"]: r for r in mig_recording.by_type(ACCOUNT)}
    assert set(accounts) == {"scratch", "models"}
    assert (accounts["scratch"].protect, accounts["scratch"].retain_on_delete) == (False, False)
    assert (accounts["models"].protect, accounts["models"].retain_on_delete) == (True, True)
    containers = {r.inputs["containerName"]: r for r in mig_recording.by_type(CONTAINER)}
    assert (containers["scratch"].protect, containers["models"].protect) == (False, True)
    assert accounts["scratch"].inputs["accountName"] == d.storage_account_name(
        "tune", "mig", "scratch", "eastus"
    )
    assert accounts["scratch"].inputs["sku"] == {"name": "Standard_ZRS"}
    # one private DNS zone per region, one private endpoint per account
    assert len(mig_recording.by_type(ZONE)) == 1
    assert len(mig_recording.by_type(ENDPOINT)) == 2


def test_names_unchanged_when_two_azure_pools_and_storages_are_reordered(
    mig_recording: Recording,
) -> None:
    fleet = copy.deepcopy(MIG_FLEET)
    fleet["pools"] = list(reversed(fleet["pools"]))
    fleet["storage"] = list(reversed(fleet["storage"]))
    reordered = record_fleet(fleet, stack="mig")

    def names(recording: Recording) -> dict[str, object]:
        return {
            r.urn: r.inputs.get("agentPoolName") or r.inputs.get("accountName")
            for r in azure(recording)
        }

    assert names(reordered) == names(mig_recording)


# -- pool_settings on hand-built plans -----------------------------------------------------------


def hand_plan(
    pool: dict[str, Any], instance_type: str, nodes: int = 2
) -> tuple[FleetPlan, Placement]:
    spec = load_fleet(
        {
            "name": "hand",
            "network": {"supernet": "10.32.0.0/12"},
            "clouds": {"azure": {"regions": ["eastus"]}},
            "pools": [{"name": "other", "accelerator": "T4", "gpus": 1}, pool],
        }
    )
    sku = load_catalog().sku("azure", instance_type)
    assert sku is not None
    placement = Placement(
        pool["name"],
        "azure",
        "eastus",
        instance_type,
        nodes,
        nodes * sku.gpus,
        "on-demand",
        sku.vcpus,
        sku.quota_bucket,
        1.0,
        "test",
        730.0,
    )
    plan = FleetPlan(
        "hand",
        spec,
        (PoolPlan(pool["name"], pool["accelerator"], pool["gpus"], (placement,)),),
        (NetworkPlan("azure", "eastus", "10.32.0.0/16", "10.33.0.0/16"),),
        (),
        CostSummary(0.0, (), None, ()),
        (),
        SolverReport("optimal", 0.0, 0.0, 0.0),
    )
    return plan, placement


def test_pool_settings_refuses_rdma_on_a_size_without_infiniband() -> None:
    plan, placement = hand_plan(
        {"name": "train", "accelerator": "H100", "gpus": 8, "interconnect": "rdma"},
        "Standard_NC80adis_H100_v5",
    )
    with pytest.raises(DecisionError) as error:
        pool_settings(plan, placement)
    problem = error.value
    assert problem.path == "pools[1].interconnect"
    assert problem.message.startswith(
        "interconnect rdma needs an InfiniBand-capable Azure VM size; "
        "Standard_NC80adis_H100_v5 has no InfiniBand; InfiniBand sizes: "
    )
    assert "Standard_ND96isr_H100_v5" in problem.message


def test_pool_settings_refuses_mig_on_a_size_without_mig() -> None:
    plan, placement = hand_plan(
        {"name": "tune", "accelerator": "H100", "gpus": 2, "mig": "MIG2g"}, "Standard_NC4as_T4_v3"
    )
    with pytest.raises(DecisionError) as error:
        pool_settings(plan, placement)
    assert str(error.value) == (
        "pools[1].mig: MIG profile MIG2g needs a MIG-capable GPU (A100, H100, H200, B200); "
        "VM size Standard_NC4as_T4_v3 has T4; remove mig or use an A100/H100 pool"
    )


def test_pool_settings_for_an_infiniband_pool() -> None:
    plan, placement = hand_plan(
        {
            "name": "train",
            "accelerator": "H100",
            "gpus": 16,
            "interconnect": "rdma",
            "autoscale": {"min_nodes": 1},
        },
        "Standard_ND96isr_H100_v5",
    )
    settings = pool_settings(plan, placement)
    assert settings.vm_size == "Standard_ND96isr_H100_v5"
    assert settings.gpu_instance_profile is None  # MIG on an rdma pool is refused by the spec
    assert settings.groups[0].scale == d.ScaleSettings(
        count=1, enable_auto_scaling=True, min_count=1, max_count=2
    )
    assert settings.node_labels["gpufleet.io/interconnect"] == "infiniband"
    assert settings.tags == {
        "gpufleet-fleet": "hand",
        "gpufleet-stack": "hand",
        "gpufleet-pool": "train",
    }


def test_a_decision_error_exits_2_naming_the_field_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A VNet override ipam accepts but AKS cannot use reaches the user as a message, not a
    traceback: the Azure side raises the same DecisionError as the AWS side."""
    spec = tmp_path / "small-vnet.yaml"
    spec.write_text(
        "name: llm\nnetwork: {supernet: 10.64.0.0/10, overrides: {azure/eastus: 10.200.0.0/25}}\n"
        "clouds: {azure: {regions: [eastus]}}\npools:\n  - {name: infer, accelerator: T4, gpus: 1}\n"
    )
    code = main(["plan", "--spec", str(spec)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == (
        "gpufleet plan: network.overrides.azure/eastus: VNet 10.200.0.0/25 is too small for AKS; "
        "give the region a /24 or larger"
    )
    assert "Traceback" not in err
