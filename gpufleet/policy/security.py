"""security-baseline: the AWS FSBP and Microsoft cloud security benchmark controls that apply to
the fleet's resource types, checked on each resource's inputs; and security-baseline-coverage:
every S3 bucket has the companion resources that carry its controls (pulumi-aws 7 keeps public
access blocks, encryption, versioning and policies in separate resources).

A control's value must be set explicitly where the cloud's default is not the safe one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from gpufleet.policy.config import (
    SECURITY_BASELINE,
    SECURITY_COVERAGE,
    UNCHECKED_TYPES,
    effective_config,
    listed_types,
)
from gpufleet.policy.links import depends_on, find
from gpufleet.policy.locations import out_of_scope
from gpufleet.policy.props import describe, get, is_true, items, text

Check = Callable[[Mapping[str, Any]], Iterable[str]]

OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
AZURE_ANYWHERE = frozenset({"*", "internet", "0.0.0.0/0", "::/0", "any"})
S3_PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                          "restrictPublicBuckets")
EKS_REQUIRED_LOGS = ("api", "audit", "authenticator")
KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})
TLS_VERSIONS = frozenset({"TLS1_2", "TLS1_3"})

S3_BUCKETS = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_ENCRYPTION_TYPE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
S3_ENCRYPTION = frozenset({
    S3_ENCRYPTION_TYPE,
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
})
S3_VERSIONING = frozenset({
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketVersioningV2:BucketVersioningV2",
})
S3_POLICY = "aws:s3/bucketPolicy:BucketPolicy"


def _shown(value: object) -> str:
    return "unset" if value is None else json.dumps(value, default=str)


def _flag(props: Mapping[str, Any], path: str, want: bool, control: str) -> Iterable[str]:
    value = get(props, *path.split("."))
    ok = is_true(value) if want else value is False or str(value).lower() == "false"
    if not ok:
        yield f"{path} is {_shown(value)}; allowed: {str(want).lower()} ({control})"


# -- AWS ---------------------------------------------------------------------------------------


def _public_access_block(props: Mapping[str, Any]) -> Iterable[str]:
    for flag in S3_PUBLIC_ACCESS_FLAGS:
        yield from _flag(props, flag, True, "S3.8: all four public access blocks on")


def _bucket_encryption(props: Mapping[str, Any]) -> Iterable[str]:
    algorithms = [
        get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
        for rule in items(get(props, "rules"))
    ]
    if not algorithms or any(a not in KMS_ALGORITHMS for a in algorithms):
        yield (
            f"rules[].applyServerSideEncryptionByDefault.sseAlgorithm is "
            f"{_shown(algorithms or None)}; allowed: aws:kms or aws:kms:dsse (S3.17: SSE-KMS)"
        )


def _bucket_versioning(props: Mapping[str, Any]) -> Iterable[str]:
    status = get(props, "versioningConfiguration", "status")
    if status != "Enabled":
        yield f"versioningConfiguration.status is {_shown(status)}; allowed: \"Enabled\" (S3.14)"


def denies_insecure_transport(policy: object) -> bool:
    """Whether a bucket policy has a Deny statement for requests without TLS."""
    document: Any = policy
    if isinstance(policy, str):
        try:
            document = json.loads(policy)
        except ValueError:
            return False
    for statement in items(get(document, "Statement")) or [get(document, "Statement")]:
        if get(statement, "Effect") != "Deny":
            continue
        secure = get(statement, "Condition", "Bool", "aws:SecureTransport")
        if str(secure).lower() == "false":
            return True
    return False


def _bucket_policy(props: Mapping[str, Any]) -> Iterable[str]:
    if not denies_insecure_transport(get(props, "policy")):
        yield (
            "policy has no Deny statement with Condition Bool aws:SecureTransport \"false\"; "
            "allowed: a policy that denies non-TLS requests (S3.5)"
        )


def _bucket(props: Mapping[str, Any]) -> Iterable[str]:
    acl = text(get(props, "acl"))
    if acl in ("public-read", "public-read-write", "authenticated-read"):
        yield f"acl is \"{acl}\"; allowed: private (S3.8)"


def _eks_cluster(props: Mapping[str, Any]) -> Iterable[str]:
    public = get(props, "vpcConfig", "endpointPublicAccess")
    if public is not False:
        shown = "unset (defaults to true)" if public is None else _shown(public)
        yield f"vpcConfig.endpointPublicAccess is {shown}; allowed: false (EKS.1: private endpoint)"
    encrypted = [
        c for c in items(get(props, "encryptionConfig")) or [get(props, "encryptionConfig")]
        if "secrets" in items(get(c, "resources")) and text(get(c, "provider", "keyArn"))
    ]
    if not encrypted:
        yield (
            "encryptionConfig does not encrypt 'secrets' with a KMS key; allowed: "
            "encryptionConfig {resources: [secrets], provider: {keyArn}} (EKS.3)"
        )
    logs = [str(x) for x in items(get(props, "enabledClusterLogTypes"))]
    missing = [log for log in EKS_REQUIRED_LOGS if log not in logs]
    if missing:
        yield (
            f"enabledClusterLogTypes is {_shown(logs)}, missing {', '.join(missing)}; allowed: "
            f"at least {', '.join(EKS_REQUIRED_LOGS)} (EKS.8)"
        )


def _launch_template(props: Mapping[str, Any]) -> Iterable[str]:
    tokens = get(props, "metadataOptions", "httpTokens")
    if tokens != "required":
        yield (
            f"metadataOptions.httpTokens is {_shown(tokens)}; allowed: \"required\" "
            "(EC2.170: IMDSv2)"
        )
    for index, device in enumerate(items(get(props, "blockDeviceMappings"))):
        ebs = get(device, "ebs")
        if ebs is not None and not is_true(get(ebs, "encrypted")):
            yield (
                f"blockDeviceMappings[{index}].ebs.encrypted is {_shown(get(ebs, 'encrypted'))}; "
                "allowed: true (EC2.7: encrypted EBS)"
            )


def _open_ingress(rule: object) -> list[str]:
    cidrs = [str(c) for c in items(get(rule, "cidrBlocks")) + items(get(rule, "ipv6CidrBlocks"))]
    cidrs += [str(c) for c in (get(rule, "cidrIpv4"), get(rule, "cidrIpv6")) if c is not None]
    return sorted(OPEN_CIDRS.intersection(cidrs))


def _ingress_problem(where: str, rule: object) -> Iterable[str]:
    opened = _open_ingress(rule)
    if opened:
        ports = f"ports {get(rule, 'fromPort')}-{get(rule, 'toPort')}"
        yield (
            f"{where} allows ingress from {', '.join(opened)} ({ports}); allowed: sources inside "
            "the VPC or specific security groups (EC2.18/EC2.19)"
        )


def _security_group(props: Mapping[str, Any]) -> Iterable[str]:
    for index, rule in enumerate(items(get(props, "ingress"))):
        yield from _ingress_problem(f"ingress[{index}]", rule)


def _security_group_rule(props: Mapping[str, Any]) -> Iterable[str]:
    if get(props, "type") == "ingress":
        yield from _ingress_problem("the rule", props)


def _ingress_rule(props: Mapping[str, Any]) -> Iterable[str]:
    yield from _ingress_problem("the rule", props)


def _kms_key(props: Mapping[str, Any]) -> Iterable[str]:
    spec = text(get(props, "customerMasterKeySpec")) or text(get(props, "keySpec"))
    if spec in (None, "SYMMETRIC_DEFAULT"):
        yield from _flag(props, "enableKeyRotation", True, "KMS.4: key rotation")


def _transit_gateway(props: Mapping[str, Any]) -> Iterable[str]:
    accept = get(props, "autoAcceptSharedAttachments")
    if accept is not None and accept != "disable":  # unset is AWS's default: disable
        yield (
            f"autoAcceptSharedAttachments is {_shown(accept)}; allowed: \"disable\" (EC2.23: no "
            "automatic acceptance of attachment requests)"
        )


def _vpn_connection(props: Mapping[str, Any]) -> Iterable[str]:
    """AWS defaults are fine (AWS picks keys and inside CIDRs); what is set must be strong."""
    for tunnel in (1, 2):
        versions = [str(v) for v in items(get(props, f"tunnel{tunnel}IkeVersions"))]
        if versions and versions != ["ikev2"]:
            yield (
                f"tunnel{tunnel}IkeVersions is {_shown(versions)}; allowed: [\"ikev2\"] or unset "
                "(IKEv1 is the weaker protocol)"
            )


# -- Azure -------------------------------------------------------------------------------------


def _storage_account(props: Mapping[str, Any]) -> Iterable[str]:
    yield from _flag(props, "enableHttpsTrafficOnly", True, "secure transfer required")
    tls = get(props, "minimumTlsVersion")
    if tls not in TLS_VERSIONS:
        yield f"minimumTlsVersion is {_shown(tls)}; allowed: \"TLS1_2\" or later"
    yield from _flag(props, "allowBlobPublicAccess", False, "no anonymous blob access")
    yield from _flag(props, "allowSharedKeyAccess", False, "Entra ID auth only, no shared keys")


def _node_public_ip(where: str, profile: object) -> Iterable[str]:
    if is_true(get(profile, "enableNodePublicIP")):
        yield f"{where}enableNodePublicIP is true; allowed: false or unset (no node public IPs)"


def _managed_cluster(props: Mapping[str, Any]) -> Iterable[str]:
    yield from _flag(
        props, "apiServerAccessProfile.enablePrivateCluster", True, "private API server"
    )
    yield from _flag(props, "disableLocalAccounts", True, "local accounts disabled")
    yield from _flag(props, "aadProfile.enableAzureRBAC", True, "Entra ID with Azure RBAC")
    policy = text(get(props, "networkProfile", "networkPolicy"))
    if policy is None or policy.lower() == "none":
        yield (
            f"networkProfile.networkPolicy is {_shown(policy)}; allowed: azure, calico or cilium "
            "(a network policy engine)"
        )
    for index, profile in enumerate(items(get(props, "agentPoolProfiles"))):
        yield from _node_public_ip(f"agentPoolProfiles[{index}].", profile)


def _agent_pool(props: Mapping[str, Any]) -> Iterable[str]:
    yield from _node_public_ip("", props)


def _inbound_from_anywhere(where: str, rule: object) -> Iterable[str]:
    direction = str(get(rule, "direction") or "").lower()
    access = str(get(rule, "access") or "").lower()
    if direction != "inbound" or access != "allow":
        return
    sources = [get(rule, "sourceAddressPrefix"), *items(get(rule, "sourceAddressPrefixes"))]
    opened = sorted({str(s) for s in sources if s is not None and str(s).lower() in AZURE_ANYWHERE})
    if opened:
        name = text(get(rule, "name"))
        yield (
            f"{where}{f' {name!r}' if name else ''} allows inbound traffic from "
            f"{', '.join(opened)}; allowed: specific address prefixes or service tags other than "
            "Internet (no inbound allow from anywhere)"
        )


def _security_group_azure(props: Mapping[str, Any]) -> Iterable[str]:
    for index, rule in enumerate(items(get(props, "securityRules"))):
        yield from _inbound_from_anywhere(f"securityRules[{index}]", rule)


def _security_rule(props: Mapping[str, Any]) -> Iterable[str]:
    yield from _inbound_from_anywhere("the rule", props)


def _public_ip(props: Mapping[str, Any]) -> Iterable[str]:
    """Public IPs are expected (VPN gateway instances); a Standard one is closed to inbound
    traffic unless an NSG allows it (a Basic one is open by default)."""
    sku = text(get(props, "sku", "name"))
    if sku is None or sku.lower() != "standard":
        yield f"sku.name is {_shown(sku)}; allowed: \"Standard\" (secure by default, zone-redundant)"


def _vpn_gateway(props: Mapping[str, Any]) -> Iterable[str]:
    sku = text(get(props, "sku", "name"))
    if get(props, "gatewayType") == "Vpn" and (sku is None or sku.lower() == "basic"):
        yield f"sku.name is {_shown(sku)}; allowed: a VpnGw SKU (Basic has no IKEv2 or BGP)"


def _gateway_connection(props: Mapping[str, Any]) -> Iterable[str]:
    protocol = get(props, "connectionProtocol")
    if get(props, "connectionType") == "IPsec" and protocol != "IKEv2":
        yield f"connectionProtocol is {_shown(protocol)}; allowed: \"IKEv2\" (IKEv1 is the weaker protocol)"
    if get(props, "connectionType") == "IPsec" and get(props, "sharedKey") is None:
        yield "sharedKey is unset; allowed: a generated key kept as a secret"


CHECKS: dict[str, Check] = {
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketV2:BucketV2": _bucket,
    S3_PUBLIC_ACCESS_BLOCK: _public_access_block,
    **dict.fromkeys(S3_ENCRYPTION, _bucket_encryption),
    **dict.fromkeys(S3_VERSIONING, _bucket_versioning),
    S3_POLICY: _bucket_policy,
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
    "aws:ec2/securityGroup:SecurityGroup": _security_group,
    "aws:ec2/securityGroupRule:SecurityGroupRule": _security_group_rule,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _ingress_rule,
    "aws:kms/key:Key": _kms_key,
    "aws:ec2transitgateway/transitGateway:TransitGateway": _transit_gateway,
    "aws:ec2/vpnConnection:VpnConnection": _vpn_connection,
    "azure-native:network:PublicIPAddress": _public_ip,
    "azure-native:network:VirtualNetworkGateway": _vpn_gateway,
    "azure-native:network:VirtualNetworkGatewayConnection": _gateway_connection,
    "azure-native:storage:StorageAccount": _storage_account,
    "azure-native:containerservice:ManagedCluster": _managed_cluster,
    "azure-native:containerservice:AgentPool": _agent_pool,
    "azure-native:network:NetworkSecurityGroup": _security_group_azure,
    "azure-native:network:SecurityRule": _security_rule,
}


# Types reviewed against the same benchmarks with no control on their own inputs: plumbing with no
# security setting (routes, associations, addresses), resources that are themselves a control
# (flow logs, EBS encryption by default, log groups), IAM (its policy documents are reviewed in
# code, not by the pack), and children whose parent carries the control (S3 companions are
# judged by security-baseline-coverage; AKS/storage children by their cluster or account).
NO_CONTROLS = frozenset({
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:ebs/encryptionByDefault:EncryptionByDefault",
    "aws:ec2/customerGateway:CustomerGateway",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
    "aws:ec2/eip:Eip",
    "aws:ec2/flowLog:FlowLog",
    "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/natGateway:NatGateway",
    "aws:ec2/placementGroup:PlacementGroup",
    "aws:ec2/route:Route",
    "aws:ec2/routeTable:RouteTable",
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/vpc:Vpc",
    "aws:ec2/vpcEndpoint:VpcEndpoint",
    "aws:ec2transitgateway/peeringAttachment:PeeringAttachment",
    "aws:ec2transitgateway/peeringAttachmentAccepter:PeeringAttachmentAccepter",
    "aws:ec2transitgateway/route:Route",
    "aws:ec2transitgateway/vpcAttachment:VpcAttachment",
    "aws:eks/addon:Addon",
    "aws:eks/nodeGroup:NodeGroup",
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    "azure-native:authorization:RoleAssignment",
    "azure-native:managedidentity:UserAssignedIdentity",
    "azure-native:network:LocalNetworkGateway",
    "azure-native:network:PrivateDnsZoneGroup",
    "azure-native:network:PrivateEndpoint",
    "azure-native:network:Subnet",
    "azure-native:network:VirtualNetwork",
    "azure-native:network:VirtualNetworkPeering",
    "azure-native:privatedns:PrivateZone",
    "azure-native:privatedns:VirtualNetworkLink",
    "azure-native:resources:ResourceGroup",
    "azure-native:storage:BlobContainer",
    "azure-native:storage:BlobServiceProperties",
})


def security_problems(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Every control the resource's inputs break, each naming the value and what is allowed."""
    check = CHECKS.get(resource_type)
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
    if args.resource_type not in CHECKS and args.resource_type not in NO_CONTROLS:
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


