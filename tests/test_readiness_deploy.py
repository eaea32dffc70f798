"""Issue 26, deploy-readiness: the policy (and `gpufleet check --resources`) refuses in any
program's resources what the components now get right; each case removes or undoes one fix
from a recording that passes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from gpufleet.policy import stack_of
from gpufleet.policy.readiness import readiness_findings
from gpufleet.preview import RecordedResource, Recording
from tests.conftest import record_stage_two
from tests.test_interconnect import recorded

Edit = Callable[[RecordedResource], RecordedResource | None]


def _findings(recording: Recording, edit: Edit | None = None) -> list[str]:
    resources = recording.resources
    if edit is not None:
        resources = [e for r in resources if (e := edit(r)) is not None]
    return [m for _, m in readiness_findings(stack_of(resources))]


def _drop(*tokens: str, where: Callable[[RecordedResource], bool] = lambda r: True) -> Edit:
    return lambda r: None if r.type in tokens and where(r) else r


def _inputs(token: str, change: Callable[[dict[str, Any]], None], where: Callable[[RecordedResource], bool] = lambda r: True) -> Edit:
    def edit(r: RecordedResource) -> RecordedResource:
        if r.type != token or not where(r):
            return r
        inputs = _deep(dict(r.inputs))
        change(inputs)
        return dataclasses.replace(r, inputs=inputs)
    return edit


def _deep(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep(v) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, list):
        return [_deep(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
    return value


RELEASE = "kubernetes:helm.sh/v3:Release"


def _chart(name: str) -> Callable[[RecordedResource], bool]:
    return lambda r: r.inputs.get("chart") == name


def _nfd_master_on_gpu(inputs: dict[str, Any]) -> None:
    inputs["values"]["nfd"]["master"] = {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}]}


def _rules_on(inputs: dict[str, Any]) -> None:
    inputs["values"]["nfd"].pop("deployNodeFeatureRules")


def _no_env(inputs: dict[str, Any]) -> None:
    inputs["spec"]["ofedDriver"].pop("env")


CLUSTER_CASES: list[tuple[str, Edit, str | None]] = [
    ("no autoscaler", _drop(RELEASE, "aws:eks/podIdentityAssociation:PodIdentityAssociation",
                            where=lambda r: r.type != RELEASE or r.inputs["chart"] == "cluster-autoscaler"),
     "nothing scales it"),
    ("nfd master on gpu", _inputs(RELEASE, _nfd_master_on_gpu, _chart("nvidia-device-plugin")),
     "nfd.master is not pinned to a system pool"),
    ("no peermem", _drop("kubernetes:apps/v1:DaemonSet"), "nothing in its cluster loads nvidia-peermem"),
    ("no ofed env", _inputs("kubernetes:mellanox.com/v1alpha1:NicClusterPolicy", _no_env), "OFED_BLACKLIST_MODULES_FILE"),
    ("feature rules without crd", lambda r: dataclasses.replace(r, dependencies=()) if r.type == RELEASE else r,
     None),
    ("rules on, no order", lambda r: _inputs(RELEASE, _rules_on, _chart("network-operator"))(
        dataclasses.replace(r, dependencies=()) if r.type == RELEASE else r), "renders a NodeFeatureRule"),
    ("no upgrade windows", _drop("azure-native:containerservice:MaintenanceConfiguration"),
     "maintenance configuration"),
    ("no deployer admin", _drop("azure-native:authorization:RoleAssignment", where=lambda r: r.name.endswith("deployer-admin")),
     "RBAC Cluster Admin"),
]


def test_the_prod_eu_second_stage_passes() -> None:
    assert _findings(record_stage_two("prod-eu")) == []


@pytest.mark.parametrize(("case", "edit", "message"), CLUSTER_CASES, ids=[c[0] for c in CLUSTER_CASES])
def test_readiness_refuses_what_deploys_but_runs_wrong(case: str, edit: Edit, message: str | None) -> None:
    found = _findings(record_stage_two("prod-eu"), edit)
    if message is None:  # rules off: no ordering needed
        assert found == []
        return
    assert found, case
    assert all(message in m for m in found), found


def _zonal(inputs: dict[str, Any]) -> None:
    inputs["sku"] = {"name": "VpnGw1AZ", "tier": "VpnGw1AZ"}


def _ip_zones(inputs: dict[str, Any]) -> None:
    inputs["zones"] = ["1", "2", "3"]


def _no_probe_rule(inputs: dict[str, Any]) -> None:
    inputs["securityRules"] = [r for r in inputs["securityRules"] if r["name"] != "allow-azure-load-balancer-inbound"]


def _westus(r: RecordedResource) -> bool:
    return r.inputs.get("location") == "westus"


@pytest.mark.parametrize(("edit", "message"), [
    (_inputs("azure-native:network:VirtualNetworkGateway", _zonal, _westus), "has no availability zones"),
    (_inputs("azure-native:network:PublicIPAddress", _ip_zones, _westus), "leave zones unset"),
    (_inputs("azure-native:network:NetworkSecurityGroup", _no_probe_rule), "health probes"),
])
def test_readiness_refuses_zonal_resources_without_zones_and_blocked_probes(edit: Edit, message: str) -> None:
    recording = recorded(("us-west-2",), ("westus", "eastus"))
    assert _findings(recording) == []
    found = _findings(recording, edit)
    assert found
    assert all(message in m for m in found), found
