"""Sovereignty: every regional resource, and every copy of the data, in an allowed jurisdiction.

A region maps to a jurisdiction through its country in the catalog, never through its name
(`eu-west-2` is London). A region that cannot be determined is a violation, not a skip, and so
is a resource of any provider whose location gpufleet cannot read (gpufleet/policy/locations.py),
unless the spec lists its type in `policies.unlocated_types`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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
from gpufleet.policy.locations import CatalogRegion, Location, NamedPlace, OutOfScope, Unverifiable, locate
from gpufleet.policy.props import allowed_regions, allowed_set, describe, get, text
from gpufleet.policy.view import View

# The cross-cloud sync job (components/k8s/syncspec.py): its label, and the annotations naming
# the 'cloud/region' it copies from and to.
CRON_JOB = "kubernetes:batch/v1:CronJob"
SYNC_COMPONENT = ("app.kubernetes.io/component", "dataset-sync")
SYNC_ENDS = (("source", "gpufleet.io/sync-source"), ("destination", "gpufleet.io/sync-destination"))


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


@dataclass(frozen=True, slots=True)
class _Judge:
    """Judges the places a cloud model finds in a resource (gpufleet.clouds.declared.ResidencyJudge)."""

    allowed_set: frozenset[str]

    @property
    def allowed(self) -> str:
        return _allowed_text(self.allowed_set)

    def region_problem(self, cloud: str, region: str | None, unknown: str = "") -> str | None:
        return region_problem(cloud, region, self.allowed_set, unknown)

    def allows(self, country: str) -> bool:
        return bool(jurisdictions_of(country) & self.allowed_set)


def _storage_findings(
    resources: list[PolicyResource], allowed: frozenset[str]
) -> Iterable[tuple[str, str]]:
    """Each resource's stores and copies as its cloud's model finds them
    (`CloudModel.residency_findings`), and both ends of every dataset sync job."""
    judge = _Judge(allowed)
    for resource in resources:
        who = describe(resource.resource_type, resource.name)
        owner = clouds.owner_of(resource.resource_type)
        if owner is not None:
            for message in owner.residency_findings(View(resource, resources), judge):
                yield resource.urn, f"{who}: {message}"
        elif resource.resource_type == CRON_JOB and _is_sync_job(resource):
            yield from _sync_job_findings(resource, who, allowed)


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
    """sovereignty-storage-residency: every store and every copy of its data, as the stores'
    clouds find them (buckets, accounts, replication, backup, geo-redundancy), and sync jobs."""
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
