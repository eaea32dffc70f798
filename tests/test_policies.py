"""Each policy of the pack with hand-built CrossGuard arguments, as the Pulumi CLI builds them:
passing and failing cases with the message asserted, unknown regions, both clouds."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from gpufleet.clouds import azure as azure_cloud
from gpufleet.clouds.aws.controls import S3_ENCRYPTION_TYPE
from gpufleet.clouds.catalog import load_catalog
from gpufleet.policy import budget, quota, security, sovereignty, tags
from gpufleet.policy.config import policy_config
from gpufleet.spec import load_fleet
from tests.conftest import fleet_of

EU = {"jurisdictions": ["EU"]}
BUCKET = "aws:s3/bucket:Bucket"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
AGENT_POOL = "azure-native:containerservice:AgentPool"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
RESOURCE_GROUP = "azure-native:resources:ResourceGroup"


# -- building arguments the way the CLI's analyzer does ----------------------------------------


def _urn(kind: str, name: str) -> str:
    return f"urn:pulumi:test::gpufleet::{kind}::{name}"


def _opts(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def _engine(value: Any) -> Any:
    """Numbers reach the analyzer as floats (protobuf Struct)."""
    if isinstance(value, dict):
        return {k: _engine(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_engine(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def provider(
    region: str | None = None, *, cloud: str = "aws", **props: Any
) -> PolicyProviderResource:
    kind = "pulumi:providers:aws" if cloud == "aws" else "pulumi:providers:azure-native"
    key = "region" if cloud == "aws" else "location"
    values = {**({key: region} if region else {}), **props}
    return PolicyProviderResource(
        kind, unknown_checking_proxy(_engine(values)), _urn(kind, "p"), "p"
    )


def resource_args(
    kind: str,
    props: Mapping[str, Any],
    *,
    name: str = "r",
    prov: PolicyProviderResource | None = None,
    config: Mapping[str, Any] | None = None,
) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        kind,
        unknown_checking_proxy(_engine(dict(props))),
        _urn(kind, name),
        name,
        _opts(),
        prov,
        config,
    )


def res(
    kind: str,
    props: Mapping[str, Any],
    *,
    name: str = "r",
    prov: PolicyProviderResource | None = None,
    parent: PolicyResource | None = None,
    deps: Mapping[str, list[PolicyResource]] | None = None,
) -> PolicyResource:
    return PolicyResource(
        kind,
        unknown_checking_proxy(_engine(dict(props))),
        _urn(kind, name),
        name,
        _opts(parent.urn if parent else None),
        prov,
        parent,
        [],
        dict(deps or {}),
    )


def stack_args(
    resources: list[PolicyResource], config: Mapping[str, Any] | None = None
) -> StackValidationArgs:
    return StackValidationArgs(resources, config)


def messages(validate: Callable[[Any, Any], None], args: Any) -> list[str]:
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    validate(args, report)
    return found


@pytest.fixture(autouse=True)
def _no_stack_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's PULUMI_CONFIG fallback only where a test sets it."""
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)


# -- sovereignty-allowed-regions ---------------------------------------------------------------

allowed_regions = sovereignty.validate_allowed_regions


def test_aws_resource_in_an_eu_region_by_its_own_region_input_passes() -> None:
    args = resource_args("aws:ec2/vpc:Vpc", {"region": "eu-central-1"}, config=EU)
    assert messages(allowed_regions, args) == []


def test_aws_resource_in_the_us_by_its_providers_region_is_refused_naming_what_is_allowed() -> None:
    args = resource_args("aws:ec2/vpc:Vpc", {}, name="net", prov=provider("us-east-1"), config=EU)
    [message] = messages(allowed_regions, args)
    assert message.startswith("aws:ec2/vpc:Vpc 'net': region 'us-east-1' is in US (")
    assert "outside the allowed jurisdictions EU" in message
    assert "allowed aws regions: " in message
    assert "eu-central-1" in message


def test_region_name_is_no_evidence_london_is_not_in_the_eu() -> None:
    args = resource_args("aws:ec2/vpc:Vpc", {"region": "eu-west-2"}, config=EU)
    [message] = messages(allowed_regions, args)
    assert "region 'eu-west-2' is in GB" in message


def test_own_region_wins_over_the_providers_region() -> None:
    args = resource_args(
        "aws:ec2/vpc:Vpc", {"region": "us-west-2"}, prov=provider("eu-west-1"), config=EU
    )
    [message] = messages(allowed_regions, args)
    assert "region 'us-west-2'" in message


def test_uk_is_accepted_for_gb() -> None:
    args = resource_args(
        "aws:ec2/vpc:Vpc", {"region": "eu-west-2"}, config={"jurisdictions": ["UK"]}
    )
    assert messages(allowed_regions, args) == []


