"""How one resource points at another in the engine's view: by name, id or ARN in an input,
or through the engine's property dependencies (which hold even when the value is unknown
during preview)."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import PolicyResource

from gpufleet import clouds
from gpufleet.policy.props import get, text


def identifiers(resource: PolicyResource) -> set[str]:
    """Names other resources may use for this one: logical name, physical name (own input or
    `name` output), id, ARN, and the id the gpufleet mocks give (`<name>-id`). The input that
    holds a physical name is its cloud's (`CloudModel.own_name_keys`)."""
    found = {resource.name, f"{resource.name}-id"}
    keys = ["name", "id", "arn"]
    owner = clouds.owner_of(resource.resource_type)
    own = owner.own_name_keys.get(resource.resource_type) if owner is not None else None
    if own:
        keys.append(own)
    for key in keys:
        value = text(get(resource.props, key))
        if value:
            found.add(value)
    return found


def tail(value: str) -> str:
    """`arn:aws:s3:::name` -> name; an Azure resource id -> its last segment; else unchanged."""
    if value.startswith("arn:"):
        return value.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    return value.rstrip("/").rsplit("/", 1)[-1]


def find(
    value: object, candidates: Iterable[PolicyResource], types: frozenset[str]
) -> PolicyResource | None:
    """The candidate of one of `types` that `value` (a name, id or ARN) refers to."""
    name = text(value)
    if name is None:
        return None
    for candidate in candidates:
        if candidate.resource_type in types:
            names = identifiers(candidate)
            if name in names or tail(name) in names:
                return candidate
    return None


def depends_on(
    resource: PolicyResource, prop: str, types: frozenset[str], exclude: Iterable[str] = ()
) -> PolicyResource | None:
    """The single resource of `types` that input `prop` depends on, per the engine."""
    skip = set(exclude)
    found = [
        d for d in resource.property_dependencies.get(prop, [])
        if d.resource_type in types and d.urn not in skip
    ]
    return found[0] if len(found) == 1 else None
