"""GPU-ready clusters (issue 15): API access, the stage boundary, a Kubernetes provider per
cluster and the in-cluster GPU layer, proven under mocks."""

from __future__ import annotations

import json
import re
import stat
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.azure.decisions import LABEL_POOL, SYSTEM_TAINT, kubelogin_azurecli
from components.k8s import charts
from components.k8s.values import POOL_LABEL, GpuPoolTarget, SystemPlacement, Taint, releases
from gpufleet.cli import main
from gpufleet.offline import OfflinePlan, SpecSource, run_plan
from gpufleet.policy.security import security_problems
from gpufleet.policy.tags import unverified_problem
from gpufleet.preview import RecordedResource
from tests.conftest import fleet_of, planned_stack

RELEASE = "kubernetes:helm.sh/v3:Release"
PROVIDER = "pulumi:providers:kubernetes"
NIC_POLICY = "kubernetes:mellanox.com/v1alpha1:NicClusterPolicy"
GPU = Taint("nvidia.com/gpu", "true", "NoSchedule")
SPOT = Taint("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule")


def mixed_fleet() -> dict[str, Any]:
    """prod-eu plus a MIG pool and a spot pool on Azure: rdma on both clouds, spot on both,
    MIG and plain pools in one AKS cluster."""
    fleet = fleet_of("prod-eu")
    fleet["prices"] = {**fleet["prices"], "azure/swedencentral/Standard_ND96isr_H100_v5:spot": 40.0}
    fleet["quotas"]["azure"]["swedencentral"] = {"standardNDSH100v5Family": 1920, "lowPriorityCores": 960}
    fleet["budget"] = {"monthly_usd": 5_000_000}
    fleet["pools"] = [*fleet["pools"],
        {"name": "slices", "accelerator": "H100", "gpus": 8, "gpus_per_node": 8, "mig": "MIG1g",
         "max_share": {"aws": 0.0}},
        {"name": "batch", "accelerator": "H100", "gpus": 8, "gpus_per_node": 8, "capacity": "spot",
         "max_share": {"aws": 0.0}},
    ]
    return fleet


def _write(tmp: Path, fleet: dict[str, Any], name: str = "Pulumi.test.yaml") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": fleet}}))
    return path


@cache
def _planned(kind: str) -> OfflinePlan:
    import tempfile

    folder = Path(tempfile.mkdtemp())
    if kind == "mixed":
        return run_plan(SpecSource(spec=_write(folder, mixed_fleet()), cluster_software=True))
    return planned_stack(kind, stage_two=True)


def _values(resource: RecordedResource) -> dict[str, Any]:
    return dict(resource.inputs["values"])


def _affinity_pools(affinity: dict[str, Any]) -> set[str]:
    terms = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert len(terms) == 1
    assert len(terms[0]["matchExpressions"]) == 1
    expression = terms[0]["matchExpressions"][0]
    assert expression["key"] == POOL_LABEL
    assert expression["operator"] == "In"
    return set(expression["values"])


def _pool_taints(plan: OfflinePlan) -> dict[tuple[str, str], set[Taint]]:
    """(region, pool) -> the taints its node groups / agent pools were declared with."""
    effects = {"NO_SCHEDULE": "NoSchedule"}
    found: dict[tuple[str, str], set[Taint]] = {}
    for r in plan.recording.resources:
        if r.type == "aws:eks/nodeGroup:NodeGroup" and r.inputs.get("nodeGroupName") != "system":
            pool = r.inputs["labels"]["gpufleet.io/pool"]
            taints = {Taint(t["key"], t["value"], effects[t["effect"]]) for t in r.inputs["taints"]}
        elif r.type == "azure-native:containerservice:AgentPool":
            pool = r.inputs["nodeLabels"][LABEL_POOL]
            taints = {Taint.parse(t) for t in r.inputs["nodeTaints"]}
        else:
            continue
        found.setdefault((str(r.region), pool), set()).update(taints)
    return found


