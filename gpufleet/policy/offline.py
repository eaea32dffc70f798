"""The offline door: run the pack's own policy objects over recorded resources.

`evaluate` builds the `ResourceValidationArgs` / `StackValidationArgs` the Pulumi CLI's analyzer
would build (proxied properties, numbers as floats as protobuf carries them, provider
resources, parents linked, per-policy configuration through `get_config`, enforcement levels
overridable by the configuration's `enforcementLevel`), so `gpufleet plan` / `gpufleet check`
and `pulumi preview --policy-pack policies` share one implementation of every rule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from inspect import isawaitable
from typing import Any, Literal, cast

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError  # pyright: ignore[reportPrivateUsage]
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from gpufleet.errors import Problem, SpecError, shown
from gpufleet.policy.config import ENFORCEMENT_KEY
from gpufleet.policy.locations import PROVIDER_PREFIX, catalog_cloud, location_rule, package_of
from gpufleet.policy.pack import policies
from gpufleet.preview import RecordedResource

Enforcement = Literal["mandatory", "advisory"]


@dataclass(frozen=True, slots=True)
class Violation:
    urn: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"urn": self.urn, "message": self.message}


@dataclass(frozen=True, slots=True)
class PolicyVerdict:
    """One policy's outcome: no violations means it passed."""

    policy: str
    enforcement: Enforcement
    violations: list[Violation] = field(default_factory=list[Violation])

    @property
    def passed(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        """docs/design.md `policies[]` shape."""
        return {
            "policy": self.policy,
            "enforcement": self.enforcement,
            "violations": [v.to_json() for v in self.violations],
        }


def mandatory_failed(verdicts: Sequence[PolicyVerdict]) -> bool:
    """Whether any mandatory policy has a violation (exit code 1)."""
    return any(v.enforcement == "mandatory" and v.violations for v in verdicts)


# -- building the analyzer's arguments ---------------------------------------------------------


def _engine_value(value: Any) -> Any:
    """A plain copy as the analyzer sees it: protobuf Struct numbers are floats."""
    if isinstance(value, Mapping):
        return {str(k): _engine_value(v) for k, v in cast(Mapping[Any, Any], value).items()}
    if isinstance(value, list | tuple):
        return [_engine_value(v) for v in cast(Sequence[Any], value)]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _props(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    return unknown_checking_proxy(_engine_value(inputs))


def _options(resource: RecordedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        resource.protect, list(resource.ignore_changes), None, [],
        PolicyCustomTimeouts(0, 0, 0), [], resource.parent or None,
    )


def _provider(
    resource: RecordedResource, providers: Mapping[str, RecordedResource]
) -> PolicyProviderResource | None:
    """The resource's provider as the engine hands it to the analyzer: every custom resource has
    one. A default provider (not among the resources) is represented with the region the
    resource was recorded in, as the stack's `aws:region` would set it."""
    known = providers.get(resource.provider)
    if known is not None:
        return PolicyProviderResource(known.type, _props(known.inputs), known.urn, known.name)
    if not resource.custom or resource.is_provider:
        return None
    package = package_of(resource.type)
    rule = location_rule(resource.type)
    keys = rule.provider_keys if rule else ()
    inputs = {keys[0]: resource.region} if keys and resource.region else {}
    return PolicyProviderResource(
        f"{PROVIDER_PREFIX}{package}", _props(inputs), resource.provider, "default"
    )


def stack_of(resources: Sequence[RecordedResource]) -> list[PolicyResource]:
    """The resources as a stack policy sees them (`StackValidationArgs.resources`): proxied
    inputs, explicit providers and parents linked."""
    providers = {r.urn: r for r in resources if r.is_provider}
    built = {
        r.urn: PolicyResource(
            r.type, _props(r.inputs), r.urn, r.name, _options(r), _provider(r, providers),
            None, [], {},
        )
        for r in resources
    }
    for r in resources:
        built[r.urn].parent = built.get(r.parent)
        built[r.urn].dependencies = [built[d] for d in r.dependencies if d in built]
    return list(built.values())


def _run(result: object) -> None:
    if isawaitable(result):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(result)
        finally:
            loop.close()


def _level(policy: Policy, entry: Mapping[str, object]) -> str:
    configured = entry.get(ENFORCEMENT_KEY)
    if isinstance(configured, str):
        return "mandatory" if configured == "remediate" else configured
    level = policy.enforcement_level or EnforcementLevel.ADVISORY
    return level.value


class _Reporter:
    """The `report_violation` callback: collects violations, defaulting the URN."""

    def __init__(self, found: list[Violation], urn: str) -> None:
        self.found = found
        self.urn = urn

    def __call__(self, message: str, urn: str | None = None) -> None:
        self.found.append(Violation(urn or self.urn, message))


def _guarded(found: list[Violation], urn: str, call: Callable[[], object]) -> None:
    """Run a validation; a value unknown during preview is reported, never skipped."""
    try:
        _run(call())
    except UnknownValueError as error:
        found.append(Violation(urn, f"cannot be checked: {error.message}"))
    except _NotApplicableError:
        return


def _validator(policy: Policy) -> Callable[[Any, _Reporter], object]:
    """The policy's `validate` (typed loosely in pulumi_policy: it may return an awaitable)."""
    validate = policy.validate  # pyright: ignore[reportUnknownMemberType, reportAttributeAccessIssue, reportUnknownVariableType]
    return cast(Callable[[Any, _Reporter], object], validate)


def _resource_policy(
    policy: ResourceValidationPolicy,
    resources: Sequence[RecordedResource],
    providers: Mapping[str, RecordedResource],
    properties: Mapping[str, Any] | None,
) -> list[Violation]:
    found: list[Violation] = []
    for r in resources:
        args = ResourceValidationArgs(
            r.type, _props(r.inputs), r.urn, r.name, _options(r), _provider(r, providers),
            properties,
        )
        report = _Reporter(found, r.urn)
        _guarded(found, r.urn, partial(_validator(policy), args, report))
    return found


def _stack_policy(
    policy: StackValidationPolicy, stack: list[PolicyResource], properties: Mapping[str, Any] | None
) -> list[Violation]:
    found: list[Violation] = []
    args = StackValidationArgs(stack, properties)
    _guarded(found, "", partial(_validator(policy), args, _Reporter(found, "")))
    return found


def evaluate(
    resources: Sequence[RecordedResource], config: Mapping[str, Mapping[str, object]]
) -> list[PolicyVerdict]:
    """Every enabled policy of the pack over the resources, with `config` as the CLI's
    `--policy-pack-config` (policy name -> properties, optionally `enforcementLevel`)."""
    providers = {r.urn: r for r in resources if r.is_provider}
    verdicts: list[PolicyVerdict] = []
    stack: list[PolicyResource] | None = None  # built once, read by every stack policy
    for policy in policies():
        entry = config.get(policy.name, {})
        level = _level(policy, entry)
        if level not in ("mandatory", "advisory"):
            continue
        properties = {k: v for k, v in entry.items() if k != ENFORCEMENT_KEY} or None
        if isinstance(policy, ResourceValidationPolicy):
            found = _resource_policy(policy, resources, providers, properties)
        elif isinstance(policy, StackValidationPolicy):
            stack = stack if stack is not None else stack_of(resources)
            found = _stack_policy(policy, stack, properties)
        else:
            continue
        verdicts.append(PolicyVerdict(policy.name, level, found))
    return verdicts


# -- resources from any program ----------------------------------------------------------------

def _field(item: Mapping[str, Any], index: int, key: str, kind: type, required: bool) -> Any:
    value = item.get(key)
    if value is None:
        if required:
            raise SpecError([Problem(f"resources[{index}].{key}", "required field is missing")])
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SpecError([Problem(
            f"resources[{index}].{key}",
            f"expected {'an object' if kind is dict else 'a ' + kind.__name__}, got {shown(value)}",
        )])
    return value


OWN_COMPONENTS = ("gpufleet:", "pulumi:pulumi:Stack")
"""Types that are components whatever a file says: gpufleet's own and the root stack."""


def _custom(item: Mapping[str, Any], index: int, kind: str, components: Collection[str]) -> bool:
    """Whether a resource from a file creates something itself. `custom: false` (another
    program's component) is believed only for a type the spec's reviewer listed in
    `policies.unchecked_types`: a file cannot take an unreviewed type (an `oci:` instance) out of
    every guard by calling it a component."""
    given: bool | None = _field(item, index, "custom", bool, False)
    if kind.startswith(OWN_COMPONENTS):
        return False if given is None else given
    return not (given is False and kind in components)


def resources_from_json(items: object, components: Collection[str] = ()) -> list[RecordedResource]:
    """Resources in the plan's `resources[]` shape (type, name, urn, parent, provider, cloud,
    region, protect, inputs, optionally custom) from any program; `components` are the types a
    file may mark `custom: false` (`_custom`). A bad item raises SpecError naming its index and
    field."""
    given: object = items
    if isinstance(given, dict) and "resources" in given:
        given = cast(dict[str, Any], given)["resources"]
    if not isinstance(given, list):
        kind_given: str = type(cast(object, given)).__name__
        raise SpecError([Problem("resources", f"expected a JSON list of resources, got {kind_given}")])
    found: list[RecordedResource] = []
    seen: set[str] = set()
    for index, raw in enumerate(cast(list[Any], given)):
        if not isinstance(raw, Mapping):
            raise SpecError([Problem(f"resources[{index}]", f"expected an object, got {shown(raw)}")])
        item = cast(Mapping[str, Any], raw)
        kind: str = _field(item, index, "type", str, True)
        if ":" not in kind:
            raise SpecError([Problem(
                f"resources[{index}].type",
                f"'{kind}' is not a type token such as aws:s3/bucket:Bucket",
            )])
        name: str = _field(item, index, "name", str, True)
        urn: str = (
            _field(item, index, "urn", str, False) or f"urn:pulumi:check::check::{kind}::{name}"
        )
        if urn in seen:
            raise SpecError([Problem(f"resources[{index}].urn", f"duplicate URN {urn}")])
        seen.add(urn)
        inputs: dict[str, Any] = _field(item, index, "inputs", dict, False) or {}
        found.append(RecordedResource(
            urn=urn,
            type=kind,
            name=name,
            parent=_field(item, index, "parent", str, False) or "",
            provider=_field(item, index, "provider", str, False) or "",
            custom=_custom(item, index, kind, components),
            protect=bool(_field(item, index, "protect", bool, False)),
            retain_on_delete=bool(_field(item, index, "retain_on_delete", bool, False)),
            ignore_changes=(),
            inputs=inputs,
            cloud=_field(item, index, "cloud", str, False) or catalog_cloud(kind),
            region=_field(item, index, "region", str, False),
        ))
    return found
