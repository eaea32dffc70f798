"""Issue 26, the items verified against the clouds' documentation and fixed in the program:
kubelet max pods under the VPC CNI's MAX_ENI, the load balancer's probes through the link's
NSG rules, and private API server names resolvable in every fleet VNet."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from gpufleet.clouds.aws import SYSTEM_ENI, VPC_CNI, eni_figures
from gpufleet.clouds.aws.vpccni import max_pods
from gpufleet.preview import Recording
from tests.conftest import record_stage_two
from tests.test_interconnect import recorded

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def _max_pods(template_inputs: Mapping[str, Any]) -> int:
    text = base64.b64decode(str(template_inputs["userData"])).decode()
    assert "Content-Type: application/node.eks.aws" in text
    assert "kind: NodeConfig" in text
    found = re.search(r"maxPods: (\d+)", text)
    assert found is not None
    return int(found[1])


def test_the_kubelet_admits_no_more_pods_than_max_eni_gives_addresses() -> None:
    """MAX_ENI=1 caps a node's pod addresses; the kubelet's max pods (from the instance type's
    every ENI) must come down to match, or pods beyond it hang in ContainerCreating."""
    recording: Recording = record_stage_two("prod-eu")
    templates = {t.name: t.inputs for t in recording.by_type(LAUNCH_TEMPLATE)}
    groups = recording.by_type("aws:eks/nodeGroup:NodeGroup")
    assert VPC_CNI.max_eni == 1
    for group in groups:
        (instance_type,) = group.inputs.get("instanceTypes") or [SYSTEM_ENI.instance_type]
        eni = eni_figures(instance_type)
        assert eni is not None
        (template,) = [t for name, t in templates.items() if group.name.removesuffix("-ng") + "-lt" == name
                       or group.name == name]
        assert _max_pods(template) == max_pods(eni, 1) == eni.ipv4_per_eni - 1 + 2
        assert _max_pods(template) < eni.eks_max_pods or eni.max_enis == 1


def test_the_link_rules_let_the_load_balancer_probe_before_denying_the_vnet_tag() -> None:
    recording = recorded(("us-west-2",), ("westus", "eastus"))
    for nsg in recording.by_type("azure-native:network:NetworkSecurityGroup"):
        rules = {r["name"]: r for r in nsg.inputs["securityRules"]}
        probe, deny = rules["allow-azure-load-balancer-inbound"], rules["deny-other-vnet-inbound"]
        assert (probe["access"], probe["sourceAddressPrefix"]) == ("Allow", "AzureLoadBalancer")
        assert probe["priority"] < deny["priority"]
        assert deny["sourceAddressPrefix"] == "VirtualNetwork"


def test_every_private_api_server_zone_is_linked_to_every_other_fleet_vnet() -> None:
    recording = recorded(("us-west-2",), ("westus", "eastus"))
    clusters = {c.inputs["location"]: c for c in recording.by_type("azure-native:containerservice:ManagedCluster")}
    assert all(c.inputs["apiServerAccessProfile"]["enablePrivateCluster"] for c in clusters.values())
    links = [r for r in recording.by_type("azure-native:privatedns:VirtualNetworkLink")
             if r.inputs["privateZoneName"].endswith(".azmk8s.io")]
    found = {(r.inputs["resourceGroupName"], r.inputs["virtualNetwork"]["id"]) for r in links}
    assert found == {
        (f"{clusters['eastus'].inputs['nodeResourceGroup']}", "azure-westus-vnet-id"),
        (f"{clusters['westus'].inputs['nodeResourceGroup']}", "azure-eastus-vnet-id"),
    }
    for link in links:
        assert link.inputs["registrationEnabled"] is False
