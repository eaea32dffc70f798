"""AWS as the offline engine answers it (gpufleet/mocks.py): the state the provider computes for a
new resource and the answers to invokes, stable across runs.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from typing import Any, cast

from gpufleet.clouds.declared import MockArgs

MOCK_CALLS: Mapping[str, Mapping[str, Any]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": {
        "accountId": "123456789012", "arn": "arn:aws:iam::123456789012:user/mock", "userId": "MOCK",
    },
    "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com"},
}


def mock_state(args: MockArgs, state: dict[str, Any]) -> dict[str, Any]:
    """The provider's answer to a new AWS resource: an ARN for all, and what an EKS cluster, a
    launch template, a transit gateway and a VPN connection compute."""
    service = args.typ.split(":")[1].split("/")[0]
    state.setdefault("arn", f"arn:aws:{service}:mock:123456789012:{args.name}")
    if args.typ == "aws:eks/cluster:Cluster":
        state.setdefault("endpoint", f"https://{args.name}.eks.mock")
        state.setdefault("certificateAuthority", {"data": "bW9jaw=="})
        state.setdefault("identities", [{"oidcs": [{"issuer": f"https://oidc.mock/{args.name}"}]}])
        vpc_config = cast(dict[str, Any], state.get("vpcConfig") or {})
        state["vpcConfig"] = {"clusterSecurityGroupId": f"sg-{args.name}", **vpc_config}
    elif args.typ == "aws:eks/nodeGroup:NodeGroup":  # EKS makes one Auto Scaling group per group
        group = f"eks-{state.get('nodeGroupName') or args.name}-mock"
        state.setdefault("resources", [{"autoscalingGroups": [{"name": group}]}])
    elif args.typ == "aws:ec2/launchTemplate:LaunchTemplate":
        state.setdefault("latestVersion", 1)
    elif args.typ == "aws:ec2transitgateway/transitGateway:TransitGateway":
        state.setdefault("associationDefaultRouteTableId", f"tgw-rtb-{args.name}")
    elif args.typ == "aws:ec2/vpnConnection:VpnConnection":
        state.update(_mock_tunnels(args.name, state))
    return state


def _mock_tunnels(name: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """A VPN connection's computed tunnel outside addresses (TEST-NET-3, RFC 5737, from a hash
    of the name) and inside addresses (first and second of each /30)."""
    seed = int(hashlib.sha256(name.encode()).hexdigest(), 16)
    answer: dict[str, Any] = {}
    for tunnel in (1, 2):
        answer[f"tunnel{tunnel}Address"] = f"203.0.113.{(seed >> (8 * tunnel)) % 254 + 1}"
        cidr = state.get(f"tunnel{tunnel}InsideCidr")
        if isinstance(cidr, str):
            hosts = list(ipaddress.IPv4Network(cidr).hosts())
            answer[f"tunnel{tunnel}VgwInsideAddress"] = str(hosts[0])
            answer[f"tunnel{tunnel}CgwInsideAddress"] = str(hosts[1])
    return answer
