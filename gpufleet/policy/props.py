"""What the policies read besides raw inputs (gpufleet/clouds/inputs.py): the catalog with the
policy's price book, jurisdictions and allowed regions, and how messages name a resource."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from pydantic import ValidationError

from gpufleet.catalog import JURISDICTION_ALIASES, Catalog, Region, Sku
from gpufleet.clouds.catalog import load_catalog
from gpufleet.clouds.inputs import get, is_true, items, mapping, number, text
from gpufleet.specmodel import DeclaredSku

__all__ = [
    "allowed_regions", "allowed_set", "catalog", "describe", "get", "is_true", "items", "mapping",
    "number", "plain", "region_allowed", "text",
]


def plain(value: Any) -> Any:
    """The value as plain dicts, lists and scalars (the engine hands proxies over, which
    json.dumps cannot encode); parts not known in a preview are left out."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in mapping(cast(object, value)).items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [plain(v) for v in items(cast(object, value))]
    return value


def catalog(
    prices: Mapping[str, Any] | None = None,
    skus: Mapping[str, Any] | None = None,
    discounts: Mapping[str, Any] | None = None,
) -> Catalog:
    """The packaged catalog with the spec's declared SKUs (policy config `skus`, as the spec's
    `skus:`), a contract's discount off each cloud's list prices (`discounts`) and a price book
    (`prices`) laid over it, as `FleetSpec.catalog` makes it. A declaration the spec's rules
    would refuse is left out: its pools then count as no GPU SKU, as any unknown type."""
    base = load_catalog()
    declared: list[Sku] = []
    for key, facts in (skus or {}).items():
        try:
            found = DeclaredSku.model_validate(facts).sku(str(key), base)
        except ValidationError:
            continue
        if found is not None:
            declared.append(found)
    book = {str(k): float(v) for k, v in (prices or {}).items() if number(v) is not None}
    off = {str(k): float(v) for k, v in (discounts or {}).items() if number(v) is not None}
    priced = base.with_declared(declared).with_discounts(off)
    return priced.with_price_book(book) if book else priced


def allowed_set(jurisdictions: object) -> frozenset[str]:
    return frozenset(JURISDICTION_ALIASES.get(str(j), str(j)) for j in items(jurisdictions))


def region_allowed(region: Region, allowed: frozenset[str]) -> bool:
    return bool(region.jurisdictions & allowed)


def allowed_regions(cloud: str, allowed: frozenset[str], limit: int = 12) -> str:
    """The catalog's regions of a cloud inside the allowed jurisdictions, for messages."""
    names = sorted(
        r.region for r in load_catalog().regions.values()
        if r.cloud == cloud and r.jurisdictions & allowed
    )
    shown = ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")
    return shown or "none in the catalog"


def describe(resource_type: str, name: str) -> str:
    """How a message names a resource: its type token and logical name."""
    return f"{resource_type} '{name}'"
