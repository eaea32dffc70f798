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
Prices (`catalog refresh`): on-demand from the Price List Query API, `pricing` `get_products`
(paginated; the endpoint is in us-east-1 whatever region is asked about,
https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-price-list-query-api.html),
filtered to AmazonEC2, the region's `regionCode`, Linux, shared tenancy, no pre-installed
software, `capacitystatus` Used (the running-instance rate, not reservations' unused capacity),
the instance types as one `ANY_OF` filter (comma-separated values up to 1024 characters, API
reference "Filter"); each PriceList entry is a JSON string whose `terms.OnDemand` hold
`pricePerUnit.USD` per hour. Spot from `ec2` `describe_spot_price_history` (paginated) for
`Linux/UNIX` with StartTime now, which gives each zone's latest price; the region's spot
price is the **median of its zones' latest prices** (the higher middle one for an even count):
a node group spans the region's zones and EC2's spot allocation spreads across them, so a
typical node pays about the middle price; the minimum is a zone no pool can count on and the
maximum lets one thin zone's spike price a whole region out.
Throttling and transient errors are retried by botocore's standard retry mode (exponential
backoff with jitter); each call has connect and read timeouts.
"""

from __future__ import annotations

import json
import re
import statistics
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from gpufleet.catalog import Capacity
from gpufleet.clouds.catalog import load_catalog
from gpufleet.live import LiveQuota, now
from gpufleet.live.prices import LivePrice

if TYPE_CHECKING:
    from botocore.config import Config


SDK_MODULES = ("boto3",)
"""What the look-ups import (the `live` extra); checked before any call."""

CLOUD = "aws"
SERVICE_CODE = "ec2"
RETRIES = {"mode": "standard", "max_attempts": 6}
TIMEOUTS = {"connect_timeout": 5, "read_timeout": 15}
PRICING_REGION = "us-east-1"
PRICE_FILTERS = {"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"}
FILTER_VALUE_MAX = 1024
SPOT_PRODUCT = "Linux/UNIX"
PRICE_SOURCE = "aws pricing get_products + ec2 spot price history (zone median)"


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


def prices_credentials_problem() -> str | None:
    """The Price List Query API and the spot history are signed calls: the same chain as quotas."""
    return credentials_problem()


def _chunks(instance_types: Sequence[str]) -> Iterator[str]:
    """The instance types as ANY_OF values, each at most the filter's 1024 characters."""
    chunk: list[str] = []
    for name in instance_types:
        if chunk and len(",".join([*chunk, name])) > FILTER_VALUE_MAX:
            yield ",".join(chunk)
            chunk = []
        chunk.append(name)
    if chunk:
        yield ",".join(chunk)


def _hourly_usd(entry: str) -> tuple[str, float] | None:
    """(instance type, on-demand $/hour) of one PriceList entry; the highest hourly rate where a
    product lists several (conservative)."""
    product = json.loads(entry)
    rates = [
        float(dimension["pricePerUnit"]["USD"])
        for term in product.get("terms", {}).get("OnDemand", {}).values()
        for dimension in term.get("priceDimensions", {}).values()
        if dimension.get("unit") == "Hrs" and "USD" in dimension.get("pricePerUnit", {})
    ]
    rates = [rate for rate in rates if rate > 0]
    instance_type = product.get("product", {}).get("attributes", {}).get("instanceType")
    return (instance_type, max(rates)) if instance_type and rates else None


def _on_demand(region: str, instance_types: Sequence[str]) -> dict[str, float]:
    pricing = client("pricing", PRICING_REGION)
    fixed = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}] + [
        {"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in PRICE_FILTERS.items()
    ]
    found: dict[str, float] = {}
    for names in _chunks(instance_types):
        filters = [*fixed, {"Type": "ANY_OF", "Field": "instanceType", "Value": names}]
        for page in pricing.get_paginator("get_products").paginate(ServiceCode="AmazonEC2", Filters=filters):
            for entry in page.get("PriceList", []):
                if (rate := _hourly_usd(entry)) and rate[0] in instance_types:
                    found[rate[0]] = max(rate[1], found.get(rate[0], 0.0))
    return found


def _spot(region: str, instance_types: Sequence[str]) -> dict[str, float]:
    ec2 = client("ec2", region)
    latest: dict[tuple[str, str], tuple[datetime, float]] = {}
    pages = ec2.get_paginator("describe_spot_price_history").paginate(
        InstanceTypes=list(instance_types), ProductDescriptions=[SPOT_PRODUCT], StartTime=datetime.now(UTC)
    )
    for page in pages:
        for item in page.get("SpotPriceHistory", []):
            key = (item["InstanceType"], item["AvailabilityZone"])
            if key not in latest or item["Timestamp"] > latest[key][0]:
                latest[key] = (item["Timestamp"], float(item["SpotPrice"]))
    by_type: dict[str, list[float]] = {}
    for (instance_type, _), (_, price) in latest.items():
        by_type.setdefault(instance_type, []).append(price)
    return {name: statistics.median_high(prices) for name, prices in by_type.items() if min(prices) > 0}


def region_prices(region: str, instance_types: Sequence[str]) -> list[LivePrice]:
    """The region's on-demand and spot $/hour of each instance type either API prices."""
    on_demand, spot = _on_demand(region, instance_types), _spot(region, instance_types)
    at = now()
    return [
        LivePrice(CLOUD, name, region, on_demand.get(name), spot.get(name), PRICE_SOURCE, at)
        for name in sorted(set(on_demand) | set(spot))
    ]
