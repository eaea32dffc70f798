"""The name rules agree with the clouds' machine-readable models, where those are installed.

CI does not install botocore or the Azure SDK packages: each test skips cleanly without them.
Nothing is imported from the SDKs; their model files are read from where `find_spec` finds them.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpufleet.catalog.limits import name_rules

# Names the property tests draw: every character class the rules distinguish (no newline: `$`
# in the SDKs' patterns matches before one).
NAMES = st.text(alphabet="az09AZ-_.()/é ", max_size=100)


def package_dir(name: str) -> Path:
    """The directory of an installed package, or skip the test when it is not installed."""
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        spec = None
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{name} is not installed (CI does not install it)")
    return Path(next(iter(spec.submodule_search_locations)))


def botocore_model(service: str) -> dict[str, Any]:
    data = package_dir("botocore") / "data" / service
    path = sorted(data.glob("*/service-2.json*"))[-1]
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return json.loads(raw)


def _ours(kind: str, source: str, name: str) -> bool:
    """Whether `name` meets every rule of `kind` taken from `source` (other rules are ours to add)."""
    return all(rule.pattern.fullmatch(name) for rule in name_rules(kind) if source in rule.source)


def test_eks_cluster_name_rules_are_botocores() -> None:
    shape = botocore_model("eks")["shapes"]["ClusterName"]
    rules = name_rules("eks_cluster")
    assert rules[0].pattern.pattern == f".{{{shape['min']},{shape['max']}}}"
    assert rules[1].pattern.pattern == shape["pattern"].removeprefix("^")


def test_eks_node_group_name_has_no_constraint_in_botocore() -> None:
    model = botocore_model("eks")
    request = model["shapes"][model["operations"]["CreateNodegroup"]["input"]["shape"]]
    shape = model["shapes"][request["members"]["nodegroupName"]["shape"]]
    assert shape == {"type": "string"}


@pytest.mark.parametrize(("kind", "shape"), [("eks_ami_type", "AMITypes"), ("eks_capacity_type", "CapacityTypes")])
def test_every_eks_enum_value_we_accept_is_in_botocore(kind: str, shape: str) -> None:
    enum = set(botocore_model("eks")["shapes"][shape]["enum"])
    (rule,) = name_rules(kind)
    assert set(rule.pattern.pattern.split("|")) <= enum


def test_subnet_sizes_and_reserved_addresses_are_in_the_ec2_model() -> None:
    text = botocore_model("ec2")["operations"]["CreateSubnet"]["documentation"]
    assert "between a /28 netmask (16 IP addresses) and a /16 netmask (65,536 IP addresses)" in text
    assert "reserves both the first four and the last IPv4 address in each subnet" in text


def _url_validation(package: str, parameter: str) -> tuple[int, int, str | None]:
    """(min_length, max_length, pattern) of one URL parameter in the newest API version of an Azure SDK.

    The autorest-generated packages (azure-mgmt-containerservice 34.0.0, azure-mgmt-storage 22.0.0)
    carry these; the TypeSpec-generated ones (41.x, 25.x) do not, and the test skips.
    """
    root = package_dir(package)
    versions = sorted(p for p in root.glob("v20*") if p.is_dir())
    if not versions:
        pytest.skip(f"this {package} carries no per-API-version validation")
    found = re.search(
        rf'url\(\s*"{parameter}",\s*{parameter},\s*"str",\s*max_length=(\d+),\s*min_length=(\d+)(?:,\s*pattern=r"([^"]+)")?',
        "\n".join(p.read_text(encoding="utf-8") for p in (versions[-1] / "operations").glob("*.py")),
    )
    assert found is not None, f"{parameter} validation not found in {versions[-1]}"
    return int(found[2]), int(found[1]), found[3]


def _sdk_accepts(validation: tuple[int, int, str | None], name: str) -> bool:
    """The SDK serializer's check: length bounds and `re.match` of the pattern."""
    low, high, pattern = validation
    return low <= len(name) <= high and (pattern is None or re.match(pattern, name) is not None)


