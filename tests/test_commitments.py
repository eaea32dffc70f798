"""Commitments over time on examples/two-deals.yaml: its burn report agrees with a recomputation
from its own schedule (nodes × hourly prices × hours, the discount, each contract's rule), the
policies judge it as the planner prices it, and every output (JSON and its schema, the tables,
the charts, the diff) carries it."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from pydantic import TypeAdapter

from gpufleet import clouds
from gpufleet.burn import settle
from gpufleet.catalog import packaged_rows
from gpufleet.diff import diff_documents
from gpufleet.horizon import Checkpoint
from gpufleet.months import month_index, month_text
from gpufleet.offline import SpecSource, run_plan
from gpufleet.planjson import PlanDocument
from gpufleet.policy import evaluate
from gpufleet.policy.config import COMMITMENT_BURN, policy_config
from gpufleet.report import render_diff, render_plan
from tests.conftest import planned_stack

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "two-deals.yaml"
HOURS = 730


@cache
def planned(period: str = "2026-01") -> dict[str, Any]:
    return run_plan(SpecSource(spec=EXAMPLE, period=period)).document


def example() -> dict[str, Any]:
    return dict(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))


def _hourly(cloud: str, region: str, sku: str, prices: dict[str, float], discount: float) -> float:
    """The price of a node an hour, read from the catalog's own data file and the price book:
    a price-book rate stands, a list price is the discount lower."""
    key = f"{cloud}/{region}/{sku}"
    if key in prices:
        return prices[key]
    row = next(r for r in packaged_rows("offers") if (r["cloud"], r["region"], r["instance_type"]) == (cloud, region, sku))
    return float(row["price_usd_per_hour"]) * (1 - discount)


def _region_hourly(cloud: str) -> float:
    """A region's own infrastructure an hour at list price: the cloud's fixed items and its
    system nodes at their minimum (the cloud model's sourced rates)."""
    model = clouds.get(cloud)
    return sum(i.count * i.usd_per_hour for i in model.fixed_costs()) + model.system_pool.min_nodes * model.system_pool.usd_per_hour


def recomputed_monthly(doc: dict[str, Any], spec: dict[str, Any]) -> list[dict[str, float]]:
    """Each period's $/month per cloud from its placements: nodes × $/h × 730 h, plus each
    region that holds nodes, every line at list less the contract's discount (none on the
    price book), as the contract burns them all (`burns` lists every kind)."""
    discounts = {c: float(v.get("discount", 0.0)) for c, v in spec["budget"]["commitments"].items()}
    found: list[dict[str, float]] = []
    for period in doc["schedule"]:
        spend: dict[str, float] = {}
        regions: set[tuple[str, str]] = set()
        for pool in period["pools"]:
            for p in pool["placements"]:
                hourly = _hourly(p["cloud"], p["region"], p["instance_type"], spec["prices"], discounts[p["cloud"]])
                spend[p["cloud"]] = spend.get(p["cloud"], 0.0) + p["nodes"] * hourly * HOURS
                regions.add((p["cloud"], p["region"]))
        for cloud, _ in regions:
            spend[cloud] = spend.get(cloud, 0.0) + _region_hourly(cloud) * HOURS * (1 - discounts[cloud])
        found.append(spend)
    return found


def test_the_burn_report_agrees_with_a_recomputation_from_its_own_schedule() -> None:
    doc, spec = planned(), example()
    monthly = recomputed_monthly(doc, spec)
    for period, mine in zip(doc["schedule"], monthly, strict=True):
        for cloud, usd in mine.items():
            assert period["cost_by_cloud"][cloud] == pytest.approx(usd, abs=1.0)
    starts = [month_index(p["period"]) for p in doc["schedule"]]
    by_month = {start + m: mine for start, mine in zip(starts, monthly, strict=True) for m in range(3)}
    # AWS: a minimum per contract year, a cash shortfall, burned_usd before 2026-01 in year 1.
    aws = next(c for c in doc["commitments"] if c["cloud"] == "aws")
    ramp = spec["budget"]["commitments"]["aws"]["ramp_usd"]
    for k, window in enumerate(aws["periods"]):
        first = month_index("2025-11") + 12 * k
        last = min(first + 11, month_index("2028-12"))
        burn = sum(by_month[m]["aws"] for m in range(max(first, month_index("2026-01")), last + 1))
        burn += 20_000_000 if k == 0 else 0.0
        minimum = ramp[k] * (last + 1 - first) / 12
        assert (window["end"], window["paced"]) == (month_text(last), last < first + 11)
        assert window["burn_usd"] == pytest.approx(burn, abs=50)
        assert window["minimum_usd"] == pytest.approx(minimum, abs=0.01)
        assert window["shortfall_usd"] == pytest.approx(max(0.0, minimum - burn), abs=50)
    # Azure: cumulative milestones; a shortfall becomes credit drawn first by later months.
    azure = next(c for c in doc["commitments"] if c["cloud"] == "azure")
    first_due = month_index("2027-12")
    burned = sum(by_month[m]["azure"] for m in by_month if m <= first_due)
    short = max(0.0, 800_000_000 - burned)
    credit, drawn = short, 0.0
    for m in sorted(m for m in by_month if m > first_due):
        take = min(credit, by_month[m]["azure"])
        credit -= take
        drawn += take
    later = sum(by_month[m]["azure"] for m in by_month if m > first_due) - drawn
    paced = 800_000_000 + 2_200_000_000 * 12 / 36  # 2028-12 of the way from 2028-01 to 2030-12
    one, two = azure["periods"]
    assert (one["burn_usd"], one["shortfall_usd"]) == (pytest.approx(burned, abs=50), pytest.approx(short, abs=50))
    assert two["minimum_usd"] == pytest.approx(paced, abs=0.01)
    assert two["burn_usd"] == pytest.approx(burned + later, abs=100)
    assert two["shortfall_usd"] == pytest.approx(max(0.0, paced - burned - later - short), abs=100)
    assert azure["credit_drawn_usd"] == pytest.approx(drawn, abs=50)


def test_credit_is_drawn_by_the_months_after_a_shortfall_and_burns_nothing() -> None:
    due = (
        Checkpoint("milestone", 0, 2, 2, 100.0, 100.0, 0.0, True),
        Checkpoint("term", 0, 5, 5, 300.0, 300.0, 0.0, True),
    )
    by_month = dict.fromkeys(range(6), 20.0)  # 60 by month 2: 40 short, then drawn
    credit = settle(due, by_month, credit=True)
    # months 3-5 draw the 40 of credit from their 60: 20 burns; the term counts 60 + 20 + 40 charged
    assert credit.shortfalls == [40.0, 180.0]
    assert credit.drawn == 40.0
    assert credit.cost() == 180.0  # the credit paid for consumption: 40 + 180 − 40 drawn
    cash = settle(due, by_month, credit=False)
    assert cash.shortfalls == [40.0, 140.0]  # 60 + 60 burned + 40 charged already
    assert cash.cost() == 180.0


def test_the_plan_over_the_years_is_steady_and_lets_no_aws_minimum_lapse() -> None:
    """Month by month the cheaper Azure rate would take every H100 and AWS's minimums would be
    invoiced for nothing; the plan burns each AWS year to about its minimum (a year may run a
    little over where keeping the nodes of the quarter before costs less than the stability
    tolerance), and few nodes move."""
    doc = planned()
    # Of about 4,100 nodes at the end; the example's training pools move in whole units of 8
    # nodes since issue 29 (one job, one site).
    moved = [p["moved_nodes"] for p in doc["schedule"]]
    assert sum(moved) <= 200
    assert all(n % 8 == 0 for n in moved)
    aws = next(c for c in doc["commitments"] if c["cloud"] == "aws")
    for window in aws["periods"]:
        assert window["shortfall_usd"] == 0.0
        assert window["over_usd"] <= 0.1 * window["minimum_usd"]
    assert doc["solver"]["status"] in ("Optimal", "Feasible")
    assert doc["solver"]["optimality_gap"] < 1e-3


def test_the_document_validates_and_every_output_carries_the_burn() -> None:
    doc = planned()
    TypeAdapter(PlanDocument).validate_python(doc)
    assert doc["horizon"] == {"start": "2026-01", "months": 36, "period": "quarter", "deployed": "2026-01"}
    assert [p["period"] for p in doc["schedule"]][:2] == ["2026-01", "2026-04"]
    assert doc["pools"][0]["gpus"] == doc["schedule"][0]["pools"][0]["gpus"] == 3072
    text = render_plan(doc, "table")
    assert "Burn against each checkpoint's minimum" in text
    for c in doc["commitments"]:  # every figure whole in the table, none cut to fit
        for window in c["periods"]:
            assert f"${window['burn_usd']:,.0f}" in text
    markdown = render_plan(doc, "markdown")
    assert markdown.count("xychart-beta") == 2
    assert '"2026-01", "2026-04"' in markdown


def test_commitment_burn_warns_about_a_planned_shortfall_above_its_threshold() -> None:
    doc = planned()
    burn = next(v for v in doc["policies"] if v["policy"] == "commitment-burn")
    expected = [
        (c["cloud"], w["end"]) for c in doc["commitments"] for w in c["periods"]
        if w["shortfall_usd"] > c["shortfall_threshold_usd"]
    ]
    assert len(burn["violations"]) == len(expected)
    data = example()
    data["budget"]["commitments"]["aws"]["ramp_usd"] = [1.5e8, 2.5e8, 1.2e9, 3.5e8, 1.5e8, 1.5e8, 2.0e8]
    from gpufleet.spec import load_fleet

    config = policy_config(load_fleet(data))[COMMITMENT_BURN]
    planned_shortfalls = cast(list[dict[str, Any]], config["planned_shortfalls"])
    shortfalls = [s for s in planned_shortfalls if s["shortfall_usd"] > s["threshold_usd"]]
    assert any(s["cloud"] == "aws" and s["checkpoint"] == "year 3" for s in shortfalls)


def test_gpu_budget_prices_the_deployed_period_as_the_plan_does() -> None:
    """The policy prices the declared resources with the deployed period's discount (AWS list
    prices 10 % lower, the Azure price book as it is): a cap a dollar above the plan's monthly
    total passes, a dollar below it does not."""
    made = run_plan(SpecSource(spec=EXAMPLE, period="2027-04"))
    total = made.document["cost"]["monthly_usd"]
    config = policy_config(made.plan.spec, made.plan.commitments)

    def violations(cap: float) -> int:
        config["gpu-budget"] = {**config["gpu-budget"], "monthly_usd": cap}
        verdict = next(v for v in evaluate(made.recording.resources, config) if v.policy == "gpu-budget")
        return len(verdict.violations)

    assert violations(total + 1) == 0
    assert violations(total - 1) == 1


def test_diff_shows_how_a_changed_contract_moves_the_burn(tmp_path: Path) -> None:
    data = copy.deepcopy(example())
    data["budget"]["commitments"]["aws"]["ramp_usd"] = [1.0e8, 3.0e8, 3.0e8, 3.5e8, 4.0e8, 5.0e8, 5.0e8]
    head_file = tmp_path / "two-deals.yaml"
    head_file.write_text(json.dumps(data), encoding="utf-8")
    head = run_plan(SpecSource(spec=head_file, period="2026-01")).document
    change = diff_documents(planned(), head)
    years = {b.checkpoint: b for b in change.burns if b.cloud == "aws"}
    assert years["year 1 to 2026-10"].burn[1] < years["year 1 to 2026-10"].burn[0]
    assert "commitments" in change.to_json()
    assert "xychart-beta" in render_diff(change, "markdown")


def test_a_contract_is_no_monthly_commitment_in_the_cost_table() -> None:
    """Both clouds hold contracts: the month's cost says where their burn is shown instead of
    a $0 commitment with every dollar "above" it; prod-eu's flat commitments keep their month."""
    doc = planned()
    assert doc["cost"]["commitments"] == {}
    text = render_plan(doc, "markdown")
    assert len([line for line in text.splitlines() if line.startswith(("| aws ", "| azure "))
                and "contract: see Commitments" in line]) == 2
    flat = planned_stack("prod-eu").document["cost"]
    assert {c: s["committed_usd"] for c, s in flat["commitments"].items()} == {"aws": 300_000, "azure": 450_000}
    assert all(s["burned_usd"] == min(s["committed_usd"], flat["by_cloud"][c]) for c, s in flat["commitments"].items())


@pytest.mark.parametrize("width", [80, 100, 160])
def test_the_burn_chart_fits_the_terminal_with_every_share_and_heading_whole(width: int) -> None:
    """A checkpoint burned to twice its minimum drew a bar too long for 100 columns and the
    'of minimum' heading came out as 'of minim…': the bar narrows to the console instead."""
    from gpufleet.burnreport import print_burn_chart
    from gpufleet.tables import console_for

    doc = copy.deepcopy(planned())
    window = doc["commitments"][0]["periods"][0]
    window["burn_usd"] = 2.12 * window["minimum_usd"]
    console = console_for(width)
    print_burn_chart(console, doc)
    text = console.export_text()
    assert "…" not in text
    assert all(len(line) <= width for line in text.splitlines())
    assert "of minimum" in text
    assert "212%" in text
    shares = [w["burn_usd"] / w["minimum_usd"] for c in doc["commitments"] for w in c["periods"] if w["minimum_usd"]]
    assert all(f"{s:.0%}" in text for s in shares)


def test_the_headline_says_what_an_unproven_horizon_plan_may_cost_more() -> None:
    doc = copy.deepcopy(planned())
    doc["solver"].update(status="Optimal", optimality_gap=4e-5)
    assert "placement Optimal (gap 4e-05, proven within 0.0001 over the horizon)" in _words(render_plan(doc, "table"))
    doc["solver"].update(status="Feasible", optimality_gap=0.000198913)
    assert ("placement Feasible (gap 0.000198913, not proven within 0.0001 over the horizon: it may cost up to "
            "0.020% more than the best)") in _words(render_plan(doc, "table"))


def _words(text: str) -> str:
    return " ".join(text.split())


def _table_rows(text: str, first: str) -> list[list[str]]:
    """The cells of every Markdown table row whose first cell is one of `first`'s words."""
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("| ") and line.split("|")[1].strip().split(" ")[0] in first]


