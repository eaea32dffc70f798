"""required-tags: every taggable resource says which fleet and stack it belongs to.

AWS keys `gpufleet:fleet` / `gpufleet:stack` (directly or through the provider's `defaultTags`);
Azure keys `gpufleet-fleet` / `gpufleet-stack` (Azure tag names cannot hold ':' everywhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyProviderResource, ReportViolation, ResourceValidationArgs

from gpufleet.policy.config import REQUIRED_TAGS, effective_config
from gpufleet.policy.props import cloud_of, describe, get, mapping, text

REQUIRED: dict[str, tuple[str, str]] = {
    "aws": ("gpufleet:fleet", "gpufleet:stack"),
    "azure": ("gpufleet-fleet", "gpufleet-stack"),
}

# Taggable types checked even when the program sets no `tags` at all.
TAGGABLE = frozenset({
    "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/natGateway:NatGateway", "aws:ec2/eip:Eip", "aws:ec2/routeTable:RouteTable",
    "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:ec2/placementGroup:PlacementGroup", "aws:ec2/flowLog:FlowLog",
    "aws:ec2/vpcEndpoint:VpcEndpoint", "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup",
    "aws:eks/addon:Addon", "aws:kms/key:Key", "aws:s3/bucket:Bucket", "aws:iam/role:Role",
    "aws:cloudwatch/logGroup:LogGroup",
    "azure-native:resources:ResourceGroup", "azure-native:network:VirtualNetwork",
    "azure-native:network:NetworkSecurityGroup", "azure-native:network:NatGateway",
    "azure-native:network:PublicIPAddress", "azure-native:containerservice:ManagedCluster",
    "azure-native:containerservice:AgentPool", "azure-native:storage:StorageAccount",
    "azure-native:managedidentity:UserAssignedIdentity",
})


def default_tags(provider: PolicyProviderResource | None) -> Mapping[str, Any]:
    """An AWS provider's `defaultTags.tags` (the SDK sends provider inputs JSON-encoded)."""
    if provider is None:
        return {}
    return mapping(get(mapping(get(provider.props, "defaultTags")), "tags"))


def tag_problem(
    resource_type: str, props: Mapping[str, Any], provider: PolicyProviderResource | None,
    fleet: str | None = None,
) -> str | None:
    """What is wrong with a resource's tags (None when fine or not taggable)."""
    cloud = cloud_of(resource_type)
    if cloud is None or ("tags" not in props and resource_type not in TAGGABLE):
        return None
    tags = dict(mapping(get(props, "tags")))
    via = ""
    if cloud == "aws":
        inherited = default_tags(provider)
        tags = {**inherited, **tags}
        via = ", directly or through the provider's defaultTags"
    fleet_key, stack_key = REQUIRED[cloud]
    missing = [key for key in (fleet_key, stack_key) if not text(tags.get(key))]
    if missing:
        present = ", ".join(sorted(tags)) or "none"
        return (
            f"missing tag{'s' if len(missing) > 1 else ''} {', '.join(missing)} (tags present: "
            f"{present}); allowed: {fleet_key} and {stack_key} on every taggable resource{via}"
        )
    if fleet and tags.get(fleet_key) != fleet:
        return f"tag {fleet_key} is {tags.get(fleet_key)!r}; allowed: {fleet!r} (this fleet)"
    return None


def validate_required_tags(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """required-tags (advisory): fleet and stack tags on every taggable resource."""
    config = effective_config(args, REQUIRED_TAGS)
    if config is None:
        return
    problem = tag_problem(args.resource_type, args.props, args.provider, text(config.get("fleet")))
    if problem:
        report_violation(f"{describe(args.resource_type, args.name)}: {problem}", None)
