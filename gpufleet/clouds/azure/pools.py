"""AKS node pools as the cloud lays them out and as a stack declares them: the overlay pod range
and node subnet, upgrade surge, and agent pools read from declared resources (separate ones and
the pools a managed cluster declares inline). The Azure cloud model (azure.py) answers from here.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from gpufleet.clouds.base import Network
from gpufleet.clouds.declared import DeclaredPool, DeclaredResource, whole

AGENT_POOL = "azure-native:containerservice:AgentPool"

# AKS documents Arm64 node pools for the Dpsv5, Dplsv5 and Epsv5 sizes only
# (learn.microsoft.com/azure/aks/use-arm64-vms, MicrosoftDocs/azure-aks-docs@0eb107b6) and
# installs GPU software only on the GPU sizes it lists (learn.microsoft.com/azure/aks/
# use-nvidia-gpu: other sizes need the driver install skipped and a driver of your own). Searched
# again 2026-12 (issue 27): no AKS page names the Grace (arm64) ND GB200/GB300 v6 sizes; the one
# AKS-related mention of Standard_ND128isr_NDR_GB200_v6 found is a generated list of VM size
# names (microsoft/aspire AksNodeVmSizes.cs), which says nothing of arm64 GPU node images or
# drivers. So they are refused; racks would be one agent pool each (gpufleet.nodegroups).
ARM64_GPU_REFUSAL = (
    "AKS arm64 GPU agent pools are not confirmed: an AKS node pool of the Grace (arm64) ND GB200/GB300 "
    "v6 sizes (Standard_ND128isr_NDR_GB200_v6, Standard_ND128isr_GB300_v6) is documented nowhere: "
    "Microsoft's AKS Arm64 node pools list Dpsv5, Dplsv5 and Epsv5 sizes only "
    "(learn.microsoft.com/azure/aks/use-arm64-vms), and AKS installs GPU drivers only on the GPU sizes "
    "it lists (learn.microsoft.com/azure/aks/use-nvidia-gpu); plan the pool on a cloud that runs them "
    "(AWS: p6e-gb200.36xlarge)"
)
# AKS "does not install the necessary GPU software" on GPU sizes outside its supported list and
# states that AMD (NVv4) GPUs are not supported (learn.microsoft.com/azure/aks/use-nvidia-gpu,
# MicrosoftDocs/azure-aks-docs@04921f5f). AMD's device plugin (components/k8s/devices.py) needs
# the amdgpu driver on the node, which neither AKS nor gpufleet installs, so MI300X is refused.
AMD_GPU_REFUSAL = (
    "AKS installs no AMD GPU driver (Microsoft: AKS sets up GPU software only on the NVIDIA sizes "
    "it lists, and AMD NVv4 GPUs are not supported), and AMD's device plugin needs the amdgpu "
    "driver on the node; plan an NVIDIA accelerator, or run MI300X outside gpufleet's AKS pools"
)
MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"
CLUSTERS = frozenset({MANAGED_CLUSTER})

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


def reader(profile: Mapping[str, Any]) -> Callable[..., Any]:
    def read(*path: str) -> Any:
        value: Any = profile
        for key in path:
            value = cast(Mapping[str, Any], value).get(key) if isinstance(value, Mapping) else None
        return value

    return read


def agent_pools(
    stack: Sequence[DeclaredResource],
) -> list[tuple[DeclaredResource, Callable[..., Any], DeclaredResource | None]]:
    """(declaring resource, reader, cluster) of every agent pool: separate ones and the pools a
    managed cluster declares inline."""
    found: list[tuple[DeclaredResource, Callable[..., Any], DeclaredResource | None]] = []
    for resource in stack:
        if resource.type == AGENT_POOL:
            found.append((resource, resource.get, resource.linked("resourceName", CLUSTERS)))
        elif resource.type == MANAGED_CLUSTER:
            listed = resource.items("agentPoolProfiles")
            profiles = [cast(Mapping[str, Any], p) for p in listed if isinstance(p, Mapping)]
            found += [(resource, reader(profile), resource) for profile in profiles]
    return found


def declared_pool(name: str, read: Callable[..., Any], region: str | None, cluster: object) -> DeclaredPool:
    """An agent pool's nodes: at most `maxCount` when autoscaled, else `count`."""
    most = whole(read("maxCount"))
    if most is None or read("enableAutoScaling") is False:
        most = whole(read("count"))
    least = whole(read("minCount")) or whole(read("count"))
    kind = read("vmSize")
    return DeclaredPool(
        name, (kind,) if isinstance(kind, str) else (), least or 0, most or 0,
        read("scaleSetPriority") == "Spot", region, cluster if isinstance(cluster, str) else None,
    )
