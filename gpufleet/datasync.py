"""Which dataset copies a sync job fills, decided without Pulumi (issue 18).

Copies on the home's own cloud are filled by the cloud's replication (components/aws/
replication.py, components/azure/replication.py). A copy on the OTHER cloud has no managed
service that fits locked-down accounts (docs/data-gravity.md), so it gets an rclone
CronJob in the copy's own cluster, declared with the in-cluster layer (second stage).

The job reads the home from the copy's cloud. A home whose cloud keeps its stores private
(`CloudModel.storage_private_only`: Azure accounts deny public network access) is reachable
only through its private endpoint, so only over the fleet link (`network.interconnect: vpn`)
and only when the home's region is a link site with that endpoint (it holds a cluster). Where
that is not so the job could never read a byte: nothing is declared and the plan warns, naming
the copy and the fix (a refusal would flip a plan between valid and invalid whenever prices move
a pool across clouds; the copy's transfer is still priced, so the warning errs on the dear side).

The path, honestly: an AWS home is read through S3's public Regional endpoint over TLS (its
bucket policy refuses anything else; the link carries no S3 endpoint), with or without the link;
an Azure home only over the link, through its private endpoint. The local copy is written
through its own cloud's path (EKS nodes' route to S3, the AKS VNet's private endpoint).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass

from gpufleet import clouds
from gpufleet.catalog import Cloud
from gpufleet.plan import FleetPlan, LinkPlan

Place = tuple[Cloud, str]

# A month of churn at or above this is synced hourly, below it daily. Each run lists both sides
# (S3 LIST is $0.005 per 1,000 requests, aws.amazon.com/s3/pricing; Azure list operations are
# priced alike), so even hourly runs over a million objects cost a few dollars a month; what the
# schedule trades is staleness against the job's own overhead. At 1 TiB/month an hour brings
# about 1.4 GiB, minutes of transfer: hourly keeps the copy within an hour of its home. Below
# that a daily run moves under 34 GiB and a day's staleness is what such a slow dataset allows.
HOURLY_CHURN_TIB = 1.0
NAMESPACE = "gpufleet-sync"


@dataclass(frozen=True, slots=True)
class SyncJobPlan:
    """One cross-cloud copy and the job that fills it from its home."""

    dataset: str
    home_cloud: str
    home_region: str
    copy_cloud: str
    copy_region: str
    churn_tib: float

    @property
    def source(self) -> str:
        return f"{self.home_cloud}/{self.home_region}"

    @property
    def destination(self) -> str:
        return f"{self.copy_cloud}/{self.copy_region}"

    @property
    def service_account(self) -> str:
        """One per dataset in the copy's cluster: what the identities' trust names."""
        return f"sync-{self.dataset}"

    @property
    def subject(self) -> str:
        """The service account token's `sub` claim (Kubernetes service account tokens)."""
        return f"system:serviceaccount:{NAMESPACE}:{self.service_account}"

    @property
    def schedule(self) -> str:
        return schedule(f"{self.dataset}/{self.destination}", self.churn_tib)


def schedule(key: str, churn_tib: float) -> str:
    """Cron schedule: hourly from HOURLY_CHURN_TIB a month, else daily; the minute (and hour)
    come from the key, so many jobs do not all list their stores at once."""
    digest = int(hashlib.sha256(key.encode()).hexdigest(), 16)
    minute = digest % 60
    if churn_tib >= HOURLY_CHURN_TIB:
        return f"{minute} * * * *"
    return f"{minute} {digest // 60 % 24} * * *"


def unreadable(home: Place, copy: Place, linked: Collection[Place]) -> str | None:
    """Why a copy cannot read its dataset's home (None when it can): a home whose cloud keeps its
    stores private is read by the other cloud only over the fleet link, through a private
    endpoint in a region on it (`linked`: the link's sites, none without a link). A copy lies in
    a region with a cluster, so on the link when there is one. gpufleet/pipes.py routes copies
    by the same rule."""
    if home[0] == copy[0] or not clouds.get(home[0]).storage_private_only:
        return None
    where = f"{home[0]}/{home[1]}"
    if not linked:
        return (
            f"its home {where} denies public network access, so the other cloud reaches it only "
            "over the fleet link; set network.interconnect: vpn"
        )
    if home not in linked:
        return (
            f"its home {where} holds no cluster, so it has no private endpoint on the fleet "
            f"link; move the home to a region where a pool lands"
        )
    return None


def sync_plans(plan: FleetPlan) -> tuple[list[SyncJobPlan], list[str]]:
    """(a job per cross-cloud copy the other cloud can read, a warning per copy it cannot)."""
    churn = {entry.name: entry.churn_tib for entry in plan.spec.storage}
    linked = LinkPlan.places_of(plan.link)
    jobs: list[SyncJobPlan] = []
    warnings: list[str] = []
    for home in plan.storage:
        if home.source is not None:
            continue
        for copy in plan.replicas_of(home):
            if copy.cloud == home.cloud:  # a managed replication fills it
                continue
            why = unreadable((home.cloud, home.region), (copy.cloud, copy.region), linked)
            if why is not None:
                warnings.append(
                    f"storage '{home.name}': the copy in {copy.cloud}/{copy.region} gets no sync "
                    f"job: {why}"
                )
                continue
            jobs.append(SyncJobPlan(
                home.name, home.cloud, home.region, copy.cloud, copy.region, churn[home.name],
            ))
    return jobs, warnings


__all__ = ["HOURLY_CHURN_TIB", "NAMESPACE", "Place", "SyncJobPlan", "schedule", "sync_plans", "unreadable"]
