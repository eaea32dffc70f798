"""Placement: small instances whose optimum can be checked by hand, and the infeasibility messages.

Prices come from the price book so the arithmetic is plain: an 8-GPU H100 node costs
$10/h in aws/us-east-1 (7,300 $/month), $12/h in aws/us-west-2 (8,760) and $11/h in
azure/eastus (8,030). p5.48xlarge has 192 vCPUs, Standard_ND96isr_H100_v5 has 96.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gpufleet.errors import InfeasibleError, SpecError
from gpufleet.placement import greedy_place, place, quota_use
from gpufleet.plan import Placement
from gpufleet.spec import FleetSpec, load_fleet
from gpufleet.specfile import load_stack

EAST, WEST, AZURE = 7300.0, 8760.0, 8030.0


def fleet(pools: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A fleet mapping over the priced test regions; `prices` merge, other keys replace."""
    data: dict[str, Any] = {
        "name": "test",
        "network": {"supernet": "10.64.0.0/10"},
        "clouds": {
            "aws": {"regions": ["us-east-1", "us-west-2"]}, "azure": {"regions": ["eastus"]},
        },
        "prices": {
            "aws/us-east-1/p5.48xlarge": 10.0,
            "aws/us-west-2/p5.48xlarge": 12.0,
            "azure/eastus/Standard_ND96isr_H100_v5": 11.0,
        },
        "pools": pools,
    }
    data.update({k: v for k, v in extra.items() if k != "prices"})
    data["prices"].update(extra.get("prices", {}))
    return data


def h100(name: str = "train", gpus: int = 16, **extra: Any) -> dict[str, Any]:
    return {"name": name, "accelerator": "H100", "gpus": gpus, "gpus_per_node": 8, **extra}


def solve(data: dict[str, Any], previous: tuple[Placement, ...] = ()) -> tuple[FleetSpec, Any]:
    spec = load_fleet(data)
    return spec, place(spec, spec.catalog(), previous)


def where(result: Any) -> dict[str, int]:
    return {f"{p.pool}/{p.cloud}/{p.region}": p.nodes for p in result.placements}


def infeasible(data: dict[str, Any]) -> str:
    spec = load_fleet(data)
    with pytest.raises(InfeasibleError) as caught:
        place(spec, spec.catalog())
    return str(caught.value)


def test_cheapest_offer_is_taken_and_the_solver_proves_it_optimal() -> None:
    _, result = solve(fleet([h100()]))
    assert where(result) == {"train/aws/us-east-1": 2}
    assert result.solver.status == "Optimal"
    assert result.solver.optimality_gap == 0.0
    assert result.solver.objective_usd == 2 * EAST
    assert result.placements[0].monthly_usd == 2 * EAST
    assert result.placements[0].price_source == "price book: aws/us-east-1/p5.48xlarge"


def test_pools_sharing_a_quota_are_placed_together_better_than_greedy() -> None:
    # us-east-1 holds 2 p5 nodes (384 vCPUs). 'serve' may only use AWS; 'train' comes first.
    # Greedy gives train us-east-1 and pushes serve to us-west-2: 2*7300 + 2*8760 = 32,120.
    # Optimal: train on Azure, serve in us-east-1: 2*8030 + 2*7300 = 30,660.
    data = fleet(
        [h100("train"), h100("serve", max_share={"azure": 0.0})],
        quotas={"aws": {"us-east-1": {"L-417A185B": 384}}},
    )
    spec, result = solve(data)
    assert where(result) == {"train/azure/eastus": 2, "serve/aws/us-east-1": 2}
    assert result.solver.objective_usd == 2 * AZURE + 2 * EAST
    greedy = greedy_place(spec, spec.catalog())
    assert greedy is not None
    assert {f"{p.pool}/{p.region}": p.nodes for p in greedy} == {
        "train/us-east-1": 2, "serve/us-west-2": 2,
    }
    assert sum(p.monthly_usd for p in greedy) == 2 * EAST + 2 * WEST


