"""The PR preview workflow runs project commands that the tests cover, and gates on their exit."""

from __future__ import annotations

import re
import subprocess
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
    assert workflow["jobs"]["offline-plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}


def test_no_rights_at_the_top_and_an_oidc_token_only_for_the_real_preview() -> None:
    workflow = _workflow()
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, name  # every job says what it needs
        assert ("id-token" in job["permissions"]) == (name == "pulumi-preview"), name


def test_every_action_is_pinned_by_commit_sha_with_its_version_in_a_comment() -> None:
    uses = re.findall(r"uses: (\S+)(.*)", WORKFLOW.read_text())
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r" # v\d+(\.\d+)*", comment), (action, comment)


def test_checkouts_keep_no_credentials_and_clouds_sign_in_by_oidc() -> None:
    text = WORKFLOW.read_text()
    for job in _workflow()["jobs"].values():
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
    steps = _workflow()["jobs"]["pulumi-preview"]["steps"]
    aws = next(s for s in steps if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@"))
    azure = next(s for s in steps if str(s.get("uses", "")).startswith("azure/login@"))
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    assert set(azure["with"]) == {"client-id", "tenant-id", "subscription-id"}
    assert not re.search(r"AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID|ARM_CLIENT_SECRET|creds:", text)


def test_real_preview_matrix_is_every_stack_file() -> None:
    jobs = _workflow()["jobs"]
    assert jobs["pulumi-preview"]["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.names) }}"
    script = _scripts(jobs["stacks"])
    root = WORKFLOW.parent.parent.parent
    listed = subprocess.run(["bash", "-c", script.replace('>> "$GITHUB_OUTPUT"', "")], cwd=root,
                            capture_output=True, text=True, check=True).stdout
    expected = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (root / "stacks").glob("Pulumi.*.yaml"))
    assert listed.strip() == "names=" + str(expected).replace("'", '"').replace(" ", "")


def test_values_a_pull_request_controls_reach_scripts_only_through_env() -> None:
    for job in _workflow()["jobs"].values():
        assert "${{" not in _scripts(job)


def test_offline_job_plans_every_stack_and_builds_one_comment_with_project_commands() -> None:
    scripts = _scripts(_workflow()["jobs"]["offline-plan"])
    assert 'gpufleet plan --stack "$stack" --format json --out' in scripts
    assert 'gpufleet pr-comment "$RUNNER_TEMP/base" "$RUNNER_TEMP/head"' in scripts
    assert "<!-- gpufleet-preview -->" in scripts  # finds and updates its own comment
    parser = build_parser()  # the command lines the workflow uses parse as project commands
    assert parser.parse_args(["plan", "--stack", "dev", "--format", "json", "--out", "x.json"]).command == "plan"
    assert parser.parse_args(["pr-comment", "base", "head", "--out", "c.md"]).command == "pr-comment"
    assert parser.parse_args(["policy-config", "--stack", "dev", "--out", "p.json"]).command == "policy-config"


def test_offline_job_fails_when_the_comment_or_the_base_branchs_gpufleet_says_so() -> None:
    steps = _workflow()["jobs"]["offline-plan"]["steps"]
    gate = next(step for step in steps if "steps.comment.outputs.exit" in str(step.get("if", "")))
    assert gate["if"] == "steps.comment.outputs.exit != '0' || steps.comment.outputs.base_exit != '0'"
    assert "exit 1" in gate["run"]


def _step(job: str, name_starts: str) -> dict[str, Any]:
    return next(s for s in _workflow()["jobs"][job]["steps"] if str(s.get("name", "")).startswith(name_starts))


def test_the_base_is_planned_from_its_own_lock_and_a_failure_fails_the_job() -> None:
    script = _step("offline-plan", "Plan every stack on the base")["run"]
    assert script.startswith("set -euo pipefail")
    assert "|| true" not in script
    assert "pip install --quiet -r requirements.lock && .venv/bin/pip install --quiet --no-deps -e ." in script
    assert 'touch "$RUNNER_TEMP/base/$stack.new"' in script  # a stack new in the pull request says so


def test_where_the_pull_request_changes_gpufleet_the_base_branchs_gpufleet_judges_too() -> None:
    script = _step("offline-plan", "Build the comment")["run"]
    assert 'git diff --quiet "$BASE_SHA" HEAD -- gpufleet components policies' in script
    assert '"$RUNNER_TEMP/base-src/.venv/bin/gpufleet" pr-comment "$RUNNER_TEMP/base" "$RUNNER_TEMP/head"' in script
    assert '--full-out "$RUNNER_TEMP/report.md" --report-url "$REPORT_URL"' in script
    args = build_parser().parse_args(["pr-comment", "b", "h", "--out", "c.md", "--full-out", "r.md",
                                      "--report-url", "https://github.com/o/r/actions/runs/1"])
    assert (args.full_out, args.report_url) == (Path("r.md"), "https://github.com/o/r/actions/runs/1")


def test_the_full_report_is_kept_as_an_artifact() -> None:
    upload = _step("offline-plan", "Keep the full report")
    assert str(upload["uses"]).startswith("actions/upload-artifact@")
    assert upload["with"]["path"] == "${{ runner.temp }}/report.md"


def test_the_real_preview_runs_pull_request_code_with_credentials_only_behind_an_environment() -> None:
    assert _workflow()["jobs"]["pulumi-preview"]["environment"] == "pulumi-preview"
    assert "environment" not in _workflow()["jobs"]["offline-plan"]


def test_pulumi_preview_job_uses_the_policy_pack_and_is_skipped_without_credentials() -> None:
    job = _workflow()["jobs"]["pulumi-preview"]
    assert job["if"] == "needs.credentials.outputs.available == 'true' && needs.stacks.outputs.names != '[]'"
    action = next(step for step in job["steps"] if str(step.get("uses", "")).startswith("pulumi/actions@"))
    assert action["with"]["command"] == "preview"
    assert action["with"]["policyPacks"] == "policies"
    assert 'gpufleet policy-config --stack "$STACK"' in _scripts(job)
