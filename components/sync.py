"""Cross-cloud dataset copies kept in sync (gpufleet/datasync.py): the board the cloud builders
fill in the second stage, wired once every cloud is declared (like components/link.py).

Each cloud posts its clusters that hold a cross-cloud copy (`sites`: the Kubernetes provider of
the in-cluster layer and the cluster's OIDC issuer) and its store access (`stores`, by cloud),
which grants one job read on a home store or write on a copy store to the job's service account
token from the job's cluster: on AWS an IAM role for web identity, on Azure a user-assigned
identity with a federated credential. A job therefore holds exactly two grants, one per store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.syncjob import declare_sync_job, sync_namespace
from components.k8s.syncspec import Remote
from gpufleet.datasync import SyncJobPlan


@dataclass(frozen=True)
class JobSite:
    """A cluster that runs sync jobs, as its cloud's builder declared it."""

    stem: str
    provider: k8s.Provider
    issuer: pulumi.Output[str]  # https URL of the cluster's service account token issuer
    tolerations: tuple[Mapping[str, str], ...] = ()
    """Taints of the cluster's system pool, where the job runs (never on GPU nodes)."""


class StoreAccess(Protocol):
    """One cloud's dataset stores as sync jobs reach them."""

    def grant(
        self, job: SyncJobPlan, *, writer: bool, site: JobSite, remote: str
    ) -> tuple[Remote, Sequence[pulumi.Resource]]:
        """Read on the job's home store (writer False) or write on its copy store (True), for
        the job's service account in `site`; the rclone remote and what must exist first."""
        ...


@dataclass
class SyncBoard:
    jobs: Sequence[SyncJobPlan]
    sites: dict[str, JobSite] = field(default_factory=dict[str, JobSite])
    stores: dict[str, StoreAccess] = field(default_factory=dict[str, StoreAccess])

    def runs_in(self, cloud: str, region: str) -> bool:
        """Whether a job runs in this cluster (its builder posts a site then)."""
        return any(j.destination == f"{cloud}/{region}" for j in self.jobs)

    def wire(self, parent: pulumi.Resource) -> None:
        """Per cluster a namespace; per job two grants and the CronJob."""
        namespaces: dict[str, k8s.core.v1.Namespace] = {}
        for job in self.jobs:
            site = self.sites[job.destination]
            if job.destination not in namespaces:
                namespaces[job.destination] = sync_namespace(site.stem, site.provider, parent)
            home, home_ready = self.stores[job.home_cloud].grant(
                job, writer=False, site=site, remote="home")
            copy, copy_ready = self.stores[job.copy_cloud].grant(
                job, writer=True, site=site, remote="copy")
            declare_sync_job(
                f"{site.stem}-sync-{job.dataset}", job, (home, copy),
                namespace=namespaces[job.destination], tolerations=site.tolerations,
                after=[*home_ready, *copy_ready], provider=site.provider, parent=parent,
            )


__all__ = ["JobSite", "StoreAccess", "SyncBoard"]