def test_a_commitment_moves_spend_to_the_committed_cloud() -> None:
    _, result = solve(fleet([h100()], budget={"commitments": {"azure": 20000}}))
    assert where(result) == {"train/azure/eastus": 2}  # 16,060 inside the commitment: 0 above


def test_spend_above_commitment_is_piecewise_per_cloud() -> None:
    # Azure commitment covers one node. Above commitment: 2 AWS 14,600; 2 Azure 8,030;
    # 1 + 1: 7,300 (AWS) + 0 (Azure) → the optimum mixes clouds.
    _, result = solve(fleet([h100()], budget={"commitments": {"azure": AZURE}}))
    assert where(result) == {"train/aws/us-east-1": 1, "train/azure/eastus": 1}


def test_among_plans_within_commitments_the_cheapest_wins() -> None:
    # Every plan is within both commitments (0 above): level 2, total spend, decides.
    _, result = solve(fleet([h100()], budget={"commitments": {"aws": 50000, "azure": 50000}}))
    assert where(result) == {"train/aws/us-east-1": 2}


def test_min_share_forces_gpus_onto_a_dearer_cloud() -> None:
    _, result = solve(fleet([h100(gpus=32, min_share={"azure": 0.5})]))
    assert where(result) == {"train/aws/us-east-1": 2, "train/azure/eastus": 2}
    assert result.solver.objective_usd == 2 * EAST + 2 * AZURE


def test_max_share_caps_a_cloud() -> None:
    _, result = solve(fleet([h100(gpus=32, max_share={"aws": 0.25})]))
    assert where(result) == {"train/aws/us-east-1": 1, "train/azure/eastus": 3}


def test_pin_fixes_the_nodes_in_its_region_and_placement_does_the_rest() -> None:
    _, result = solve(fleet([h100(pin={"aws/us-west-2": 1})]))
    assert where(result) == {"train/aws/us-west-2": 1, "train/aws/us-east-1": 1}
    assert result.solver.objective_usd == WEST + EAST


def test_spot_and_on_demand_draw_on_separate_buckets() -> None:
    data = fleet(
        [h100("train"), h100("batch", capacity="spot", max_share={"azure": 0.0})],
        prices={"aws/us-east-1/p5.48xlarge:spot": 4.0},
        quotas={"aws": {"us-east-1": {"L-417A185B": 192, "L-7212CCBC": 384}}},
    )
    spec, result = solve(data)
    assert where(result) == {
        "train/aws/us-east-1": 1, "train/azure/eastus": 1, "batch/aws/us-east-1": 2,
    }
    batch = next(p for p in result.placements if p.pool == "batch")
    assert (batch.quota_bucket, batch.monthly_usd) == ("L-7212CCBC", 2 * 4.0 * 730)
    uses = {(q.region, q.bucket): (q.used_vcpus, q.limit_vcpus)
            for q in quota_use(spec, spec.catalog(), result.placements)}
    assert uses == {
        ("us-east-1", "L-417A185B"): (192, 192),
        ("us-east-1", "L-7212CCBC"): (384, 384),
        ("eastus", "standardNDSH100v5Family"): (96, None),
    }


def test_azure_spot_draws_on_low_priority_cores_not_the_family() -> None:
    pool = h100("batch", capacity="spot", max_share={"aws": 0.0})
    prices = {"azure/eastus/Standard_ND96isr_H100_v5:spot": 3.0}
    quotas = {"azure": {"eastus": {"standardNDSH100v5Family": 0, "lowPriorityCores": 192}}}
    _, result = solve(fleet([pool], prices=prices, quotas=quotas))
    assert where(result) == {"batch/azure/eastus": 2}
    quotas["azure"]["eastus"]["lowPriorityCores"] = 96
    message = infeasible(fleet([pool], prices=prices, quotas=quotas))
    assert "raise lowPriorityCores in eastus by 96 vCPU" in message


