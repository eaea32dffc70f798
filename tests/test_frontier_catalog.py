"""The frontier rows of the catalog (GB200/GB300 racks, H200 and MI300X on Azure, Trainium,
Inferentia2): facts, racks, fabrics and the offers that need a price book, each with a source."""

from __future__ import annotations

import pytest

from gpufleet.clouds.catalog import load_catalog

CATALOG = load_catalog()
CONFIDENCES = {"confirmed", "secondary", "inferred", "unconfirmed"}


@pytest.mark.parametrize(
    ("cloud", "sku", "accelerator", "gpus", "vcpus", "memory", "arch", "bucket", "confidence"),
    [
        ("aws", "p6e-gb200.36xlarge", "GB200", 4, 144, 960, "arm64", "L-417A185B", "secondary"),
        ("aws", "trn1.2xlarge", "Trainium", 1, 8, 32, "x86_64", "L-2C3B7624", "confirmed"),
        ("aws", "trn1.32xlarge", "Trainium", 16, 128, 512, "x86_64", "L-2C3B7624", "confirmed"),
        ("aws", "trn1n.32xlarge", "Trainium", 16, 128, 512, "x86_64", "L-2C3B7624", "confirmed"),
        ("aws", "trn2.48xlarge", "Trainium2", 16, 192, 2048, "x86_64", "L-2C3B7624", "confirmed"),
        ("aws", "trn2u.48xlarge", "Trainium2", 16, 192, 2048, "x86_64", "L-2C3B7624", "confirmed"),
        ("aws", "inf2.xlarge", "Inferentia2", 1, 4, 16, "x86_64", "L-1945791B", "confirmed"),
        ("aws", "inf2.48xlarge", "Inferentia2", 12, 192, 768, "x86_64", "L-1945791B", "confirmed"),
        ("azure", "Standard_ND96isr_H200_v5", "H200", 8, 96, 1850, "x86_64", "standardNDISRH200V5Family", "confirmed"),
        ("azure", "Standard_ND128isr_NDR_GB200_v6", "GB200", 4, 128, 900, "arm64", "standardNDISRGB200V6NDRFamily", "confirmed"),
        ("azure", "Standard_ND128isr_GB300_v6", "GB300", 4, 128, 864, "arm64", "standardNDISRGB300V6Family", "confirmed"),
        ("azure", "Standard_ND96isr_MI300X_v5", "MI300X", 8, 96, 1850, "x86_64", "standardNDISv5MI300XFamily", "confirmed"),
    ],
)
def test_frontier_sku_facts(cloud: str, sku: str, accelerator: str, gpus: int, vcpus: int, memory: float,
                            arch: str, bucket: str, confidence: str) -> None:
    found = CATALOG.sku(cloud, sku)
    assert found is not None
    assert (found.accelerator, found.gpus, found.vcpus, found.memory_gib, found.arch) == (
        accelerator, gpus, vcpus, memory, arch)
    assert (found.quota_bucket, found.confidence, found.declared) == (bucket, confidence, False)


def test_every_sku_names_its_source_a_confidence_and_a_device_family() -> None:
    for sku in CATALOG.skus.values():
        assert sku.source, sku.instance_type
        assert sku.confidence in CONFIDENCES, sku.instance_type
        assert CATALOG.families[sku.accelerator] in {"nvidia", "neuron", "amd"}, sku.accelerator


@pytest.mark.parametrize(
    ("cloud", "sku", "sizes", "block_only", "nvlink"),
    [
        ("aws", "p6e-gb200.36xlarge", (9, 18), True, True),
        ("aws", "trn2u.48xlarge", (4,), True, False),
        ("azure", "Standard_ND128isr_NDR_GB200_v6", (18,), False, True),
        ("azure", "Standard_ND128isr_GB300_v6", (18,), False, True),
        ("aws", "p5.48xlarge", (), False, False),
    ],
)
def test_racks_are_sku_facts(cloud: str, sku: str, sizes: tuple[int, ...], block_only: bool, nvlink: bool) -> None:
    found = CATALOG.sku(cloud, sku)
    assert found is not None
    assert tuple(rack.instances for rack in found.racks) == sizes
    assert (found.capacity_block_only, found.multi_node_nvlink) == (block_only, nvlink)
    assert all(rack.source for rack in found.racks)


@pytest.mark.parametrize(
    ("cloud", "sku", "interfaces", "fabric"),
    [
        # Karpenter's generated table (vpc.amazonaws.com/efa) at 1d927085; Microsoft Learn size pages.
        ("aws", "p6-b300.48xlarge", 16, "efa"),
        ("aws", "trn1.32xlarge", 8, "efa"),
        ("aws", "trn1n.32xlarge", 16, "efa"),
        ("aws", "trn2.48xlarge", 16, "efa"),
        ("azure", "Standard_ND96isr_H200_v5", 8, "infiniband"),
        ("azure", "Standard_ND128isr_NDR_GB200_v6", 4, "infiniband"),
        ("azure", "Standard_ND96isr_MI300X_v5", 8, "infiniband"),
        # EFA-capable, but no source read here gives the interface count: not marked RDMA.
        ("aws", "p6e-gb200.36xlarge", 0, ""),
        ("aws", "inf2.48xlarge", 0, ""),
    ],
)
def test_rdma_fabric_per_sku(cloud: str, sku: str, interfaces: int, fabric: str) -> None:
    found = CATALOG.sku(cloud, sku)
    assert found is not None
    assert (found.rdma_interfaces, found.rdma_fabric) == (interfaces, fabric)


def test_gb200_on_aws_has_no_public_price_and_says_so() -> None:
    offer = CATALOG.offers[("aws", "p6e-gb200.36xlarge", "us-east-1")]
    assert (offer.price_usd_per_hour, offer.spot_price_usd_per_hour) == (None, None)
    assert offer.source.startswith("no public price")


@pytest.mark.parametrize(
    "sku", ["Standard_ND96isr_H200_v5", "Standard_ND128isr_NDR_GB200_v6", "Standard_ND128isr_GB300_v6",
            "Standard_ND96isr_MI300X_v5", "trn2u.48xlarge"],
)
def test_skus_without_a_public_price_have_no_offer(sku: str) -> None:
    assert not [key for key in CATALOG.offers if key[1] == sku]


@pytest.mark.parametrize(
    ("sku", "usd"),
    # aws/karpenter-provider-aws@1d927085 pkg/providers/pricing/zz_generated.pricing_aws.go
    # (us-east-1, generated 2026-07-20): a second source that agrees with the catalog's.
    [("inf2.xlarge", 0.7582), ("inf2.8xlarge", 1.96786), ("inf2.24xlarge", 6.49063),
     ("inf2.48xlarge", 12.98127), ("trn1.2xlarge", 1.34375), ("trn1.32xlarge", 21.5),
     ("trn1n.32xlarge", 24.78)],
)
def test_us_east_1_prices_agree_with_karpenters_generated_table(sku: str, usd: float) -> None:
    assert CATALOG.offers[("aws", sku, "us-east-1")].price_usd_per_hour == usd


def test_unlisted_names_are_no_catalog_skus_and_say_what_to_do() -> None:
    assert set(CATALOG.unlisted) == {
        ("aws", "p6e-gb300.36xlarge"), ("azure", "Standard_ND96is_MI300X_v5"),
        ("azure", "Standard_ND128isr_NDR_GB300_v6"),
    }
    for key, why in CATALOG.unlisted.items():
        assert key not in CATALOG.skus
        assert why.startswith("not in the catalog")
