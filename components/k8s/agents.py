"""DaemonSets the layer declares itself (no chart ships them), decided without Pulumi.

`peermem`: on AKS InfiniBand pools the AKS-managed GPU driver does not load `nvidia-peermem`,
so GPUDirect RDMA is off and NCCL falls back to host-memory copies without an error; the AKS
guide's fix is a DaemonSet that loads the module on every GPU node and keeps checking it
(Azure/aks-rdma-infiniband website/docs/configurations/02-gpu-drivers.md, "Option 1:
AKS-managed GPU Driver", and configs/nvidia-peermem-reloader/ds.yaml at 700dabb). Its startup
probe retries for 20 minutes, long enough for the DOCA driver (NicClusterPolicy) to load first.
Another node agent is one more row of NODE_AGENTS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from components.k8s import charts
from components.k8s.values import GpuPoolTarget, merged, pool_affinity, tolerations

AGENT_NAMESPACE = "kube-system"


@dataclass(frozen=True, slots=True)
class NodeAgent:
    """A DaemonSet on the GPU pools it `selects`."""

    key: str
    name: str
    selects: Callable[[GpuPoolTarget], bool]
    containers: Callable[[], list[dict[str, Any]]]
    volumes: tuple[dict[str, Any], ...] = ()


def _peermem_containers() -> list[dict[str, Any]]:
    probe = ["/bin/bash", "-c", "modprobe nvidia-peermem"]
    return [{
        "name": "nvidia-peermem-reloader",
        "image": charts.PEERMEM_IMAGE,
        "command": ["/bin/bash", "-xc",
                    "apt update && apt install -y kmod && modprobe nvidia-peermem && echo sleeping && sleep inf"],
        "startupProbe": {"exec": {"command": probe}, "initialDelaySeconds": 10, "failureThreshold": 120,
                         "successThreshold": 1, "periodSeconds": 10, "timeoutSeconds": 10},
        "livenessProbe": {"exec": {"command": probe}, "initialDelaySeconds": 30, "failureThreshold": 1,
                          "successThreshold": 1, "periodSeconds": 30, "timeoutSeconds": 10},
        "securityContext": {"privileged": True},  # loading a kernel module
        "volumeMounts": [{"name": "lib-modules", "mountPath": "/lib/modules", "readOnly": True}],
    }]


NODE_AGENTS: tuple[NodeAgent, ...] = (
    NodeAgent(
        "peermem", "nvidia-peermem-reloader", lambda t: t.fabric == "infiniband" and t.family == "nvidia",
        _peermem_containers,
        ({"name": "lib-modules", "hostPath": {"path": "/lib/modules", "type": "Directory"}},),
    ),
)


def daemon_set_spec(agent: NodeAgent, targets: Sequence[GpuPoolTarget]) -> dict[str, Any]:
    """The DaemonSet spec: on exactly `targets`' nodes, tolerating exactly their taints."""
    labels = {"app.kubernetes.io/name": agent.name, "app.kubernetes.io/managed-by": "gpufleet"}
    return {
        "selector": {"matchLabels": labels},
        "updateStrategy": {"type": "RollingUpdate"},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "affinity": pool_affinity(targets),
                "tolerations": tolerations(targets),
                "priorityClassName": "system-node-critical",
                "containers": agent.containers(),
                "volumes": [dict(v) for v in agent.volumes],
            },
        },
    }


def node_agents(targets: Iterable[GpuPoolTarget]) -> list[tuple[NodeAgent, list[GpuPoolTarget]]]:
    """Every agent a cluster needs, with the pools it runs on."""
    pools = merged(targets)
    found = [(agent, [t for t in pools if agent.selects(t)]) for agent in NODE_AGENTS]
    return [(agent, chosen) for agent, chosen in found if chosen]
