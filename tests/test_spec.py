"""Spec validation: each rule, with the message a person reads; and no crash on any mutation."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet.errors import SpecError
from gpufleet.spec import FleetSpec, load_fleet
from tests.conftest import fleet_of


def valid() -> dict[str, Any]:
    return {
        "name": "llm",
        "sovereignty": {"jurisdictions": ["EU"]},
        "budget": {"monthly_usd": 100000, "commitments": {"aws": 1000}},
        "network": {"supernet": "10.64.0.0/10"},
        "clouds": {"aws": {"regions": ["eu-north-1"]}, "azure": {"regions": ["swedencentral"]}},
        "prices": {"azure/swedencentral/Standard_ND96isr_H100_v5": 90.0},
        "quotas": {"aws": {"eu-north-1": {"L-417A185B": 1536}}},
        "pools": [{"name": "train", "accelerator": "H100", "gpus": 16, "gpus_per_node": 8,
                   "interconnect": "rdma", "min_share": {"aws": 0.25}}],
        "storage": [{"name": "data", "size_tib": 10, "colocate_with": ["train"]}],
    }


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_fleet(data)
    return [str(p) for p in caught.value.problems]


def test_valid_spec_is_typed_and_immutable() -> None:
    spec = load_fleet(valid())
    assert isinstance(spec, FleetSpec)
    assert spec.pools[0].capacity == "on-demand"
    assert spec.storage[0].protect is True
    assert spec.pools[0].autoscale is None
    with pytest.raises(Exception, match="frozen"):
        spec.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("stack", ["dev", "prod-eu"])
def test_sample_stacks_validate(stack: str) -> None:
    assert load_fleet(fleet_of(stack)).pools


def mutate(path: str, value: Any) -> dict[str, Any]:
    data = valid()
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


CASES = [
    ("pools.0.accelerator", "H1000",
     "pools[0].accelerator: unknown accelerator 'H1000' (did you mean 'H100'?); known: A10, A100, A100-80GB,"),
    ("pools.0.capacity", "spto",
     "pools[0].capacity: got 'spto' (did you mean 'spot'?); allowed: on-demand, spot, reserved"),
    ("pools.0.gpus", 0, "pools[0].gpus: Input should be greater than 0 (got 0)"),
    ("pools.0.gpus_per_node", 3, "pools[0].gpus_per_node: no H100 SKU with 3 GPUs per node on aws, azure; sizes offered: 1, 2, 8"),
    ("pools.0.min_share", {"aws": 0.7, "azure": 0.6}, "pools[0].min_share: min shares sum to 1.3; they must sum to at most 1"),
    ("pools.0.min_share", {"aws": 1.5}, "pools[0].min_share.aws: Input should be less than or equal to 1 (got 1.5)"),
    ("pools.0.max_share", {"aws": 0.1}, "pools[0].min_share.aws: min_share 0.25 is above max_share 0.1 for aws"),
    ("pools.0.pin", {"aws/eu-west-1": 2}, "pools[0].pin.aws/eu-west-1: 'aws/eu-west-1' is not a configured cloud/region; configured: aws/eu-north-1, azure/swedencentral"),
    ("pools.0.mig", "MIG3g", "pools[0].mig: MIG (MIG3g) cannot be used on an rdma pool: MIG slices have no GPU-to-GPU peer-to-peer"),
    ("storage.0.colocate_with", ["trian"], "storage[0].colocate_with[0]: unknown pool 'trian' (did you mean 'train'?); known: train"),
    ("network.supernet", "8.8.0.0/16", "network.supernet: 8.8.0.0/16 is public address space; allowed: a block inside 10.0.0.0/8"),
    ("network.supernet", "10.0.0.0/33", "network.supernet: Input is not a valid IPv4 network (got '10.0.0.0/33')"),
    ("clouds.aws.regions", ["eu-west-2"], "clouds.aws.regions[0]: region 'eu-west-2' is in GB (Europe (London)), outside the allowed jurisdictions EU; remove it or allow GB"),
    ("clouds.aws.regions", ["eu-nort-1"], "clouds.aws.regions[0]: unknown aws region 'eu-nort-1' (did you mean 'eu-north-1'?)"),
    ("clouds.azure.regions", ["switzerlandnorth"], "clouds.azure.regions[0]: region 'switzerlandnorth' is in CH (Switzerland North), outside the allowed jurisdictions EU; remove it or allow CH"),
    ("sovereignty.jurisdictions", ["EUR"], "sovereignty.jurisdictions[0]: unknown jurisdiction 'EUR' (did you mean 'EU'?)"),
    ("prices", {"azure/swedencentral/Standard_ND96isr_H100": 1.0}, "prices.azure/swedencentral/Standard_ND96isr_H100: unknown azure instance type 'Standard_ND96isr_H100' (did you mean 'Standard_ND96isr_H100_v5'?)"),
    ("prices", {"azure/swedencentral": 1.0}, "prices.azure/swedencentral: key 'azure/swedencentral' must be 'cloud/region/sku', 'cloud/region/sku:spot' or 'cloud/transfer/kind'"),
    ("prices", {"aws/transfer/internal": 0.01}, "prices.aws/transfer/internal: unknown transfer kind 'internal' (did you mean 'internet'?); known: same-region, inter-region, internet"),
    ("prices", {"gcp/transfer/internet": 0.01}, "prices.gcp/transfer/internet: unknown cloud 'gcp'"),
    ("storage.0.home", "aws/eu-nort-1", "storage[0].home: unknown aws region 'eu-nort-1' (did you mean 'eu-north-1'?)"),
    ("storage.0.home", "aws/eu-west-2", "storage[0].home: 'aws/eu-west-2' is not one of the fleet's regions (aws/eu-north-1, azure/swedencentral)"),
    ("storage.0.churn_tib", -1, "storage[0].churn_tib: Input should be greater than or equal to 0 (got -1)"),
    ("storage.0.amortize_months", 0, "storage[0].amortize_months: Input should be greater than or equal to 1 (got 0)"),
    ("storage.0.churn_tib", 5, "storage[0].churn_tib: churn_tib prices syncing copies from the dataset's home; set home: 'cloud/region' (one of aws/eu-north-1, azure/swedencentral) or drop churn_tib"),
    ("quotas", {"aws": {"eu-north-1": {"L-417A185X": 5}}}, "quotas.aws.eu-north-1.L-417A185X: unknown quota bucket 'L-417A185X' (did you mean 'L-417A185B'?)"),
    ("quotas", {"aws": {"eu-central-1": {"L-417A185B": 5}}}, "quotas.aws.eu-central-1: region 'eu-central-1' is not under clouds.aws.regions"),
    ("budget.commitments", {"gcp": 5}, "budget.commitments.gcp: got 'gcp'; allowed: aws, azure"),
    ("name", "LLM Train", "name: must be lowercase letters, digits and '-' (2-24 characters, starting with a letter) (got 'LLM Train')"),
]


@pytest.mark.parametrize(("path", "value", "expected"), CASES, ids=[c[0] + "=" + repr(c[1])[:20] for c in CASES])
def test_each_rule_names_field_value_and_what_is_allowed(path: str, value: Any, expected: str) -> None:
    data = mutate(path, value)
    found = problems(data)
    assert any(p.startswith(expected) for p in found), found


def test_unknown_key_is_rejected_with_the_allowed_keys() -> None:
    data = valid()
    data["pools"][0]["gpu"] = 8
    assert problems(data) == [
        "pools[0].gpu: unknown key 'gpu' (did you mean 'gpus'?); allowed keys: accelerator, "
        "autoscale, capacity, capacity_reservation_id, gpus, gpus_per_node, interconnect, "
        "max_share, mig, min_share, name, pin, schedule"
    ]


def test_duplicate_pool_names_are_refused() -> None:
    data = valid()
    data["pools"].append(copy.deepcopy(data["pools"][0]))
    assert "pools[1].name: pool name 'train' is used twice; names must be unique" in problems(data)


def test_rdma_on_a_sku_without_it_names_the_sku() -> None:
    data = mutate("pools.0", {"name": "infer", "accelerator": "L4", "gpus": 4, "interconnect": "rdma"})
    data["storage"] = []
    [message] = problems(data)
    assert message.startswith(
        "pools[0].interconnect: rdma needs an RDMA fabric (efa on AWS, infiniband on Azure); none of g6.12xlarge"
    )


def test_mig_on_a_gpu_without_it_names_the_skus() -> None:
    data = mutate("pools.0", {"name": "infer", "accelerator": "T4", "gpus": 1, "gpus_per_node": 1, "mig": "MIG1g"})
    data["storage"] = []
    [message] = problems(data)
    # only Azure offers MIG, so only its T4 sizes are named
    assert message.startswith("pools[0].mig: MIG needs a MIG-capable GPU (A100, H100, ...); T4 on Standard_NC16as_T4_v3")


def test_azure_quota_family_is_matched_case_insensitively() -> None:
    data = valid()
    data["quotas"]["azure"] = {"swedencentral": {"STANDARDNDSH100V5FAMILY": 96}}
    assert load_fleet(data).quotas["azure"]["swedencentral"] == {"standardNDSH100v5Family": 96}


def test_uk_is_accepted_for_great_britain() -> None:
    data = mutate("sovereignty.jurisdictions", ["UK"])
    data["clouds"] = {"aws": {"regions": ["eu-west-2"]}}
    data["prices"], data["quotas"] = {}, {}
    data["pools"][0]["min_share"] = {}
    assert load_fleet(data).allowed_jurisdictions() == {"GB"}


LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 2000), st.floats(allow_nan=True),
    st.text(max_size=12), st.lists(st.text(max_size=6), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(-2, 9), max_size=2),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*prefix, index))
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_mutation_validates_or_raises_spec_error(data: st.DataObject) -> None:
    spec = valid()
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(spec) if p]
        path = data.draw(st.sampled_from(paths))
        parent: Any = spec
        for part in path[:-1]:
            parent = parent[part]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.text(max_size=10))] = data.draw(LEAVES)
        else:
            parent[path[-1]] = data.draw(LEAVES)
    try:
        load_fleet(spec)
    except SpecError as error:
        found = error.problems
    else:
        return
    assert found
    assert all(p.path and p.message for p in found)


def test_a_supernet_too_small_for_the_address_plan_says_how_big_it_must_be() -> None:
    assert problems(mutate("network.supernet", "10.0.0.0/16")) == [
        "network.supernet: 10.0.0.0/16 is too small: 256 region slots of at least /20 need a /12 "
        "or larger (e.g. 10.64.0.0/12)"
    ]


def test_mig_on_a_pool_without_rdma_is_accepted() -> None:
    data = mutate("pools.0.interconnect", "none")
    data["pools"][0]["mig"] = "MIG3g"
    data["pools"][0]["min_share"] = {"azure": 0.25}  # a share on AWS, which offers no MIG, is refused
    assert load_fleet(data).pools[0].mig == "MIG3g"


def test_gpus_that_do_not_fill_whole_nodes_are_refused_with_the_nearest_counts() -> None:
    assert "pools[0].gpus: 60 GPUs do not fill whole 8-GPU nodes (H100 nodes offered hold 8); use 56 or 64" in (
        problems(mutate("pools.0.gpus", 60))
    )
    data = mutate("pools.0.gpus", 4)
    assert "pools[0].gpus: 4 GPUs do not fill whole 8-GPU nodes (H100 nodes offered hold 8); use 8" in problems(data)


def test_gpus_without_gpus_per_node_may_mix_node_sizes() -> None:
    data = mutate("pools.0", {"name": "train", "accelerator": "H100", "gpus": 3})
    assert load_fleet(data).pools[0].gpus == 3  # 1- and 2-GPU Azure H100 sizes make any count


def test_min_nodes_above_the_pools_nodes_is_refused() -> None:
    data = mutate("pools.0.autoscale", {"min_nodes": 100})
    assert "pools[0].autoscale.min_nodes: min_nodes 100 is above the 2 nodes that 16 GPUs fill on 8-GPU nodes; at most 2" in (
        problems(data)
    )


def test_reserved_without_a_reservation_id_is_refused_saying_what_each_cloud_allows() -> None:
    [message] = problems(mutate("pools.0.capacity", "reserved"))
    assert message.startswith("pools[0].capacity_reservation_id: capacity: reserved needs the id of an EC2 capacity block")
    assert "On Azure a reservation is a billing discount" in message
    data = mutate("pools.0.capacity", "reserved")
    data["pools"][0]["capacity_reservation_id"] = "cr-0123456789abcdef0"
    assert load_fleet(data).pools[0].capacity == "reserved"


@pytest.mark.parametrize("gpus", [10**9, 10**20])
def test_huge_gpu_counts_name_the_field_and_the_bound(gpus: int) -> None:
    [message] = problems(mutate("pools.0.gpus", gpus))
    assert message.startswith(f"pools[0].gpus: {gpus:,} GPUs is above the 1,000,000 one pool may hold")


@pytest.mark.parametrize("value", [True, 167772160])
def test_a_cidr_must_be_text_not_a_number_pydantic_would_make_a_host_of(value: object) -> None:
    assert problems(mutate("network.supernet", value)) == [
        f"network.supernet: a CIDR is written as text such as '10.0.0.0/8' (got {value})"
    ]


def _problems(fleet: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_fleet(fleet)
    return [str(problem) for problem in caught.value.problems]


def test_a_jurisdiction_written_as_a_name_is_suggested_as_its_code_and_nothing_follows() -> None:
    """Issue 30: `[Europe]` got no suggestion and an error for every region it left outside."""
    fleet = fleet_of("prod-eu")
    fleet["sovereignty"] = {"jurisdictions": ["Europe"]}
    [problem] = _problems(fleet)
    assert problem.startswith("sovereignty.jurisdictions[0]: unknown jurisdiction 'Europe' (did you mean 'EU'?); "
                              "known: ")
    fleet["sovereignty"] = {"jurisdictions": ["EU", "Unitd Kingdom"]}
    assert [p.split(";")[0] for p in _problems(fleet)] == ["sovereignty.jurisdictions[1]: unknown jurisdiction "
                                                          "'Unitd Kingdom'"]


@pytest.mark.parametrize(("home", "says"), [
    ("aws/us-west-2", "storage[0].home: 'aws/us-west-2' is not one of the fleet's regions (aws/us-east-1, "
                      "azure/eastus): add us-west-2 to clouds.aws.regions, or name one of those"),
    ("aws/us-wst-2", "storage[0].home: unknown aws region 'us-wst-2' (did you mean 'us-west-2'?); known: "),
    ("gcp/us-east1", "storage[0].home: 'gcp/us-east1' must be 'cloud/region', one of the fleet's regions: "
                     "aws/us-east-1, azure/eastus"),
])
def test_a_storage_home_outside_the_fleet_says_which_and_how(home: str, says: str) -> None:
    fleet = fleet_of("dev")
    fleet["storage"] = [{**fleet["storage"][0], "home": home}]
    [problem] = _problems(fleet)
    assert problem.startswith(says)


def test_accelerators_match_without_case_and_take_the_catalogs_spelling() -> None:
    fleet = fleet_of("prod-eu")
    lower = copy.deepcopy(fleet)
    for pool in lower["pools"]:
        pool["accelerator"] = pool["accelerator"].lower()
    assert [p.accelerators() for p in load_fleet(lower).pools] == [(p["accelerator"],) for p in fleet["pools"]]
    assert load_fleet(lower) == load_fleet(fleet)
    lower["pools"][0]["accelerator"] = "h1000"
    [problem] = _problems(lower)
    assert "unknown accelerator 'h1000' (did you mean 'H100'?)" in problem
