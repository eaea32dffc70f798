"""The pack as a whole: a well-formed CrossGuard pack (checked without starting its server), the
same verdicts through the CLI's analyzer servicer and through `evaluate`, the sample stacks'
recordings passing, and mutated recordings refused with the right message."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.policy import _PolicyAnalyzerServicer  # pyright: ignore[reportPrivateUsage]

from gpufleet.errors import SpecError
from gpufleet.policy import (
    PolicyVerdict,
    evaluate,
    mandatory_failed,
    policy_config,
    resources_from_json,
)
from gpufleet.policy.config import SCHEMAS
from gpufleet.policy.pack import policies
from gpufleet.preview import RecordedResource, Recording
from gpufleet.specfile import available_stacks, load_stack

PACK = Path(__file__).resolve().parent.parent / "policies"
Recorder = Callable[[str], Recording]

EXPECTED_LEVELS = {
    "sovereignty-allowed-regions": "mandatory",
    "sovereignty-storage-residency": "mandatory",
    "gpu-quota": "mandatory",
    "gpu-budget": "mandatory",
    "gpu-budget-headroom": "advisory",
    "commitment-burn": "advisory",
    "security-baseline": "mandatory",
    "security-baseline-coverage": "mandatory",
    "address-capacity": "mandatory",
    "required-tags": "advisory",
    "deploy-readiness": "mandatory",
    "data-pipes": "mandatory",
}


@pytest.fixture(autouse=True)
def _no_stack_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)


# -- the pack files ----------------------------------------------------------------------------


def test_main_only_builds_the_policy_pack_from_gpufleet_policy_pack() -> None:
    tree = ast.parse((PACK / "__main__.py").read_text(encoding="utf-8"))
    body = [
        s for s in tree.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
    ]
    imports = [s for s in body if isinstance(s, ast.ImportFrom)]
    assert {(i.module, a.name) for i in imports for a in i.names} == {
        ("pulumi_policy", "PolicyPack"),
        ("gpufleet.policy.pack", "policies"),
    }
    [statement] = [s for s in body if s not in imports]
    assert isinstance(statement, ast.Expr)
    assert isinstance(statement.value, ast.Call)
    call = statement.value
    assert isinstance(call.func, ast.Name)
    assert call.func.id == "PolicyPack"
    assert [a.value for a in call.args if isinstance(a, ast.Constant)] == ["gpufleet"]
    [keyword] = call.keywords
    assert keyword.arg == "policies"
    assert isinstance(keyword.value, ast.Call)
    assert isinstance(keyword.value.func, ast.Name)
    assert keyword.value.func.id == "policies"


def test_pulumi_policy_yaml_is_a_python_pack_using_the_project_virtualenv() -> None:
    document = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    assert document["runtime"]["name"] == "python"
    virtualenv = PACK / document["runtime"]["options"]["virtualenv"]
    assert (virtualenv / "bin" / "python").exists() or (virtualenv / "Scripts").exists()
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(document["version"]))


def test_requirements_install_pulumi_policy_and_gpufleet_from_the_repository() -> None:
    lines = [
        line.strip()
        for line in (PACK / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert any(line.startswith("pulumi-policy") for line in lines)
    assert "-e .." in lines or ".." in lines
    assert (PACK.parent / "pyproject.toml").exists()


def test_importing_the_pack_modules_prints_nothing_on_stdout() -> None:
    """The CLI reads the analyzer's port from the pack's first stdout line."""
    done = subprocess.run(
        [sys.executable, "-c", "import gpufleet.policy.pack"],
        cwd=PACK, capture_output=True, text=True, check=True, timeout=120,
    )
    assert done.stdout == ""


def test_policies_are_kebab_case_unique_and_at_their_documented_levels() -> None:
    pack = policies()
    assert {
        p.name: p.enforcement_level.value for p in pack if p.enforcement_level
    } == EXPECTED_LEVELS
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", p.name) for p in pack)
    kinds = {p.name: type(p) for p in pack}
    assert kinds["sovereignty-allowed-regions"] is ResourceValidationPolicy
    assert kinds["gpu-quota"] is StackValidationPolicy


def test_the_analyzer_describes_every_policy_with_its_schema() -> None:
    """What `pulumi preview --policy-pack policies` asks the pack first (no server started)."""
    servicer = _PolicyAnalyzerServicer("gpufleet", "0.1.0", policies(), EnforcementLevel.ADVISORY)
    info = servicer.GetAnalyzerInfo(None, None)
    assert info.name == "gpufleet"
    assert info.supportsConfig
    described = {p.name: p for p in info.policies}
    assert set(described) == set(EXPECTED_LEVELS)
    assert set(described["gpu-quota"].configSchema.properties) == {"quotas", "skus"}
    assert set(described["gpu-budget"].configSchema.properties) == {
        "monthly_usd",
        "prices",
        "skus",
        "discounts",
        "capacity_blocks",
        "storage_tib",
        "storage_homes",
    }


@pytest.mark.parametrize("stack", available_stacks())
def test_policy_config_fits_the_declared_schemas(stack: str) -> None:
    config = policy_config(load_stack(stack))
    assert set(config) == set(EXPECTED_LEVELS)
    for name, entry in config.items():
        schema = SCHEMAS[name]
        declared = set(schema.properties) if schema else set()
        assert set(entry) - {"enforcementLevel"} <= declared, name
    json.loads(json.dumps(config))


# -- the CLI's door and the offline door agree -------------------------------------------------

_LEVELS = {"advisory": proto.ADVISORY, "mandatory": proto.MANDATORY, "disabled": proto.DISABLED}


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(json.loads(json.dumps(dict(values))))
    return struct


def _servicer(config: Mapping[str, Mapping[str, object]]) -> _PolicyAnalyzerServicer:
    """The pack's analyzer configured as the CLI configures it from --policy-pack-config."""
    servicer = _PolicyAnalyzerServicer("gpufleet", "0.1.0", policies(), EnforcementLevel.ADVISORY)
    request = proto.ConfigureAnalyzerRequest()
    for name, entry in config.items():
        level = str(entry.get("enforcementLevel", EXPECTED_LEVELS[name]))
        item = proto.PolicyConfig(enforcementLevel=_LEVELS[level])
        item.properties.update(
            json.loads(json.dumps({k: v for k, v in entry.items() if k != "enforcementLevel"}))
        )
        request.policyConfig[name].CopyFrom(item)
    servicer.Configure(request, None)
    return servicer


