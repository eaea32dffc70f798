"""Capacity shortfalls: the spec's `capacity:` section and `plan --unavailable`, re-planned with
`--previous` so only what must move moves, and the plan and `diff` saying what moved and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.cli import main
from gpufleet.diff import diff_documents
from gpufleet.errors import InfeasibleError, SpecError
from gpufleet.spec import load_fleet
from tests.test_placement import fleet, h100, solve, where

# 3 p5 nodes fit us-east-1's declared quota; the fourth goes to Azure (cheaper than us-west-2)
QUOTA = {"aws": {"us-east-1": {"L-417A185B": 3 * 192}}}
POOLS = [h100("train", 16), h100("tune", 16)]


def test_unavailable_offer_moves_only_its_nodes() -> None:
    _, before = solve(fleet(POOLS, quotas=QUOTA))
    on_azure = [key for key in where(before) if "/azure/" in key]
    assert len(on_azure) == 1
    assert sum(where(before).values()) == 4
    shortfall = fleet(POOLS, quotas=QUOTA, capacity={"unavailable": ["azure/eastus/*"]})
    _, after = solve(shortfall, before.placements)
    moved_pool = on_azure[0].split("/")[0]
    expected = {k: v for k, v in where(before).items() if k not in on_azure}
    expected[f"{moved_pool}/aws/us-west-2"] = 1
    assert where(after) == expected
    assert after.solver.kept_from_previous == 3


def test_available_caps_an_offer_over_every_pool() -> None:
    pools = [h100("train", 16), h100("tune", 16)]
    _, capped = solve(fleet(pools, capacity={"available": {"aws/us-east-1/p5.48xlarge": 3}}))
    east = sum(p.nodes for p in capped.placements if p.region == "us-east-1")
    assert east == 3


def test_a_shortfall_nothing_can_cover_exits_1_naming_it() -> None:
    data = fleet([h100(min_share={"azure": 0.5})], capacity={"unavailable": ["azure/eastus/*"]})
    with pytest.raises(InfeasibleError, match=r"taken out as unavailable: .*azure/eastus/Standard_ND96isr_H100_v5"):
        solve(data)


@pytest.mark.parametrize(("entry", "message"), [
    ("aws/us-eest-1/p5.48xlarge", "unknown aws region 'us-eest-1'"),
    ("gcp/us-east-1/*", "unknown cloud 'gcp'"),
    ("aws/us-east-1/p5.48xl", "unknown aws instance type 'p5.48xl' (did you mean 'p5.48xlarge'?)"),
    ("aws/us-east-1", "'aws/us-east-1' must be 'cloud/region/sku'"),
])
def test_bad_unavailable_entries_are_named(entry: str, message: str) -> None:
    with pytest.raises(SpecError) as error:
        load_fleet(fleet([h100()], capacity={"unavailable": [entry]}))
    assert f"capacity.unavailable[0]: {message}" in str(error.value)


def test_available_needs_one_offer() -> None:
    with pytest.raises(SpecError, match=r"capacity.available.aws/\*/p5.48xlarge: .*no '\*'"):
        load_fleet(fleet([h100()], capacity={"available": {"aws/*/p5.48xlarge": 2}}))


def _spec_file(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_plan_unavailable_flag_replans_and_diff_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec_file(tmp_path, fleet(POOLS, quotas=QUOTA))
    base = tmp_path / "base.json"
    assert main(["plan", "--spec", str(spec), "--format", "json", "--out", str(base)]) == 0
    head = tmp_path / "head.json"
    code = main(["plan", "--spec", str(spec), "--previous", str(base), "--unavailable", "azure/eastus/*",
                 "--format", "json", "--out", str(head)])
    assert code == 0
    document = json.loads(head.read_text())
    assert "azure/eastus/Standard_ND96isr_H100_v5: capacity.unavailable 'azure/eastus/*'" in (
        document["capacity"]["offers_out"]
    )
    moved = [(m["offer"], m["before"], m["after"], m["reason"], m["sentence"]) for m in document["previous"]["moved"]]
    assert moved == [
        ("aws/us-west-2/p5.48xlarge", 0, 1, "unavailable",
         f"took the nodes of {moved_pool(document)} that left azure/eastus/Standard_ND96isr_H100_v5 (unavailable)"),
        ("azure/eastus/Standard_ND96isr_H100_v5", 1, 0, "unavailable",
         "azure/eastus/Standard_ND96isr_H100_v5 is taken out (capacity.unavailable 'azure/eastus/*')"),
    ]
    change = diff_documents(json.loads(base.read_text()), document).to_json()
    assert change.get("moved", []) == document["previous"]["moved"]
    capsys.readouterr()
    assert main(["plan", "--spec", str(spec), "--previous", str(base), "--unavailable", "azure/eastus/*"]) == 0
    assert "Moved from the previous plan" in capsys.readouterr().out


def moved_pool(document: dict[str, Any]) -> str:
    return str(document["previous"]["moved"][0]["pool"])


def test_plan_unavailable_flag_names_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec_file(tmp_path, fleet([h100()]))
    assert main(["plan", "--spec", str(spec), "--unavailable", "azure/eastuss/*"]) == 2
    assert "--unavailable: unknown azure region 'eastuss' (did you mean 'eastus'?)" in capsys.readouterr().err