def test_aws_resource_without_any_region_is_a_violation_not_a_skip() -> None:
    args = resource_args("aws:ec2/vpc:Vpc", {}, name="net", config=EU)
    [message] = messages(allowed_regions, args)
    assert message.startswith(
        "aws:ec2/vpc:Vpc 'net': region cannot be determined (no 'region' on the resource or its "
        "provider); it must be a region in EU"
    )


def test_a_region_unknown_during_preview_cannot_be_determined() -> None:
    args = resource_args("aws:ec2/vpc:Vpc", {"region": UNKNOWN_STRING_VALUE}, config=EU)
    [message] = messages(allowed_regions, args)
    assert "region cannot be determined" in message


def test_a_region_missing_from_the_catalog_has_no_known_jurisdiction() -> None:
    args = resource_args("aws:ec2/vpc:Vpc", {"region": "mars-north-1"}, config=EU)
    [message] = messages(allowed_regions, args)
    assert "region 'mars-north-1' is not in the gpufleet catalog" in message


@pytest.mark.parametrize(
    "kind",
    [
        "aws:iam/role:Role",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "gpufleet:aws:GpuCluster",
        "pulumi:providers:aws",
    ],
)
def test_global_and_non_cloud_resources_pass_without_a_region(kind: str) -> None:
    assert messages(allowed_regions, resource_args(kind, {}, config=EU)) == []


def test_azure_location_display_name_is_normalised() -> None:
    args = resource_args(
        "azure-native:network:VirtualNetwork", {"location": "Sweden Central"}, config=EU
    )
    assert messages(allowed_regions, args) == []


def test_azure_resource_group_outside_the_jurisdiction_is_refused() -> None:
    args = resource_args(RESOURCE_GROUP, {"location": "eastus"}, name="rg", config=EU)
    [message] = messages(allowed_regions, args)
    assert message.startswith(f"{RESOURCE_GROUP} 'rg': region 'eastus' is in US")
    assert "allowed azure regions: " in message
    assert "swedencentral" in message


def test_azure_resource_without_location_is_a_violation() -> None:
    args = resource_args("azure-native:network:VirtualNetwork", {}, name="vnet", config=EU)
    [message] = messages(allowed_regions, args)
    assert "region cannot be determined (no 'location' on the resource or its provider)" in message


def test_azure_provider_location_is_the_default() -> None:
    args = resource_args(
        "azure-native:network:VirtualNetwork",
        {},
        prov=provider("westeurope", cloud="azure"),
        config=EU,
    )
    assert messages(allowed_regions, args) == []


@pytest.mark.parametrize("kind", [*sorted(azure_cloud.INHERITING_TYPES)[:5], AGENT_POOL])
def test_azure_children_without_a_location_property_inherit_their_parents(kind: str) -> None:
    assert messages(allowed_regions, resource_args(kind, {}, config=EU)) == []


def test_azure_global_location_passes() -> None:
    args = resource_args("azure-native:privatedns:PrivateZone", {"location": "global"}, config=EU)
    assert messages(allowed_regions, args) == []


def test_without_configured_jurisdictions_the_policy_fails_closed() -> None:
    [message] = messages(allowed_regions, resource_args("aws:ec2/vpc:Vpc", {"region": "eu-west-1"}))
    assert "no allowed jurisdictions configured" in message
    assert "gpufleet policy-config" in message


def test_without_cli_config_the_stack_config_from_the_engine_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "PULUMI_CONFIG", json.dumps({"gpufleet:fleet": json.dumps(fleet_of("prod-eu"))})
    )
    refused = resource_args("aws:ec2/vpc:Vpc", {"region": "us-east-1"})
    assert "outside the allowed jurisdictions EU" in messages(allowed_regions, refused)[0]
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"gpufleet:fleet": json.dumps(fleet_of("dev"))}))
    assert messages(allowed_regions, refused) == []  # dev has no sovereignty: disabled


# -- sovereignty-storage-residency -------------------------------------------------------------

storage_residency = sovereignty.validate_storage_residency


def test_buckets_and_accounts_in_the_jurisdiction_pass() -> None:
    resources = [
        res(BUCKET, {"region": "eu-central-1"}, name="data"),
        res(STORAGE_ACCOUNT, {"location": "swedencentral"}, name="acct"),
    ]
    assert messages(storage_residency, stack_args(resources, EU)) == []


def test_bucket_and_account_outside_the_jurisdiction_are_refused() -> None:
    resources = [
        res(BUCKET, {}, name="data", prov=provider("us-east-1")),
        res(STORAGE_ACCOUNT, {"location": "uksouth"}, name="acct"),
    ]
    found = messages(storage_residency, stack_args(resources, EU))
    assert found[0].startswith(f"{BUCKET} 'data': region 'us-east-1' is in US")
    assert found[1].startswith(f"{STORAGE_ACCOUNT} 'acct': region 'uksouth' is in GB")


