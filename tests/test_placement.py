"""Placement: small instances whose optimum can be checked by hand, and the infeasibility messages.

Prices come from the price book so the arithmetic is plain: an 8-GPU H100 node costs
$10/h in aws/us-east-1 (7,300 $/month), $12/h in aws/us-west-2 (8,760) and $11/h in
azure/eastus (8,030). p5.48xlarge has 192 vCPUs, Standard_ND96isr_H100_v5 has 96.
Every region that holds nodes adds its fixed cost (gpufleet.cost.region_fixed_usd): AWS
285.87 $/month (EKS 73 + NAT 65.7 + system nodes 147.17), Azure 353.32 (AKS 73 + system nodes
280.32); these tests' fleets have no storage unless they say so.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from benchmarks.greedy import greedy_place
from gpufleet.errors import InfeasibleError, SpecError
from gpufleet.pipeline import build_plan
from gpufleet.placement import (
    candidates,
    cost_model,
    offer_bounds,
    place,
    quota_use,
    spend_by_cloud,
    undominated,
    unlimited_bounds,
)
from gpufleet.plan import Placement
from gpufleet.spec import FleetSpec, load_fleet
from gpufleet.specfile import load_stack

EAST, WEST, AZURE = 7300.0, 8760.0, 8030.0
AWS_REGION, AZURE_REGION = 285.87, 353.32  # fixed $/month of a region that holds nodes


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
    assert result.solver.objective_usd == 2 * EAST + AWS_REGION  # 14,600 + 285.87
    assert result.placements[0].monthly_usd == 2 * EAST
    assert result.placements[0].price_source == "price book: aws/us-east-1/p5.48xlarge"


def test_pools_sharing_a_quota_are_placed_together_better_than_greedy() -> None:
    # us-east-1 holds 2 p5 nodes (384 vCPUs). 'serve' may only use AWS; 'train' comes first.
    # Greedy gives train us-east-1 and pushes serve to us-west-2: 2*7300 + 2*8760 = 32,120
    # + two AWS regions 571.74 = 32,691.74.
    # Optimal: train on Azure, serve in us-east-1: 2*8030 + 2*7300 = 30,660 + 285.87 + 353.32
    # = 31,299.19 (splitting train instead, 1 us-east-1 + 1 Azure, opens us-west-2 for serve).
    data = fleet(
        [h100("train"), h100("serve", max_share={"azure": 0.0})],
        quotas={"aws": {"us-east-1": {"L-417A185B": 384}}},
    )
    spec, result = solve(data)
    assert where(result) == {"train/azure/eastus": 2, "serve/aws/us-east-1": 2}
    assert result.solver.objective_usd == pytest.approx(2 * AZURE + 2 * EAST + AWS_REGION + AZURE_REGION)
    greedy = greedy_place(spec, spec.catalog())
    assert greedy is not None
    assert {f"{p.pool}/{p.region}": p.nodes for p in greedy} == {
        "train/us-east-1": 2, "serve/us-west-2": 2,
    }
    assert sum(p.monthly_usd for p in greedy) == 2 * EAST + 2 * WEST
    assert spend_by_cloud(spec, greedy) == {"aws": pytest.approx(2 * EAST + 2 * WEST + 2 * AWS_REGION)}


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
    # 14,600 + 16,060 + 285.87 + 353.32
    assert result.solver.objective_usd == pytest.approx(2 * EAST + 2 * AZURE + AWS_REGION + AZURE_REGION)


def test_max_share_caps_a_cloud() -> None:
    _, result = solve(fleet([h100(gpus=32, max_share={"aws": 0.25})]))
    assert where(result) == {"train/aws/us-east-1": 1, "train/azure/eastus": 3}


def test_pin_fixes_the_nodes_in_its_region_and_placement_does_the_rest() -> None:
    # The second node: us-east-1 7,300 + 285.87 to open it = 7,585.87 beats a second us-west-2
    # node (8,760, region already open) and Azure (8,030 + 353.32).
    _, result = solve(fleet([h100(pin={"aws/us-west-2": 1})]))
    assert where(result) == {"train/aws/us-west-2": 1, "train/aws/us-east-1": 1}
    assert result.solver.objective_usd == pytest.approx(WEST + EAST + 2 * AWS_REGION)


def test_spot_and_on_demand_draw_on_separate_buckets() -> None:
    data = fleet(
        [h100("train"), h100("batch", capacity="spot", max_share={"azure": 0.0}, placement={"max_region_share": 1})],
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
    assert message == (  # 2 × 7,300 + 285.87 for us-east-1
        "cheapest placement costs $14,886/month (GPU nodes $14,600, clusters, NAT gateways, "
        "system nodes and storage $286), above the budget $10,000 by $4,886: raise "
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


def test_pools_whose_min_shares_alone_do_not_fit_together_are_named() -> None:
    # Each pool needs 8 of its 16 GPUs on AWS (one p5, 192 vCPUs); the quota holds one p5.
    # Fewer GPUs would not help, so no shortfall is counted, but the quota raise is named.
    data = fleet(
        [h100("train", min_share={"aws": 0.5}), h100("serve", min_share={"aws": 0.5})],
        clouds={"aws": {"regions": ["us-east-1"]}, "azure": {"regions": ["eastus"]}},
        quotas={"aws": {"us-east-1": {"L-417A185B": 192}}},
    )
    assert infeasible(data) == (
        "pools train, serve each fit alone but not together under shared quotas "
        "(not even their min shares and pins fit together): raise L-417A185B in us-east-1 by "
        "192 vCPU, or allow more regions"
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
    # Both AWS regions are open anyway for 'serve' (pinned in each), so for train only node
    # prices differ: 1 kept in us-west-2 + 1 new in us-east-1 = 7,336.50 + 7,300 = 14,636.50
    # is within 1 % of the optimum (2 in us-east-1, 14,600; whole plan 31,231.74 with serve's
    # 7,300 + 8,760 and 2 × 285.87), and keeps the one previous node.
    previous = solve(fleet([h100(gpus=8)], clouds={"aws": {"regions": ["us-west-2"]}}))[1]
    serve = h100("serve", pin={"aws/us-east-1": 1, "aws/us-west-2": 1})
    near = fleet([h100(gpus=16), serve], prices={"aws/us-west-2/p5.48xlarge": 10.05})
    _, result = solve(near, previous.placements)
    assert where(result) == {
        "train/aws/us-west-2": 1, "train/aws/us-east-1": 1,
        "serve/aws/us-east-1": 1, "serve/aws/us-west-2": 1,
    }
    assert result.solver.kept_from_previous == 1


def test_a_pool_that_grows_stays_in_its_region_rather_than_open_another() -> None:
    # Keeping the previous node and adding one in us-west-2: 2 × 7,336.50 + 285.87 = 14,958.87,
    # within 1 % of the optimum (2 in us-east-1: 14,600 + 285.87 = 14,885.87; limit 15,034.73).
    # Splitting (7,336.50 + 7,300 + 2 × 285.87 = 15,208.24) would open a second region for
    # $36.50 of price difference, which is beyond the tolerance.
    previous = solve(fleet([h100(gpus=8)], clouds={"aws": {"regions": ["us-west-2"]}}))[1]
    near = fleet([h100(gpus=16)], prices={"aws/us-west-2/p5.48xlarge": 10.05})
    _, result = solve(near, previous.placements)
    assert where(result) == {"train/aws/us-west-2": 2}
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


@pytest.mark.parametrize("stack", ["dev", "prod-eu"])
def test_the_objective_is_the_cost_models_total(stack: str) -> None:
    # Egress is the only cost line placement does not model; storage is co-located, so it is 0.
    plan = build_plan(load_stack(stack), stack)
    assert not [li for li in plan.cost.lines if li.item.startswith("egress")]
    assert plan.solver.objective_usd == plan.cost.monthly_usd
    assert spend_by_cloud(plan.spec, plan.placements) == {
        s.cloud: s.monthly_usd for s in plan.cost.by_cloud
    }


AWS_ONLY = {"aws": {"regions": ["us-east-1", "us-west-2"]}}


def tune(nodes: int) -> dict[str, Any]:
    return {"name": "tune", "accelerator": "A100", "gpus": 8 * nodes, "gpus_per_node": 8}


def test_a_region_is_opened_only_when_it_pays_for_itself() -> None:
    # 'train' (2 p5) is cheapest in us-east-1, which is therefore open. 'tune' (p4d, 8 GPUs a
    # node) costs $5/h there (3,650/month) and $4.85/h in us-west-2 (3,540.50): 109.50 a node
    # less, against 285.87 for opening us-west-2.
    prices = {"aws/us-east-1/p4d.24xlarge": 5.0, "aws/us-west-2/p4d.24xlarge": 4.85}
    data = fleet([h100(), tune(2)], clouds=AWS_ONLY, prices=prices)
    spec, result = solve(data)
    # 2 nodes save 219 < 285.87: tune stays in us-east-1; 14,600 + 7,300 + 285.87
    assert where(result) == {"train/aws/us-east-1": 2, "tune/aws/us-east-1": 2}
    assert result.solver.objective_usd == pytest.approx(2 * EAST + 2 * 3650 + AWS_REGION)
    greedy = greedy_place(spec, spec.catalog())  # greedy charges the opening too
    assert greedy is not None
    assert {p.region for p in greedy} == {"us-east-1"}
    # 3 nodes save 328.50 > 285.87: tune moves; 14,600 + 3 × 3,540.50 + 2 × 285.87
    spec, result = solve(fleet([h100(), tune(3)], clouds=AWS_ONLY, prices=prices))
    assert where(result) == {"train/aws/us-east-1": 2, "tune/aws/us-west-2": 3}
    assert result.solver.objective_usd == pytest.approx(2 * EAST + 3 * 3540.5 + 2 * AWS_REGION)
    greedy = greedy_place(spec, spec.catalog())
    assert greedy is not None
    assert {p.pool: p.region for p in greedy}["tune"] == "us-west-2"


def test_an_offer_cheaper_by_less_than_a_region_is_not_pruned() -> None:
    # With one node, p4d in us-west-2 at $4.85 loses to us-east-1 at $5 (open for train) by
    # 285.87 - 109.50; pruning it as dominated by us-east-1 (or the reverse) would be wrong in
    # either plan, so both offers stay candidates.
    prices = {"aws/us-east-1/p4d.24xlarge": 5.0, "aws/us-west-2/p4d.24xlarge": 4.85}
    spec = load_fleet(fleet([h100(), tune(1)], clouds=AWS_ONLY, prices=prices))
    cands, _ = candidates(spec, spec.catalog())
    kept = {c.key for c in undominated(spec, cands)}
    assert {"tune/aws/us-east-1/p4d.24xlarge", "tune/aws/us-west-2/p4d.24xlarge"} <= kept


def test_an_offer_dearer_than_one_without_limits_holds_at_most_moving_cost_over_saving_nodes() -> None:
    # p4d costs 3,650 $/month in us-east-1 and 3,540.50 in us-west-2, which has no declared
    # quota: each east node moved west saves 109.50, the move costs at most opening us-west-2
    # (285.87), so a cost-optimal plan has at most 2 east nodes (3 × 109.50 = 328.50 > 285.87).
    prices = {"aws/us-east-1/p4d.24xlarge": 5.0, "aws/us-west-2/p4d.24xlarge": 4.85}
    east = "tune/aws/us-east-1/p4d.24xlarge"
    spec = load_fleet(fleet([h100(), tune(6)], clouds=AWS_ONLY, prices=prices))
    cands = [c for c in undominated(spec, candidates(spec, spec.catalog())[0]) if c.pool.name == "tune"]
    assert unlimited_bounds(spec, cands) == {east: 2}
    nodes = dict(zip((c.key for c in cands), cost_model(spec, cands, offer_bounds(spec, cands)).most, strict=True))
    assert nodes[east] == 2
    # the previous plan's offer keeps its full bound: stability may keep all 6 nodes there
    kept = cost_model(spec, cands, offer_bounds(spec, cands, {east}))
    assert dict(zip((c.key for c in cands), kept.most, strict=True))[east] == 6
    # a 100 TiB dataset co-located with tune makes the move cost 285.87 + 2,355.20: 24 nodes
    storage = [{"name": "datasets", "size_tib": 100, "colocate_with": ["tune"]}]
    stored = load_fleet(fleet([tune(30)], clouds=AWS_ONLY, prices=prices, storage=storage))
    assert unlimited_bounds(stored, candidates(stored, stored.catalog())[0])[east] == 24
    # a quota declared in us-west-2 or a pin in us-east-1 ties the nodes: no bound
    quotas = {"aws": {"us-west-2": {"L-417A185B": 96}}}
    for limited in (fleet([tune(6)], clouds=AWS_ONLY, prices=prices, quotas=quotas),
                    fleet([{**tune(6), "pin": {"aws/us-east-1": 3}}], clouds=AWS_ONLY, prices=prices)):
        spec = load_fleet(limited)
        assert east not in unlimited_bounds(spec, candidates(spec, spec.catalog())[0])


def test_a_region_dearer_for_every_offer_than_one_other_region_is_never_used() -> None:
    # Only tune in the fleet: us-west-2 is cheaper for p4d, and moving every us-east-1 node
    # there saves on each node while the region's fixed cost moves with them. A pin or a
    # previous placement in us-east-1 keeps its offers.
    prices = {"aws/us-east-1/p4d.24xlarge": 5.0, "aws/us-west-2/p4d.24xlarge": 4.85}

    def regions(data: dict[str, Any], keep: tuple[str, ...] = ()) -> set[str]:
        spec = load_fleet(data)
        offers = candidates(spec, spec.catalog())[0]
        return {c.region for c in undominated(spec, offers, iter(keep))}  # any iterable will do

    assert regions(fleet([tune(1)], clouds=AWS_ONLY, prices=prices)) == {"us-west-2"}
    pinned = {**tune(2), "pin": {"aws/us-east-1": 1}}
    assert regions(fleet([pinned], clouds=AWS_ONLY, prices=prices)) == {"us-east-1", "us-west-2"}
    kept = ("tune/aws/us-east-1/p4d.24xlarge",)
    assert regions(fleet([tune(1)], clouds=AWS_ONLY, prices=prices), kept) == {"us-east-1", "us-west-2"}


def test_a_storage_copy_counts_where_its_pools_land() -> None:
    # us-east-1 holds one p5 (192 vCPUs). Without storage, 1 east + 1 west = 7,300 + 8,760 +
    # 2 × 285.87 = 16,631.74 beats 2 west = 17,520 + 285.87 = 17,805.87. A 100 TiB dataset
    # co-located with train costs 2,355.20 a copy (100 × 1024 × $0.023): the split then costs
    # 16,631.74 + 2 × 2,355.20 = 21,342.14, all in us-west-2 17,805.87 + 2,355.20 = 20,161.07.
    quotas = {"aws": {"us-east-1": {"L-417A185B": 192}}}
    _, bare = solve(fleet([h100()], clouds=AWS_ONLY, quotas=quotas))
    assert where(bare) == {"train/aws/us-east-1": 1, "train/aws/us-west-2": 1}
    storage = [{"name": "datasets", "size_tib": 100, "colocate_with": ["train"]}]
    spec = load_fleet(fleet([h100()], clouds=AWS_ONLY, quotas=quotas, storage=storage))
    plan = build_plan(spec, "test")
    assert {f"{p.pool}/{p.region}": p.nodes for p in plan.placements} == {"train/us-west-2": 2}
    assert plan.solver.objective_usd == pytest.approx(2 * WEST + AWS_REGION + 2355.2)
    assert plan.solver.objective_usd == plan.cost.monthly_usd


def test_storage_is_priced_only_where_its_own_pools_land() -> None:
    # 'serve' (pinned in us-east-1) has no dataset; 'train' (pinned in us-west-2) has one: one
    # copy, in us-west-2. 7,300 + 8,760 + 2 × 285.87 + 2,355.20 = 18,987.94.
    pools = [h100("serve", gpus=8, pin={"aws/us-east-1": 1}),
             h100("train", gpus=8, pin={"aws/us-west-2": 1})]
    storage = [{"name": "datasets", "size_tib": 100, "colocate_with": ["train"]}]
    plan = build_plan(load_fleet(fleet(pools, clouds=AWS_ONLY, storage=storage)), "test")
    assert [(s.name, s.region) for s in plan.storage] == [("datasets", "us-west-2")]
    assert plan.solver.objective_usd == pytest.approx(EAST + WEST + 2 * AWS_REGION + 2355.2)
    assert plan.solver.objective_usd == plan.cost.monthly_usd


def test_ties_between_regions_still_break_by_the_fixed_order() -> None:
    # Equal prices in both AWS regions, two pools: both go to the earlier region (one region
    # open, not two), whatever order the spec lists the regions in.
    data = fleet([h100("aa", gpus=8), h100("bb", gpus=8)], clouds=AWS_ONLY,
                 prices={"aws/us-west-2/p5.48xlarge": 10.0})
    _, first = solve(data)
    assert where(first) == {"aa/aws/us-east-1": 1, "bb/aws/us-east-1": 1}
    reordered = copy.deepcopy(data)
    reordered["clouds"]["aws"]["regions"] = ["us-west-2", "us-east-1"]
    assert solve(reordered)[1].placements == first.placements


def test_the_tie_break_does_not_open_a_region_to_reach_an_earlier_offer() -> None:
    # 'tune' (p4d) is priced $4.85/h in us-west-2 against the catalog's $21.96 in us-east-1, so
    # us-west-2 is open. 'train' costs $10/h in both regions: its earlier offer, in us-east-1,
    # would open a second region (+285.87), so it stays in us-west-2 with tune.
    data = fleet([h100(gpus=8), tune(1)], clouds=AWS_ONLY,
                 prices={"aws/us-west-2/p5.48xlarge": 10.0, "aws/us-west-2/p4d.24xlarge": 4.85})
    _, result = solve(data)
    assert where(result) == {"train/aws/us-west-2": 1, "tune/aws/us-west-2": 1}
    assert result.solver.objective_usd == pytest.approx(EAST + 3540.5 + AWS_REGION)
