"""What a person at a terminal sees: progress while planning, tables that fit the terminal."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from gpufleet.cli import main
from gpufleet.diff import diff_documents
from gpufleet.offline import SpecSource, run_plan
from gpufleet.report import PIPE_WIDTH, render_catalog, render_diff, render_plan, terminal_width
from tests.test_offline import document


class Terminal(io.StringIO):
    """stderr as a terminal."""

    def isatty(self) -> bool:
        return True


def test_plan_shows_progress_on_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["plan", "--stack", "dev"]) == 0
    shown = terminal.getvalue()
    assert "gpufleet: planning dev: running the program" in shown
    assert "resources" in shown
    assert "gpufleet: planning dev: done in" in shown.splitlines()[-1]
    assert "Placements" in capsys.readouterr().out


def test_plan_is_silent_on_a_pipe_and_in_json_mode(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--stack", "dev"]) == 0
    assert capsys.readouterr().err == ""  # stderr is a pipe here
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["plan", "--stack", "dev", "--format", "json"]) == 0
    assert terminal.getvalue() == ""


@pytest.mark.parametrize("width", [100, 80])
def test_every_table_fits_the_terminal(width: int) -> None:
    dev, prod = document("dev"), document("prod-eu")
    violated = with_violation(prod)
    texts = [
        render_plan(dev, "table", width), render_plan(violated, "table", width),
        render_diff(diff_documents(dev, prod), "table", width),
        render_catalog("table", None, None, None, width),
    ]
    for text in texts:  # only a word longer than the width may pass it, whole on its own line
        assert all(len(line) <= width or len(line.split()) == 1 for line in text.splitlines())


def test_narrow_terminal_keeps_the_important_columns_and_says_what_it_dropped() -> None:
    text = render_plan(document("prod-eu"), "table", 80)
    placements = text[text.index("Placements"):text.index("Networks")]
    for column in ("pool", "cloud/region", "SKU", "nodes", "$/month", "aws/eu-north-1", "Standard_ND96isr_H100_v5",
                   "p5.48xlarge"):
        assert column in placements
    assert "not shown at this width: GPU, capacity, GPUs" in placements
    assert "not shown" not in render_plan(document("dev"), "table", 120)


def test_width_follows_columns_and_is_fixed_on_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "90")
    assert terminal_width() == 90
    monkeypatch.delenv("COLUMNS")
    assert terminal_width() == PIPE_WIDTH == 100  # pytest's stdout is not a terminal


def with_violation(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    bucket = next(r for r in doc["resources"] if r["type"] == "aws:s3/bucket:Bucket")
    verdict = next(v for v in doc["policies"] if v["policy"] == "sovereignty-allowed-regions")
    verdict["violations"] = [{"urn": bucket["urn"], "message": "region us-east-1 is in US, outside EU; move it to an EU region"}]
    return doc


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_violations_come_first_with_resource_and_fix(fmt: str) -> None:
    doc = with_violation(document("prod-eu"))
    bucket = next(r for r in doc["resources"] if r["type"] == "aws:s3/bucket:Bucket")
    text = render_plan(doc, fmt, 120)
    assert "Policy violations (1)" in text
    first = text[:text.index("Placements")]
    assert text.index("Placements") < text.index("Policies")
    for shown in ("move it to an EU region", bucket["name"], "(aws:s3/bucket:Bucket)", "sovereignty-allowed-regions",
                  "mandatory"):
        assert shown in first


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_previous_plan_says_what_was_kept_and_what_it_may_cost(tmp_path: Path, fmt: str) -> None:
    previous = tmp_path / "previous.json"
    previous.write_text(json.dumps(document("prod-eu")))
    doc = run_plan(SpecSource(stack="prod-eu"), previous=previous).document
    nodes = sum(p["nodes"] for pool in doc["pools"] for p in pool["placements"])
    tolerance = 0.01  # the default placement.stability_tolerance
    assert doc["previous"] == {
        "nodes": nodes, "kept_nodes": nodes, "stability_tolerance": tolerance,
        "max_extra_usd": round(doc["solver"]["objective_usd"] * tolerance / (1 + tolerance), 2),
    }
    text = render_plan(doc, fmt, 120)
    assert "Kept from the previous plan" in text
    assert f"at most ${doc['previous']['max_extra_usd']:,.0f}/month more" in text
    assert "Kept from the previous plan" not in render_plan(document("prod-eu"), fmt, 120)
