"""What-if scenarios in one flag: `plan --price-change aws=-15%` and `--quota
aws/us-west-2/L-417A185B=+1536` re-plan the spec with its prices or quotas changed.

A scenario is written into the spec, never beside it: a price change lays the scaled prices
over the price book (every offer it selects in the spec's regions, at the price the spec pays
today, on-demand and spot, contract discounts included, rounded to $0.000001), a quota change
sets the declared quota. So the scenario's plan is, byte for byte, the plan of the spec a
reviewer would write by hand, and everything downstream (placement, cost, policies, diff)
reads it as any spec. Changes apply in the order given; two on one offer compound.
docs/explain.md, "What if".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from gpufleet.catalog import Catalog, price_key
from gpufleet.errors import CommandLineError, Problem
from gpufleet.explainjson import PriceChangeDoc, QuotaChangeDoc
from gpufleet.spec import FleetSpec
from gpufleet.specmodel import known_buckets
from gpufleet.specwords import one_of, spelled_as

PRICE_FLAG = "--price-change"
QUOTA_FLAG = "--quota"
_PERCENT = re.compile(r"^([+-]?\d+(?:\.\d+)?)%$")
_UNITS = re.compile(r"^([+-]?)(\d+)$")
PRICE_DIGITS = 6
"""Scaled prices are rounded to a millionth of a dollar (the price book keeps floats)."""


@dataclass(frozen=True)
class Scenario:
    """The scenario's flags, checked against the spec, and the price book and quotas they make."""

    prices: dict[str, float]
    quotas: dict[str, dict[str, dict[str, int]]]
    price_changes: tuple[PriceChangeDoc, ...]
    quota_changes: tuple[QuotaChangeDoc, ...]

    def applied(self, data: object) -> object:
        """The raw fleet mapping with the scenario written in (the original is not changed)."""
        if not isinstance(data, Mapping):
            return data
        fleet = dict(cast(Mapping[str, Any], data))
        if self.price_changes:
            fleet["prices"] = dict(self.prices)
        if self.quota_changes:
            fleet["quotas"] = self.quotas
        return fleet


def scenario(spec: FleetSpec, price_changes: Sequence[str], quota_changes: Sequence[str]) -> Scenario:
    """The scenario of `--price-change` and `--quota` values; a value that names no cloud,
    region, SKU or bucket of the spec, or a malformed change, is refused naming it."""
    catalog = spec.catalog()
    prices = dict(spec.prices)
    priced: list[PriceChangeDoc] = []
    for text in price_changes:
        target, amount = _split(PRICE_FLAG, text)
        percent = _percent(PRICE_FLAG, text, amount)
        cloud, region, sku = _selector(spec, catalog, PRICE_FLAG, text, target)
        factor = 1 + percent / 100
        changed = 0
        for key, today in _prices(spec, catalog, cloud, region, sku):
            prices[key] = round(prices.get(key, today) * factor, PRICE_DIGITS)
            changed += 1
        priced.append({"change": text, "percent": percent, "offers": changed})
    quotas = {c: {r: dict(b) for r, b in regions.items()} for c, regions in spec.quotas.items()}
    changed_quotas: list[QuotaChangeDoc] = []
    for text in quota_changes:
        target, amount = _split(QUOTA_FLAG, text)
        relative, units = _units(QUOTA_FLAG, text, amount)
        cloud, region, bucket = _bucket(spec, catalog, text, target)
        here = quotas.setdefault(cloud, {}).setdefault(region, {})
        before = here.get(bucket)
        if relative and before is None:
            raise CommandLineError([Problem(QUOTA_FLAG, (
                f"{text}: {cloud}/{region} declares no {bucket} quota to change by {units:+d}; declare it under "
                f"quotas.{cloud}.{region} or give the new limit (={abs(units)})"
            ))])
        after = (before or 0) + units if relative else units
        if after < 0:
            raise CommandLineError([Problem(QUOTA_FLAG, f"{text}: {bucket} would be {after}; a quota is at least 0")])
        here[bucket] = after
        changed_quotas.append({"change": text, "cloud": cloud, "region": region, "bucket": bucket,
                               "before": before, "after": after})
    return Scenario(prices, quotas, tuple(priced), tuple(changed_quotas))


def _split(flag: str, text: str) -> tuple[str, str]:
    target, sign, amount = text.partition("=")
    if not sign or not target:
        raise CommandLineError([Problem(flag, f"{text!r}: expected TARGET=CHANGE, e.g. {_EXAMPLES[flag]}")])
    return target, amount


