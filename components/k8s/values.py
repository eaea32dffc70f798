"""What the in-cluster GPU layer installs on one cluster, decided without Pulumi.

Each cloud's builder describes its GPU pools as `GpuPoolTarget`s (the pool's node label, the
taints its nodes carry, its MIG strategy and fabric); this module turns them into Helm releases
whose DaemonSets select exactly those pools (node affinity on the pool label) and tolerate exactly
their taints, so nothing lands on a system pool and nothing GPU-specific exists without GPU pools.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from components.k8s import charts
from components.k8s.charts import Chart
from components.k8s.devices import DEVICE_STACKS, POOL_LABEL, Pools

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
    may_scale_to_zero: bool = False
    family: str = "nvidia"
    instance_types: tuple[str, ...] = ()
    compute_domains: bool = False


@dataclass(frozen=True, slots=True)
class ReleasePlan:
    """One Helm release: `key` names the Pulumi resource, `release` the Helm release."""

    key: str
    chart: Chart
    release: str
    values: Mapping[str, Any]
    skip_await: bool
    pools: tuple[str, ...] = field(default=())


def merged(targets: Iterable[GpuPoolTarget]) -> list[GpuPoolTarget]:
    """One target per pool (a pool placed on two SKUs in a region is one label), sorted."""
    found: dict[str, GpuPoolTarget] = {}
    for target in targets:
        seen = found.get(target.pool)
        found[target.pool] = target if seen is None or seen == target else GpuPoolTarget(
            target.pool, tuple(sorted(set(seen.taints) | set(target.taints))), target.mig_strategy,
            target.fabric or seen.fabric, target.may_scale_to_zero or seen.may_scale_to_zero,
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
    targets: Sequence[GpuPoolTarget], strategy: MigStrategy, everyone: Sequence[GpuPoolTarget]
) -> dict[str, Any]:
    """The device plugin and GPU feature discovery for the pools of one MIG strategy. The release
    given `everyone` (all GPU pools) also runs node-feature-discovery, whose labels GFD needs, on
    every GPU pool; the others leave NFD off, so one NFD serves the cluster."""
    values: dict[str, Any] = {
        **_placed(targets),
        "migStrategy": strategy,
        "failOnInitError": True,
        "gfd": {"enabled": True},
    }
    if everyone:
        values["nfd"] = {
            "enabled": True,
            "master": _placed(everyone),
            "worker": _placed(everyone),
            "gc": _placed(everyone),
        }
    else:
        values["nfd"] = {"enabled": False}
    return values


def dcgm_values(targets: Sequence[GpuPoolTarget]) -> dict[str, Any]:
    """DCGM exporter on every GPU pool (Prometheus scrapes port 9400)."""
    return {**_placed(targets), "serviceMonitor": {"enabled": False}}


def efa_values(targets: Sequence[GpuPoolTarget]) -> dict[str, Any]:
    """The EFA plugin's affinity is built from supportedInstanceLabels: select the EFA pools."""
    return {
        "tolerations": tolerations(targets),
        "supportedInstanceLabels": {"keys": [POOL_LABEL], "values": sorted(t.pool for t in targets)},
    }


def network_operator_values(targets: Sequence[GpuPoolTarget]) -> dict[str, Any]:
    """The operator runs on the InfiniBand pools themselves (the AKS system pool stays clean);
    its bundled NFD is off: the NicClusterPolicy selects pools by their gpufleet label."""
    return {
        "nfd": {"enabled": False},
        "operator": _placed(targets),
    }


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
            "upgradePolicy": {"autoUpgrade": True, "maxParallelUpgrades": 1,
                              "drain": {"enable": True, "force": True, "deleteEmptyDir": True,
                                        "timeoutSeconds": 300}},
        },
        "rdmaSharedDevicePlugin": {
            "repository": charts.MELLANOX_REPOSITORY, "image": "k8s-rdma-shared-dev-plugin",
            "version": charts.RDMA_SHARED_PLUGIN_VERSION, "config": json.dumps(config),
        },
    }


