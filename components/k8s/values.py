"""What the in-cluster GPU layer installs on one cluster, decided without Pulumi.

Each cloud's builder describes its GPU pools as `GpuPoolTarget`s (the pool's node label, the
taints its nodes carry, its MIG strategy and fabric) and its system pool as a `SystemPlacement`;
this module turns them into Helm releases whose DaemonSets select exactly those pools (node
affinity on the pool label) and tolerate exactly their taints, and whose Deployments (NFD master
and garbage collector, operators) run on the system pool. Nothing GPU-specific exists without
GPU pools; another chart is a row of ADDONS.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from components.k8s import charts
from components.k8s.charts import Chart
from components.k8s.devices import POOL_LABEL

# POOL_LABEL: the node label both clouds put on every node of a GPU pool (components/aws/
# decisions.py node_labels, components/azure/decisions.py LABEL_POOL): the layer selects pools by it.
SHARED_IB_RESOURCE = "shared_ib"  # pods request rdma/shared_ib on InfiniBand pools

MigStrategy = Literal["none", "single", "mixed"]
Fabric = Literal["efa", "infiniband"]


@dataclass(frozen=True, slots=True, order=True)
class Taint:
    """A node taint in Kubernetes spelling (effect NoSchedule, PreferNoSchedule, NoExecute)."""

    key: str
    value: str
    effect: str

    @classmethod
    def parse(cls, text: str) -> Taint:
        """`key=value:Effect`, as AKS `nodeTaints` spell them."""
        pair, _, effect = text.rpartition(":")
        key, _, value = pair.partition("=")
        return cls(key, value, effect)

    def toleration(self) -> dict[str, str]:
        """The toleration of exactly this taint (operator Equal: same key, value and effect)."""
        return {"key": self.key, "operator": "Equal", "value": self.value, "effect": self.effect}


@dataclass(frozen=True, slots=True)
class GpuPoolTarget:
    """One GPU pool of a cluster, as the layer needs to know it: its device `family`
    (devices.DEVICE_STACKS), its instance types, and whether its nodes share NVLink domains
    across nodes (GB200/GB300 racks: ComputeDomains through NVIDIA's DRA driver)."""

    pool: str
    taints: tuple[Taint, ...]
    mig_strategy: MigStrategy = "none"
    fabric: Fabric | None = None
    family: str = "nvidia"
    instance_types: tuple[str, ...] = ()
    compute_domains: bool = False


@dataclass(frozen=True, slots=True)
class SystemPlacement:
    """Where a cluster's helper Deployments run: its system pool, by a label its nodes carry
    and the taints they have. Only DaemonSets go to GPU nodes: a helper on a GPU pool keeps a
    GPU VM alive for itself (the autoscaler adds one and cannot remove it), and stays Pending
    while the GPU pools sit at zero."""

    node_selector: Mapping[str, str]
    taints: tuple[Taint, ...] = ()

    def values(self) -> dict[str, Any]:
        """`nodeSelector` and `tolerations`, as the charts' Deployment values spell them."""
        return {"nodeSelector": dict(self.node_selector), "tolerations": [t.toleration() for t in self.taints]}


@dataclass(frozen=True, slots=True)
class ReleasePlan:
    """One Helm release: `key` names the Pulumi resource, `release` the Helm release; `after`
    the keys of releases it installs after (the CRDs or labels it needs)."""

    key: str
    chart: Chart
    release: str
    values: Mapping[str, Any]
    pools: tuple[str, ...] = field(default=())
    after: tuple[str, ...] = field(default=())


def merged(targets: Iterable[GpuPoolTarget]) -> list[GpuPoolTarget]:
    """One target per pool (a pool placed on two SKUs in a region is one label), sorted."""
    found: dict[str, GpuPoolTarget] = {}
    for target in targets:
        seen = found.get(target.pool)
        found[target.pool] = target if seen is None or seen == target else GpuPoolTarget(
            target.pool, tuple(sorted(set(seen.taints) | set(target.taints))), target.mig_strategy,
            target.fabric or seen.fabric,
            target.family, tuple(sorted(set(seen.instance_types) | set(target.instance_types))),
            target.compute_domains or seen.compute_domains,
        )
    return [found[name] for name in sorted(found)]


def tolerations(targets: Sequence[GpuPoolTarget]) -> list[dict[str, str]]:
    """Exactly the taints the targeted pools carry, each once, in a stable order."""
    return [t.toleration() for t in sorted({t for target in targets for t in target.taints})]


def pool_affinity(targets: Sequence[GpuPoolTarget]) -> dict[str, Any]:
    """Node affinity for the targeted pools only (a system pool never carries the label)."""
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{
                    "matchExpressions": [{
                        "key": POOL_LABEL, "operator": "In",
                        "values": sorted(t.pool for t in targets),
                    }],
                }],
            },
        },
    }


