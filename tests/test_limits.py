"""The clouds' limits, ENI figures and name rules as data, and the VPC CNI address arithmetic."""

from __future__ import annotations

import pytest

from gpufleet.catalog.limits import Limit, limit, limits, name_kinds, name_problem, name_rules
from gpufleet.clouds.aws.vpccni import EniLimits, VpcCniSettings, eni_limits, max_pods, node_addresses
from gpufleet.clouds.catalog import load_catalog

CONFIDENCES = {"confirmed", "secondary", "inferred", "unconfirmed"}
AWS_SKUS = sorted(s.instance_type for s in load_catalog().skus.values() if s.cloud == "aws")


def _eni(instance_type: str) -> EniLimits:
    found = eni_limits(instance_type)
    assert found is not None, instance_type
    return found


@pytest.mark.parametrize("instance_type", AWS_SKUS)
def test_every_aws_gpu_sku_has_eni_figures(instance_type: str) -> None:
    eni = _eni(instance_type)
    assert eni.max_enis >= 1
    assert eni.ipv4_per_eni >= 2


def test_eni_table_holds_only_catalog_skus() -> None:
    from gpufleet.clouds.aws.vpccni import _eni_table  # pyright: ignore[reportPrivateUsage]

    assert sorted(_eni_table()) == AWS_SKUS


@pytest.mark.parametrize(
    ("instance_type", "enis", "ipv4", "cards", "pods"),
    [
        # aws/amazon-vpc-cni-k8s pkg/vpc/vpc_ip_resource_limit.go at 01c4ad5a; max pods from
        # awslabs/amazon-eks-ami templates/shared/runtime/eni-max-pods.txt at 0254c5b4.
        ("p5.48xlarge", 2, 50, 32, 100),
        ("p4d.24xlarge", 15, 50, 4, 737),
        ("g5.48xlarge", 7, 50, 1, 345),
        ("g6e.xlarge", 4, 15, 1, 58),
    ],
)
def test_eni_figures_match_the_vpc_cni_source(instance_type: str, enis: int, ipv4: int, cards: int, pods: int) -> None:
    eni = _eni(instance_type)
    assert (eni.max_enis, eni.ipv4_per_eni, eni.network_cards, eni.eks_max_pods) == (enis, ipv4, cards, pods)
    assert eni.confidence == "confirmed"
    assert "01c4ad5afb0c317b637ed69c472969a5735fa1b9" in eni.source


@pytest.mark.parametrize("instance_type", AWS_SKUS)
def test_eks_max_pods_formula_reproduces_the_eks_ami_table(instance_type: str) -> None:
    eni = _eni(instance_type)
    assert max_pods(eni) == eni.eks_max_pods


@pytest.mark.parametrize(
    ("instance_type", "enis", "ipv4", "cards", "pods"),
    [
        # aws/amazon-vpc-cni-k8s pkg/vpc/vpc_ip_resource_limit.go at b5218838 (2026-08-20); max
        # pods from awslabs/amazon-eks-ami eni-max-pods.txt at 2bed73dc. p6-b300.48xlarge was
        # inferred from max pods before the CNI file listed it.
        ("p6-b300.48xlarge", 4, 50, 17, 198),
        ("trn1.2xlarge", 4, 15, 1, 58),
        ("trn1.32xlarge", 5, 50, 8, 247),
        ("trn1n.32xlarge", 5, 50, 16, 247),
        ("trn2.48xlarge", 2, 50, 16, 100),
        ("inf2.xlarge", 4, 15, 1, 58),
        ("inf2.8xlarge", 8, 30, 1, 234),
        ("inf2.24xlarge", 15, 50, 1, 737),
        ("inf2.48xlarge", 15, 50, 1, 737),
    ],
)
def test_frontier_eni_figures_match_the_newer_vpc_cni_source(
    instance_type: str, enis: int, ipv4: int, cards: int, pods: int
) -> None:
    eni = _eni(instance_type)
    assert (eni.max_enis, eni.ipv4_per_eni, eni.network_cards, eni.eks_max_pods) == (enis, ipv4, cards, pods)
    assert (eni.confidence, "b52188387f2e2f10bf289ace929d6a63b176a4fa" in eni.source) == ("confirmed", True)


