"""The GPU catalog: SKUs, offers (SKU x region with prices), regions and jurisdictions.

Data lives in CSV files next to this module (see README.md there for sources and dates). This
package knows no cloud: each registered cloud chooses its rows and corrects its known source
errors (`CloudModel.catalog_rows`, `sku_corrections`), and gpufleet.clouds.catalog assembles the
catalog of the registered clouds (`load_catalog`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from importlib import resources
from typing import Literal

Cloud = str  # a registered cloud's name (gpufleet.clouds)
Capacity = Literal["on-demand", "spot", "reserved"]

# The 27 EU member states (ISO 3166-1 alpha-2); the EEA adds Iceland, Liechtenstein and Norway.
EU_COUNTRIES = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "HU",
})
EEA_COUNTRIES = EU_COUNTRIES | {"IS", "LI", "NO"}
JURISDICTION_ALIASES = {"UK": "GB"}

# GPUs that NVIDIA's MIG user guide lists as MIG-capable (A30 is not in the catalog).
MIG_ACCELERATORS = frozenset({"A100", "A100-80GB", "H100", "H200", "B200", "B300"})

DECLARED_SOURCE = "declared by the spec"
"""The source of a SKU the spec's `skus:` declares (docs/design.md, "The spec")."""
CAPACITY_BLOCK = "capacity-block"
"""A rack sold only as EC2 Capacity Blocks (racks.csv `sold_as`)."""

def jurisdictions_of(country: str) -> frozenset[str]:
    """Jurisdictions a country belongs to: itself, and EU/EEA by membership (never by name)."""
    found = {country}
    if country in EU_COUNTRIES:
        found.add("EU")
    if country in EEA_COUNTRIES:
        found.add("EEA")
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Rack:
    """A rack-scale unit a SKU comes in (racks.csv): `instances` nodes joined by one NVLink or
    NeuronLink domain, sold as EC2 Capacity Blocks only or like any instance."""

    name: str
    instances: int
    interconnect: str
    sold_as: str
    source: str


@dataclass(frozen=True, slots=True)
class Sku:
    """Facts about one instance type / VM size, independent of region. `family` is the device
    stack its accelerator needs in a cluster (accelerators.csv: nvidia, neuron, amd); `racks`
    the rack-scale units it comes in; `source` and `confidence` where its facts come from
    (`DECLARED_SOURCE` for the spec's own SKUs)."""

    cloud: Cloud
    instance_type: str
    accelerator: str
    gpus: int
    vcpus: int
    memory_gib: float
    arch: str
    quota_bucket: str
    spot_quota_bucket: str
    rdma_interfaces: int = 0
    rdma_fabric: str = ""
    family: str = "nvidia"
    racks: tuple[Rack, ...] = ()
    source: str = ""
    confidence: str = ""

    @property
    def rdma(self) -> bool:
        return self.rdma_interfaces > 0

    @property
    def declared(self) -> bool:
        """Declared by the spec (`skus:`), not a catalog row."""
        return self.source == DECLARED_SOURCE

    @property
    def capacity_block_only(self) -> bool:
        """Sold only as EC2 Capacity Blocks (of UltraServers): no on-demand or spot nodes."""
        return any(rack.sold_as == CAPACITY_BLOCK for rack in self.racks)

    @property
    def multi_node_nvlink(self) -> bool:
        """Nodes of one rack share an NVLink domain (GB200/GB300 NVL72): IMEX across nodes."""
        return any(rack.interconnect == "nvlink" for rack in self.racks)

    @property
    def mig_capable(self) -> bool:
        return self.accelerator in MIG_ACCELERATORS

    def bucket_for(self, capacity: Capacity) -> str:
        """Quota bucket that a node of this SKU draws on for the given capacity type."""
        return self.spot_quota_bucket if capacity == "spot" else self.quota_bucket