def _placed(targets: Sequence[GpuPoolTarget]) -> dict[str, Any]:
    return {"tolerations": tolerations(targets), "affinity": pool_affinity(targets)}


def device_plugin_values(
    targets: Sequence[GpuPoolTarget], strategy: MigStrategy, everyone: Sequence[GpuPoolTarget],
    system: SystemPlacement,
) -> dict[str, Any]:
    """The device plugin and GPU feature discovery for the pools of one MIG strategy. The release
    given `everyone` (all GPU pools) also runs node-feature-discovery: its worker DaemonSet on
    every GPU pool, its master and garbage collector Deployments on the system pool (keys
    `nfd.master`/`nfd.gc`/`nfd.worker` of the NFD 0.15.3 subchart, values.yaml at
    NVIDIA/k8s-device-plugin v0.17.1, 3c378193). The others leave NFD off: one NFD serves the
    cluster."""
    values: dict[str, Any] = {
        **_placed(targets),
        "migStrategy": strategy,
        "failOnInitError": True,
        "gfd": {"enabled": True},
    }
    if everyone:
        values["nfd"] = {
            "enabled": True,
            "master": system.values(),
            "worker": _placed(everyone),
            "gc": system.values(),
        }
    else:
        values["nfd"] = {"enabled": False}
    return values


def dcgm_values(targets: Sequence[GpuPoolTarget], system: SystemPlacement) -> dict[str, Any]:
    """DCGM exporter (a DaemonSet) on every GPU pool (Prometheus scrapes port 9400)."""
    return {**_placed(targets), "serviceMonitor": {"enabled": False}}


def efa_values(targets: Sequence[GpuPoolTarget], system: SystemPlacement) -> dict[str, Any]:
    """The EFA plugin's affinity is built from supportedInstanceLabels: select the EFA pools."""
    return {
        "tolerations": tolerations(targets),
        "supportedInstanceLabels": {"keys": [POOL_LABEL], "values": sorted(t.pool for t in targets)},
    }


def network_operator_values(targets: Sequence[GpuPoolTarget], system: SystemPlacement) -> dict[str, Any]:
    """The operator Deployment (and its CRD upgrade hook Job, which reads the same keys) on the
    system pool: `operator.nodeSelector`/`tolerations` of network-operator 25.10.0
    (deployment/network-operator/templates/operator.yaml and upgrade-crd-hook.yaml at
    Mellanox/network-operator v25.10.0, 625ea34c). Its bundled NFD is off (the device plugin's
    serves the cluster) and so are its NodeFeatureRules (`nfd.deployNodeFeatureRules`, on by
    default): their CRD would come only from the device plugin's release, and the label the
    operator looks for (`feature.node.kubernetes.io/pci-15b3.present`, pkg/state/state_ofed.go)
    is written by that NFD's PCI source (class 02, vendor field, its values.yaml), as the AKS
    guide does (Azure/aks-rdma-infiniband configs/values/network-operator/values.yaml, 700dabb)."""
    return {
        "nfd": {"enabled": False, "deployNodeFeatureRules": False},
        "operator": system.values(),
    }


