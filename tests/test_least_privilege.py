"""Least privilege in every IAM and RBAC document the components write (issue 32): exactly the
actions each job needs, on exactly its resources, for exactly its principal; never `*` where the
design says least privilege (docs/design.md, "Guards that fail closed").

The pure document functions are checked against what an attacker holding the role could do
with it, then every document of a whole program (a home bucket replicated to a second AWS Region
and synced to Azure by a job: tests/test_datasync.py's fleet) is checked for scope.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from components.aws import decisions
from components.aws.autoscaler import NAMESPACE, SERVICE_ACCOUNT, autoscaler_policy, pod_identity_trust
from components.aws.replication import Target, replication_policy, replication_rules, trust_policy
from components.aws.syncaccess import bucket_policy, web_identity_trust
from components.azure import decisions as azure
from gpufleet.preview import RecordedResource
from tests.test_datasync import _planned

HOME = "arn:aws:s3:::fleet-data-eu-central-1"
HOME_KEY = "arn:aws:kms:eu-central-1:111122223333:key/home"
COPIES = [Target("eu-north-1", "arn:aws:s3:::fleet-data-eu-north-1", "arn:aws:kms:eu-north-1:111122223333:key/n"),
          Target("eu-west-1", "arn:aws:s3:::fleet-data-eu-west-1", "arn:aws:kms:eu-west-1:111122223333:key/w")]
# Azure built-in roles that reach beyond data in one container (learn.microsoft.com/azure/
# role-based-access-control/built-in-roles): Owner, Contributor, User Access Administrator.
BROAD_AZURE_ROLES = {"8e3af657-a8ff-443e-a75c-2fe8c4bcb635", "b24988ac-6180-42a0-ab88-20f7382dd24c",
                     "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"}


def _statements(document: str) -> list[dict[str, Any]]:
    return list(json.loads(document)["Statement"])


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _grants(document: str) -> set[tuple[str, str]]:
    """Every (action, resource) an Allow statement grants."""
    return {(action, resource) for s in _statements(document) if s["Effect"] == "Allow"
            for action in _listed(s["Action"]) for resource in _listed(s["Resource"])}


def _wildcards(document: str) -> list[str]:
    """Allowed actions with a `*`, and resources with one anywhere but at the end of one named
    bucket's objects (`<bucket>/*`) or one named log group's streams (`<group>:*`)."""
    found: list[str] = []
    for action, resource in _grants(document):
        if "*" in action:
            found.append(action)
        named = resource.removesuffix("/*").removesuffix(":*")
        if "*" in named or named.endswith(":") or named.count(":") < 5:
            found.append(resource)
    return found


# -- S3 replication -----------------------------------------------------------------------------


def test_only_amazon_s3_may_assume_the_replication_role() -> None:
    assert _statements(trust_policy()) == [
        {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole"}]


def test_the_replication_role_reads_the_home_and_writes_only_the_copies() -> None:
    grants = _grants(replication_policy("eu-central-1", HOME, HOME_KEY, COPIES))
    assert grants == {
        ("s3:GetReplicationConfiguration", HOME), ("s3:ListBucket", HOME),
        ("s3:GetObjectVersionForReplication", f"{HOME}/*"), ("s3:GetObjectVersionAcl", f"{HOME}/*"),
        ("s3:GetObjectVersionTagging", f"{HOME}/*"),
        *((action, f"{t.bucket_arn}/*") for t in COPIES
          for action in ("s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags")),
        ("kms:Decrypt", HOME_KEY),
        *((action, t.key_arn) for t in COPIES for action in ("kms:Encrypt", "kms:GenerateDataKey")),
    }
    assert _wildcards(replication_policy("eu-central-1", HOME, HOME_KEY, COPIES)) == []


def test_the_replication_role_uses_each_key_only_through_s3_of_its_region() -> None:
    """Decrypt with the home's key only via S3 in the home's Region, encrypt with a copy's key
    only via S3 in that copy's Region: a stolen session cannot use the keys from elsewhere."""
    kms = [s for s in _statements(replication_policy("eu-central-1", HOME, HOME_KEY, COPIES))
           if any(a.startswith("kms:") for a in s["Action"])]
    assert {(tuple(s["Resource"]), s["Condition"]["StringLike"]["kms:ViaService"]) for s in kms} == {
        ((HOME_KEY,), "s3.eu-central-1.amazonaws.com"),
        ((COPIES[0].key_arn,), "s3.eu-north-1.amazonaws.com"),
        ((COPIES[1].key_arn,), "s3.eu-west-1.amazonaws.com"),
    }
    assert all(set(s["Condition"]) == {"StringLike"} for s in kms)


