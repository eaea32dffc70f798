"""Edges of the policy pack that a user or an attacker would see (issue 32): sovereignty that
fails closed when nothing is configured, violations attached to the resource that breaks the
rule, sync jobs recognised by their label and kind only, unlocatable regions named and
exemptible only where the location cannot be verified, and the messages that say why a
resource cannot be located (kubeconfigs by object or text, bare addresses, several clusters)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy import PolicyProviderResource, PolicyResource
from pulumi_policy.proxy import unknown_checking_proxy

from gpufleet.policy import security, sovereignty
from gpufleet.policy.incluster import NAMESPACE
from gpufleet.policy.locations import CatalogRegion, OutOfScope, Unverifiable, catalog_region, locate, location_rule
from tests.conftest import fleet_of
from tests.test_policies import BUCKET, EU, STORAGE_ACCOUNT, provider, res, resource_args, stack_args

CRON_JOB = "kubernetes:batch/v1:CronJob"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SYNC_LABELS = {"app.kubernetes.io/component": "dataset-sync"}
OUTSIDE = {"gpufleet.io/sync-source": "aws/us-east-1", "gpufleet.io/sync-destination": "azure/swedencentral"}


def reports(validate: Any, args: Any) -> list[tuple[str, str | None]]:
    """(message, urn) of every violation, as the Pulumi CLI receives them."""
    found: list[tuple[str, str | None]] = []
    validate(args, lambda message, urn=None: found.append((message, urn)))
    return found


# -- sovereignty without jurisdictions fails closed, naming the policy ---------------------------


def test_storage_residency_without_jurisdictions_refuses_the_stack_naming_the_policy() -> None:
    bucket = res(BUCKET, {"region": "eu-central-1"}, name="data")
    assert reports(sovereignty.validate_storage_residency, stack_args([bucket], {"jurisdictions": []})) == [(
        "sovereignty-storage-residency: no allowed jurisdictions configured; pass the output of `gpufleet "
        "policy-config --stack NAME` with --policy-pack-config", None)]


def test_allowed_regions_without_jurisdictions_refuses_the_resource_naming_the_policy() -> None:
    args = resource_args(BUCKET, {"region": "eu-central-1"}, config={"jurisdictions": []})
    assert reports(sovereignty.validate_allowed_regions, args) == [(
        "sovereignty-allowed-regions: no allowed jurisdictions configured; pass the output of `gpufleet "
        "policy-config --stack NAME` with --policy-pack-config", None)]


# -- a stack violation names the resource that breaks it ----------------------------------------


def test_a_residency_violation_is_attached_to_the_resource_outside() -> None:
    inside = res(BUCKET, {"region": "eu-central-1"}, name="home")
    outside = res(STORAGE_ACCOUNT, {"location": "uksouth"}, name="acct")
    [(message, urn)] = reports(sovereignty.validate_storage_residency, stack_args([inside, outside], EU))
    assert urn == outside.urn
    assert message.startswith(f"{STORAGE_ACCOUNT} 'acct': region 'uksouth' is in GB")


def test_two_jurisdictions_are_listed_sorted_and_apart() -> None:
    account = res(STORAGE_ACCOUNT, {"location": "uksouth"}, name="acct")
    [(message, _)] = reports(sovereignty.validate_storage_residency,
                             stack_args([account], {"jurisdictions": ["NL", "IE"]}))
    assert "outside the allowed jurisdictions IE, NL (allowed azure regions: " in message


def test_a_bucket_with_no_region_anywhere_fails_closed_saying_what_is_missing() -> None:
    bucket = res(BUCKET, {}, name="data", prov=provider())
    [(message, urn)] = reports(sovereignty.validate_storage_residency, stack_args([bucket], EU))
    assert urn == bucket.urn
    assert message.startswith(f"{BUCKET} 'data': region cannot be determined (no 'region' on the resource or "
                              "its provider); it must be a region in EU (allowed aws regions: ")


# -- a sync job is a labelled CronJob: nothing else is judged as one, and it is judged whole -----


def _with_sync_label(kind: str, annotations: dict[str, str]) -> PolicyResource:
    return res(kind, {"metadata": {"labels": SYNC_LABELS, "annotations": annotations}}, name="sync")


def test_a_sync_job_outside_is_refused_on_its_own_urn_naming_both_ends() -> None:
    job = _with_sync_label(CRON_JOB, OUTSIDE)
    [(message, urn)] = reports(sovereignty.validate_storage_residency, stack_args([job], EU))
    assert urn == job.urn
    assert message.startswith(f"{CRON_JOB} 'sync': dataset sync job copies data from aws/us-east-1 to "
                              "azure/swedencentral; source region 'us-east-1' is in US")


@pytest.mark.parametrize("job", [
    res(CRON_JOB, {"metadata": {"labels": {"app.kubernetes.io/component": "other"}, "annotations": OUTSIDE}}),
    res(CRON_JOB, {"metadata": {"annotations": OUTSIDE}}),
    res("kubernetes:apps/v1:Deployment", {"metadata": {"labels": SYNC_LABELS, "annotations": OUTSIDE}}),
])
def test_only_a_cronjob_labelled_as_the_sync_component_is_judged_as_a_sync_job(job: PolicyResource) -> None:
    assert reports(sovereignty.validate_storage_residency, stack_args([job], EU)) == []


# -- an unlocatable region: refused, exemptible only because it cannot be verified --------------


def test_a_region_outside_the_catalog_is_refused_unless_its_type_is_listed_as_unlocated() -> None:
    args = resource_args(BUCKET, {"region": "xx-nowhere-1"}, name="data", config=EU)
    [(message, _)] = reports(sovereignty.validate_allowed_regions, args)
    assert message.startswith(f"{BUCKET} 'data': region 'xx-nowhere-1' is not in the gpufleet catalog, so its "
                              "jurisdiction cannot be determined; allowed jurisdictions: EU")
    assert message.endswith(", or list the type in policies.unlocated_types of the spec")
    listed = resource_args(BUCKET, {"region": "xx-nowhere-1"}, config={**EU, "unlocated_types": [BUCKET]})
    assert reports(sovereignty.validate_allowed_regions, listed) == []


def test_a_known_region_outside_is_refused_even_when_its_type_is_listed_as_unlocated() -> None:
    args = resource_args(BUCKET, {"region": "us-east-1"}, name="data", config={**EU, "unlocated_types": [BUCKET]})
    [(message, _)] = reports(sovereignty.validate_allowed_regions, args)
    assert message.startswith(f"{BUCKET} 'data': region 'us-east-1' is in US")
    assert "unlocated_types" not in message


# -- where a resource lives: what a user sees when it cannot be known ----------------------------

EKS = "https://0123456789ABCDEF.gr7.eu-north-1.eks.amazonaws.com"
AKS = "https://fleet-1a2b3c.hcp.swedencentral.azmk8s.io:443"


def _kubernetes(kubeconfig: object) -> PolicyProviderResource:
    return PolicyProviderResource("pulumi:providers:kubernetes", unknown_checking_proxy({"kubeconfig": kubeconfig}),
                                  "urn:pulumi:t::p::pulumi:providers:kubernetes::k8s", "k8s")


def _servers(*servers: str) -> dict[str, Any]:
    return {"clusters": [{"name": f"c{i}", "cluster": {"server": s}} for i, s in enumerate(servers)]}


def test_a_kubeconfig_given_as_an_object_locates_its_cluster() -> None:
    """The kubernetes provider takes its kubeconfig as text or as an object: both are read."""
    assert locate(DEPLOYMENT, {}, _kubernetes(_servers(EKS))) == CatalogRegion(
        "aws", "eu-north-1", via="its EKS cluster, per its provider's kubeconfig")
    assert locate(DEPLOYMENT, {}, _kubernetes(json.dumps(_servers(EKS)))) == locate(
        DEPLOYMENT, {}, _kubernetes(_servers(EKS)))


@pytest.mark.parametrize("provider", [None, provider("eu-north-1")])
def test_a_kubernetes_resource_without_a_kubernetes_provider_cannot_be_located(provider: Any) -> None:
    assert locate(DEPLOYMENT, {}, provider) == Unverifiable(
        "a Kubernetes resource lives where its cluster lives, and it has no explicit kubernetes provider "
        "with a known kubeconfig")


def test_every_bare_address_server_is_named_after_a_named_one_and_ipv6_in_brackets() -> None:
    found = locate(DEPLOYMENT, {}, _kubernetes(_servers("https://k8s.example.com", "https://[2001:db8::1]:6443",
                                                        "https://10.0.0.1", "https://10.0.0.1:443")))
    assert found == Unverifiable(
        "its provider's kubeconfig names its server by the bare address 10.0.0.1, 2001:db8::1, which says "
        "nothing of the cluster or where it is (a --region argument beside it proves nothing)")


def test_a_kubeconfig_naming_clusters_in_two_places_cannot_be_located() -> None:
    assert locate(DEPLOYMENT, {}, _kubernetes(_servers(AKS, EKS))) == Unverifiable(
        "its provider's kubeconfig names clusters in several places (aws/eu-north-1, azure/swedencentral)")


def test_a_type_of_no_known_provider_names_the_known_ones() -> None:
    found = locate("oci:core/instance:Instance", {}, provider("eu-north-1"))
    assert found == Unverifiable(
        "no provider gpufleet knows owns the type (known: aws, aws-native, azure, azure-native, gcp, kubernetes)")


def test_a_gcp_region_is_named_as_outside_the_catalog() -> None:
    assert locate("gcp:storage/bucket:Bucket", {"location": "europe-west4"}, None) == Unverifiable(
        "location 'europe-west4' is a gcp location that is not in the gpufleet catalog, so its jurisdiction "
        "is unknown")


def test_a_stack_reference_with_its_provider_is_location_free() -> None:
    """It reads another stack's outputs: nothing to locate, provider or not (the engine gives
    every custom resource one)."""
    reference = PolicyProviderResource("pulumi:providers:pulumi", unknown_checking_proxy({}),
                                       "urn:pulumi:t::p::pulumi:providers:pulumi::default", "default")
    assert isinstance(locate("pulumi:pulumi:StackReference", {}, reference), OutOfScope)


def test_a_providers_own_type_finds_its_packages_rule() -> None:
    assert location_rule("pulumi:providers:gcp") is location_rule("gcp:storage/bucket:Bucket")
    assert location_rule("pulumi:providers:aws-native") == location_rule("aws-native:s3:Bucket")
    assert location_rule("pulumi:providers:oci") is None


def test_only_a_catalog_clouds_location_is_a_catalog_region() -> None:
    """A GCS location is never taken for a catalog region (its jurisdiction is judged apart)."""
    assert catalog_region("aws-native:s3:Bucket", {}, provider("eu-north-1")) == "eu-north-1"
    assert catalog_region("gcp:storage/bucket:Bucket", {"location": "EU"}, None) is None
    assert catalog_region("oci:core/instance:Instance", {"region": "eu-frankfurt-1"}, None) is None


# -- security-baseline: fail closed on what nobody reviewed; nothing judged that creates nothing --

UNREVIEWED = "aws:sagemaker/notebookInstance:NotebookInstance"


def test_a_type_nobody_reviewed_is_not_verified_unless_the_spec_lists_it() -> None:
    args = resource_args(UNREVIEWED, {}, name="nb", prov=provider("eu-north-1"), config={})
    assert reports(security.validate_security_baseline, args) == [(
        f"{UNREVIEWED} 'nb': security not verified: the security baseline has not reviewed this type; "
        "allowed: a reviewed type, or list the type in policies.unchecked_types of the spec after reviewing it "
        "yourself", None)]
    listed = resource_args(UNREVIEWED, {}, prov=provider("eu-north-1"), config={"unchecked_types": [UNREVIEWED]})
    assert reports(security.validate_security_baseline, listed) == []
    other = resource_args(UNREVIEWED, {}, prov=provider("eu-north-1"), config={"unchecked_types": ["aws:x/y:Z"]})
    assert len(reports(security.validate_security_baseline, other)) == 1


def test_a_plain_pulumi_preview_exempts_what_the_stacks_own_spec_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --policy-pack-config the pack reads the stack's gpufleet:fleet from the engine: the
    spec's own policies.unchecked_types exempts the type there too."""
    fleet = {**fleet_of("dev"), "policies": {"unchecked_types": [UNREVIEWED]}}
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"gpufleet:fleet": json.dumps(fleet)}))
    assert reports(security.validate_security_baseline, resource_args(UNREVIEWED, {}, prov=provider("eu-north-1"))) == []
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"gpufleet:fleet": json.dumps(fleet_of("dev"))}))
    assert len(reports(security.validate_security_baseline, resource_args(UNREVIEWED, {}, prov=provider("eu-north-1")))) == 1


