"""The packaged catalog: SKU facts, the corrected source errors, jurisdictions, price book."""

from __future__ import annotations

import pytest

from gpufleet.catalog import jurisdictions_of
from gpufleet.clouds.catalog import load_catalog

CATALOG = load_catalog()


@pytest.mark.parametrize(
    ("cloud", "sku", "accelerator", "gpus", "vcpus", "bucket", "spot_bucket", "arch"),
    [
        ("aws", "p5.48xlarge", "H100", 8, 192, "L-417A185B", "L-7212CCBC", "x86_64"),
        ("aws", "g6.xlarge", "L4", 1, 4, "L-DB2E81BA", "L-3819A6DF", "x86_64"),
        ("aws", "g5g.xlarge", "T4g", 1, 4, "L-DB2E81BA", "L-3819A6DF", "arm64"),
        ("aws", "p3.2xlarge", "V100", 1, 8, "L-417A185B", "L-7212CCBC", "x86_64"),
        ("azure", "Standard_ND96isr_H100_v5", "H100", 8, 96, "standardNDSH100v5Family", "lowPriorityCores", "x86_64"),
        ("azure", "Standard_NC4as_T4_v3", "T4", 1, 4, "StandardNCASv3_T4Family", "lowPriorityCores", "x86_64"),
    ],
)
def test_sku_facts(cloud: str, sku: str, accelerator: str, gpus: int, vcpus: int,
                   bucket: str, spot_bucket: str, arch: str) -> None:
    found = CATALOG.sku(cloud, sku)
    assert found is not None
    assert (found.accelerator, found.gpus, found.vcpus, found.arch) == (accelerator, gpus, vcpus, arch)
    assert (found.bucket_for("on-demand"), found.bucket_for("spot")) == (bucket, spot_bucket)
    assert found.bucket_for("reserved") == bucket


def test_nd96isr_h100_v5_has_eight_gpus_not_the_sources_twelve() -> None:
    sku = CATALOG.sku("azure", "Standard_ND96isr_H100_v5")
    assert sku is not None
    assert sku.gpus == 8
    assert any("Standard_ND96isr_H100_v5: gpus=8" in c for c in CATALOG.corrections)


@pytest.mark.parametrize("sku", ["Standard_ND96isr_H100_v5", "Standard_NC40ads_H100_v5", "Standard_NC80adis_H100_v5"])
def test_azure_h100_spot_equal_to_on_demand_is_unknown(sku: str) -> None:
    offers = [o for (c, s, _), o in CATALOG.offers.items() if c == "azure" and s == sku]
    assert offers
    assert all(o.price_usd_per_hour is not None and o.spot_price_usd_per_hour is None for o in offers)


def test_real_azure_spot_prices_are_kept() -> None:
    offer = CATALOG.offers[("azure", "Standard_NC4as_T4_v3", "eastus")]
    assert (offer.price_usd_per_hour, offer.spot_price_usd_per_hour) == (0.526, 0.062699)


def test_aws_spot_price_is_the_highest_zone_price() -> None:
    offer = CATALOG.offers[("aws", "p5.48xlarge", "eu-west-2")]
    assert offer.price_usd_per_hour == 71.552
    assert offer.spot_price_usd_per_hour == 18.584


@pytest.mark.parametrize(
    ("cloud", "region", "country", "jurisdictions"),
    [
        ("aws", "eu-central-1", "DE", {"DE", "EU", "EEA"}),
        ("aws", "eu-west-2", "GB", {"GB"}),  # 'eu-' in the name, but London is not in the EU
        ("aws", "eu-central-2", "CH", {"CH"}),  # Zurich
        ("aws", "us-east-1", "US", {"US"}),
        ("azure", "westeurope", "NL", {"NL", "EU", "EEA"}),
        ("azure", "norwayeast", "NO", {"NO", "EEA"}),
        ("azure", "switzerlandnorth", "CH", {"CH"}),
        ("azure", "uksouth", "GB", {"GB"}),
        ("azure", "swedencentral", "SE", {"SE", "EU", "EEA"}),
    ],
)
def test_jurisdictions_come_from_the_country(cloud: str, region: str, country: str, jurisdictions: set[str]) -> None:
    found = CATALOG.region(cloud, region)
    assert found is not None
    assert found.country == country
    assert found.jurisdictions == jurisdictions


@pytest.mark.parametrize(
    "region",
    ["westeurope", "northeurope", "swedencentral", "francecentral", "germanywestcentral",
     "uksouth", "switzerlandnorth", "norwayeast"],
)
def test_azure_eu_regions_are_known_without_offline_prices(region: str) -> None:
    assert CATALOG.region("azure", region) is not None
    assert CATALOG.offers_for("H100", "azure", region) == []


def test_price_book_overrides_and_adds_offers() -> None:
    book = CATALOG.with_price_book({
        "azure/swedencentral/Standard_ND96isr_H100_v5": 88.0,
        "aws/eu-north-1/p5.48xlarge": 50.0,
        "aws/eu-north-1/p5.48xlarge:spot": 9.0,
    })
    added = book.offers[("azure", "Standard_ND96isr_H100_v5", "swedencentral")]
    assert (added.price_usd_per_hour, added.spot_price_usd_per_hour, added.sku.gpus) == (88.0, None, 8)
    assert added.source == "price book: azure/swedencentral/Standard_ND96isr_H100_v5"
    changed = book.offers[("aws", "p5.48xlarge", "eu-north-1")]
    assert (changed.hourly("on-demand"), changed.hourly("spot"), changed.hourly("reserved")) == (50.0, 9.0, 50.0)
    assert changed.price_source("spot") == "price book: aws/eu-north-1/p5.48xlarge:spot"
    assert CATALOG.offers[("aws", "p5.48xlarge", "eu-north-1")].price_usd_per_hour == 58.8928


def test_rdma_and_mig_capabilities() -> None:
    assert CATALOG.skus[("aws", "p5.48xlarge")].rdma_interfaces == 32
    assert CATALOG.skus[("aws", "p4d.24xlarge")].rdma_interfaces == 4
    assert not CATALOG.skus[("aws", "g6.48xlarge")].rdma
    assert CATALOG.skus[("azure", "Standard_ND96isr_H100_v5")].rdma_fabric == "infiniband"
    assert not CATALOG.skus[("azure", "Standard_NC40ads_H100_v5")].rdma
    assert CATALOG.skus[("azure", "Standard_NC24ads_A100_v4")].mig_capable
    assert not CATALOG.skus[("azure", "Standard_NC4as_T4_v3")].mig_capable


def test_eea_adds_iceland_liechtenstein_norway_only() -> None:
    assert jurisdictions_of("NO") == {"NO", "EEA"}
    assert jurisdictions_of("FR") == {"FR", "EU", "EEA"}
    assert jurisdictions_of("CH") == {"CH"}


def test_a_spot_price_equal_to_on_demand_is_unknown_on_every_cloud() -> None:
    offer = CATALOG.offers[("aws", "p5.48xlarge", "us-east-1")]
    assert (offer.price_usd_per_hour, offer.spot_price_usd_per_hour) == (55.04, None)
    assert all(
        o.spot_price_usd_per_hour is None or o.spot_price_usd_per_hour != o.price_usd_per_hour
        for o in CATALOG.offers.values()
    )
    assert "spot price equal to on-demand: treated as unknown (aws 26, azure 11 offers)" in CATALOG.corrections