def _provider_message(resource: RecordedResource, providers: Mapping[str, RecordedResource]) -> Any:
    known = providers.get(resource.provider)
    if known is None:
        return None
    return proto.AnalyzerProviderResource(
        type=known.type, properties=_struct(known.inputs), urn=known.urn, name=known.name
    )


def cli_verdicts(
    resources: Sequence[RecordedResource], config: Mapping[str, Mapping[str, object]]
) -> set[tuple[str, str, str]]:
    """(policy, enforcement, message) as the Pulumi CLI would receive them."""
    servicer = _servicer(config)
    providers = {r.urn: r for r in resources if r.is_provider}
    found: set[tuple[str, str, str]] = set()

    def collect(response: Any) -> None:
        for d in response.diagnostics:
            level = {proto.ADVISORY: "advisory", proto.MANDATORY: "mandatory"}[d.enforcementLevel]
            found.add((d.policyName, level, d.message.split("\n", 1)[1]))

    stack_resources = []
    for r in resources:
        options = proto.AnalyzerResourceOptions(protect=r.protect, parent=r.parent)
        provider = _provider_message(r, providers)
        request = proto.AnalyzeRequest(
            type=r.type,
            properties=_struct(r.inputs),
            urn=r.urn,
            name=r.name,
            options=options,
            provider=provider,
        )
        collect(servicer.Analyze(request, None))
        stack_resources.append(
            proto.AnalyzerResource(
                type=r.type,
                properties=_struct(r.inputs),
                urn=r.urn,
                name=r.name,
                options=options,
                provider=provider,
                parent=r.parent,
            )
        )
    collect(servicer.AnalyzeStack(proto.AnalyzeStackRequest(resources=stack_resources), None))
    return found


def offline_verdicts(verdicts: Sequence[PolicyVerdict]) -> set[tuple[str, str, str]]:
    return {(v.policy, v.enforcement, x.message) for v in verdicts for x in v.violations}


# -- whole recordings of the sample stacks -----------------------------------------------------


def _violations(verdicts: Sequence[PolicyVerdict]) -> dict[str, list[str]]:
    return {v.policy: [x.message for x in v.violations] for v in verdicts if v.violations}