@pytest.mark.parametrize(
    ("location", "sku", "expected"),
    [
        ("westeurope", "Standard_GRS", None),
        ("germanywestcentral", "Standard_RAGZRS", None),
        ("swedencentral", "Standard_ZRS", None),
        ("uksouth", "Standard_LRS", "region 'uksouth' is in GB"),
        (
            "polandcentral",
            "Standard_GRS",
            "geo-replicates to the pair of 'polandcentral', which gpufleet does not know",
        ),
    ],
)
def test_geo_redundant_storage_is_judged_by_the_paired_region(
    location: str, sku: str, expected: str | None
) -> None:
    account = res(STORAGE_ACCOUNT, {"location": location, "sku": {"name": sku}}, name="acct")
    found = messages(storage_residency, stack_args([account], EU))
    assert (found == []) if expected is None else any(expected in m for m in found), found


def test_geo_redundant_storage_whose_pair_is_outside_is_refused() -> None:
    account = res(
        STORAGE_ACCOUNT, {"location": "northeurope", "sku": {"name": "Standard_RAGRS"}}, name="acct"
    )
    [message] = messages(storage_residency, stack_args([account], {"jurisdictions": ["IE"]}))
    assert message == (
        f"{STORAGE_ACCOUNT} 'acct': sku Standard_RAGRS geo-replicates to the paired region "
        "'westeurope' (NL), outside the allowed jurisdictions IE; allowed: an LRS or ZRS sku, or "
        "a region whose pair is inside"
    )
    same = res(STORAGE_ACCOUNT, {"location": "northeurope", "sku": {"name": "Standard_LRS"}})
    assert messages(storage_residency, stack_args([same], {"jurisdictions": ["IE"]})) == []


def test_s3_replication_to_a_bucket_outside_the_jurisdiction_is_refused() -> None:
    source = res(BUCKET, {"region": "eu-central-1", "bucket": "src"}, name="src")
    replica = res(BUCKET, {"region": "us-east-1", "bucket": "dr-copy"}, name="dr")
    replication = res(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        {
            "region": "eu-central-1",
            "bucket": "src",
            "rules": [{"status": "Enabled", "destination": {"bucket": "arn:aws:s3:::dr-copy"}}],
        },
        name="repl",
    )
    found = messages(storage_residency, stack_args([source, replica, replication], EU))
    assert any(
        m.startswith(
            "aws:s3/bucketReplicationConfig:BucketReplicationConfig 'repl': replication "
            "rule 0 copies data to bucket 'arn:aws:s3:::dr-copy'; destination region "
            "'us-east-1' is in US"
        )
        for m in found
    )


def test_replication_destination_unknown_in_preview_is_found_through_property_dependencies() -> (
    None
):
    source = res(BUCKET, {"region": "eu-central-1"}, name="src")
    replica = res(BUCKET, {"region": "eu-west-2"}, name="dr")
    replication = res(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        {
            "bucket": UNKNOWN_STRING_VALUE,
            "rules": [{"destination": {"bucket": UNKNOWN_STRING_VALUE}}],
        },
        name="repl",
        deps={"bucket": [source], "rules": [replica]},
    )
    found = messages(storage_residency, stack_args([source, replica, replication], EU))
    assert [m for m in found if "'repl'" in m and "region 'eu-west-2' is in GB" in m]


def test_replication_to_a_bucket_outside_the_stack_is_a_violation() -> None:
    replication = res(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        {"rules": [{"destination": {"bucket": "arn:aws:s3:::somewhere"}}]},
        name="repl",
    )
    # fail closed on both ends: neither the destination nor the source is a bucket of the stack
    source, destination = sorted(messages(storage_residency, stack_args([replication], EU)))
    assert (
        "destination region cannot be determined (the destination is not a bucket of this stack"
        in destination
    )
    assert "reads data from bucket '?'; source region cannot be determined" in source


def test_azure_object_replication_to_an_account_outside_the_jurisdiction_is_refused() -> None:
    source = res(STORAGE_ACCOUNT, {"location": "swedencentral", "accountName": "src"}, name="src")
    target = res(STORAGE_ACCOUNT, {"location": "eastus", "accountName": "drcopy"}, name="dr")
    policy = res(
        "azure-native:storage:ObjectReplicationPolicy",
        {
            "accountName": "src",
            "sourceAccount": "src",
            "destinationAccount": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/"
            "storageAccounts/drcopy",
        },
        name="orp",
    )
    found = messages(storage_residency, stack_args([source, target, policy], EU))
    assert any(
        "'orp': object replication copies data to storage account" in m
        and "destination region 'eastus' is in US" in m
        for m in found
    )


VAULT = "arn:aws:backup:us-west-2:123456789012:backup-vault:dr"