def test_a_resource_of_an_unknown_provider_is_judged_but_a_component_or_provider_is_not() -> None:
    oci = PolicyProviderResource("pulumi:providers:oci", unknown_checking_proxy({}), "urn:p::oci", "oci")
    [(message, _)] = reports(security.validate_security_baseline,
                             resource_args("oci:core/instance:Instance", {}, name="vm", prov=oci, config={}))
    assert message.startswith("oci:core/instance:Instance 'vm': security not verified")
    assert reports(security.validate_security_baseline,
                   resource_args("oci:core/instance:Instance", {}, config={})) == []  # a component: no provider
    assert reports(security.validate_security_baseline, resource_args("pulumi:providers:aws", {}, config={})) == []


def test_in_cluster_objects_are_judged_by_the_in_cluster_controls() -> None:
    assert security.security_problems(NAMESPACE, {}) == []  # reviewed, nothing of its own to check
    assert reports(security.validate_security_baseline, resource_args(NAMESPACE, {}, config={})) == []
    [(message, _)] = reports(security.validate_security_baseline,
                             resource_args("kubernetes:core/v1:Pod", {}, name="p", prov=_kubernetes(_servers(EKS)),
                                           config={}))
    assert message.startswith("kubernetes:core/v1:Pod 'p': security not verified")


def test_a_bucket_without_its_controls_is_refused_on_its_urn_naming_every_missing_one() -> None:
    bucket = res(BUCKET, {"bucket": "b"}, name="data")
    assert reports(security.validate_security_coverage, stack_args([bucket], {})) == [(
        f"{BUCKET} 'data' has no a BucketPublicAccessBlock (S3.8), no a BucketServerSideEncryptionConfiguration "
        "with SSE-KMS (S3.17), no a BucketVersioning with status Enabled (S3.14), no a BucketPolicy that denies "
        "non-TLS requests (S3.5); allowed: every bucket carries all four controls", bucket.urn)]
