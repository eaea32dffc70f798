"""A declared resource as a cloud model reads it (`gpufleet.clouds.base.DeclaredResource`).

The cloud models know which inputs mean what; this view knows how the engine hands them over
(proxied, JSON-encoded, maybe unknown) and how resources point at each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pulumi_policy import PolicyResource

from gpufleet import clouds
from gpufleet.policy.links import depends_on, find
from gpufleet.policy.locations import catalog_region
from gpufleet.policy.props import get, items, text


class View:
    """One resource of a stack, with the stack around it for links."""

    def __init__(self, resource: PolicyResource, stack: Sequence[PolicyResource]) -> None:
        self.resource = resource
        self.stack = stack

    @property
    def type(self) -> str:
        return self.resource.resource_type

    @property
    def name(self) -> str:
        return self.resource.name

    @property
    def urn(self) -> str:
        return self.resource.urn

    def get(self, *path: str) -> Any:
        return get(self.resource.props, *path)

    def items(self, *path: str) -> list[Any]:
        return items(get(self.resource.props, *path))

    def region(self) -> str | None:
        return region_of(self.resource)

    def ancestor_region(self) -> str | None:
        owner = clouds.owner_of(self.type)
        parent = self.resource.parent
        while parent is not None:
            if owner is not None and owner.owns(parent.resource_type) and text(get(parent.props, owner.location_key)):
                return region_of(parent)
            parent = parent.parent
        return None

    def linked(self, prop: str, types: frozenset[str]) -> View | None:
        reference = get(self.resource.props, prop)
        found = depends_on(self.resource, prop, types)
        for value in (reference, get(reference, "name"), get(reference, "id")):
            found = found or find(value, self.stack, types)
        return View(found, self.stack) if found is not None else None

    def refers(self, value: object, types: frozenset[str]) -> View | None:
        found = find(value, self.stack, types)
        return View(found, self.stack) if found is not None else None

    def referrers(self, prop: str, types: frozenset[str]) -> list[View]:
        mine = frozenset({self.type})
        return [
            View(r, self.stack) for r in self.stack
            if r.resource_type in types and (to := View(r, self.stack).linked(prop, mine)) is not None
            and to.urn == self.urn
        ]

    def dependency(self, prop: str, types: frozenset[str], besides: str = "") -> View | None:
        skip = [self.urn, *(d.urn for d in self.resource.property_dependencies.get(besides, []))]
        found = depends_on(self.resource, prop, types, exclude=skip)
        return View(found, self.stack) if found is not None else None

    def linked_each(self, prop: str, types: frozenset[str]) -> list[View]:
        found = [find(entry, self.stack, types) for entry in items(get(self.resource.props, prop))]
        return [View(r, self.stack) for r in found if r is not None]


def region_of(resource: PolicyResource) -> str | None:
    """The resource's own region input, else its explicit provider's, as its cloud spells it."""
    return catalog_region(resource.resource_type, resource.props, resource.provider)
