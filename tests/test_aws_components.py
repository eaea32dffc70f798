"""The AWS side of the whole program under mocks: what each region gets, how it is wired and
secured, and that names come from stable keys."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from components import GpuFleet
from components.aws import decisions
from gpufleet.clouds.aws import NAT_GATEWAYS_PER_REGION
from gpufleet.clouds.catalog import load_catalog
from gpufleet.errors import DecisionError
from gpufleet.placement import colocated_storage
from gpufleet.plan import (
    CostSummary,
    FleetPlan,
    NetworkPlan,
    Placement,
    PoolPlan,
    SolverReport,
)
from gpufleet.preview import RecordedResource, Recording, record_program
from gpufleet.spec import load_fleet
from tests.conftest import fleet_of, record_fleet

STACKS = ["prod-eu", "dev"]
Recorder = Callable[[str], Recording]

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
COMPONENTS = {
    "gpufleet:aws:Network",
    "gpufleet:aws:GpuCluster",
    "gpufleet:aws:GpuNodePool",
    "gpufleet:aws:DatasetBucket",
    "gpufleet:aws:AutoscalerAccess",
}


def plan_of(recording: Recording) -> FleetPlan:
    plan = recording.result
    assert isinstance(plan, FleetPlan)
    return plan


def type_of(urn: str) -> str:
    """The resource type of a URN (the last of its parent-qualified type chain)."""
    return urn.split("::")[2].rsplit("$", maxsplit=1)[-1]


def aws_resources(recording: Recording) -> list[RecordedResource]:
    return [r for r in recording.resources if r.cloud == "aws" or r.type in COMPONENTS]


def gpu_node_groups(recording: Recording) -> list[RecordedResource]:
    return [
        r for r in recording.by_type(NODE_GROUP) if type_of(r.parent) == "gpufleet:aws:GpuNodePool"
    ]


def sibling(
    recording: Recording, resource: RecordedResource, type_token: str
) -> list[RecordedResource]:
    return [r for r in recording.by_type(type_token) if r.parent == resource.parent]


def launch_template_of(recording: Recording, group: RecordedResource) -> RecordedResource:
    template_id = group.inputs["launchTemplate"]["id"]
    return next(t for t in recording.by_type(LAUNCH_TEMPLATE) if f"{t.name}-id" == template_id)


def expected_counts(plan: FleetPlan, region: str) -> Counter[str]:
    """What one region must hold, from the plan alone."""
    placements = plan.placements_in("aws", region)
    catalog = load_catalog()
    rdma = sum(
        1
        for p in placements
        if plan.spec.pool(p.pool).interconnect == "rdma"
        and (s := catalog.sku("aws", p.instance_type))
        and s.rdma
    )
    buckets = len(plan.storage_in("aws", region))
    nat = NAT_GATEWAYS_PER_REGION
    scaled = [plan.spec.pool(p.pool).autoscale for p in placements]
    autoscaler = 1  # the cluster autoscaler's role, policy, Pod Identity association
    # a group that may sit at zero: its 4 labels and 1 taint as ASG tags (and EFA with rdma)
    zero = [p for p, a in zip(placements, scaled, strict=True) if a is not None and a.min_nodes == 0]
    tags = sum(5 + (plan.spec.pool(p.pool).interconnect == "rdma") for p in zero)
    counts = Counter(
        {
            "pulumi:providers:aws": 1,
            "aws:ebs/encryptionByDefault:EncryptionByDefault": 1,
            "aws:ec2/vpc:Vpc": 1,
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": 1,
            "aws:ec2/internetGateway:InternetGateway": 1,
            "aws:ec2/subnet:Subnet": 4,  # a private and a public subnet in each of two zones
            "aws:ec2/routeTable:RouteTable": 3,  # one public, one private per zone
            "aws:ec2/route:Route": 3,
            "aws:ec2/routeTableAssociation:RouteTableAssociation": 4,
            "aws:ec2/eip:Eip": nat,
            "aws:ec2/natGateway:NatGateway": nat,
            "aws:ec2/vpcEndpoint:VpcEndpoint": 1,
            "aws:ec2/flowLog:FlowLog": 1,
            "aws:cloudwatch/logGroup:LogGroup": 2,  # flow logs, EKS control plane
            "aws:iam/role:Role": 3 + autoscaler,  # flow logs, cluster, nodes
            "aws:iam/rolePolicy:RolePolicy": 1 + autoscaler,
            "aws:eks/podIdentityAssociation:PodIdentityAssociation": autoscaler,
            "aws:autoscaling/tag:Tag": tags,
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 4,
            "aws:kms/key:Key": 2 + buckets,  # logs, secrets, one per bucket
            "aws:eks/cluster:Cluster": 1,
            "aws:eks/addon:Addon": 4,
            NODE_GROUP: 1 + len(placements),  # system + one per placement
            LAUNCH_TEMPLATE: 1 + len(placements),
            "aws:ec2/placementGroup:PlacementGroup": rdma,
            "aws:ec2/securityGroup:SecurityGroup": rdma,
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": rdma,
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": rdma,
        }
    )
    for s3 in (
        "bucket:Bucket",
        "bucketOwnershipControls:BucketOwnershipControls",
        "bucketPublicAccessBlock:BucketPublicAccessBlock",
        "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "bucketVersioning:BucketVersioning",
        "bucketPolicy:BucketPolicy",
        "bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    ):
        counts[f"aws:s3/{s3}"] = buckets
    return +counts


# -- whole sample stacks ----------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_each_region_gets_exactly_its_resources(recorded: Recorder, stack: str) -> None:
    recording = recorded(stack)
    plan = plan_of(recording)
    assert plan.regions("aws"), f"{stack} places nothing on AWS; the test would prove nothing"
    for region in plan.regions("aws"):
        found = Counter(
            r.type for r in recording.resources if r.cloud == "aws" and r.region == region
        )
        assert found == expected_counts(plan, region), region
    assert all(r.region in plan.regions("aws") for r in recording.resources if r.cloud == "aws")


@pytest.mark.parametrize("stack", STACKS)
def test_one_component_of_each_kind_per_region_placement_and_bucket(
    recorded: Recorder, stack: str
) -> None:
    recording = recorded(stack)
    plan = plan_of(recording)
    regions = len(plan.regions("aws"))
    found = Counter(r.type for r in recording.resources if r.type in COMPONENTS)
    assert found == Counter(
        {
            "gpufleet:aws:Network": regions,
            "gpufleet:aws:GpuCluster": regions,
            "gpufleet:aws:GpuNodePool": len([p for p in plan.placements if p.cloud == "aws"]),
            "gpufleet:aws:DatasetBucket": len([s for s in plan.storage if s.cloud == "aws"]),
            # the cluster autoscaler's access in every region (its system node group scales too)
            "gpufleet:aws:AutoscalerAccess": regions,
        }
    )


@pytest.mark.parametrize("stack", STACKS)
def test_every_placement_has_exactly_one_node_group_of_its_sku_region_and_size(
    recorded: Recorder, stack: str
) -> None:
    recording = recorded(stack)
    plan = plan_of(recording)
    groups = [
        (g.region, g.inputs["instanceTypes"][0], g.inputs["scalingConfig"]["maxSize"])
        for g in gpu_node_groups(recording)
    ]
    wanted = [(p.region, p.instance_type, p.nodes) for p in plan.placements if p.cloud == "aws"]
    assert sorted(groups) == sorted(wanted)
    assert Counter(groups) == Counter(wanted)


@pytest.mark.parametrize("stack", STACKS)
def test_gpu_node_groups_ami_taint_labels_capacity_and_scaling(
    recorded: Recorder, stack: str
) -> None:
    recording = recorded(stack)
    plan = plan_of(recording)
    for placement in (p for p in plan.placements if p.cloud == "aws"):
        pool = plan.spec.pool(placement.pool)
        group = next(
            g
            for g in gpu_node_groups(recording)
            if g.name == f"{decisions.placement_name(plan.fleet, placement.key)}-ng"
        )
        sku = load_catalog().sku("aws", placement.instance_type)
        assert sku is not None
        assert group.region == placement.region
        assert group.inputs["amiType"] == (
            "AL2023_ARM_64_NVIDIA" if sku.arch == "arm64" else "AL2023_x86_64_NVIDIA"
        )
        assert group.inputs["taints"] == [
            {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
        ]
        assert group.inputs["labels"] == {
            "gpufleet.io/pool": pool.name,
            "gpufleet.io/accelerator": sku.accelerator,
            "gpufleet.io/fleet": plan.fleet,
            "k8s.amazonaws.com/accelerator": f"nvidia-{sku.accelerator.lower()}",
        }
        assert group.inputs["tags"] == {"gpufleet:pool": pool.name}
        kinds = {"on-demand": "ON_DEMAND", "spot": "SPOT", "reserved": "ON_DEMAND"}
        assert group.inputs["capacityType"] == (
            "CAPACITY_BLOCK" if pool.capacity_reservation_id else kinds[placement.capacity]
        )
        low = (
            placement.nodes
            if pool.autoscale is None
            else min(pool.autoscale.min_nodes, placement.nodes)
        )
        assert group.inputs["scalingConfig"] == {
            "minSize": low,
            "maxSize": placement.nodes,
            "desiredSize": low,
        }
        assert group.ignore_changes == (
            () if pool.autoscale is None else ("scalingConfig.desiredSize",)
        )
        assert len(group.inputs["nodeGroupName"]) <= 63
        assert "remoteAccess" not in group.inputs


@pytest.mark.parametrize("stack", STACKS)
def test_launch_templates_require_imdsv2_encrypt_the_root_volume_and_have_no_key_pair(
    recorded: Recorder, stack: str
) -> None:
    recording = recorded(stack)
    templates = recording.by_type(LAUNCH_TEMPLATE)
    assert templates
    for template in templates:
        assert template.inputs["metadataOptions"] == {
            "httpEndpoint": "enabled",
            "httpTokens": "required",
            "httpPutResponseHopLimit": 2,
            "instanceMetadataTags": "disabled",
        }
        (root,) = template.inputs["blockDeviceMappings"]
        assert root["ebs"]["encrypted"] == "true"
        assert root["ebs"]["volumeType"] == "gp3"
        assert "keyName" not in template.inputs
    for group in gpu_node_groups(recording):
        template = launch_template_of(recording, group)
        assert template.inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] >= 200
        kinds = {spec["resourceType"] for spec in template.inputs["tagSpecifications"]}
        assert kinds == {"instance", "volume", "network-interface"}


def test_prod_eu_rdma_pool_gets_efa_in_one_zone_with_a_cluster_placement_group(
    recorded: Recorder,
) -> None:
    recording = recorded("prod-eu")
    plan = plan_of(recording)
    rdma = [
        p
        for p in plan.placements
        if p.cloud == "aws" and plan.spec.pool(p.pool).interconnect == "rdma"
    ]
    assert rdma, "prod-eu places no rdma pool on AWS; the EFA path is untested"
    for placement in rdma:
        sku = load_catalog().sku("aws", placement.instance_type)
        assert sku is not None
        assert sku.rdma_interfaces > 0
        name = decisions.placement_name(plan.fleet, placement.key)
        group = next(g for g in gpu_node_groups(recording) if g.name == f"{name}-ng")
        template = launch_template_of(recording, group)
        assert group.inputs["subnetIds"] == [
            f"{decisions.region_name(plan.fleet, placement.region)}-private-{placement.region}a-id"
        ]

        interfaces = template.inputs["networkInterfaces"]
        assert len(interfaces) == sku.rdma_interfaces
        assert [i["networkCardIndex"] for i in interfaces] == list(range(sku.rdma_interfaces))
        assert interfaces[0]["interfaceType"] == "efa"
        assert interfaces[0]["deviceIndex"] == 0
        assert {i["interfaceType"] for i in interfaces[1:]} == {"efa-only"}
        assert {i["deviceIndex"] for i in interfaces[1:]} == {1}
        (efa_sg,) = sibling(recording, group, "aws:ec2/securityGroup:SecurityGroup")
        cluster = next(
            c for c in recording.by_type("aws:eks/cluster:Cluster") if c.region == placement.region
        )
        for interface in interfaces:
            assert interface["securityGroups"] == [f"sg-{cluster.name}", f"{efa_sg.name}-id"]
        assert "vpcSecurityGroupIds" not in template.inputs  # groups sit on the interfaces

        (group_pg,) = sibling(recording, group, "aws:ec2/placementGroup:PlacementGroup")
        assert group_pg.inputs["strategy"] == "cluster"
        assert template.inputs["placement"] == {"groupName": group_pg.name}

        for rule_type in (
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        ):
            (rule,) = sibling(recording, group, rule_type)
            assert rule.inputs["securityGroupId"] == f"{efa_sg.name}-id"
            assert rule.inputs["referencedSecurityGroupId"] == f"{efa_sg.name}-id"
            assert rule.inputs["ipProtocol"] == "-1"
            assert "cidrIpv4" not in rule.inputs


@pytest.mark.parametrize("stack", STACKS)
def test_non_rdma_pools_span_both_zones_without_efa(recorded: Recorder, stack: str) -> None:
    recording = recorded(stack)
    plan = plan_of(recording)
    plain = [
        p
        for p in plan.placements
        if p.cloud == "aws" and plan.spec.pool(p.pool).interconnect == "none"
    ]
    assert plain
    for placement in plain:
        name = decisions.placement_name(plan.fleet, placement.key)
        group = next(g for g in gpu_node_groups(recording) if g.name == f"{name}-ng")
        assert len(group.inputs["subnetIds"]) == 2
        template = launch_template_of(recording, group)
        assert "networkInterfaces" not in template.inputs
        assert "placement" not in template.inputs


@pytest.mark.parametrize("stack", STACKS)
def test_cluster_is_private_logged_encrypted_and_uses_access_entries(
    recorded: Recorder, stack: str
) -> None:
    recording = recorded(stack)
    plan = plan_of(recording)
    clusters = recording.by_type("aws:eks/cluster:Cluster")
    assert sorted(c.region or "" for c in clusters) == plan.regions("aws")
    for cluster in clusters:
        inputs = cluster.inputs
        assert inputs["vpcConfig"]["endpointPrivateAccess"] is True  # EKS.1
        assert inputs["vpcConfig"]["endpointPublicAccess"] is False
        assert len(inputs["vpcConfig"]["subnetIds"]) == 2
        assert inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator"]  # EKS.8
        assert inputs["encryptionConfig"]["resources"] == ["secrets"]  # EKS.3
        assert inputs["accessConfig"]["authenticationMode"] == "API"
        assert inputs["name"] == decisions.cluster_name(
            plan.fleet, plan.stack, cluster.region or ""
        )
        addons = [a for a in recording.by_type("aws:eks/addon:Addon") if a.parent == cluster.parent]
        assert sorted(a.inputs["addonName"] for a in addons) == [
            "coredns",
            "eks-pod-identity-agent",
            "kube-proxy",
            "vpc-cni",
        ]
        system = sibling(recording, cluster, NODE_GROUP)
        assert [g.inputs["nodeGroupName"] for g in system] == ["system"]
        assert "taints" not in system[0].inputs
        assert system[0].inputs["amiType"] == "AL2023_x86_64_STANDARD"


@pytest.mark.parametrize("stack", STACKS)
def test_iam_roles_carry_only_the_aws_managed_policies_eks_needs(
    recorded: Recorder, stack: str
) -> None:
    recording = recorded(stack)
    attached = sorted(
        r.inputs["policyArn"].rsplit("/", 1)[1]
        for r in recording.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    )
    regions = len(plan_of(recording).regions("aws"))
    assert attached == sorted(
        [
            "AmazonEKSClusterPolicy",
            "AmazonEKSWorkerNodePolicy",
            "AmazonEC2ContainerRegistryReadOnly",
            "AmazonEKS_CNI_Policy",
        ]
        * regions
    )
    assert all(
        r.inputs["policyArn"].startswith("arn:aws:iam::aws:policy/")
        for r in recording.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    )


@pytest.mark.parametrize("stack", STACKS)
def test_network_baseline_controls(recorded: Recorder, stack: str) -> None:
    recording = recorded(stack)
    vpcs = recording.by_type("aws:ec2/vpc:Vpc")
    plan = plan_of(recording)
    assert {v.region: v.inputs["cidrBlock"] for v in vpcs} == {
        r: plan.network("aws", r).cidr for r in plan.regions("aws")
    }
    for vpc in vpcs:
        (flow,) = [
            f for f in recording.by_type("aws:ec2/flowLog:FlowLog") if f.region == vpc.region
        ]
        assert flow.inputs["vpcId"] == f"{vpc.name}-id"  # EC2.6
        assert flow.inputs["trafficType"] == "ALL"
        (default_sg,) = [
            g
            for g in recording.by_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
            if g.region == vpc.region
        ]
        assert default_sg.inputs.get("ingress", []) == []  # EC2.2
        assert default_sg.inputs.get("egress", []) == []
        (endpoint,) = [
            e
            for e in recording.by_type("aws:ec2/vpcEndpoint:VpcEndpoint")
            if e.region == vpc.region
        ]
        assert endpoint.inputs["serviceName"] == f"com.amazonaws.{vpc.region}.s3"
        assert endpoint.inputs["vpcEndpointType"] == "Gateway"
        assert len(endpoint.inputs["routeTableIds"]) == 2
    for subnet in recording.by_type("aws:ec2/subnet:Subnet"):
        assert subnet.inputs["mapPublicIpOnLaunch"] is False
    for ebs in recording.by_type("aws:ebs/encryptionByDefault:EncryptionByDefault"):  # EC2.7
        assert ebs.inputs["enabled"] is True
        assert ebs.retain_on_delete
    for key in recording.by_type("aws:kms/key:Key"):  # KMS.4
        assert key.inputs["enableKeyRotation"] is True
    for group in recording.by_type("aws:ec2/securityGroup:SecurityGroup"):  # EC2.18, EC2.19
        assert all(
            "0.0.0.0/0" not in rule.get("cidrBlocks", [])
            for rule in group.inputs.get("ingress", [])
        )
    for rule in recording.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        assert "cidrIpv4" not in rule.inputs
    for log_group in recording.by_type("aws:cloudwatch/logGroup:LogGroup"):
        assert log_group.inputs["kmsKeyId"].startswith("arn:aws:kms:")
        assert log_group.inputs["retentionInDays"] == 365


@pytest.mark.parametrize("stack", STACKS)
def test_dataset_buckets_are_private_encrypted_versioned_tls_only_and_protected(
    recorded: Recorder, stack: str
) -> None:
    recording = recorded(stack)
    buckets = recording.by_type("aws:s3/bucket:Bucket")
    assert len(buckets) == len([s for s in plan_of(recording).storage if s.cloud == "aws"]) > 0
    for bucket in buckets:
        assert bucket.protect
        assert bucket.retain_on_delete
        bucket_id = f"{bucket.name}-id"

        def one(type_token: str, bucket: RecordedResource = bucket) -> dict[str, Any]:
            (found,) = sibling(recording, bucket, f"aws:s3/{type_token}")
            assert found.inputs["bucket"] == f"{bucket.name}-id"
            return dict(found.inputs)

        assert one("bucketPublicAccessBlock:BucketPublicAccessBlock") == {  # S3.8
            "bucket": bucket_id,
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        }
        (key,) = sibling(recording, bucket, "aws:kms/key:Key")
        assert key.protect
        assert key.retain_on_delete
        (rule,) = one(
            "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        )["rules"]
        assert rule == {  # S3.17
            "applyServerSideEncryptionByDefault": {
                "sseAlgorithm": "aws:kms",
                "kmsMasterKeyId": f"arn:aws:kms:mock:123456789012:{key.name}",
            },
            "bucketKeyEnabled": True,
        }
        assert one("bucketVersioning:BucketVersioning")["versioningConfiguration"] == {
            "status": "Enabled"
        }  # S3.14
        assert one("bucketOwnershipControls:BucketOwnershipControls")["rule"] == {
            "objectOwnership": "BucketOwnerEnforced"
        }
        (statement,) = json.loads(one("bucketPolicy:BucketPolicy")["policy"])["Statement"]
        arn = f"arn:aws:s3:mock:123456789012:{bucket.name}"
        assert statement == {  # S3.5
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
        (lifecycle,) = one("bucketLifecycleConfiguration:BucketLifecycleConfiguration")["rules"]
        assert lifecycle["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
        assert lifecycle["status"] == "Enabled"


@pytest.mark.parametrize("stack", STACKS)
def test_kubeconfig_is_secret_and_outputs_are_keyed_by_region(
    recorded: Recorder, stack: str
) -> None:
    recording = recorded(stack)
    plan = plan_of(recording)
    for region in plan.regions("aws"):
        assert f"aws/{region}/kubeconfig" in recording.secret_outputs
        assert '"command": "aws"' in recording.outputs[f"aws/{region}/kubeconfig"]
        assert recording.outputs[f"aws/{region}/clusterName"] == decisions.cluster_name(
            plan.fleet, plan.stack, region
        )
        assert f"aws/{region}/clusterName" not in recording.secret_outputs
        for storage in plan.storage_in("aws", region):
            assert f"aws/{region}/buckets/{storage.name}" in recording.outputs


@pytest.mark.parametrize("stack", STACKS)
def test_every_aws_resource_is_parented_to_its_component_and_uses_the_region_provider(
    recorded: Recorder, stack: str
) -> None:
    recording = recorded(stack)
    plan = plan_of(recording)
    owner = {
        "aws:ec2/vpc:Vpc": "gpufleet:aws:Network",
        "aws:ec2/flowLog:FlowLog": "gpufleet:aws:Network",
        "aws:ebs/encryptionByDefault:EncryptionByDefault": "gpufleet:aws:Network",
        "aws:eks/cluster:Cluster": "gpufleet:aws:GpuCluster",
        "aws:eks/addon:Addon": "gpufleet:aws:GpuCluster",
        "aws:ec2/placementGroup:PlacementGroup": "gpufleet:aws:GpuNodePool",
        "aws:s3/bucket:Bucket": "gpufleet:aws:DatasetBucket",
    }
    providers = {p.urn: p for p in recording.by_type("pulumi:providers:aws")}
    assert sorted(p.inputs["region"] for p in providers.values()) == plan.regions("aws")
    for provider in providers.values():
        assert type_of(provider.parent) == "gpufleet:index:GpuFleet"
        assert provider.name == decisions.region_name(plan.fleet, provider.inputs["region"])
        assert '"gpufleet:fleet":"' + plan.fleet in provider.inputs["defaultTags"].replace(" ", "")
        assert '"gpufleet:stack":"' + plan.stack in provider.inputs["defaultTags"].replace(" ", "")
    for resource in aws_resources(recording):
        if resource.type in COMPONENTS:
            assert type_of(resource.parent) == "gpufleet:index:GpuFleet"
        elif not resource.is_provider:
            assert type_of(resource.parent) in COMPONENTS, resource.urn
            assert resource.provider in providers, resource.urn
            assert providers[resource.provider].inputs["region"] == resource.region
            if resource.type in owner:
                assert type_of(resource.parent) == owner[resource.type], resource.urn


# -- stable names -----------------------------------------------------------------------------


@cache
def _prod_eu_recordings() -> tuple[Recording, Recording]:
    fleet = fleet_of("prod-eu")
    reordered = {**fleet, "pools": list(reversed(fleet["pools"]))}
    return record_fleet(fleet, "prod-eu"), record_fleet(reordered, "prod-eu")


def test_reordering_pools_renames_nothing() -> None:
    original, reordered = _prod_eu_recordings()
    assert [p.name for p in plan_of(original).pools] != [p.name for p in plan_of(reordered).pools]

    def aws_urns(recording: Recording) -> set[str]:
        return {r.urn for r in aws_resources(recording)}

    assert aws_urns(original) == aws_urns(reordered)
    assert len(aws_urns(original)) > 50
    inputs = {r.urn: r.inputs for r in gpu_node_groups(original)}
    assert {r.urn: r.inputs for r in gpu_node_groups(reordered)} == inputs


# -- hand-built plans: paths the sample stacks do not take ---------------------------------------


def _hand_plan(
    pools: list[dict[str, Any]], placements: list[tuple[str, str, int]], protect: bool = True
) -> FleetPlan:
    spec = load_fleet(
        {
            "name": "hand",
            "network": {"supernet": "10.0.0.0/12"},
            "clouds": {"aws": {"regions": ["eu-north-1"]}},
            "pools": pools,
            "storage": [
                {
                    "name": "data",
                    "size_tib": 1,
                    "colocate_with": [pools[0]["name"]],
                    "protect": protect,
                }
            ],
        }
    )
    catalog = load_catalog()
    made: list[Placement] = []
    for pool_name, instance_type, nodes in placements:
        sku = catalog.sku("aws", instance_type)
        assert sku is not None
        pool = spec.pool(pool_name)
        made.append(
            Placement(
                pool_name,
                "aws",
                "eu-north-1",
                instance_type,
                nodes,
                nodes * sku.gpus,
                pool.capacity,
                sku.vcpus,
                sku.bucket_for(pool.capacity),
                1.0,
                "test",
                730.0,
            )
        )
    return FleetPlan(
        stack="hand",
        spec=spec,
        pools=tuple(
            PoolPlan(p.name, p.accelerator_label(), p.gpus, tuple(m for m in made if m.pool == p.name))
            for p in spec.pools
        ),
        networks=(NetworkPlan("aws", "eu-north-1", "10.0.0.0/16"),),
        storage=colocated_storage(spec, made),
        cost=CostSummary(0.0, (), None, ()),
        quota=(),
        solver=SolverReport("test", 0.0, 0.0, 0.0),
    )


def _record_plan(plan: FleetPlan) -> Recording:
    return record_program("hand", {}, program=lambda: GpuFleet(plan.fleet, plan))


def test_capacity_block_arm64_and_fixed_size_pools() -> None:
    plan = _hand_plan(
        [
            {
                "name": "block",
                "accelerator": "H100",
                "gpus": 16,
                "capacity": "reserved",
                "capacity_reservation_id": "cr-0123456789abcdef0",
                "interconnect": "rdma",
            },
            {"name": "graviton", "accelerator": "T4g", "gpus": 2, "capacity": "on-demand"},
        ],
        [("block", "p5.48xlarge", 2), ("graviton", "g5g.2xlarge", 2)],
        protect=False,
    )
    recording = _record_plan(plan)
    groups = {g.inputs["nodeGroupName"]: g for g in gpu_node_groups(recording)}
    block = groups["block-p5-48xlarge"]
    assert block.inputs["capacityType"] == "CAPACITY_BLOCK"
    assert block.inputs["scalingConfig"] == {"minSize": 2, "maxSize": 2, "desiredSize": 2}
    assert block.ignore_changes == ()
    template = launch_template_of(recording, block)
    assert template.inputs["instanceMarketOptions"] == {"marketType": "capacity-block"}
    assert template.inputs["capacityReservationSpecification"] == {
        "capacityReservationTarget": {"capacityReservationId": "cr-0123456789abcdef0"}
    }
    assert len(template.inputs["networkInterfaces"]) == 32

    graviton = groups["graviton-g5g-2xlarge"]
    assert graviton.inputs["amiType"] == "AL2023_ARM_64_NVIDIA"
    assert graviton.inputs["capacityType"] == "ON_DEMAND"
    assert "capacityReservationSpecification" not in launch_template_of(recording, graviton).inputs

    (bucket,) = recording.by_type("aws:s3/bucket:Bucket")
    assert not bucket.protect  # storage protect: false
    assert not bucket.retain_on_delete


def test_rdma_on_a_sku_without_efa_is_an_error_naming_the_sku() -> None:
    plan = _hand_plan(
        [{"name": "train", "accelerator": "H100", "gpus": 16, "interconnect": "rdma"}],
        [("train", "p5.4xlarge", 16)],
    )
    with pytest.raises(DecisionError, match=r"^interconnect: rdma needs EFA, and p5\.4xlarge has no EFA network cards"):
        _record_plan(plan)
