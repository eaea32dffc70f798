"""What the policies know of objects inside a cluster (pulumi-kubernetes): no cloud owns them, so
their security controls and tag rules live here, beside the clouds' own (gpufleet/clouds/).

Only the types the program declares are reviewed (components/k8s/); any other `kubernetes:*`
type stays "not verified" (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gpufleet.clouds.controls import SecurityControls, shown
from gpufleet.clouds.inputs import get, text

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
NIC_CLUSTER_POLICY = "kubernetes:mellanox.com/v1alpha1:NicClusterPolicy"
VERSION_RANGE = frozenset("^~*<>=|, x")


def _helm_release(props: Mapping[str, Any]) -> Iterable[str]:
    """What a release installs is fixed and fetched over TLS: an exact chart version (a range or
    none takes whatever the repository serves next) from an https:// or oci:// source."""
    version = text(get(props, "version"))
    if not version or VERSION_RANGE & set(version.lower()) or version == "latest":
        yield f"version is {shown(version)}; allowed: an exact chart version (pinned supply chain)"
    source = text(get(props, "repositoryOpts", "repo")) or text(get(props, "chart")) or ""
    if source.startswith("http://"):
        yield f"repositoryOpts.repo is {shown(source)}; allowed: an https:// or oci:// repository"


# The InfiniBand policy of the NVIDIA Network Operator (images pinned in components/k8s/) has no
# control of its own inputs.
CONTROLS = SecurityControls({HELM_RELEASE: _helm_release}, frozenset({NIC_CLUSTER_POLICY}))

# Objects inside a cluster carry no cloud tags: a Helm release has no tags input at all
# (www.pulumi.com/registry/packages/kubernetes/api-docs/helm/v3/release/), and the cluster that
# holds it is tagged itself; same for the Network Operator's NicClusterPolicy.
UNTAGGABLE = frozenset({HELM_RELEASE, NIC_CLUSTER_POLICY})
