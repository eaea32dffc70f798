"""Cross-cloud dataset copies filled by a sync job (issue 18): one rclone CronJob per copy on the
other cloud, in the copy's cluster, with identities scoped to exactly its two stores; the
residency policy follows every copy and transfer path."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k8s.syncspec import RCLONE_IMAGE
from gpufleet.datasync import schedule, sync_plans
from gpufleet.offline import OfflinePlan, SpecSource, run_plan
from gpufleet.pipeline import build_plan
from gpufleet.policy import sovereignty
from gpufleet.preview import RecordedResource
from gpufleet.spec import load_fleet
from tests.test_gravity import TWO_CLOUDS
from tests.test_policies import BUCKET, EU, STORAGE_ACCOUNT, messages, res, stack_args

CRON_JOB = "kubernetes:batch/v1:CronJob"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE = "aws:iam/role:Role"
FEDERATION = "azure-native:managedidentity:FederatedIdentityCredential"
ASSIGNMENT = "azure-native:authorization:RoleAssignment"
PINS = {"aws/eu-north-1": 2, "azure/swedencentral": 1}


def _fleet(home: str = "aws/eu-central-1", vpn: bool = False) -> dict[str, Any]:
    data = copy.deepcopy(TWO_CLOUDS)
    data["pools"][0]["pin"] = PINS
    data["storage"][0]["home"] = home
    if vpn:
        data["network"]["interconnect"] = "vpn"
    return data


@cache
def _planned(home: str = "aws/eu-central-1", vpn: bool = False, second_stage: bool = True) -> OfflinePlan:
    import tempfile

    path = Path(tempfile.mkdtemp()) / "Pulumi.sync.yaml"
    path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": _fleet(home, vpn)}}))
    return run_plan(SpecSource(spec=path, cluster_software=second_stage))


def _jobs(plan: OfflinePlan) -> list[RecordedResource]:
    return plan.recording.by_type(CRON_JOB)


def _pod(job: RecordedResource) -> dict[str, Any]:
    return job.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def _env(job: RecordedResource) -> dict[str, str]:
    return {e["name"]: e["value"] for e in _pod(job)["containers"][0]["env"]}


def _named(plan: OfflinePlan, kind: str, fragment: str) -> list[RecordedResource]:
    return [r for r in plan.recording.by_type(kind) if fragment in r.name]


def test_an_aws_home_fills_its_azure_copy_by_a_job_in_the_azure_cluster() -> None:
    plan = _planned()
    cross = [s for s in plan.plan.storage if s.source and not s.source.startswith(s.cloud)]
    assert [(s.cloud, s.region) for s in cross] == [("azure", "swedencentral")]
    (job,) = _jobs(plan)  # none for the AWS copy in eu-north-1: S3 replication fills it
    assert job.region == "swedencentral"
    assert job.inputs["metadata"]["annotations"] == {
        "gpufleet.io/sync-source": "aws/eu-central-1",
        "gpufleet.io/sync-destination": "azure/swedencentral",
    }
    spec = job.inputs["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["schedule"] == schedule("datasets/azure/swedencentral", 5)
    assert spec["schedule"].split()[1] == "*"  # 5 TiB a month of churn: hourly
    container = _pod(job)["containers"][0]
    assert container["image"] == RCLONE_IMAGE
    assert not RCLONE_IMAGE.endswith(":latest")
    home_bucket = next(r for r in plan.recording.by_type(BUCKET) if r.name.endswith("eu-central-1"))
    env = _env(job)
    assert container["args"][:3] == ["sync", f"home:{home_bucket.name}-id", "copy:datasets"]
    assert (env["RCLONE_CONFIG_HOME_TYPE"], env["RCLONE_CONFIG_HOME_REGION"]) == ("s3", "eu-central-1")
    assert env["RCLONE_CONFIG_COPY_TYPE"] == "azureblob"
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}


def test_the_job_runs_as_nobody_on_a_read_only_root_without_secrets() -> None:
    (job,) = _jobs(_planned())
    pod = _pod(job)
    context = pod["containers"][0]["securityContext"]
    assert context["runAsNonRoot"]
    assert context["readOnlyRootFilesystem"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False
    assert not any("secret" in v for v in pod["volumes"])
    audiences = sorted(v["projected"]["sources"][0]["serviceAccountToken"]["audience"]
                       for v in pod["volumes"] if "projected" in v)
    assert audiences == ["api://AzureADTokenExchange", "sts.amazonaws.com"]
    # on AKS it runs on the system pool (tolerates its taint only), never on GPU nodes
    assert pod["tolerations"] == [
        {"key": "CriticalAddonsOnly", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    ]
    namespace = next(r for r in _planned().recording.by_type("kubernetes:core/v1:Namespace")
                     if r.inputs["metadata"]["name"] == "gpufleet-sync")
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert all(v.passed for v in _planned().verdicts if v.enforcement == "mandatory")


def test_the_jobs_identities_reach_exactly_its_two_stores() -> None:
    plan = _planned()
    subject = "system:serviceaccount:gpufleet-sync:sync-datasets"
    # AWS: a role only this service account of the AKS issuer may assume, reading the home only
    (role,) = _named(plan, ROLE, "sync-read")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    # the AKS issuer ends with '/': one statement per spelling of the condition keys (issue 26)
    assert [s["Action"] for s in trust] == ["sts:AssumeRoleWithWebIdentity"] * 2
    keys = [sorted(s["Condition"]["StringEquals"]) for s in trust]
    assert keys[0] == [k.replace("/:", ":") for k in keys[1]] or keys[1] == [k.replace("/:", ":") for k in keys[0]]
    for statement in trust:
        conditions = statement["Condition"]["StringEquals"]
        assert sorted(conditions.values()) == sorted([subject, "sts.amazonaws.com"])
    (policy,) = _named(plan, ROLE_POLICY, "sync-read")
    statements = json.loads(policy.inputs["policy"])["Statement"]
    resources = {r for s in statements for r in s["Resource"]}
    home = next(r for r in plan.recording.by_type(BUCKET) if r.name.endswith("eu-central-1")).name
    assert {r.rsplit(":", 1)[-1].split("/")[0] for r in resources} == {home, f"{home}-key"}
    actions = {a for s in statements for a in s["Action"]}
    assert actions == {"s3:ListBucket", "s3:GetObject", "kms:Decrypt"}
    # Azure: one federated credential for the same subject, Contributor on the copy's container only
    (federation,) = plan.recording.by_type(FEDERATION)
    assert federation.inputs["subject"] == subject
    assert federation.inputs["audiences"] == ["api://AzureADTokenExchange"]
    (assignment,) = _named(plan, ASSIGNMENT, "sync")
    assert assignment.inputs["scope"].endswith(
        "datasets-azure-swedencentral-account-id/blobServices/default/containers/datasets")
    assert assignment.inputs["roleDefinitionId"].endswith("ba92f5b4-2d11-453d-a403-e96b0029c9fe")


def test_an_azure_home_is_read_over_the_link_through_its_private_endpoint() -> None:
    plan = _planned("azure/swedencentral", vpn=True)
    (job,) = _jobs(plan)
    assert job.region == "eu-north-1"
    assert job.inputs["metadata"]["annotations"]["gpufleet.io/sync-source"] == "azure/swedencentral"
    (alias,) = _pod(job)["hostAliases"]
    assert alias["hostnames"][0].endswith(".blob.core.windows.net")
    assert alias["ip"].startswith("192.0.2.")
    (assignment,) = _named(plan, ASSIGNMENT, "sync")  # Reader on the home container
    assert assignment.inputs["roleDefinitionId"].endswith("2a2b9908-6ea1-4ae2-8e65-a410df84e7d1")
    (policy,) = _named(plan, ROLE_POLICY, "sync-write")
    actions = {a for s in json.loads(policy.inputs["policy"])["Statement"] for a in s["Action"]}
    assert {"s3:PutObject", "kms:GenerateDataKey"} <= actions
    assert "s3:*" not in actions
    assert all(v.passed for v in plan.verdicts if v.enforcement == "mandatory")


def test_an_azure_home_without_the_link_gets_no_job_and_a_warning() -> None:
    plan = _planned("azure/swedencentral")
    assert _jobs(plan) == []
    jobs, warnings = sync_plans(plan.plan)
    assert jobs == []
    assert warnings == [
        "storage 'datasets': the copy in aws/eu-north-1 gets no sync job: its home "
        "azure/swedencentral denies public network access, so the other cloud reaches it only "
        "over the fleet link; set network.interconnect: vpn"
    ]


def test_an_azure_home_without_a_cluster_has_no_endpoint_on_the_link() -> None:
    data = _fleet("azure/northeurope", vpn=True)
    data["clouds"]["azure"]["regions"] = ["swedencentral", "northeurope"]
    jobs, warnings = sync_plans(build_plan(load_fleet(data), "t"))
    assert [j.destination for j in jobs] == []
    (warning,) = warnings  # the Azure copy in swedencentral is filled by object replication
    assert warning.startswith("storage 'datasets': the copy in aws/eu-north-1 gets no sync job: "
                              "its home azure/northeurope holds no cluster")


def test_no_job_in_the_first_stage() -> None:
    assert _jobs(_planned(second_stage=False)) == []


@pytest.mark.parametrize(("churn", "hourly"), [(0.0, False), (0.99, False), (1.0, True), (500.0, True)])
def test_churn_decides_hourly_or_daily(churn: float, hourly: bool) -> None:
    minute, hour, *_ = schedule("datasets/azure/swedencentral", churn).split()
    assert 0 <= int(minute) < 60
    assert (hour == "*") is hourly


# -- sovereignty-storage-residency follows copies and paths -------------------------------------

residency = sovereignty.validate_storage_residency


def test_s3_replication_from_a_source_outside_the_jurisdictions_is_refused() -> None:
    source = res(BUCKET, {"region": "us-east-1"}, name="src")
    replica = res(BUCKET, {"region": "eu-central-1"}, name="copy")
    replication = res(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        {"bucket": "src", "rules": [{"destination": {"bucket": "arn:aws:s3:::copy"}}]}, name="repl",
    )
    found = messages(residency, stack_args([source, replica, replication], EU))
    assert any("'repl': replication reads data from bucket 'src'; source region 'us-east-1' is in US"
               in m for m in found)


def test_azure_object_replication_from_a_source_outside_is_refused_and_unknown_fails_closed() -> None:
    source = res(STORAGE_ACCOUNT, {"location": "eastus", "accountName": "src"}, name="src")
    target = res(STORAGE_ACCOUNT, {"location": "swedencentral", "accountName": "copy"}, name="copy")
    policy = res("azure-native:storage:ObjectReplicationPolicy",
                 {"sourceAccount": "src", "destinationAccount": "copy"}, name="orp")
    found = messages(residency, stack_args([source, target, policy], EU))
    assert any("'orp': object replication reads data from storage account 'src'; source region "
               "'eastus' is in US" in m for m in found)
    lost = res("azure-native:storage:ObjectReplicationPolicy",
               {"sourceAccount": "src", "destinationAccount": "elsewhere"}, name="lost")
    found = messages(residency, stack_args([source, lost], EU))
    assert any("'lost': object replication copies data to storage account 'elsewhere'; destination "
               "region cannot be determined" in m for m in found)


def _sync_job(annotations: dict[str, str]) -> Any:
    return res(CRON_JOB, {"metadata": {
        "labels": {"app.kubernetes.io/component": "dataset-sync"}, "annotations": annotations}},
        name="sync")


def test_a_sync_job_path_outside_the_jurisdictions_is_refused_naming_the_path() -> None:
    job = _sync_job({"gpufleet.io/sync-source": "aws/us-east-1",
                     "gpufleet.io/sync-destination": "azure/swedencentral"})
    (message,) = messages(residency, stack_args([job], EU))
    assert "dataset sync job copies data from aws/us-east-1 to azure/swedencentral; source region " \
           "'us-east-1' is in US" in message
    inside = _sync_job({"gpufleet.io/sync-source": "aws/eu-central-1",
                        "gpufleet.io/sync-destination": "azure/swedencentral"})
    assert messages(residency, stack_args([inside], EU)) == []


def test_a_sync_job_whose_destination_cannot_be_located_fails_closed() -> None:
    job = _sync_job({"gpufleet.io/sync-source": "aws/eu-central-1"})
    (message,) = messages(residency, stack_args([job], EU))
    assert "destination cannot be located (annotation 'gpufleet.io/sync-destination' is missing" in message