# The DOCA driver container's workaround for a race in loading its kernel modules, as the AKS
# guide's NicClusterPolicy sets it (Azure/aks-rdma-infiniband configs/nicclusterpolicy/base/
# nic.yaml at 700dabb, citing Mellanox/doca-driver-build issue 52).
OFED_ENV = ({"name": "OFED_BLACKLIST_MODULES_FILE", "value": "/host/etc/modprobe.d/blacklist-ofed-modules.conf"},)


def nic_cluster_policy(targets: Sequence[GpuPoolTarget]) -> dict[str, Any]:
    """The NicClusterPolicy spec: DOCA driver and the RDMA shared device plugin on the
    InfiniBand pools (Azure/aks-rdma-infiniband configs/nicclusterpolicy)."""
    config = {
        "configList": [{
            "resourceName": SHARED_IB_RESOURCE,
            "rdmaHcaMax": 63,
            "selectors": {"vendors": ["15b3"], "linkTypes": ["infiniband"]},
        }],
    }
    return {
        "nodeAffinity": pool_affinity(targets)["nodeAffinity"],
        "tolerations": tolerations(targets),
        "ofedDriver": {
            "repository": charts.MELLANOX_REPOSITORY, "image": "doca-driver",
            "version": charts.DOCA_DRIVER_VERSION,
            "env": [dict(e) for e in OFED_ENV],
            "upgradePolicy": {"autoUpgrade": True, "maxParallelUpgrades": 1,
                              "drain": {"enable": True, "force": True, "deleteEmptyDir": True,
                                        "timeoutSeconds": 300}},
        },
        "rdmaSharedDevicePlugin": {
            "repository": charts.MELLANOX_REPOSITORY, "image": "k8s-rdma-shared-dev-plugin",
            "version": charts.RDMA_SHARED_PLUGIN_VERSION, "config": json.dumps(config),
        },
    }


def dra_values(targets: Sequence[GpuPoolTarget], system: SystemPlacement) -> dict[str, Any]:
    """NVIDIA's DRA driver for ComputeDomains only (GPUs stay with the device plugin: the chart
    refuses both on one node), with the host's driver (the EKS AL2023 NVIDIA AMIs install it
    at /). Its kubelet plugin (a DaemonSet) runs on the rack pools. Its controller is a
    Deployment whose default affinity and toleration want control-plane nodes, which EKS and AKS
    do not show (values.yaml at v25.12.0, `controller`): it goes to the system pool by
    `nodeSelector` and the system taints, its affinity term replaced (Helm replaces lists) by one
    every Linux node meets."""
    linux = {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
    ]}]}
    return {
        "nvidiaDriverRoot": "/",
        "resources": {"gpus": {"enabled": False}, "computeDomains": {"enabled": True}},
        "controller": {**system.values(),
                       "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": linux}}},
        "kubeletPlugin": _placed(targets),
    }


def neuron_values(targets: Sequence[GpuPoolTarget], system: SystemPlacement) -> dict[str, Any]:
    """The Neuron chart's DaemonSet selects nodes by instance type (`neuronInstances`), so the
    list is exactly the pools' types. The scheduler extension stays off: its custom scheduler
    image in the chart is kube-scheduler 1.28, outside the version-skew policy on EKS 1.33 (it
    only places pods asking for part of a node's Neuron cores). The node problem detector stays
    off: it needs its own namespace and node-recovery permissions (Neuron docs, prerequisites)."""
    return {
        "neuronInstances": sorted({kind for t in targets for kind in t.instance_types}),
        "devicePlugin": {"tolerations": tolerations(targets)},
        "scheduler": {"enabled": False},
        "npd": {"enabled": False},
    }


def amd_values(targets: Sequence[GpuPoolTarget], system: SystemPlacement) -> dict[str, Any]:
    """AMD's chart selects nodes by `node_selector`, a map: one pool's label (the row is
    `per_pool`); its bundled NFD and labeller stay off (the pool label is enough)."""
    (target,) = targets
    return {
        "tolerations": tolerations(targets),
        "node_selector_enabled": True,
        "node_selector": {POOL_LABEL: target.pool},
        "nfd": {"enabled": False},
        "labeller": {"enabled": False},
    }


