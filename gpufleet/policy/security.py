"""security-baseline: the benchmark controls (AWS FSBP, Microsoft cloud security benchmark) that
apply to the fleet's resource types, checked on each resource's inputs; and
security-baseline-coverage: the controls that span resources: every resource whose controls live
in companion resources (S3 buckets in pulumi-aws 7) has them, and no security group or NSG opens a
port too widely across its rules (inline and separate rule resources, judged together per port).

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

from gpufleet import cidrs, clouds
from gpufleet.clouds.controls import Companions, Ingress, SecurityControls, together
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
from gpufleet.policy.props import describe, get, text


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


# -- ingress across resources: a group's rules judged together per port ----------------------

UNKNOWN_GROUP = ""  # no group name an input can give


def _group_key(rule: PolicyResource, ingress: Ingress, groups: Sequence[PolicyResource]) -> str:
    """The URN of the group a rule resource names, or the names it gives (a group declared
    elsewhere), or UNKNOWN_GROUP when neither can be read (such rules are judged together: they
    may share one group)."""
    found = depends_on(rule, ingress.link[0], ingress.groups) or find(
        get(rule.props, ingress.link[0]), groups, ingress.groups
    )
    if found is not None:
        return found.urn
    names = [name for name in (text(get(rule.props, key)) for key in ingress.link) if name]
    return "/".join(reversed(names)) if len(names) == len(ingress.link) else UNKNOWN_GROUP


def _ingress_findings(ingress: Ingress, resources: Sequence[PolicyResource]) -> list[tuple[str, str]]:
    groups = {r.urn: r for r in resources if r.resource_type in ingress.groups}
    pools: dict[str, list[cidrs.Grant]] = {
        urn: [g._replace(owner=describe(group.resource_type, group.name)) for g in ingress.inline(group.props)]
        for urn, group in groups.items()
    }
    first: dict[str, str] = {}  # a group not declared is reported on its first rule resource
    for rule in resources:
        grants = ingress.rules.get(rule.resource_type)
        if grants is not None:
            key = _group_key(rule, ingress, list(groups.values()))
            pools.setdefault(key, []).extend(grants(describe(rule.resource_type, rule.name), rule.props))
            first.setdefault(key, rule.urn)
    findings: list[tuple[str, str]] = []
    for key, pool in pools.items():
        if key not in first:
            continue  # inline rules only: the group's own finding (security-baseline)
        group = groups.get(key)
        named = (
            describe(group.resource_type, group.name) if group
            else "a group that cannot be read before deployment" if key == UNKNOWN_GROUP
            else f"group {key!r} (not in the stack)"
        )
        where = f"{named}, with its rule resources,"
        urn = group.urn if group else first[key]
        findings += [(urn, m) for m in together(where, pool, ingress.verb, ingress.allowed)]
    return findings


def exposure_findings(resources: Sequence[PolicyResource]) -> list[tuple[str, str]]:
    """(urn, message) per group (security group, NSG) whose rules, inline and in resources of
    their own, open a port too widely only together (gpufleet.cidrs.exposures)."""
    rules = [rule for model in clouds.models() for rule in model.security_controls().ingress]
    return [finding for rule in rules for finding in _ingress_findings(rule, resources)]


def validate_security_coverage(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """security-baseline-coverage: the controls that span resources. Each resource whose
    controls live in companion resources (S3 buckets: public access, encryption, versioning, TLS
    policy) has them; no security group or NSG opens a port too widely across its rules."""
    if effective_config(args, SECURITY_COVERAGE) is None:
        return
    for urn, message in [*coverage_findings(args.resources), *exposure_findings(args.resources)]:
        report_violation(message, urn)
