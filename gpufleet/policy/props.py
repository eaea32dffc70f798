"""Reading resource properties as the engine sends them: camelCase, proxied, maybe unknown.

The CrossGuard runtime hands validators `Mapping`/`Sequence` proxies (not dicts and lists), and
a provider's nested inputs arrive JSON-encoded (the SDK serialises them), so every read goes
through these helpers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from pulumi_policy.proxy import UnknownValueError

from gpufleet.catalog import JURISDICTION_ALIASES, Catalog, Region, load_catalog
from gpufleet.clouds.base import decoded

mapping = decoded  # the value as a mapping; JSON-encoded provider inputs decoded; else empty


def items(value: object) -> list[Any]:
    """The value as a list (proxied sequences included); a string or scalar gives [].

    Elements not known during preview are left out.
    """
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return []
    sequence = cast(Sequence[Any], value)
    found: list[Any] = []
    for index in range(len(sequence)):
        try:
            found.append(sequence[index])
        except UnknownValueError:
            continue
    return found


def get(props: object, *path: str) -> Any:
    """props[a][b]... or None where a step is missing or not known during preview.

    An unknown value reads as missing, so a guard that needs it fails closed instead of the
    runtime skipping the whole policy with an advisory note.
    """
    value: Any = props
    for key in path:
        current = mapping(value)
        try:
            if key not in current:
                return None
            value = current[key]
        except UnknownValueError:
            return None
    return value


def text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def is_true(value: object) -> bool:
    """True for True and 'true' (some inputs, e.g. launch-template EBS `encrypted`, are strings)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def catalog(prices: Mapping[str, Any] | None = None) -> Catalog:
    """The packaged catalog with a price book (policy config `prices`) laid over it."""
    book = {str(k): float(v) for k, v in (prices or {}).items() if number(v) is not None}
    return load_catalog().with_price_book(book) if book else load_catalog()


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
