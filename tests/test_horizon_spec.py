"""The horizon, pool schedules and commitment contracts in the spec: each bad contract exits 2
naming its field, the flat form keeps its meaning, and the time structure (periods, checkpoints,
discount per period) is what docs/commitments.md says."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.cli import main
from gpufleet.errors import SpecError
from gpufleet.horizon import checkpoints, contract_terms, period_gpus, period_spec, periods
from gpufleet.months import month_index, month_text
from gpufleet.spec import load_fleet
from gpufleet.spechorizon import Contract


def deals() -> dict[str, Any]:
    """The issue's contract, in the spec's words."""
    return yaml.safe_load("""
name: deals
horizon: {start: 2026-01, months: 36, period: quarter}
budget:
  monthly_usd: 500000000
  commitments:
    aws:   {total_usd: 38000000000, start: 2025-11, years: 7, minimum: per-year,
            ramp_usd: [3.0e9, 4.5e9, 5.5e9, 6.0e9, 6.0e9, 6.5e9, 6.5e9], discount: 0.10, shortfall: cash,
            burns: [compute, storage, transfer, fixed], burned_usd: 0, as_of: 2026-01}
    azure: {total_usd: 250000000000, start: 2025-11, years: 8, minimum: whole-term,
            milestones: {2027-12: 40000000000, 2030-12: 150000000000}, shortfall: credit}
network: {supernet: 10.0.0.0/8}
clouds: {aws: {regions: [us-east-1]}, azure: {regions: [eastus]}}
pools:
  - {name: train, accelerator: H100, gpus: 4096, gpus_per_node: 8, schedule: {2026-07: 8192, 2027-01: 16384}}
