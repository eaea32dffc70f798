"""The documents keep up with the code: docs/design.md names every CloudModel member and every
capability, README.md stays a front door, and every link in README.md, docs/ and benchmarks/
resolves (a file that exists, a heading that exists in it)."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from gpufleet.clouds.base import CloudModel
from gpufleet.clouds.capabilities import Capabilities

ROOT = Path(__file__).resolve().parent.parent
DESIGN = ROOT / "docs" / "design.md"
README_MAX_LINES = 200
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def section(path: Path, heading: str) -> str:
    text = path.read_text(encoding="utf-8")
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def model_members() -> set[str]:
    return {name for name in (*vars(CloudModel), *CloudModel.__annotations__) if not name.startswith("_")}


def test_the_design_documents_every_cloud_model_member() -> None:
    documented = set(re.findall(r"`([a-z_]+)(?:\(|`)", section(DESIGN, "The cloud interface")))
    members = model_members()
    assert len(members) > 50
    assert sorted(members - documented) == []


def test_the_design_documents_every_capability() -> None:
    table = section(DESIGN, "Capabilities")
    documented = set(re.findall(r"`([a-z_0-9]+)(?:\(|`)", table))
    names = {f.name for f in fields(Capabilities)} | {"zones", "link_role"}
    assert sorted(names - documented) == []


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    found: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return found


def broken_links(path: Path) -> list[str]:
    broken: list[str] = []
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):  # https:, mailto: are not checked offline
            continue
        file, _, fragment = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(f"{target}: no heading '{fragment}' in {linked.name}")
    return broken


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves(path: Path) -> None:
    assert path.exists()
    assert broken_links(path) == []


def test_the_link_check_sees_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Top\n## Real heading\n[ok](#real-heading) [gone](b.md) [no](#nope)\n")
    assert broken_links(tmp_path / "a.md") == ["b.md: no such file", "#nope: no heading 'nope' in a.md"]


def test_the_readme_is_a_front_door() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES
    text = "\n".join(lines)
    for must in ("make plan", "make test", "pulumi preview", "--policy-pack policies", "pulumi up",
                 "docs/design.md", "benchmarks/README.md"):
        assert must in text, must