@dataclass(frozen=True, slots=True)
class Region:
    cloud: Cloud
    region: str
    display_name: str
    country: str
    source: str

    @property
    def jurisdictions(self) -> frozenset[str]:
        return jurisdictions_of(self.country)


@dataclass(frozen=True, slots=True)
class Offer:
    """A SKU in a region with its $/hour; a price is None where no source gives one."""

    sku: Sku
    region: str
    price_usd_per_hour: float | None
    spot_price_usd_per_hour: float | None
    source: str
    spot_source: str = ""

    @property
    def cloud(self) -> Cloud:
        return self.sku.cloud

    @property
    def key(self) -> str:
        return f"{self.sku.cloud}/{self.region}/{self.sku.instance_type}"

    def hourly(self, capacity: Capacity) -> float | None:
        """$/hour for a node; reserved capacity is priced at on-demand unless the price book says."""
        return self.spot_price_usd_per_hour if capacity == "spot" else self.price_usd_per_hour

    def price_source(self, capacity: Capacity) -> str:
        return (self.spot_source or self.source) if capacity == "spot" else self.source


# Price-book keys `cloud/transfer/kind` set a transfer rate (gpufleet.catalog.transfer).
TRANSFER_SEGMENT = "transfer"


def price_key(cloud: str, region: str, instance_type: str, *, spot: bool = False) -> str:
    """Key of a price-book entry: `cloud/region/sku` (on-demand) or `cloud/region/sku:spot`."""
    return f"{cloud}/{region}/{instance_type}" + (":spot" if spot else "")


