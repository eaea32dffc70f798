"""required-tags: every taggable resource says which fleet and stack it belongs to.

Each cloud model names its tag keys (AWS `gpufleet:fleet` / `gpufleet:stack`, directly or through
the provider's `defaultTags`; Azure `gpufleet-fleet` / `gpufleet-stack`, as Azure tag names cannot
hold ':' everywhere), its taggable and untaggable types.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyProviderResource, ReportViolation, ResourceValidationArgs

from gpufleet import clouds
from gpufleet.errors import shown
from gpufleet.policy import incluster
from gpufleet.policy.config import REQUIRED_TAGS, UNCHECKED_TYPES, effective_config, listed_types
from gpufleet.policy.locations import out_of_scope
from gpufleet.policy.props import describe, get, mapping, text


def unverified_problem(resource_type: str, props: Mapping[str, Any]) -> str | None:
    """Why the tags of a resource gpufleet cannot judge are not verified (None: it can judge)."""
    owner = clouds.owner_of(resource_type)
    if resource_type in incluster.UNTAGGABLE:
        return None
    if owner is None:
        packages = sorted(p for model in clouds.models() for p in model.packages)
        return f"gpufleet knows the tag keys of {' and '.join(packages)} resources only"
    if "tags" not in props and resource_type not in owner.taggable_types | owner.untaggable_types:
        return "the type is not known to gpufleet as taggable or untaggable, and it sets no tags"
    return None


def tag_problem(
    resource_type: str, props: Mapping[str, Any], provider: PolicyProviderResource | None,
    fleet: str | None = None,
) -> str | None:
    """What is wrong with a resource's tags (None when fine or not taggable)."""
    owner = clouds.owner_of(resource_type)
    if owner is None or resource_type in owner.untaggable_types or (
        "tags" not in props and resource_type not in owner.taggable_types
    ):
        return None
    tags = dict(mapping(get(props, "tags")))
    via = ""
    if owner.tag_inheritance:
        inherited: Mapping[str, Any] = owner.inherited_tags(provider.props) if provider is not None else {}
        tags = {**inherited, **tags}
        via = f", directly or through {owner.tag_inheritance}"
    fleet_key, stack_key = owner.tag_keys
    missing = [key for key in (fleet_key, stack_key) if not text(tags.get(key))]
    if missing:
        present = ", ".join(sorted(tags)) or "none"
        return (
            f"missing tag{'s' if len(missing) > 1 else ''} {', '.join(missing)} (tags present: "
            f"{present}); allowed: {fleet_key} and {stack_key} on every taggable resource{via}"
        )
    if fleet and tags.get(fleet_key) != fleet:
        return f"tag {fleet_key} is {shown(tags.get(fleet_key))}; allowed: {fleet!r} (this fleet)"
    return None


def validate_required_tags(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """required-tags (advisory): fleet and stack tags on every taggable resource; a resource
    whose tags gpufleet cannot judge is reported as not verified, unless its type is exempt."""
    config = effective_config(args, REQUIRED_TAGS)
    if config is None or out_of_scope(args.resource_type, args.provider):
        return
    who = describe(args.resource_type, args.name)
    unverified = unverified_problem(args.resource_type, args.props)
    if unverified:
        if args.resource_type not in listed_types(config, UNCHECKED_TYPES):
            report_violation(
                f"{who}: tags not verified: {unverified}; allowed: fleet and stack tags on a "
                f"type gpufleet knows, or list the type in policies.{UNCHECKED_TYPES} of the spec",
                None,
            )
        return
    problem = tag_problem(args.resource_type, args.props, args.provider, text(config.get("fleet")))
    if problem:
        report_violation(f"{who}: {problem}", None)
