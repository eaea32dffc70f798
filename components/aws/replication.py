"""S3 replication from a dataset's home bucket to its copies in other AWS Regions.

Amazon S3 Cross-Region Replication (S3 User Guide, "Replicating objects within and across
Regions"): one `aws.s3.BucketReplicationConfig` on the home bucket with a rule per copy, run by
an IAM role S3 assumes. Both buckets are versioned (`DatasetBucket`); objects are SSE-KMS, so
each rule selects KMS-encrypted objects and re-encrypts them with the copy's own key. Delete
markers replicate, so a copy mirrors the home; versions are never deleted by replication, so no
data is lost. Objects written before the configuration existed are filled once with S3 Batch
Replication (S3 User Guide, "Replicating existing objects"): the buckets are created by this
program, so that is only data uploaded before the first `pulumi up` completed.

The role is least-privilege (S3 User Guide, "Setting up permissions for live replication"):
read the configuration and list the home bucket, read object versions there, replicate into
the copies only, decrypt with the home's key and encrypt with the copies' keys, each only
through S3 in that key's Region. The configuration and role hold no data: they are not
protected, so moving a copy can drop its rule (the buckets themselves stay protected).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws import decisions
from components.aws.storage import DatasetBucket
from gpufleet.plan import FleetPlan


@dataclass(frozen=True, slots=True)
class Target:
    """One copy a home bucket replicates to, as ARNs known at apply time."""

    region: str
    bucket_arn: str
    key_arn: str


def trust_policy() -> str:
    """Only Amazon S3 may assume the replication role."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }],
    })


def replication_policy(
    source_region: str, source_bucket_arn: str, source_key_arn: str, targets: Sequence[Target]
) -> str:
    """The role's permissions: exactly what S3 replication of SSE-KMS objects needs."""
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
            "Resource": [source_bucket_arn],
        },
        {
            "Effect": "Allow",
            "Action": [
                "s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl",
                "s3:GetObjectVersionTagging",
            ],
            "Resource": [f"{source_bucket_arn}/*"],
        },
        {
            "Effect": "Allow",
            "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
            "Resource": [f"{t.bucket_arn}/*" for t in targets],
        },
        {
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": [source_key_arn],
            "Condition": {"StringLike": {"kms:ViaService": f"s3.{source_region}.amazonaws.com"}},
        },
    ]
    statements += [
        {
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
            "Resource": [t.key_arn],
            "Condition": {"StringLike": {"kms:ViaService": f"s3.{t.region}.amazonaws.com"}},
        }
        for t in targets
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def replication_rules(targets: Sequence[Target]) -> list[aws.s3.BucketReplicationConfigRuleArgsDict]:
    """A V2 rule per copy (a filter, so priorities and delete-marker replication apply)."""
    return [
        {
            "id": f"to-{t.region}",
            "status": "Enabled",
            "priority": i,
            "filter": {"prefix": ""},
            "delete_marker_replication": {"status": "Enabled"},
            "source_selection_criteria": {"sse_kms_encrypted_objects": {"status": "Enabled"}},
            "destination": {
                "bucket": t.bucket_arn,
                "storage_class": "STANDARD",
                "encryption_configuration": {"replica_kms_key_id": t.key_arn},
            },
        }
        for i, t in enumerate(targets)
    ]


def declare_replication(
    plan: FleetPlan,
    buckets: Mapping[tuple[str, str], DatasetBucket],
    providers: Mapping[str, aws.Provider],
    parent: pulumi.Resource,
) -> None:
    """For every AWS home copy with AWS copies: a role and a replication configuration."""
    for home in plan.storage:
        if home.cloud != "aws" or home.source is not None:
            continue
        copies = sorted(s.region for s in plan.replicas_of(home) if s.cloud == "aws")
        if copies:
            _declare(
                plan, home.name, home.region, copies=copies, buckets=buckets,
                provider=providers[home.region], parent=parent,
            )


def _declare(
    plan: FleetPlan,
    name: str,
    region: str,
    *,
    copies: Sequence[str],
    buckets: Mapping[tuple[str, str], DatasetBucket],
    provider: aws.Provider,
    parent: pulumi.Resource,
) -> None:
    """The role, its policy and the replication configuration of one home bucket."""
    source = buckets[(name, region)]
    destinations = [buckets[(name, r)] for r in copies]
    stem = f"{decisions.storage_name(plan.fleet, name, region)}-replication"
    scoped = pulumi.ResourceOptions(parent=parent, providers=[provider])
    role = aws.iam.Role(
        decisions.bounded(f"{stem}-role", decisions.AUTONAMED_MAX), assume_role_policy=trust_policy(), opts=scoped,
    )

    def targets(arns: Sequence[str]) -> list[Target]:
        """Copies' bucket ARNs then key ARNs, as `Output.all` resolves them."""
        return [Target(r, arns[i], arns[len(copies) + i]) for i, r in enumerate(copies)]

    resolved = pulumi.Output.all(
        *(d.bucket_arn for d in destinations), *(d.key_arn for d in destinations)
    )
    policy = pulumi.Output.all(source.bucket_arn, source.key_arn, resolved).apply(
        lambda arns: replication_policy(region, arns[0], arns[1], targets(arns[2]))
    )
    attached = aws.iam.RolePolicy(f"{stem}-policy", role=role.id, policy=policy, opts=scoped)
    aws.s3.BucketReplicationConfig(
        stem,
        bucket=source.bucket_name,
        role=role.arn,
        rules=resolved.apply(lambda arns: replication_rules(targets(arns))),
        opts=pulumi.ResourceOptions(
            parent=parent, providers=[provider],
            depends_on=[attached, source.versioning, *(d.versioning for d in destinations)],
        ),
    )