def test_backup_copies_to_a_vault_outside_the_jurisdiction_are_refused() -> None:
    plan = res(
        "aws:backup/plan:Plan",
        {"rules": [{"copyActions": [{"destinationVaultArn": VAULT}]}]},
        name="bp",
    )
    [message] = messages(storage_residency, stack_args([plan], EU))
    assert "backup copy to vault 'arn:aws:backup:us-west-2:123456789012:backup-vault:dr'" in message
    assert "destination region 'us-west-2' is in US" in message


# -- gpu-quota ---------------------------------------------------------------------------------

gpu_quota = quota.validate_gpu_quota
QUOTAS = {
    "quotas": {
        "aws": {"eu-north-1": {"L-417A185B": 1536, "L-7212CCBC": 192}},
        "azure": {"swedencentral": {"standardNDSH100v5Family": 960, "lowPriorityCores": 96}},
    }
}


def node_group(
    name: str,
    max_size: int,
    *,
    capacity: str = "ON_DEMAND",
    instance: str = "p5.48xlarge",
    region: str = "eu-north-1",
) -> PolicyResource:
    return res(
        NODE_GROUP,
        {
            "instanceTypes": [instance],
            "capacityType": capacity,
            "scalingConfig": {"maxSize": max_size, "minSize": 0},
        },
        name=name,
        prov=provider(region),
    )


def test_node_groups_within_quota_pass() -> None:
    assert messages(gpu_quota, stack_args([node_group("a", 4), node_group("b", 4)], QUOTAS)) == []


def test_node_groups_over_quota_give_demand_limit_and_shortfall() -> None:
    found = messages(gpu_quota, stack_args([node_group("a", 5), node_group("b", 4)], QUOTAS))
    assert found == [
        "aws/eu-north-1 quota bucket L-417A185B: GPU pools at maximum size need 1728 vCPUs, the "
        "declared quota is 1536 vCPUs, 192 short; pools: a (p5.48xlarge x 5) = 960 vCPUs, "
        "b (p5.48xlarge x 4) = 768 vCPUs; lower maxSize/maxCount or raise the quota"
    ]


def test_spot_node_groups_draw_on_the_spot_bucket() -> None:
    found = messages(gpu_quota, stack_args([node_group("s", 2, capacity="SPOT")], QUOTAS))
    assert len(found) == 1
    assert "quota bucket L-7212CCBC" in found[0]
    assert "need 384 vCPUs" in found[0]


def test_a_bucket_without_declared_quota_is_not_limited() -> None:
    assert (
        messages(gpu_quota, stack_args([node_group("g", 100, instance="g6.xlarge")], QUOTAS)) == []
    )


def test_non_gpu_node_groups_are_not_counted() -> None:
    assert (
        messages(gpu_quota, stack_args([node_group("sys", 500, instance="m7i.large")], QUOTAS))
        == []
    )


def test_agent_pool_region_comes_from_its_cluster_and_spot_draws_on_low_priority_cores() -> None:
    group = res(
        RESOURCE_GROUP, {"location": "swedencentral", "resourceGroupName": "rg-x"}, name="rg"
    )
    cluster = res(
        "azure-native:containerservice:ManagedCluster",
        {"location": "swedencentral", "resourceName": "aks-x", "resourceGroupName": "rg-x"},
        name="aks",
    )
    pool = res(
        AGENT_POOL,
        {
            "resourceGroupName": "rg-x",
            "resourceName": "aks-x",
            "vmSize": "Standard_ND96isr_H100_v5",
            "enableAutoScaling": True,
            "minCount": 0,
            "maxCount": 2,
            "count": 0,
            "scaleSetPriority": "Spot",
        },
        name="spotpool",
    )
    [message] = messages(gpu_quota, stack_args([group, cluster, pool], QUOTAS))
    assert message.startswith(
        "azure/swedencentral quota bucket lowPriorityCores: GPU pools at maximum size need 192 "
        "vCPUs, the declared quota is 96 vCPUs, 96 short"
    )


def test_agent_pool_region_from_its_resource_group_when_the_cluster_is_elsewhere() -> None:
    group = res(
        RESOURCE_GROUP, {"location": "swedencentral", "resourceGroupName": "rg-x"}, name="rg"
    )
    pool = res(
        AGENT_POOL,
        {
            "resourceGroupName": "rg-x",
            "resourceName": "aks-other",
            "vmSize": "Standard_ND96isr_H100_v5",
            "count": 11,
        },
        name="fixed",
    )
    [message] = messages(gpu_quota, stack_args([group, pool], QUOTAS))
    assert "standardNDSH100v5Family: GPU pools at maximum size need 1056 vCPUs" in message


