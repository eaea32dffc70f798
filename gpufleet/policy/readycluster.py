"""deploy-readiness, the clusters: what EKS, AKS and the charts would accept but run wrong.

Each check reads the declared resources alone (any program's, `gpufleet check --resources`):
- an EKS node group that autoscales needs an autoscaler that reaches its cluster (EKS scales
  nothing itself): a Cluster Autoscaler or Karpenter release for it, or, in a first stage, the
  Pod Identity association its service account will use;
- helper Deployments of the charts the in-cluster layer knows (`incluster.HELPERS`) are pinned
  to a pool by a node selector and neither select nor tolerate GPU nodes;
- an InfiniBand cluster (a NicClusterPolicy) loads nvidia-peermem, or GPUDirect RDMA is off;
- a Network Operator release that renders NodeFeatureRules installs after a release that
  brings their CRD, and its DOCA driver carries the AKS guide's module-load workaround.
Sources: docs/deploy.md and the modules named in each message.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from pulumi_policy import PolicyResource

from gpufleet.policy.incluster import (
    AUTOSCALER_CHARTS,
    AUTOSCALER_SERVICE_ACCOUNTS,
    DAEMON_SET,
    HELM_RELEASE,
    HELPERS,
    NFD_CHARTS,
    NIC_CLUSTER_POLICY,
    OFED_WORKAROUND,
)
from gpufleet.policy.props import describe, get, items, mapping, number, plain, text

Finding = tuple[str, str]
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
GPU_KEYS = ("nvidia.com/gpu", "gpufleet.io/pool")


def _text_of(value: Any) -> str:
    """Everything a value says, as text to search (`nvidia-peermem`, a toleration key)."""
    return json.dumps(plain(value), default=str)


def _values(release: PolicyResource) -> dict[str, Any]:
    """A release's values (the engine may hand them over JSON-encoded)."""
    found = get(release.props, "values")
    return dict(plain(mapping(json.loads(found) if isinstance(found, str) else found)))


def _chart(release: PolicyResource) -> str:
    return (text(get(release.props, "chart")) or "").rsplit("/", 1)[-1]


def _at(values: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        values = mapping(values).get(key)
    return values


def autoscalers(resources: Sequence[PolicyResource]) -> list[Finding]:
    """Every autoscaling EKS node group has an autoscaler for its cluster."""
    reached: set[str] = set()
    for r in resources:
        if r.resource_type == HELM_RELEASE and _chart(r) in AUTOSCALER_CHARTS:
            path = AUTOSCALER_CHARTS[_chart(r)]
            reached.add(text(_at(_values(r), path)) or "")
        elif r.resource_type == POD_IDENTITY and text(get(r.props, "serviceAccount")) in AUTOSCALER_SERVICE_ACCOUNTS:
            reached.add(text(get(r.props, "clusterName")) or "")
    findings: list[Finding] = []
    for group in (r for r in resources if r.resource_type == NODE_GROUP):
        low, high = (number(get(group.props, "scalingConfig", key)) for key in ("minSize", "maxSize"))
        cluster = text(get(group.props, "clusterName"))
        if low is None or high is None or low >= high or cluster is None or cluster in reached:
            continue
        findings.append((group.urn, (
            f"{describe(group.resource_type, group.name)}: scales between {low:g} and {high:g} nodes, but "
            f"nothing scales it: EKS leaves that to an autoscaler in cluster {cluster} and none reaches "
            "it (a cluster-autoscaler or karpenter release with that cluster name, or the Pod Identity "
            "association of its service account); pending pods would wait forever"
        )))
    return findings


def _gpu_bound(workload: Any) -> bool:
    """Whether a workload's values select or tolerate GPU nodes."""
    shown = _text_of(workload)
    return any(key in shown for key in GPU_KEYS)


def helpers(resources: Sequence[PolicyResource]) -> list[Finding]:
    """Helper Deployments run on a system pool: pinned by a node selector, never on GPU nodes."""
    findings: list[Finding] = []
    for release in (r for r in resources if r.resource_type == HELM_RELEASE and _chart(r) in HELPERS):
        values = _values(release)
        for path in HELPERS[_chart(release)]:
            workload = _at(values, path)
            if path and (mapping(_at(values, path[:-1])).get("enabled") is False or workload is None):
                continue
            if not mapping(mapping(workload).get("nodeSelector")) or _gpu_bound(workload):
                where = ".".join(path) or "the chart's Deployment"
                findings.append((release.urn, (
                    f"{describe(release.resource_type, release.name)}: {where} is not pinned to a system "
                    "pool (a nodeSelector, no GPU affinity or toleration); a helper Deployment on a GPU pool "
                    "keeps a GPU node up for itself and stays Pending while GPU pools sit at zero"
                )))
    return findings


def _by_cluster(resources: Iterable[PolicyResource], token: str) -> dict[str, list[PolicyResource]]:
    found: dict[str, list[PolicyResource]] = defaultdict(list)
    for r in resources:
        if r.resource_type == token:
            found[r.provider.urn if r.provider is not None else ""].append(r)
    return found


def _loads_peermem(agent: PolicyResource) -> bool:
    containers = items(get(agent.props, "spec", "template", "spec", "containers"))
    return any("nvidia-peermem" in _text_of(get(c, "command")) for c in containers)


def fabric(resources: Sequence[PolicyResource]) -> list[Finding]:
    """InfiniBand clusters load nvidia-peermem; the Network Operator installs after NFD's CRDs
    and sets the DOCA driver's workaround."""
    findings: list[Finding] = []
    agents = _by_cluster(resources, DAEMON_SET)
    for cluster, policies in _by_cluster(resources, NIC_CLUSTER_POLICY).items():
        policy = policies[0]
        if not any(_loads_peermem(a) for a in agents.get(cluster, [])):
            findings.append((policy.urn, (
                f"{describe(policy.resource_type, policy.name)}: nothing in its cluster loads nvidia-peermem, "
                "so GPUDirect RDMA is off and NCCL copies through host memory without an error (the "
                "AKS-managed GPU driver does not load it: Azure/aks-rdma-infiniband, 02-gpu-drivers); add "
                "a DaemonSet that runs `modprobe nvidia-peermem` on the InfiniBand pools"
            )))
        env = _text_of(get(policy.props, "spec", "ofedDriver", "env"))
        if OFED_WORKAROUND not in env:
            findings.append((policy.urn, (
                f"{describe(policy.resource_type, policy.name)}: ofedDriver.env lacks {OFED_WORKAROUND}, "
                "which the AKS guide's NicClusterPolicy sets against a race loading the DOCA driver's modules"
            )))
    for release in (r for r in resources if r.resource_type == HELM_RELEASE and _chart(r) == "network-operator"):
        nfd = mapping(_values(release).get("nfd"))
        if nfd.get("deployNodeFeatureRules") is False or nfd.get("enabled", True) is not False:
            continue  # no rules, or its own NFD (and CRDs) in the same release
        if not any(r.resource_type == HELM_RELEASE and _chart(r) in NFD_CHARTS for r in release.dependencies):
            findings.append((release.urn, (
                f"{describe(release.resource_type, release.name)}: renders a NodeFeatureRule "
                "(nfd.deployNodeFeatureRules defaults on) with its own NFD off, and installs after no release "
                "that brings the CRD: the first install fails; set nfd.deployNodeFeatureRules false or depend "
                "on the release that runs NFD"
            )))
    return findings
