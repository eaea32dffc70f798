"""A pool that accepts several accelerators (`accelerator: [H200, {name: H100, weight: 0.5}]`):
validated, placed on the cheapest mix that fills its GPUs (a node counting its GPUs times its
accelerator's weight), falling back when one is out, and grouped with other pools only when
they weigh every offer alike (the grouped model stays exact)."""

from __future__ import annotations

from typing import Any

import pytest

from gpufleet.errors import InfeasibleError, SpecError
from gpufleet.pipeline import build_plan
from gpufleet.placement.candidates import candidates, interchangeable
from gpufleet.placement.formulation import cost_model
from gpufleet.planjson import placement_json
from gpufleet.spec import FleetSpec, load_fleet

# us-east-1 (catalog): p5en.48xlarge 8 H200 $63.296/h; p5.48xlarge 8 H100 $55.04/h, p5.4xlarge 1 H100.
H200_OR_HALF_H100: list[Any] = ["H200", {"name": "H100", "weight": 0.5}]


def spec(*pools: dict[str, Any], **changes: Any) -> FleetSpec:
    data: dict[str, Any] = {
        "name": "alt",
        "network": {"supernet": "10.64.0.0/10"},
        "clouds": {"aws": {"regions": ["us-east-1"]}},
        "pools": list(pools),
    }
    data.update(changes)
    return load_fleet(data)


def gpus_by_accelerator(fleet: FleetSpec) -> dict[str, int]:
    plan = build_plan(fleet, "test")
    catalog = fleet.catalog()
    found: dict[str, int] = {}
    for pool in plan.pools:
        for p in pool.placements:
            sku = catalog.sku(p.cloud, p.instance_type)
            assert sku is not None
            found[sku.accelerator] = found.get(sku.accelerator, 0) + p.gpus
    return found


def test_the_pool_takes_the_cheapest_per_counted_gpu() -> None:
    """At weight 1 an H100 ($6.88/GPU) beats an H200 ($7.91); counted as half a GPU it costs
    $13.76 per pool GPU, and the H200 wins."""
    assert gpus_by_accelerator(spec({"name": "train", "accelerator": ["H200", "H100"], "gpus": 16})) == {"H100": 16}
    assert gpus_by_accelerator(spec({"name": "train", "accelerator": H200_OR_HALF_H100, "gpus": 16})) == {"H200": 16}


def test_losing_one_sku_falls_back_to_another_instead_of_failing() -> None:
    out = {"capacity": {"unavailable": ["aws/us-east-1/p5en.48xlarge"]}}
    with pytest.raises(InfeasibleError):
        build_plan(spec({"name": "train", "accelerator": "H200", "gpus": 16}, **out), "test")
    fleet = spec({"name": "train", "accelerator": H200_OR_HALF_H100, "gpus": 16}, **out)
    assert gpus_by_accelerator(fleet) == {"H100": 32}  # 16 pool GPUs at half a GPU each


def test_the_plan_shows_which_accelerator_each_placement_took() -> None:
    plan = build_plan(spec({"name": "train", "accelerator": H200_OR_HALF_H100, "gpus": 16}), "test")
    assert plan.pools[0].accelerator == "H200 or H100 (×0.5)"
    assert [placement_json(p).get("accelerator") for p in plan.pools[0].placements] == ["H200"]


@pytest.mark.parametrize(
    ("accelerator", "expected"),
    [
        (["H200", "H1000"], "pools[0].accelerator[1]: unknown accelerator 'H1000' (did you mean 'H100'?)"),
        (["H100", "H100"], "pools[0].accelerator[1]: accelerator 'H100' is listed twice"),
        ([], "pools[0].accelerator: Tuple should have at least 1 item"),
        ([{"name": "H100", "weight": 0}], "pools[0].accelerator[0].weight: Input should be greater than 0"),
        (["H100", 7], "pools[0].accelerator[1]: Input should be a valid dictionary"),
    ],
)
def test_alternatives_are_validated_naming_the_item(accelerator: list[Any], expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        spec({"name": "train", "accelerator": accelerator, "gpus": 16})
    assert any(str(p).startswith(expected) for p in caught.value.problems), caught.value.problems


def test_weighted_sizes_must_fill_whole_nodes() -> None:
    """H100 nodes of 8 and 1 GPUs counted at 0.75 are 6 and 0.75 pool GPUs: whole counts are
    multiples of 3 (the sizes' common divisor 0.75 = 3/4)."""
    pool = {"name": "train", "accelerator": [{"name": "H100", "weight": 0.75}], "gpus": 10}
    with pytest.raises(SpecError) as caught:
        spec(pool)
    (problem,) = caught.value.problems
    assert str(problem) == (
        "pools[0].gpus: 10 GPUs do not fill whole 3-GPU nodes (H100 (×0.75) nodes offered count as "
        "0.75, 6); use 9 or 12"
    )
    assert gpus_by_accelerator(spec({**pool, "gpus": 9})) == {"H100": 12}


def test_pools_group_only_when_they_weigh_every_offer_alike() -> None:
    fleet = spec(
        {"name": "pa", "accelerator": H200_OR_HALF_H100, "gpus": 16},
        {"name": "pb", "accelerator": H200_OR_HALF_H100, "gpus": 24},
        {"name": "pc", "accelerator": ["H200", {"name": "H100", "weight": 0.75}], "gpus": 16},
    )
    cands, _ = candidates(fleet, fleet.catalog())
    assert [[p.name for p in group] for group in interchangeable(fleet, cands)] == [["pa", "pb"], ["pc"]]


@pytest.mark.parametrize("unavailable", [[], ["aws/us-east-1/p5en.48xlarge"]])
def test_grouping_weighted_pools_is_exact(unavailable: list[str]) -> None:
    """The grouped model (one column per offer for the group, split among its pools) costs what
    the model with a column per pool does, and its split gives each pool its counted GPUs."""
    fleet = spec(
        {"name": "pa", "accelerator": H200_OR_HALF_H100, "gpus": 12},
        {"name": "pb", "accelerator": H200_OR_HALF_H100, "gpus": 20},
        capacity={"unavailable": unavailable},
    )
    cands, _ = candidates(fleet, fleet.catalog())
    grouped, flat = cost_model(fleet, cands), cost_model(fleet, cands, grouped=False)
    assert len(grouped.members["pa"]) == 2
    solved_grouped, solved_flat = grouped.milp.solve(grouped.spend), flat.milp.solve(flat.spend)
    assert solved_grouped.objective == pytest.approx(solved_flat.objective)
    weights = {c.key: c.gpus for c in cands}
    for pool in fleet.pools:
        counted = sum(n * weights[key] for key, n in grouped.nodes_by_key(solved_grouped).items()
                      if key.startswith(pool.name + "/"))
        assert counted >= pool.gpus
