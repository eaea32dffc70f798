"""What each accelerator family is in a cluster, as data: one row per family (the catalog's
accelerators.csv) with the taint its GPU pools carry and the resource pods request. The clouds'
builders taint their pools from here; the family's device plugin is a row of `values.ADDONS`
selecting that family's pools (the NVIDIA device plugin, per MIG strategy, is built in values.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

POOL_LABEL = "gpufleet.io/pool"
"""The node label both clouds put on every node of a GPU pool (values.py selects by it too)."""
TAINT_VALUE = "true"


@dataclass(frozen=True, slots=True)
class DeviceStack:
    """One accelerator family: pools tainted `taint_key=true:NoSchedule`; pods request `resource`."""

    family: str
    taint_key: str
    resource: str


DEVICE_STACKS: Mapping[str, DeviceStack] = {
    # NVIDIA device plugin: nvidia.com/gpu (github.com/NVIDIA/k8s-device-plugin).
    "nvidia": DeviceStack("nvidia", "nvidia.com/gpu", "nvidia.com/gpu"),
    # Neuron: the chart's own toleration is aws.amazon.com/neuron:NoSchedule, the taint EKS's
    # Neuron guides put on Trainium/Inferentia node groups; pods request aws.amazon.com/neuron.
    "neuron": DeviceStack("neuron", "aws.amazon.com/neuron", "aws.amazon.com/neuron"),
    # AMD: amd.com/gpu (github.com/ROCm/k8s-device-plugin README, example pod's limits).
    "amd": DeviceStack("amd", "amd.com/gpu", "amd.com/gpu"),
}


def stack_for(family: str) -> DeviceStack:
    """The family's row; a family without one is a catalog error (tests check every family)."""
    return DEVICE_STACKS[family]