def test_every_replication_rule_reencrypts_with_its_copys_key_and_keeps_versions() -> None:
    rules: list[dict[str, Any]] = json.loads(json.dumps(replication_rules(COPIES)))  # as the engine gets them
    assert [(r["id"], r["priority"], r["destination"]["bucket"]) for r in rules] == [
        ("to-eu-north-1", 0, COPIES[0].bucket_arn), ("to-eu-west-1", 1, COPIES[1].bucket_arn)]
    for rule, target in zip(rules, COPIES, strict=True):
        assert rule["status"] == "Enabled"
        assert rule["filter"] == {"prefix": ""}
        assert rule["destination"]["encryption_configuration"] == {"replica_kms_key_id": target.key_arn}
        assert rule["destination"]["storage_class"] == "STANDARD"
        assert rule["source_selection_criteria"] == {"sse_kms_encrypted_objects": {"status": "Enabled"}}
        assert rule["delete_marker_replication"] == {"status": "Enabled"}  # a marker, never a version


# -- a sync job's web identity role -------------------------------------------------------------


def test_only_one_service_account_of_one_issuer_may_assume_a_sync_role() -> None:
    [statement] = _statements(web_identity_trust(
        "arn:aws:iam::111122223333:oidc-provider/issuer.example/abc", "https://issuer.example/abc",
        "system:serviceaccount:gpufleet-sync:sync-datasets"))
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/issuer.example/abc"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {  # equality: a StringLike with `*` would admit any account
            "issuer.example/abc:sub": "system:serviceaccount:gpufleet-sync:sync-datasets",
            "issuer.example/abc:aud": "sts.amazonaws.com",
        }},
    }


@pytest.mark.parametrize("writer", [False, True])
def test_a_sync_role_reaches_one_bucket_and_one_key(writer: bool) -> None:
    document = bucket_policy("eu-central-1", HOME, HOME_KEY, writer=writer)
    reads = {("s3:ListBucket", HOME), ("s3:GetObject", f"{HOME}/*"), ("kms:Decrypt", HOME_KEY)}
    writes = {(a, f"{HOME}/*") for a in ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                                          "s3:ListMultipartUploadParts")} | {("kms:GenerateDataKey", HOME_KEY)}
    assert _grants(document) == (reads | writes if writer else reads)  # a reader never writes the home
    assert _wildcards(document) == []
    [kms] = [s for s in _statements(document) if s["Resource"] == [HOME_KEY]]
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "s3.eu-central-1.amazonaws.com"}}


# -- the cluster's own roles --------------------------------------------------------------------


def test_cluster_and_node_roles_trust_one_service_and_attach_only_the_eks_policies() -> None:
    [statement] = _statements(decisions.assume_role_policy("eks.amazonaws.com"))
    assert statement == {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"},
                         "Action": ["sts:AssumeRole"]}
    assert decisions.managed_policy_arn("us-gov-west-1", "AmazonEKSClusterPolicy") == \
        "arn:aws-us-gov:iam::aws:policy/AmazonEKSClusterPolicy"
    assert decisions.managed_policy_arn("cn-north-1", "AmazonEKS_CNI_Policy") == \
        "arn:aws-cn:iam::aws:policy/AmazonEKS_CNI_Policy"
    assert decisions.managed_policy_arn("eu-north-1", "AmazonEKSWorkerNodePolicy") == \
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"
    assert not {"AdministratorAccess", "PowerUserAccess", "AmazonS3FullAccess"} & {
        *decisions.CLUSTER_POLICIES, *decisions.NODE_POLICIES}


def test_the_flow_log_role_writes_one_log_group_only() -> None:
    group = "arn:aws:logs:eu-north-1:111122223333:log-group:flow"
    assert _grants(decisions.flow_logs_policy(group)) == {
        (action, resource) for resource in (group, f"{group}:*")
        for action in ("logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams")
    }


# -- the EKS Cluster Autoscaler's Pod Identity role ----------------------------------------------