def test_the_worked_example_in_the_docs_is_what_the_plan_says() -> None:
    """docs/commitments.md walks through two-deals' schedule and burn, and the README quotes
    the burn: each row they show is the plan's row (the schedule's without its months column;
    the README's box-drawn rows cell for cell), so a change of placement that changes them
    fails here instead of leaving the docs wrong."""
    doc = planned()
    markdown = render_plan(doc, "markdown").replace("\\*", "*")
    burn = {tuple(row[:3]): row for row in _table_rows(markdown, "aws azure") if len(row) == 7}
    schedule = {row[0].removesuffix(" (deployed)"): [row[0].removesuffix(" (deployed)"), *row[2:]]
                for row in _table_rows(markdown, "2026-01 2026-04 2026-07 2026-10 2027-01 2027-04 2027-07 "
                                                 "2027-10 2028-01 2028-04 2028-07 2028-10")}
    written = (Path(__file__).resolve().parent.parent / "docs" / "commitments.md").read_text(encoding="utf-8")
    shown = [row for row in _table_rows(written, "aws azure 2026-01 2026-07 2027-01 2027-10 2028-01 2028-10")
             if len(row) == (7 if row[0] in ("aws", "azure") else 6)]  # the burn and the schedule
    assert len(shown) >= 12
    for row in shown:
        assert row == (burn.get(tuple(row[:3])) if row[0] in ("aws", "azure") else schedule.get(row[0])), row
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    quoted = [[cell.strip() for cell in line.strip("│").split("│")] for line in readme.splitlines()
              if line.startswith(("│ aws", "│ azure"))]
    quoted = [row for row in quoted if len(row) == 7]  # the burn's rows (the README has a cost table too)
    assert quoted
    for row in quoted:
        assert row == burn.get(tuple(row[:3])), row
