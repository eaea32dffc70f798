"""Sovereignty: every regional resource, and every copy of the data, in an allowed jurisdiction.

A region maps to a jurisdiction through its country in the catalog, never through its name
(`eu-west-2` is London). A region that cannot be determined is a violation, not a skip, and so
is a resource of any provider whose location gpufleet cannot read (gpufleet/policy/locations.py),
unless the spec lists its type in `policies.unlocated_types`.
"""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from gpufleet import clouds
from gpufleet.catalog import jurisdictions_of
from gpufleet.clouds.catalog import load_catalog
from gpufleet.policy.config import (
    SOVEREIGNTY_REGIONS,
    SOVEREIGNTY_STORAGE,
    UNLOCATED_TYPES,
    effective_config,
    listed_types,
)
from gpufleet.policy.links import depends_on, find
from gpufleet.policy.locations import (
    CatalogRegion,
    Location,
    NamedPlace,
    OutOfScope,
    Unverifiable,
    catalog_region,
    locate,
)
from gpufleet.policy.props import allowed_regions, allowed_set, describe, get, items, text

S3_BUCKET_TYPES = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
S3_REPLICATION_TYPE = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
AZURE_STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
AZURE_OBJECT_REPLICATION = "azure-native:storage:ObjectReplicationPolicy"
AWS_BACKUP_PLAN = "aws:backup/plan:Plan"
# The cross-cloud sync job (components/k8s/syncspec.py): its label, and the annotations naming
# the 'cloud/region' it copies from and to.
CRON_JOB = "kubernetes:batch/v1:CronJob"
SYNC_COMPONENT = ("app.kubernetes.io/component", "dataset-sync")
SYNC_ENDS = (("source", "gpufleet.io/sync-source"), ("destination", "gpufleet.io/sync-destination"))
# Geo-redundant Azure storage (GRS, RA-GRS, GZRS, RA-GZRS) keeps a copy in the region's pair
# (learn.microsoft.com/azure/reliability/cross-region-replication-azure): region -> (pair, country).
AZURE_REGION_PAIRS: dict[str, tuple[str, str]] = {
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
_NOT_IN_STACK = "the destination is not a {} of this stack, so where the copy lives is unknown"
_SOURCE_NOT_IN_STACK = "the source is not a {} of this stack, so where the data comes from is unknown"


def _allowed_text(allowed: frozenset[str]) -> str:
    return ", ".join(sorted(allowed))


def region_problem(
    cloud: str, region: str | None, allowed: frozenset[str], unknown_why: str = ""
) -> str | None:
    """Why a region is not acceptable (None when it is), naming what is allowed."""
    where = f"allowed {cloud} regions: {allowed_regions(cloud, allowed)}"
    if region is None:
        key = clouds.get(cloud).location_key
        why = unknown_why or f"no '{key}' on the resource or its provider"
        return (
            f"region cannot be determined ({why}); it must be a region in "
            f"{_allowed_text(allowed)} ({where})"
        )
    info = load_catalog().region(cloud, region)
    if info is None:
        return (
            f"region '{region}' is not in the gpufleet catalog, so its jurisdiction cannot be "
            f"determined; allowed jurisdictions: {_allowed_text(allowed)} ({where})"
        )
    if not info.jurisdictions & allowed:
        return (
            f"region '{region}' is in {info.country} ({info.display_name}), outside the allowed "
            f"jurisdictions {_allowed_text(allowed)} ({where})"
        )
    return None


def _not_configured(policy: str) -> str:
    return (
        f"{policy}: no allowed jurisdictions configured; pass the output of `gpufleet "
        "policy-config --stack NAME` with --policy-pack-config"
    )


def location_problem(who: str, where: Location, allowed: frozenset[str]) -> tuple[str | None, bool]:
    """(what is wrong with `who`'s location, None when it is acceptable; whether the location
    could not be verified at all, which an explicit `unlocated_types` entry accepts)."""
    match where:
        case OutOfScope():
            return None, False
        case CatalogRegion(cloud=cloud, region=region, why=why, via=via):
            problem = region_problem(cloud, region, allowed, why)
            unverified = region is None or load_catalog().region(cloud, region) is None
            located = f" (located by {via})" if via else ""
            return (f"{who}{located}: {problem}" if problem else None), unverified
        case NamedPlace(location=location, jurisdictions=held):
            if not held:
                why = f"'{location}' spans several countries with no common jurisdiction"
                return _unverifiable(who, why, allowed), True
            if held & allowed:
                return None, False
            return (
                f"{who}: location '{location}' is in {_allowed_text(held)}, outside the allowed "
                f"jurisdictions {_allowed_text(allowed)}"
            ), False
        case Unverifiable(why=why):
            return _unverifiable(who, why, allowed), True


def _unverifiable(who: str, why: str, allowed: frozenset[str]) -> str:
    return (
        f"cannot verify the location of {who}: {why}; allowed: a location in "
        f"{_allowed_text(allowed)}"
    )


def validate_allowed_regions(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """sovereignty-allowed-regions: every custom resource is located in an allowed
    jurisdiction; one that cannot be located fails unless its type is listed as unlocated."""
    config = effective_config(args, SOVEREIGNTY_REGIONS)
    if config is None:
        return
    where = locate(args.resource_type, args.props, args.provider)
    if isinstance(where, OutOfScope):
        return
    allowed = allowed_set(config.get("jurisdictions"))
    if not allowed:
        report_violation(_not_configured(SOVEREIGNTY_REGIONS), None)
        return
    who = describe(args.resource_type, args.name)
    problem, unverified = location_problem(who, where, allowed)
    if problem is None:
        return
    if unverified:
        if args.resource_type in listed_types(config, UNLOCATED_TYPES):
            return
        problem += f", or list the type in policies.{UNLOCATED_TYPES} of the spec"
    report_violation(problem, None)


# -- storage residency -----------------------------------------------------------------------


def _resource_region(resource: PolicyResource) -> str | None:
    return catalog_region(resource.resource_type, resource.props, resource.provider)


def _destination(
    resource: PolicyResource,
    value: str | None,
    prop: str,
    types: frozenset[str],
    stores: list[PolicyResource],
) -> PolicyResource | None:
    """The bucket/account a replication rule points at: by value, else by the engine's
    property dependencies (during preview the destination's ARN is not known yet)."""
    found = find(value, stores, types)
    if found is not None:
        return found
    sources = [d.urn for d in resource.property_dependencies.get("bucket", [])] + [resource.urn]
    return depends_on(resource, prop, types, exclude=sources)


def _arn_region(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] or None if len(parts) > 5 and parts[0] == "arn" else None


def _storage_findings(
    resources: list[PolicyResource], allowed: frozenset[str]
) -> Iterable[tuple[str, str]]:
    buckets = [r for r in resources if r.resource_type in S3_BUCKET_TYPES]
    accounts = [r for r in resources if r.resource_type == AZURE_STORAGE_ACCOUNT]
    for store in [*buckets, *accounts]:
        cloud = "aws" if store in buckets else "azure"
        problem = region_problem(cloud, _resource_region(store), allowed)
        if problem:
            yield store.urn, f"{describe(store.resource_type, store.name)}: {problem}"
    for account in accounts:
        yield from _geo_replication_findings(account, allowed)
    for resource in resources:
        yield from _replication_findings(resource, buckets, accounts, allowed)


def _geo_replication_findings(
    account: PolicyResource, allowed: frozenset[str]
) -> Iterable[tuple[str, str]]:
    """A geo-redundant storage SKU copies the data to the region's pair."""
    sku = text(get(account.props, "sku", "name")) or ""
    region = _resource_region(account)
    geo = "GRS" in sku.upper() or "GZRS" in sku.upper()
    if not geo or region is None:
        return
    who = describe(account.resource_type, account.name)
    pair = AZURE_REGION_PAIRS.get(region)
    if pair is None:
        yield account.urn, (
            f"{who}: sku {sku} geo-replicates to the pair of '{region}', which gpufleet does not "
            f"know, so the copy's jurisdiction cannot be determined; allowed: an LRS or ZRS sku, "
            f"or geo-redundancy in a region whose pair is in {_allowed_text(allowed)}"
        )
    elif not jurisdictions_of(pair[1]) & allowed:
        yield account.urn, (
            f"{who}: sku {sku} geo-replicates to the paired region '{pair[0]}' ({pair[1]}), "
            f"outside the allowed jurisdictions {_allowed_text(allowed)}; allowed: an LRS or "
            "ZRS sku, or a region whose pair is inside"
        )


def _replication_findings(
    resource: PolicyResource,
    buckets: list[PolicyResource],
    accounts: list[PolicyResource],
    allowed: frozenset[str],
) -> Iterable[tuple[str, str]]:
    who = describe(resource.resource_type, resource.name)
    inline = get(resource.props, "replicationConfiguration")
    if resource.resource_type == S3_REPLICATION_TYPE or (
        resource.resource_type in S3_BUCKET_TYPES and inline
    ):
        rules = items(get(resource.props, "rules")) or items(get(inline, "rules"))
        standalone = resource.resource_type == S3_REPLICATION_TYPE
        prop = "rules" if standalone else "replicationConfiguration"
        if standalone:
            yield from _source_finding(
                resource, "bucket", S3_BUCKET_TYPES, buckets,
                kind=("aws", "bucket", "replication"), allowed=allowed,
            )
        for index, rule in enumerate(rules):
            destinations = [get(rule, "destination"), *items(get(rule, "destinations"))]
            for destination in [d for d in destinations if d is not None]:
                value = text(get(destination, "bucket"))
                target = _destination(resource, value, prop, S3_BUCKET_TYPES, buckets)
                region = _resource_region(target) if target is not None else None
                problem = region_problem("aws", region, allowed, _NOT_IN_STACK.format("bucket"))
                if problem:
                    yield resource.urn, (
                        f"{who}: replication rule {index} copies data to bucket "
                        f"'{value or '?'}'; destination {problem}"
                    )
    elif resource.resource_type == AZURE_OBJECT_REPLICATION:
        yield from _source_finding(
            resource, "sourceAccount", frozenset({AZURE_STORAGE_ACCOUNT}), accounts,
            kind=("azure", "storage account", "object replication"), allowed=allowed,
        )
        value = text(get(resource.props, "destinationAccount"))
        target = _destination(
            resource, value, "destinationAccount", frozenset({AZURE_STORAGE_ACCOUNT}), accounts
        )
        region = _resource_region(target) if target is not None else None
        problem = region_problem("azure", region, allowed, _NOT_IN_STACK.format("storage account"))
        if problem:
            yield resource.urn, (
                f"{who}: object replication copies data to storage account "
                f"'{value or '?'}'; destination {problem}"
            )
    elif resource.resource_type == CRON_JOB and _is_sync_job(resource):
        yield from _sync_job_findings(resource, who, allowed)
    elif resource.resource_type == AWS_BACKUP_PLAN:
        for rule in items(get(resource.props, "rules")):
            for action in items(get(rule, "copyActions")):
                arn = text(get(action, "destinationVaultArn"))
                problem = region_problem(
                    "aws", _arn_region(arn) if arn else None, allowed, "no region in the vault ARN"
                )
                if problem:
                    yield resource.urn, (
                        f"{who}: backup copy to vault '{arn}'; destination {problem}"
                    )


def _source_finding(
    resource: PolicyResource,
    prop: str,
    types: frozenset[str],
    stores: list[PolicyResource],
    *,
    kind: tuple[str, str, str],
    allowed: frozenset[str],
) -> Iterable[tuple[str, str]]:
    """A replication's source store must be located inside too: the data leaves from there."""
    cloud, noun, what = kind
    value = text(get(resource.props, prop))
    source = find(value, stores, types) or depends_on(resource, prop, types)
    region = _resource_region(source) if source is not None else None
    problem = region_problem(cloud, region, allowed, _SOURCE_NOT_IN_STACK.format(noun))
    if problem:
        yield resource.urn, (
            f"{describe(resource.resource_type, resource.name)}: {what} reads data from {noun} "
            f"'{value or '?'}'; source {problem}"
        )


def _is_sync_job(resource: PolicyResource) -> bool:
    label, component = SYNC_COMPONENT
    return text(get(resource.props, "metadata", "labels", label)) == component


def _sync_job_findings(
    resource: PolicyResource, who: str, allowed: frozenset[str]
) -> Iterable[tuple[str, str]]:
    """Both ends of a sync job's path, as its annotations name them ('cloud/region'); an end it
    does not name, or on a cloud gpufleet does not know, cannot be located: a violation."""
    annotations = get(resource.props, "metadata", "annotations")
    for end, key in SYNC_ENDS:
        place = text(get(annotations, key)) or ""
        cloud, _, region = place.partition("/")
        if cloud not in clouds.names() or not region:
            problem = (
                f"{end} cannot be located (annotation '{key}' is {place or 'missing'}; "
                f"allowed: 'cloud/region' with a cloud of {', '.join(clouds.names())}); it must "
                f"be a region in {_allowed_text(allowed)}"
            )
        else:
            problem = region_problem(cloud, region, allowed)
        if problem:
            yield resource.urn, f"{who}: dataset sync job copies data from {_path(annotations)}; {end} {problem}"


def _path(annotations: object) -> str:
    source, destination = (text(get(annotations, key)) or "?" for _, key in SYNC_ENDS)
    return f"{source} to {destination}"


def validate_storage_residency(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """sovereignty-storage-residency: buckets, accounts and replication/backup destinations."""
    config = effective_config(args, SOVEREIGNTY_STORAGE)
    if config is None:
        return
    allowed = allowed_set(config.get("jurisdictions"))
    if not allowed:
        report_violation(_not_configured(SOVEREIGNTY_STORAGE), None)
        return
    for urn, message in _storage_findings(args.resources, allowed):
        report_violation(message, urn)


__all__ = [
    "location_problem",
    "region_problem",
    "validate_allowed_regions",
    "validate_storage_residency",
]
