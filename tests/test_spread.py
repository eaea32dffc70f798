"""Spreading for availability (issue 29, item 4; docs/region-scale.md, "Spreading"): a pool's
`placement.max_region_share`, the spot default, whole units, what the plan shows, and the
infeasibility messages. Prices come from the price book so the optimum can be checked by hand:
an 8-GPU H100 spot node costs $4/h in aws/us-east-1, $5/h in aws/us-west-2, $6/h in
aws/eu-west-1 and $4.5/h in azure/eastus, $5.5/h in azure/westus3; every open region adds its
fixed cost (tests/test_placement.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet.errors import InfeasibleError, SpecError
from gpufleet.placement import candidates, place
from gpufleet.placement.horizon import place_horizon
from gpufleet.spec import FleetSpec, load_fleet
from gpufleet.spread import largest_region_share

SPOT = {
    "aws/us-east-1/p5.48xlarge:spot": 4.0,
    "aws/us-west-2/p5.48xlarge:spot": 5.0,
    "aws/eu-west-1/p5.48xlarge:spot": 6.0,
    "azure/eastus/Standard_ND96isr_H100_v5:spot": 4.5,
    "azure/westus3/Standard_ND96isr_H100_v5:spot": 5.5,
}
ON_DEMAND = {
    "aws/us-east-1/p5.48xlarge": 10.0,
    "aws/us-west-2/p5.48xlarge": 12.0,
    "aws/eu-west-1/p5.48xlarge": 13.0,
    "azure/eastus/Standard_ND96isr_H100_v5": 11.0,
    "azure/westus3/Standard_ND96isr_H100_v5": 11.5,
}
AWS_REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]
AZURE_REGIONS = ["eastus", "westus3"]


def fleet(pools: list[dict[str, Any]], aws: list[str] | None = None, azure: list[str] | None = None,
          **extra: Any) -> dict[str, Any]:
    """A fleet over the priced regions (both clouds' by default; [] leaves a cloud out)."""
    configured = {
        cloud: {"regions": regions}
        for cloud, regions in (("aws", AWS_REGIONS if aws is None else aws), ("azure", AZURE_REGIONS if azure is None else azure))
        if regions
    }
    return {
        "name": "spread", "network": {"supernet": "10.64.0.0/10"}, "clouds": configured,
        "prices": {**SPOT, **ON_DEMAND}, "pools": pools, **extra,
    }


def h100(name: str = "serve", gpus: int = 32, capacity: str = "spot", **extra: Any) -> dict[str, Any]:
    return {"name": name, "accelerator": "H100", "gpus": gpus, "gpus_per_node": 8, "capacity": capacity, **extra}


def solve(data: dict[str, Any]) -> tuple[FleetSpec, dict[str, int]]:
    spec = load_fleet(data)
    result = place(spec, spec.catalog())
    return spec, {f"{p.pool}/{p.cloud}/{p.region}": p.nodes for p in result.placements}


def infeasible(data: dict[str, Any]) -> str:
    spec = load_fleet(data)
    with pytest.raises(InfeasibleError) as caught:
        place(spec, spec.catalog())
    return str(caught.value)


def refused(data: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as caught:
        load_fleet(data)
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_a_spot_pool_spreads_over_two_regions_by_default_on_aws() -> None:
    # Without a share all 4 nodes go to us-east-1 ($4/h); at most half per region, the other
    # half goes to the next cheapest region of the cloud: us-west-2 ($5/h) beats eu-west-1.
    _, nodes = solve(fleet([h100()], azure=[]))
    assert nodes == {"serve/aws/us-east-1": 2, "serve/aws/us-west-2": 2}


def test_a_spot_pool_spreads_over_two_regions_by_default_on_azure() -> None:
    _, nodes = solve(fleet([h100()], aws=[]))
    assert nodes == {"serve/azure/eastus": 2, "serve/azure/westus3": 2}


def test_the_spread_may_cross_clouds_when_that_is_cheapest() -> None:
    # us-east-1 $4/h then azure/eastus $4.5/h: two nodes each.
    _, nodes = solve(fleet([h100()]))
    assert nodes == {"serve/aws/us-east-1": 2, "serve/azure/eastus": 2}


def test_on_demand_pools_have_no_default_spread() -> None:
    _, nodes = solve(fleet([h100(capacity="on-demand")], azure=[]))
    assert nodes == {"serve/aws/us-east-1": 4}


def test_a_declared_share_caps_every_region_and_the_default_is_overridable() -> None:
    # 0.25 of 32 GPUs: one 8-GPU node per region, the four cheapest regions.
    _, nodes = solve(fleet([h100(placement={"max_region_share": 0.25})]))
    assert nodes == {
        "serve/aws/us-east-1": 1, "serve/aws/us-west-2": 1, "serve/azure/eastus": 1, "serve/azure/westus3": 1,
    }
    _, alone = solve(fleet([h100(placement={"max_region_share": 1})], azure=[]))
    assert alone == {"serve/aws/us-east-1": 4}
    _, fleet_default = solve(fleet([h100()], azure=[], placement={"max_region_share": {"spot": 1}}))
    assert fleet_default == {"serve/aws/us-east-1": 4}


def test_a_fleet_default_for_on_demand_applies_to_on_demand_pools() -> None:
    _, nodes = solve(fleet([h100(capacity="on-demand")], azure=[], placement={"max_region_share": {"on-demand": 0.5}}))
    assert nodes == {"serve/aws/us-east-1": 2, "serve/aws/us-west-2": 2}


def test_the_default_is_met_to_within_one_node() -> None:
    # 24 GPUs on 8-GPU nodes: half is 12, rounded up to whole nodes 16, so two nodes and one.
    spec, nodes = solve(fleet([h100(gpus=24)], azure=[]))
    assert nodes == {"serve/aws/us-east-1": 2, "serve/aws/us-west-2": 1}
    found, _ = candidates(spec, spec.catalog())
    assert {c.region_gpus for c in found} == {16}


def test_a_declared_share_whole_nodes_cannot_meet_is_explained_not_rounded() -> None:
    # 0.5 of 24 GPUs is 12, one 8-GPU node per region: three regions needed, two offer it.
    message = infeasible(fleet([h100(gpus=24, placement={"max_region_share": 0.5})], azure=[], aws=AWS_REGIONS[:2]))
    assert "pool serve needs 24 H100 under max_region_share 0.5 (at most 12 GPUs in one region), 8 in whole" in message
    assert "at least 3 regions, and only 2 offer it (aws/us-east-1, aws/us-west-2)" in message


def test_units_are_never_split_to_meet_a_share() -> None:
    # Units of 2 nodes (16 GPUs), 0.5 of 32: one unit in each of two regions.
    _, nodes = solve(fleet([h100(placement={"max_region_share": 0.5, "unit_nodes": 2})], azure=[]))
    assert nodes == {"serve/aws/us-east-1": 2, "serve/aws/us-west-2": 2}
    # Units of 3 nodes (24 GPUs) of a 48-GPU pool at 0.6 (28 GPUs): one unit per region.
    _, three = solve(fleet([h100(gpus=48, placement={"max_region_share": 0.6, "unit_nodes": 3})], aws=[]))
    assert three == {"serve/azure/eastus": 3, "serve/azure/westus3": 3}


def test_a_unit_larger_than_a_region_may_hold_is_refused_at_the_spec() -> None:
    message = refused(fleet([h100(placement={"max_region_share": 0.25, "unit_nodes": 2})]))
    assert "pools[0].placement.max_region_share: one unit of 2 nodes is 16 GPUs, more than the 8 of 32" in message
    assert "at least 0.5, or a smaller placement.unit_nodes" in message


def test_a_unit_the_default_cannot_split_leaves_the_pool_whole() -> None:
    # A default never splits a unit: 4 nodes in units of 4 is one unit, so no spread.
    spec, nodes = solve(fleet([h100(placement={"unit_nodes": 4})], azure=[]))
    assert nodes == {"serve/aws/us-east-1": 4}
    found, _ = candidates(spec, spec.catalog())
    assert {c.region_gpus for c in found} == {None}


def test_a_spot_pool_with_one_allowed_region_keeps_working_with_a_note() -> None:
    spec, nodes = solve(fleet([h100()], aws=["us-east-1"], azure=[]))
    assert nodes == {"serve/aws/us-east-1": 4}
    from gpufleet.pipeline import build_plan

    pool = build_plan(spec, "spread").pools[0]
    assert pool.spread.share is None
    assert pool.spread.note == (
        "spot pools spread at most 0.5 of their GPUs per region by default; only aws/us-east-1 can hold "
        "this pool, so it stays in one region"
    )
    assert pool.largest_region == ("aws/us-east-1", 1.0)


def test_an_rdma_spot_pool_without_units_stays_in_one_site_with_a_note() -> None:
    spec = load_fleet(fleet([h100(interconnect="rdma")], azure=[]))
    found, _ = candidates(spec, spec.catalog())
    assert {c.region_gpus for c in found} == {None}
    message = refused(fleet([h100(interconnect="rdma", placement={"max_region_share": 0.5})], azure=[]))
    assert "pools[0].placement.max_region_share: pool serve is interconnect: rdma" in message


@pytest.mark.parametrize(("placement", "path", "words"), [
    ({"max_region_share": 0}, "pools[0].placement.max_region_share", "greater than 0"),
    ({"max_region_share": 1.5}, "pools[0].placement.max_region_share", "less than or equal to 1"),
    ({"max_region_share": True}, "pools[0].placement.max_region_share", "not true"),
])
def test_a_bad_share_names_the_field_the_value_and_what_is_allowed(
    placement: dict[str, Any], path: str, words: str
) -> None:
    message = refused(fleet([h100(placement=placement)]))
    assert path in message
    assert words in message


def test_a_bad_fleet_default_names_the_capacity_allowed() -> None:
    message = refused(fleet([h100()], placement={"max_region_share": {"preemptible": 0.5}}))
    assert "placement.max_region_share.preemptible: got 'preemptible'; allowed: on-demand, spot, reserved" in message


def test_too_few_regions_for_a_declared_share_is_refused_at_the_spec() -> None:
    message = refused(fleet([h100(placement={"max_region_share": 0.2})], azure=[]))
    assert ("pools[0].placement.max_region_share: 0.2 lets one region hold at most 6 of pool serve's 32 GPUs, "
            "so it needs 6 regions and the spec configures 3; at least 0.344, or configure more regions") in message


def test_a_min_share_a_clouds_regions_cannot_hold_under_the_share_is_refused() -> None:
    message = refused(fleet([h100(placement={"max_region_share": 0.25}, min_share={"azure": 0.75})]))
    assert "min_share.azure 0.75 asks for 24 on azure; at least 0.375, or more azure regions" in message


def test_quotas_that_break_the_default_spread_name_it_and_how_to_turn_it_off() -> None:
    # us-west-2 and eu-west-1 hold no spot p5 (quota 0): us-east-1 may hold only half.
    quotas = {"aws": {"us-west-2": {"L-7212CCBC": 0}, "eu-west-1": {"L-7212CCBC": 0}}}
    message = infeasible(fleet([h100()], azure=[], quotas=quotas))
    assert "max_region_share 0.5, the default for spot pools (at most 16 GPUs in one region;" in message
    assert "placement: {max_region_share: 1} on the pool allows one region" in message


def _largest(gpus: int, placements: dict[str, int]) -> float:
    by_place = [("/".join(key.split("/")[1:]), nodes * 8) for key, nodes in placements.items()]
    return largest_region_share(gpus, by_place)[1]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pools=st.lists(
        st.tuples(
            st.sampled_from([8, 16, 24, 32, 48]),
            st.sampled_from(["spot", "on-demand"]),
            st.sampled_from([None, 0.34, 0.5, 0.75]),
        ),
        min_size=1, max_size=3,
    ),
    aws=st.sampled_from([AWS_REGIONS, AWS_REGIONS[:2], AWS_REGIONS[:1], []]),
    azure=st.sampled_from([AZURE_REGIONS, AZURE_REGIONS[:1], []]),
)
def test_no_spot_pool_has_more_than_its_regional_share(
    pools: list[tuple[int, str, float | None]], aws: list[str], azure: list[str]
) -> None:
    """On random small fleets over both clouds: every pool's largest region holds at most its
    declared share, and a spot pool without one at most the default rounded up to one node,
    whenever two regions can hold it; a fleet no plan can spread that way is infeasible with a
    message, or refused at the spec, never placed over its share."""
    if not aws and not azure:
        aws = AWS_REGIONS[:1]
    specified = [
        h100(f"p{i}", gpus, capacity, **({"placement": {"max_region_share": share}} if share else {}))
        for i, (gpus, capacity, share) in enumerate(pools)
    ]
    data = fleet(specified, aws=aws, azure=azure)
    try:
        spec = load_fleet(data)
        result = place(spec, spec.catalog())
    except (SpecError, InfeasibleError):  # refused or explained, never placed over a share
        return
    regions = len(aws) + len(azure)
    for i, (gpus, capacity, share) in enumerate(pools):
        mine = {k: n for k, n in ((f"{p.pool}/{p.cloud}/{p.region}", p.nodes) for p in result.placements)
                if k.startswith(f"p{i}/")}
        largest = _largest(gpus, mine)
        if share is not None:
            assert largest * gpus <= share * gpus + 1e-9
        elif capacity == "spot" and regions > 1 and gpus > 8:
            assert largest * gpus <= -(-gpus // 16) * 8  # half, rounded up to whole 8-GPU nodes


@pytest.mark.parametrize("budget", [{}, {"commitments": {"aws": {"total_usd": 60000, "start": "2026-01", "years": 1,
                                                             "minimum": "per-year", "shortfall": "cash"}}}],
                         ids=["period-by-period", "joint-with-a-contract"])
def test_the_region_share_holds_in_every_period_of_a_horizon(budget: dict[str, Any]) -> None:
    """A spot pool that grows from 16 to 48 GPUs: every period keeps at most half (rounded up to
    a node) in one region, whether periods are placed one by one or in one model with a contract."""
    spec = load_fleet(fleet(
        [h100(gpus=16, schedule={"2026-03": 48})], azure=[],
        horizon={"start": "2026-01", "months": 4, "period": "month"}, budget=budget,
    ))
    result = place_horizon(spec)
    for period_spec, placements in zip(result.specs, result.placements, strict=True):
        gpus = period_spec.pools[0].gpus
        by_place = [(f"{p.cloud}/{p.region}", p.gpus) for p in placements]
        assert sum(g for _, g in by_place) >= gpus
        assert largest_region_share(gpus, by_place)[1] * gpus <= -(-gpus // 16) * 8
        assert len({place for place, _ in by_place}) >= 2


def test_a_cloud_the_pool_may_not_use_is_no_region_to_spread_to() -> None:
    # max_share {aws: 0} leaves azure/eastus alone: the default steps aside with a note.
    spec, nodes = solve(fleet([h100(max_share={"aws": 0.0})], azure=["eastus"]))
    assert nodes == {"serve/azure/eastus": 4}
    found, _ = candidates(spec, spec.catalog())
    assert {c.region_gpus for c in found} == {None}