@pytest.mark.parametrize("stack", available_stacks())
def test_every_sample_stack_passes_the_whole_pack(recorded: Recorder, stack: str) -> None:
    verdicts = evaluate(recorded(stack).resources, policy_config(load_stack(stack)))
    assert _violations(verdicts) == {}
    assert not mandatory_failed(verdicts)
    enabled = {v.policy for v in verdicts}
    assert {"gpu-quota", "gpu-budget", "security-baseline"} <= enabled


def test_a_spec_without_sovereignty_leaves_the_sovereignty_policies_disabled(
    recorded: Recorder,
) -> None:
    verdicts = evaluate(recorded("dev").resources, policy_config(load_stack("dev")))
    assert "sovereignty-allowed-regions" not in {v.policy for v in verdicts}


def _mutated(
    resources: Sequence[RecordedResource],
    kind: str,
    change: Callable[[RecordedResource], RecordedResource],
    pick: Callable[[RecordedResource], bool] = lambda r: True,
) -> tuple[list[RecordedResource], RecordedResource]:
    target = next(r for r in resources if r.type == kind and pick(r))
    changed = change(target)
    return [changed if r.urn == target.urn else r for r in resources], changed


def _with_inputs(**inputs: Any) -> Callable[[RecordedResource], RecordedResource]:
    return lambda r: replace(r, inputs={**r.inputs, **inputs})


def test_a_bucket_moved_out_of_the_jurisdiction_is_refused(recorded: Recorder) -> None:
    resources, bucket = _mutated(
        recorded("prod-eu").resources, "aws:s3/bucket:Bucket", _with_inputs(region="eu-west-2")
    )
    verdicts = evaluate(resources, policy_config(load_stack("prod-eu")))
    found = _violations(verdicts)
    expected = f"aws:s3/bucket:Bucket '{bucket.name}': region 'eu-west-2' is in GB"
    assert [m for m in found["sovereignty-allowed-regions"] if m.startswith(expected)]
    assert [m for m in found["sovereignty-storage-residency"] if m.startswith(expected)]
    assert mandatory_failed(verdicts)


def test_a_storage_account_moved_out_of_the_jurisdiction_is_refused(recorded: Recorder) -> None:
    resources, account = _mutated(
        recorded("prod-eu").resources,
        "azure-native:storage:StorageAccount",
        _with_inputs(location="uksouth"),
    )
    found = _violations(evaluate(resources, policy_config(load_stack("prod-eu"))))
    [message] = found["sovereignty-storage-residency"]
    assert message.startswith(
        f"azure-native:storage:StorageAccount '{account.name}': region 'uksouth' is in GB "
        "(UK South), outside the allowed jurisdictions EU"
    )


def test_a_node_group_over_quota_is_refused_with_demand_limit_and_shortfall(
    recorded: Recorder,
) -> None:
    def grow(r: RecordedResource) -> RecordedResource:
        return replace(
            r, inputs={**r.inputs, "scalingConfig": {**r.inputs["scalingConfig"], "maxSize": 9}}
        )

    resources, group = _mutated(
        recorded("prod-eu").resources,
        "aws:eks/nodeGroup:NodeGroup",
        grow,
        lambda r: "p5.48xlarge" in r.inputs.get("instanceTypes", []),
    )
    verdicts = evaluate(resources, policy_config(load_stack("prod-eu")))
    [message] = _violations(verdicts)["gpu-quota"]
    assert message.startswith(
        "aws/eu-north-1 quota bucket L-417A185B: GPU pools at maximum size need 1728 vCPUs, the "
        f"declared quota is 1536 vCPUs, 192 short; pools: {group.name} (p5.48xlarge x 9)"
    )
    assert mandatory_failed(verdicts)


def test_a_halved_budget_is_refused_with_the_figures(recorded: Recorder) -> None:
    spec = load_stack("prod-eu")
    config = policy_config(spec)
    assert spec.budget.monthly_usd is not None
    half = spec.budget.monthly_usd / 2
    config["gpu-budget"] = {**config["gpu-budget"], "monthly_usd": half}
    verdicts = evaluate(recorded("prod-eu").resources, config)
    [message] = _violations(verdicts)["gpu-budget"]
    assert f"of the ${half:,.0f} cap)" in message
    assert "over the cap; top contributors: " in message
    assert "Standard_ND96isr_H100_v5 x " in message
    assert "p5.48xlarge x " in message
    assert mandatory_failed(verdicts)