def test_rdma_pools_only_get_rdma_skus() -> None:
    prices = {"aws/us-east-1/p5.4xlarge": 1.0}  # 1 GPU, no EFA, far cheaper per GPU
    plain = {"name": "plain", "accelerator": "H100", "gpus": 8}
    rdma = {"name": "fabric", "accelerator": "H100", "gpus": 8, "interconnect": "rdma"}
    _, result = solve(fleet([plain, rdma], prices=prices))
    types = {p.pool: p.instance_type for p in result.placements}
    assert types == {"plain": "p5.4xlarge", "fabric": "p5.48xlarge"}


def test_a_region_outside_the_jurisdictions_is_refused_by_the_spec() -> None:
    data = fleet([h100()], sovereignty={"jurisdictions": ["EU"]})
    with pytest.raises(SpecError) as caught:
        load_fleet(data)
    assert "region 'us-east-1' is in US" in str(caught.value)


def test_budget_below_the_cheapest_placement_says_by_how_much() -> None:
    message = infeasible(fleet([h100()], budget={"monthly_usd": 10000}))
    assert message == (
        "cheapest placement costs $14,600/month, above the budget $10,000 by $4,600: raise "
        "budget.monthly_usd, use spot capacity, or ask for fewer GPUs"
    )


def test_quota_shortfall_names_the_pool_the_gap_and_the_quota_to_raise() -> None:
    # Azure is closed to the pool by max_share 0, so only us-east-1's quota counts.
    data = fleet(
        [h100(gpus=32, max_share={"azure": 0.0})],
        clouds={"aws": {"regions": ["us-east-1"]}, "azure": {"regions": ["eastus"]}},
        quotas={"aws": {"us-east-1": {"L-417A185B": 384}}},
    )
    assert infeasible(data) == (
        "pool train needs 32 H100; allowed regions hold 16 under declared quotas (16 short): "
        "raise L-417A185B in us-east-1 by 384 vCPU, or allow more regions"
    )


def test_a_min_share_beyond_a_clouds_quota_is_explained() -> None:
    data = fleet(
        [h100(gpus=32, min_share={"aws": 0.75})],
        quotas={"aws": {"us-east-1": {"L-417A185B": 384}, "us-west-2": {"L-417A185B": 0}}},
    )
    assert infeasible(data) == (
        "pool train needs 24 of its 32 H100 on aws (min_share 0.75); aws regions hold 16 under "
        "declared quotas (8 short): raise L-417A185B in us-east-1 by 192 vCPU, or raise "
        "L-417A185B in us-west-2 by 192 vCPU, or allow more regions"
    )


def test_pins_that_contradict_shares_are_reported_as_such() -> None:
    message = infeasible(fleet([h100(pin={"aws/us-west-2": 2}, max_share={"aws": 0.5})]))
    assert message.startswith("pool train: no whole-node placement of 16 H100")
    assert "pin aws/us-west-2: 2 nodes, max_share aws 0.5 even without quotas" in message


def test_pools_that_fit_alone_but_not_together_are_named() -> None:
    data = fleet(
        [h100("train"), h100("serve")],
        clouds={"aws": {"regions": ["us-east-1"]}},
        quotas={"aws": {"us-east-1": {"L-417A185B": 576}}},
    )
    data["prices"] = {"aws/us-east-1/p5.48xlarge": 10.0}
    assert infeasible(data) == (
        "pools train, serve each fit alone but not together under shared quotas "
        "(8 H100 short): raise L-417A185B in us-east-1 by 192 vCPU, or allow more regions"
    )


