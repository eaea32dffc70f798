"""The gpufleet policy pack: every policy, its enforcement level and configuration schema.

`policies/__main__.py` hands `policies()` to `PolicyPack`; the offline door
(`gpufleet.policy.offline.evaluate`) runs the very same objects.
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from gpufleet.policy import addresses, budget, pipes, quota, readiness, security, sovereignty, tags
from gpufleet.policy.config import (
    ADDRESS_CAPACITY,
    COMMITMENT_BURN,
    DATA_PIPES,
    DEPLOY_READINESS,
    GPU_BUDGET,
    GPU_BUDGET_HEADROOM,
    GPU_QUOTA,
    REQUIRED_TAGS,
    SCHEMAS,
    SECURITY_BASELINE,
    SECURITY_COVERAGE,
    SOVEREIGNTY_REGIONS,
    SOVEREIGNTY_STORAGE,
)

PACK_NAME = "gpufleet"
MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY


def policies() -> list[Policy]:
    """A fresh list of the pack's policies (the CrossGuard objects the CLI loads)."""
    return [
        ResourceValidationPolicy(
            name=SOVEREIGNTY_REGIONS,
            description="Every regional resource sits in a region of an allowed jurisdiction.",
            validate=sovereignty.validate_allowed_regions,
            enforcement_level=MANDATORY,
            config_schema=SCHEMAS[SOVEREIGNTY_REGIONS],
        ),
        StackValidationPolicy(
            name=SOVEREIGNTY_STORAGE,
            description="Buckets, storage accounts and every replication or backup destination "
            "stay in allowed jurisdictions.",
            validate=sovereignty.validate_storage_residency,
            enforcement_level=MANDATORY,
            config_schema=SCHEMAS[SOVEREIGNTY_STORAGE],
        ),
        StackValidationPolicy(
            name=GPU_QUOTA,
            description="GPU node groups and agent pools at maximum size fit the declared vCPU "
            "quota of every (cloud, region, quota bucket).",
            validate=quota.validate_gpu_quota,
            enforcement_level=MANDATORY,
            config_schema=SCHEMAS[GPU_QUOTA],
        ),
        StackValidationPolicy(
            name=GPU_BUDGET,
            description="The stack's monthly cost at maximum size stays within the budget cap.",
            validate=budget.validate_gpu_budget,
            enforcement_level=MANDATORY,
            config_schema=SCHEMAS[GPU_BUDGET],
        ),
        StackValidationPolicy(
            name=GPU_BUDGET_HEADROOM,
            description="The stack's monthly cost at maximum size is above 80% of the cap.",
            validate=budget.validate_gpu_budget_headroom,
            enforcement_level=ADVISORY,
            config_schema=SCHEMAS[GPU_BUDGET_HEADROOM],
        ),
        StackValidationPolicy(
            name=COMMITMENT_BURN,
            description="Spend per cloud below its commitment is unused commitment.",
            validate=budget.validate_commitment_burn,
            enforcement_level=ADVISORY,
            config_schema=SCHEMAS[COMMITMENT_BURN],
        ),
        ResourceValidationPolicy(
            name=SECURITY_BASELINE,
            description="Resources meet the AWS FSBP / Microsoft cloud security benchmark "
            "controls that apply to them.",
            validate=security.validate_security_baseline,
            enforcement_level=MANDATORY,
            config_schema=SCHEMAS[SECURITY_BASELINE],
        ),
        StackValidationPolicy(
            name=SECURITY_COVERAGE,
            description="Every S3 bucket has its public access block, SSE-KMS, versioning and "
            "TLS-only policy resources; no security group or NSG opens a port too widely across "
            "its rules.",
            validate=security.validate_security_coverage,
            enforcement_level=MANDATORY,
            config_schema=SCHEMAS[SECURITY_COVERAGE],
        ),
        StackValidationPolicy(
            name=DEPLOY_READINESS,
            description="Node groups, agent pools and clusters within the clouds' limits (or the "
            "declared ones) and every physical name within the cloud's rules.",
            validate=readiness.validate_deploy_readiness,
            enforcement_level=MANDATORY,
            config_schema=SCHEMAS[DEPLOY_READINESS],
        ),
        StackValidationPolicy(
            name=ADDRESS_CAPACITY,
            description="Every node subnet and pod range holds every node that can reach it "
            "(maximum sizes, upgrade surge, system pools) under the declared CNI settings.",
            validate=addresses.validate_address_capacity,
            enforcement_level=MANDATORY,
            config_schema=SCHEMAS[ADDRESS_CAPACITY],
        ),
        StackValidationPolicy(
            name=DATA_PIPES,
            description="Every dataset copy away from its home fits the paths it travels (VPN gateway, "
            "tunnels, stores) at line rate: filled within its amortisation, churn included.",
            validate=pipes.validate_data_pipes,
            enforcement_level=MANDATORY,
            config_schema=SCHEMAS[DATA_PIPES],
        ),
        ResourceValidationPolicy(
            name=REQUIRED_TAGS,
            description="Taggable resources carry the fleet and stack tags.",
            validate=tags.validate_required_tags,
            enforcement_level=ADVISORY,
            config_schema=SCHEMAS[REQUIRED_TAGS],
        ),
    ]
