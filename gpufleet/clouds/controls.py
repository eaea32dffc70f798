"""What a cloud's security controls are made of (CloudModel.security_controls): a check per
reviewed type over the resource's own inputs, the types reviewed with no control of their own,
and the companions a parent type needs (S3 buckets keep their controls in separate resources).

The security-baseline policies (gpufleet/policy/security.py) apply them to any registered cloud.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gpufleet import cidrs
from gpufleet.clouds.inputs import get, is_true, items

Check = Callable[[Mapping[str, Any]], Iterable[str]]
"""A resource's inputs -> every control they break, each naming the value and what is allowed."""


@dataclass(frozen=True, slots=True)
class Companions:
    """Resources of `parents` are covered only with one of each `required` type pointing at them
    through input `link` (or depending on them)."""

    parents: frozenset[str]
    link: str
    required: tuple[tuple[frozenset[str], str], ...]
    """(types, what the message calls it) per control carried by a separate resource."""
    allowed: str
    """What a message says is allowed."""


Grants = Callable[[str, Mapping[str, Any]], list[cidrs.Grant]]
"""An owner's name and a rule's inputs -> the sources it lets in, per port range."""


@dataclass(frozen=True, slots=True)
class Ingress:
    """A cloud's groups of ingress rules (security groups, NSGs): rules inline in a group, or
    resources of their own that name the group through the inputs `link` (the first names it,
    the rest scope the name). security-baseline-coverage judges each group's rules together."""

    groups: frozenset[str]
    inline: Callable[[Mapping[str, Any]], list[cidrs.Grant]]
    """A group's inputs -> its inline rules' grants, each owned by its place (`ingress[0]`)."""
    rules: Mapping[str, Grants]
    link: tuple[str, ...]
    verb: str
    """How a message says a rule lets sources in ("allows ingress from")."""
    allowed: str


@dataclass(frozen=True, slots=True)
class SecurityControls:
    checks: Mapping[str, Check]
    reviewed: frozenset[str]
    """Types reviewed against the benchmarks with no control on their own inputs."""
    companions: tuple[Companions, ...] = field(default=())
    ingress: tuple[Ingress, ...] = field(default=())

    def knows(self, resource_type: str) -> bool:
        return resource_type in self.checks or resource_type in self.reviewed


SHOWN_CHARACTERS = 80


def shown(value: object) -> str:
    """An input's value in a message, as JSON, bounded (inputs come from any program's file)."""
    if value is None:
        return "unset"
    text = json.dumps(value, default=str)
    return text if len(text) <= SHOWN_CHARACTERS else text[: SHOWN_CHARACTERS - 3] + "..."


def flag(props: Mapping[str, Any], path: str, want: bool, control: str) -> Iterable[str]:
    """A boolean control that must be set explicitly to `want`."""
    value = get(props, *path.split("."))
    ok = is_true(value) if want else value is False or str(value).lower() == "false"
    if not ok:
        yield f"{path} is {shown(value)}; allowed: {str(want).lower()} ({control})"


def allowlist(field: str, value: object, unset: str, control: str) -> Iterable[str]:
    """A public API endpoint answers only a non-empty list of ranges, none of them anywhere."""
    allowed = (
        f"allowed: the ranges of the runners and operators (spec access.cidrs, mode allowlist), "
        f"or a private endpoint only ({control})"
    )
    ranges = items(value)
    if value is None:
        yield f"{field} is unset with the public endpoint on ({unset}); {allowed}"
    elif not ranges:
        yield f"{field} is [] with the public endpoint on (no restriction); {allowed}"
    for problem in cidrs.allowlist_problems(ranges):
        yield f"{field} {problem}; {allowed}"


def together(where: str, grants: list[cidrs.Grant], verb: str, allowed: str) -> Iterable[str]:
    """What several rules open only together, per port range (gpufleet.cidrs.exposures): the
    first few named, the rest counted; a group too large to judge is refused, not skipped."""
    if len(grants) > cidrs.MOST_GRANTS:
        yield (
            f"{where} has {len(grants)} port ranges with address sources, too many to judge together; "
            f"allowed: at most {cidrs.MOST_GRANTS} (the clouds take at most 1,000 rules in a group)"
        )
        return
    found = cidrs.exposures(grants)
    for exposure in found[: cidrs.SHOWN]:
        yield (
            f"{where} {verb} {exposure.opening.ranges} ({exposure.ports}; by {exposure.owners}): "
            f"{exposure.opening.reach}; allowed: {allowed}"
        )
    if len(found) > cidrs.SHOWN:
        yield f"{where} open {len(found) - cidrs.SHOWN} more port ranges the same way; allowed: {allowed}"