@pytest.mark.parametrize("kind", ["dev", "prod-eu", "mixed"])
def test_every_gpu_pool_gets_the_device_plugin_tolerating_exactly_its_taints(kind: str) -> None:
    plan = _planned(kind)
    pools = _pool_taints(plan)
    plugins = [r for r in plan.recording.by_type(RELEASE) if r.inputs["chart"] == charts.DEVICE_PLUGIN.name]
    for (region, pool), taints in pools.items():
        serving = [r for r in plugins if r.region == region and pool in _affinity_pools(_values(r)["affinity"])]
        assert len(serving) == 1, (region, pool)
        tolerated = {Taint(t["key"], t["value"], t["effect"]) for t in _values(serving[0])["tolerations"]}
        assert taints <= tolerated
        assert all(t["operator"] == "Equal" for t in _values(serving[0])["tolerations"])
    for release in plugins:  # exactly: nothing tolerated that none of its pools carries
        region = str(release.region)
        targeted = _affinity_pools(_values(release)["affinity"])
        carried = set().union(*(pools[(region, p)] for p in targeted))
        assert {Taint(t["key"], t["value"], t["effect"]) for t in _values(release)["tolerations"]} == carried
        assert _values(release)["gfd"] == {"enabled": True}


# Where each chart's workloads are set: DaemonSets (per GPU node) and helper Deployments, by the
# path of their values (chart values.yaml at the pins of components/k8s/charts.py).
DAEMON_SETS: dict[str, list[tuple[str, ...]]] = {
    charts.DEVICE_PLUGIN.name: [(), ("nfd", "worker")], charts.DCGM_EXPORTER.name: [()],
}
HELPERS: dict[str, list[tuple[str, ...]]] = {
    charts.DEVICE_PLUGIN.name: [("nfd", "master"), ("nfd", "gc")], charts.NETWORK_OPERATOR.name: [("operator",)],
    charts.CLUSTER_AUTOSCALER.name: [()],
}
SYSTEM = {"aws": ({"gpufleet.io/role": "system"}, []),
          "azure": ({"kubernetes.azure.com/mode": "system"}, [Taint.parse(SYSTEM_TAINT).toleration()])}


