"""The pull-request comment: every stack's diff (base → head) and verdicts in one markdown body.

CI plans each stack on the base and on the head into two folders of plan JSON files; this turns
them into the one comment the workflow posts or updates (found again by its marker line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpufleet.diff import diff_documents
from gpufleet.errors import EXIT_OK, EXIT_POLICY, CommandLineError, Problem
from gpufleet.planinput import read_document
from gpufleet.report import render_diff
from gpufleet.textfile import read_utf8

MARKER = "<!-- gpufleet-preview -->"


def empty_document(stack: str) -> dict[str, Any]:
    """A plan with nothing in it: the base of a stack that the pull request adds."""
    return {
        "stack": stack, "pools": [], "resources": [], "policies": [],
        "cost": {"monthly_usd": 0.0, "by_cloud": {}},
    }


def build_comment(base_dir: Path, head_dir: Path) -> tuple[str, int]:
    """(markdown body, exit code): 1 when a head plan failed (`<stack>.error` holds its
    message), violates a mandatory policy, or would remove or replace a protected resource.
    A missing folder, or a head folder with nothing planned in it, is a command-line error."""
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
    parts = [MARKER, "## gpufleet preview"]
    code = EXIT_OK
    for head_file in heads:
        head = read_document(head_file)
        base_file = base_dir / head_file.name
        base = read_document(base_file) if base_file.exists() else empty_document(head_file.stem)
        change = diff_documents(base, head)
        code = max(code, change.exit_code)
        parts.append(f"<details open><summary>stack <b>{head_file.stem}</b></summary>\n\n"
                     f"{render_diff(change, 'markdown')}\n</details>")
    for failed in failures:
        code = EXIT_POLICY
        text = read_utf8(failed, "plan error").strip()
        parts.append(f"stack **{failed.stem}**: the plan failed:\n\n```\n{text}\n```")
    for removed in sorted({p.name for p in base_dir.glob("*.json")} - {p.name for p in heads}):
        parts.append(f"stack **{Path(removed).stem}** is removed by this change.")
    verdict = (
        "mandatory policy violated or protected data at risk" if code == EXIT_POLICY
        else "all mandatory policies pass"
    )
    parts.append(f"**Verdict:** {verdict}.")
    return "\n\n".join(parts) + "\n", code