@dataclass(frozen=True)
class Catalog:
    skus: Mapping[tuple[str, str], Sku]
    regions: Mapping[tuple[str, str], Region]
    offers: Mapping[tuple[str, str, str], Offer]
    corrections: tuple[str, ...] = field(default=())
    transfer_prices: Mapping[str, float] = field(default_factory=dict[str, float])
    """Price-book transfer rates by key `cloud/transfer/kind` (gpufleet.catalog.transfer)."""
    families: Mapping[str, str] = field(default_factory=dict[str, str])
    """Accelerator name -> device family (accelerators.csv); every SKU's accelerator has one."""
    unlisted: Mapping[tuple[str, str], str] = field(default_factory=dict[tuple[str, str], str])
    """(cloud, instance type) -> why a name the clouds use is not a catalog row (unlisted.csv)."""
    transfer_rows: Mapping[str, tuple[Mapping[str, str], ...]] = field(
        default_factory=dict[str, tuple[Mapping[str, str], ...]]
    )
    """Each cloud's rows of data/transfer_rates.csv (or its own), by cloud."""
    discounts: Mapping[Cloud, float] = field(default_factory=dict[Cloud, float])
    """A contract's discount on each cloud's list prices (`with_discounts`); the price book's
    entries are negotiated rates already and are not discounted."""

    def discount(self, cloud: Cloud) -> float:
        return self.discounts.get(cloud, 0.0)

    def accelerators(self) -> list[str]:
        return sorted({sku.accelerator for sku in self.skus.values()})

    def region_names(self, cloud: str) -> list[str]:
        return sorted(r.region for r in self.regions.values() if r.cloud == cloud)

    def region(self, cloud: str, region: str) -> Region | None:
        return self.regions.get((cloud, region))

    def sku(self, cloud: str, instance_type: str) -> Sku | None:
        return self.skus.get((cloud, instance_type))

    def known_jurisdictions(self) -> list[str]:
        countries = {r.country for r in self.regions.values()}
        return sorted(countries | {"EU", "EEA", *JURISDICTION_ALIASES})

    @cached_property
    def _offers_by_place(self) -> dict[tuple[str, str, str], list[Offer]]:
        index: dict[tuple[str, str, str], list[Offer]] = {}
        for offer in sorted(self.offers.values(), key=lambda o: o.sku.instance_type):
            index.setdefault((offer.sku.accelerator, offer.cloud, offer.region), []).append(offer)
        return index

    def offers_for(self, accelerator: str, cloud: str, region: str) -> list[Offer]:
        """Every offer of an accelerator in a region (priced or not), by instance type."""
        return self._offers_by_place.get((accelerator, cloud, region), [])

    def skus_for(self, accelerator: str, cloud: str) -> list[Sku]:
        return sorted(
            (s for s in self.skus.values() if s.cloud == cloud and s.accelerator == accelerator),
            key=lambda s: s.instance_type,
        )

    def fabric_of(self, cloud: str) -> str:
        """The RDMA fabric the cloud's RDMA SKUs use (rdma.csv: efa, infiniband), or ''."""
        return next((s.rdma_fabric for s in self.skus.values() if s.cloud == cloud and s.rdma), "")

    def with_declared(self, declared: Iterable[Sku]) -> Catalog:
        """A catalog with the spec's own SKUs added (`skus:`); they have no offer until the
        price book gives one. A declared SKU never replaces a catalog row (the spec refuses it)."""
        added = {(s.cloud, s.instance_type): s for s in declared if (s.cloud, s.instance_type) not in self.skus}
        return replace(self, skus={**self.skus, **added}) if added else self

    def with_discounts(self, discounts: Mapping[Cloud, float]) -> Catalog:
        """A catalog whose list prices are a contract's discount lower on its cloud, each
        offer's source saying so; lay the price book over it afterwards (its entries stand)."""
        discounts = {cloud: d for cloud, d in discounts.items() if d > 0}
        if not discounts:
            return self
        offers = {
            key: _discounted_offer(offer, discounts[offer.cloud]) if offer.cloud in discounts else offer
            for key, offer in self.offers.items()
        }
        return replace(self, offers=offers, discounts=discounts)

    def with_price_book(self, prices: Mapping[str, float], label: str = "price book") -> Catalog:
        """A catalog where price-book entries override (or add) offers; keys are validated by the spec."""
        offers = dict(self.offers)
        transfer = dict(self.transfer_prices)
        for key, price in prices.items():
            if key.split("/")[1:2] == [TRANSFER_SEGMENT]:
                transfer[key] = price
                continue
            path, _, kind = key.partition(":")
            cloud, region, instance_type = path.split("/")
            sku = self.skus[(cloud, instance_type)]
            current = offers.get((cloud, instance_type, region)) or Offer(sku, region, None, None, "")
            if kind == "spot":
                current = replace(current, spot_price_usd_per_hour=price, spot_source=f"{label}: {key}")
            else:
                current = replace(current, price_usd_per_hour=price, source=f"{label}: {key}")
            offers[(cloud, instance_type, region)] = current
        return replace(self, offers=offers, transfer_prices=transfer)


def discount_note(cloud: Cloud, discount: float) -> str:
    """How a list price was discounted, for a price's source."""
    return f"less the {cloud} commitment's {100 * discount:.4g} % discount"


def _discounted_offer(offer: Offer, discount: float) -> Offer:
    def less(price: float | None) -> float | None:
        return None if price is None else price * (1 - discount)

    def note(source: str, price: float | None) -> str:
        return source if price is None else f"{source}; list ${price:g}/h {discount_note(offer.cloud, discount)}"

    return replace(
        offer,
        price_usd_per_hour=less(offer.price_usd_per_hour),
        spot_price_usd_per_hour=less(offer.spot_price_usd_per_hour),
        source=note(offer.source, offer.price_usd_per_hour),
        spot_source=note(offer.spot_source or offer.source, offer.spot_price_usd_per_hour),
    )


@cache
def packaged_rows(table: str) -> tuple[dict[str, str], ...]:
    """The rows of a CSV table shipped in catalog/data/ (every cloud's)."""
    text = resources.files(__name__).joinpath("data", f"{table}.csv").read_text(encoding="utf-8")
    return tuple(csv.DictReader(text.splitlines()))