def test_no_priced_offer_lists_the_skipped_offers_and_the_price_book_entry() -> None:
    pool = h100("batch", capacity="spot")
    data = fleet([pool], clouds={"azure": {"regions": ["eastus"]}})
    data["prices"] = {}
    message = infeasible(data)
    skipped = "azure/eastus/Standard_ND96isr_H100_v5: no spot price in catalog or price book"
    assert skipped in message
    assert "`prices: azure/eastus/Standard_ND96isr_H100_v5:spot: <usd/h>`" in message
    spec = load_fleet({**data, "prices": {"azure/eastus/Standard_ND96isr_H100_v5:spot": 3.0}})
    assert place(spec, spec.catalog()).skipped == ()


def test_skipped_offers_are_reported_with_a_feasible_plan() -> None:
    _, result = solve(fleet([h100(), h100("batch", capacity="spot", max_share={"azure": 0.0})]))
    assert "azure/eastus/Standard_ND96isr_H100_v5: no spot price in catalog or price book" in (
        result.skipped
    )


def test_same_input_same_plan_and_ties_break_by_fixed_order() -> None:
    data = fleet([h100(gpus=8)], prices={"aws/us-west-2/p5.48xlarge": 10.0})
    _, first = solve(data)
    assert where(first) == {"train/aws/us-east-1": 1}  # equal price: the earlier region
    reordered = copy.deepcopy(data)
    reordered["clouds"]["aws"]["regions"] = ["us-west-2", "us-east-1"]
    for variant in (data, reordered, data):
        _, again = solve(variant)
        assert again.placements == first.placements


def test_previous_placements_are_kept_within_the_stability_tolerance() -> None:
    previous = solve(fleet([h100()], clouds={"aws": {"regions": ["us-west-2"]}}))[1].placements
    assert where_nodes(previous) == {"train/aws/us-west-2": 2}
    near = fleet([h100()], prices={"aws/us-west-2/p5.48xlarge": 10.05})  # 0.5 % dearer
    _, kept = solve(near, previous)
    assert where(kept) == {"train/aws/us-west-2": 2}
    assert kept.solver.kept_from_previous == 2
    strict = fleet([h100()], prices={"aws/us-west-2/p5.48xlarge": 10.05},
                   placement={"stability_tolerance": 0.0})
    _, moved = solve(strict, previous)
    assert where(moved) == {"train/aws/us-east-1": 2}
    assert moved.solver.kept_from_previous == 0
    _, far = solve(fleet([h100()]), previous)  # 20 % dearer: beyond 1 %
    assert where(far) == {"train/aws/us-east-1": 2}


def test_stability_with_commitments_keeps_previous_nodes() -> None:
    previous = solve(fleet([h100()], clouds={"aws": {"regions": ["us-west-2"]}}))[1].placements
    near = fleet([h100()], prices={"aws/us-west-2/p5.48xlarge": 10.05},
                 budget={"commitments": {"aws": 50000, "azure": 50000}})
    _, kept = solve(near, previous)
    assert where(kept) == {"train/aws/us-west-2": 2}
    assert kept.solver.kept_from_previous == 2


def test_stability_keeps_part_of_a_pool_that_grows() -> None:
    previous = solve(fleet([h100(gpus=8)], clouds={"aws": {"regions": ["us-west-2"]}}))[1]
    near = fleet([h100(gpus=16)], prices={"aws/us-west-2/p5.48xlarge": 10.05})
    _, result = solve(near, previous.placements)
    assert where(result) == {"train/aws/us-west-2": 1, "train/aws/us-east-1": 1}
    assert result.solver.kept_from_previous == 1


def where_nodes(placements: tuple[Placement, ...]) -> dict[str, int]:
    return {f"{p.pool}/{p.cloud}/{p.region}": p.nodes for p in placements}


def test_sample_stacks_place_optimally() -> None:
    for stack in ("dev", "prod-eu"):
        spec = load_stack(stack)
        result = place(spec, spec.catalog())
        assert result.solver.status == "Optimal"
        placed = {pool.name: sum(p.gpus for p in result.placements if p.pool == pool.name)
                  for pool in spec.pools}
        assert all(placed[pool.name] >= pool.gpus for pool in spec.pools)