SDK_RULES = [
    ("aks_cluster", "azure.mgmt.containerservice", "resource_name", "azure-mgmt-containerservice 34.0.0"),
    ("aks_agent_pool", "azure.mgmt.containerservice", "agent_pool_name", "azure-mgmt-containerservice 34.0.0"),
    ("azure_storage_account", "azure.mgmt.storage", "account_name", "azure-mgmt-storage 22.0.0"),
    ("azure_resource_group", "azure.mgmt.storage", "resource_group_name", "azure-mgmt-storage 22.0.0"),
    ("azure_blob_container", "azure.mgmt.storage", "container_name", "azure-mgmt-storage 22.0.0"),
]


@pytest.mark.parametrize(("kind", "package", "parameter", "source"), SDK_RULES)
def test_azure_name_rules_agree_with_the_sdk_validation(kind: str, package: str, parameter: str, source: str) -> None:
    validation = _url_validation(package, parameter)

    @given(NAMES)
    def agrees(name: str) -> None:
        assert _ours(kind, source, name) == _sdk_accepts(validation, name)

    agrees()


def test_eks_create_cluster_name_is_the_checked_cluster_name_shape() -> None:
    """deploy-readiness checks the EKS cluster's `name` input against ClusterName: CreateCluster
    takes its `name` in that shape."""
    model = botocore_model("eks")
    request = model["shapes"][model["operations"]["CreateCluster"]["input"]["shape"]]
    assert request["members"]["name"]["shape"] == "ClusterName"
    nodegroup = model["shapes"][model["operations"]["CreateNodegroup"]["input"]["shape"]]
    assert "nodegroupName" in nodegroup["required"]


def test_eks_node_group_scaling_has_no_model_maximum() -> None:
    """botocore's model bounds no node group size: the 450 nodes per managed node group are a
    service quota (catalog/data/limits.csv), so the planner, not the SDK, must respect them."""
    model = botocore_model("eks")
    config = model["shapes"]["NodegroupScalingConfig"]["members"]
    for member in ("minSize", "maxSize", "desiredSize"):
        assert "max" not in model["shapes"][config[member]["shape"]]


BOTOCORE_SHAPES = [
    ("iam_role", "iam", "roleNameType"),
    ("iam_policy", "iam", "policyNameType"),
    ("iam_instance_profile", "iam", "instanceProfileNameType"),
    ("ec2_launch_template", "ec2", "LaunchTemplateName"),
    ("cloudwatch_log_group", "logs", "LogGroupName"),
    ("kms_alias", "kms", "AliasNameType"),
    ("autoscaling_tag_key", "autoscaling", "TagKey"),
    ("autoscaling_tag_value", "autoscaling", "TagValue"),
]


@pytest.mark.parametrize(("kind", "service", "shape_name"), BOTOCORE_SHAPES)
def test_name_rules_agree_with_botocore_shapes(kind: str, service: str, shape_name: str) -> None:
    """Our length rule is the shape's bounds; where the shape has a pattern, a name passes
    our rules from this source exactly when it matches the shape (ASCII, as the services read
    `\\w`)."""
    shape = botocore_model(service)["shapes"][shape_name]
    rules = name_rules(kind)
    assert rules[0].pattern.pattern == f".{{{shape.get('min', 0)},{shape['max']}}}"
    if kind.startswith("autoscaling"):
        return  # any Unicode text: nothing of ours to compare beyond the length
    theirs = re.compile(shape["pattern"].removeprefix("^").removesuffix("$"), re.ASCII)

    @given(NAMES)
    def agrees(name: str) -> None:
        ours = all(rule.pattern.fullmatch(name) for rule in rules[:2])
        assert ours == (
            shape.get("min", 0) <= len(name) <= shape["max"] and theirs.fullmatch(name) is not None
        )

    agrees()


def test_federated_credential_rule_is_the_msi_sdk_validation() -> None:
    """azure-mgmt-msi 7.0.0 (autorest, API 2023-01-31) validates the name by pattern only."""
    root = package_dir("azure.mgmt.msi")
    versions = sorted(p for p in root.glob("v20*") if p.is_dir())
    if not versions:
        pytest.skip("this azure-mgmt-msi carries no per-API-version validation")
    text = (versions[-1] / "operations" / "_federated_identity_credentials_operations.py").read_text()
    found = re.search(r'federated_identity_credential_resource_name,\s*"str",\s*pattern=r"([^"]+)"', text)
    assert found is not None
    assert found[1] == "^" + name_rules("azure_federated_credential")[0].pattern.pattern + "$"
