"""Resources as the engine reports them, read the same way by every cloud model and policy: the
declared-resource view the policies hand a model (gpufleet.policy.view.View implements it), the
node pools a model reads from it, the judge of data residency a model reports to, what the
offline mocks know of a new resource, and the readers of provider inputs (JSON-encoded mappings,
numbers given as strings).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast


class MockArgs(Protocol):
    """What the offline engine's mocks know of a new resource (pulumi.runtime.MockResourceArgs)."""

    typ: str
    name: str
    inputs: Any


class DeclaredResource(Protocol):
    """A declared resource as the policies read it (gpufleet.policy.view.View implements it):
    camelCase inputs where a missing or not-yet-known value reads as None."""

    @property
    def type(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def urn(self) -> str: ...

    def get(self, *path: str) -> Any: ...

    def items(self, *path: str) -> list[Any]: ...

    def region(self) -> str | None:
        """Its own region input, else its provider's."""
        ...

    def ancestor_region(self) -> str | None:
        """The region of its nearest parent of the same cloud that has one."""
        ...

    def linked(self, prop: str, types: frozenset[str]) -> DeclaredResource | None:
        """The resource of `types` that input `prop` points at (engine dependency, name or id)."""
        ...

    def linked_each(self, prop: str, types: frozenset[str]) -> Sequence[DeclaredResource]:
        """The resources of `types` that the entries of list input `prop` point at."""
        ...

    def refers(self, value: object, types: frozenset[str]) -> DeclaredResource | None:
        """The resource of `types` in this one's stack that `value` (a name or id) names."""
        ...

    def referrers(self, prop: str, types: frozenset[str]) -> Sequence[DeclaredResource]:
        """The resources of `types` in this one's stack whose input `prop` points at it."""
        ...

    def dependency(self, prop: str, types: frozenset[str], besides: str = "") -> DeclaredResource | None:
        """The one resource of `types` that input `prop` depends on per the engine (known even
        while the value is not), leaving out this resource and what input `besides` depends on."""
        ...


class ResidencyJudge(Protocol):
    """How the storage-residency policy judges the places a cloud model finds in a declared
    resource (CloudModel.residency_findings): against the stack's allowed jurisdictions."""

    @property
    def allowed(self) -> str:
        """The allowed jurisdictions as messages name them ("EEA, EU")."""
        ...

    def region_problem(self, cloud: str, region: str | None, unknown: str = "") -> str | None:
        """Why data in `region` of `cloud` is not acceptable (`unknown`: why the region could not
        be read), naming what is allowed; None when it is acceptable."""
        ...

    def allows(self, country: str) -> bool:
        """Whether a country (ISO code) is inside the allowed jurisdictions."""
        ...


@dataclass(frozen=True, slots=True)
class DeclaredPool:
    """A node pool as declared (EKS node group, AKS agent pool): what budget and quota count;
    `cluster` (its cluster's name, where known) is what deploy-readiness counts per cluster."""

    name: str
    instance_types: tuple[str, ...]
    min_nodes: int
    max_nodes: int
    spot: bool
    region: str | None
    cluster: str | None = None
    capacity_block: bool = False
    """Runs on a bought capacity block: no cost per node (the block's upfront is its own line)."""


def decoded(value: object) -> Mapping[str, Any]:
    """The value as a mapping: provider inputs arrive JSON-encoded (the SDK serialises them).
    Text that is not a JSON object (or nests past Python's stack) is no mapping."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return {}
    return cast(Mapping[str, Any], value) if isinstance(value, Mapping) else {}


def number(value: object) -> float | None:
    """A number as inputs give it (int, float or numeric string); None when not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        found = float(value)
    elif isinstance(value, str):
        try:
            found = float(value)
        except ValueError:
            return None
    else:
        return None
    return found if math.isfinite(found) else None


def whole(value: object) -> int | None:
    """A node count as inputs give it (int, float or numeric string); None when not a number."""
    found = number(value)
    return int(found) if found is not None else None
