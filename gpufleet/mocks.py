"""Mock provider answers for the offline plan: plausible ids and outputs, never a cloud call.

Outputs echo the inputs (as a new resource's state would) plus the few computed properties the
components read (ARNs, ids, names, endpoints), so every output the program uses resolves.
"""

from __future__ import annotations

import base64
from typing import Any, cast

from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

_KUBECONFIG = base64.b64encode(b"apiVersion: v1\nkind: Config\nclusters: []\n").decode()

_CALLS: dict[str, dict[str, Any]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": {
        "accountId": "123456789012", "arn": "arn:aws:iam::123456789012:user/mock", "userId": "MOCK",
    },
    "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com"},
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

# azure-native resources take their Azure name in a type-specific input; the provider's `name`
# output is that name (the mock falls back to the logical name when it is absent).
_AZURE_NAME_INPUTS: dict[str, str] = {
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


class FleetMocks(Mocks):
    """Answers every resource with its inputs plus computed ids; known invokes with fixed data."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        resource_id = f"{args.name}-id"
        package = args.typ.split(":")[0]
        inputs = cast(dict[str, Any], args.inputs)  # pyright: ignore[reportUnknownMemberType]
        state: dict[str, Any] = {"name": args.name, **inputs}
        if package == "aws":
            service = args.typ.split(":")[1].split("/")[0]
            state.setdefault("arn", f"arn:aws:{service}:mock:123456789012:{args.name}")
            if args.typ == "aws:eks/cluster:Cluster":
                state.setdefault("endpoint", f"https://{args.name}.eks.mock")
                state.setdefault("certificateAuthority", {"data": "bW9jaw=="})
                state.setdefault("identities", [{"oidcs": [{"issuer": f"https://oidc.mock/{args.name}"}]}])
                vpc_config = cast(dict[str, Any], state.get("vpcConfig") or {})
                state["vpcConfig"] = {"clusterSecurityGroupId": f"sg-{args.name}", **vpc_config}
            elif args.typ == "aws:ec2/launchTemplate:LaunchTemplate":
                state.setdefault("latestVersion", 1)
        elif package == "azure-native":
            name_input = _AZURE_NAME_INPUTS.get(args.typ, "")
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
        return resource_id, state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        # An empty failure list, not None: MockMonitor.Invoke iterates over it.
        return _CALLS.get(args.token, {}), []