def test_azure_regional_total_cores_counts_every_non_spot_pool_case_insensitively() -> None:
    group = res(
        RESOURCE_GROUP, {"location": "swedencentral", "resourceGroupName": "rg-x"}, name="rg"
    )
    pools = [
        res(
            AGENT_POOL,
            {"resourceGroupName": "rg-x", "vmSize": "Standard_ND96isr_H100_v5", "count": 2},
            name="h100",
        ),
        res(
            AGENT_POOL,
            {"resourceGroupName": "rg-x", "vmSize": "Standard_NC4as_T4_v3", "count": 10},
            name="t4",
        ),
    ]
    limits = {
        "quotas": {"azure": {"swedencentral": {"Cores": 200, "StandardNDSH100v5Family": 192}}}
    }
    [message] = messages(gpu_quota, stack_args([group, *pools], limits))
    assert message.startswith(
        "azure/swedencentral quota bucket Cores: GPU pools at maximum size need 232 vCPUs, the "
        "declared quota is 200 vCPUs, 32 short; pools: h100 (Standard_ND96isr_H100_v5 x 2) = 192 "
        "vCPUs, t4 (Standard_NC4as_T4_v3 x 10) = 40 vCPUs"
    )


def test_agent_pool_whose_region_cannot_be_determined_is_a_violation() -> None:
    pool = res(
        AGENT_POOL,
        {"resourceGroupName": "rg-nowhere", "vmSize": "Standard_ND96isr_H100_v5", "count": 1},
        name="lost",
    )
    [message] = messages(gpu_quota, stack_args([pool], QUOTAS))
    assert message.startswith(f"{AGENT_POOL} 'lost': region cannot be determined")


# -- gpu-budget, gpu-budget-headroom, commitment-burn ------------------------------------------


def p5_monthly(nodes: int) -> float:
    offer = load_catalog().offers[("aws", "p5.48xlarge", "eu-north-1")]
    assert offer.price_usd_per_hour is not None
    return nodes * offer.price_usd_per_hour * 730


def test_budget_within_the_cap_passes_and_the_headroom_stays_quiet() -> None:
    args = stack_args([node_group("a", 2)], {"monthly_usd": p5_monthly(2) * 2})
    assert messages(budget.validate_gpu_budget, args) == []
    assert messages(budget.validate_gpu_budget_headroom, args) == []


def test_budget_over_the_cap_gives_figures_and_top_contributors() -> None:
    resources = [
        node_group("a", 4),
        node_group("b", 2),
        res("aws:eks/cluster:Cluster", {"region": "eu-north-1"}, name="eks"),
        res("aws:ec2/natGateway:NatGateway", {"region": "eu-north-1"}, name="nat"),
    ]
    cap = p5_monthly(4)
    [message] = messages(budget.validate_gpu_budget, stack_args(resources, {"monthly_usd": cap}))
    total = p5_monthly(6) + 73 + 0.045 * 730
    assert message.startswith(
        "GPU pools at maximum size plus clusters, NAT gateways, links and storage cost "
        f"${total:,.0f}/month"
    )
    assert f"of the ${cap:,.0f} cap), ${total - cap:,.0f} over the cap" in message
    assert message.endswith(
        f"top contributors: a (p5.48xlarge x 4) on-demand in aws/eu-north-1 ${p5_monthly(4):,.0f}, "
        f"b (p5.48xlarge x 2) on-demand in aws/eu-north-1 ${p5_monthly(2):,.0f}, "
        "EKS control plane eks in aws/eu-north-1 $73; lower pool sizes or raise budget.monthly_usd"
    )


def test_budget_above_eighty_percent_is_an_advisory_only() -> None:
    args = stack_args([node_group("a", 9)], {"monthly_usd": p5_monthly(10), "headroom": 0.8})
    assert messages(budget.validate_gpu_budget, args) == []
    [message] = messages(budget.validate_gpu_budget_headroom, args)
    assert "(90% of the" in message
    assert "above the 80% headroom mark" in message


def test_spot_pools_are_priced_at_the_spot_price_from_the_price_book() -> None:
    prices = {"aws/eu-north-1/p5.48xlarge:spot": 10.0}
    args = stack_args(
        [node_group("s", 10, capacity="SPOT")],
        {"monthly_usd": 10 * 10.0 * 730 - 1, "prices": prices},
    )
    [message] = messages(budget.validate_gpu_budget, args)
    assert "cost $73,000/month" in message
    assert "$1 over the cap" in message


def test_a_pool_without_a_price_cannot_be_checked_and_says_which_price_to_add() -> None:
    args = stack_args([node_group("x", 1, region="eu-south-2")], {"monthly_usd": 1e9})
    found = messages(budget.validate_gpu_budget, args)
    assert any(
        "no on-demand price for p5.48xlarge in aws/eu-south-2" in m
        and "add 'aws/eu-south-2/p5.48xlarge' to prices" in m
        for m in found
    )


def test_storage_is_priced_by_its_entry_size() -> None:
    bucket = res(
        BUCKET, {"region": "eu-north-1", "tags": {"gpufleet:storage": "datasets"}}, name="b1"
    )
    found = budget.estimate([bucket], {"storage_tib": {"datasets": 10}})
    assert [(line.monthly_usd, line.kind) for line in found.lines] == [(round(10 * 1024 * 0.023, 2), "storage")]


