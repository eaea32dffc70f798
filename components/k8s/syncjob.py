"""The dataset sync job in its cluster: a namespace (Pod Security `restricted`), a service
account per dataset and the rclone CronJob (components/k8s/syncspec.py), all through the
cluster's Kubernetes provider of the in-cluster layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.syncspec import NAMESPACE, Remote, cron_job_spec, labels, sync_annotations
from gpufleet.datasync import SyncJobPlan


def sync_namespace(name: str, provider: k8s.Provider, parent: pulumi.Resource) -> k8s.core.v1.Namespace:
    """The cluster's sync namespace; the `restricted` Pod Security Standard is enforced there
    (kubernetes.io/docs/concepts/security/pod-security-admission), so no pod in it may run as
    root or escalate."""
    return k8s.core.v1.Namespace(
        f"{name}-sync",
        metadata={"name": NAMESPACE, "labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "app.kubernetes.io/managed-by": "gpufleet",
        }},
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )


def declare_sync_job(
    stem: str,
    job: SyncJobPlan,
    remotes: tuple[Remote, Remote],
    *,
    namespace: k8s.core.v1.Namespace,
    tolerations: Sequence[Mapping[str, str]],
    after: Sequence[pulumi.Resource],
    provider: k8s.Provider,
    parent: pulumi.Resource,
) -> k8s.batch.v1.CronJob:
    """The job's service account (what its identities trust) and CronJob; `after` are the grants
    it needs before its first run."""
    opts = pulumi.ResourceOptions(parent=parent, provider=provider)
    account = k8s.core.v1.ServiceAccount(
        f"{stem}-sa",
        metadata={"name": job.service_account, "namespace": namespace.metadata.name,
                  "labels": labels(job)},
        automount_service_account_token=False,
        opts=opts,
    )
    home, copy = remotes
    return k8s.batch.v1.CronJob(
        stem,
        metadata={"name": job.service_account, "namespace": namespace.metadata.name,
                  "labels": labels(job), "annotations": sync_annotations(job)},
        spec=cast(k8s.batch.v1.CronJobSpecArgsDict, cron_job_spec(job, home, copy, tolerations)),
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[account, *after]),
    )


__all__ = ["declare_sync_job", "sync_namespace"]
