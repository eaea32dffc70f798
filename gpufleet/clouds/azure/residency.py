"""Where Azure resources keep and copy data, for `sovereignty-storage-residency`: every storage
account's region, the paired region a geo-redundant account copies to, and both ends of object
replication between accounts.

The policy (gpufleet/policy/sovereignty.py) judges each place through a `ResidencyJudge`; this
module only finds the places. Loaded only where a policy runs (it reads inputs through
pulumi_policy's proxies, gpufleet.clouds.inputs).
"""

from __future__ import annotations

from collections.abc import Iterable

from gpufleet.clouds.declared import DeclaredResource, ResidencyJudge
from gpufleet.clouds.inputs import text

CLOUD = "azure"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
ACCOUNTS = frozenset({STORAGE_ACCOUNT})
OBJECT_REPLICATION = "azure-native:storage:ObjectReplicationPolicy"
NOT_IN_STACK = "the destination is not a storage account of this stack, so where the copy lives is unknown"
SOURCE_NOT_IN_STACK = "the source is not a storage account of this stack, so where the data comes from is unknown"
# Geo-redundant Azure storage (GRS, RA-GRS, GZRS, RA-GZRS) keeps a copy in the region's pair
# (learn.microsoft.com/azure/reliability/cross-region-replication-azure): region -> (pair, country).
REGION_PAIRS: dict[str, tuple[str, str]] = {
    "northeurope": ("westeurope", "NL"), "westeurope": ("northeurope", "IE"),
    "germanywestcentral": ("germanynorth", "DE"), "germanynorth": ("germanywestcentral", "DE"),
    "francecentral": ("francesouth", "FR"), "francesouth": ("francecentral", "FR"),
    "swedencentral": ("swedensouth", "SE"), "swedensouth": ("swedencentral", "SE"),
    "norwayeast": ("norwaywest", "NO"), "norwaywest": ("norwayeast", "NO"),
    "switzerlandnorth": ("switzerlandwest", "CH"), "switzerlandwest": ("switzerlandnorth", "CH"),
    "uksouth": ("ukwest", "GB"), "ukwest": ("uksouth", "GB"),
    "eastus": ("westus", "US"), "westus": ("eastus", "US"),
    "eastus2": ("centralus", "US"), "centralus": ("eastus2", "US"),
    "northcentralus": ("southcentralus", "US"), "southcentralus": ("northcentralus", "US"),
    "westus2": ("westcentralus", "US"), "westcentralus": ("westus2", "US"),
    "westus3": ("eastus", "US"),
}


def findings(resource: DeclaredResource, judge: ResidencyJudge) -> Iterable[str]:
    """An account outside the allowed jurisdictions or geo-replicating out of them, and an
    object replication that reads from or copies to such an account; each message follows the
    resource's name."""
    if resource.type == STORAGE_ACCOUNT:
        problem = judge.region_problem(CLOUD, resource.region())
        if problem:
            yield problem
        yield from _geo_replication(resource, judge)
    elif resource.type == OBJECT_REPLICATION:
        value = text(resource.get("sourceAccount"))
        source = resource.refers(value, ACCOUNTS) or resource.dependency("sourceAccount", ACCOUNTS)
        problem = judge.region_problem(CLOUD, source.region() if source is not None else None, SOURCE_NOT_IN_STACK)
        if problem:
            yield f"object replication reads data from storage account '{value or '?'}'; source {problem}"
        value = text(resource.get("destinationAccount"))
        target = resource.refers(value, ACCOUNTS) or resource.dependency("destinationAccount", ACCOUNTS)
        problem = judge.region_problem(CLOUD, target.region() if target is not None else None, NOT_IN_STACK)
        if problem:
            yield f"object replication copies data to storage account '{value or '?'}'; destination {problem}"


def _geo_replication(account: DeclaredResource, judge: ResidencyJudge) -> Iterable[str]:
    """A geo-redundant storage SKU copies the data to the region's pair."""
    sku = text(account.get("sku", "name")) or ""
    region = account.region()
    if not ("GRS" in sku.upper() or "GZRS" in sku.upper()) or region is None:
        return
    pair = REGION_PAIRS.get(region)
    if pair is None:
        yield (
            f"sku {sku} geo-replicates to the pair of '{region}', which gpufleet does not know, so "
            f"the copy's jurisdiction cannot be determined; allowed: an LRS or ZRS sku, or "
            f"geo-redundancy in a region whose pair is in {judge.allowed}"
        )
    elif not judge.allows(pair[1]):
        yield (
            f"sku {sku} geo-replicates to the paired region '{pair[0]}' ({pair[1]}), outside the "
            f"allowed jurisdictions {judge.allowed}; allowed: an LRS or ZRS sku, or a region whose "
            "pair is inside"
        )
