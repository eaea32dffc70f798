"""Address capacity as a placement constraint (issue 14): the planner sends nodes where the
networks hold them, so a plan that exits 0 never has an undersized range (proven by the
address-capacity policy and the arithmetic of tests/test_addresses.py from the recorded
resources), and a fleet no network holds exits 1 naming the range; small fleets keep the model
they had (no address rows)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet import addresses, clouds
from gpufleet.catalog.limits import limit
from gpufleet.clouds.azure.pools import default_surge
from gpufleet.errors import InfeasibleError
from gpufleet.nodegroups import split
from gpufleet.offline import SpecSource, run_plan
from gpufleet.placement import candidates, cost_model, offer_bounds, undominated
from gpufleet.placement.candidates import tight_places
from gpufleet.spec import load_fleet
from tests.conftest import fleet_of
from tests.test_addresses import FLEET_8192, short_ranges, violations


def _model_of(fleet: dict[str, Any]) -> tuple[Any, frozenset[str]]:
    spec = load_fleet(fleet)
    cands = undominated(spec, candidates(spec, spec.catalog())[0])
    return cost_model(spec, cands, offer_bounds(spec, cands)), tight_places(spec, cands)


@pytest.mark.parametrize("stack", ["dev", "prod-eu"])
def test_small_fleets_get_no_address_rows(stack: str) -> None:
    form, tight = _model_of(fleet_of(stack))
    assert form.address_rows == []
    assert tight == frozenset()


# FLEET_8192 on a /12 supernet: /20 slots, so a /22 node subnet per zone (1,019 addresses).
FLEET_8192_SMALL = {**FLEET_8192, "network": {"supernet": "10.0.0.0/12"}}


def test_only_a_region_a_plan_could_fill_gets_rows() -> None:
    # Behaviour change (issue 29): on a /8 the grown AWS VPC (pods in /16 secondary blocks) and
    # Azure's /18 subnet and /11 pods hold all 1,024 nodes: no rows.
    form, tight = _model_of(FLEET_8192)
    assert form.address_rows == []
    assert "aws/us-east-1" not in tight
    form, tight = _model_of(FLEET_8192_SMALL)
    assert form.address_rows == [("aws", "us-east-1"), ("azure", "eastus")]
    assert "aws/us-east-1" in tight


@pytest.mark.parametrize("nodes_per_group", [None, 100, 1000])
def test_the_linear_surge_bound_holds_the_step_function(nodes_per_group: int | None) -> None:
    """surge_per_node × n + surge_per_group × groups bounds what the plan counts (`pool_surge`,
    at the default group limit) and what the program declares per group (AWS: 2 per zone of
    at most 2 zones; AKS spot pools: 10 % rounded up, at least 1, per pool)."""
    for model in clouds.models():
        default = limit(model.name, model.limit_keys["nodes_per_group"]).value
        per_group = nodes_per_group or default
        for n in range(1, 3001):
            groups = math.ceil(n / per_group)
            bound = model.surge_per_node * n + model.surge_per_group * groups
            parts = [part.nodes for part in split(n, None, per_group)]
            declared = (
                sum(default_surge(p) for p in parts) if model.surge_per_node else 2 * 2 * len(parts)
            )
            assert declared <= bound + 1e-9, (model.name, n)
            if per_group == default:
                assert model.pool_surge(n) <= bound + 1e-9, (model.name, n)


def test_the_diagnosis_and_the_policy_count_alike() -> None:
    """A region filled to the brim by the bound holds its nodes by the plan's own arithmetic."""
    spec = load_fleet(FLEET_8192)
    rooms = addresses.planned_rooms(spec, "aws", "us-east-1")
    assert [r.node_range.label for r in rooms] == ["private subnet 1", "private subnet 2", "pod subnet 1", "pod subnet 2"]
    most = max(n for n in range(1, 2000) if not addresses.overfilled(spec, "aws", "us-east-1", [("p5.48xlarge", n)]))
    fits = [("p5.48xlarge", most)]
    assert all(addresses.bounded_need(spec, room, fits) <= room.node_range.usable for room in rooms)
    short = addresses.overfilled(spec, "aws", "us-east-1", [("p5.48xlarge", most + 1)])
    # A grown VPC's /16 pod subnet binds first (50 addresses a node), not its /18 node subnets.
    assert {(u.label, u.available) for u in short} == {("pod subnet 1", 65531), ("pod subnet 2", 65531)}
    assert 1290 <= most <= 1310


PLACES = ["aws/us-east-1", "aws/us-west-2", "azure/eastus", "azure/westus"]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    prefix=st.integers(min_value=8, max_value=12),
    pool=st.sampled_from([("H100", 8, True), ("A100", 8, False), ("T4", 1, False)]),
    nodes=st.one_of(st.integers(min_value=1, max_value=400), st.integers(min_value=1, max_value=5000)),
    places=st.lists(st.sampled_from(PLACES), min_size=1, max_size=4, unique=True),
)
def test_random_fleets_plan_with_every_range_large_enough_or_name_one(
    prefix: int, pool: tuple[str, int, bool], nodes: int, places: list[str], tmp_path: Path
) -> None:
    accelerator, per_node, rdma = pool
    regions: dict[str, dict[str, list[str]]] = {}
    for place_ in places:
        cloud, region = place_.split("/")
        regions.setdefault(cloud, {"regions": []})["regions"].append(region)
    fleet = {
        "name": "prop", "network": {"supernet": f"10.0.0.0/{prefix}"}, "clouds": regions,
        "pools": [{"name": "train", "accelerator": accelerator, "gpus": per_node * nodes,
                   "gpus_per_node": per_node, **({"interconnect": "rdma"} if rdma else {})}],
    }
    path = tmp_path / f"prop-{prefix}-{nodes}.yaml"
    path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": fleet}}))
    try:
        made = run_plan(SpecSource(spec=path, stack_name="prop"))
    except InfeasibleError as error:
        message = str(error)
        if "no placement fits" in message:  # a deploy limit: it names the region, and the range if one
            assert any(p in message for p in places)
            assert "holds" in message or "limits" in message
        else:  # no offer of the accelerator in these regions, or quotas: nothing about addresses
            assert "addresses" not in message
        return
    assert made.exit_code == 0, violations(made.document) + violations(made.document, "deploy-readiness")
    assert violations(made.document) == []
    assert short_ranges(made.document["resources"]) == []
    assert all(a["needed"] <= a["available"] for n in made.document["networks"] for a in n["addresses"])



def test_limits_become_rows_only_where_a_plan_breaks_them() -> None:
    """Lazy rows: the first round holds no deploy limit; a round whose plan breaks one adds that
    place's rows, and the last plan breaks none (so it is optimal for the whole model)."""
    from gpufleet.placement import solve

    # Without Azure's half, the cheaper AWS would take all 1,024 nodes: more than its /22 holds.
    unshared = {key: value for key, value in FLEET_8192["pools"][0].items() if key != "min_share"}
    spec = load_fleet({**FLEET_8192_SMALL, "pools": [unshared]})
    rounds: list[frozenset[str]] = []
    original = solve._place_within  # pyright: ignore[reportPrivateUsage]

    def traced(*args: Any, **kwargs: Any) -> Any:
        rounds.append(kwargs["limited"])
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(solve, "_place_within", traced)
        result = solve.place(spec, spec.catalog())
    assert rounds[0] == frozenset()
    assert rounds[-1] == {"aws/us-east-1"}  # only the AWS VPC's /22 node subnets overfill
    assert solve.broken_limits(spec, result.placements) == frozenset()