""")


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_fleet(data)
    return [str(p) for p in caught.value.problems]


def changed(path: str, value: Any) -> dict[str, Any]:
    """The deals spec with one value set (None removes the key)."""
    data = deals()
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is None:
        node.pop(last)
    else:
        node[last] = value
    return data


def test_the_issues_contract_is_a_valid_spec() -> None:
    spec = load_fleet(deals())
    aws, azure = spec.budget.contracts()["aws"], spec.budget.contracts()["azure"]
    assert (aws.term_months, aws.contract_years, month_text(aws.end - 1)) == (84, 7, "2032-10")
    assert azure.burns == ("compute", "storage", "transfer", "fixed")  # every kind, by default
    assert spec.budget.monthly_commitment("aws") == 0.0  # a contract is no flat $/month
    assert spec.budget.discounts() == {"aws": 0.10}


def test_the_flat_form_keeps_its_meaning() -> None:
    data = changed("budget.commitments", {"aws": 300000, "azure": 450000.5})
    spec = load_fleet(data)
    assert spec.budget.monthly_commitment("aws") == 300000
    assert spec.budget.contracts() == {}
    assert spec.budget.discounts() == {}


CASES: list[tuple[str, Any, str]] = [
    ("horizon", None, "budget.commitments.aws: a commitment contract is planned over months: add horizon:"),
    ("horizon", None, "pools[0].schedule: a pool schedule is planned over months: add horizon:"),
    ("horizon.months", 10, "horizon.months: 10 months are not whole quarters; use 9 or 12, or period: month"),
    ("horizon.months", 0, "horizon.months: Input should be greater than or equal to 1 (got 0)"),
    ("horizon.period", "week", "horizon.period: got 'week'; allowed: month, quarter"),
    ("horizon.start", "2026-1", "horizon.start: a month is written YYYY-MM, e.g. 2026-01 (month 01-12)"),
    ("budget.commitments.aws.ramp_usd", [5e9] * 8,
     "budget.commitments.aws.ramp_usd: 8 amounts, longer than the term's 7 contract years; give one per year"),
    ("budget.commitments.aws.ramp_usd", [1e9] * 7,
     "budget.commitments.aws.ramp_usd: the years add up to $7,000,000,000, not total_usd $38,000,000,000"),
    ("budget.commitments.aws.ramp_usd", [-1.0] * 7, "budget.commitments.aws.ramp_usd[0]: Input should be greater"),
    ("budget.commitments.aws.total_usd", -5, "budget.commitments.aws.total_usd: Input should be greater than 0"),
    ("budget.commitments.aws.burned_usd", -1, "budget.commitments.aws.burned_usd: Input should be greater than"),
    ("budget.commitments.aws.discount", 1.0, "budget.commitments.aws.discount: Input should be less than 1"),
    ("budget.commitments.aws.discount", True, "budget.commitments.aws.discount: a number is expected here, not true"),
    ("budget.commitments.aws.shortfall", "forgiven", "budget.commitments.aws.shortfall: got 'forgiven'; allowed: cash, credit"),
    ("budget.commitments.aws.minimum", "monthly", "budget.commitments.aws.minimum: got 'monthly'; allowed: per-year"),
    ("budget.commitments.aws.burns", ["storage"], "budget.commitments.aws.burns: GPU compute always burns"),
    ("budget.commitments.aws.burns", ["compute", "gpus"], "budget.commitments.aws.burns[1]: got 'gpus'; allowed"),
    ("budget.commitments.aws.as_of", "2025-09",
     "budget.commitments.aws.as_of: 2025-09 must be from the contract's start 2025-11 to the horizon's start"),
    ("budget.commitments.aws.as_of", "2026-02", "budget.commitments.aws.as_of: 2026-02 must be from"),
    ("budget.commitments.aws.months", 84, "budget.commitments.aws: give the term as years: N or months: N (exactly one)"),
    ("budget.commitments.aws.years", None, "budget.commitments.aws: give the term as years: N or months: N"),
    ("budget.commitments.aws.milestones", {"2026-12": 1e9},
     "budget.commitments.aws.milestones: milestones apply to minimum: whole-term; per-year uses ramp_usd"),
    ("budget.commitments.aws.start", "2019-01",
     "budget.commitments.aws: the term ends 2025-12, before the horizon starts 2026-01"),
    ("budget.commitments.aws.start", "2029-01",
     "budget.commitments.aws.start: 2029-01 is after the horizon's last month 2028-12; extend horizon.months"),
    ("budget.commitments.azure.milestones", {"2034-01": 1e9},
     "budget.commitments.azure.milestones.2034-01: 2034-01 is outside the term 2025-11 to 2033-10"),
    ("budget.commitments.azure.milestones", {"2025-06": 1e9}, "budget.commitments.azure.milestones.2025-06: 2025-06 is outside"),
    ("budget.commitments.azure.milestones", {"2027-12": 3e11}, "budget.commitments.azure.milestones.2027-12: "
     "$300,000,000,000 is above total_usd $250,000,000,000"),
    ("budget.commitments.azure.milestones", {"2027-12": 5e10, "2030-12": 4e10},
     "budget.commitments.azure.milestones.2030-12: $40,000,000,000 is below an earlier milestone's"),
    ("budget.commitments.azure.milestones", {"2027-12": -1},
     "budget.commitments.azure.milestones.2027-12: Input should be greater than or equal to 0"),
    ("budget.commitments.azure.ramp_usd", [1.0], "budget.commitments.azure.ramp_usd: ramp_usd applies to minimum: per-year"),
    ("budget.commitments.azure.total", 5, "budget.commitments.azure.total: unknown key 'total' (did you mean 'total_usd'?)"),
    ("budget.commitments.azure.burned_usd", 3e11, "budget.commitments.azure.burned_usd: $300,000,000,000 is above"),
    ("pools.0.schedule", {"2029-01": 8}, "pools[0].schedule.2029-01: 2029-01 is outside the horizon 2026-01 to 2028-12"),
    ("pools.0.schedule", {"2025-12": 8}, "pools[0].schedule.2025-12: 2025-12 is outside the horizon"),
    ("pools.0.schedule", {"2026-07": 100}, "pools[0].schedule.2026-07: 100 GPUs do not fill whole 8-GPU nodes"),
    ("pools.0.schedule", {"2026-07": 0}, "pools[0].schedule.2026-07: Input should be greater than 0 (got 0)"),
    ("pools.0.schedule", {"2026-07": 2_000_000}, "pools[0].schedule.2026-07: 2,000,000 GPUs is above the 1,000,000"),
    ("pools.0.schedule", {"July": 16}, "pools[0].schedule.July: a month is written YYYY-MM"),
]


@pytest.mark.parametrize(("path", "value", "expected"), CASES, ids=[f"{c[0]}={c[1]!r}"[:50] for c in CASES])
def test_each_contract_rule_names_the_field_the_value_and_what_is_allowed(path: str, value: Any, expected: str) -> None:
    found = problems(changed(path, value))
    assert any(p.startswith(expected) for p in found), found


def test_a_bad_contract_exits_2_with_the_field_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = changed("budget.commitments.aws.ramp_usd", [5e9] * 8)
    spec = tmp_path / "deals.yaml"
    spec.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["plan", "--spec", str(spec)]) == 2
    out, err = capsys.readouterr()
    assert "budget.commitments.aws.ramp_usd: 8 amounts" in err
    assert "Traceback" not in err
    assert not out


def test_periods_demand_and_discount_per_period() -> None:
    spec = load_fleet(deals())
    assert spec.horizon is not None
    cut = periods(spec.horizon)
    assert [p.start for p in cut[:4]] == ["2026-01", "2026-04", "2026-07", "2026-10"]
    assert len(cut) == 12
    assert [period_gpus(spec.pools[0], p) for p in cut[:5]] == [4096, 4096, 8192, 8192, 16384]
    late = changed("pools.0.schedule", {"2026-08": 8192})  # mid-quarter: the period takes its peak
    assert period_gpus(load_fleet(late).pools[0], cut[2]) == 8192
    term = copy.deepcopy(deals())  # a 13-month term ends in 2026-11, inside the fourth quarter
    term["budget"]["commitments"]["aws"] |= {"months": 13, "ramp_usd": [3.0e10, 8.0e9]}
    term["budget"]["commitments"]["aws"].pop("years")
    contract = load_fleet(term)
    q3, q4, q5 = (period_spec(contract, cut[i]).budget.discounts() for i in (2, 3, 4))
    assert q3 == {"aws": pytest.approx(0.10)}
    assert q4 == {"aws": pytest.approx(0.10 * 2 / 3)}
    assert q5 == {}


def test_checkpoints_per_year_and_cumulative_milestones_paced_at_the_horizon() -> None:
    spec = load_fleet(deals())
    assert spec.horizon is not None
    aws = checkpoints(spec.budget.contracts()["aws"], spec.horizon)
    assert [(c.label, month_text(c.start), month_text(c.due), c.paced) for c in aws] == [
        ("year 1", "2025-11", "2026-10", False), ("year 2", "2026-11", "2027-10", False),
        ("year 3", "2027-11", "2028-10", False), ("year 4", "2028-11", "2028-12", True),
    ]
    assert aws[3].minimum == pytest.approx(6.0e9 * 2 / 12)  # two of year 4's twelve months
    azure = checkpoints(spec.budget.contracts()["azure"], spec.horizon)
    assert [(month_text(c.due), month_text(c.deadline), c.cumulative) for c in azure] == [
        ("2027-12", "2027-12", True), ("2028-12", "2030-12", True),
    ]
    assert azure[1].minimum == pytest.approx(4e10 + 1.1e11 * 12 / 36)  # on pace from the first milestone
    terms = contract_terms(spec, periods(spec.horizon))
    q4 = [s for s in terms[0].stretches if s.period == 3]  # 2026-10..12 crosses AWS year 1 → 2
    assert [(month_text(s.first), s.months, s.windows) for s in q4] == [("2026-10", 1, (0,)), ("2026-11", 2, (1,))]
    credit = [s for s in terms[1].stretches if s.credit]  # Azure credit is drawn after 2027-12
    assert credit
    assert min(s.first for s in credit) == month_index("2028-01")


def test_an_even_split_without_a_ramp_follows_the_months() -> None:
    contract = Contract.model_validate({"total_usd": 30.0, "start": "2026-01", "months": 30, "minimum": "per-year"})
    assert contract.year_minimums() == (12.0, 12.0, 6.0)