def test_the_autoscaler_scales_only_its_clusters_named_groups_and_reads_the_rest() -> None:
    """A stolen autoscaler session may resize or terminate only this cluster's groups (named by
    ARN, in the region's partition) and read its node groups; `*` only on actions that take no
    resource (Describe/Get: cluster-autoscaler README, "Full Cluster Autoscaler Features Policy")."""
    document = autoscaler_policy("cn-north-1", "111122223333", "fleet-cn", ["gpu-b", "gpu-a"])
    group = "arn:aws-cn:autoscaling:cn-north-1:111122223333:autoScalingGroup:*:autoScalingGroupName/"
    writes = {(a, r) for a, r in _grants(document) if r != "*"}
    assert writes == {
        *((action, group + name) for name in ("gpu-a", "gpu-b")
          for action in ("autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup")),
        ("eks:DescribeNodegroup", "arn:aws-cn:eks:cn-north-1:111122223333:nodegroup/fleet-cn/*/*"),
    }
    anywhere = sorted(a for a, r in _grants(document) if r == "*")
    assert anywhere
    assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in anywhere), anywhere
    assert all(s["Effect"] == "Allow" and "*" not in json.dumps(s["Action"]) for s in _statements(document))
    other = autoscaler_policy("eu-north-1", "444455556666", "fleet-eu", ["gpu-a"])
    assert {r for _, r in _grants(other) if r != "*"} == {
        "arn:aws:autoscaling:eu-north-1:444455556666:autoScalingGroup:*:autoScalingGroupName/gpu-a",
        "arn:aws:eks:eu-north-1:444455556666:nodegroup/fleet-eu/*/*"}


def test_only_the_autoscalers_service_account_of_one_cluster_may_assume_its_role() -> None:
    [statement] = _statements(pod_identity_trust("fleet-eu"))
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {  # the session tags EKS Pod Identity sets, each by equality
            "aws:RequestTag/eks-cluster-name": "fleet-eu",
            "aws:RequestTag/kubernetes-namespace": NAMESPACE,
            "aws:RequestTag/kubernetes-service-account": SERVICE_ACCOUNT,
        }},
    }
    assert (NAMESPACE, SERVICE_ACCOUNT) == ("kube-system", "cluster-autoscaler")


# -- Azure role assignments ---------------------------------------------------------------------


def test_a_sync_job_reads_a_home_and_writes_only_a_copy() -> None:
    assert azure.sync_role(writer=False) == azure.BLOB_READER_ROLE == "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
    assert azure.sync_role(writer=True) == azure.BLOB_CONTRIBUTOR_ROLE == "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
    assert not {azure.BLOB_READER_ROLE, azure.BLOB_CONTRIBUTOR_ROLE, azure.NETWORK_CONTRIBUTOR_ROLE,
                azure.RBAC_CLUSTER_ADMIN_ROLE} & BROAD_AZURE_ROLES


def test_role_ids_and_scopes_name_one_role_and_one_container() -> None:
    assert azure.role_definition_id("sub-1", azure.NETWORK_CONTRIBUTOR_ROLE) == (
        "/subscriptions/sub-1/providers/Microsoft.Authorization/roleDefinitions/4d97b98b-1d4f-4787-a291-c67834d212e7")
    account = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a"
    assert azure.container_scope(account, "datasets") == f"{account}/blobServices/default/containers/datasets"


# -- every document of a whole program -----------------------------------------------------------


def _by_type(kind: str) -> list[RecordedResource]:
    return _planned().recording.by_type(kind)


def test_no_inline_role_policy_of_the_program_grants_a_wildcard() -> None:
    policies = _by_type("aws:iam/rolePolicy:RolePolicy")
    assert {p.name.rsplit("-", 1)[-1] for p in policies} >= {"policy"}  # replication and sync roles are there
    assert any("replication" in p.name for p in policies)
    assert any("sync" in p.name for p in policies)
    for policy in policies:
        if policy.name.endswith("-autoscaler"):  # the Cluster Autoscaler's reads take no resource
            grants = _grants(policy.inputs["policy"])
            assert all(a.split(":")[1].startswith(("Describe", "Get")) for a, r in grants if r == "*"), policy.name
            assert {r.rsplit("/", 1)[-1] for a, r in grants if a.startswith("autoscaling:") and r != "*"} == \
                {"eks-system-mock", "eks-train-p5-48xlarge-mock"}  # this cluster's groups (the mocks' names)
            continue
        assert _wildcards(policy.inputs["policy"]) == [], policy.name
        for statement in _statements(policy.inputs["policy"]):
            assert statement["Effect"] == "Allow"
            if any(a.startswith("kms:") for a in _listed(statement["Action"])):
                assert "kms:ViaService" in json.dumps(statement["Condition"]), policy.name


def test_every_role_of_the_program_trusts_one_named_principal() -> None:
    roles = _by_type("aws:iam/role:Role")
    assert roles
    for role in roles:
        for statement in _statements(role.inputs["assumeRolePolicy"]):
            principal = statement["Principal"]
            assert principal != "*", role.name
            assert set(principal) <= {"Service", "Federated"}, role.name
            assert "*" not in json.dumps(principal), role.name
            if "Federated" in principal:
                assert set(statement["Condition"]) == {"StringEquals"}, role.name


