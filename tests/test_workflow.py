"""The PR preview workflow runs project commands that the tests cover, and gates on their exit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gpufleet.cli import build_parser

WORKFLOW = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "gpufleet-preview.yml"


def _workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def _scripts(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_runs_on_every_pull_request_with_rights_to_comment() -> None:
    workflow = _workflow()
    assert "pull_request" in workflow[True]  # YAML reads the bare key `on` as True
    assert workflow["permissions"]["pull-requests"] == "write"


def test_offline_job_plans_every_stack_and_builds_one_comment_with_project_commands() -> None:
    scripts = _scripts(_workflow()["jobs"]["offline-plan"])
    assert 'gpufleet plan --stack "$stack" --format json --out' in scripts
    assert 'gpufleet pr-comment "$RUNNER_TEMP/base" "$RUNNER_TEMP/head"' in scripts
    assert "<!-- gpufleet-preview -->" in scripts  # finds and updates its own comment
    parser = build_parser()  # the command lines the workflow uses parse as project commands
    assert parser.parse_args(["plan", "--stack", "dev", "--format", "json", "--out", "x.json"]).command == "plan"
    assert parser.parse_args(["pr-comment", "base", "head", "--out", "c.md"]).command == "pr-comment"
    assert parser.parse_args(["policy-config", "--stack", "dev", "--out", "p.json"]).command == "policy-config"


def test_offline_job_fails_when_the_comment_says_so() -> None:
    steps = _workflow()["jobs"]["offline-plan"]["steps"]
    gate = next(step for step in steps if step.get("if") == "steps.comment.outputs.exit != '0'")
    assert "exit 1" in gate["run"]


def test_pulumi_preview_job_uses_the_policy_pack_and_is_skipped_without_credentials() -> None:
    job = _workflow()["jobs"]["pulumi-preview"]
    assert job["if"] == "needs.credentials.outputs.available == 'true'"
    action = next(step for step in job["steps"] if str(step.get("uses", "")).startswith("pulumi/actions@"))
    assert action["with"]["command"] == "preview"
    assert action["with"]["policyPacks"] == "policies"
    assert "gpufleet policy-config --stack" in _scripts(job)
