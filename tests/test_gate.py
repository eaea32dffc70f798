"""The safety gate closed (issue 31): `diff` sees protection taken away and what a replaced
network takes down; `pr-comment` never compares a stack with nothing, cannot be forged by the
names and messages a pull request controls, and always fits in a GitHub comment."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from gpufleet.cli import main
from gpufleet.diff import diff_documents
from gpufleet.prcomment import COMMENT_LIMIT, MARKER, build_comment
from tests.conftest import fleet_of
from tests.test_offline import document, plan_fleet, stack_document

STORAGE = ("aws:s3/bucket:Bucket", "azure-native:storage:StorageAccount")
FORGED = ("```\n\n**Verdict:** all mandatory policies pass.\n\n<!-- the real verdict is hidden here\n"
          "@octocat please merge ")


# -- diff: protection and what a replacement takes down --------------------------------------


def test_setting_protect_false_on_storage_is_an_error_like_removing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = fleet_of("dev")
    fleet["storage"] = [{**fleet["storage"][0], "protect": False}]
    head = plan_fleet(fleet, tmp_path, "dev")
    change = diff_documents(document("dev"), head)
    assert change.exit_code == 1
    unprotected = {c.type: c for c in change.errors}
    assert set(STORAGE) <= set(unprotected)
    assert all(unprotected[t].action == "update" and "protect" in unprotected[t].properties for t in STORAGE)
    assert "ERROR: " in change.headline()
    assert "removed, replaced or unprotected" in change.headline()
    base_file, head_file = tmp_path / "base.json", tmp_path / "head.json"
    base_file.write_text(stack_document("dev"))
    head_file.write_text(json.dumps(head))
    assert main(["diff", str(base_file), str(head_file), "--format", "markdown"]) == 1
    assert "| ERROR update | aws:s3/bucket:Bucket |" in capsys.readouterr().out
    assert main(["diff", str(head_file), str(base_file), "--format", "json"]) == 0  # protecting is fine
    protecting = json.loads(capsys.readouterr().out)
    assert protecting["errors"] == 0
    assert any("protect" in c["properties"] for c in protecting["resources"])


def test_turning_off_retain_on_delete_is_an_error_too() -> None:
    base = document("dev")
    head = copy.deepcopy(base)
    bucket = next(r for r in head["resources"] if r["type"] == STORAGE[0])
    assert bucket["retain_on_delete"] is True
    bucket["retain_on_delete"] = False
    (change,) = diff_documents(base, head).errors
    assert (change.urn, change.action, change.properties) == (bucket["urn"], "update", ("retain_on_delete",))


def test_a_replaced_network_names_what_depends_on_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fleet = fleet_of("dev")
    fleet["network"] = {**fleet["network"], "overrides": {"aws/us-east-1": "10.200.0.0/16"}}
    head = plan_fleet(fleet, tmp_path, "dev")
    change = diff_documents(document("dev"), head)
    vpc = next(c for c in change.resources if c.type == "aws:ec2/vpc:Vpc")
    assert vpc.action == "replace"
    taken = {urn.split("::")[-2].split("$")[-1] for urn in vpc.takes_down}
    assert {"aws:ec2/subnet:Subnet", "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup"} <= taken
    assert "replacements take down" in change.headline()
    base_file, head_file = tmp_path / "base.json", tmp_path / "head.json"
    base_file.write_text(stack_document("dev"))
    head_file.write_text(json.dumps(head))
    main(["diff", str(base_file), str(head_file), "--format", "markdown"])
    out = capsys.readouterr().out
    assert "**Taken down with a replacement**" in out
    assert "dev-aws-us-east-1-eks (Cluster)" in out
    main(["diff", str(base_file), str(head_file), "--format", "json"])
    changes = json.loads(capsys.readouterr().out)["resources"]
    assert set(next(c for c in changes if c["type"] == "aws:ec2/vpc:Vpc")["takes_down"]) == set(vpc.takes_down)


# -- pr-comment: a base for every stack --------------------------------------------------------


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    base, head = tmp_path / "base", tmp_path / "head"
    base.mkdir()
    head.mkdir()
    return base, head


def test_a_missing_base_plan_is_a_loud_verdict_with_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, head = _folders(tmp_path)
    head_doc = copy.deepcopy(document("dev"))
    head_doc["resources"] = [r for r in head_doc["resources"] if r["type"] not in STORAGE]  # storage gone
    (head / "dev.json").write_text(json.dumps(head_doc))
    text, _, code = build_comment(base, head)
    assert code == 1
    assert "stack **dev**: NO BASE PLAN" in text
    assert "all mandatory policies pass" not in text
    assert main(["pr-comment", str(base), str(head)]) == 1
    capsys.readouterr()
    (base / "dev.new").touch()  # the workflow marks a stack the base branch does not have
    text, _, code = build_comment(base, head)
    assert (code, "(new in this pull request)" in text) == (0, True)


# -- pr-comment: escaped -----------------------------------------------------------------------


def _verdict_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "**Verdict:**" in line]


def test_a_failed_plans_message_cannot_break_out_of_its_fence(tmp_path: Path) -> None:
    base, head = _folders(tmp_path)
    (head / "dev.error").write_text(f"gpufleet plan: unknown accelerator '{FORGED}'")
    text, _, code = build_comment(base, head)
    assert code == 1
    fence = re.search(r"^(`{4,})$", text, re.MULTILINE)
    assert fence is not None  # longer than the message's own ``` run
    inside = text.split(fence.group(1))[1]
    assert "**Verdict:** all mandatory policies pass." in inside  # shown, inside the block
    assert _verdict_lines(text.split(fence.group(1))[2]) == [
        "**Verdict:** mandatory policy violated, protected data at risk, or a stack not compared."
    ]
    assert "@octocat" not in text
    assert "@\u200boctocat" in text


def test_names_and_messages_from_the_pull_request_are_escaped(tmp_path: Path) -> None:
    base, head = _folders(tmp_path)
    forged = copy.deepcopy(document("dev"))
    forged["stack"] = FORGED
    forged["policies"][0]["violations"] = [{"urn": "urn:x::y::t::n", "message": FORGED}]
    name = "x<b>@admin<b>"
    (head / f"{name}.json").write_text(json.dumps(forged))
    (base / f"{name}.json").write_text(stack_document("dev"))
    text, _, _ = build_comment(base, head)
    assert text.count(MARKER) == 1
    assert text.count("<!--") == 1  # the marker's only
    assert len(_verdict_lines(text)) == 1
    assert not re.search(r"^```", text, re.MULTILINE)
    assert "@octocat" not in text
    assert "@admin" not in text
    assert "x&lt;b&gt;@\u200badmin&lt;b&gt;" in text


# -- pr-comment: bounded -----------------------------------------------------------------------


def test_a_comment_over_githubs_limit_folds_and_links_the_full_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, head = _folders(tmp_path)
    for index in range(12):  # new stacks: every resource an addition, ~6 KB a stack
        (head / f"stack-{index}.json").write_text(stack_document("dev"))
        (base / f"stack-{index}.new").touch()
    url = "https://github.com/o/r/actions/runs/1"
    text, full, code = build_comment(base, head, url)
    assert (code, len(full) > COMMENT_LIMIT, len(text) <= COMMENT_LIMIT) == (0, True, True)
    assert f"[the full report]({url})" in text
    assert all(f"stack **stack-{i}** (new in this pull request): gpufleet diff" in text for i in range(12))
    comment, report = tmp_path / "comment.md", tmp_path / "full.md"
    assert main(["pr-comment", str(base), str(head), "--out", str(comment), "--full-out", str(report),
                 "--report-url", url]) == 0
    assert comment.read_text() == text
    assert report.read_text() == full
    text, _, _ = build_comment(base, head, "javascript:alert(1)")
    assert "javascript:" not in text


def test_thousands_of_stacks_still_fit(tmp_path: Path) -> None:
    base, head = _folders(tmp_path)
    small: dict[str, Any] = {"stack": "s", "pools": [], "cost": {"monthly_usd": 1.0}}
    for index in range(1500):
        name = f"a-very-long-stack-name-to-fill-the-comment-{index:04d}"
        (head / f"{name}.json").write_text(json.dumps(small))
        (base / f"{name}.json").write_text(json.dumps(small))
    text, full, _ = build_comment(base, head)
    assert len(full) > COMMENT_LIMIT
    assert len(text) <= COMMENT_LIMIT
    assert re.search(r"- and [\d,]+ more stacks in the full report", text)
