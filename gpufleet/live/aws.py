"""AWS live look-ups: GPU vCPU quotas from Service Quotas, usage from running instances.

Limits: `service-quotas` `list_service_quotas(ServiceCode="ec2")` (paginated), and for a bucket
the list leaves out, `get_service_quota` (NoSuchResourceException: the quota does not exist
in that region, reported as unknown). The buckets are the catalog's L-codes (docs: "On-Demand
Instance quotas", https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-instance-quotas.html:
vCPU quotas per instance class, P and G/VT on-demand and spot).
Usage: the vCPUs of running and pending instances from `ec2` `describe_instances` (paginated),
vCPUs = CoreCount × ThreadsPerCore, spot by `InstanceLifecycle`. Chosen over the quota's
CloudWatch usage metric (AWS/Usage ResourceCount): one more service and permission, and the
metric lags by minutes; the instances are what the quota counts (the page above).
Throttling and transient errors are retried by botocore's standard retry mode (exponential
backoff with jitter); each call has connect and read timeouts.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from gpufleet.catalog import Capacity, load_catalog
from gpufleet.live import LiveQuota, now

if TYPE_CHECKING:
    from botocore.config import Config

CLOUD = "aws"
SERVICE_CODE = "ec2"
RETRIES = {"mode": "standard", "max_attempts": 6}
TIMEOUTS = {"connect_timeout": 5, "read_timeout": 15}


_CLIENTS = threading.Lock()  # boto3 sessions are not thread-safe; the clients they make are


def client(service: str, region: str) -> Any:
    """A client of the default session for one region (made under a lock, used in parallel)."""
    with _CLIENTS:
        return make_session().client(service, region_name=region, config=client_config())


def client_config() -> Config:
    from botocore.config import Config

    return Config(retries=RETRIES, **TIMEOUTS)  # pyright: ignore[reportArgumentType]


@cache
def make_session() -> Any:
    """boto3's default session: the standard credential chain (environment, profile, SSO, role)."""
    import boto3  # pyright: ignore[reportMissingTypeStubs]

    return boto3.Session()


def credentials_problem() -> str | None:
    if make_session().get_credentials() is None:
        return ("boto3's default chain found none (environment, ~/.aws profile, SSO, instance "
                "role); run `aws configure` or `aws sso login`, or set AWS_PROFILE")
    return None


def _family(instance_type: str) -> str:
    """The class letters of an instance type: p5.48xlarge -> p, g6e.xlarge -> g, vt1.3xlarge -> vt."""
    match = re.match(r"[a-z]+", instance_type)
    return match.group(0) if match else instance_type


@cache
def _buckets_by_class() -> dict[tuple[str, bool], str]:
    """(class letters, spot) -> bucket, from the catalog's SKUs: one bucket counts a whole
    class, including instance types the catalog does not list. VT shares G's buckets (the
    quota's name: "Running On-Demand G and VT instances")."""
    found: dict[tuple[str, bool], str] = {}
    for sku in load_catalog().skus.values():
        if sku.cloud == CLOUD:
            found[(_family(sku.instance_type), False)] = sku.quota_bucket
            found[(_family(sku.instance_type), True)] = sku.spot_quota_bucket
    for spot in (False, True):
        if ("g", spot) in found:
            found.setdefault(("vt", spot), found[("g", spot)])
    return found


def bucket_of(instance_type: str, capacity: Capacity) -> str | None:
    sku = load_catalog().sku(CLOUD, instance_type)
    if sku is not None:
        return sku.bucket_for(capacity)
    return _buckets_by_class().get((_family(instance_type), capacity == "spot"))


def _limits(region: str, buckets: Sequence[str]) -> tuple[dict[str, float | None], str]:
    quotas = client("service-quotas", region)
    limits: dict[str, float | None] = {}
    for page in quotas.get_paginator("list_service_quotas").paginate(ServiceCode=SERVICE_CODE):
        for quota in page.get("Quotas", []):
            if quota.get("QuotaCode") in buckets:
                limits[quota["QuotaCode"]] = quota.get("Value")
    for code in buckets:
        if code in limits:
            continue
        try:
            limits[code] = quotas.get_service_quota(ServiceCode=SERVICE_CODE, QuotaCode=code)["Quota"].get("Value")
        except quotas.exceptions.NoSuchResourceException:
            limits[code] = None
    return limits, "aws service-quotas"


def _usage(region: str) -> dict[str, int]:
    ec2 = client("ec2", region)
    used: dict[str, int] = {}
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    )
    for page in pages:
        for reservation in page.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                capacity: Capacity = "spot" if instance.get("InstanceLifecycle") == "spot" else "on-demand"
                bucket = bucket_of(instance["InstanceType"], capacity)
                if bucket is None:
                    continue
                cpu = instance.get("CpuOptions", {})
                used[bucket] = used.get(bucket, 0) + int(cpu.get("CoreCount", 0)) * int(cpu.get("ThreadsPerCore", 1))
    return used


def region_quotas(region: str, buckets: Sequence[str]) -> list[LiveQuota]:
    """The region's limit and usage for each bucket (vCPUs)."""
    limits, source = _limits(region, buckets)
    used = _usage(region)
    at = now()
    return [
        LiveQuota(CLOUD, region, code, None if limit is None else int(limit), used.get(code, 0),
                  f"{source} + ec2 describe_instances", at)
        for code, limit in sorted(limits.items())
    ]