def test_the_cli_analyzer_and_evaluate_give_the_same_verdicts(recorded: Recorder) -> None:
    """One implementation, two doors: the servicer the CLI talks to and the offline door."""
    resources, _ = _mutated(
        recorded("prod-eu").resources, "aws:s3/bucket:Bucket", _with_inputs(region="us-east-1")
    )
    config = policy_config(load_stack("prod-eu"))
    config["gpu-budget"] = {**config["gpu-budget"], "monthly_usd": 500_000}
    offline = offline_verdicts(evaluate(resources, config))
    assert {p for p, _, _ in offline} == {
        "sovereignty-allowed-regions",
        "sovereignty-storage-residency",
        "gpu-budget",
    }
    assert cli_verdicts(resources, config) == offline


def test_resources_from_json_round_trip_gives_the_same_verdicts(recorded: Recorder) -> None:
    resources, _ = _mutated(
        recorded("prod-eu").resources,
        "azure-native:storage:StorageAccount",
        _with_inputs(location="eastus"),
    )
    config = policy_config(load_stack("prod-eu"))
    again = resources_from_json(json.loads(json.dumps([r.to_json() for r in resources])))
    assert offline_verdicts(evaluate(again, config)) == offline_verdicts(
        evaluate(resources, config)
    )


def test_a_plan_document_without_providers_still_locates_resources_by_their_region(
    recorded: Recorder,
) -> None:
    """The plan's resources[] leaves providers out; the recorded region stands in for them."""
    items = [r.to_json() for r in recorded("prod-eu").resources if not r.is_provider]
    verdicts = evaluate(
        resources_from_json({"resources": items}), policy_config(load_stack("prod-eu"))
    )
    found = _violations(verdicts)
    assert "sovereignty-allowed-regions" not in found
    assert not mandatory_failed(verdicts)


# -- the offline door's own contract -----------------------------------------------------------


def test_enforcement_level_in_the_config_overrides_or_disables_a_policy(recorded: Recorder) -> None:
    config = policy_config(load_stack("prod-eu"))
    config["gpu-quota"] = {**config["gpu-quota"], "enforcementLevel": "advisory"}
    config["required-tags"] = {"enforcementLevel": "disabled"}
    levels = {v.policy: v.enforcement for v in evaluate(recorded("prod-eu").resources, config)}
    assert levels["gpu-quota"] == "advisory"
    assert "required-tags" not in levels


def test_verdict_json_is_the_plans_policies_shape() -> None:
    verdicts = evaluate([], {"sovereignty-allowed-regions": {"jurisdictions": ["EU"]}})
    document = verdicts[0].to_json()
    assert document == {
        "policy": "sovereignty-allowed-regions",
        "enforcement": "mandatory",
        "violations": [],
    }


@pytest.mark.parametrize(
    ("items", "path", "words"),
    [
        ({"no": "list"}, "resources", "expected a JSON list of resources"),
        ([{"name": "x", "inputs": {}}], "resources[0].type", "required field is missing"),
        ([{"type": "bucket", "name": "x"}], "resources[0].type", "is not a type token"),
        (
            [
                {"type": "aws:s3/bucket:Bucket", "name": "x"},
                {"type": "aws:s3/bucket:Bucket", "name": 3},
            ],
            "resources[1].name",
            "expected a str, got 3",
        ),
        (
            [{"type": "aws:s3/bucket:Bucket", "name": "x", "inputs": []}],
            "resources[0].inputs",
            "expected an object",
        ),
        (
            [{"type": "aws:s3/bucket:Bucket", "name": "x", "protect": "yes"}],
            "resources[0].protect",
            "expected a bool",
        ),
        (["oops"], "resources[0]", "expected an object"),
    ],
)
def test_bad_resources_json_names_the_item_and_field(items: object, path: str, words: str) -> None:
    with pytest.raises(SpecError) as raised:
        resources_from_json(items)
    [problem] = raised.value.problems
    assert problem.path == path
    assert words in problem.message


def test_resources_from_json_fills_cloud_and_urn() -> None:
    [bucket] = resources_from_json(
        [
            {
                "type": "aws:s3/bucket:Bucket",
                "name": "b",
                "region": "eu-west-1",
                "inputs": {"forceDestroy": False},
            }
        ]
    )
    assert bucket.cloud == "aws"
    assert bucket.urn.endswith("::aws:s3/bucket:Bucket::b")
    verdicts = evaluate([bucket], {"sovereignty-allowed-regions": {"jurisdictions": ["EU"]}})
    assert _violations(verdicts).get("sovereignty-allowed-regions") is None