def _release(key: str, chart: Chart, release: str, values: Mapping[str, Any],
             targets: Sequence[GpuPoolTarget]) -> ReleasePlan:
    # Helm waits for Deployments to be ready: with pools that may sit at zero nodes (the
    # autoscaler adds them for the first GPU pod) it would time out, so it does not wait there.
    return ReleasePlan(key, chart, release, values, any(t.may_scale_to_zero for t in targets),
                       tuple(sorted(t.pool for t in targets)))


def releases(targets: Iterable[GpuPoolTarget]) -> list[ReleasePlan]:
    """Every release one cluster gets: none without GPU pools. NVIDIA pools get the device plugin
    (one release per MIG strategy, the first with NFD), DCGM and, where racks share NVLink across
    nodes, the DRA driver's ComputeDomains; every other family its row's plugin
    (devices.DEVICE_STACKS), on its pools only."""
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
        values = device_plugin_values(chosen, strategy, nvidia if index == 0 else ())
        plans.append(_release(f"nvdp{suffix}", charts.DEVICE_PLUGIN,
                              f"nvidia-device-plugin{suffix}", values, nvidia if index == 0 else chosen))
    if nvidia:
        plans.append(_release("dcgm", charts.DCGM_EXPORTER, "dcgm-exporter", dcgm_values(nvidia), nvidia))
    domains = [t for t in nvidia if t.compute_domains]
    if domains:
        plans.append(_release("dra", charts.DRA_DRIVER, "nvidia-dra-driver-gpu", dra_values(domains), domains))
    plans.extend(_family_releases(pools))
    efa = [t for t in pools if t.fabric == "efa"]
    if efa:
        plans.append(_release("efa", charts.EFA_DEVICE_PLUGIN, "aws-efa-k8s-device-plugin",
                              efa_values(efa), efa))
    infiniband = [t for t in pools if t.fabric == "infiniband"]
    if infiniband:
        plans.append(_release("network-operator", charts.NETWORK_OPERATOR, "network-operator",
                              network_operator_values(infiniband), infiniband))
    return plans


def dra_values(targets: Sequence[GpuPoolTarget]) -> dict[str, Any]:
    """NVIDIA's DRA driver for ComputeDomains only (GPUs stay with the device plugin: the chart
    refuses both on one node), with the host's driver (the EKS AL2023 NVIDIA AMIs install it
    at /). Its kubelet plugin runs on the rack pools. Its controller is a Deployment whose
    default affinity wants control-plane nodes, which EKS and AKS do not show: the term is
    replaced (Helm replaces lists) by any Linux node and its tolerations emptied, so it runs
    where no taint keeps it out, the system pool, never a GPU pool."""
    linux = {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
    ]}]}
    return {
        "nvidiaDriverRoot": "/",
        "resources": {"gpus": {"enabled": False}, "computeDomains": {"enabled": True}},
        "controller": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": linux}},
                       "tolerations": []},
        "kubeletPlugin": _placed(targets),
    }


def _family_releases(pools: Sequence[GpuPoolTarget]) -> list[ReleasePlan]:
    """Each non-NVIDIA family's device plugin on its pools (`DeviceStack.per_pool`: one per pool)."""
    plans: list[ReleasePlan] = []
    for family, stack in sorted(DEVICE_STACKS.items()):
        mine = [t for t in pools if t.family == family]
        if stack.chart is None or not mine:
            continue
        for chosen in ([[t] for t in mine] if stack.per_pool else [mine]):
            suffix = f"-{chosen[0].pool}" if stack.per_pool else ""
            where = Pools(
                tuple(sorted(t.pool for t in chosen)),
                tuple(sorted({kind for t in chosen for kind in t.instance_types})),
                tolerations(chosen),
            )
            plans.append(_release(f"{family}{suffix}", stack.chart, f"{stack.release}{suffix}",
                                  stack.values(where), chosen))
    return plans


def infiniband_pools(targets: Iterable[GpuPoolTarget]) -> list[GpuPoolTarget]:
    return [t for t in merged(targets) if t.fabric == "infiniband"]
