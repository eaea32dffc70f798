"""security-baseline: the benchmark controls (AWS FSBP, Microsoft cloud security benchmark) that
apply to the fleet's resource types, checked on each resource's inputs; and
security-baseline-coverage: every resource whose controls live in companion resources (S3 buckets
in pulumi-aws 7) has them.

The controls themselves are each cloud's knowledge (CloudModel.security_controls,
gpufleet/clouds/*_controls.py); this module applies them to any registered cloud and reports a
type no cloud has reviewed as not verified (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from gpufleet import clouds
from gpufleet.clouds.controls import Companions, SecurityControls
from gpufleet.policy import incluster
from gpufleet.policy.config import (
    SECURITY_BASELINE,
    SECURITY_COVERAGE,
    UNCHECKED_TYPES,
    effective_config,
    listed_types,
)
from gpufleet.policy.links import depends_on, find
from gpufleet.policy.locations import out_of_scope
from gpufleet.policy.props import describe, get


def controls_of(resource_type: str) -> SecurityControls:
    """The controls of the cloud that owns the type; in-cluster objects have their own."""
    owner = clouds.owner_of(resource_type)
    return owner.security_controls() if owner is not None else incluster.CONTROLS


def security_problems(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Every control the resource's inputs break, each naming the value and what is allowed."""
    check = controls_of(resource_type).checks.get(resource_type)
    return list(check(props)) if check else []


def validate_security_baseline(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """security-baseline: FSBP / MCSB controls on the resource's own inputs; a type the pack has
    not reviewed is reported as not verified, unless the configuration exempts it."""
    config = effective_config(args, SECURITY_BASELINE)
    if config is None or out_of_scope(args.resource_type, args.provider):
        return
    who = describe(args.resource_type, args.name)
    if not controls_of(args.resource_type).knows(args.resource_type):
        if args.resource_type not in listed_types(config, UNCHECKED_TYPES):
            report_violation(
                f"{who}: security not verified: the security baseline has not reviewed this "
                f"type; allowed: a reviewed type, or list the type in policies.{UNCHECKED_TYPES} "
                "of the spec after reviewing it yourself",
                None,
            )
        return
    for problem in security_problems(args.resource_type, args.props):
        report_violation(f"{who}: {problem}", None)


# -- coverage: the companions that carry a resource's controls ------------------------------------


def _parent_of(
    companion: PolicyResource, rule: Companions, parents: Sequence[PolicyResource]
) -> PolicyResource | None:
    return depends_on(companion, rule.link, rule.parents) or find(
        get(companion.props, rule.link), parents, rule.parents
    )


def _rule_findings(rule: Companions, resources: Sequence[PolicyResource]) -> list[tuple[str, str]]:
    parents = [r for r in resources if r.resource_type in rule.parents]
    covered: dict[str, set[frozenset[str]]] = {p.urn: set() for p in parents}
    for resource in resources:
        for types, _ in rule.required:
            if resource.resource_type in types:
                parent = _parent_of(resource, rule, parents)
                if parent is not None:
                    covered[parent.urn].add(types)
    findings: list[tuple[str, str]] = []
    for parent in parents:
        missing = [what for types, what in rule.required if types not in covered[parent.urn]]
        if missing:
            findings.append((parent.urn, (
                f"{describe(parent.resource_type, parent.name)} has no {', no '.join(missing)}; "
                f"allowed: {rule.allowed}"
            )))
    return findings


def coverage_findings(resources: Sequence[PolicyResource]) -> list[tuple[str, str]]:
    """(urn, message) per resource missing a companion resource that carries a control."""
    rules = [rule for model in clouds.models() for rule in model.security_controls().companions]
    return [finding for rule in rules for finding in _rule_findings(rule, resources)]


def validate_security_coverage(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """security-baseline-coverage: each resource whose controls live in companion resources (S3
    buckets: public access, encryption, versioning, TLS policy) has them."""
    if effective_config(args, SECURITY_COVERAGE) is None:
        return
    for urn, message in coverage_findings(args.resources):
        report_violation(message, urn)
