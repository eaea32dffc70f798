"""The guards fail closed: the location table, resources from other providers through
`gpufleet check --resources --spec` (exit 1 naming each), the exemption lists of the spec, and
the same verdicts through the CLI's analyzer door."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import PolicyProviderResource
from pulumi_policy.proxy import unknown_checking_proxy

from gpufleet import clouds
from gpufleet.cli import main
from gpufleet.policy import evaluate, policy_config, resources_from_json
from gpufleet.policy.locations import (
    GCP_MULTI_REGIONS,
    PROVIDERS,
    CatalogRegion,
    NamedPlace,
    OutOfScope,
    Unverifiable,
    known_packages,
    locate,
)
from gpufleet.spec import load_fleet
from tests.conftest import fleet_of
from tests.test_policy_pack import cli_verdicts, offline_verdicts

EKS_ENDPOINT = "https://0123456789ABCDEF.gr7.us-east-1.eks.amazonaws.com"
AKS_ENDPOINT = "https://fleet-1a2b3c.hcp.swedencentral.azmk8s.io:443"


@pytest.fixture(autouse=True)
def _no_stack_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)


def _provider(kind: str, **props: Any) -> PolicyProviderResource:
    return PolicyProviderResource(
        kind, unknown_checking_proxy(props), f"urn:pulumi:t::p::{kind}::p", "p"
    )


def _kubeconfig(server: str) -> str:
    return json.dumps({"clusters": [{"name": "c", "cluster": {"server": server}}]})


# -- the location table ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "props", "provider", "expected"),
    [
        ("aws:ec2/vpc:Vpc", {"region": "eu-west-1"}, None, CatalogRegion("aws", "eu-west-1")),
        ("aws:ec2/vpc:Vpc", {}, _provider("pulumi:providers:aws", region="eu-north-1"),
         CatalogRegion("aws", "eu-north-1")),
        ("aws-native:s3:Bucket", {}, _provider("pulumi:providers:aws-native", region="us-east-1"),
         CatalogRegion("aws", "us-east-1")),
        ("azure:storage/account:Account", {"location": "East US"},
         _provider("pulumi:providers:azure"), CatalogRegion("azure", "eastus")),
        ("azure-native:network:VirtualNetwork", {},
         _provider("pulumi:providers:azure-native", location="West Europe"),
         CatalogRegion("azure", "westeurope")),
        ("gcp:storage/bucket:Bucket", {"location": "eu"}, _provider("pulumi:providers:gcp"),
         NamedPlace("EU", frozenset({"EU", "EEA"}))),
        ("gcp:storage/bucket:Bucket", {"location": "ASIA"}, _provider("pulumi:providers:gcp"),
         NamedPlace("ASIA", frozenset())),
        ("random:index/randomPet:RandomPet", {}, _provider("pulumi:providers:random"),
         OutOfScope("random values live only in the Pulumi state")),
        ("gpufleet:aws:GpuCluster", {}, None,
         OutOfScope("a component resource: what it creates is judged resource by resource")),
    ],
)
def test_locate_reads_each_providers_own_fields_then_its_providers(
    kind: str, props: dict[str, Any], provider: PolicyProviderResource | None, expected: object
) -> None:
    assert locate(kind, unknown_checking_proxy(props), provider) == expected


def test_every_provider_in_the_table_cites_its_documentation() -> None:
    # the registered clouds' own packages (aws, azure-native) and the packages naming their
    # regions (aws-native, classic azure) are located by their models; the table has the rest
    located = {other.package: model.name for model in clouds.models() for other in model.located_packages}
    assert located == {"aws-native": "aws", "azure": "azure"}
    assert {"aws", "azure-native", *located}.isdisjoint(PROVIDERS)
    assert {"aws", "azure-native", "aws-native", "azure", "gcp", "kubernetes"} <= set(known_packages())
    sources = [rule.source for rule in PROVIDERS.values()]
    sources += [other.source for model in clouds.models() for other in model.located_packages]
    assert all(source.startswith("www.pulumi.com/registry/") for source in sources)
    assert GCP_MULTI_REGIONS["US"] == frozenset({"US"})


@pytest.mark.parametrize(
    ("kind", "props", "provider", "words"),
    [
        ("acme:foo:Bar", {}, _provider("pulumi:providers:acme"), "no provider gpufleet knows"),
        ("gcp:compute/instance:Instance", {"zone": "europe-west4-a"},
         _provider("pulumi:providers:gcp"), "'europe-west4-a' is a gcp location that is not in"),
        ("gcp:pubsub/topic:Topic", {}, _provider("pulumi:providers:gcp"),
         "no 'location' or 'region' or 'zone' on the resource or its provider"),
        ("kubernetes:core/v1:Namespace", {}, _provider("pulumi:providers:kubernetes"),
         "no explicit kubernetes provider with a known kubeconfig"),
        ("kubernetes:core/v1:Namespace", {},
         _provider("pulumi:providers:kubernetes", kubeconfig=_kubeconfig("https://k8s.example.com")),
         "names no EKS or AKS cluster endpoint"),
        ("kubernetes:core/v1:Namespace", {},
         _provider("pulumi:providers:kubernetes", kubeconfig=_kubeconfig("https://10.0.0.1")),
         "names its server by the bare address 10.0.0.1"),
    ],
)
def test_what_cannot_be_located_says_why(
    kind: str, props: dict[str, Any], provider: PolicyProviderResource, words: str
) -> None:
    where = locate(kind, unknown_checking_proxy(props), provider)
    assert isinstance(where, Unverifiable)
    assert words in where.why


@pytest.mark.parametrize(
    ("server", "expected"),
    [(EKS_ENDPOINT, ("aws", "us-east-1")), (AKS_ENDPOINT, ("azure", "swedencentral"))],
)
def test_a_kubernetes_resource_lives_where_its_cluster_lives(
    server: str, expected: tuple[str, str]
) -> None:
    provider = _provider("pulumi:providers:kubernetes", kubeconfig=_kubeconfig(server))
    where = locate("kubernetes:apps/v1:Deployment", unknown_checking_proxy({}), provider)
    assert isinstance(where, CatalogRegion)
    assert (where.cloud, where.region) == expected


# -- gpufleet check --resources FILE --spec FILE -------------------------------------------------

STRAYS: list[dict[str, Any]] = [
    {"type": "aws-native:s3:Bucket", "name": "stray-native", "region": "us-east-1"},
    {"type": "azure:storage/account:Account", "name": "stray-classic",
     "inputs": {"location": "eastus", "resourceGroupName": "rg"}},
    {"type": "gcp:storage/bucket:Bucket", "name": "stray-gcp", "inputs": {"location": "US"}},
]


def _spec(tmp_path: Path, **policies: list[str]) -> Path:
    fleet = fleet_of("prod-eu")
    if policies:
        fleet["policies"] = policies
    path = tmp_path / "Pulumi.eu.yaml"
    path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": fleet}}), encoding="utf-8")
    return path


def _check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], resources: list[dict[str, Any]],
    **policies: list[str],
) -> tuple[int, dict[str, list[str]], str]:
    path = tmp_path / "resources.json"
    path.write_text(json.dumps(resources), encoding="utf-8")
    code = main(["check", "--resources", str(path), "--spec", str(_spec(tmp_path, **policies)),
                 "--format", "json"])
    out, err = capsys.readouterr()
    if code == 2:
        return code, {}, err
    found = {
        v["policy"]: [x["message"] for x in v["violations"]]
        for v in json.loads(out)["policies"] if v["violations"]
    }
    return code, found, err


def test_stray_resources_of_other_providers_are_refused_each_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, found, _ = _check(tmp_path, capsys, STRAYS)
    assert code == 1
    messages = found["sovereignty-allowed-regions"]
    assert len(messages) == 3
    assert messages[0].startswith("aws-native:s3:Bucket 'stray-native': region 'us-east-1' is in US")
    assert messages[1].startswith(
        "azure:storage/account:Account 'stray-classic': region 'eastus' is in US"
    )
    assert messages[2] == (
        "gcp:storage/bucket:Bucket 'stray-gcp': location 'US' is in US, outside the allowed "
        "jurisdictions EU"
    )
    for policy in ("security-baseline", "required-tags"):
        assert [m.split(":", 2)[1] for m in found[policy]] == [
            "s3", "storage/account", "storage/bucket"
        ]
        assert all("not verified" in m for m in found[policy])


@pytest.mark.parametrize(
    ("resource", "words"),
    [
        ({"type": "acme:foo:Bar", "name": "thing"},
         "cannot verify the location of acme:foo:Bar 'thing': no provider gpufleet knows"),
        ({"type": "kubernetes:core/v1:Namespace", "name": "ns"},
         "cannot verify the location of kubernetes:core/v1:Namespace 'ns': a Kubernetes "
         "resource lives where its cluster lives"),
        ({"type": "gcp:storage/bucket:Bucket", "name": "asia", "inputs": {"location": "ASIA"}},
         "cannot verify the location of gcp:storage/bucket:Bucket 'asia': 'ASIA' spans"),
        ({"type": "azure:storage/container:Container", "name": "c"},
         "azure:storage/container:Container 'c': region cannot be determined (no 'location' on "
         "the resource (its provider has no default location))"),
    ],
)
def test_what_cannot_be_located_fails_closed_naming_the_exemption(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], resource: dict[str, Any], words: str
) -> None:
    code, found, _ = _check(tmp_path, capsys, [resource])
    assert code == 1
    [message] = found["sovereignty-allowed-regions"]
    assert message.startswith(words)
    assert message.endswith(", or list the type in policies.unlocated_types of the spec")


def test_a_resource_is_located_by_its_explicit_providers_region(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    provider = "urn:pulumi:check::check::pulumi:providers:aws::us"
    resources = [
        {"type": "pulumi:providers:aws", "name": "us", "urn": provider,
         "inputs": {"region": "us-west-2"}},
        {"type": "aws:sqs/queue:Queue", "name": "q", "provider": provider},
    ]
    code, found, _ = _check(tmp_path, capsys, resources)
    assert code == 1
    [message] = found["sovereignty-allowed-regions"]
    assert message.startswith("aws:sqs/queue:Queue 'q': region 'us-west-2' is in US")


def test_a_kubernetes_resource_on_an_eks_cluster_in_the_us_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    provider = "urn:pulumi:check::check::pulumi:providers:kubernetes::k8s"
    resources = [
        {"type": "pulumi:providers:kubernetes", "name": "k8s", "urn": provider,
         "inputs": {"kubeconfig": _kubeconfig(EKS_ENDPOINT)}},
        {"type": "kubernetes:core/v1:Namespace", "name": "ns", "provider": provider},
    ]
    code, found, _ = _check(tmp_path, capsys, resources)
    assert code == 1
    [message] = found["sovereignty-allowed-regions"]
    assert message.startswith(
        "kubernetes:core/v1:Namespace 'ns' (located by its EKS cluster, per its provider's "
        "kubeconfig): region 'us-east-1' is in US"
    )


def test_listed_types_pass_and_location_free_types_need_no_listing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resources = [
        {"type": "acme:foo:Bar", "name": "thing"},
        {"type": "tls:index/privateKey:PrivateKey", "name": "key"},
        {"type": "pulumi:pulumi:StackReference", "name": "other"},
        {"type": "mycorp:index:Platform", "name": "platform", "custom": False},
    ]
    code, found, _ = _check(
        tmp_path, capsys, resources,
        unlocated_types=["acme:foo:Bar"], unchecked_types=["acme:foo:Bar", "mycorp:index:Platform"],
    )
    assert not {"sovereignty-allowed-regions", "security-baseline", "required-tags"} & set(found)
    assert code == 0


def test_a_listed_type_with_a_known_location_outside_is_still_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, found, _ = _check(
        tmp_path, capsys, STRAYS[:1], unlocated_types=["aws-native:s3:Bucket"]
    )
    assert code == 1
    assert len(found["sovereignty-allowed-regions"]) == 1


@pytest.mark.parametrize("bad", ["s3 bucket", "aws:Bucket", "aws:*", "AWS:s3:Bucket"])
def test_a_bad_exemption_entry_is_a_spec_error_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    code, _, err = _check(tmp_path, capsys, STRAYS, unlocated_types=["tls:index:Thing", bad])
    assert code == 2
    assert "policies.unlocated_types[1]" in err
    assert "must be a Pulumi resource type token package:module:Type" in err
    assert "Traceback" not in err


# -- the policy config and the CLI's analyzer door ---------------------------------------------


def test_the_exemptions_flow_into_the_policy_config() -> None:
    fleet = {**fleet_of("prod-eu"), "policies": {
        "unlocated_types": ["acme:foo:Bar"], "unchecked_types": ["acme:foo:Bar"],
    }}
    config = policy_config(load_fleet(fleet))
    assert config["sovereignty-allowed-regions"]["unlocated_types"] == ["acme:foo:Bar"]
    assert config["security-baseline"] == {"unchecked_types": ["acme:foo:Bar"]}
    assert config["required-tags"]["unchecked_types"] == ["acme:foo:Bar"]


def test_the_cli_analyzer_sees_the_same_verdicts_on_stray_resources() -> None:
    provider = "urn:pulumi:check::check::pulumi:providers:aws-native::us"
    items: list[dict[str, Any]] = [
        {"type": "pulumi:providers:aws-native", "name": "us", "urn": provider,
         "inputs": {"region": "us-east-1"}},
        {"type": "aws-native:s3:Bucket", "name": "stray-native", "provider": provider},
        *STRAYS[1:],
        {"type": "acme:foo:Bar", "name": "thing", "provider": provider},
    ]
    resources = resources_from_json(items)
    config = policy_config(load_fleet(fleet_of("prod-eu")))
    offline = offline_verdicts(evaluate(resources, config))
    regions = {m for p, _, m in offline if p == "sovereignty-allowed-regions"}
    assert len(regions) == 4
    assert cli_verdicts(resources, config) == offline


# -- guards a file cannot talk its way around (issue 31) ---------------------------------------


def test_custom_false_does_not_exempt_an_unreviewed_instance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = {"type": "oci:Core/instance:Instance", "name": "box", "custom": False,
                "inputs": {"region": "us-ashburn-1"}}
    code, found, _ = _check(tmp_path, capsys, [instance])
    assert code == 1
    assert any("security not verified" in m for m in found["security-baseline"])
    assert found["sovereignty-allowed-regions"]
    code, found, _ = _check(tmp_path, capsys, [instance], unchecked_types=["oci:Core/instance:Instance"])
    assert not {"security-baseline", "sovereignty-allowed-regions"} & set(found)  # reviewed: a component


def test_a_kubeconfig_with_a_bare_ip_server_is_not_located_by_its_region_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    provider = "urn:pulumi:check::check::pulumi:providers:kubernetes::k8s"
    kubeconfig = json.dumps({
        "clusters": [{"name": "c", "cluster": {"server": "https://198.51.100.7"}}],
        "users": [{"name": "u", "user": {"exec": {"command": "aws", "args": [
            "eks", "get-token", "--cluster-name", "c", "--region", "eu-north-1"]}}}],
    })
    resources = [
        {"type": "pulumi:providers:kubernetes", "name": "k8s", "urn": provider, "inputs": {"kubeconfig": kubeconfig}},
        {"type": "kubernetes:core/v1:Namespace", "name": "ns", "provider": provider},
    ]
    code, found, _ = _check(tmp_path, capsys, resources)
    assert code == 1
    [message] = found["sovereignty-allowed-regions"]
    assert "bare address 198.51.100.7" in message