@pytest.mark.parametrize("instance_type", ["p6e-gb200.36xlarge", "trn2u.48xlarge"])
def test_unpublished_eni_figures_are_the_most_any_instance_type_holds(instance_type: str) -> None:
    """No source read here lists them: they take the most ENIs and IPv4 per ENI of any type in
    the VPC CNI file, as a type without a row does, so no address plan is short by a guess."""
    from gpufleet.clouds.aws import UNKNOWN_ENI, eni_figures

    eni = _eni(instance_type)
    assert (eni.confidence, eni.max_enis, eni.ipv4_per_eni) == ("unconfirmed", UNKNOWN_ENI.max_enis, UNKNOWN_ENI.ipv4_per_eni)
    assert max_pods(UNKNOWN_ENI) == UNKNOWN_ENI.eks_max_pods
    declared = eni_figures("p6e-gb300.36xlarge")
    assert (declared.instance_type, declared.max_enis, declared.ipv4_per_eni) == ("p6e-gb300.36xlarge", 24, 64)


@pytest.mark.parametrize(
    ("cloud", "key", "value", "adjustable", "maximum"),
    [
        ("aws", "nodes_per_node_group", 450, True, None),
        ("aws", "node_groups_per_cluster", 30, True, None),
        ("aws", "vpc_cidr_largest_prefix", 16, False, None),
        ("aws", "vpc_cidr_smallest_prefix", 28, False, None),
        ("aws", "ipv4_cidr_blocks_per_vpc", 5, True, 50),
        ("aws", "subnets_per_vpc", 200, True, None),
        ("aws", "subnet_reserved_addresses", 5, False, None),
        ("azure", "nodes_per_agent_pool", 1000, False, None),
        ("azure", "agent_pools_per_cluster", 100, False, None),
        ("azure", "nodes_per_cluster", 1000, True, 5000),
        ("azure", "overlay_pod_cidr_prefix_per_node", 24, False, None),
        ("azure", "overlay_max_pods_default", 250, True, 250),
        ("azure", "azure_cni_max_pods_default", 30, True, 250),
        ("azure", "kubenet_max_pods_default", 110, True, 250),
    ],
)
def test_limit_values(cloud: str, key: str, value: int, adjustable: bool, maximum: int | None) -> None:
    found = limit(cloud, key)
    assert (found.value, found.adjustable, found.maximum) == (value, adjustable, maximum)


def test_every_row_names_a_source_and_a_known_confidence() -> None:
    for row in limits().values():
        assert row.source.startswith("https://"), row
        assert row.confidence in CONFIDENCES, row
    for instance_type in AWS_SKUS:
        eni = _eni(instance_type)
        assert eni.source.startswith("https://github.com/"), eni
        assert eni.confidence in CONFIDENCES, eni
    for kind in name_kinds():
        for rule in name_rules(kind):
            assert rule.source, rule
            assert rule.confidence in CONFIDENCES, rule


def test_limit_describe_says_value_raise_and_source() -> None:
    assert limit("azure", "nodes_per_cluster").describe() == (
        "azure nodes_per_cluster = 1000 nodes (adjustable up to 5000; https://learn.microsoft.com/azure/aks/quotas-skus-regions)"
    )
    assert limit("azure", "overlay_pod_cidr_prefix_per_node").describe() == (
        "azure overlay_pod_cidr_prefix_per_node = 24 prefix length (fixed; https://learn.microsoft.com/azure/aks/azure-cni-overlay)"
    )


def test_unknown_limit_lists_the_known_keys() -> None:
    with pytest.raises(KeyError, match=r"no limit 'nodes_per_pool' for cloud 'azure'; known: agent_pools_per_cluster, "):
        limit("azure", "nodes_per_pool")
    with pytest.raises(KeyError, match=r"^\"no limit 'nodes_per_cluster' for cloud 'gcp'; known: none\"$"):
        limit("gcp", "nodes_per_cluster")


