"""address-capacity: every node subnet and pod range the stack declares holds every node that can
reach it, under the CNI configuration the stack declares.

Each registered cloud's model reads its own resources (`declared_ranges`: subnets, node groups,
agent pools, the VPC CNI add-on's settings, the overlay pod CIDR); the sums and the fix named
in a message are `gpufleet.addresses`', the same the planner reports. Nothing here comes from
the plan, so a hand-written program is checked the same way.
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, StackValidationArgs

from gpufleet import clouds
from gpufleet.addresses import range_use
from gpufleet.policy.view import View


def address_findings(args: StackValidationArgs) -> list[tuple[str, str]]:
    """(urn, message) per declared range whose nodes need more addresses than it holds."""
    stack = [View(r, args.resources) for r in args.resources]
    findings: list[tuple[str, str]] = []
    for model in clouds.models():
        for declared in model.declared_ranges(stack):
            key = f"{model.name}/{declared.region or '?'}"
            use = range_use(model, key, declared.node_range, declared.needs)
            if use.fits:
                continue
            unknown = " (a pool's instance type has no address figures, so it cannot fit)" if any(
                per is None for _, per in declared.needs
            ) else ""
            findings.append((declared.resource.urn, (
                f"{key} {use.label} {use.cidr}: {use.nodes} nodes at maximum size with upgrade surge "
                f"need {use.needed} addresses under {declared.cni}, it holds {use.available}{unknown}; "
                f"{use.fix}"
            )))
    return findings


def validate_address_capacity(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """address-capacity: every node subnet and pod range holds its nodes."""
    for urn, message in address_findings(args):
        report_violation(message, urn)
