"""required-tags: every taggable resource says which fleet and stack it belongs to.

AWS keys `gpufleet:fleet` / `gpufleet:stack` (directly or through the provider's `defaultTags`);
Azure keys `gpufleet-fleet` / `gpufleet-stack` (Azure tag names cannot hold ':' everywhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyProviderResource, ReportViolation, ResourceValidationArgs

from gpufleet import clouds
from gpufleet.policy.config import REQUIRED_TAGS, UNCHECKED_TYPES, effective_config, listed_types
from gpufleet.policy.locations import out_of_scope, package_of
from gpufleet.policy.props import describe, get, mapping, text

# Type token package -> the tag keys its resources carry (the packages whose tags gpufleet knows).
REQUIRED: dict[str, tuple[str, str]] = {
    "aws": ("gpufleet:fleet", "gpufleet:stack"),
    "azure-native": ("gpufleet-fleet", "gpufleet-stack"),
}

# Taggable types checked even when the program sets no `tags` at all.
TAGGABLE = frozenset({
    "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/natGateway:NatGateway", "aws:ec2/eip:Eip", "aws:ec2/routeTable:RouteTable",
    "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:ec2/placementGroup:PlacementGroup", "aws:ec2/flowLog:FlowLog",
    "aws:ec2/vpcEndpoint:VpcEndpoint", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
    "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup",
    "aws:eks/addon:Addon", "aws:kms/key:Key", "aws:s3/bucket:Bucket", "aws:iam/role:Role",
    "aws:cloudwatch/logGroup:LogGroup", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    "azure-native:resources:ResourceGroup", "azure-native:network:VirtualNetwork",
    "azure-native:network:NetworkSecurityGroup", "azure-native:network:NatGateway",
    "azure-native:network:PublicIPAddress", "azure-native:containerservice:ManagedCluster",
    "azure-native:containerservice:AgentPool", "azure-native:storage:StorageAccount",
    "azure-native:managedidentity:UserAssignedIdentity",
    "aws:ec2transitgateway/transitGateway:TransitGateway",
    "aws:ec2transitgateway/vpcAttachment:VpcAttachment",
    "aws:ec2transitgateway/peeringAttachment:PeeringAttachment",
    "aws:ec2transitgateway/peeringAttachmentAccepter:PeeringAttachmentAccepter",
    "aws:ec2/customerGateway:CustomerGateway", "aws:ec2/vpnConnection:VpnConnection",
    "azure-native:network:VirtualNetworkGateway", "azure-native:network:LocalNetworkGateway",
    "azure-native:network:VirtualNetworkGatewayConnection",
})

# Types whose schema has no `tags` input (pulumi-aws 7 / azure-native 3 API docs,
# www.pulumi.com/registry/packages/aws/api-docs/ and .../azure-native/api-docs/): nothing to ask.
UNTAGGABLE = frozenset({
    "aws:ebs/encryptionByDefault:EncryptionByDefault",
    "aws:ec2/route:Route",
    "aws:ec2transitgateway/route:Route",
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
    "azure-native:authorization:RoleAssignment",
    "azure-native:network:PrivateDnsZoneGroup",
    "azure-native:network:SecurityRule",
    "azure-native:network:Subnet",
    "azure-native:network:VirtualNetworkPeering",
    "azure-native:storage:BlobContainer",
    "azure-native:storage:BlobServiceProperties",
})


def unverified_problem(resource_type: str, props: Mapping[str, Any]) -> str | None:
    """Why the tags of a resource gpufleet cannot judge are not verified (None: it can judge)."""
    package = package_of(resource_type)
    if package not in REQUIRED:
        return f"gpufleet knows the tag keys of {' and '.join(sorted(REQUIRED))} resources only"
    if "tags" not in props and resource_type not in TAGGABLE | UNTAGGABLE:
        return "the type is not known to gpufleet as taggable or untaggable, and it sets no tags"
    return None


def tag_problem(
    resource_type: str, props: Mapping[str, Any], provider: PolicyProviderResource | None,
    fleet: str | None = None,
) -> str | None:
    """What is wrong with a resource's tags (None when fine or not taggable)."""
    if resource_type in UNTAGGABLE or ("tags" not in props and resource_type not in TAGGABLE):
        return None
    tags = dict(mapping(get(props, "tags")))
    via = ""
    package = package_of(resource_type)
    owner = clouds.owner_of(resource_type)
    if owner is not None and owner.tag_inheritance:
        inherited: Mapping[str, Any] = owner.inherited_tags(provider.props) if provider is not None else {}
        tags = {**inherited, **tags}
        via = f", directly or through {owner.tag_inheritance}"
    fleet_key, stack_key = REQUIRED[package]
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
    """required-tags (advisory): fleet and stack tags on every taggable resource; a resource
    whose tags gpufleet cannot judge is reported as not verified, unless its type is exempt."""
    config = effective_config(args, REQUIRED_TAGS)
    if config is None or out_of_scope(args.resource_type, args.provider):
        return
    who = describe(args.resource_type, args.name)
    unverified = unverified_problem(args.resource_type, args.props)
    if unverified:
        if args.resource_type not in listed_types(config, UNCHECKED_TYPES):
            report_violation(
                f"{who}: tags not verified: {unverified}; allowed: fleet and stack tags on a "
                f"type gpufleet knows, or list the type in policies.{UNCHECKED_TYPES} of the spec",
                None,
            )
        return
    problem = tag_problem(args.resource_type, args.props, args.provider, text(config.get("fleet")))
    if problem:
        report_violation(f"{who}: {problem}", None)
