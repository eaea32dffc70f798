"""Where AWS resources keep and copy data, for `sovereignty-storage-residency`: every S3 bucket's
region, both ends of S3 replication (a bucket's inline `replicationConfiguration` or a separate
`BucketReplicationConfig`) and AWS Backup copy actions to a vault in another region.

The policy (gpufleet/policy/sovereignty.py) judges each place through a `ResidencyJudge`; this
module only finds the places. Loaded only where a policy runs (it reads inputs through
pulumi_policy's proxies, gpufleet.clouds.inputs).
"""

from __future__ import annotations

from collections.abc import Iterable

from gpufleet.clouds.aws.controls import S3_BUCKETS
from gpufleet.clouds.declared import DeclaredResource, ResidencyJudge
from gpufleet.clouds.inputs import get, items, text

CLOUD = "aws"
S3_REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
BACKUP_PLAN = "aws:backup/plan:Plan"
NOT_IN_STACK = "the destination is not a bucket of this stack, so where the copy lives is unknown"
SOURCE_NOT_IN_STACK = "the source is not a bucket of this stack, so where the data comes from is unknown"


def findings(resource: DeclaredResource, judge: ResidencyJudge) -> Iterable[str]:
    """A bucket outside the allowed jurisdictions, a replication that reads from or copies to
    one, a backup copy to a vault in such a region; each message follows the resource's name."""
    if resource.type in S3_BUCKETS:
        problem = judge.region_problem(CLOUD, resource.region())
        if problem:
            yield problem
    inline = resource.get("replicationConfiguration")
    standalone = resource.type == S3_REPLICATION
    if standalone or (resource.type in S3_BUCKETS and inline):
        if standalone:
            yield from _source(resource, judge)
        rules = resource.items("rules") or items(get(inline, "rules"))
        prop = "rules" if standalone else "replicationConfiguration"
        for index, rule in enumerate(rules):
            destinations = [get(rule, "destination"), *items(get(rule, "destinations"))]
            for destination in [d for d in destinations if d is not None]:
                value = text(get(destination, "bucket"))
                target = resource.refers(value, S3_BUCKETS) or resource.dependency(prop, S3_BUCKETS, besides="bucket")
                region = target.region() if target is not None else None
                problem = judge.region_problem(CLOUD, region, NOT_IN_STACK)
                if problem:
                    yield (
                        f"replication rule {index} copies data to bucket '{value or '?'}'; "
                        f"destination {problem}"
                    )
    elif resource.type == BACKUP_PLAN:
        for rule in resource.items("rules"):
            for action in items(get(rule, "copyActions")):
                arn = text(get(action, "destinationVaultArn"))
                problem = judge.region_problem(
                    CLOUD, _arn_region(arn) if arn else None, "no region in the vault ARN"
                )
                if problem:
                    yield f"backup copy to vault '{arn}'; destination {problem}"


def _source(resource: DeclaredResource, judge: ResidencyJudge) -> Iterable[str]:
    """A replication's source bucket must be located inside too: the data leaves from there."""
    value = text(resource.get("bucket"))
    source = resource.refers(value, S3_BUCKETS) or resource.dependency("bucket", S3_BUCKETS)
    problem = judge.region_problem(CLOUD, source.region() if source is not None else None, SOURCE_NOT_IN_STACK)
    if problem:
        yield f"replication reads data from bucket '{value or '?'}'; source {problem}"


def _arn_region(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] or None if len(parts) > 5 and parts[0] == "arn" else None
