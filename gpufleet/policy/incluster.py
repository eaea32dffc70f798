"""What the policies know of objects inside a cluster (pulumi-kubernetes): no cloud owns them, so
their security controls and tag rules live here, beside the clouds' own (gpufleet/clouds/).

Only the types the program declares are reviewed (components/k8s/); any other `kubernetes:*`
type stays "not verified" (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gpufleet.clouds.controls import SecurityControls, shown
from gpufleet.clouds.inputs import get, items, text

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
NIC_CLUSTER_POLICY = "kubernetes:mellanox.com/v1alpha1:NicClusterPolicy"
CRON_JOB = "kubernetes:batch/v1:CronJob"
NAMESPACE = "kubernetes:core/v1:Namespace"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
VERSION_RANGE = frozenset("^~*<>=|, x")

# What deploy-readiness knows of the charts (gpufleet/policy/readycluster.py), from their
# values.yaml at the pins of components/k8s/charts.py: the value paths of each chart's helper
# Deployments (which belong on a system pool), where an autoscaler names its cluster, which
# releases bring NFD and its CRDs, and the DOCA driver setting of the AKS guide.
HELPERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "nvidia-device-plugin": (("nfd", "master"), ("nfd", "gc")),
    "network-operator": (("operator",),),
    "cluster-autoscaler": ((),),
}
AUTOSCALER_CHARTS: dict[str, tuple[str, ...]] = {
    "cluster-autoscaler": ("autoDiscovery", "clusterName"), "karpenter": ("settings", "clusterName"),
}
AUTOSCALER_SERVICE_ACCOUNTS = frozenset({"cluster-autoscaler", "karpenter"})
NFD_CHARTS = frozenset({"nvidia-device-plugin", "node-feature-discovery", "gpu-operator"})
OFED_WORKAROUND = "OFED_BLACKLIST_MODULES_FILE"


def _helm_release(props: Mapping[str, Any]) -> Iterable[str]:
    """What a release installs is fixed and fetched over TLS: an exact chart version (a range or
    none takes whatever the repository serves next) from an https:// or oci:// source."""
    version = text(get(props, "version"))
    if not version or VERSION_RANGE & set(version.lower()) or version == "latest":
        yield f"version is {shown(version)}; allowed: an exact chart version (pinned supply chain)"
    source = text(get(props, "repositoryOpts", "repo")) or text(get(props, "chart")) or ""
    if source.startswith("http://"):
        yield f"repositoryOpts.repo is {shown(source)}; allowed: an https:// or oci:// repository"


def _pinned(image: str | None) -> bool:
    """A digest, or an exact tag that is not `latest` (a moving tag runs whatever it names next)."""
    if not image:
        return False
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest")


def _cron_job(props: Mapping[str, Any]) -> Iterable[str]:
    """The sync job's pod (Pod Security Standard `restricted`, CIS Kubernetes 5.2): every container
    non-root, read-only root filesystem, no privilege escalation, a pinned image; no Kubernetes
    API token unless it needs one."""
    pod = get(props, "spec", "jobTemplate", "spec", "template", "spec")
    pod_root = get(pod, "securityContext", "runAsNonRoot")
    if get(pod, "automountServiceAccountToken") is not False:
        yield "automountServiceAccountToken is not false; allowed: false (the job needs no API token)"
    for index, container in enumerate(items(get(pod, "containers"))):
        where = f"containers[{index}]"
        context = get(container, "securityContext")
        if get(context, "runAsNonRoot") is not True and pod_root is not True:
            yield f"{where}: runAsNonRoot is not true; allowed: true"
        if get(context, "readOnlyRootFilesystem") is not True:
            yield f"{where}: readOnlyRootFilesystem is not true; allowed: true"
        if get(context, "allowPrivilegeEscalation") is not False:
            yield f"{where}: allowPrivilegeEscalation is not false; allowed: false"
        image = text(get(container, "image"))
        if not _pinned(image):
            yield f"{where}: image is {shown(image)}; allowed: an exact tag or a digest"


def _daemon_set(props: Mapping[str, Any]) -> Iterable[str]:
    """A node agent (components/k8s/agents.py) may be privileged (it loads a kernel module) but
    keeps to the node: pinned images, host paths only read, no host network or process space."""
    pod = get(props, "spec", "template", "spec")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if get(pod, key) is True:
            yield f"{key} is true; allowed: false (a node agent needs no host namespace)"
    host_paths = {text(get(v, "name")) for v in items(get(pod, "volumes")) if get(v, "hostPath") is not None}
    for index, container in enumerate(items(get(pod, "containers"))):
        image = text(get(container, "image"))
        if not _pinned(image):
            yield f"containers[{index}]: image is {shown(image)}; allowed: an exact tag or a digest"
        for mount in items(get(container, "volumeMounts")):
            if text(get(mount, "name")) in host_paths and get(mount, "readOnly") is not True:
                yield (f"containers[{index}]: host path {shown(get(mount, 'mountPath'))} is writable; "
                       "allowed: readOnly true")


# The InfiniBand policy of the NVIDIA Network Operator (images pinned in components/k8s/) has no
# control of its own inputs; nor have the sync job's namespace (Pod Security `restricted`
# enforced) and service account (no token mounted, trusted by name in the clouds' federation).
CONTROLS = SecurityControls(
    {HELM_RELEASE: _helm_release, CRON_JOB: _cron_job, DAEMON_SET: _daemon_set},
    frozenset({NIC_CLUSTER_POLICY, NAMESPACE, SERVICE_ACCOUNT}),
)

# Objects inside a cluster carry no cloud tags: a Helm release has no tags input at all
# (www.pulumi.com/registry/packages/kubernetes/api-docs/helm/v3/release/), and the cluster that
# holds it is tagged itself; same for the Network Operator's NicClusterPolicy and the sync job's
# namespace, service account and CronJob and the node agents' DaemonSets (labelled instead).
UNTAGGABLE = frozenset({HELM_RELEASE, NIC_CLUSTER_POLICY, CRON_JOB, NAMESPACE, SERVICE_ACCOUNT, DAEMON_SET})