def test_unused_commitment_is_reported_per_cloud() -> None:
    args = stack_args([node_group("a", 1)], {"commitments": {"aws": 1_000_000, "azure": 5}})
    found = messages(budget.validate_commitment_burn, args)
    spend = p5_monthly(1)
    assert found == [
        f"aws: the stack spends ${spend:,.0f}/month at maximum size, below the $1,000,000 "
        f"commitment; ${1_000_000 - spend:,.0f}/month of committed spend is unused (allowed: "
        "spend at least the commitment, or lower it)",
        "azure: the stack spends $0/month at maximum size, below the $5 commitment; $5/month of "
        "committed spend is unused (allowed: spend at least the commitment, or lower it)",
    ]


# -- security-baseline -------------------------------------------------------------------------

baseline = security.validate_security_baseline

SECURE: list[tuple[str, dict[str, Any]]] = [
    (
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        {
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        },
    ),
    (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]},
    ),
    (
        "aws:s3/bucketVersioning:BucketVersioning",
        {"versioningConfiguration": {"status": "Enabled"}},
    ),
    (
        "aws:s3/bucketPolicy:BucketPolicy",
        {
            "policy": json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ]
                }
            )
        },
    ),
    (
        "aws:eks/cluster:Cluster",
        {
            "vpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True},
            "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:k"}},
            "enabledClusterLogTypes": ["api", "audit", "authenticator"],
        },
    ),
    (
        "aws:ec2/launchTemplate:LaunchTemplate",
        {
            "metadataOptions": {"httpTokens": "required"},
            "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}],
        },
    ),
    (
        "aws:ec2/securityGroup:SecurityGroup",
        {"ingress": [{"self": True, "fromPort": 0, "toPort": 0, "protocol": "-1"}]},
    ),
    ("aws:kms/key:Key", {"enableKeyRotation": True}),
    (
        STORAGE_ACCOUNT,
        {
            "enableHttpsTrafficOnly": True,
            "minimumTlsVersion": "TLS1_2",
            "allowBlobPublicAccess": False,
            "allowSharedKeyAccess": False,
            "publicNetworkAccess": "Disabled",
        },
    ),
    (
        "azure-native:containerservice:ManagedCluster",
        {
            "apiServerAccessProfile": {"enablePrivateCluster": True},
            "disableLocalAccounts": True,
            "aadProfile": {"managed": True, "enableAzureRBAC": True},
            "networkProfile": {"networkPolicy": "cilium"},
            "agentPoolProfiles": [{"name": "system", "enableNodePublicIP": False}],
        },
    ),
    (AGENT_POOL, {"enableNodePublicIP": False}),
    (
        "azure-native:network:NetworkSecurityGroup",
        {
            "securityRules": [
                {
                    "name": "vnet",
                    "direction": "Inbound",
                    "access": "Allow",
                    "sourceAddressPrefix": "VirtualNetwork",
                },
                {
                    "name": "deny-all",
                    "direction": "Inbound",
                    "access": "Deny",
                    "sourceAddressPrefix": "*",
                },
            ]
        },
    ),
]


@pytest.mark.parametrize(("kind", "props"), SECURE, ids=[k.split(":")[-1] for k, _ in SECURE])
def test_secure_settings_pass(kind: str, props: dict[str, Any]) -> None:
    assert messages(baseline, resource_args(kind, props)) == []


