"""Azure security controls: the Microsoft cloud security benchmark (MCSB) controls that apply to
the fleet's resource types, checked on each resource's inputs
(learn.microsoft.com/security/benchmark/azure/overview).

A control's value must be set explicitly where the cloud's default is not the safe one. Loaded
only where a policy runs (it reads inputs through pulumi_policy's proxies).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gpufleet import cidrs
from gpufleet.clouds.controls import Check, Ingress, SecurityControls, allowlist, flag, shown, together
from gpufleet.clouds.inputs import get, is_true, items, text

# Service tags and words that mean any source (learn.microsoft.com/azure/virtual-network/service-tags-overview);
# address prefixes are judged by what they cover (gpufleet.cidrs).
AZURE_ANYWHERE = frozenset({"*", "internet", "any"})
TLS_VERSIONS = frozenset({"TLS1_2", "TLS1_3"})
INBOUND_VERB = "allows inbound traffic from"
INBOUND_ALLOWED = "specific address prefixes or service tags other than Internet (no inbound allow from anywhere)"
# azure-native storage PublicNetworkAccess: Enabled, Disabled, SecuredByPerimeter (the SDK's enum).
PRIVATE_NETWORK_ACCESS = frozenset({"Disabled", "SecuredByPerimeter"})


def _storage_account(props: Mapping[str, Any]) -> Iterable[str]:
    yield from flag(props, "enableHttpsTrafficOnly", True, "secure transfer required")
    tls = get(props, "minimumTlsVersion")
    if tls not in TLS_VERSIONS:
        yield f"minimumTlsVersion is {shown(tls)}; allowed: \"TLS1_2\" or later"
    yield from flag(props, "allowBlobPublicAccess", False, "no anonymous blob access")
    yield from flag(props, "allowSharedKeyAccess", False, "Entra ID auth only, no shared keys")
    # Unset, an account accepts connections from any network (learn.microsoft.com/azure/storage/
    # common/storage-network-security); MCSB NS-2 asks for private access to PaaS services.
    access = get(props, "publicNetworkAccess")
    if access not in PRIVATE_NETWORK_ACCESS:
        yield (
            f"publicNetworkAccess is {shown(access)}; allowed: \"Disabled\" (private endpoints only) "
            "or \"SecuredByPerimeter\" (MCSB NS-2: no public network path to data)"
        )


def _node_public_ip(where: str, profile: object) -> Iterable[str]:
    if is_true(get(profile, "enableNodePublicIP")):
        yield f"{where}enableNodePublicIP is true; allowed: false or unset (no node public IPs)"


def _managed_cluster(props: Mapping[str, Any]) -> Iterable[str]:
    if not is_true(get(props, "apiServerAccessProfile", "enablePrivateCluster")):
        yield from allowlist(
            "apiServerAccessProfile.authorizedIPRanges",
            get(props, "apiServerAccessProfile", "authorizedIPRanges"),
            "enablePrivateCluster is not true, so any address may reach the API server",
            "private API server, or authorized IP ranges",
        )
    yield from flag(props, "disableLocalAccounts", True, "local accounts disabled")
    yield from flag(props, "aadProfile.enableAzureRBAC", True, "Entra ID with Azure RBAC")
    policy = text(get(props, "networkProfile", "networkPolicy"))
    if policy is None or policy.lower() == "none":
        yield (
            f"networkProfile.networkPolicy is {shown(policy)}; allowed: azure, calico or cilium "
            "(a network policy engine)"
        )
    for index, profile in enumerate(items(get(props, "agentPoolProfiles"))):
        yield from _node_public_ip(f"agentPoolProfiles[{index}].", profile)


def _agent_pool(props: Mapping[str, Any]) -> Iterable[str]:
    yield from _node_public_ip("", props)


def _inbound_sources(rule: object) -> list[object]:
    """The sources of an inbound allow rule (none for any other rule)."""
    direction = str(get(rule, "direction") or "").lower()
    access = str(get(rule, "access") or "").lower()
    if direction != "inbound" or access != "allow":
        return []
    return [s for s in (get(rule, "sourceAddressPrefix"), *items(get(rule, "sourceAddressPrefixes"))) if s is not None]


def _inbound_from_anywhere(where: str, rule: object) -> Iterable[str]:
    """No inbound allow from anywhere: the Internet tag or `*`, or prefixes that cover the
    internet together (gpufleet.cidrs)."""
    sources = _inbound_sources(rule)
    opened = sorted({str(s) for s in sources if str(s).lower() in AZURE_ANYWHERE})
    reach = ""
    if (wide := cidrs.opening(sources)) is not None:
        opened.append(wide.ranges)
        reach = f" ({wide.reach})"
    if opened:
        name = text(get(rule, "name"))
        yield (
            f"{where}{f' {name!r}' if name else ''} {INBOUND_VERB} {', '.join(opened)}{reach}; "
            f"allowed: {INBOUND_ALLOWED}"
        )


def _span(value: object) -> tuple[int, int]:
    """A destination port range as NSG rules write it ("22", "8000-8100", "*"); anything else
    reads as every port (fail closed: the widest reading)."""
    low, _, high = str(value).strip().partition("-")
    try:
        first, last = int(low), int(high or low)
    except ValueError:
        return cidrs.EVERY_PORT
    return (first, last) if 0 <= first <= last <= cidrs.EVERY_PORT[1] else cidrs.EVERY_PORT


def inbound_grants(owner: str, rule: Mapping[str, Any]) -> list[cidrs.Grant]:
    """The address prefixes an inbound allow rule lets in, per destination port range (service
    tags add nothing: `Internet` and `*` are each rule's own finding). Deny rules are not
    subtracted: an allow is judged as if no deny came first (the stricter reading)."""
    sources = tuple(r for r in map(cidrs.parse, _inbound_sources(rule)) if r is not None)
    if not sources:
        return []
    spelled = text(get(rule, "protocol"))
    protocol = cidrs.ANY_PROTOCOL if spelled is None or spelled == "*" else spelled.lower()
    spans = [get(rule, "destinationPortRange"), *items(get(rule, "destinationPortRanges"))]
    ranges = [_span(span) for span in spans if span is not None] or [cidrs.EVERY_PORT]
    return [cidrs.Grant(owner, protocol, low, high, sources) for low, high in ranges]


def _inline_grants(props: Mapping[str, Any]) -> list[cidrs.Grant]:
    rules = items(get(props, "securityRules"))
    return [g for index, rule in enumerate(rules) for g in inbound_grants(f"securityRules[{index}]", rule)]


def _security_group_azure(props: Mapping[str, Any]) -> Iterable[str]:
    for index, rule in enumerate(items(get(props, "securityRules"))):
        yield from _inbound_from_anywhere(f"securityRules[{index}]", rule)
    # rules that open a port too widely only together
    yield from together("securityRules[] together", _inline_grants(props), INBOUND_VERB, INBOUND_ALLOWED)


def _security_rule(props: Mapping[str, Any]) -> Iterable[str]:
    yield from _inbound_from_anywhere("the rule", props)


def _public_ip(props: Mapping[str, Any]) -> Iterable[str]:
    """Public IPs are expected (VPN gateway instances); a Standard one is closed to inbound
    traffic unless an NSG allows it (a Basic one is open by default)."""
    sku = text(get(props, "sku", "name"))
    if sku is None or sku.lower() != "standard":
        yield f"sku.name is {shown(sku)}; allowed: \"Standard\" (secure by default, zone-redundant)"


def _vpn_gateway(props: Mapping[str, Any]) -> Iterable[str]:
    sku = text(get(props, "sku", "name"))
    if get(props, "gatewayType") == "Vpn" and (sku is None or sku.lower() == "basic"):
        yield f"sku.name is {shown(sku)}; allowed: a VpnGw SKU (Basic has no IKEv2 or BGP)"


def _gateway_connection(props: Mapping[str, Any]) -> Iterable[str]:
    protocol = get(props, "connectionProtocol")
    if get(props, "connectionType") == "IPsec" and protocol != "IKEv2":
        yield f"connectionProtocol is {shown(protocol)}; allowed: \"IKEv2\" (IKEv1 is the weaker protocol)"
    if get(props, "connectionType") == "IPsec" and get(props, "sharedKey") is None:
        yield "sharedKey is unset; allowed: a generated key kept as a secret"


_CHECKS: dict[str, Check] = {
    "azure-native:storage:StorageAccount": _storage_account,
    "azure-native:containerservice:ManagedCluster": _managed_cluster,
    "azure-native:containerservice:AgentPool": _agent_pool,
    "azure-native:network:NetworkSecurityGroup": _security_group_azure,
    "azure-native:network:SecurityRule": _security_rule,
    "azure-native:network:PublicIPAddress": _public_ip,
    "azure-native:network:VirtualNetworkGateway": _vpn_gateway,
    "azure-native:network:VirtualNetworkGatewayConnection": _gateway_connection,
}

# Types reviewed against MCSB with no control on their own inputs: plumbing (resource groups,
# networks, subnets, DNS), identities and role assignments (scoped in code), and children whose
# parent carries the control (AKS and storage children are judged by their cluster or account).
_REVIEWED = frozenset({
    "azure-native:authorization:RoleAssignment",
    "azure-native:containerservice:MaintenanceConfiguration",
    "azure-native:managedidentity:FederatedIdentityCredential",
    "azure-native:managedidentity:UserAssignedIdentity",
    "azure-native:network:LocalNetworkGateway",
    "azure-native:network:PrivateDnsZoneGroup",
    "azure-native:network:PrivateEndpoint",
    "azure-native:network:Subnet",
    "azure-native:network:VirtualNetwork",
    "azure-native:network:VirtualNetworkPeering",
    "azure-native:privatedns:PrivateZone",
    "azure-native:privatedns:VirtualNetworkLink",
    "azure-native:resources:ResourceGroup",
    "azure-native:storage:BlobContainer",
    "azure-native:storage:BlobServiceProperties",
    "azure-native:storage:ObjectReplicationPolicy",
})

# An NSG's rules may be inline (`securityRules`) or SecurityRule resources naming it by
# `networkSecurityGroupName` in `resourceGroupName`: judged together per port.
_NSGS = Ingress(
    frozenset({"azure-native:network:NetworkSecurityGroup"}),
    _inline_grants,
    {"azure-native:network:SecurityRule": inbound_grants},
    ("networkSecurityGroupName", "resourceGroupName"),
    INBOUND_VERB,
    INBOUND_ALLOWED,
)

CONTROLS = SecurityControls(_CHECKS, _REVIEWED, ingress=(_NSGS,))