def test_every_managed_policy_the_program_attaches_is_an_eks_one() -> None:
    attached = {a.inputs["policyArn"].rsplit("/", 1)[-1] for a in _by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert attached == {*decisions.CLUSTER_POLICIES, *decisions.NODE_POLICIES}


def test_every_azure_role_assignment_is_a_narrow_role_on_one_resource() -> None:
    assignments = _by_type("azure-native:authorization:RoleAssignment")
    assert len(assignments) >= 3  # the cluster's network role, the deployer's and the sync job's data role
    vnets = {f"{v.name}-id" for v in _by_type("azure-native:network:VirtualNetwork")}  # the mocks' ids
    clusters = {f"{c.name}-id" for c in _by_type("azure-native:containerservice:ManagedCluster")}
    for assignment in assignments:
        scope = assignment.inputs["scope"]
        if assignment.name.endswith("-deployer-admin"):
            # whoever runs `pulumi up` administers one cluster's Kubernetes API for the in-cluster
            # layer (Azure RBAC on, local accounts off): that cluster, never a group or subscription
            assert scope in clusters, assignment.name
            assert assignment.inputs["roleDefinitionId"] == azure.role_definition_id(
                "00000000-0000-0000-0000-000000000003", azure.RBAC_CLUSTER_ADMIN_ROLE), assignment.name
            continue
        # one VNet (the cluster joins its subnet) or one blob container; never a subscription,
        # a resource group or a whole storage account
        assert scope in vnets or "/blobServices/default/containers/" in scope, assignment.name
        assert assignment.inputs["roleDefinitionId"].rsplit("/", 1)[-1] not in BROAD_AZURE_ROLES, assignment.name
        assert assignment.inputs["principalType"] == "ServicePrincipal", assignment.name
    [network] = [a for a in assignments if a.name.endswith("-network-contributor")]
    assert network.inputs["roleDefinitionId"].endswith(azure.NETWORK_CONTRIBUTOR_ROLE)
    assert network.inputs["scope"] in vnets
    [sync] = [a for a in assignments if "sync" in a.name]
    assert sync.inputs["roleDefinitionId"].endswith(azure.BLOB_CONTRIBUTOR_ROLE)  # the Azure copy is written


def test_no_kubernetes_role_is_written_and_the_sync_job_has_no_api_token() -> None:
    """The in-cluster layer grants nothing in the Kubernetes API: no Role or binding, and the
    sync job's pod mounts no service account token (it never talks to the API server)."""
    recording = _planned().recording
    assert not [r.type for r in recording.resources if r.type.startswith("kubernetes:rbac.authorization.k8s.io")]
    [job] = recording.by_type("kubernetes:batch/v1:CronJob")
    pod = job.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False


def test_an_issuer_with_a_trailing_slash_gets_one_statement_per_spelling_each_as_narrow() -> None:
    """An AKS issuer URL ends with '/': both spellings of the condition key, each the same
    condition on one subject and STS as audience; nothing else is trusted."""
    statements = _statements(web_identity_trust(
        "arn:aws:iam::111122223333:oidc-provider/aks.example/t/", "https://aks.example/t/",
        "system:serviceaccount:gpufleet-sync:sync-datasets"))
    assert [s["Condition"] for s in statements] == [
        {"StringEquals": {f"{host}:sub": "system:serviceaccount:gpufleet-sync:sync-datasets",
                          f"{host}:aud": "sts.amazonaws.com"}}
        for host in ("aks.example/t/", "aks.example/t")]
    assert {json.dumps(s["Principal"]) for s in statements} == {
        '{"Federated": "arn:aws:iam::111122223333:oidc-provider/aks.example/t/"}'}


@pytest.mark.parametrize("document", [
    trust_policy, lambda: replication_policy("eu-central-1", HOME, HOME_KEY, COPIES),
    lambda: bucket_policy("eu-central-1", HOME, HOME_KEY, writer=True),
    lambda: web_identity_trust("arn:aws:iam::1:oidc-provider/i", "https://i", "s"),
    lambda: decisions.flow_logs_policy("g"), lambda: autoscaler_policy("eu-north-1", "1", "c", ["g"]),
    lambda: pod_identity_trust("c"),
], ids=["replication-trust", "replication", "sync-bucket", "sync-trust", "flow-logs", "autoscaler",
        "autoscaler-trust"])
def test_every_document_names_the_current_policy_language(document: Callable[[], str]) -> None:
    """IAM reads a document without "Version": "2012-10-17" in the 2008 language, where policy
    variables are literal text (IAM User Guide, "IAM JSON policy elements: Version"). Each
    document is written while the test runs, not while the module is collected, so a mistake
    made in a document function (a mutation run switches one on per test) is seen."""
    assert json.loads(document())["Version"] == "2012-10-17"
