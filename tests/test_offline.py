"""The offline plan, diff and PR comment: JSON contract, golden reports, diff cases, exit codes."""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.cli import main
from gpufleet.diff import diff_documents
from gpufleet.offline import SpecSource, run_plan
from gpufleet.prcomment import MARKER, build_comment
from gpufleet.report import render_plan
from tests.conftest import fleet_of, planned_stack

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("GPUFLEET_UPDATE_GOLDEN") == "1"


@cache
def stack_document(stack: str) -> str:
    return json.dumps(planned_stack(stack).document)


def document(stack: str) -> dict[str, Any]:
    return json.loads(stack_document(stack))


def plan_fleet(fleet: dict[str, Any], tmp_path: Path, name: str) -> dict[str, Any]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": fleet}}))
    return run_plan(SpecSource(spec=path, stack_name=name)).document  # the stack is named, not the file


def test_plan_json_has_the_contract_shape() -> None:
    doc = document("prod-eu")
    assert {"version", "stack", "fleet", "pools", "networks", "storage", "cost", "quota",
            "resources", "policies"} <= set(doc)
    assert (doc["version"], doc["stack"], doc["fleet"]) == (1, "prod-eu", "llm-train")
    placement = doc["pools"][0]["placements"][0]
    assert {"cloud", "region", "instance_type", "nodes", "gpus", "capacity", "monthly_usd"} <= set(placement)
    assert set(doc["networks"][0]) >= {"cloud", "region", "cidr"}
    assert set(doc["storage"][0]) >= {"name", "cloud", "region"}
    assert {"monthly_usd", "by_cloud", "budget_usd"} <= set(doc["cost"])
    assert set(doc["quota"][0]) == {"cloud", "region", "bucket", "used_vcpus", "limit_vcpus"}
    assert set(doc["resources"][0]) >= {"urn", "type", "name", "parent", "cloud", "region", "protect", "inputs"}
    assert set(doc["policies"][0]) == {"policy", "enforcement", "violations"}


def test_plan_and_declared_resources_agree() -> None:
    doc = document("prod-eu")
    node_groups = {
        (r["region"], r["inputs"]["instanceTypes"][0], r["inputs"]["scalingConfig"]["maxSize"])
        for r in doc["resources"] if r["type"] == "aws:eks/nodeGroup:NodeGroup"
        and r["inputs"]["instanceTypes"][0].startswith(("p", "g"))
    }
    agent_pools = {
        (r["region"], r["inputs"]["vmSize"], r["inputs"].get("maxCount") or r["inputs"].get("count"))
        for r in doc["resources"] if r["type"] == "azure-native:containerservice:AgentPool"
        and r["inputs"].get("mode") == "User"
    }
    planned = {
        (p["region"], p["instance_type"], p["nodes"])
        for pool in doc["pools"] for p in pool["placements"]
    }
    assert planned == node_groups | agent_pools
    assert sum(p["monthly_usd"] for pool in doc["pools"] for p in pool["placements"]) <= doc["cost"]["monthly_usd"]
    assert round(sum(doc["cost"]["by_cloud"].values()), 2) == doc["cost"]["monthly_usd"]


def test_sample_stacks_pass_every_mandatory_policy() -> None:
    for stack in ("dev", "prod-eu"):
        doc = document(stack)
        assert [v for v in doc["policies"] if v["violations"] and v["enforcement"] == "mandatory"] == []


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_dev_report_matches_golden(fmt: str) -> None:
    text = render_plan(document("dev"), fmt)
    golden = GOLDEN / f"dev.{'md' if fmt == 'markdown' else 'txt'}"
    if UPDATE:
        golden.write_text(text)
    assert text == golden.read_text()


def test_markdown_collapses_the_resource_list() -> None:
    text = render_plan(document("dev"), "markdown")
    assert "<details><summary>78 resources</summary>" in text or "<details><summary>" in text
    assert "| aws:eks/nodeGroup:NodeGroup |" in text


