"""The dataset sync job's CronJob spec, decided without a Kubernetes provider.

rclone (rclone.org) syncs the home copy (remote `home`) into the local copy (remote `copy`).
Both remotes are configured by environment only (rclone.org/docs/#config-file, "Config file
free": `RCLONE_CONFIG_<REMOTE>_<OPTION>`), so there is no config file and no secret: each cloud
signs the job in with a service account token projected for its audience, exchanged for short
credentials (AWS web identity federation, Entra workload identity federation), refreshed by the
kubelet. The pod runs as nobody with a read-only root filesystem and no Kubernetes API token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from gpufleet.datasync import NAMESPACE, SyncJobPlan

# rclone's official image, pinned to an exact release tag: hub.docker.com/r/rclone/rclone/tags,
# release notes github.com/rclone/rclone/releases/tag/v1.71.1. Its digest cannot be read
# offline; pin `rclone/rclone:1.71.1@sha256:...` once `docker buildx imagetools inspect` shows it.
RCLONE_IMAGE = "rclone/rclone:1.71.1"
TOKEN_ROOT = "/var/run/secrets/gpufleet"
TOKEN_SECONDS = 3600  # the kubelet refreshes a projected token at 80% of its lifetime
NOBODY = 65534
SCRATCH = "/tmp"
COMPONENT = "dataset-sync"
# What the residency policy reads (gpufleet/policy/sovereignty.py): where the job copies from/to.
SOURCE_ANNOTATION = "gpufleet.io/sync-source"
DESTINATION_ANNOTATION = "gpufleet.io/sync-destination"
# Enough for rclone's default 4 transfers x 8 checkers scaled up; listings stay per directory
# (no --fast-list), so memory does not grow with the dataset.
TRANSFERS, CHECKERS = 16, 32
REQUESTS = {"cpu": "500m", "memory": "1Gi"}
LIMITS = {"memory": "2Gi"}


@dataclass(frozen=True)
class Remote:
    """One side of the sync as a cloud's access module grants it."""

    name: str  # rclone remote name: "home" or "copy"
    path: pulumi.Input[str]  # bucket or container
    env: Mapping[str, pulumi.Input[str]]  # backend options and the cloud SDK's identity settings
    audience: str  # the projected service account token's audience
    token_file: str
    host_aliases: Sequence[Mapping[str, Any]] = field(default=())
    """/etc/hosts entries: a private endpoint reached over the fleet link keeps its public name
    (and TLS certificate) while resolving to its private address."""


def token_file(remote: str) -> str:
    return f"{TOKEN_ROOT}/{remote}/token"


def _token_volume(remote: Remote) -> dict[str, Any]:
    return {
        "name": f"{remote.name}-token",
        "projected": {"sources": [{"serviceAccountToken": {
            "audience": remote.audience, "expirationSeconds": TOKEN_SECONDS, "path": "token",
        }}]},
    }


def labels(job: SyncJobPlan) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "rclone",
        "app.kubernetes.io/component": COMPONENT,
        "app.kubernetes.io/managed-by": "gpufleet",
        "gpufleet.io/dataset": job.dataset,
    }


def sync_annotations(job: SyncJobPlan) -> dict[str, str]:
    return {SOURCE_ANNOTATION: job.source, DESTINATION_ANNOTATION: job.destination}


def container(home: Remote, copy: Remote) -> dict[str, Any]:
    env = {"HOME": SCRATCH, "XDG_CACHE_HOME": f"{SCRATCH}/cache", **home.env, **copy.env}
    return {
        "name": "rclone",
        "image": RCLONE_IMAGE,
        "args": [
            "sync", pulumi.Output.concat(f"{home.name}:", home.path),
            pulumi.Output.concat(f"{copy.name}:", copy.path),
            f"--transfers={TRANSFERS}", f"--checkers={CHECKERS}", "--retries=5",
            "--low-level-retries=20", "--stats=5m", "--stats-one-line", "--use-json-log",
        ],
        "env": [{"name": key, "value": value} for key, value in sorted(env.items())],
        "resources": {"requests": REQUESTS, "limits": LIMITS},
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": NOBODY, "runAsGroup": NOBODY,
            "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "scratch", "mountPath": SCRATCH},
            *({"name": f"{r.name}-token", "mountPath": f"{TOKEN_ROOT}/{r.name}", "readOnly": True}
              for r in (home, copy)),
        ],
    }


def cron_job_spec(
    job: SyncJobPlan, home: Remote, copy: Remote, tolerations: Sequence[Mapping[str, str]]
) -> dict[str, Any]:
    """The CronJob spec: one run at a time (a fill may take days; later runs wait), missed runs
    dropped after an hour, a few failures kept for inspection."""
    pod: dict[str, Any] = {
        "serviceAccountName": job.service_account,
        "automountServiceAccountToken": False,  # it never talks to the Kubernetes API
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": NOBODY, "runAsGroup": NOBODY, "fsGroup": NOBODY,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container(home, copy)],
        "volumes": [
            {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
            _token_volume(home), _token_volume(copy),
        ],
    }
    if tolerations:
        pod["tolerations"] = [dict(t) for t in tolerations]
    aliases = [*home.host_aliases, *copy.host_aliases]
    if aliases:
        pod["hostAliases"] = aliases
    return {
        "schedule": job.schedule,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 3600,
        "successfulJobsHistoryLimit": 1,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "metadata": {"labels": labels(job)},
            "spec": {
                "backoffLimit": 3,
                "template": {"metadata": {"labels": labels(job)}, "spec": pod},
            },
        },
    }


__all__ = [
    "NAMESPACE", "RCLONE_IMAGE", "Remote", "cron_job_spec", "labels", "sync_annotations", "token_file",
]
