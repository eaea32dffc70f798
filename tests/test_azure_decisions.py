"""Table-driven tests of the Azure decisions: names, address splits, pool settings, validation."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.azure import decisions as d
from gpufleet.catalog import Sku
from gpufleet.clouds.catalog import load_catalog
from gpufleet.errors import DecisionError

AGENT_POOL_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
STORAGE_RE = re.compile(r"^[a-z0-9]{3,24}$")
CONTAINER_RE = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
CLUSTER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,61}[A-Za-z0-9]$")
DNS_PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,52}[A-Za-z0-9]$")
GUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

pool_names = st.from_regex(r"[a-z][a-z0-9-]{0,22}[a-z0-9]", fullmatch=True)


def sku(instance_type: str) -> Sku:
    found = load_catalog().sku("azure", instance_type)
    assert found is not None
    return found


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "pool", "expected"),
    [
        ("train/azure/swedencentral/Standard_ND96isr_H100_v5", "train", "train57e596e"),
        ("infer/azure/eastus/Standard_NC4as_T4_v3", "infer", "infer4227875"),
        ("llm-inference-x/azure/eastus/Standard_NC4as_T4_v3", "llm-inference-x", "llminf1d4c2b"),
    ],
)
def test_agent_pool_name_is_pool_prefix_plus_key_hash(key: str, pool: str, expected: str) -> None:
    assert d.agent_pool_name(key, pool) == expected
    assert AGENT_POOL_RE.match(expected)


@given(pool=pool_names, region=st.sampled_from(["eastus", "swedencentral", "westeurope"]))
def test_agent_pool_name_fits_linux_limits_for_any_pool(pool: str, region: str) -> None:
    name = d.agent_pool_name(f"{pool}/azure/{region}/Standard_NC4as_T4_v3", pool)
    assert AGENT_POOL_RE.match(name), name
    assert len(name) <= d.AGENT_POOL_NAME_MAX


def test_agent_pool_names_unique_across_pools_and_sizes_in_a_region() -> None:
    sizes = sorted(s for c, s in load_catalog().skus if c == "azure")
    pools = [f"pool{i}" for i in range(40)] + ["train", "trainer", "training", "serve"]
    names = {d.agent_pool_name(f"{p}/azure/eastus/{s}", p) for p in pools for s in sizes}
    assert len(names) == len(pools) * len(sizes)
    assert d.SYSTEM_POOL_NAME not in names


@pytest.mark.parametrize(
    ("fleet", "stack", "storage", "region", "expected"),
    [
        ("llm-train", "prod-eu", "datasets", "swedencentral", "datasetsdf45cc50b24cbd37"),
        ("dev", "dev", "models", "eastus", "modelsdb6ae1e05e89738c20"),
        ("dev", "dev", "very-long-storage-name", "eastus", "verylongstbc368b630f6cb5"),
    ],
)
def test_storage_account_name_is_deterministic_and_within_limits(
    fleet: str, stack: str, storage: str, region: str, expected: str
) -> None:
    assert d.storage_account_name(fleet, stack, storage, region) == expected
    assert STORAGE_RE.match(expected)


@given(
    fleet=pool_names,
    stack=pool_names,
    storage=pool_names,
    region=st.sampled_from(["eastus", "swedencentral", "germanywestcentral"]),
)
def test_storage_account_name_fits_azure_limits_for_any_key(
    fleet: str, stack: str, storage: str, region: str
) -> None:
    assert STORAGE_RE.match(d.storage_account_name(fleet, stack, storage, region))


def test_storage_account_name_differs_per_fleet_stack_and_region() -> None:
    names = {
        d.storage_account_name(fleet, stack, "datasets", region)
        for fleet in ("a", "b")
        for stack in ("dev", "prod")
        for region in ("eastus", "westus2")
    }
    assert len(names) == 8


@pytest.mark.parametrize(
    ("storage", "expected"),
    [
        ("datasets", "datasets"),
        ("ab", "ab-data"),
        ("my--data", "my-data"),
        ("models-v2", "models-v2"),
    ],
)
def test_container_name(storage: str, expected: str) -> None:
    assert d.container_name(storage) == expected
    assert CONTAINER_RE.match(expected)


@pytest.mark.parametrize(
    ("function", "fleet", "stack", "region", "expected"),
    [
        (d.resource_group_name, "dev", "dev", "eastus", "rg-dev-dev-eastus"),
        (d.resource_group_name, "dev", "org/dev", "eastus", "rg-dev-org-dev-eastus"),
        (
            d.cluster_name,
            "llm-train",
            "prod-eu",
            "swedencentral",
            "aks-llm-train-prod-eu-swedencentral",
        ),
        (
            d.cluster_name,
            "a" * 24,
            "s" * 60,
            "germanywestcentral",
            "aks-aaaaaaaaaaaaaaaaaaaaaaaa-sssssssssssssssssssssssss-88245e7a",
        ),
        (d.dns_prefix, "llm-train", "prod-eu", "swedencentral", "llm-train-prod-eu-swedencentral"),
        (
            d.dns_prefix,
            "a" * 24,
            "s" * 60,
            "germanywestcentral",
            "aaaaaaaaaaaaaaaaaaaaaaaa-ssssssssssssssssssss-88245e7a",
        ),
    ],
)
def test_regional_names(function, fleet: str, stack: str, region: str, expected: str) -> None:
    assert function(fleet, stack, region) == expected


@given(fleet=pool_names, stack=st.from_regex(r"[A-Za-z0-9._-]{1,80}", fullmatch=True))
def test_cluster_name_and_dns_prefix_fit_aks_limits(fleet: str, stack: str) -> None:
    assert CLUSTER_RE.match(d.cluster_name(fleet, stack, "germanywestcentral"))
    assert DNS_PREFIX_RE.match(d.dns_prefix(fleet, stack, "germanywestcentral"))
    assert len(d.resource_group_name(fleet, stack, "germanywestcentral")) <= 90


def test_role_assignment_name_is_a_stable_guid() -> None:
    name = d.role_assignment_name("dev", "dev", "eastus")
    assert name == "74e0962f-8419-911e-f8cb-e0e4227abc64"
    assert GUID_RE.match(name)
    assert d.role_assignment_name("dev", "dev", "westus2") != name


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("azure", "eastus"), "azure-eastus"),
        (("train/azure/eastus/Standard_NC4as_T4_v3",), "train-azure-eastus-Standard_NC4as_T4_v3"),
        (("datasets", "azure", "eastus"), "datasets-azure-eastus"),
    ],
)
def test_logical_name_from_stable_keys(parts: tuple[str, ...], expected: str) -> None:
    assert d.logical_name(*parts) == expected


# -- tags, labels, taints ------------------------------------------------------------------------


def test_resource_tags() -> None:
    assert d.resource_tags("f", "s") == {"gpufleet-fleet": "f", "gpufleet-stack": "s"}
    assert d.resource_tags("f", "s", pool="train") == {
        "gpufleet-fleet": "f",
        "gpufleet-stack": "s",
        "gpufleet-pool": "train",
    }
    assert d.resource_tags("f", "s", storage="datasets")["gpufleet-storage"] == "datasets"


@pytest.mark.parametrize(
    ("rdma", "expected"),
    [
        (
            False,
            {"gpufleet.io/fleet": "f", "gpufleet.io/pool": "p", "gpufleet.io/accelerator": "H100"},
        ),
        (
            True,
            {
                "gpufleet.io/fleet": "f",
                "gpufleet.io/pool": "p",
                "gpufleet.io/accelerator": "H100",
                "gpufleet.io/interconnect": "infiniband",
            },
        ),
    ],
)
def test_node_labels(rdma: bool, expected: dict[str, str]) -> None:
    assert d.node_labels("f", "p", "H100", rdma=rdma) == expected


@pytest.mark.parametrize(
    ("capacity", "expected"),
    [
        ("on-demand", ["nvidia.com/gpu=true:NoSchedule"]),
        ("reserved", ["nvidia.com/gpu=true:NoSchedule"]),
        (
            "spot",
            [
                "nvidia.com/gpu=true:NoSchedule",
                "kubernetes.azure.com/scalesetpriority=spot:NoSchedule",
            ],
        ),
    ],
)
def test_node_taints(capacity: str, expected: list[str]) -> None:
    assert d.node_taints(capacity) == expected  # type: ignore[arg-type]


# -- pool settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nodes", "min_nodes", "expected"),
    [
        (3, None, d.ScaleSettings(count=3, enable_auto_scaling=False)),
        (3, 0, d.ScaleSettings(count=0, enable_auto_scaling=True, min_count=0, max_count=3)),
        (8, 2, d.ScaleSettings(count=2, enable_auto_scaling=True, min_count=2, max_count=8)),
        (3, 5, d.ScaleSettings(count=3, enable_auto_scaling=True, min_count=3, max_count=3)),
        (1, 1, d.ScaleSettings(count=1, enable_auto_scaling=True, min_count=1, max_count=1)),
    ],
)
def test_scale_settings(nodes: int, min_nodes: int | None, expected: d.ScaleSettings) -> None:
    assert d.scale_settings(nodes, min_nodes) == expected


def test_scale_settings_refuses_an_empty_placement() -> None:
    with pytest.raises(DecisionError) as error:
        d.scale_settings(0, None)
    assert str(error.value) == "pools: a GPU agent pool needs at least 1 planned node (got 0)"


@pytest.mark.parametrize(
    ("capacity", "expected"),
    [
        ("spot", d.PrioritySettings("Spot", "Delete", -1.0)),
        ("on-demand", d.PrioritySettings("Regular")),
        ("reserved", d.PrioritySettings("Regular")),
    ],
)
def test_priority_settings(capacity: str, expected: d.PrioritySettings) -> None:
    assert d.priority_settings(capacity) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("capacity", "expected"),
    [
        ("on-demand", d.UpgradeSettings(max_surge="0", max_unavailable="1")),
        ("reserved", d.UpgradeSettings(max_surge="0", max_unavailable="1")),
        ("spot", None),
    ],
)
def test_upgrade_settings(capacity: str, expected: d.UpgradeSettings | None) -> None:
    assert d.upgrade_settings(capacity) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mig", "vm_size", "expected"),
    [
        (None, "Standard_NC4as_T4_v3", None),
        ("MIG3g", "Standard_NC24ads_A100_v4", "MIG3g"),
        ("MIG7g", "Standard_ND96isr_H100_v5", "MIG7g"),
        ("MIG1g", "Standard_ND96asr_v4", "MIG1g"),
    ],
)
def test_gpu_instance_profile(mig: str | None, vm_size: str, expected: str | None) -> None:
    assert d.gpu_instance_profile(mig, sku(vm_size)) == expected


@pytest.mark.parametrize(
    ("vm_size", "accelerator"),
    [
        ("Standard_NC4as_T4_v3", "T4"),
        ("Standard_NV36ads_A10_v5", "A10"),
        ("Standard_NC6s_v3", "V100"),
    ],
)
def test_gpu_instance_profile_refuses_non_mig_sizes_naming_the_size(
    vm_size: str, accelerator: str
) -> None:
    with pytest.raises(DecisionError) as error:
        d.gpu_instance_profile("MIG1g", sku(vm_size), "pools[2].mig")
    assert error.value.path == "pools[2].mig"
    assert str(error.value) == (
        f"pools[2].mig: MIG profile MIG1g needs a MIG-capable GPU (A100, H100, H200, B200); "
        f"VM size {vm_size} has {accelerator}; remove mig or use an A100/H100 pool"
    )


@pytest.mark.parametrize(
    ("interconnect", "vm_size"),
    [
        ("rdma", "Standard_ND96isr_H100_v5"),
        ("rdma", "Standard_ND96asr_v4"),
        ("rdma", "Standard_ND96amsr_A100_v4"),
        ("none", "Standard_NC4as_T4_v3"),
        ("none", "Standard_ND96isr_H100_v5"),
    ],
)
def test_check_interconnect_accepts(interconnect: str, vm_size: str) -> None:
    d.check_interconnect(interconnect, sku(vm_size), ["Standard_ND96isr_H100_v5"])


@pytest.mark.parametrize(
    "vm_size", ["Standard_NC24ads_A100_v4", "Standard_NC40ads_H100_v5", "Standard_NC4as_T4_v3"]
)
def test_check_interconnect_refuses_sizes_without_infiniband(vm_size: str) -> None:
    with pytest.raises(DecisionError) as error:
        d.check_interconnect(
            "rdma",
            sku(vm_size),
            ["Standard_ND96isr_H100_v5", "Standard_ND96asr_v4"],
            "pools[0].interconnect",
        )
    assert error.value.path == "pools[0].interconnect"
    assert str(error.value) == (
        "pools[0].interconnect: interconnect rdma needs an InfiniBand-capable Azure VM size; "
        f"{vm_size} has no InfiniBand; InfiniBand sizes: Standard_ND96asr_v4, "
        "Standard_ND96isr_H100_v5; use one of them or interconnect: none"
    )


# -- addresses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vnet", "nodes", "endpoints"),
    [
        ("10.64.0.0/16", "10.64.0.0/17", "10.64.128.0/24"),
        ("10.81.0.0/19", "10.81.0.0/20", "10.81.16.0/24"),
        ("10.1.0.0/23", "10.1.0.0/24", "10.1.1.0/24"),
        ("10.1.0.0/24", "10.1.0.0/25", "10.1.0.128/25"),
    ],
)
def test_subnet_layout(vnet: str, nodes: str, endpoints: str) -> None:
    assert d.subnet_layout(vnet) == d.SubnetLayout(nodes, endpoints)


def test_subnet_layout_refuses_a_vnet_smaller_than_24() -> None:
    with pytest.raises(DecisionError) as error:
        d.subnet_layout("10.1.0.0/25")
    assert str(error.value) == (
        "network.overrides: VNet 10.1.0.0/25 is too small for AKS; give the region a /24 or larger"
    )


@pytest.mark.parametrize(
    ("avoid", "cidr", "dns"),
    [
        (["10.64.0.0/10", "10.81.0.0/19", "10.81.32.0/19"], "10.0.0.0/16", "10.0.0.10"),
        (["10.0.0.0/8"], "172.16.0.0/16", "172.16.0.10"),
        (["10.0.0.0/8", "172.16.0.0/12"], "192.168.0.0/16", "192.168.0.10"),
        (["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"], "100.64.0.0/16", "100.64.0.10"),
    ],
)
def test_service_network_avoids_the_fleet(avoid: list[str], cidr: str, dns: str) -> None:
    assert d.service_network(avoid) == d.ServiceNetwork(cidr, dns)


def test_service_network_says_when_nothing_is_free() -> None:
    with pytest.raises(DecisionError) as error:
        d.service_network(["0.0.0.0/0"])
    assert str(error.value) == (
        "network.supernet: no Kubernetes service range is free: every candidate ("
        + ", ".join(d.SERVICE_CIDR_CANDIDATES)
        + ") overlaps the fleet's address space; move the supernet"
    )


def test_pod_cidr_checks_presence_and_overlap() -> None:
    assert d.pod_cidr("eastus", "10.1.0.0/19", "10.1.32.0/19", ["10.2.0.0/16"]) == "10.1.32.0/19"
    with pytest.raises(DecisionError) as error:
        d.pod_cidr("eastus", "10.1.0.0/19", None)
    assert str(error.value) == (
        "network.overrides.azure/eastus: the plan gives azure/eastus no pod CIDR; AKS overlay needs one"
    )
    with pytest.raises(DecisionError) as error:
        d.pod_cidr("eastus", "10.1.0.0/19", "10.1.0.0/16")
    assert str(error.value) == (
        "network.overrides.azure/eastus: pod CIDR 10.1.0.0/16 of azure/eastus overlaps 10.1.0.0/19"
    )


# -- storage -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("swedencentral", "Standard_ZRS"),
        ("eastus", "Standard_ZRS"),
        ("germanywestcentral", "Standard_ZRS"),
        ("northcentralus", "Standard_LRS"),
        ("westus", "Standard_LRS"),
    ],
)
def test_storage_sku_is_zone_redundant_where_zones_exist(region: str, expected: str) -> None:
    assert d.storage_sku(region) == expected