@pytest.mark.parametrize(("adjustable", "maximum", "how"), [
    (True, 50, "adjustable up to 50"), (True, None, "adjustable"), (False, None, "fixed"), (False, 50, "fixed"),
])
def test_a_limit_says_up_to_only_where_it_can_be_raised_that_far(adjustable: bool, maximum: int | None, how: str) -> None:
    """A maximum recorded beside a fixed limit must not read as a raise a user could ask for."""
    found = Limit("aws", "k", 5, "things", adjustable, maximum, "https://example.test", "confirmed", "")
    assert found.describe() == f"aws k = 5 things ({how}; https://example.test)"


# The VPC CNI documentation's own examples (docs/eni-and-ip-target.md, docs/prefix-and-ip-target.md):
# t3.small has 3 ENIs of 4 IPv4 addresses; addresses = attached ENIs (primaries) + secondary addresses.
T3_SMALL = EniLimits("t3.small", 3, 4, 1, 11, "test", "confirmed", "")
WARM_IP_1_1 = VpcCniSettings(warm_ip_target=1, minimum_ip_target=1)
WARM_IP_2_5 = VpcCniSettings(warm_ip_target=2, minimum_ip_target=5)
WARM_IP_5_10 = VpcCniSettings(warm_ip_target=5, minimum_ip_target=10)
PREFIX = VpcCniSettings(prefix_delegation=True)
PREFIX_IP_1_1 = VpcCniSettings(prefix_delegation=True, warm_ip_target=1, minimum_ip_target=1)


@pytest.mark.parametrize(
    ("eni", "settings", "pods", "addresses"),
    [
        (T3_SMALL, VpcCniSettings(), 0, 1 + 3),
        (T3_SMALL, VpcCniSettings(), 5, 3 + 9),
        (T3_SMALL, VpcCniSettings(), 9, 3 + 9),
        (T3_SMALL, WARM_IP_1_1, 0, 1 + 1),
        (T3_SMALL, WARM_IP_1_1, 5, 2 + 6),
        (T3_SMALL, WARM_IP_1_1, 9, 3 + 9),
        (T3_SMALL, WARM_IP_2_5, 0, 2 + 5),
        (T3_SMALL, WARM_IP_2_5, 5, 3 + 7),
        (T3_SMALL, WARM_IP_2_5, 9, 3 + 9),
        (_eni("p3dn.24xlarge"), VpcCniSettings(), 0, 1 + 49),
        (_eni("p3dn.24xlarge"), VpcCniSettings(), 3, 2 + 98),
        (_eni("p3dn.24xlarge"), VpcCniSettings(), 95, 3 + 147),
        (_eni("p3dn.24xlarge"), WARM_IP_5_10, 0, 1 + 10),
        (_eni("p3dn.24xlarge"), WARM_IP_5_10, 7, 1 + 12),
        (_eni("p3dn.24xlarge"), WARM_IP_5_10, 15, 1 + 20),
        (_eni("p3dn.24xlarge"), WARM_IP_5_10, 45, 2 + 50),
        (T3_SMALL, PREFIX, 0, 1 + 1 * 16),
        (T3_SMALL, PREFIX, 5, 1 + 2 * 16),
        (T3_SMALL, PREFIX, 16, 1 + 2 * 16),
        (T3_SMALL, PREFIX, 17, 1 + 3 * 16),
        (T3_SMALL, PREFIX, 58, 2 + 5 * 16),
        (T3_SMALL, PREFIX_IP_1_1, 0, 1 + 1 * 16),
        (T3_SMALL, PREFIX_IP_1_1, 5, 1 + 1 * 16),
        (T3_SMALL, PREFIX_IP_1_1, 17, 1 + 2 * 16),
        (T3_SMALL, PREFIX_IP_1_1, 58, 2 + 4 * 16),
        # Issue 14: a p5.48xlarge with the defaults holds its primary ENI's addresses and a warm ENI.
        (_eni("p5.48xlarge"), VpcCniSettings(), 10, 100),
        (_eni("p5.48xlarge"), VpcCniSettings(warm_ip_target=2, minimum_ip_target=16), 10, 1 + 16),
        (_eni("p5.48xlarge"), PREFIX, 10, 1 + 2 * 16),
    ],
)
def test_node_addresses_follow_the_vpc_cni_documentation(
    eni: EniLimits, settings: VpcCniSettings, pods: int, addresses: int
) -> None:
    assert node_addresses(eni, pods, settings) == addresses


