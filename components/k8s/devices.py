"""What each accelerator family needs in a cluster, as data: one row per family (the catalog's
accelerators.csv) with the taint its GPU pools carry, the resource pods request and the device
plugin release. The clouds' builders taint their pools from here; `values.releases` installs each
row's plugin on exactly that family's pools. The NVIDIA row's releases (device plugin per MIG
strategy, GPU feature discovery, DCGM) are built in values.py; the others from their `values`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.k8s import charts
from components.k8s.charts import Chart

POOL_LABEL = "gpufleet.io/pool"
"""The node label both clouds put on every node of a GPU pool (values.py selects by it too)."""
TAINT_VALUE = "true"


@dataclass(frozen=True, slots=True)
class Pools:
    """The GPU pools of one family in one cluster, as a device plugin's values need them."""

    names: tuple[str, ...]
    instance_types: tuple[str, ...]
    tolerations: Sequence[Mapping[str, str]]
    """Exactly the taints the pools carry (values.tolerations)."""


@dataclass(frozen=True, slots=True)
class DeviceStack:
    """One accelerator family: pools tainted `taint_key=true:NoSchedule`; pods request
    `resource`; `chart` installed as `release` with `values(pools)` (None: the NVIDIA stack,
    built in values.py). `per_pool`: a chart that selects nodes by one label value gets a
    release per pool, named after it (so adding a pool replaces no release)."""

    family: str
    taint_key: str
    resource: str
    chart: Chart | None
    release: str
    values: Callable[[Pools], dict[str, Any]]
    per_pool: bool = False


def _neuron(pools: Pools) -> dict[str, Any]:
    """The Neuron chart's DaemonSet selects nodes by instance type (`neuronInstances`), so the
    list is exactly the pools' types. The scheduler extension stays off: its custom scheduler
    image in the chart is kube-scheduler 1.28, outside the version-skew policy on EKS 1.33 (it
    only places pods asking for part of a node's Neuron cores). The node problem detector stays
    off: it needs its own namespace and node-recovery permissions (Neuron docs, prerequisites)."""
    return {
        "neuronInstances": list(pools.instance_types),
        "devicePlugin": {"tolerations": list(pools.tolerations)},
        "scheduler": {"enabled": False},
        "npd": {"enabled": False},
    }


def _amd(pools: Pools) -> dict[str, Any]:
    """AMD's chart selects nodes by `node_selector`, a map: the one pool's label (`per_pool`);
    its bundled NFD and labeller stay off (the pool label is enough)."""
    (name,) = pools.names
    return {
        "tolerations": list(pools.tolerations),
        "node_selector_enabled": True,
        "node_selector": {POOL_LABEL: name},
        "nfd": {"enabled": False},
        "labeller": {"enabled": False},
    }


def _nvidia(_: Pools) -> dict[str, Any]:
    return {}  # built in values.py (MIG strategies, GFD with NFD, DCGM)


DEVICE_STACKS: Mapping[str, DeviceStack] = {
    # NVIDIA device plugin: nvidia.com/gpu (github.com/NVIDIA/k8s-device-plugin).
    "nvidia": DeviceStack("nvidia", "nvidia.com/gpu", "nvidia.com/gpu", None, "nvidia-device-plugin", _nvidia),
    # Neuron: the chart's own toleration is aws.amazon.com/neuron:NoSchedule, the taint EKS's
    # Neuron guides put on Trainium/Inferentia node groups; pods request aws.amazon.com/neuron.
    "neuron": DeviceStack("neuron", "aws.amazon.com/neuron", "aws.amazon.com/neuron", charts.NEURON,
                          "neuron-device-plugin", _neuron),
    # AMD: amd.com/gpu (github.com/ROCm/k8s-device-plugin README, example pod's limits).
    "amd": DeviceStack("amd", "amd.com/gpu", "amd.com/gpu", charts.AMD_GPU, "amd-gpu", _amd, per_pool=True),
}


def stack_for(family: str) -> DeviceStack:
    """The family's row; a family without one is a catalog error (tests check every family)."""
    return DEVICE_STACKS[family]
