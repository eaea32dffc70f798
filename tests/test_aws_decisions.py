"""AWS decisions, table-driven: names, zones, subnets, AMI, capacity, scaling, EFA, documents."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.aws import decisions as d
from components.aws import efa
from gpufleet.catalog import Capacity, Sku
from gpufleet.clouds.catalog import load_catalog
from gpufleet.errors import DecisionError


def sku(instance_type: str) -> Sku:
    found = load_catalog().sku("aws", instance_type)
    assert found is not None, instance_type
    return found


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("train/aws/eu-north-1/p5.48xlarge", "train-aws-eu-north-1-p5-48xlarge"),
        ("serve/aws/us-east-1/g6e.12xlarge", "serve-aws-us-east-1-g6e-12xlarge"),
        ("Big--Pool_/x", "big-pool-x"),
        ("p6-b200.48xlarge", "p6-b200-48xlarge"),
    ],
)
def test_slug_keeps_only_lowercase_letters_digits_and_single_dashes(
    text: str, expected: str
) -> None:
    assert d.slug(text) == expected


def test_bounded_keeps_short_names_and_hashes_long_ones_stably() -> None:
    assert d.bounded("short", 10) == "short"
    long = "a" * 70
    cut = d.bounded(long, 63)
    assert len(cut) == 63
    assert re.fullmatch(r"a{56}-[0-9a-f]{6}", cut)
    assert cut == d.bounded(long, 63)
    assert d.bounded("a" * 69 + "b", 63) != cut  # names that share a head stay distinct


@pytest.mark.parametrize(
    ("pool", "instance_type", "expected"),
    [
        ("train", "p5.48xlarge", "train-p5-48xlarge"),
        ("serve", "g6.xlarge", "serve-g6-xlarge"),
        ("a" * 24, "p6-b200.48xlarge", "a" * 24 + "-p6-b200-48xlarge"),
    ],
)
def test_node_group_name_from_pool_and_sku(pool: str, instance_type: str, expected: str) -> None:
    assert d.node_group_name(pool, instance_type) == expected
    assert len(d.node_group_name(pool, instance_type)) <= d.NODE_GROUP_NAME_MAX


def test_names_derive_from_stable_keys() -> None:
    assert d.region_name("llm-train", "eu-north-1") == "llm-train-aws-eu-north-1"
    assert (
        d.placement_name("llm-train", "train/aws/eu-north-1/p5.48xlarge")
        == "llm-train-train-aws-eu-north-1-p5-48xlarge"
    )
    assert d.cluster_name("llm-train", "prod-eu", "eu-north-1") == "llm-train-prod-eu-eu-north-1"
    assert d.storage_name("llm-train", "datasets", "eu-north-1") == "llm-train-datasets-eu-north-1"


def test_longest_storage_name_leaves_room_for_the_autoname_suffix() -> None:
    name = d.storage_name("f" * 24, "s" * 24, "ap-southeast-1")
    assert len(name) == d.BUCKET_LOGICAL_MAX
    assert len(name) + 8 <= 63  # Pulumi appends '-' and 7 random characters; S3 allows 63


# -- zones and addresses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "count", "expected"),
    [
        ("eu-north-1", 2, ("eu-north-1a", "eu-north-1b")),
        ("us-east-1", 3, ("us-east-1a", "us-east-1b", "us-east-1c")),
        ("ap-northeast-1", 2, ("ap-northeast-1a", "ap-northeast-1c")),
        ("us-west-1", 2, ("us-west-1b", "us-west-1c")),
    ],
)
def test_availability_zones_by_name_without_an_invoke(
    region: str, count: int, expected: tuple[str, ...]
) -> None:
    assert d.availability_zones(region, count) == expected


@pytest.mark.parametrize(
    ("region", "count", "message"),
    [
        ("eu-north-1", 1, "clouds.aws.regions: eu-north-1: 1 availability zones asked; between 2 and 3 are known"),
        ("us-west-1", 3, "clouds.aws.regions: us-west-1: 3 availability zones asked; between 2 and 2 are known"),
    ],
)
def test_availability_zones_refuses_counts_it_cannot_name(
    region: str, count: int, message: str
) -> None:
    with pytest.raises(DecisionError) as error:
        d.availability_zones(region, count)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("cidr", "zones", "private", "public"),
    [
        (
            "10.64.0.0/16",
            ("z-a", "z-b"),
            {"z-a": "10.64.0.0/18", "z-b": "10.64.64.0/18"},
            {"z-a": "10.64.192.0/22", "z-b": "10.64.196.0/22"},
        ),
        (
            "10.68.192.0/18",
            ("z-a", "z-b"),
            {"z-a": "10.68.192.0/20", "z-b": "10.68.208.0/20"},
            {"z-a": "10.68.240.0/24", "z-b": "10.68.241.0/24"},
        ),
        (
            "10.0.0.0/20",
            ("z-a", "z-b", "z-c"),
            {"z-a": "10.0.0.0/22", "z-b": "10.0.4.0/22", "z-c": "10.0.8.0/22"},
            {"z-a": "10.0.12.0/26", "z-b": "10.0.12.64/26", "z-c": "10.0.12.128/26"},
        ),
    ],
)
def test_subnet_layout(
    cidr: str, zones: tuple[str, ...], private: dict[str, str], public: dict[str, str]
) -> None:
    layout = d.subnet_layout(cidr, zones)
    assert dict(layout.private) == private
    assert dict(layout.public) == public


@given(
    prefix=st.integers(min_value=8, max_value=20),
    base=st.integers(min_value=0, max_value=2**32 - 1),
    zones=st.integers(min_value=1, max_value=3),
)
def test_subnets_are_disjoint_and_inside_the_vpc(prefix: int, base: int, zones: int) -> None:
    vpc = ipaddress.IPv4Network((base, prefix), strict=False)
    layout = d.subnet_layout(str(vpc), [f"z{i}" for i in range(zones)])
    nets = [ipaddress.IPv4Network(c) for c in [*layout.private.values(), *layout.public.values()]]
    assert all(n.subnet_of(vpc) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    assert all(n.prefixlen <= 28 for n in nets)  # AWS's smallest subnet is /28


@pytest.mark.parametrize(
    ("cidr", "zones", "message"),
    [
        (
            "10.0.0.0/21",
            ("a", "b"),
            "network.overrides: VPC block 10.0.0.0/21 is smaller than /20; give the region a /20 or larger",
        ),
        ("10.0.0.0/16", ("a", "b", "c", "d"), "clouds.aws.regions: 4 zones for 10.0.0.0/16; 1 to 3 fit the layout"),
    ],
)
def test_subnet_layout_refuses(cidr: str, zones: tuple[str, ...], message: str) -> None:
    with pytest.raises(DecisionError) as error:
        d.subnet_layout(cidr, zones)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("zones", "count", "nats", "routes"),
    [
        (("a", "b"), 2, ("a", "b"), {"a": "a", "b": "b"}),
        (("a", "b"), 1, ("a",), {"a": "a", "b": "a"}),
        (("a", "b", "c"), 2, ("a", "b"), {"a": "a", "b": "b", "c": "a"}),
    ],
)
def test_nat_zones_and_private_routes(
    zones: tuple[str, ...], count: int, nats: tuple[str, ...], routes: dict[str, str]
) -> None:
    assert d.nat_zones(zones, count) == nats
    assert {z: d.nat_for_zone(z, zones, nats) for z in zones} == routes


def test_nat_zones_refuses_more_gateways_than_zones() -> None:
    with pytest.raises(DecisionError) as error:
        d.nat_zones(("a", "b"), 3)
    assert str(error.value) == "clouds.aws.regions: 3 NAT gateways for 2 zones; 1 to 2 fit"


@pytest.mark.parametrize(("efa", "expected"), [(False, ("x-1a", "x-1b")), (True, ("x-1a",))])
def test_node_zones_one_zone_for_efa(efa: bool, expected: tuple[str, ...]) -> None:
    assert d.node_zones(("x-1a", "x-1b"), efa=efa) == expected


# -- node groups ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instance_type", "expected"),
    [
        ("p5.48xlarge", "AL2023_x86_64_NVIDIA"),
        ("g6.xlarge", "AL2023_x86_64_NVIDIA"),
        ("g4dn.xlarge", "AL2023_x86_64_NVIDIA"),
        ("g5g.2xlarge", "AL2023_ARM_64_NVIDIA"),
        ("g5g.metal", "AL2023_ARM_64_NVIDIA"),
        ("p6e-gb200.36xlarge", "AL2023_ARM_64_NVIDIA"),  # Grace: the variant AWS recommends
        ("trn1.32xlarge", "AL2023_x86_64_NEURON"),
        ("trn2.48xlarge", "AL2023_x86_64_NEURON"),
        ("inf2.xlarge", "AL2023_x86_64_NEURON"),
    ],
)
def test_ami_type_follows_the_device_family_and_architecture(instance_type: str, expected: str) -> None:
    assert d.ami_type(sku(instance_type)) == expected


def test_ami_type_refuses_an_unknown_architecture() -> None:
    odd = Sku("aws", "x1.large", "T4", 1, 4, 16.0, "riscv64", "L-X", "L-Y")
    with pytest.raises(DecisionError) as error:
        d.ami_type(odd)
    assert str(error.value) == (
        "pools: x1.large: no EKS AMI for nvidia devices on 'riscv64'; known: neuron on x86_64, "
        "nvidia on arm64, nvidia on x86_64"
    )


BLOCK = "cr-0123456789abcdef0"


@pytest.mark.parametrize(
    ("capacity", "reservation", "kind", "launch"),
    [
        ("on-demand", None, "ON_DEMAND", d.CapacityReservation(None, None, None)),
        ("spot", None, "SPOT", d.CapacityReservation(None, None, None)),
        ("reserved", BLOCK, "CAPACITY_BLOCK", d.CapacityReservation("capacity-block", None, BLOCK)),
        ("reserved", None, "ON_DEMAND", d.CapacityReservation(None, "open", None)),
    ],
)
def test_capacity_type_and_reservation(
    capacity: Capacity, reservation: str | None, kind: str, launch: d.CapacityReservation
) -> None:
    assert d.capacity_type(capacity, reservation) == kind
    assert d.capacity_reservation(capacity, reservation) == launch


@pytest.mark.parametrize(
    ("nodes", "min_nodes", "expected"),
    [
        (8, None, d.Scaling(8, 8, 8, autoscaled=False)),
        (8, 0, d.Scaling(0, 8, 0, autoscaled=True)),
        (16, 1, d.Scaling(1, 16, 1, autoscaled=True)),
        (3, 5, d.Scaling(3, 3, 3, autoscaled=True)),  # the floor never exceeds the plan
    ],
)
def test_scaling(nodes: int, min_nodes: int | None, expected: d.Scaling) -> None:
    assert d.scaling(nodes, min_nodes) == expected


def test_scaling_refuses_an_empty_node_group() -> None:
    with pytest.raises(DecisionError) as error:
        d.scaling(0, None)
    assert str(error.value) == "pools: a node group needs at least one node (plan gives 0)"


@pytest.mark.parametrize(("gpus", "gib"), [(1, 200), (4, 200), (8, 400), (16, 800)])
def test_root_volume_sized_for_ml_images(gpus: int, gib: int) -> None:
    assert d.root_volume_gib(gpus) == gib


def test_gpu_taint_and_labels() -> None:
    assert d.gpu_taints(sku("p5.48xlarge")) == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert d.gpu_taints(sku("trn2.48xlarge")) == [
        {"key": "aws.amazon.com/neuron", "value": "true", "effect": "NO_SCHEDULE"}]
    assert d.node_labels("llm-train", "train", "H100") == {
        "gpufleet.io/fleet": "llm-train",
        "gpufleet.io/pool": "train",
        "gpufleet.io/accelerator": "H100",
    }


# -- EFA -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instance_type", "interconnect", "count"),
    [
        ("p5.48xlarge", "rdma", 32),
        ("p5en.48xlarge", "rdma", 16),
        ("p4d.24xlarge", "rdma", 4),
        ("p6-b200.48xlarge", "rdma", 8),
        ("trn1.32xlarge", "rdma", 8),
        ("trn2.48xlarge", "rdma", 16),
        ("p6-b300.48xlarge", "none", 0),
        ("p5.48xlarge", "none", 0),
        ("g6.xlarge", "none", 0),
    ],
)
def test_efa_interface_count(instance_type: str, interconnect: str, count: int) -> None:
    assert efa.efa_interface_count(sku(instance_type), interconnect) == count


@pytest.mark.parametrize("instance_type", ["g6.xlarge", "p5.4xlarge", "g5g.2xlarge"])
def test_rdma_on_a_sku_without_efa_names_the_sku(instance_type: str) -> None:
    with pytest.raises(DecisionError) as error:
        efa.efa_interface_count(sku(instance_type), "rdma")
    assert str(error.value) == (
        f"interconnect: rdma needs EFA, and {instance_type} has no EFA network cards; "
        "use an EFA SKU (p4d, p4de, p5, p5e, p5en, p6) or interconnect: none"
    )


def test_efa_on_fewer_cards_than_the_sku_has_is_refused_not_guessed() -> None:
    """p6-b300.48xlarge: 16 EFA interfaces (Karpenter's generated table) on 17 network cards (the
    VPC CNI file); one interface per card from card 0 could put EFA on the card without it."""
    with pytest.raises(DecisionError, match=r"16 EFA interfaces on 17 network cards"):
        efa.efa_interface_count(sku("p6-b300.48xlarge"), "rdma")


def test_efa_interfaces_primary_efa_then_efa_only_per_card() -> None:
    groups = ["sg-cluster", "sg-efa"]
    interfaces = efa.efa_interfaces(4, groups)
    expected: list[dict[str, Any]] = [
        {
            "network_card_index": 0,
            "device_index": 0,
            "interface_type": "efa",
            "security_groups": groups,
            "delete_on_termination": "true",
        },
        *(
            {
                "network_card_index": card,
                "device_index": 1,
                "interface_type": "efa-only",
                "security_groups": groups,
                "delete_on_termination": "true",
            }
            for card in (1, 2, 3)
        ),
    ]
    assert interfaces == expected


@pytest.mark.parametrize("count", [1, 8, 16, 32])
def test_efa_interfaces_one_per_network_card(count: int) -> None:
    interfaces = efa.efa_interfaces(count, ["sg"])
    assert [i.get("network_card_index") for i in interfaces] == list(range(count))
    assert [i.get("interface_type") for i in interfaces].count("efa") == 1


def test_efa_interfaces_refuses_zero_cards() -> None:
    with pytest.raises(DecisionError) as error:
        efa.efa_interfaces(0, ["sg"])
    assert str(error.value) == "interconnect: EFA needs at least one network card (got 0)"


# -- documents -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "arn"),
    [
        ("eu-north-1", "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"),
        ("cn-north-1", "arn:aws-cn:iam::aws:policy/AmazonEKSClusterPolicy"),
        ("us-gov-west-1", "arn:aws-us-gov:iam::aws:policy/AmazonEKSClusterPolicy"),
    ],
)
def test_managed_policy_arn_per_partition(region: str, arn: str) -> None:
    assert d.managed_policy_arn(region, "AmazonEKSClusterPolicy") == arn


def test_only_the_aws_managed_policies_eks_needs() -> None:
    assert d.CLUSTER_POLICIES == ("AmazonEKSClusterPolicy",)
    assert d.NODE_POLICIES == (
        "AmazonEKSWorkerNodePolicy",
        "AmazonEC2ContainerRegistryReadOnly",
        "AmazonEKS_CNI_Policy",
    )


def test_tls_only_bucket_policy_denies_insecure_transport() -> None:
    policy = json.loads(d.tls_only_bucket_policy("arn:aws:s3:::b"))
    assert policy["Statement"] == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]


def test_flow_logs_role_writes_one_log_group_for_one_account() -> None:
    trust = json.loads(d.flow_logs_trust_policy("123456789012"))["Statement"][0]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    allow = json.loads(d.flow_logs_policy("arn:aws:logs:eu-north-1:1:log-group:g"))["Statement"]
    assert allow == [
        {
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogGroups",
                "logs:DescribeLogStreams",
            ],
            "Resource": [
                "arn:aws:logs:eu-north-1:1:log-group:g",
                "arn:aws:logs:eu-north-1:1:log-group:g:*",
            ],
        }
    ]


def test_logs_key_policy_lets_only_this_regions_cloudwatch_logs_use_it() -> None:
    statements = json.loads(d.logs_key_policy("123456789012", "eu-north-1"))["Statement"]
    assert statements[0]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    logs = statements[1]
    assert logs["Principal"] == {"Service": "logs.eu-north-1.amazonaws.com"}
    assert logs["Condition"] == {
        "ArnLike": {
            "kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:eu-north-1:123456789012:log-group:*"
        }
    }


def test_kubeconfig_authenticates_with_aws_eks_get_token() -> None:
    config = json.loads(d.kubeconfig("c1", "https://x", "Q0E=", "eu-north-1"))
    assert config["clusters"] == [
        {"name": "c1", "cluster": {"server": "https://x", "certificate-authority-data": "Q0E="}}
    ]
    assert config["current-context"] == "c1"
    assert config["users"][0]["user"]["exec"]["args"] == [
        "eks",
        "get-token",
        "--cluster-name",
        "c1",
        "--region",
        "eu-north-1",
    ]
