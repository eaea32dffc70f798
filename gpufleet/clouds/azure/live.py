"""Azure live look-ups: compute usages per region (family vCPU limits and current values).

`ComputeManagementClient.usage.list(location)` (azure-mgmt-compute; REST "Usage - List",
https://learn.microsoft.com/rest/api/compute/usage/list) returns every quota of the region:
`name.value` is the bucket (`standardNDSH100v5Family`, the regional `cores`, and
`lowPriorityCores`, which every spot VM draws on), `limit` and `currentValue` in vCPUs.
Credentials: `DefaultAzureCredential` (environment, workload identity, managed identity,
Azure CLI, ...); the subscription from AZURE_SUBSCRIPTION_ID. Throttling (429) and transient
errors are retried by azure-core's RetryPolicy (exponential backoff, Retry-After honoured);
each call has connection and read timeouts.

Prices (`catalog refresh`): the Retail Prices API (public, no credentials;
https://learn.microsoft.com/rest/api/cost-management/retail-prices/azure-retail-prices),
api-version 2023-01-01-preview with `meterRegion='primary'` (primary meters only, so a price
is not listed twice), OData `$filter` on serviceName 'Virtual Machines', armRegionName,
priceType 'Consumption' and the SKUs (`armSkuName eq ... or ...`, at most SKU_CHUNK a query:
long filters are refused), following `NextPageLink`. Rows in USD per '1 Hour' count; Windows
(productName) and Low Priority rows do not; a skuName ending ' Spot' is the spot meter. Where
two rows price the same meter the higher counts (conservative). Sent through an azure-core
pipeline (its RetryPolicy retries 429 and 5xx, honouring Retry-After); `retail_transport`
gives the transport (None: azure-core's default; tests give a fake one).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from gpufleet import clouds
from gpufleet.live import LiveQuota, NoCredentialsError, now
from gpufleet.live.prices import LivePrice

if TYPE_CHECKING:
    from azure.core.pipeline.transport import HttpTransport


SDK_MODULES = ("azure.identity", "azure.mgmt.compute")
"""What the look-ups import (the `live` extra); checked before any call."""

CLOUD = "azure"
SUBSCRIPTION_VARIABLE = "AZURE_SUBSCRIPTION_ID"
CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 6, "retry_backoff_factor": 0.8, "connection_timeout": 5, "read_timeout": 15,
}
RETAIL_PRICES_URL = "https://prices.azure.com/api/retail/prices"
RETAIL_API_VERSION = "2023-01-01-preview"
SKU_CHUNK = 10
PRICE_SOURCE = "azure retail prices api"


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


def prices_credentials_problem() -> str | None:
    """The Retail Prices API is public: no credentials needed."""
    return None


def retail_transport() -> HttpTransport[Any, Any] | None:
    """The HTTP transport of the Retail Prices calls; None: azure-core's default."""
    return None


def _retail_items(region: str, skus: Sequence[str]) -> Iterator[dict[str, Any]]:
    from azure.core import PipelineClient
    from azure.core.pipeline.policies import RetryPolicy
    from azure.core.rest import HttpRequest

    client: PipelineClient[Any, Any] = PipelineClient(
        RETAIL_PRICES_URL, transport=retail_transport(),
        policies=[RetryPolicy(retry_total=CLIENT_OPTIONS["retry_total"],
                              retry_backoff_factor=CLIENT_OPTIONS["retry_backoff_factor"])],
    )
    for start in range(0, len(skus), SKU_CHUNK):
        names = " or ".join(f"armSkuName eq '{name}'" for name in skus[start:start + SKU_CHUNK])
        query = (f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' "
                 f"and priceType eq 'Consumption' and ({names})")
        url: str | None = RETAIL_PRICES_URL + "?" + urlencode(
            {"api-version": RETAIL_API_VERSION, "meterRegion": "'primary'", "$filter": query}
        )
        while url:
            response = client.send_request(HttpRequest("GET", url), connection_timeout=CLIENT_OPTIONS[
                "connection_timeout"], read_timeout=CLIENT_OPTIONS["read_timeout"])
            response.raise_for_status()
            page: dict[str, Any] = response.json()
            yield from page.get("Items", [])
            url = page.get("NextPageLink")


def region_prices(region: str, instance_types: Sequence[str]) -> list[LivePrice]:
    """The region's Linux pay-as-you-go and spot $/hour of each VM size the API prices."""
    wanted = set(instance_types)
    found: dict[tuple[str, bool], float] = {}
    for item in _retail_items(region, sorted(wanted)):
        sku_name: str = item.get("skuName", "")
        if (item.get("armSkuName") not in wanted or item.get("armRegionName") != region
                or item.get("type") != "Consumption" or item.get("unitOfMeasure") != "1 Hour"
                or item.get("currencyCode") != "USD" or "Windows" in item.get("productName", "")
                or sku_name.endswith(" Low Priority")):
            continue
        key, price = (item["armSkuName"], sku_name.endswith(" Spot")), float(item.get("retailPrice", 0))
        if price > 0:
            found[key] = max(price, found.get(key, 0.0))
    at = now()
    return [
        LivePrice(CLOUD, name, region, found.get((name, False)), found.get((name, True)), PRICE_SOURCE, at)
        for name in sorted({name for name, _ in found})
    ]