INSECURE: list[tuple[str, dict[str, Any], str]] = [
    (
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        {
            "blockPublicAcls": True,
            "blockPublicPolicy": False,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        },
        "blockPublicPolicy is false; allowed: true (S3.8: all four public access blocks on)",
    ),
    (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
        'sseAlgorithm is ["AES256"]; allowed: aws:kms or aws:kms:dsse (S3.17: SSE-KMS)',
    ),
    (
        "aws:s3/bucketVersioning:BucketVersioning",
        {"versioningConfiguration": {"status": "Suspended"}},
        'versioningConfiguration.status is "Suspended"; allowed: "Enabled" (S3.14)',
    ),
    (
        "aws:s3/bucketPolicy:BucketPolicy",
        {"policy": json.dumps({"Statement": []})},
        "policy has no Deny statement with Condition Bool aws:SecureTransport",
    ),
    (
        "aws:eks/cluster:Cluster",
        {
            "vpcConfig": {},
            "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "k"}},
            "enabledClusterLogTypes": ["api", "audit", "authenticator"],
        },
        "vpcConfig.endpointPrivateAccess is unset; allowed: true (EKS.1",
    ),
    (
        "aws:eks/cluster:Cluster",
        {"vpcConfig": {"endpointPublicAccess": False}, "enabledClusterLogTypes": ["api"]},
        "encryptionConfig does not encrypt 'secrets' with a KMS key",
    ),
    (
        "aws:eks/cluster:Cluster",
        {
            "vpcConfig": {"endpointPublicAccess": False},
            "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "k"}},
            "enabledClusterLogTypes": ["api"],
        },
        'enabledClusterLogTypes is ["api"], missing audit, authenticator',
    ),
    (
        "aws:ec2/launchTemplate:LaunchTemplate",
        {"metadataOptions": {"httpTokens": "optional"}},
        'metadataOptions.httpTokens is "optional"; allowed: "required" (EC2.170: IMDSv2)',
    ),
    (
        "aws:ec2/launchTemplate:LaunchTemplate",
        {
            "metadataOptions": {"httpTokens": "required"},
            "blockDeviceMappings": [{"ebs": {"volumeSize": 100}}],
        },
        "blockDeviceMappings[0].ebs.encrypted is unset; allowed: true (EC2.7",
    ),
    (
        "aws:ec2/securityGroup:SecurityGroup",
        {"ingress": [{"cidrBlocks": ["0.0.0.0/0"], "fromPort": 22, "toPort": 22}]},
        "ingress[0] allows ingress from 0.0.0.0/0 (ports 22.0-22.0)",
    ),
    (
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        {"type": "ingress", "ipv6CidrBlocks": ["::/0"], "fromPort": 443, "toPort": 443},
        "the rule allows ingress from ::/0",
    ),
    (
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {"cidrIpv4": "0.0.0.0/0"},
        "the rule allows ingress from 0.0.0.0/0",
    ),
    ("aws:kms/key:Key", {}, "enableKeyRotation is unset; allowed: true (KMS.4: key rotation)"),
    (
        STORAGE_ACCOUNT,
        {
            "enableHttpsTrafficOnly": True,
            "minimumTlsVersion": "TLS1_0",
            "allowBlobPublicAccess": False,
            "allowSharedKeyAccess": False,
        },
        'minimumTlsVersion is "TLS1_0"; allowed: "TLS1_2" or later',
    ),
    (
        STORAGE_ACCOUNT,
        {
            "enableHttpsTrafficOnly": True,
            "minimumTlsVersion": "TLS1_2",
            "allowBlobPublicAccess": False,
        },
        "allowSharedKeyAccess is unset; allowed: false (Entra ID auth only, no shared keys)",
    ),
    (
        STORAGE_ACCOUNT,
        {
            "enableHttpsTrafficOnly": True,
            "minimumTlsVersion": "TLS1_2",
            "allowBlobPublicAccess": False,
            "allowSharedKeyAccess": False,
            "publicNetworkAccess": "Enabled",
        },
        'publicNetworkAccess is "Enabled"; allowed: "Disabled" (private endpoints only) or "SecuredByPerimeter"',
    ),
    (
        "azure-native:containerservice:ManagedCluster",
        {
            "apiServerAccessProfile": {"enablePrivateCluster": False},
            "disableLocalAccounts": True,
            "aadProfile": {"enableAzureRBAC": True},
            "networkProfile": {"networkPolicy": "azure"},
        },
        "apiServerAccessProfile.authorizedIPRanges is unset with the public endpoint on "
        "(enablePrivateCluster is not true, so any address may reach the API server)",
    ),
    (
        "azure-native:containerservice:ManagedCluster",
        {
            "apiServerAccessProfile": {"enablePrivateCluster": True},
            "disableLocalAccounts": True,
            "aadProfile": {"enableAzureRBAC": True},
            "networkProfile": {},
        },
        "networkProfile.networkPolicy is unset; allowed: azure, calico or cilium",
    ),
    (
        AGENT_POOL,
        {"enableNodePublicIP": True},
        "enableNodePublicIP is true; allowed: false or unset (no node public IPs)",
    ),
    (
        "azure-native:network:NetworkSecurityGroup",
        {
            "securityRules": [
                {
                    "name": "ssh",
                    "direction": "Inbound",
                    "access": "Allow",
                    "sourceAddressPrefix": "Internet",
                }
            ]
        },
        "securityRules[0] 'ssh' allows inbound traffic from Internet",
    ),
    (
        "azure-native:network:SecurityRule",
        {"direction": "Inbound", "access": "Allow", "sourceAddressPrefixes": ["10.0.0.0/8", "*"]},
        "the rule allows inbound traffic from *",
    ),
]


@pytest.mark.parametrize(
    ("kind", "props", "expected"),
    INSECURE,
    ids=[f"{k.split(':')[-1]}-{i}" for i, (k, _, _) in enumerate(INSECURE)],
)
def test_insecure_settings_are_refused_naming_the_value_and_what_is_allowed(
    kind: str, props: dict[str, Any], expected: str
) -> None:
    found = messages(baseline, resource_args(kind, props, name="x"))
    assert found, f"{kind} {props} passed"
    assert all(m.startswith(f"{kind} 'x': ") for m in found)
    assert any(expected in m for m in found), found


