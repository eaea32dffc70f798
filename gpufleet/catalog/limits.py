"""The clouds' deploy limits and resource-name rules, as sourced data.

Two CSV files next to the catalog hold them (see README.md there): `limits.csv` (quotas and
fixed limits per cloud) and `name_rules.csv` (one row per rule a resource name must meet). Every
row names its source and how far it was confirmed. This module loads them once; it decides
nothing about placement. (AWS's ENI figures, `eni_limits.csv`, and the VPC CNI arithmetic are
AWS knowledge: gpufleet/clouds/aws/vpccni.py.)
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # a type only: the cloud models import this module, the catalog imports them
    from gpufleet.catalog import Cloud

Confidence = Literal["confirmed", "secondary", "inferred", "unconfirmed"]


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit of one cloud: its default value, whether it can be raised, and its source."""

    cloud: Cloud
    key: str
    value: int
    unit: str
    adjustable: bool
    maximum: int | None
    source: str
    confidence: Confidence
    notes: str

    def describe(self) -> str:
        """`aws nodes_per_node_group = 450 nodes (adjustable; <url>)`, for messages and reports."""
        how = "adjustable" if self.adjustable else "fixed"
        if self.adjustable and self.maximum:
            how += f" up to {self.maximum}"
        return f"{self.cloud} {self.key} = {self.value} {self.unit} ({how}; {self.source})"


@dataclass(frozen=True, slots=True)
class NameRule:
    """One rule a resource name must meet: the whole name must match `pattern`."""

    kind: str
    cloud: Cloud
    label: str
    rule: str
    pattern: re.Pattern[str]
    source: str
    confidence: Confidence


def data_rows(name: str) -> Iterable[dict[str, str]]:
    text = resources.files("gpufleet.catalog").joinpath("data", name).read_text(encoding="utf-8")
    return csv.DictReader(text.splitlines())


def optional_int(text: str) -> int | None:
    return int(text) if text else None


@cache
def limits() -> Mapping[tuple[str, str], Limit]:
    """Every limit by (cloud, key) (cached: the data never changes)."""
    return {
        (row["cloud"], row["key"]): Limit(
            cloud=row["cloud"],  # type: ignore[arg-type]  # the data only holds aws and azure
            key=row["key"],
            value=int(row["value"]),
            unit=row["unit"],
            adjustable=row["adjustable"] == "yes",
            maximum=optional_int(row["maximum"]),
            source=row["source"],
            confidence=row["confidence"],  # type: ignore[arg-type]  # checked by the tests
            notes=row["notes"],
        )
        for row in data_rows("limits.csv")
    }


def limit(cloud: str, key: str) -> Limit:
    """The limit `key` of `cloud`; an unknown key is a programming error that lists the known ones."""
    found = limits().get((cloud, key))
    if found is None:
        known = ", ".join(sorted(k for c, k in limits() if c == cloud)) or "none"
        raise KeyError(f"no limit {key!r} for cloud {cloud!r}; known: {known}")
    return found


@cache
def _name_rules() -> Mapping[str, tuple[NameRule, ...]]:
    rules: dict[str, list[NameRule]] = {}
    for row in data_rows("name_rules.csv"):
        rules.setdefault(row["kind"], []).append(NameRule(
            kind=row["kind"],
            cloud=row["cloud"],  # type: ignore[arg-type]  # the data only holds aws and azure
            label=row["label"],
            rule=row["rule"],
            pattern=re.compile(row["pattern"]),
            source=row["source"],
            confidence=row["confidence"],  # type: ignore[arg-type]  # checked by the tests
        ))
    return {kind: tuple(found) for kind, found in rules.items()}


def name_kinds() -> list[str]:
    """Every kind of name that has rules (`eks_cluster`, `aks_agent_pool`, ...)."""
    return sorted(_name_rules())


def name_rules(kind: str) -> tuple[NameRule, ...]:
    """The rules of one kind of name; an unknown kind is a programming error naming the known ones."""
    found = _name_rules().get(kind)
    if found is None:
        raise KeyError(f"no name rules for {kind!r}; known: {', '.join(name_kinds())}")
    return found


def name_problem(kind: str, name: str) -> str | None:
    """None when `name` meets every rule of `kind`; else one message naming each broken rule and its source."""
    broken = [rule for rule in name_rules(kind) if rule.pattern.fullmatch(name) is None]
    if not broken:
        return None
    musts = "; ".join(f"must {rule.rule}" for rule in broken)
    sources = "; ".join(dict.fromkeys(rule.source for rule in broken))
    return f"{broken[0].label} {name!r} {musts} (source: {sources})"
