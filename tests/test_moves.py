"""Move reasons are true: every node a re-plan moves (`plan --previous`, `--unavailable`) carries
the rule that binds, from the one closed set `gpufleet.reasons` (shared with `gpufleet explain`),
and nothing moves that the reason does not require: putting back even one moved node breaks that
rule or costs more."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.movereasons import MoveCauses
from gpufleet.moves import Move, moves
from gpufleet.pipeline import build_plan
from gpufleet.plan import Placement
from gpufleet.reasons import MEANING, REASONS
from gpufleet.spec import load_fleet
from tests.test_placement import fleet, h100

ROOT = Path(__file__).resolve().parent.parent


def replan(before: dict[str, Any], after: dict[str, Any]) -> list[Move]:
    """Plan `before`, re-plan `after` from it (`--previous`), and the moves with their causes;
    each loss's one-node counterfactual must bind too (never `stability`)."""
    first = build_plan(load_fleet(before), "test")
    spec = load_fleet(after)
    second = build_plan(spec, "test", first.placements)
    causes = MoveCauses(spec, spec.catalog(), first.placements, second.placements)
    found = moves(first.placements, second.placements, causes.why)
    for move in found:
        assert move.reason in REASONS
        assert move.reason != "stability", move
        if move.after < move.before:
            one = causes.why(move.pool, move.offer, 1)
            assert one is not None
            assert one.reason != "stability", (move, one)
    return found


def reasons(found: list[Move]) -> list[tuple[str, int, int, str]]:
    return [(m.offer, m.before, m.after, m.reason) for m in found]


def test_the_reasons_are_one_closed_set_documented_once() -> None:
    assert REASONS == ("price", "quota", "share", "limit", "address", "sovereignty", "unavailable", "no-price",
                       "commitment", "data", "stability")
    assert set(MEANING) == set(REASONS)
    design = (ROOT / "docs" / "design.md").read_text()
    section = design[design.index("## Binding reasons"):]
    section = section[:section.index("\n## ", 3)]
    assert re.findall(r"^\| `([a-z-]+)` \|", section, re.MULTILINE) == list(REASONS)


BASE = fleet([h100("train", 16)])  # 2 nodes in aws/us-east-1, the cheapest ($10/h)
EAST, WEST, AZURE = "aws/us-east-1/p5.48xlarge", "aws/us-west-2/p5.48xlarge", "azure/eastus/Standard_ND96isr_H100_v5"


@pytest.mark.parametrize(("change", "expected"), [
    ({"capacity": {"unavailable": ["aws/us-east-1/*"]}}, [(EAST, 2, 0, "unavailable"), (AZURE, 0, 2, "unavailable")]),
    ({"capacity": {"available": {EAST: 1}}}, [(EAST, 2, 1, "unavailable"), (AZURE, 0, 1, "unavailable")]),
    ({"quotas": {"aws": {"us-east-1": {"L-417A185B": 192}}}}, [(EAST, 2, 1, "quota"), (AZURE, 0, 1, "quota")]),
    ({"pools": [h100("train", 16, min_share={"azure": 0.5})]}, [(EAST, 2, 1, "share"), (AZURE, 0, 1, "share")]),
    ({"limits": {"aws": {"us-east-1": {"node_groups_per_cluster": 1}}}}, [(EAST, 2, 0, "limit"), (AZURE, 0, 2, "limit")]),
    ({"clouds": {"aws": {"regions": ["us-west-2"]}, "azure": {"regions": ["eastus"]}}},
     [(EAST, 2, 0, "sovereignty"), (AZURE, 0, 2, "sovereignty")]),
    ({"budget": {"commitments": {"azure": 20_000}}}, [(EAST, 2, 0, "commitment"), (AZURE, 0, 2, "commitment")]),
])
def test_each_rule_that_moves_nodes_is_named(change: dict[str, Any], expected: list[tuple[str, int, int, str]]) -> None:
    assert reasons(replan(BASE, {**BASE, **change})) == expected


def test_a_dearer_place_no_longer_pinned_is_left_for_price() -> None:
    pinned = fleet([h100("train", 16, pin={"aws/us-west-2": 2})])
    found = replan(pinned, BASE)
    assert reasons(found) == [(EAST, 0, 2, "price"), (WEST, 2, 0, "price")]
    assert found[1].sentence.startswith("putting them back costs $2,920/month more; the plan keeps the previous "
                                        "nodes that fit in the 1.0% stability tolerance")


