"""A plan document read back from a file (`--previous`, `diff`, `pr-comment`), checked before use.

The writer's schema (`gpufleet schema --plan`, gpufleet.planjson) is closed and names every key
of this version; a reader meets plans of other versions too (the base branch's, last month's),
and the contract only ever adds keys. So a reader checks what it reads: the keys below, typed
strictly (no `true` for a count, no string for a list), every number finite and bounded; other
keys pass through. A document that fails is the user's mistake: exit 2 naming the file and
the field, never a traceback deep in `diff`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gpufleet import safejson
from gpufleet.errors import Problem, SpecError
from gpufleet.specwords import problem_from_pydantic

MAX_USD = 1e12
"""Dollars in a plan: a thousand times the largest fleet bill the spec may state."""
MAX_COUNT = 10**9
"""Nodes, GPUs, vCPUs, ASNs (32-bit) in a plan."""

Usd = Annotated[float, Field(ge=-MAX_USD, le=MAX_USD)]
Count = Annotated[int, Field(ge=0, le=1 << 32)]
Text = Annotated[str, Field(max_length=4096)]


class _Read(BaseModel):
    """What a reader needs of one object: typed strictly, other keys kept as they are."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)


class PlacementIn(_Read):
    cloud: Text
    region: Text
    instance_type: Text
    nodes: Annotated[int, Field(ge=0, le=MAX_COUNT)]
    gpus: Annotated[int, Field(ge=0, le=MAX_COUNT)]
    capacity: Text = "on-demand"
    vcpus_per_node: Count = 0
    quota_bucket: Text = ""
    price_usd_per_hour: Usd = 0.0
    price_source: Text = ""
    monthly_usd: Usd = 0.0


class PoolIn(_Read):
    name: Text
    placements: list[PlacementIn] = Field(default_factory=list[PlacementIn])


class CostIn(_Read):
    monthly_usd: Usd
    by_cloud: dict[str, Usd] = Field(default_factory=dict[str, float])


class ViolationIn(_Read):
    urn: str = ""
    message: str = ""


class PolicyIn(_Read):
    policy: Text
    enforcement: Text
    violations: list[ViolationIn] = Field(default_factory=list[ViolationIn])


class ResourceIn(_Read):
    urn: Text
    type: Text
    protect: bool = False
    retain_on_delete: bool = False
    region: Text | None = None
    parent: Text = ""
    inputs: dict[str, Any] = Field(default_factory=dict[str, Any])
    dependencies: list[Text] = Field(default_factory=list[str])


class SiteIn(_Read):
    cloud: Text
    region: Text
    asn: Count


class TunnelIn(_Read):
    key: Text
    endpoint: Text
    gateway: Text
    inside_cidr: Text


class InterconnectIn(_Read):
    sites: list[SiteIn] = Field(default_factory=list[SiteIn])
    tunnels: list[TunnelIn] = Field(default_factory=list[TunnelIn])


class CapacityIn(_Read):
    unavailable: list[Text] = Field(default_factory=list[str])
    available: dict[str, Count] = Field(default_factory=dict[str, int])


class PlanIn(_Read):
    """The keys of a plan document that `diff`, `--previous` and `pr-comment` read."""

    stack: Text = ""
    pools: list[PoolIn]
    cost: CostIn
    resources: list[ResourceIn] = Field(default_factory=list[ResourceIn])
    policies: list[PolicyIn] = Field(default_factory=list[PolicyIn])
    interconnect: InterconnectIn | None = None
    capacity: CapacityIn | None = None
    previous: dict[str, Any] | None = None


def checked_document(document: object, source: str, error: type[SpecError] = SpecError) -> dict[str, Any]:
    """The document as the readers use it (absent keys at their defaults); a document without
    the keys or with a wrong type raises `error`, every problem naming `source` and the field."""
    if not isinstance(document, dict) or "pools" not in document:
        raise error([Problem(source, "not a gpufleet plan (no 'pools' key)")])
    try:
        return PlanIn.model_validate(document).model_dump()
    except ValidationError as failure:
        data = cast(dict[str, Any], document)
        problems = [problem_from_pydantic(e, data, PlanIn) for e in failure.errors()[:10]]
        raise error([Problem(f"{source}: {p.path}", p.message) for p in problems]) from None


def read_document(path: str | Path, error: type[SpecError] = SpecError) -> dict[str, Any]:
    """A plan JSON document from a file, checked (`checked_document`); problems name the file."""
    document: object = safejson.read(Path(path), "plan", error)
    return checked_document(document, str(path), error)

