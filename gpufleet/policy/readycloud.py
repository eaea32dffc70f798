"""deploy-readiness, the clouds' settings that deploy but break (issue 26; docs/deploy.md):
- Azure VPN gateways and public IPs zonal only in regions with availability zones;
- a node NSG that denies the VirtualNetwork tag lets the load balancer's probes in first;
- an AKS cluster that auto-upgrades has the maintenance window of each upgrade it does;
- an AKS cluster with Azure RBAC and no local accounts gives someone RBAC Cluster Admin when the
  stack declares objects inside it (the deployer needs it, or the second stage cannot start).
"""

from __future__ import annotations

from collections.abc import Sequence

from pulumi_policy import PolicyResource

from gpufleet import clouds
from gpufleet.policy.props import describe, get, items, number, text
from gpufleet.policy.view import View

Finding = tuple[str, str]
GATEWAY = "azure-native:network:VirtualNetworkGateway"
PUBLIC_IP = "azure-native:network:PublicIPAddress"
NSG = "azure-native:network:NetworkSecurityGroup"
CLUSTER = "azure-native:containerservice:ManagedCluster"
CLUSTERS = frozenset({CLUSTER})
MAINTENANCE = "azure-native:containerservice:MaintenanceConfiguration"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
# "Azure Kubernetes Service RBAC Cluster Admin" and "... RBAC Admin" (built-in role ids).
ADMIN_ROLES = ("b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b", "3498e952-d568-435e-9b2c-8d77e338d7f7")
UPGRADE_WINDOWS = {"upgradeChannel": "aksManagedAutoUpgradeSchedule",
                   "nodeOSUpgradeChannel": "aksManagedNodeOSUpgradeSchedule"}
OPEN_TO_THE_VNET = frozenset({"virtualnetwork", "*", "0.0.0.0/0", "any"})


def zones(resources: Sequence[PolicyResource]) -> list[Finding]:
    """No zone-redundant gateway SKU or zonal IP where the region has no availability zones."""
    findings: list[Finding] = []
    for r in resources:
        if r.resource_type not in (GATEWAY, PUBLIC_IP):
            continue
        region = View(r, resources).region()
        owner = clouds.owner_of(r.resource_type)
        if region is None or owner is None or owner.capabilities.zones(region):
            continue
        sku = text(get(r.props, "sku", "name")) or ""
        if r.resource_type == GATEWAY and sku.endswith("AZ"):
            findings.append((r.urn, (
                f"{describe(r.resource_type, r.name)}: SKU {sku} is zone-redundant and {region} has no "
                "availability zones; use the same SKU without AZ (VpnGw1)"
            )))
        if r.resource_type == PUBLIC_IP and items(get(r.props, "zones")):
            findings.append((r.urn, (
                f"{describe(r.resource_type, r.name)}: zones set in {region}, which has no availability "
                "zones; leave zones unset"
            )))
    return findings


def probes(resources: Sequence[PolicyResource]) -> list[Finding]:
    """An inbound deny of the VirtualNetwork tag comes after an allow of AzureLoadBalancer: the
    health probes come from 168.63.129.16 and must not be blocked
    (learn.microsoft.com/azure/virtual-network/what-is-ip-address-168-63-129-16)."""
    findings: list[Finding] = []
    for nsg in (r for r in resources if r.resource_type == NSG):
        rules = [rule for rule in items(get(nsg.props, "securityRules"))
                 if (text(get(rule, "direction")) or "").lower() == "inbound"]
        allowed = [number(get(r, "priority")) or 0 for r in rules
                   if (text(get(r, "access")) or "").lower() == "allow"
                   and (text(get(r, "sourceAddressPrefix")) or "").lower() == "azureloadbalancer"]
        for rule in rules:
            source = (text(get(rule, "sourceAddressPrefix")) or "").lower()
            priority = number(get(rule, "priority")) or 0
            if (text(get(rule, "access")) or "").lower() == "deny" and source in OPEN_TO_THE_VNET and not any(
                p < priority for p in allowed
            ):
                findings.append((nsg.urn, (
                    f"{describe(nsg.resource_type, nsg.name)}: rule {text(get(rule, 'name'))} denies "
                    f"{source} inbound with no AzureLoadBalancer allow before it; the load balancer's health "
                    "probes (168.63.129.16) would be blocked"
                )))
    return findings


def aks(resources: Sequence[PolicyResource]) -> list[Finding]:
    """Upgrade windows, and an admin for the second stage's deployer."""
    findings: list[Finding] = []
    windows = {(text(get(r.props, "resourceName")), text(get(r.props, "configName")))
               for r in resources if r.resource_type == MAINTENANCE}
    in_cluster = any(r.resource_type.startswith("kubernetes:") for r in resources)
    for cluster in (r for r in resources if r.resource_type == CLUSTER):
        name = text(get(cluster.props, "resourceName"))
        for channel, window in UPGRADE_WINDOWS.items():
            value = text(get(cluster.props, "autoUpgradeProfile", channel))
            if value and value.lower() not in ("none", "unmanaged") and (name, window) not in windows:
                findings.append((cluster.urn, (
                    f"{describe(cluster.resource_type, cluster.name)}: autoUpgradeProfile.{channel} is {value} "
                    f"with no {window} maintenance configuration: AKS upgrades at any time and drains "
                    "training nodes mid-run; declare a window (learn.microsoft.com/azure/aks/planned-maintenance)"
                )))
        rbac_only = get(cluster.props, "aadProfile", "enableAzureRBAC") is True and get(
            cluster.props, "disableLocalAccounts") is True
        if rbac_only and in_cluster and not any(
            r.resource_type == ROLE_ASSIGNMENT
            and (text(get(r.props, "roleDefinitionId")) or "").endswith(ADMIN_ROLES)
            and (View(r, resources).linked("scope", CLUSTERS) or View(cluster, resources)).urn == cluster.urn
            for r in resources
        ):
            findings.append((cluster.urn, (
                f"{describe(cluster.resource_type, cluster.name)}: Azure RBAC on and local accounts off, and the "
                "stack declares objects in the cluster, but no role assignment on it grants Azure Kubernetes "
                "Service RBAC Cluster Admin: the deployer cannot reach its API (learn.microsoft.com/azure/aks/"
                "manage-azure-rbac)"
            )))
    return findings
