"""AWS side of a cross-cloud sync job (components/sync.py): S3 access for a service account of
any cluster, by web identity federation (IAM User Guide, "Create a role for OpenID Connect
federation"; EKS User Guide, "IAM roles for service accounts").

Per job cluster an IAM OIDC identity provider for its issuer (an EKS cluster's own, for IRSA,
or an AKS cluster's), per grant a role only that one service account can assume
(`sub` and `aud` conditions) with a policy on exactly one bucket and its key: read
(List, Get, Decrypt) on a home, write (List, Get, Put, Delete, multipart, GenerateDataKey) on a
copy. `Get` on the copy lets rclone read the modification time it compares; `Delete` mirrors
deletions, which the copy's versioning keeps recoverable. Every KMS use only through S3 of the
key's Region. No thumbprint: for an issuer whose certificate chains to a public root CA, IAM
verifies it with its own CA library (IAM User Guide, "Obtain the thumbprint for an OpenID
Connect identity provider").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws import decisions
from components.aws.storage import DatasetBucket
from components.k8s.syncspec import Remote, token_file
from components.sync import JobSite
from gpufleet.datasync import SyncJobPlan

AUDIENCE = "sts.amazonaws.com"  # what STS expects in a web identity token's `aud`
READ_ACTIONS = ("s3:GetObject",)
WRITE_ACTIONS = (
    "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)


def web_identity_trust(provider_arn: str, issuer: str, subject: str) -> str:
    """Only `subject`'s tokens from `issuer`, minted for STS, may assume the role.

    IAM names the condition keys after the provider's URL without `https://` (IAM User Guide,
    "Available keys for AWS OIDC federation"); an AKS issuer URL ends with '/' (and so does its
    tokens' `iss`, which the provider's URL must equal), and whether IAM keeps that slash in
    the key could not be confirmed offline. One statement per spelling: each is the same
    condition on subject and audience, and the spelling IAM does not use never matches."""
    hosts = dict.fromkeys((issuer.removeprefix("https://"), issuer.removeprefix("https://").rstrip("/")))
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{host}:sub": subject, f"{host}:aud": AUDIENCE}},
        } for host in hosts],
    })


def bucket_policy(region: str, bucket_arn: str, key_arn: str, *, writer: bool) -> str:
    """One bucket, one key: read for a home, write for a copy."""
    kms = ["kms:Decrypt", "kms:GenerateDataKey"] if writer else ["kms:Decrypt"]
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket_arn]},
        {"Effect": "Allow", "Action": list(WRITE_ACTIONS if writer else READ_ACTIONS),
         "Resource": [f"{bucket_arn}/*"]},
        {"Effect": "Allow", "Action": kms, "Resource": [key_arn],
         "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}},
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


class AwsStoreAccess:
    """The fleet's dataset buckets as sync jobs reach them (components.sync.StoreAccess)."""

    def __init__(
        self,
        fleet: str,
        buckets: Mapping[tuple[str, str], DatasetBucket],
        providers: Mapping[str, aws.Provider],
        parent: pulumi.Resource,
    ) -> None:
        self.fleet = fleet
        self.buckets = buckets
        self.providers = providers
        self.parent = parent
        self._identity_providers: dict[str, aws.iam.OpenIdConnectProvider] = {}

    def _identity_provider(self, site: JobSite, provider: aws.Provider) -> aws.iam.OpenIdConnectProvider:
        """One IAM OIDC provider per job cluster (IAM is global: any Region's provider)."""
        if site.stem not in self._identity_providers:
            self._identity_providers[site.stem] = aws.iam.OpenIdConnectProvider(
                f"{site.stem}-oidc",
                url=site.issuer,
                client_id_lists=[AUDIENCE],
                opts=pulumi.ResourceOptions(parent=self.parent, providers=[provider]),
            )
        return self._identity_providers[site.stem]

    def grant(
        self, job: SyncJobPlan, *, writer: bool, site: JobSite, remote: str
    ) -> tuple[Remote, Sequence[pulumi.Resource]]:
        region = job.copy_region if writer else job.home_region
        bucket = self.buckets[(job.dataset, region)]
        provider = self.providers[region]
        scoped = pulumi.ResourceOptions(parent=self.parent, providers=[provider])
        identity = self._identity_provider(site, provider)
        stem = f"{decisions.storage_name(self.fleet, job.dataset, region)}-sync-" + (
            "write" if writer else f"read-{job.copy_cloud}-{job.copy_region}"
        )
        role = aws.iam.Role(
            decisions.bounded(stem, decisions.AUTONAMED_MAX),  # a name that fits keeps it
            assume_role_policy=pulumi.Output.all(identity.arn, site.issuer).apply(
                lambda values: web_identity_trust(values[0], values[1], job.subject)
            ),
            description=f"gpufleet sync job of '{job.dataset}' to {job.destination}",
            opts=scoped,
        )
        policy = aws.iam.RolePolicy(
            f"{stem}-policy",
            role=role.id,
            policy=pulumi.Output.all(bucket.bucket_arn, bucket.key_arn).apply(
                lambda arns: bucket_policy(region, arns[0], arns[1], writer=writer)
            ),
            opts=scoped,
        )
        prefix = f"RCLONE_CONFIG_{remote.upper()}_"
        env: dict[str, pulumi.Input[str]] = {
            f"{prefix}TYPE": "s3", f"{prefix}PROVIDER": "AWS", f"{prefix}ENV_AUTH": "true",
            f"{prefix}REGION": region, f"{prefix}NO_CHECK_BUCKET": "true",
            # the AWS SDK's web identity provider (AWS SDKs and Tools Reference Guide,
            # "Assume role credential provider", web identity settings)
            "AWS_ROLE_ARN": role.arn, "AWS_WEB_IDENTITY_TOKEN_FILE": token_file(remote),
            "AWS_ROLE_SESSION_NAME": job.service_account, "AWS_REGION": region,
            "AWS_STS_REGIONAL_ENDPOINTS": "regional",
        }
        return Remote(remote, bucket.bucket_name, env, AUDIENCE, token_file(remote)), [policy]


__all__ = ["AUDIENCE", "AwsStoreAccess", "bucket_policy", "web_identity_trust"]
