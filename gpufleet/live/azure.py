"""Azure live look-ups: compute usages per region (family vCPU limits and current values).

`ComputeManagementClient.usage.list(location)` (azure-mgmt-compute; REST "Usage - List",
https://learn.microsoft.com/rest/api/compute/usage/list) returns every quota of the region:
`name.value` is the bucket (`standardNDSH100v5Family`, the regional `cores`, and
`lowPriorityCores`, which every spot VM draws on), `limit` and `currentValue` in vCPUs.
Credentials: `DefaultAzureCredential` (environment, workload identity, managed identity,
Azure CLI, ...); the subscription from AZURE_SUBSCRIPTION_ID. Throttling (429) and transient
errors are retried by azure-core's RetryPolicy (exponential backoff, Retry-After honoured);
each call has connection and read timeouts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache
from typing import Any

from gpufleet import clouds
from gpufleet.live import LiveQuota, NoCredentialsError, now

CLOUD = "azure"
SUBSCRIPTION_VARIABLE = "AZURE_SUBSCRIPTION_ID"
CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 6, "retry_backoff_factor": 0.8, "connection_timeout": 5, "read_timeout": 15,
}


@cache
def make_client() -> Any:
    """The compute client with the default credential chain and the subscription from the
    environment (imported here: the SDK loads only when a look-up runs)."""
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.compute import ComputeManagementClient

    subscription = os.environ.get(SUBSCRIPTION_VARIABLE, "")
    return ComputeManagementClient(DefaultAzureCredential(), subscription, **CLIENT_OPTIONS)


def credentials_problem() -> str | None:
    """The subscription must be named; the credential chain is tried by the first call."""
    if not os.environ.get(SUBSCRIPTION_VARIABLE):
        return f"set {SUBSCRIPTION_VARIABLE} to the subscription to read quotas from"
    return None


def region_quotas(region: str, buckets: Sequence[str]) -> list[LiveQuota]:
    """The region's limit and usage for each bucket the catalog knows (case as the catalog
    spells it); buckets the region does not list are unknown there."""
    from azure.core.exceptions import ClientAuthenticationError

    model = clouds.get(CLOUD)
    wanted = {model.bucket_key(b): b for b in buckets}
    found: dict[str, tuple[int, int]] = {}
    try:
        for usage in make_client().usage.list(region):
            key = model.bucket_key(usage.name.value or "")
            if key in wanted:
                found[wanted[key]] = (int(usage.limit), int(usage.current_value))
    except ClientAuthenticationError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise NoCredentialsError(f"no Azure credentials: DefaultAzureCredential: {first}") from None
    at = now()
    return [
        LiveQuota(CLOUD, region, bucket, found[bucket][0] if bucket in found else None,
                  found[bucket][1] if bucket in found else 0, "azure compute usage", at)
        for bucket in sorted(wanted.values())
    ]
