"""`gpufleet:aws:DatasetBucket`: an S3 bucket for training data next to the GPUs that read it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws import decisions


@dataclass(frozen=True, slots=True)
class DatasetBucketArgs:
    storage: str
    protect: bool


class DatasetBucket(pulumi.ComponentResource):
    """SSE-KMS with a rotated key and S3 Bucket Keys, versioning, all four public-access blocks,
    bucket-owner-enforced ownership (no ACLs), TLS-only bucket policy, and a lifecycle rule for
    abandoned multipart uploads. Protected and retained on delete unless `protect: false`:
    neither `pulumi destroy` nor a replacement can take the data (or its key) with it."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    versioning: pulumi.Resource
    """Replication needs versioning on both buckets first (S3 User Guide, replication requirements)."""

    def __init__(
        self, name: str, args: DatasetBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gpufleet:aws:DatasetBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        keep = pulumi.ResourceOptions(
            parent=self, protect=args.protect, retain_on_delete=args.protect
        )

        key = aws.kms.Key(
            f"{name}-key",
            description=f"{name}: S3 server-side encryption for dataset '{args.storage}'",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=keep,
        )
        # Tagged with its entry, as the Azure accounts are: the budget policy prices a copy by it.
        bucket = aws.s3.Bucket(name, force_destroy=False, tags={"gpufleet:storage": args.storage}, opts=keep)
        bucket_id = bucket.id  # an S3 bucket's id is its name
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket_id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket_id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": key.arn,
                    },
                    "bucket_key_enabled": True,
                }
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket_id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=bucket_id,
            policy=bucket.arn.apply(decisions.tls_only_bucket_policy),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access, ownership]),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket_id,
            rules=[
                {
                    "id": "abort-incomplete-multipart-uploads",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "abort_incomplete_multipart_upload": {
                        "days_after_initiation": decisions.MULTIPART_ABORT_DAYS
                    },
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        self.bucket_name = bucket_id
        self.bucket_arn = bucket.arn
        self.key_arn = key.arn
        self.versioning = versioning
        self.register_outputs({"bucketName": self.bucket_name, "bucketArn": self.bucket_arn})
