"""The explanation and scenario tables (`gpufleet explain`, `plan --explain`, `plan
--price-change`), from the plan JSON's `explain` and `scenario` keys: the terminal and the
markdown show what the JSON holds, nothing cut (gpufleet.tables)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gpufleet.tables import Row

Table = tuple[str, Row, list[Row]]

EXPLAIN_HEADER: Row = ("pool", "cloud/region", "SKU", "nodes", "reason", "$/h today", "break-even $/h",
                       "nodes then", "why")
EXPLAIN_TITLE = "Why not there: offers left empty or short, and the price that would change it"


def _price(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:,.2f}" if value >= 1 or round(value, 2) == value else f"${value:.4f}"


def explain_rows(explained: Sequence[Mapping[str, Any]]) -> list[Row]:
    return [
        (e["pool"], f"{e['cloud']}/{e['region']}", e["instance_type"], str(e["nodes"]), e["reason"],
         _price(e["price_usd_per_hour"]), _price(e["break_even_usd_per_hour"]),
         "-" if e["nodes_at_break_even"] is None else str(e["nodes_at_break_even"]), e["sentence"])
        for e in explained
    ]


def explain_tables(doc: dict[str, Any]) -> list[Table]:
    """The plan's `explain` table, when it has one."""
    if "explain" not in doc:
        return []
    return [(EXPLAIN_TITLE, EXPLAIN_HEADER, explain_rows(doc["explain"]))]


def scenario_tables(doc: dict[str, Any]) -> list[Table]:
    """A what-if plan's changes (its diff against the plan without them is rendered after the plan)."""
    if "scenario" not in doc:
        return []
    found = doc["scenario"]
    changes: list[Row] = [
        (c["change"], f"{c['offers']} prices scaled by {c['percent']:+g} %") for c in found["price_changes"]
    ]
    changes += [
        (c["change"], f"{c['cloud']}/{c['region']} {c['bucket']}: "
                      f"{'undeclared' if c['before'] is None else c['before']} → {c['after']}")
        for c in found["quota_changes"]
    ]
    return [("What if: the changes planned (the diff to the plan without them follows)", ("change", "rule"), changes)]


