"""gpu-quota: every GPU pool at maximum size fits the declared quota buckets, counted as its cloud
counts them (vCPUs per region on AWS and Azure; `Capabilities.quota_unit`, `quota_scope`)."""

from __future__ import annotations

from collections import defaultdict

from pulumi_policy import ReportViolation, StackValidationArgs

from gpufleet import clouds
from gpufleet.policy.config import GPU_QUOTA, effective_config
from gpufleet.policy.gpu import GpuPool, gpu_pools
from gpufleet.policy.props import catalog, describe, mapping, number
from gpufleet.quota import buckets_for, quota_key, unit_noun


def _declared(quotas: object) -> dict[tuple[str, str, str], tuple[str, float]]:
    """Declared limits by quota key (gpufleet.quota.quota_key) -> (name as declared, limit)."""
    found: dict[tuple[str, str, str], tuple[str, float]] = {}
    for cloud, regions in mapping(quotas).items():
        if cloud not in clouds.names():
            continue
        for region, buckets in mapping(regions).items():
            for bucket, limit in mapping(buckets).items():
                value = number(limit)
                if value is not None:
                    found[quota_key(cloud, region, bucket)] = (bucket, value)
    return found


def quota_findings(
    pools: list[GpuPool], quotas: object
) -> list[tuple[str, str]]:
    """(urn, message) per pool without a region and per bucket whose demand exceeds its quota.

    Buckets are the placement's (`gpufleet.placement.buckets_for`): the SKU family bucket for
    the capacity, plus Azure's regional total `cores` for non-spot VMs. A bucket without a
    declared quota is not limited (docs/design.md); Azure bucket names match case-insensitively.
    """
    limits = _declared(quotas)
    findings: list[tuple[str, str]] = []
    demand: dict[tuple[str, str, str], list[GpuPool]] = defaultdict(list)
    for pool in pools:
        if pool.region is None:
            findings.append((pool.urn, (
                f"{describe(pool.resource_type, pool.name)}: region cannot be determined, so "
                f"its {pool.units} {unit_noun(pool.cloud)}s ({pool.label()}) cannot be checked against quota "
                f"bucket {pool.bucket}; set the region on the resource, its provider or its "
                "cluster"
            )))
            continue
        for bucket in buckets_for(pool.sku, "spot" if pool.spot else "on-demand"):
            demand[quota_key(pool.sku.cloud, pool.region, bucket)].append(pool)
    for key, members in sorted(demand.items()):
        if key not in limits:
            continue
        cloud, region, _ = key
        bucket, limit = limits[key]
        used = sum(p.units for p in members)
        if used <= limit:
            continue
        members.sort(key=lambda p: (-p.units, p.name))
        unit = unit_noun(cloud)
        findings.append((members[0].urn, (
            f"{cloud}/{region} quota bucket {bucket}: GPU pools at maximum size need {used} "
            f"{unit}s, the declared quota is {limit:g} {unit}s, {used - limit:g} short; pools: "
            + ", ".join(f"{p.label()} = {p.units} {unit}s" for p in members)
            + "; lower maxSize/maxCount or raise the quota"
        )))
    return findings


def validate_gpu_quota(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """gpu-quota: per quota bucket, what the pools draw at maximum size within the quota."""
    config = effective_config(args, GPU_QUOTA)
    if config is None:
        return
    pools = gpu_pools(args.resources, catalog(skus=mapping(config.get("skus"))))
    for urn, message in quota_findings(pools, config.get("quotas")):
        report_violation(message, urn)