def test_a_node_cannot_hold_more_pods_than_its_enis_allow() -> None:
    p5 = _eni("p5.48xlarge")
    assert node_addresses(p5, 98) == 100
    with pytest.raises(ValueError, match=r"^p5.48xlarge holds at most 98 pod addresses, not 99$"):
        node_addresses(p5, 99)
    assert node_addresses(p5, 99, PREFIX) == 1 + 8 * 16


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"warm_ip_target": -1}, "VPC CNI warm_ip_target must be 0 or more, not -1"),
        (
            {"prefix_delegation": True, "warm_prefix_target": 0},
            "VPC CNI prefix delegation needs warm_prefix_target or warm_ip_target/minimum_ip_target > 0",
        ),
    ],
)
def test_invalid_cni_settings_are_refused(kwargs: dict[str, int | bool], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        VpcCniSettings(**kwargs)  # pyright: ignore[reportArgumentType]


@pytest.mark.parametrize(
    ("settings", "env"),
    [
        (VpcCniSettings(), {"ENABLE_PREFIX_DELEGATION": "false", "WARM_ENI_TARGET": "1"}),
        (WARM_IP_2_5, {"ENABLE_PREFIX_DELEGATION": "false", "WARM_IP_TARGET": "2", "MINIMUM_IP_TARGET": "5"}),
        (PREFIX, {"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1"}),
    ],
)
def test_cni_settings_render_as_aws_node_environment(settings: VpcCniSettings, env: dict[str, str]) -> None:
    assert settings.env() == env


BOTO_CLUSTER = "botocore 1.44.8 eks/2017-11-01/service-2.json shape ClusterName (min 1, max 100, pattern)"
NODE_GROUP = "pulumi_aws 7.51.1 eks.NodeGroup node_group_name documentation (botocore's nodegroupName has no constraint)"
S3 = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"
AKS_POOL = "azure-mgmt-containerservice 34.0.0 (API 2024-09-01) agentPoolName validation (min 1, max 12, pattern; Linux pools)"
AKS_CLUSTER = "azure-mgmt-containerservice 34.0.0 (API 2024-09-01) resourceName validation (min 1, max 63, pattern)"
ACCOUNT = "azure-mgmt-storage 22.0.0 (API 2023-05-01) accountName validation (min 3, max 24, pattern)"


@pytest.mark.parametrize(
    ("kind", "name", "problem"),
    [
        ("eks_cluster", "gpufleet-prod_1", None),
        ("eks_cluster", "-gpufleet", f"EKS cluster name '-gpufleet' must start with a letter or digit and contain only letters, digits, hyphens and underscores (source: {BOTO_CLUSTER})"),
        ("eks_cluster", "a" * 101, f"EKS cluster name '{'a' * 101}' must be 1 to 100 characters long (source: {BOTO_CLUSTER})"),
        ("eks_node_group", "h100-us-east-1a_0", None),
        ("eks_node_group", "g" * 64, f"EKS node group name '{'g' * 64}' must be 1 to 63 characters long (source: {NODE_GROUP})"),
        ("eks_ami_type", "AL2023_x86_64_NVIDIA", None),
        ("eks_ami_type", "AL2023_X86_64_NVIDIA", "EKS AMI type 'AL2023_X86_64_NVIDIA' must be one of the AMITypes enum (source: botocore 1.44.8 eks/2017-11-01/service-2.json shape AMITypes)"),
        ("eks_capacity_type", "CAPACITY_BLOCK", None),
        ("eks_capacity_type", "spot", "EKS capacity type 'spot' must be one of the CapacityTypes enum (source: botocore 1.44.8 eks/2017-11-01/service-2.json shape CapacityTypes)"),
        ("s3_bucket", "gpufleet.state-01", None),
        ("s3_bucket", "My_Bucket", f"S3 bucket name 'My_Bucket' must contain only lowercase letters, digits, periods and hyphens; must begin and end with a letter or digit (source: {S3})"),
        ("s3_bucket", "192.168.5.4", f"S3 bucket name '192.168.5.4' must not be formatted as an IP address (source: {S3})"),
        ("s3_bucket", "state..bucket", f"S3 bucket name 'state..bucket' must not contain two adjacent periods (source: {S3})"),
        ("s3_bucket", "xn--state", f"S3 bucket name 'xn--state' must not start with xn--, sthree- or amzn-s3-demo- (source: {S3})"),
        ("s3_bucket", "state-s3alias", f"S3 bucket name 'state-s3alias' must not end with -s3alias, --ol-s3, .mrap, --x-s3 or --table-s3 (source: {S3})"),
        ("s3_bucket", "ab", f"S3 bucket name 'ab' must be 3 to 63 characters long (source: {S3})"),
        ("aks_cluster", "gpufleet-eastus_1", None),
        ("aks_cluster", "gpufleet-", f"AKS cluster name 'gpufleet-' must start and end with a letter or digit and contain only letters, digits, hyphens and underscores (source: {AKS_CLUSTER})"),
        ("aks_agent_pool", "h100pool0", None),
        ("aks_agent_pool", "gpu-pool", f"AKS agent pool name 'gpu-pool' must start with a lowercase letter and contain only lowercase letters and digits (source: {AKS_POOL})"),
        ("aks_agent_pool", "h100nodepool01", f"AKS agent pool name 'h100nodepool01' must be 1 to 12 characters long; must start with a lowercase letter and contain only lowercase letters and digits (source: {AKS_POOL})"),
        ("aks_dns_prefix", "gpufleet-dev", None),
        ("aks_dns_prefix", "gpufleet_dev", "AKS DNS prefix 'gpufleet_dev' must start and end with a letter or digit and contain only letters, digits and hyphens (source: hashicorp/terraform-provider-azurerm internal/services/containers/validate/kubernetes.go KubernetesDNSPrefix (the ARM model carries no pattern for dnsPrefix))"),
        ("azure_resource_group", "MC_gpufleet_aks_eastus", None),
        ("azure_resource_group", "gpufleet.", "Azure resource group name 'gpufleet.' must not end with a period (source: https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules (not read here))"),
        ("azure_resource_group", "gpu/fleet", "Azure resource group name 'gpu/fleet' must contain only letters, digits, underscores, hyphens, periods and parentheses (source: azure-mgmt-storage 22.0.0 (API 2023-05-01) resourceGroupName validation (min 1, max 90, pattern))"),
        ("azure_resource_group", "gpu/fleet.", "Azure resource group name 'gpu/fleet.' must contain only letters, digits, underscores, hyphens, periods and parentheses; must not end with a period (source: azure-mgmt-storage 22.0.0 (API 2023-05-01) resourceGroupName validation (min 1, max 90, pattern); https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules (not read here))"),
        ("azure_storage_account", "gpufleetstate01", None),
        ("azure_storage_account", "GpuFleet-State", f"Azure storage account name 'GpuFleet-State' must contain only lowercase letters and digits (source: {ACCOUNT})"),
        ("azure_storage_account", "ab", f"Azure storage account name 'ab' must be 3 to 24 characters long (source: {ACCOUNT})"),
        ("azure_blob_container", "tfstate-01", None),
        ("azure_blob_container", "tf--state", "Azure blob container name 'tf--state' must contain only lowercase letters, digits and hyphens, each hyphen between two letters or digits (source: azure-mgmt-storage 25.3.0 blob_containers documentation of container_name)"),
    ],
)
def test_name_rules(kind: str, name: str, problem: str | None) -> None:
    assert name_problem(kind, name) == problem


def test_unknown_name_kind_lists_the_known_kinds() -> None:
    with pytest.raises(KeyError, match=r"no name rules for 'aks_pool'; known: aks_agent_pool, aks_cluster, "):
        name_problem("aks_pool", "x")
