"""Azure as the offline engine answers it (gpufleet/mocks.py): the state the provider computes for
a new resource, the answers to invokes, and the kubeconfig an AKS cluster hands out.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, cast

from gpufleet.clouds.declared import MockArgs

# Microsoft's application id of the AKS AAD server, which kubelogin asks tokens for
# (learn.microsoft.com/azure/aks/kubelogin-authentication).
AKS_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
CREDENTIALS = "azure-native:containerservice:listManagedClusterUserCredentials"
# azure-native resources take their Azure name in a type-specific input; the provider's `name`
# output is that name (the mock falls back to the logical name when it is absent).
NAME_INPUTS: Mapping[str, str] = {
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
MOCK_CALLS: Mapping[str, Mapping[str, Any]] = {
    "azure-native:authorization:getClientConfig": {
        "clientId": "00000000-0000-0000-0000-000000000001",
        "objectId": "00000000-0000-0000-0000-000000000002",
        "subscriptionId": "00000000-0000-0000-0000-000000000003",
        "tenantId": "00000000-0000-0000-0000-000000000004",
    },
}


def mock_call(token: str, args: Mapping[str, Any], created: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    """The user credentials of a cluster as AKS returns them with format=exec: a kubeconfig
    whose server names the cluster's location and whose user runs kubelogin; {} for others."""
    if token != CREDENTIALS:
        return {}
    cluster = created.get(str(args.get("resourceName")), {})
    return {"kubeconfigs": [{"name": "clusterUser", "value": mock_kubeconfig(cluster)}]}


def mock_state(args: MockArgs, state: dict[str, Any]) -> dict[str, Any]:
    """The provider's answer to a new Azure resource: its name from its name input, an id, and
    what identities, public IPs, clusters and private DNS zone groups compute."""
    inputs = cast(dict[str, Any], args.inputs)
    name_input = NAME_INPUTS.get(args.typ, "")
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
        state.setdefault("tenantId", "00000000-0000-0000-0000-00000000000c")
    if args.typ == "azure-native:containerservice:ManagedCluster":
        state["oidcIssuerProfile"] = {"enabled": True, "issuerURL": f"https://oidc.mock/{args.name}/"}
        if cast(dict[str, Any], inputs.get("apiServerAccessProfile") or {}).get("enablePrivateCluster"):
            zone = f"mock.privatelink.{inputs.get('location')}.azmk8s.io"
            state.setdefault("privateFQDN", f"{inputs.get('dnsPrefix')}-mock.{zone}")
    if args.typ == "azure-native:network:PrivateDnsZoneGroup":
        # the A record Azure writes for the endpoint (TEST-NET-1, RFC 5737, from the name)
        address = f"192.0.2.{sum(args.name.encode()) % 254 + 1}"
        configs = cast(list[dict[str, Any]], inputs.get("privateDnsZoneConfigs") or [])
        state["privateDnsZoneConfigs"] = [
            {**c, "recordSets": [{"provisioningState": "Succeeded", "ipAddresses": [address]}]}
            for c in configs
        ]
    return state


def mock_kubeconfig(cluster: Mapping[str, Any]) -> str:
    """What `listClusterUserCredential?format=exec` returns for `cluster` (base64 YAML); the API
    server host is `<prefix>.hcp.<location>.azmk8s.io`, `.privatelink.` when private
    (learn.microsoft.com/azure/aks/private-clusters)."""
    name = str(cluster.get("name") or "mock")
    location = str(cluster.get("location") or "mock")
    profile = cast(Mapping[str, Any], cluster.get("apiServerAccessProfile") or {})
    zone = "privatelink" if profile.get("enablePrivateCluster") else "hcp"
    server = f"https://{cluster.get('dnsPrefix') or name}-mock.{zone}.{location}.azmk8s.io:443"
    text = f"""apiVersion: v1
kind: Config
clusters:
- name: {name}
  cluster:
    certificate-authority-data: bW9jaw==
    server: {server}
contexts:
- name: {name}
  context: {{cluster: {name}, user: clusterUser_{name}}}
current-context: {name}
users:
- name: clusterUser_{name}
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubelogin
      args: [get-token, --environment, AzurePublicCloud, --server-id, {AKS_SERVER_ID},
             --client-id, 80faf920-1908-4b52-b5ef-a8e7bedfc67a, --tenant-id, mock, --login, devicecode]
"""
    return base64.b64encode(text.encode()).decode()