@dataclass(frozen=True, slots=True)
class Addon:
    """One chart the layer installs on the GPU pools it `selects`: another device plugin or
    exporter is one more row of ADDONS. `per_pool`: a chart that selects nodes by one label
    value gets a release per pool, named after it (so adding a pool replaces no release)."""

    key: str
    chart: Chart
    release: str
    selects: Callable[[GpuPoolTarget], bool]
    values: Callable[[Sequence[GpuPoolTarget], SystemPlacement], dict[str, Any]]
    after: tuple[str, ...] = ()
    per_pool: bool = False


DEVICE_PLUGIN_KEY = "nvdp"  # the release that also runs NFD (its CRDs and feature labels)
ADDONS: tuple[Addon, ...] = (
    Addon("dcgm", charts.DCGM_EXPORTER, "dcgm-exporter", lambda t: t.family == "nvidia", dcgm_values),
    # ComputeDomains where racks share NVLink across nodes (GB200/GB300): charts.DRA_DRIVER.
    Addon("dra", charts.DRA_DRIVER, "nvidia-dra-driver-gpu",
          lambda t: t.family == "nvidia" and t.compute_domains, dra_values),
    # The other families' device plugins (devices.DEVICE_STACKS names their taints and resources).
    Addon("neuron", charts.NEURON, "neuron-device-plugin", lambda t: t.family == "neuron", neuron_values),
    Addon("amd", charts.AMD_GPU, "amd-gpu", lambda t: t.family == "amd", amd_values, per_pool=True),
    Addon("efa", charts.EFA_DEVICE_PLUGIN, "aws-efa-k8s-device-plugin", lambda t: t.fabric == "efa", efa_values),
    Addon("network-operator", charts.NETWORK_OPERATOR, "network-operator",
          lambda t: t.fabric == "infiniband", network_operator_values, after=(DEVICE_PLUGIN_KEY,)),
)


def releases(targets: Iterable[GpuPoolTarget], system: SystemPlacement) -> list[ReleasePlan]:
    """Every release one cluster gets: none without GPU pools. NVIDIA pools get the device plugin
    (one release per MIG strategy, the first with NFD); every row of ADDONS goes on the pools it
    selects. An `after` naming a release this cluster does not get is dropped (a network
    operator on pools with no NVIDIA device plugin waits for nothing)."""
    pools = merged(targets)
    if not pools:
        return []
    plans: list[ReleasePlan] = []
    nvidia = [t for t in pools if t.family == "nvidia"]
    strategies: list[MigStrategy] = sorted(
        {t.mig_strategy for t in nvidia}, key=lambda s: (s != "none", s)
    )
    for index, strategy in enumerate(strategies):
        chosen = [t for t in nvidia if t.mig_strategy == strategy]
        suffix = "" if strategy == "none" else f"-mig-{strategy}"
        values = device_plugin_values(chosen, strategy, nvidia if index == 0 else (), system)
        served = nvidia if index == 0 else chosen
        plans.append(ReleasePlan(f"{DEVICE_PLUGIN_KEY}{suffix}", charts.DEVICE_PLUGIN,
                                 f"nvidia-device-plugin{suffix}", values, tuple(t.pool for t in served)))
    for addon in ADDONS:
        chosen = [t for t in pools if addon.selects(t)]
        after = tuple(key for key in addon.after if any(plan.key == key for plan in plans))
        for group in ([[t] for t in chosen] if addon.per_pool else [chosen] if chosen else []):
            suffix = f"-{group[0].pool}" if addon.per_pool else ""
            plans.append(ReleasePlan(f"{addon.key}{suffix}", addon.chart, f"{addon.release}{suffix}",
                                     addon.values(group, system), tuple(t.pool for t in group), after))
    return plans


def infiniband_pools(targets: Iterable[GpuPoolTarget]) -> list[GpuPoolTarget]:
    return [t for t in merged(targets) if t.fabric == "infiniband"]