def _companions(bucket: PolicyResource, *, skip: str = "") -> list[PolicyResource]:
    kinds = {
        "pab": "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "sse": S3_ENCRYPTION_TYPE,
        "ver": "aws:s3/bucketVersioning:BucketVersioning",
        "pol": "aws:s3/bucketPolicy:BucketPolicy",
    }
    return [
        res(kind, {"bucket": f"{bucket.name}-id"}, name=key)
        for key, kind in kinds.items()
        if key != skip
    ]


def test_every_bucket_with_all_companions_passes_coverage() -> None:
    bucket = res(BUCKET, {}, name="data")
    assert (
        messages(security.validate_security_coverage, stack_args([bucket, *_companions(bucket)]))
        == []
    )


def test_a_bucket_without_versioning_is_refused_by_coverage() -> None:
    bucket = res(BUCKET, {}, name="data")
    [message] = messages(
        security.validate_security_coverage, stack_args([bucket, *_companions(bucket, skip="ver")])
    )
    assert message == (
        f"{BUCKET} 'data' has no a BucketVersioning with status Enabled (S3.14); allowed: every "
        "bucket carries all four controls"
    )


def test_coverage_follows_property_dependencies_when_the_bucket_name_is_unknown() -> None:
    bucket = res(BUCKET, {}, name="data")
    pab = res(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        {"bucket": UNKNOWN_STRING_VALUE},
        name="pab",
        deps={"bucket": [bucket]},
    )
    others = list(_companions(bucket, skip="pab"))
    assert messages(security.validate_security_coverage, stack_args([bucket, pab, *others])) == []


# -- required-tags -----------------------------------------------------------------------------

required_tags = tags.validate_required_tags


def test_aws_tags_from_the_providers_default_tags_pass() -> None:
    default_tags = json.dumps({"tags": {"gpufleet:fleet": "f", "gpufleet:stack": "s"}})
    args = resource_args(
        "aws:ec2/vpc:Vpc",
        {},
        prov=provider("eu-west-1", defaultTags=default_tags),
        config={"fleet": "f"},
    )
    assert messages(required_tags, args) == []


def test_aws_resource_missing_the_stack_tag_is_reported() -> None:
    args = resource_args("aws:ec2/vpc:Vpc", {"tags": {"gpufleet:fleet": "f"}}, name="v")
    [message] = messages(required_tags, args)
    assert message.startswith(
        "aws:ec2/vpc:Vpc 'v': missing tag gpufleet:stack (tags present: "
        "gpufleet:fleet); allowed: gpufleet:fleet and gpufleet:stack"
    )


def test_azure_tags_use_dashes_and_the_fleet_value_is_checked() -> None:
    ok = {"tags": {"gpufleet-fleet": "f", "gpufleet-stack": "s"}}
    assert messages(required_tags, resource_args(RESOURCE_GROUP, ok, config={"fleet": "f"})) == []
    [message] = messages(required_tags, resource_args(RESOURCE_GROUP, ok, config={"fleet": "g"}))
    assert "tag gpufleet-fleet is 'f'; allowed: 'g'" in message
    [missing] = messages(required_tags, resource_args(RESOURCE_GROUP, {"tags": {}}))
    assert "missing tags gpufleet-fleet, gpufleet-stack" in missing


def test_untaggable_resources_are_not_asked_for_tags() -> None:
    assert (
        messages(
            required_tags, resource_args("aws:iam/rolePolicyAttachment:RolePolicyAttachment", {})
        )
        == []
    )


# -- configuration -----------------------------------------------------------------------------


def test_policy_config_carries_the_specs_rules() -> None:
    config = policy_config(load_fleet(fleet_of("prod-eu")))
    assert config["sovereignty-allowed-regions"] == {"jurisdictions": ["EU"]}
    assert config["gpu-quota"]["quotas"] == {
        "aws": {
            "eu-north-1": {"L-417A185B": 1536, "L-3819A6DF": 768},
            "eu-central-1": {"L-3819A6DF": 384},
        },
        "azure": {
            "swedencentral": {"standardNDSH100v5Family": 960},
            "germanywestcentral": {"standardNDSH100v5Family": 384},
        },
    }
    assert config["gpu-budget"]["monthly_usd"] == 1400000
    assert config["commitment-burn"]["commitments"] == {"aws": 300000, "azure": 450000}
    json.dumps(config)  # what `--policy-pack-config` reads


def test_policy_config_disables_sovereignty_for_a_spec_without_it() -> None:
    config = policy_config(load_fleet(fleet_of("dev")))
    assert config["sovereignty-allowed-regions"] == {"enforcementLevel": "disabled"}
    assert "monthly_usd" in config["gpu-budget"]