def test_an_offer_without_a_price_any_more_is_left_for_no_price() -> None:
    cheap = fleet([h100("train", 16)], clouds={"aws": {"regions": ["us-east-1"]}, "azure": {"regions": ["eastus", "westus3"]}},
                  prices={"azure/westus3/Standard_ND96isr_H100_v5": 5.0})
    unpriced = {**cheap, "prices": {k: v for k, v in cheap["prices"].items() if "westus3" not in k}}
    found = replan(cheap, unpriced)
    assert [(m.offer, m.reason, m.sentence) for m in found if m.after < m.before] == [
        ("azure/westus3/Standard_ND96isr_H100_v5", "no-price", "azure/westus3/Standard_ND96isr_H100_v5: no on-demand "
         "price in the catalog or the price book (`prices: azure/westus3/Standard_ND96isr_H100_v5`)")]


def test_a_dataset_produced_elsewhere_pulls_its_pool_for_data() -> None:
    storage = [{"name": "corpus", "size_tib": 400, "colocate_with": ["train"]}]
    before = {**BASE, "storage": storage}
    after = {**BASE, "storage": [{**storage[0], "home": "azure/eastus", "churn_tib": 40}]}
    found = replan(before, after)
    assert reasons(found) == [(EAST, 2, 0, "data"), (AZURE, 0, 2, "data")]
    assert "of it dataset copies and transfers" in found[0].sentence


def test_the_issues_unavailable_h200_moves_only_what_network_space_requires() -> None:
    """Issue 30: taking out the H200 offer moved B200 and H100 nodes out of the region the H200
    went to, and the plan blamed the stability tolerance. The cause is network space: the
    region's node subnets cannot hold the H200 and all it held, so exactly the nodes that make
    room leave, each said to be for `address`; one node more would not fit."""
    fleet_data = {
        "name": "us", "network": {"supernet": "10.0.0.0/8"},
        "budget": {"commitments": {"aws": 60_000_000, "azure": 20_000_000}},
        "clouds": {"aws": {"regions": ["us-east-1", "us-east-2", "us-west-2"]},
                   "azure": {"regions": ["eastus", "westus3", "southcentralus"]}},
        "pools": [{"name": "train-b200", "accelerator": "B200", "gpus": 2048},
                  {"name": "train-h100", "accelerator": "H100", "gpus": 4096},
                  {"name": "h200", "accelerator": "H200", "gpus": 1024}],
        "storage": [{"name": "corpus", "size_tib": 1024, "colocate_with": ["train-b200", "train-h100"]}],
    }
    first = build_plan(load_fleet(fleet_data), "us")
    (h200,) = [p for p in first.placements if p.pool == "h200"]
    gone = f"{h200.cloud}/{h200.region}/{h200.instance_type}"
    found = replan(fleet_data, {**fleet_data, "capacity": {"unavailable": [gone]}})
    by_reason: dict[str, set[str]] = {}
    for move in found:
        by_reason.setdefault(move.reason, set()).add(move.pool)
    assert by_reason == {"unavailable": {"h200"}, "address": {"train-b200", "train-h100"}}
    (landed,) = [m.offer for m in found if m.pool == "h200" and m.after > m.before]
    place = "/".join(landed.split("/")[:2])
    left = [m for m in found if m.reason == "address" and m.after < m.before]
    assert left
    assert all(m.offer.startswith(place) for m in left)
    assert all("h200 moved in there" in m.sentence for m in left)
    moved_out = sum(m.before - m.after for m in left)
    assert moved_out <= h200.nodes  # never more nodes than the H200 brought in


def test_the_plan_json_and_table_carry_reason_and_sentence(tmp_path: Path) -> None:
    from gpufleet.cli import main

    spec = tmp_path / "fleet.yaml"
    spec.write_text(yaml.safe_dump(BASE))
    base = tmp_path / "base.json"
    assert main(["plan", "--spec", str(spec), "--format", "json", "--out", str(base)]) == 0
    head = tmp_path / "head.json"
    assert main(["plan", "--spec", str(spec), "--previous", str(base), "--unavailable", "aws/us-east-1/*",
                 "--format", "json", "--out", str(head)]) == 0
    moved = yaml.safe_load(head.read_text())["previous"]["moved"]
    assert [(m["offer"], m["reason"]) for m in moved] == [(EAST, "unavailable"), (AZURE, "unavailable")]
    assert moved[0]["sentence"] == "aws/us-east-1/p5.48xlarge is taken out (capacity.unavailable 'aws/us-east-1/*')"


def _placement(pool: str, offer: str, nodes: int) -> Placement:
    cloud, region, sku = offer.split("/")
    return Placement(pool, cloud, region, sku, nodes, 8 * nodes, "on-demand", 192, "b", 10.0, "s", 7300.0 * nodes)


def test_a_pool_that_only_grew_moved_nothing() -> None:
    before = [_placement("train", EAST, 2)]
    after = [_placement("train", EAST, 2), _placement("train", WEST, 1)]
    assert moves(before, after, lambda *_: None) == []
