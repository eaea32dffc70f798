"""AWS security controls: the AWS Foundational Security Best Practices (FSBP) controls that apply
to the fleet's resource types, checked on each resource's inputs (the control IDs in messages are
FSBP's: docs.aws.amazon.com/securityhub/latest/userguide/fsbp-standard.html).

A control's value must be set explicitly where the cloud's default is not the safe one. Loaded
only where a policy runs (it reads inputs through pulumi_policy's proxies).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gpufleet import cidrs
from gpufleet.clouds.controls import (
    Check,
    Companions,
    Ingress,
    SecurityControls,
    allowlist,
    flag,
    shown,
    together,
)
from gpufleet.clouds.declared import decoded
from gpufleet.clouds.inputs import get, is_true, items, number, text

S3_PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                          "restrictPublicBuckets")
EKS_REQUIRED_LOGS = ("api", "audit", "authenticator")
KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})

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


def _public_access_block(props: Mapping[str, Any]) -> Iterable[str]:
    for name in S3_PUBLIC_ACCESS_FLAGS:
        yield from flag(props, name, True, "S3.8: all four public access blocks on")


def _bucket_encryption(props: Mapping[str, Any]) -> Iterable[str]:
    algorithms = [
        get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
        for rule in items(get(props, "rules"))
    ]
    if not algorithms or any(a not in KMS_ALGORITHMS for a in algorithms):
        yield (
            f"rules[].applyServerSideEncryptionByDefault.sseAlgorithm is "
            f"{shown(algorithms or None)}; allowed: aws:kms or aws:kms:dsse (S3.17: SSE-KMS)"
        )


def _bucket_versioning(props: Mapping[str, Any]) -> Iterable[str]:
    status = get(props, "versioningConfiguration", "status")
    if status != "Enabled":
        yield f"versioningConfiguration.status is {shown(status)}; allowed: \"Enabled\" (S3.14)"


def denies_insecure_transport(policy: object) -> bool:
    """Whether a bucket policy has a Deny statement for requests without TLS."""
    document: Any = decoded(policy) if isinstance(policy, str) else policy
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


def _eks_endpoint(props: Mapping[str, Any]) -> Iterable[str]:
    """EKS.1: the endpoint is private, or public only to an allowlist with the private one on."""
    public = get(props, "vpcConfig", "endpointPublicAccess")
    if public is False or str(public).lower() == "false":
        return
    yield from flag(props, "vpcConfig.endpointPrivateAccess", True,
                    "EKS.1: nodes and in-VPC runners use the private endpoint")
    yield from allowlist(
        "vpcConfig.publicAccessCidrs", get(props, "vpcConfig", "publicAccessCidrs"),
        "EKS then allows 0.0.0.0/0; endpointPublicAccess unset defaults to true", "EKS.1",
    )


def _eks_cluster(props: Mapping[str, Any]) -> Iterable[str]:
    yield from _eks_endpoint(props)
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
            f"enabledClusterLogTypes is {shown(logs)}, missing {', '.join(missing)}; allowed: "
            f"at least {', '.join(EKS_REQUIRED_LOGS)} (EKS.8)"
        )


def _launch_template(props: Mapping[str, Any]) -> Iterable[str]:
    tokens = get(props, "metadataOptions", "httpTokens")
    if tokens != "required":
        yield (
            f"metadataOptions.httpTokens is {shown(tokens)}; allowed: \"required\" "
            "(EC2.170: IMDSv2)"
        )
    for index, device in enumerate(items(get(props, "blockDeviceMappings"))):
        ebs = get(device, "ebs")
        if ebs is not None and not is_true(get(ebs, "encrypted")):
            yield (
                f"blockDeviceMappings[{index}].ebs.encrypted is {shown(get(ebs, 'encrypted'))}; "
                "allowed: true (EC2.7: encrypted EBS)"
            )


INGRESS_ALLOWED = "sources inside the VPC or specific security groups (EC2.18/EC2.19)"
INGRESS_VERB = "allows ingress from"
# EC2 names a protocol by name or IANA number; -1 (or "all") is every protocol and port
# (docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpPermission.html, IpProtocol).
PROTOCOLS = {"-1": cidrs.ANY_PROTOCOL, "all": cidrs.ANY_PROTOCOL, "6": "tcp", "17": "udp", "1": "icmp",
             "58": "icmpv6"}


def _sources(rule: object) -> list[object]:
    found: list[object] = [*items(get(rule, "cidrBlocks")), *items(get(rule, "ipv6CidrBlocks"))]
    return found + [c for c in (get(rule, "cidrIpv4"), get(rule, "cidrIpv6")) if c is not None]


def _ingress_problem(where: str, rule: object) -> Iterable[str]:
    """EC2.18/EC2.19: no ingress from the internet, judged by what the sources cover
    (gpufleet.cidrs), not by how they are spelled."""
    opened = cidrs.opening(_sources(rule))
    if opened:
        ports = f"ports {get(rule, 'fromPort')}-{get(rule, 'toPort')}"
        yield f"{where} {INGRESS_VERB} {opened.ranges} ({ports}): {opened.reach}; allowed: {INGRESS_ALLOWED}"


def _ports(rule: object, protocol: str) -> tuple[int, int]:
    """The rule's port range; every port where ports do not apply (not TCP or UDP: ICMP's are
    types and codes) or cannot be read (fail closed: the widest reading)."""
    low, high = number(get(rule, "fromPort")), number(get(rule, "toPort"))
    if protocol not in ("tcp", "udp") or low is None or high is None or low != int(low) or high != int(high):
        return cidrs.EVERY_PORT
    return (int(low), int(high)) if 0 <= low <= high <= cidrs.EVERY_PORT[1] else cidrs.EVERY_PORT


def ingress_grants(owner: str, rule: Mapping[str, Any], protocol_key: str = "protocol") -> list[cidrs.Grant]:
    """The CIDR sources an ingress rule lets in, on its protocol's port range; a protocol left
    unset reads as every one."""
    sources = tuple(r for r in map(cidrs.parse, _sources(rule)) if r is not None)
    if not sources:
        return []
    spelled = str(get(rule, protocol_key) or "-1").strip().lower()
    protocol = PROTOCOLS.get(spelled, spelled)
    return [cidrs.Grant(owner, protocol, *_ports(rule, protocol), sources)]


def _inline_grants(props: Mapping[str, Any]) -> list[cidrs.Grant]:
    rules = items(get(props, "ingress"))
    return [g for index, rule in enumerate(rules) for g in ingress_grants(f"ingress[{index}]", rule)]


def _rule_grants(owner: str, props: Mapping[str, Any]) -> list[cidrs.Grant]:
    return ingress_grants(owner, props) if get(props, "type") == "ingress" else []


def _ingress_rule_grants(owner: str, props: Mapping[str, Any]) -> list[cidrs.Grant]:
    return ingress_grants(owner, props, "ipProtocol")


def _security_group(props: Mapping[str, Any]) -> Iterable[str]:
    rules = items(get(props, "ingress"))
    for index, rule in enumerate(rules):
        yield from _ingress_problem(f"ingress[{index}]", rule)
    # rules that open a port too widely only together
    yield from together("ingress[] together", _inline_grants(props), INGRESS_VERB, INGRESS_ALLOWED)


def _security_group_rule(props: Mapping[str, Any]) -> Iterable[str]:
    if get(props, "type") == "ingress":
        yield from _ingress_problem("the rule", props)


def _ingress_rule(props: Mapping[str, Any]) -> Iterable[str]:
    yield from _ingress_problem("the rule", props)


def _kms_key(props: Mapping[str, Any]) -> Iterable[str]:
    spec = text(get(props, "customerMasterKeySpec")) or text(get(props, "keySpec"))
    if spec in (None, "SYMMETRIC_DEFAULT"):
        yield from flag(props, "enableKeyRotation", True, "KMS.4: key rotation")


def _transit_gateway(props: Mapping[str, Any]) -> Iterable[str]:
    accept = get(props, "autoAcceptSharedAttachments")
    if accept is not None and accept != "disable":  # unset is AWS's default: disable
        yield (
            f"autoAcceptSharedAttachments is {shown(accept)}; allowed: \"disable\" (EC2.23: no "
            "automatic acceptance of attachment requests)"
        )


def _vpn_connection(props: Mapping[str, Any]) -> Iterable[str]:
    """AWS defaults are fine (AWS picks keys and inside CIDRs); what is set must be strong."""
    for tunnel in (1, 2):
        versions = [str(v) for v in items(get(props, f"tunnel{tunnel}IkeVersions"))]
        if versions and versions != ["ikev2"]:
            yield (
                f"tunnel{tunnel}IkeVersions is {shown(versions)}; allowed: [\"ikev2\"] or unset "
                "(IKEv1 is the weaker protocol)"
            )


_CHECKS: dict[str, Check] = {
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
}

# Types reviewed against FSBP with no control on their own inputs: plumbing with no security
# setting (routes, associations, addresses), resources that are themselves a control (flow logs,
# EBS encryption by default, log groups), IAM (its policy documents are reviewed in code, not by
# the pack), and S3 companions (judged through their bucket, below).
_REVIEWED = frozenset({
    "aws:autoscaling/tag:Tag",
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
    "aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation",
    "aws:ec2transitgateway/peeringAttachment:PeeringAttachment",
    "aws:ec2transitgateway/peeringAttachmentAccepter:PeeringAttachmentAccepter",
    "aws:ec2transitgateway/route:Route",
    "aws:ec2transitgateway/vpcAttachment:VpcAttachment",
    "aws:eks/addon:Addon",
    "aws:eks/nodeGroup:NodeGroup",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
})

# pulumi-aws 7 keeps a bucket's public access block, encryption, versioning and policy in
# separate resources: a bucket is covered only when each exists and points at it.
_S3_COMPANIONS = Companions(S3_BUCKETS, "bucket", (
    (frozenset({S3_PUBLIC_ACCESS_BLOCK}), "a BucketPublicAccessBlock (S3.8)"),
    (S3_ENCRYPTION, "a BucketServerSideEncryptionConfiguration with SSE-KMS (S3.17)"),
    (S3_VERSIONING, "a BucketVersioning with status Enabled (S3.14)"),
    (frozenset({S3_POLICY}), "a BucketPolicy that denies non-TLS requests (S3.5)"),
), "every bucket carries all four controls")

# A security group's ingress may be inline or in rule resources naming it by `securityGroupId`
# (AWS advises against mixing them, but both work): judged together per port.
_SECURITY_GROUPS = Ingress(
    frozenset({"aws:ec2/securityGroup:SecurityGroup"}),
    _inline_grants,
    {
        "aws:ec2/securityGroupRule:SecurityGroupRule": _rule_grants,
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _ingress_rule_grants,
    },
    ("securityGroupId",),
    INGRESS_VERB,
    INGRESS_ALLOWED,
)

CONTROLS = SecurityControls(_CHECKS, _REVIEWED, (_S3_COMPANIONS,), (_SECURITY_GROUPS,))
