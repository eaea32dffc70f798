"""What makes `gpufleet explain` fit a large fleet changes no answer it gives: an offer no plan
can use at any price is answered without the re-plans of a search, and the same as the search
answers it; offers left when the search's time is up keep today's reason and say they were
not searched. (The break-evens themselves are re-planned in tests/test_explain.py.)"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet import breakeven
from gpufleet.cli import main
from gpufleet.explain import SEARCH_SECONDS, explain
from gpufleet.moves import Cause
from gpufleet.spec import load_fleet
from tests.test_explain import BASE, CASES, EAST, WEST, _units
from tests.test_placement import fleet, h100


def _counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the re-plans made (one element each)."""
    solve, made = breakeven.Replanner._solve, list[int]()

    def counted(self: breakeven.Replanner, *given: Any) -> Any:
        made.append(1)
        return solve(self, *given)

    monkeypatch.setattr(breakeven.Replanner, "_solve", counted)
    return made


def _west_quota(data: dict[str, Any], vcpus: int) -> dict[str, Any]:
    return {**data, "quotas": {"aws": {"us-west-2": {"L-417A185B": vcpus}}}}


UNUSABLE = [  # us-west-2's p5 (192 vCPUs a node) in a bucket that holds less than one node
    _west_quota(BASE, 0),
    _west_quota(BASE, 191),
    _west_quota(_units(), 0),  # in units of 4 nodes
    _west_quota(fleet([h100("train", 16), h100("serve", 8)]), 100),  # two pools price the key
]


