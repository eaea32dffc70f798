"""Both cost levels in one solve where a plan fits within every commitment (issue 24, the
single-period 50-pool instance; `solve._within_commitments`): the least total spend among plans
with no spend above commitments, which is level 1's optimum (0) and level 2's at once.

Each test compares `place` with the levels solved in turn (`SolverOptions.
within_commitments_first` off): the same spend above commitments and total spend, and every
pool's region share (`gpufleet.spread`) held. Fleets and prices are test_spread's: an 8-GPU H100
spot node is $4/h in aws/us-east-1, $5/h in us-west-2, $4.5/h in azure/eastus; a spot pool keeps
at most half its GPUs in one region by default."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet import placement
from gpufleet.placement import PlacementResult, SolverOptions, candidates, place, spend_by_cloud
from gpufleet.spec import FleetSpec, load_fleet
from tests.test_spread import fleet, h100


def placed(spec: FleetSpec, *, first: bool = True) -> PlacementResult:
    return place(spec, spec.catalog(), options=SolverOptions(within_commitments_first=first))


def levels(spec: FleetSpec, result: PlacementResult) -> tuple[float, float]:
    """(spend above commitments, total spend) of the plan, to the cent."""
    spend = spend_by_cloud(spec, result.placements)
    above = sum(max(0.0, usd - spec.budget.monthly_commitment(cloud)) for cloud, usd in spend.items())
    return round(above, 2), round(sum(spend.values()), 2)


def assert_same_optimum_within_region_shares(spec: FleetSpec) -> PlacementResult:
    """`place`'s plan at the optimum of the levels solved in turn, every region share held."""
    result = placed(spec)
    assert result.solver.status == "Optimal"
    (above, total), (above_in_turn, total_in_turn) = levels(spec, result), levels(spec, placed(spec, first=False))
    assert above == pytest.approx(above_in_turn, abs=0.05)
    assert total == pytest.approx(total_in_turn, abs=0.05)
    caps = {c.pool.name: c.region_gpus for c in candidates(spec, spec.catalog())[0] if c.region_gpus is not None}
    for pool, cap in caps.items():
        by_region: dict[str, int] = {}
        for p in result.placements:
            if p.pool == pool:
                place = f"{p.cloud}/{p.region}"
                by_region[place] = by_region.get(place, 0) + p.gpus
        assert max(by_region.values()) <= cap, (pool, by_region, cap)
    return result


def integer_solves(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statuses of the MILP solves `place` makes from here on (LPs left out)."""
    statuses: list[str] = []
    real = placement.Milp.solve

    def recorded(self: placement.Milp, *args: Any, **kwargs: Any) -> placement.Solved:
        solved = real(self, *args, **kwargs)
        if any(self.integer):
            statuses.append(solved.status)
        return solved

    monkeypatch.setattr(placement.Milp, "solve", recorded)
    return statuses


def test_a_plan_within_every_commitment_costs_one_solve_and_keeps_the_region_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 48 GPUs fit AWS's commitment, and the spot pool's cheapest region (us-east-1) may hold
    # only 16 of its 32: it takes us-west-2 as well, and Azure's commitment is left unburned.
    spec = load_fleet(fleet(
        [h100("spot", 32), h100("steady", 16, capacity="on-demand")],
        budget={"commitments": {"aws": 30_000.0, "azure": 1_000.0}},
    ))
    solves = integer_solves(monkeypatch)
    placed(spec)
    assert solves == ["Optimal", "Optimal"]  # both cost levels at once, then the tie-break
    result = assert_same_optimum_within_region_shares(spec)
    assert levels(spec, result)[0] == 0.0
    nodes = {f"{p.pool}/{p.cloud}/{p.region}": p.nodes for p in result.placements}
    assert nodes == {"spot/aws/us-east-1": 2, "spot/aws/us-west-2": 2, "steady/aws/us-east-1": 2}


def test_a_capped_first_try_of_the_one_solve_falls_back_to_the_plain_model(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_fleet(fleet(
        [h100("spot", 32), h100("steady", 16, capacity="on-demand")],
        budget={"commitments": {"aws": 30_000.0, "azure": 1_000.0}},
    ))
    solves = integer_solves(monkeypatch)
    plain = place(spec, spec.catalog(), options=SolverOptions(bounded_first_nodes=0))
    assert solves == ["Solution limit reached", "Optimal", "Optimal"]  # bounded, plain, tie-break
    assert plain.solver.status == "Optimal"
    assert levels(spec, plain) == levels(spec, placed(spec, first=False))


def test_when_no_plan_fits_the_commitments_the_levels_are_solved_in_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The commitments together hold the pools' cheapest GPUs, but half the spot pool must be on
    # Azure, which commits $1,000: no plan fits, and the one solve that shows it is not reported.
    spec = load_fleet(fleet(
        [h100("spot", 32, min_share={"azure": 0.5}), h100("steady", 16, capacity="on-demand")],
        budget={"commitments": {"aws": 60_000.0, "azure": 1_000.0}},
    ))
    solves = integer_solves(monkeypatch)
    placed(spec)
    assert solves[0] == "Infeasible"
    result = assert_same_optimum_within_region_shares(spec)  # reported "Optimal": the trial is not
    assert levels(spec, result)[0] > 0
    assert sum(p.gpus for p in result.placements if p.pool == "spot" and p.cloud == "azure") == 16


def test_commitments_below_the_cheapest_gpus_skip_the_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_fleet(fleet([h100("spot", 32)], budget={"commitments": {"aws": 5_000.0, "azure": 5_000.0}}))
    solves = integer_solves(monkeypatch)
    with_trial = placed(spec)
    assert len(solves) == 2  # level 1 (level 2 shown by LP) and the tie-break: no trial
    assert with_trial.placements == placed(spec, first=False).placements


SPREAD_POOL = st.fixed_dictionaries({
    "gpus": st.sampled_from([16, 24, 32, 48]),
    "capacity": st.sampled_from(["spot", "spot", "on-demand"]),
    "share": st.sampled_from([None, None, 0.5, 0.75]),
    "azure_min": st.sampled_from([None, 0.25, 0.5]),
})


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pools=st.lists(SPREAD_POOL, min_size=1, max_size=3),
    aws=st.sampled_from([0.0, 10_000.0, 30_000.0, 80_000.0]),
    azure=st.sampled_from([0.0, 10_000.0, 30_000.0, 80_000.0]),
)
def test_the_one_solve_reaches_the_levels_optimum_on_fleets_with_region_shares(
    pools: list[dict[str, Any]], aws: float, azure: float
) -> None:
    specs = [
        h100(
            f"p{i}", p["gpus"], p["capacity"],
            **({"placement": {"max_region_share": p["share"]}} if p["share"] else {}),
            **({"min_share": {"azure": p["azure_min"]}} if p["azure_min"] else {}),
        )
        for i, p in enumerate(pools)
    ]
    assert_same_optimum_within_region_shares(load_fleet(fleet(specs, budget={"commitments": {"aws": aws, "azure": azure}})))