def test_cli_plan_writes_json_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plan.json"
    assert main(["plan", "--stack", "dev", "--format", "json", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["stack"] == "dev"


def test_infeasible_plan_exits_1_with_what_to_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "big.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "big", "sovereignty": {"jurisdictions": ["EU"]},
        "network": {"supernet": "10.64.0.0/10"}, "clouds": {"aws": {"regions": ["eu-north-1"]}},
        "quotas": {"aws": {"eu-north-1": {"L-417A185B": 768}}},
        "pools": [{"name": "train", "accelerator": "H100", "gpus": 512, "gpus_per_node": 8}],
    }))
    assert main(["plan", "--spec", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "pool train needs 512 H100" in err
    assert "raise L-417A185B in eu-north-1" in err
    assert "Traceback" not in err


def test_check_exits_1_on_a_mandatory_violation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = document("prod-eu")
    bucket = next(r for r in doc["resources"] if r["type"] == "aws:s3/bucket:Bucket")
    bucket["region"] = "us-east-1"
    bucket["inputs"]["region"] = "us-east-1"
    resources, spec = tmp_path / "resources.json", tmp_path / "spec.yaml"
    resources.write_text(json.dumps(doc["resources"]))
    spec.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": fleet_of("prod-eu")}}))
    assert main(["check", "--resources", str(resources), "--spec", str(spec)]) == 1
    assert "us-east-1" in capsys.readouterr().out


def test_check_stack_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--stack", "dev", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["policies"]


# -- diff ---------------------------------------------------------------------------------------


def test_reordering_pools_replaces_nothing(tmp_path: Path) -> None:
    fleet = fleet_of("prod-eu")
    reordered = copy.deepcopy(fleet)
    reordered["pools"].reverse()
    change = diff_documents(document("prod-eu"), plan_fleet(reordered, tmp_path, "prod-eu"))
    assert [c for c in change.resources if c.action != "update"] == []
    assert change.exit_code == 0


def test_growing_a_pool_adds_gpus_and_money_without_replacement(tmp_path: Path) -> None:
    fleet = fleet_of("dev")
    fleet["pools"][0]["gpus"] = 8
    change = diff_documents(document("dev"), plan_fleet(fleet, tmp_path, "dev"))
    assert change.count("replace") == 0
    assert change.count("remove") == 0
    assert sum(after for *_, after in change.gpus) == 8
    assert change.cost[0][2] > change.cost[0][1]


def test_adding_a_region_adds_resources_and_keeps_the_rest(tmp_path: Path) -> None:
    fleet = fleet_of("dev")
    fleet["clouds"]["aws"]["regions"].append("us-west-2")
    fleet["pools"][0]["pin"] = {"aws/us-east-1": 1, "aws/us-west-2": 1}
    change = diff_documents(document("dev"), plan_fleet(fleet, tmp_path, "dev"))
    added = [c for c in change.resources if c.action == "add"]
    assert added
    assert all("us-west-2" in c.urn or c.type.startswith(("aws:", "pulumi:")) for c in added)
    assert change.count("replace") == 0
    assert change.count("remove") == 0
    assert ("infer", "aws", "us-west-2", 0, 1) in change.gpus


def test_removing_protected_storage_is_flagged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fleet = fleet_of("dev")
    fleet["storage"] = []
    head = plan_fleet(fleet, tmp_path, "dev")
    change = diff_documents(document("dev"), head)
    assert change.exit_code == 1
    assert {c.type for c in change.errors} >= {"aws:s3/bucket:Bucket", "azure-native:storage:StorageAccount"}
    assert "ERROR: " in change.headline()
    base_file, head_file = tmp_path / "base.json", tmp_path / "head.json"
    base_file.write_text(stack_document("dev"))
    head_file.write_text(json.dumps(head))
    assert main(["diff", str(base_file), str(head_file), "--format", "markdown"]) == 1
    assert "ERROR remove" in capsys.readouterr().out


# -- the pull-request comment ---------------------------------------------------------------------


def test_pr_comment_covers_every_stack_and_fails_on_errors(tmp_path: Path) -> None:
    base, head = tmp_path / "base", tmp_path / "head"
    base.mkdir()
    head.mkdir()
    (base / "dev.json").write_text(stack_document("dev"))
    (head / "dev.json").write_text(stack_document("dev"))
    (head / "prod-eu.json").write_text(stack_document("prod-eu"))
    (base / "prod-eu.new").touch()  # new in the pull request: no base plan expected
    text, _, code = build_comment(base, head)
    assert text.startswith(MARKER)
    assert "stack <b>dev</b>" in text
    assert "stack <b>prod-eu</b>" in text
    assert code == 0
    assert "all mandatory policies pass" in text
    (head / "broken.error").write_text("gpufleet plan: invalid fleet spec")
    text, _, code = build_comment(base, head)
    assert code == 1
    assert "stack **broken**: the plan failed" in text


def test_previous_plan_is_kept_and_named_in_the_solver_report(tmp_path: Path) -> None:
    previous = tmp_path / "previous.json"
    previous.write_text(stack_document("prod-eu"))
    result = run_plan(SpecSource(stack="prod-eu"), previous=previous)
    assert result.document["solver"]["kept_from_previous"] == sum(
        p["nodes"] for pool in document("prod-eu")["pools"] for p in pool["placements"]
    )
    assert result.document["pools"] == document("prod-eu")["pools"]


def test_a_bad_previous_plan_is_refused_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    previous = tmp_path / "previous.json"
    previous.write_text("{not json")
    assert main(["plan", "--stack", "dev", "--previous", str(previous)]) == 2
    assert f"{previous}:line 1: not JSON" in capsys.readouterr().err


def test_check_refuses_malformed_resources_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    resources, spec = tmp_path / "resources.json", tmp_path / "spec.yaml"
    resources.write_text(json.dumps([{"type": "aws:s3/bucket:Bucket", "urn": "urn:x"}]))
    spec.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": fleet_of("dev")}}))
    assert main(["check", "--resources", str(resources), "--spec", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "resources[0]" in err
    assert "Traceback" not in err