@pytest.mark.parametrize("data", UNUSABLE)
def test_an_offer_no_plan_can_use_is_answered_as_the_search_answers_it_without_its_replans(
    data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _counted(monkeypatch)
    searched = [e.to_json() for e in explain(load_fleet(data), screen=False)]
    by_search = len(made)
    made.clear()
    screened = [e.to_json() for e in explain(load_fleet(data))]
    assert screened == searched
    assert len(made) < by_search  # the search's re-plans at $0.01/h (and its first guess) are not made
    west = [e for e in screened if (e["region"], e["instance_type"]) == ("us-west-2", "p5.48xlarge")]
    assert west
    assert all(e["reason"] == "quota" and e["break_even_usd_per_hour"] is None for e in west)
    assert all("takes no more nodes at any price (even $0.01/h)" in e["sentence"] for e in west)


def test_a_bucket_that_holds_one_node_is_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    """One node fits: another pool (or this one) could use the offer, so no answer is assumed."""
    data = _west_quota(fleet([h100("train", 16), h100("serve", 8)]), 192)
    made = _counted(monkeypatch)
    searched = [e.to_json() for e in explain(load_fleet(data), screen=False)]
    by_search = len(made)
    made.clear()
    assert [e.to_json() for e in explain(load_fleet(data))] == searched
    assert len(made) == by_search


@pytest.mark.parametrize("data", [BASE, _west_quota(BASE, 0), *(data for _, data, _ in CASES[1:])])
def test_offers_left_when_the_search_time_is_up_keep_todays_reason_and_say_so(data: dict[str, Any]) -> None:
    spec = load_fleet(data)
    full = explain(spec, search_seconds=None)
    cut = explain(spec, search_seconds=0.0)
    assert [e.offer.key for e in cut] == [e.offer.key for e in full]
    for whole, short in zip(full, cut, strict=True):
        assert short.even is None
        assert short.quota_value_usd_per_month is None
        if "not searched" not in short.sentence:  # answered without a re-plan: as by the search
            assert short.to_json() == whole.to_json()
            continue
        assert short.sentence.endswith("not searched: explain starts no re-plan 0 s after it begins "
                                       "(--search-seconds)"), short.sentence
        assert short.sentence.startswith(f"{short.offer.key} ({short.pool}, {short.nodes} node")
        if whole.even is not None:  # the reason of an offer with a break-even is today's
            assert short.cause.reason == whole.cause.reason
            assert short.cause.sentence.startswith(f"{whole.cause.sentence}; its break-even was not searched")
    assert any("not searched" in e.sentence for e in cut)


def test_without_a_time_limit_a_small_fleet_is_explained_as_with_it() -> None:
    spec = load_fleet(_west_quota(BASE, 192))
    assert [e.to_json() for e in explain(spec, search_seconds=None)] == [e.to_json() for e in explain(spec)]


def test_the_search_begins_with_the_offers_closest_to_winning() -> None:
    """A rule-free counterfactual first, the smallest cut of today's price first; then rules;
    offers no plan can use last (they need no search)."""
    from gpufleet.explain import _Today  # pyright: ignore[reportPrivateUsage]

    spec = load_fleet(BASE)
    (west,) = [c for c in _candidates(spec) if c.offer.key == WEST]
    cheap, dear = _Today(Cause("price", ""), 100.0), _Today(Cause("price", ""), 1_000.0)
    rule = _Today(Cause("quota", ""), None)
    assert cheap.order(west, False) < dear.order(west, False) < rule.order(west, False) < cheap.order(west, True)
    assert cheap.order(west, False) == (0, 100.0 / (730 * 12.0))


def _candidates(spec: Any) -> list[Any]:
    from gpufleet.placement import candidates

    return candidates(spec, spec.catalog())[0]


def test_search_seconds_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "fleet.yaml"
    spec.write_text(yaml.safe_dump(_west_quota(BASE, 0)))
    assert main(["explain", "--spec", str(spec), "--format", "json"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert main(["explain", "--spec", str(spec), "--format", "json", "--search-seconds", "0"]) == 0  # no limit
    assert json.loads(capsys.readouterr().out) == default
    assert main(["explain", "--spec", str(spec), "--format", "json", "--search-seconds", "0.000001"]) == 0
    assert any("not searched" in e["sentence"] for e in json.loads(capsys.readouterr().out))
    for bad in ("-1", "soon", "inf", "nan"):
        with pytest.raises(SystemExit) as exited:
            main(["explain", "--spec", str(spec), "--search-seconds", bad])
        assert exited.value.code == 2
        assert f"argument --search-seconds: '{bad}' is not a number of seconds ≥ 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    assert f"(default {SEARCH_SECONDS:g})" in " ".join(capsys.readouterr().out.split())


def test_east_keeps_its_answer_when_west_is_screened() -> None:
    """The screen answers only the offer no plan can use; the others are searched as before."""
    data = _west_quota(BASE, 0)
    found = {e.offer.key: e.to_json() for e in explain(load_fleet(data))}
    assert found == {e.offer.key: e.to_json() for e in explain(load_fleet(data), screen=False)}
    assert EAST not in found  # it holds the whole pool


def test_a_replan_the_solver_stopped_short_proves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-plan that ends on a time limit (as one begun just before the deadline may) is not
    an optimum: it fails (`ReplanFailed`) instead of standing in for one. Its time limit runs
    to `OVERRUN_SECONDS` past the deadline, never past placement's own."""
    replan = breakeven.Replanner(load_fleet(BASE))
    replan.plan()  # today's plan is the plan explained, whatever its status
    real = breakeven.place

    def stopped(*given: Any, **named: Any) -> Any:
        result = real(*given, **named)
        return replace(result, solver=replace(result.solver, status="Time limit reached"))

    monkeypatch.setattr(breakeven, "place", stopped)
    with pytest.raises(breakeven.ReplanFailed, match="time limit"):
        replan.plan({WEST: 5.0})
    assert replan._options().time_limit_seconds == 60.0  # pyright: ignore[reportPrivateUsage]
    replan.deadline = time.monotonic() - breakeven.OVERRUN_SECONDS - 5
    assert replan._options().time_limit_seconds == 1.0  # pyright: ignore[reportPrivateUsage]
    replan.deadline = time.monotonic()
    assert 9 < replan._options().time_limit_seconds <= breakeven.OVERRUN_SECONDS  # pyright: ignore[reportPrivateUsage]