# -- coverage: the companions of every S3 bucket ------------------------------------------------

_COMPANIONS: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({S3_PUBLIC_ACCESS_BLOCK}), "a BucketPublicAccessBlock (S3.8)"),
    (S3_ENCRYPTION, "a BucketServerSideEncryptionConfiguration with SSE-KMS (S3.17)"),
    (S3_VERSIONING, "a BucketVersioning with status Enabled (S3.14)"),
    (frozenset({S3_POLICY}), "a BucketPolicy that denies non-TLS requests (S3.5)"),
)


def _companion_of(
    companion: PolicyResource, buckets: Sequence[PolicyResource]
) -> PolicyResource | None:
    return depends_on(companion, "bucket", S3_BUCKETS) or find(
        get(companion.props, "bucket"), buckets, S3_BUCKETS
    )


def coverage_findings(resources: Sequence[PolicyResource]) -> list[tuple[str, str]]:
    """(urn, message) per bucket missing a companion resource that carries a control."""
    buckets = [r for r in resources if r.resource_type in S3_BUCKETS]
    covered: dict[str, set[frozenset[str]]] = {b.urn: set() for b in buckets}
    for resource in resources:
        for types, _ in _COMPANIONS:
            if resource.resource_type in types:
                bucket = _companion_of(resource, buckets)
                if bucket is not None:
                    covered[bucket.urn].add(types)
    findings: list[tuple[str, str]] = []
    for bucket in buckets:
        missing = [what for types, what in _COMPANIONS if types not in covered[bucket.urn]]
        if missing:
            findings.append((bucket.urn, (
                f"{describe(bucket.resource_type, bucket.name)} has no {', no '.join(missing)}; "
                "allowed: every bucket carries all four controls"
            )))
    return findings


def validate_security_coverage(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """security-baseline-coverage: each S3 bucket has its public-access, encryption,
    versioning and TLS-policy resources."""
    if effective_config(args, SECURITY_COVERAGE) is None:
        return
    for urn, message in coverage_findings(args.resources):
        report_violation(message, urn)
