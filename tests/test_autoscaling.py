"""Issue 26, autoscaling on EKS: an `autoscale:` pool grows and shrinks because the Cluster
Autoscaler is installed on the system node group, reaches exactly the cluster's Auto Scaling
groups with least privilege through EKS Pod Identity, and knows a group at zero nodes by its
node-template tags (proven from the recorded resources)."""

from __future__ import annotations

import json
from typing import Any

from components.aws.autoscaler import (
    GPU_NODE_LABEL,
    NAMESPACE,
    SERVICE_ACCOUNT,
    TEMPLATE,
    node_template_tags,
)
from components.k8s import charts
from components.k8s.values import Taint
from gpufleet.preview import RecordedResource, Recording, record_program
from tests.conftest import fleet_of, record_stage_two

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
RELEASE = "kubernetes:helm.sh/v3:Release"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
TAG = "aws:autoscaling/tag:Tag"


def _stage_two() -> Recording:
    return record_stage_two("prod-eu")


def _groups(recording: Recording) -> list[RecordedResource]:
    return recording.by_type(NODE_GROUP)


def _asg(group: RecordedResource) -> str:
    """The mock's Auto Scaling group name for a node group (gpufleet/clouds/aws.py mock_state)."""
    return f"eks-{group.inputs['nodeGroupName']}-mock"


def test_an_autoscaled_eks_pool_gets_a_cluster_autoscaler_that_reaches_its_groups() -> None:
    recording = _stage_two()
    (cluster,) = recording.by_type("aws:eks/cluster:Cluster")
    name = cluster.inputs["name"]
    scaled = [g for g in _groups(recording) if g.inputs["scalingConfig"]["minSize"] < g.inputs["scalingConfig"]["maxSize"]]
    assert {g.inputs["labels"].get("gpufleet.io/pool") for g in scaled} >= {"train", "serve"}
    (release,) = [r for r in recording.by_type(RELEASE) if r.inputs["chart"] == charts.CLUSTER_AUTOSCALER.name]
    values = release.inputs["values"]
    assert release.inputs["version"] == charts.CLUSTER_AUTOSCALER.version
    assert values["cloudProvider"] == "aws"
    assert values["autoDiscovery"] == {"clusterName": name}
    assert values["awsRegion"] == cluster.region
    assert values["rbac"]["serviceAccount"]["name"] == SERVICE_ACCOUNT
    assert values["nodeSelector"] == {"gpufleet.io/role": "system"}  # the system node group's label
    system = [g for g in _groups(recording) if g.inputs["nodeGroupName"] == "system"]
    assert system[0].inputs["labels"] == values["nodeSelector"]
    (association,) = recording.by_type(ASSOCIATION)
    assert association.inputs["clusterName"] == name
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (NAMESPACE, SERVICE_ACCOUNT)


def _policy(recording: Recording) -> dict[str, Any]:
    (role,) = [r for r in recording.by_type("aws:iam/role:Role") if r.name.endswith("-autoscaler")]
    (policy,) = [p for p in recording.by_type("aws:iam/rolePolicy:RolePolicy") if p.name.endswith("-autoscaler")]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"] == SERVICE_ACCOUNT
    return json.loads(policy.inputs["policy"])


def test_the_autoscaler_may_scale_only_this_clusters_groups() -> None:
    recording = _stage_two()
    statements = {s["Sid"]: s for s in _policy(recording)["Statement"]}
    scaling = statements["ScaleThisClustersGroups"]
    assert set(scaling["Action"]) == {"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"}
    assert sorted(a.rsplit("/", 1)[-1] for a in scaling["Resource"]) == sorted(_asg(g) for g in _groups(recording))
    assert statements["ReadThisClustersNodeGroups"]["Resource"] == [
        "arn:aws:eks:eu-north-1:123456789012:nodegroup/llm-train-prod-eu-eu-north-1/*/*"]
    assert all("Describe" in a or a.startswith("ec2:Get") for a in statements["Describe"]["Action"])


def test_a_group_that_may_sit_at_zero_carries_its_labels_taints_and_efa_as_asg_tags() -> None:
    recording = _stage_two()
    tags: dict[str, dict[str, str]] = {}
    for tag in recording.by_type(TAG):
        assert tag.inputs["tag"]["propagateAtLaunch"] is False
        tags.setdefault(tag.inputs["autoscalingGroupName"], {})[tag.inputs["tag"]["key"]] = tag.inputs["tag"]["value"]
    for group in _groups(recording):
        found = tags.get(_asg(group), {})
        if group.inputs["scalingConfig"]["minSize"] > 0:
            assert found == {}, group.name  # a real node is the template
            continue
        expected = node_template_tags(
            group.inputs["labels"], [Taint(t["key"], t["value"], "NoSchedule") for t in group.inputs["taints"]],
            {"vpc.amazonaws.com/efa": 32},
        )
        assert found == expected
        assert found[f"{TEMPLATE}/label/{GPU_NODE_LABEL}"] == "nvidia-h100"
        assert found[f"{TEMPLATE}/taint/nvidia.com/gpu"] == "true:NoSchedule"


def test_a_fleet_without_autoscale_still_scales_its_system_node_group_and_tags_nothing() -> None:
    """The system node group scales between 2 and 4 nodes (as AKS's built-in autoscaler scales
    its system pool): every EKS cluster gets the autoscaler; fixed-size GPU groups carry no
    node-template tags (they never sit at zero)."""
    fleet = fleet_of("dev")
    fleet["pools"] = [{k: v for k, v in p.items() if k != "autoscale"} for p in fleet["pools"]]
    recording = record_program("dev", {"gpufleet:fleet": fleet, "gpufleet:clusterSoftware": "true"})
    assert len(recording.by_type(ASSOCIATION)) == 1
    assert not recording.by_type(TAG)
    assert [r for r in recording.by_type(RELEASE) if r.inputs["chart"] == charts.CLUSTER_AUTOSCALER.name]