def _at(values: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    """The values at `path`, or None where that workload is off (`nfd.enabled: false`)."""
    for key in path:
        values = values.get(key) or {}
    return values if values.get("enabled", True) and values else None


@pytest.mark.parametrize("kind", ["dev", "prod-eu", "mixed"])
def test_only_daemon_sets_go_to_gpu_pools_and_every_chart_is_pinned(kind: str) -> None:
    """Issue 26: the NFD master and garbage collector, the Network Operator and the cluster
    autoscaler (Deployments) run on the system pool, tolerating its taints only; the
    DaemonSets select GPU pools only (a helper on a GPU pool kept a GPU VM alive)."""
    plan = _planned(kind)
    gpu_pools = {pool for _, pool in _pool_taints(plan)}
    clouds = {str(c.region): "aws" for c in plan.recording.by_type("aws:eks/cluster:Cluster")} | {
        str(c.region): "azure" for c in plan.recording.by_type("azure-native:containerservice:ManagedCluster")}
    helpers = 0
    for release in plan.recording.by_type(RELEASE):
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", release.inputs["version"]), release.name
        assert release.inputs["repositoryOpts"]["repo"].startswith("https://")
        values, chart = _values(release), release.inputs["chart"]
        for path in DAEMON_SETS.get(chart, []):
            if (daemon_set := _at(values, path)) is not None:
                assert _affinity_pools(daemon_set["affinity"]) <= gpu_pools
                assert "nodeSelector" not in daemon_set
        if chart == charts.EFA_DEVICE_PLUGIN.name:
            assert set(values["supportedInstanceLabels"]["values"]) <= gpu_pools
        selector, taints = SYSTEM[clouds[str(release.region)]]
        for path in HELPERS.get(chart, []):
            if (helper := _at(values, path)) is None:
                continue
            assert helper["nodeSelector"] == selector, (release.name, path)
            assert helper["tolerations"] == taints, (release.name, path)
            assert "affinity" not in helper
            helpers += 1
        assert chart in DAEMON_SETS or chart in HELPERS or chart == charts.EFA_DEVICE_PLUGIN.name
    assert helpers >= 2  # NFD master and gc in every cluster at least
    for agent in plan.recording.by_type("kubernetes:apps/v1:DaemonSet"):
        assert _affinity_pools(agent.inputs["spec"]["template"]["spec"]["affinity"]) <= gpu_pools


def test_dcgm_exporter_runs_on_every_gpu_pool() -> None:
    plan = _planned("mixed")
    pools = _pool_taints(plan)
    for region in {r for r, _ in pools}:
        dcgm = [r for r in plan.recording.by_type(RELEASE) if r.region == region and r.inputs["chart"] == "dcgm-exporter"]
        assert len(dcgm) == 1
        assert _affinity_pools(_values(dcgm[0])["affinity"]) == {p for r, p in pools if r == region}


def test_rdma_pools_get_efa_on_aws_and_the_infiniband_path_on_azure() -> None:
    plan = _planned("mixed")
    efa = [r for r in plan.recording.by_type(RELEASE) if r.inputs["chart"] == charts.EFA_DEVICE_PLUGIN.name]
    assert [(r.region, _values(r)["supportedInstanceLabels"]) for r in efa] == [
        ("eu-north-1", {"keys": [POOL_LABEL], "values": ["train"]})
    ]
    operator = [r for r in plan.recording.by_type(RELEASE) if r.inputs["chart"] == charts.NETWORK_OPERATOR.name]
    assert [r.region for r in operator] == ["swedencentral"]
    assert _values(operator[0])["operator"]["nodeSelector"] == {"kubernetes.azure.com/mode": "system"}
    assert _values(operator[0])["nfd"] == {"enabled": False, "deployNodeFeatureRules": False}
    (policy,) = plan.recording.by_type(NIC_POLICY)
    assert policy.region == "swedencentral"
    assert _affinity_pools({"nodeAffinity": policy.inputs["spec"]["nodeAffinity"]}) == {"train"}
    assert "shared_ib" in policy.inputs["spec"]["rdmaSharedDevicePlugin"]["config"]


def test_mig_pools_get_the_single_strategy_matching_their_gpu_instance_profile() -> None:
    plan = _planned("mixed")
    profiles = {r.inputs["nodeLabels"][LABEL_POOL]: r.inputs.get("gpuInstanceProfile")
                for r in plan.recording.by_type("azure-native:containerservice:AgentPool")}
    assert profiles["slices"] == "MIG1g"
    for release in plan.recording.by_type(RELEASE):
        values = _values(release)
        if release.inputs["chart"] != charts.DEVICE_PLUGIN.name or release.region != "swedencentral":
            continue
        for pool in _affinity_pools(values["affinity"]):
            assert values["migStrategy"] == ("single" if profiles[pool] else "none"), pool


@pytest.mark.parametrize("kind", ["dev", "prod-eu", "mixed"])
def test_one_provider_per_cluster_with_a_secret_kubeconfig(kind: str) -> None:
    plan = _planned(kind)
    clusters = plan.recording.by_type("aws:eks/cluster:Cluster") + plan.recording.by_type(
        "azure-native:containerservice:ManagedCluster")
    providers = plan.recording.by_type(PROVIDER)
    assert sorted(str(p.region) for p in providers) == sorted(str(c.region) for c in clusters)
    for provider in providers:
        assert "kubeconfig" in provider.secret_inputs
        assert provider.to_json()["inputs"]["kubeconfig"] == "[secret]"
    by_urn = {p.urn: p for p in providers}
    for resource in plan.recording.resources:
        if resource.cloud == "k8s" and not resource.is_provider:
            assert by_urn[resource.provider].region == resource.region
    assert all(k in plan.recording.secret_outputs for k in plan.recording.outputs if k.endswith("/kubeconfig"))
    shown = json.dumps(plan.document["resources"])
    assert "certificate-authority-data" not in shown
    assert "get-token" not in shown


def test_kubernetes_resources_pass_sovereignty_and_tags_where_their_cluster_lives() -> None:
    plan = _planned("mixed")
    located = [v for v in plan.verdicts if v.policy == "sovereignty-allowed-regions"]
    assert located
    assert all(v.passed for v in located)
    tags = next(v for v in plan.verdicts if v.policy == "required-tags")
    assert tags.passed
    assert plan.exit_code == 0
    assert unverified_problem(RELEASE, {}) is None  # untaggable by type, not by package
    assert unverified_problem("kubernetes:core/v1:ConfigMap", {}) is not None


def test_private_access_declares_no_in_cluster_resource_in_the_first_stage(tmp_path: Path) -> None:
    first = planned_stack("dev")
    assert not [r for r in first.recording.resources if r.cloud == "k8s"]
    assert first.document["access"] == {"mode": "private", "cidrs": [], "cluster_software": False}
    fleet = {**fleet_of("dev"), "access": {"mode": "allowlist", "cidrs": ["52.1.0.0/16"]}}
    same_run = run_plan(SpecSource(spec=_write(tmp_path, fleet)))
    assert same_run.plan.cluster_software
    assert same_run.recording.by_type(RELEASE)
    (eks,) = same_run.recording.by_type("aws:eks/cluster:Cluster")
    assert eks.inputs["vpcConfig"]["endpointPrivateAccess"] is True
    assert eks.inputs["vpcConfig"]["endpointPublicAccess"] is True
    assert eks.inputs["vpcConfig"]["publicAccessCidrs"] == ["52.1.0.0/16"]
    (aks,) = same_run.recording.by_type("azure-native:containerservice:ManagedCluster")
    assert aks.inputs["apiServerAccessProfile"] == {
        "enablePrivateCluster": False, "authorizedIPRanges": ["52.1.0.0/16"]}
    assert same_run.exit_code == 0


def test_gpufleet_diff_shows_the_second_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = tmp_path / "first.json"
    second = tmp_path / "second.json"
    assert main(["plan", "--stack", "dev", "--format", "json", "--out", str(first)]) == 0
    assert main(["plan", "--stack", "dev", "--cluster-software", "--format", "json", "--out", str(second)]) == 0
    capsys.readouterr()
    main(["diff", str(first), str(second), "--format", "json"])
    added = [c for c in json.loads(capsys.readouterr().out)["resources"] if c["action"] == "add"]
    assert {c["type"] for c in added} >= {RELEASE, PROVIDER}


@pytest.mark.parametrize(("access", "path"), [
    ({"mode": "allowlist", "cidrs": ["0.0.0.0/0"]}, "access.cidrs[0]"),
    ({"mode": "allowlist"}, "access.cidrs"),
    ({"mode": "allowlist", "cidrs": []}, "access.cidrs"),
    ({"mode": "private", "cidrs": ["52.1.0.0/16"]}, "access.cidrs"),
    ({"mode": "allowlist", "cidrs": ["10.0.0.0/8"]}, "access.cidrs[0]"),
    ({"mode": "allowlist", "cidrs": ["52.1.0.1/16"]}, "access.cidrs[0]"),
])
def test_a_bad_allowlist_is_a_spec_error_naming_access_cidrs(
    access: dict[str, Any], path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _write(tmp_path, {**fleet_of("dev"), "access": access})
    assert main(["plan", "--spec", str(spec)]) == 2
    assert f"{path}:" in capsys.readouterr().err


@pytest.mark.parametrize(("vpc", "expected"), [
    ({"endpointPublicAccess": True, "endpointPrivateAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]},
     "vpcConfig.publicAccessCidrs includes 0.0.0.0/0"),
    ({"endpointPublicAccess": True, "endpointPrivateAccess": True}, "vpcConfig.publicAccessCidrs is unset"),
    ({"endpointPublicAccess": True, "endpointPrivateAccess": True, "publicAccessCidrs": []},
     "vpcConfig.publicAccessCidrs is []"),
])
def test_security_baseline_refuses_an_open_public_endpoint(
    vpc: dict[str, Any], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = {
        "type": "aws:eks/cluster:Cluster", "name": "c", "region": "us-east-1",
        "inputs": {"vpcConfig": vpc, "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "k"}},
                   "enabledClusterLogTypes": ["api", "audit", "authenticator"]},
    }
    resources = tmp_path / "resources.json"
    resources.write_text(json.dumps([cluster]))
    spec = _write(tmp_path, fleet_of("dev"))
    assert main(["check", "--resources", str(resources), "--spec", str(spec), "--format", "json"]) == 1
    out = capsys.readouterr().out
    assert expected in out
    assert "access.cidrs" in out
    aks = {"apiServerAccessProfile": {"enablePrivateCluster": False, "authorizedIPRanges": ["0.0.0.0/0"]}}
    assert any("authorizedIPRanges includes 0.0.0.0/0" in p for p in security_problems(
        "azure-native:containerservice:ManagedCluster", aks))


def test_helm_releases_must_pin_an_exact_version() -> None:
    assert security_problems(RELEASE, {"version": "0.17.1", "repositoryOpts": {"repo": "https://x"}}) == []
    assert security_problems(RELEASE, {"version": "^0.17", "repositoryOpts": {"repo": "https://x"}})
    assert security_problems(RELEASE, {"repositoryOpts": {"repo": "https://x"}})
    assert security_problems(RELEASE, {"version": "1.0.0", "repositoryOpts": {"repo": "http://x"}})


def test_layer_plans_nothing_without_gpu_pools_and_merges_pools() -> None:
    system = SystemPlacement({"gpufleet.io/role": "system"})
    assert releases([], system) == []
    plans = releases([
        GpuPoolTarget("a", (GPU,)), GpuPoolTarget("a", (GPU, SPOT)), GpuPoolTarget("m", (GPU,), "single"),
    ], system)
    assert [p.key for p in plans] == ["nvdp", "nvdp-mig-single", "dcgm"]
    assert plans[0].values["nfd"]["enabled"] is True
    assert plans[1].values["nfd"] == {"enabled": False}
    assert Taint.parse("kubernetes.azure.com/scalesetpriority=spot:NoSchedule") == SPOT
    assert POOL_LABEL == LABEL_POOL


def test_kubelogin_conversion_keeps_the_server_id() -> None:
    source = yaml.safe_dump({"users": [{"name": "u", "user": {"exec": {
        "command": "kubelogin", "args": ["get-token", "--server-id", "S", "--login", "devicecode"]}}}]})
    converted = yaml.safe_load(kubelogin_azurecli(source))
    assert converted["users"][0]["user"]["exec"]["args"] == ["get-token", "--login", "azurecli", "--server-id", "S"]


def test_kubeconfig_offline_has_one_context_per_cluster_and_no_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kubeconfig", "--stack", "prod-eu"]) == 0
    out = capsys.readouterr().out
    config = yaml.safe_load(out)
    names = [c["name"] for c in config["contexts"]]
    assert names == ["llm-train-aws-eu-north-1", "llm-train-azure-swedencentral"]
    assert "certificate-authority-data" not in out
    commands = sorted(u["user"]["exec"]["command"] for u in config["users"])
    assert commands == ["aws", "kubelogin"]
    assert "#   - llm-train-azure-swedencentral" in out  # the SkyPilot allowed_contexts


def test_kubeconfig_from_stack_outputs_writes_a_private_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = _planned("dev").recording.outputs
    given = tmp_path / "outputs.json"
    given.write_text(json.dumps(outputs))
    out = tmp_path / "kubeconfig"
    assert main(["kubeconfig", "--stack", "dev", "--outputs", str(given), "--out", str(out)]) == 0
    sky = yaml.safe_load(capsys.readouterr().out)
    config = yaml.safe_load(out.read_text())
    assert sky == {"kubernetes": {"allowed_contexts": [c["name"] for c in config["contexts"]]}}
    assert len(config["contexts"]) == 2
    assert all(c["cluster"]["server"] for c in config["clusters"])
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    given.write_text(json.dumps(dict.fromkeys(outputs, "[secret]")))
    assert main(["kubeconfig", "--stack", "dev", "--outputs", str(given)]) == 2
    assert "--show-secrets" in capsys.readouterr().err
