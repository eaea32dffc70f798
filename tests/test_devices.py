"""What each accelerator family needs in a cluster (components/k8s/devices.py): the arm64 and
Neuron AMIs, the family's taint, its device plugin on exactly its pools, EFA per instance type,
NVIDIA's DRA driver for ComputeDomains on GB200 racks; and what a cloud cannot run, refused."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k8s import charts
from components.k8s.devices import DEVICE_STACKS
from components.k8s.values import GpuPoolTarget, SystemPlacement, Taint, releases
from gpufleet.clouds.catalog import load_catalog
from gpufleet.errors import SpecError
from gpufleet.offline import OfflinePlan, SpecSource, run_plan
from gpufleet.pipeline import build_plan
from gpufleet.preview import RecordedResource
from gpufleet.spec import load_fleet

RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NEURON = Taint("aws.amazon.com/neuron", "true", "NoSchedule")
AMD = Taint("amd.com/gpu", "true", "NoSchedule")
GPU = Taint("nvidia.com/gpu", "true", "NoSchedule")


def frontier_fleet() -> dict[str, Any]:
    """GB200 racks on a capacity block, Trainium with EFA, Inferentia2 serving: one EKS cluster."""
    return {
        "name": "frontier",
        "network": {"supernet": "10.64.0.0/10"},
        "clouds": {"aws": {"regions": ["us-east-1"]}},
        "prices": {"aws/us-east-1/p6e-gb200.36xlarge": 120.0},
        "pools": [
            {"name": "racks", "accelerator": "GB200", "gpus": 72, "capacity": "reserved",
             "capacity_reservation_id": "cr-0123456789abcdef0"},
            {"name": "trn", "accelerator": "Trainium", "gpus": 32, "gpus_per_node": 16, "interconnect": "rdma"},
            {"name": "serve", "accelerator": "Inferentia2", "gpus": 12, "gpus_per_node": 12},
        ],
    }


@cache
def planned() -> OfflinePlan:
    import tempfile

    path = Path(tempfile.mkdtemp()) / "Pulumi.frontier.yaml"
    path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": frontier_fleet()}}))
    return run_plan(SpecSource(spec=path, cluster_software=True))


def _groups() -> dict[str, RecordedResource]:
    return {r.inputs["labels"]["gpufleet.io/pool"]: r for r in planned().recording.by_type(NODE_GROUP)
            if "gpufleet.io/pool" in r.inputs.get("labels", {})}


def _releases() -> dict[str, RecordedResource]:
    return {r.inputs["name"]: r for r in planned().recording.by_type(RELEASE)}


def test_every_family_of_the_catalog_has_a_device_stack() -> None:
    assert set(load_catalog().families.values()) <= set(DEVICE_STACKS)


def test_the_plan_passes_every_policy() -> None:
    assert planned().exit_code == 0


@pytest.mark.parametrize(
    ("pool", "ami", "taint"),
    [("racks", "AL2023_ARM_64_NVIDIA", GPU), ("trn", "AL2023_x86_64_NEURON", NEURON),
     ("serve", "AL2023_x86_64_NEURON", NEURON)],
)
def test_node_groups_take_the_familys_ami_and_taint(pool: str, ami: str, taint: Taint) -> None:
    group = _groups()[pool]
    assert group.inputs["amiType"] == ami
    assert [(t["key"], t["value"]) for t in group.inputs["taints"]] == [(taint.key, taint.value)]
    # The autoscaler reads its GPU label as "wait for nvidia.com/gpu": NVIDIA pools only.
    assert ("k8s.amazonaws.com/accelerator" in group.inputs["labels"]) == (taint == GPU)


def test_the_gb200_racks_run_on_the_capacity_block() -> None:
    assert _groups()["racks"].inputs["capacityType"] == "CAPACITY_BLOCK"


def test_each_family_gets_its_plugin_on_exactly_its_pools() -> None:
    found = _releases()
    assert set(found) == {"nvidia-device-plugin", "dcgm-exporter", "nvidia-dra-driver-gpu",
                          "neuron-device-plugin", "aws-efa-k8s-device-plugin", "cluster-autoscaler"}
    neuron = found["neuron-device-plugin"].inputs
    assert (neuron["chart"], neuron["version"]) == (charts.NEURON.repo, charts.NEURON.version)
    assert "repositoryOpts" not in neuron  # an OCI chart is named by its reference
    assert neuron["values"]["neuronInstances"] == ["inf2.48xlarge", "trn1.32xlarge"]
    assert neuron["values"]["devicePlugin"]["tolerations"] == [NEURON.toleration()]
    nvidia = found["nvidia-device-plugin"].inputs["values"]
    pools = nvidia["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert pools["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["racks"]
    assert found["aws-efa-k8s-device-plugin"].inputs["values"]["supportedInstanceLabels"]["values"] == ["trn"]


def test_gb200_racks_get_compute_domains_through_the_dra_driver() -> None:
    dra = _releases()["nvidia-dra-driver-gpu"].inputs
    assert (dra["chart"], dra["version"], dra["repositoryOpts"]["repo"]) == (
        "nvidia-dra-driver-gpu", "25.12.0", "https://helm.ngc.nvidia.com/nvidia")
    values = dra["values"]
    assert values["resources"] == {"gpus": {"enabled": False}, "computeDomains": {"enabled": True}}
    controller = values["controller"]  # no control-plane node on EKS: any untainted Linux node
    assert controller["tolerations"] == []
    terms = controller["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]
    assert values["kubeletPlugin"]["tolerations"] == [GPU.toleration()]


def test_efa_interfaces_follow_the_instance_type() -> None:
    templates = [r for r in planned().recording.by_type("aws:ec2/launchTemplate:LaunchTemplate")
                 if r.inputs.get("networkInterfaces")]
    (trn,) = templates
    assert len(trn.inputs["networkInterfaces"]) == 8  # trn1.32xlarge: 8 EFA


def test_amd_pools_get_a_release_each_on_their_pool_only() -> None:
    targets = [GpuPoolTarget(name, (AMD,), family="amd", instance_types=("Standard_ND96isr_MI300X_v5",))
               for name in ("infer", "tune")]
    found = {plan.release: plan for plan in releases(targets, SystemPlacement({"role": "system"}))}
    assert set(found) == {"amd-gpu-infer", "amd-gpu-tune"}
    assert found["amd-gpu-tune"].values["node_selector"] == {"gpufleet.io/pool": "tune"}
    assert found["amd-gpu-tune"].values["tolerations"] == [AMD.toleration()]
    assert (found["amd-gpu-tune"].chart, found["amd-gpu-tune"].pools) == (charts.AMD_GPU, ("tune",))


def _azure(pools: list[dict[str, Any]], **prices: float) -> dict[str, Any]:
    return {"name": "frontier", "network": {"supernet": "10.64.0.0/10"},
            "clouds": {"aws": {"regions": ["us-east-1"]}, "azure": {"regions": ["eastus"]}},
            "prices": {f"azure/eastus/{sku}": usd for sku, usd in prices.items()}, "pools": pools}


@pytest.mark.parametrize(
    ("accelerator", "sku", "why"),
    [("GB300", "Standard_ND128isr_GB300_v6", "AKS arm64 GPU agent pools are not confirmed"),
     ("MI300X", "Standard_ND96isr_MI300X_v5", "AKS installs no AMD GPU driver")],
)
def test_azure_refuses_what_aks_cannot_run(accelerator: str, sku: str, why: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_fleet(_azure([{"name": "train", "accelerator": accelerator, "gpus": 8}], **{sku: 100.0}))
    (problem,) = caught.value.problems
    assert problem.path == "pools[0].accelerator"
    assert problem.message.startswith(f"{sku} on Azure: {why}")


def test_refused_offers_are_skipped_with_the_reason_and_the_pool_falls_back() -> None:
    """GB200 on-demand: AWS sells it only as Capacity Blocks, AKS cannot run it; the pool
    accepts B200 too and is placed there, the skipped offers saying why."""
    spec = load_fleet(_azure([{"name": "train", "accelerator": ["GB200", "B200"], "gpus": 16}],
                             Standard_ND128isr_NDR_GB200_v6=50.0)
                      | {"prices": {"azure/eastus/Standard_ND128isr_NDR_GB200_v6": 50.0,
                                    "aws/us-east-1/p6e-gb200.36xlarge": 120.0}})
    plan = build_plan(spec, "test")
    assert {p.instance_type for p in plan.pools[0].placements} == {"p6-b200.48xlarge"}
    skipped = "\n".join(plan.skipped_offers)
    assert "azure/eastus/Standard_ND128isr_NDR_GB200_v6: AKS arm64 GPU agent pools are not confirmed" in skipped
    assert "aws/us-east-1/p6e-gb200.36xlarge: sold only as EC2 Capacity Blocks of u-p6e-gb200x36" in skipped


def test_gb200_on_demand_is_refused_naming_the_capacity_blocks() -> None:
    with pytest.raises(SpecError) as caught:
        load_fleet({**frontier_fleet(), "pools": [{"name": "racks", "accelerator": "GB200", "gpus": 72}]})
    (problem,) = caught.value.problems
    assert problem.path == "pools[0].capacity"
    assert problem.message.startswith(
        "p6e-gb200.36xlarge on AWS: sold only as EC2 Capacity Blocks of u-p6e-gb200x36 (9 instances) or "
        "u-p6e-gb200x72 (18 instances): use capacity: reserved")


def test_a_pool_mixing_device_stacks_is_refused() -> None:
    with pytest.raises(SpecError) as caught:
        load_fleet({**frontier_fleet(), "pools": [{"name": "mix", "accelerator": ["H100", "Trainium"], "gpus": 16}]})
    assert any(str(p).startswith("pools[0].accelerator: H100 (nvidia), Trainium (neuron) need different "
                                 "device stacks") for p in caught.value.problems)
