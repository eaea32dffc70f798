"""The pull-request comment: every stack's diff (base → head) and verdicts in one markdown body.

CI plans each stack on the base and on the head into two folders of plan JSON files; this turns
them into the one comment the workflow posts or updates (found again by its marker line).

The gate closes: a head plan with no base plan is not compared with nothing (which would call
every protected resource new and pass); it is a loud "no base" verdict with exit 1, unless the
base folder marks the stack as new in this pull request (`<stack>.new`, which the workflow writes
for a stack file the base does not have). Every name from the pull request is escaped
(gpufleet.markdown). A comment over GitHub's limit folds each stack to its headline and points
at the full report, which the workflow keeps as an artifact.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpufleet import markdown
from gpufleet.diff import diff_documents
from gpufleet.errors import EXIT_OK, EXIT_POLICY, CommandLineError, Problem
from gpufleet.planinput import checked_document, read_document
from gpufleet.report import render_diff
from gpufleet.textfile import read_utf8

MARKER = "<!-- gpufleet-preview -->"
NEW_STACK = ".new"
"""`base_dir/<stack>.new`: the stack file is new in this pull request, so it has no base plan."""
COMMENT_LIMIT = 65_536
"""The most characters GitHub takes in a comment body (its API answers "Body is too long
(maximum is 65536 characters)"); the comment stays a margin below it."""
MARGIN = 1_000
URL = re.compile(r"https://[A-Za-z0-9.\-]+(/[A-Za-z0-9._~\-/%?=&]*)?")
"""A link the comment may carry (the workflow's run page): nothing that could close the link."""
ERROR_SHOWN = 4_000
"""Characters of a failed plan's message shown in the comment (the full one is in the report)."""


@dataclass(frozen=True, slots=True)
class StackReport:
    """One stack's part of the comment: its exit code, one line, and the whole story."""

    code: int
    line: str
    details: str


def empty_document(stack: str) -> dict[str, Any]:
    """A plan with nothing in it: the base of a stack that the pull request adds."""
    return checked_document({"stack": stack, "pools": [], "cost": {"monthly_usd": 0.0}}, stack)


def _name(stack: str) -> str:
    """A stack (file) name inside the comment's HTML: escaped, mentions neutralised."""
    return markdown.unmentioned(html.escape(stack))


def _compared(stack: str, head_file: Path, base_dir: Path) -> StackReport:
    head = read_document(head_file, CommandLineError)
    base_file = base_dir / head_file.name
    if base_file.exists():
        base, note = read_document(base_file, CommandLineError), ""
    elif (base_dir / f"{stack}{NEW_STACK}").exists():
        base, note = empty_document(stack), " (new in this pull request)"
    else:
        text = (
            f"stack **{markdown.cell(stack)}**: NO BASE PLAN: the base branch's plan of this stack "
            "is missing, so what this pull request removes or replaces cannot be known; the base "
            "planning step failed or skipped it (a stack new in this pull request is marked "
            f"`{markdown.cell(stack)}{NEW_STACK}` in the base folder)"
        )
        return StackReport(EXIT_POLICY, text, text)
    change = diff_documents(base, head)
    line = f"stack **{markdown.cell(stack)}**{note}: {markdown.cell(change.headline())}"
    details = (f"<details open><summary>stack <b>{_name(stack)}</b>{note}</summary>\n\n"
               f"{render_diff(change, 'markdown')}\n</details>")
    return StackReport(change.exit_code, line, details)


def _failed(stack: str, error_file: Path) -> StackReport:
    message = read_utf8(error_file, "plan error", CommandLineError).strip()
    shown = message[:ERROR_SHOWN] + ("\n[...]" if len(message) > ERROR_SHOWN else "")
    line = f"stack **{markdown.cell(stack)}**: the plan failed"
    return StackReport(EXIT_POLICY, line, f"{line}:\n\n{markdown.fenced(shown)}")


def stack_reports(base_dir: Path, head_dir: Path) -> list[StackReport]:
    """Each head stack compared with its base, each failed head plan, each removed stack."""
    for flag, folder in (("base_dir", base_dir), ("head_dir", head_dir)):
        if not folder.is_dir():
            reason = "is not a folder" if folder.exists() else "does not exist"
            raise CommandLineError([Problem(flag, f"{folder} {reason}")])
    heads = sorted(head_dir.glob("*.json"))
    failures = sorted(head_dir.glob("*.error"))
    if not heads and not failures:  # no plans is not a pass: the planning step went wrong
        raise CommandLineError([Problem(
            "head_dir", f"{head_dir} holds no plan (*.json) and no failed plan (*.error): "
            "nothing was planned, so there is nothing to pass",
        )])
    reports = [_compared(path.stem, path, base_dir) for path in heads]
    reports += [_failed(path.stem, path) for path in failures]
    planned = {p.stem for p in (*heads, *failures)}
    for removed in sorted({p.stem for p in base_dir.glob("*.json")} - planned):
        text = f"stack **{markdown.cell(removed)}** is removed by this change."
        reports.append(StackReport(EXIT_OK, text, text))
    return reports


def _body(parts: list[str], code: int) -> str:
    verdict = (
        "mandatory policy violated, protected data at risk, or a stack not compared" if code == EXIT_POLICY
        else "all mandatory policies pass"
    )
    return "\n\n".join([MARKER, "## gpufleet preview", *parts, f"**Verdict:** {verdict}."]) + "\n"


def build_comment(base_dir: Path, head_dir: Path, report_url: str | None = None) -> tuple[str, str, int]:
    """(comment, full report, exit code): 1 when a head plan failed, has no base plan, violates
    a mandatory policy, or would remove, replace or unprotect a protected resource. The comment
    is the full report unless that is over GitHub's limit; then each stack is one line, and the
    comment points at `report_url` (where the workflow keeps the full report)."""
    reports = stack_reports(base_dir, head_dir)
    code = max((r.code for r in reports), default=EXIT_OK)
    full = _body([r.details for r in reports], code)
    if len(full) <= COMMENT_LIMIT - MARGIN:
        return full, full, code
    linked = report_url is not None and URL.fullmatch(report_url) is not None
    where = f"[the full report]({report_url})" if linked else "the full report (`--full-out`)"
    note = (f"The full report has {len(full):,} characters, over the {COMMENT_LIMIT:,} a GitHub comment "
            f"holds: each stack is summarised below; {where} has every table.")
    lines = [f"- {r.line}" for r in reports]
    kept = len(lines)
    folded = _body([note, *lines], code)
    while len(folded) > COMMENT_LIMIT - MARGIN and kept > 1:  # thousands of stacks
        kept //= 2
        folded = _body([note, *lines[:kept], f"- and {len(lines) - kept:,} more stacks in the full report"], code)
    return folded, full, code
