"""Issue 26, the InfiniBand path on AKS: GPUDirect RDMA on (a peermem loader on every
InfiniBand pool), and a Network Operator whose first install succeeds (no NodeFeatureRule
without its CRD, installed after the release that runs NFD) with the DOCA driver settings of
the AKS guide."""

from __future__ import annotations

from components.k8s.agents import NODE_AGENTS
from components.k8s.values import OFED_ENV, POOL_LABEL
from gpufleet.preview import RecordedResource, Recording
from tests.conftest import record_stage_two

RELEASE = "kubernetes:helm.sh/v3:Release"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"


def _stage_two() -> Recording:
    return record_stage_two("prod-eu")


def _release(recording: Recording, region: str, chart: str) -> RecordedResource:
    (found,) = [r for r in recording.by_type(RELEASE) if r.region == region and r.inputs["chart"] == chart]
    return found


def test_infiniband_pools_load_nvidia_peermem() -> None:
    recording = _stage_two()
    infiniband = {
        (str(p.region), p.inputs["nodeLabels"][POOL_LABEL])
        for p in recording.by_type("azure-native:containerservice:AgentPool")
        if p.inputs["nodeLabels"].get("gpufleet.io/interconnect") == "infiniband"
    }
    assert infiniband == {("swedencentral", "train")}
    (loader,) = recording.by_type(DAEMON_SET)
    assert loader.region == "swedencentral"
    spec = loader.inputs["spec"]["template"]["spec"]
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == ["train"]
    (container,) = spec["containers"]
    assert "modprobe nvidia-peermem" in " ".join(container["command"])
    assert container["volumeMounts"] == [{"name": "lib-modules", "mountPath": "/lib/modules", "readOnly": True}]
    assert {t["key"] for t in spec["tolerations"]} == {"nvidia.com/gpu"}
    assert [a.key for a in NODE_AGENTS] == ["peermem"]


def test_no_peermem_loader_where_there_is_no_infiniband() -> None:
    recording = record_stage_two("dev")
    assert not recording.by_type(DAEMON_SET)


def test_the_network_operator_installs_after_nfd_and_renders_no_node_feature_rule() -> None:
    recording = _stage_two()
    operator = _release(recording, "swedencentral", "network-operator")
    plugin = _release(recording, "swedencentral", "nvidia-device-plugin")
    assert plugin.inputs["values"]["nfd"]["enabled"] is True
    assert plugin.urn in operator.dependencies
    assert operator.inputs["values"]["nfd"] == {"enabled": False, "deployNodeFeatureRules": False}
    (policy,) = recording.by_type("kubernetes:mellanox.com/v1alpha1:NicClusterPolicy")
    assert operator.urn in policy.dependencies
    assert policy.inputs["spec"]["ofedDriver"]["env"] == [dict(e) for e in OFED_ENV]