_EXAMPLES = {PRICE_FLAG: "aws=-15%, azure/swedencentral=-10%, aws/*/p5.48xlarge=-20%",
             QUOTA_FLAG: "aws/us-west-2/L-417A185B=+1536 (or =2048 for the new limit)"}


def _percent(flag: str, text: str, amount: str) -> float:
    found = _PERCENT.match(amount.strip())
    percent = float(found.group(1)) if found else None
    if percent is None or not -100 < percent <= 1000:
        raise CommandLineError([Problem(flag, (
            f"{text!r}: the change must be a percentage above -100% and at most +1000%, e.g. -15% or +7.5%"
        ))])
    return percent


def _units(flag: str, text: str, amount: str) -> tuple[bool, int]:
    found = _UNITS.match(amount.strip())
    if found is None:
        raise CommandLineError([Problem(flag, (
            f"{text!r}: the change must be whole units, +N or -N to change the declared quota, N to set it"
        ))])
    sign, digits = found.groups()
    return bool(sign), -int(digits) if sign == "-" else int(digits)


def _cloud(spec: FleetSpec, flag: str, text: str, name: str) -> str:
    configured = spec.clouds.configured()
    if name not in configured:
        raise CommandLineError([Problem(flag, f"{text}: {one_of('cloud', name, configured)} (the spec's clouds)")])
    return name


def _region(spec: FleetSpec, flag: str, text: str, cloud: str, name: str) -> str:
    regions = list(spec.clouds.regions_of(cloud))
    if name not in regions:
        raise CommandLineError([Problem(flag, (
            f"{text}: {one_of(f'{cloud} region', name, regions)} (the spec's clouds.{cloud}.regions)"
        ))])
    return name


def _selector(
    spec: FleetSpec, catalog: Catalog, flag: str, text: str, target: str
) -> tuple[str, str | None, str | None]:
    """(cloud, region or None for any, SKU or None for any) of `cloud[/region[/sku]]`."""
    parts = target.split("/")
    if len(parts) > 3:
        raise CommandLineError([Problem(flag, f"{text}: expected cloud, cloud/region or cloud/region/sku")])
    cloud = _cloud(spec, flag, text, parts[0])
    region = None if len(parts) < 2 or parts[1] == "*" else _region(spec, flag, text, cloud, parts[1])
    sku = None
    if len(parts) == 3 and parts[2] != "*":
        known = sorted(s.instance_type for s in catalog.skus.values() if s.cloud == cloud)
        sku = spelled_as(parts[2], known)
        if sku is None:
            raise CommandLineError([Problem(flag, f"{text}: {one_of(f'{cloud} SKU', parts[2], known)}")])
    return cloud, region, sku


def _prices(
    spec: FleetSpec, catalog: Catalog, cloud: str, region: str | None, sku: str | None
) -> list[tuple[str, float]]:
    """Price-book keys and today's prices of the selected offers of the pools' accelerators in
    the spec's regions."""
    accelerators = sorted({name for pool in spec.pools for name in pool.accelerators()})
    found: list[tuple[str, float]] = []
    for name in spec.clouds.regions_of(cloud):
        if region not in (None, name):
            continue
        for accelerator in accelerators:
            for offer in catalog.offers_for(accelerator, cloud, name):
                if sku not in (None, offer.sku.instance_type):
                    continue
                for spot, price in ((False, offer.price_usd_per_hour), (True, offer.spot_price_usd_per_hour)):
                    if price is not None:
                        found.append((price_key(cloud, name, offer.sku.instance_type, spot=spot), price))
    return found


def _bucket(spec: FleetSpec, catalog: Catalog, text: str, target: str) -> tuple[str, str, str]:
    parts = target.split("/")
    if len(parts) != 3:
        raise CommandLineError([Problem(QUOTA_FLAG, f"{text}: expected cloud/region/bucket=CHANGE")])
    cloud = _cloud(spec, QUOTA_FLAG, text, parts[0])
    region = _region(spec, QUOTA_FLAG, text, cloud, parts[1])
    known = known_buckets(catalog, cloud)
    bucket = spelled_as(parts[2], known)
    if bucket is None:
        raise CommandLineError([Problem(QUOTA_FLAG, f"{text}: {one_of(f'{cloud} quota bucket', parts[2], known)}")])
    declared = spec.quotas.get(cloud, {}).get(region, {})
    return cloud, region, next((b for b in declared if b.lower() == bucket.lower()), bucket)

