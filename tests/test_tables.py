"""Terminal tables never cut a value (gpufleet/tables.py, docs/output.md).

The property: every table of every fixture, at every width from 60 to 200 where its layout
changes and at widths drawn between, shows each cell whole (a free-text cell may wrap, but only
at its spaces) or reports its column as left out; and a line is wider than the terminal only
when one word is.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

import pytest

from gpufleet.diff import diff_documents
from gpufleet.live.prices import HEADER as PRICE_HEADER
from gpufleet.live.quotas import HEADER as QUOTA_HEADER
from gpufleet.live.quotas import quotas_document, table_rows
from gpufleet.pipeline import build_plan
from gpufleet.planjson import interconnect_json
from gpufleet.policy import PolicyVerdict, Violation
from gpufleet.report import (
    VERDICT_HEADER,
    catalog_tables,
    plan_tables,
    render_plan,
    verdict_rows,
)
from gpufleet.spec import load_fleet
from gpufleet.tables import (
    CONTINUED,
    LIST_INDENT,
    LIST_MARK,
    WRAPPING_COLUMNS,
    compact_row,
    console_for,
    layout,
    print_table,
)
from tests.conftest import fleet_of
from tests.test_offline import document
from tests.test_terminal import with_violation

WIDTHS = range(60, 201)


def _linked(doc: dict[str, Any]) -> dict[str, Any]:
    """dev's document with the link its fleet gets with `interconnect: vpn` (ASNs, /30s)."""
    fleet = {**fleet_of("dev"), "network": {"supernet": "10.128.0.0/10", "interconnect": "vpn"}}
    plan = build_plan(load_fleet(fleet), "dev")
    assert plan.link is not None
    return {**doc, "interconnect": interconnect_json(plan.link)}


def _replanned(doc: dict[str, Any]) -> dict[str, Any]:
    """prod-eu's document as a re-plan around a shortfall shows it: kept, moved, taken out."""
    found = copy.deepcopy(doc)
    found["previous"] = {
        "nodes": 574, "kept_nodes": 446, "stability_tolerance": 0.01, "max_extra_usd": 482345.0,
        "moved": [
            {"pool": "train-b200", "offer": "aws/us-east-2/p6-b200.48xlarge", "before": 191, "after": 0,
             "reason": "address", "sentence": "aws/us-east-2's node subnets hold no more nodes: they went to "
                                              "aws/us-west-2 to make room for h200, moved as unavailable"},
            {"pool": "train-b200", "offer": "aws/us-west-2/p6-b200.48xlarge", "before": 0, "after": 191,
             "reason": "address", "sentence": "took 191 nodes moved for address"},
        ],
    }
    found["capacity"] = {"unavailable": ["aws/us-east-1/p5en.48xlarge"], "available": {"aws/us-west-2/p5.48xlarge": 12},
                         "offers_out": ["aws/us-east-1/p5en.48xlarge: capacity.unavailable 'aws/us-east-1/p5en.48xlarge'"]}
    return found


AnyTable = tuple[str, Sequence[str], Sequence[Sequence[str]]]


@cache
def fixtures() -> dict[str, Sequence[AnyTable]]:
    dev, prod = document("dev"), document("prod-eu")
    verdicts = [PolicyVerdict("sovereignty-allowed-regions", "mandatory", [Violation("urn", "region us-east-1 is "
                "in US, outside EU; allowed: EU (pools[0].accelerator, [aws] 169.254.21.144/30)")]),
                PolicyVerdict("required-tags", "advisory")]
    return {
        "dev": plan_tables(dev),
        "prod-eu with a violation": plan_tables(with_violation(prod)),
        "dev with a vpn link": plan_tables(_linked(dev)),
        "prod-eu re-planned": plan_tables(_replanned(prod)),
        "diff dev → prod-eu": diff_documents(dev, prod).sections(),
        "verdicts": [("Policy verdicts", VERDICT_HEADER, verdict_rows(verdicts))],
        "catalog of H100": catalog_tables(None, "H100", None),
        "quotas of prod-eu": [("Declared quotas (vCPUs)", QUOTA_HEADER,
                               table_rows(quotas_document(load_fleet(fleet_of("prod-eu")), [], [])))],
        "refreshed prices": [("Refreshed prices", PRICE_HEADER, [
            ("azure", "Standard_ND96isr_H100_v5", "swedencentral", "- -> 107.84", "- -> 32.35",
             "azure retail prices api at 2026-06-01T00:00:00Z")])],
    }


def _widths_to_try(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    """Both sides of every width where the table's layout changes (a column left out, the
    list), the ends, and three widths drawn between (seeded by the table)."""
    kinds = {w: (shape.keep if (shape := layout(header, rows, w)) else None) for w in WIDTHS}
    edges = {w for w in WIDTHS[1:] if kinds[w] != kinds[w - 1]} | {w - 1 for w in WIDTHS[1:] if kinds[w] != kinds[w - 1]}
    drawn = random.Random(" ".join(header)).sample(list(WIDTHS), 3)
    return sorted(edges | {WIDTHS[0], WIDTHS[-1], *drawn})


def _normal(text: str) -> str:
    return " ".join(text.split())


def _check_table(text: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A box table: each kept column's cells, read down the column, are the rows' values; a
    column missing from it is named in the caption."""
    lines = text.splitlines()
    data = [line.split("│")[1:-1] for line in lines if line.startswith("│")]
    heads = [line.split("┃")[1:-1] for line in lines if line.startswith("┃")]
    kept = [_normal(" ".join(part[j] for part in heads)) for j in range(len(heads[0]))]
    bottom = next(n for n, line in enumerate(lines) if line.startswith("└"))
    caption = " ".join(line.strip() for line in lines[bottom + 1:])
    dropped = caption.removeprefix("not shown at this width: ").split(", ") if caption else []
    assert sorted([*kept, *dropped]) == sorted(header), (kept, dropped)
    for j, name in enumerate(kept):
        i = list(header).index(name)
        shown = [part[j].strip() for part in data if part[j].strip()]
        values = [row[i] for row in rows if row[i].strip()]
        if name in WRAPPING_COLUMNS:
            assert " ".join(shown) == " ".join(_normal(v) for v in values), name
        else:
            assert shown == values, name


def _check_list(text: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A list: a block per row, on one line or a field per column in order, free text joined
    at its wraps."""
    lines = text.splitlines()
    at = next((n for n, line in enumerate(lines) if line.startswith(LIST_MARK)), len(lines))
    for row in rows:
        if lines[at] == compact_row(header, row):
            at += 1
            continue
        for i, (name, value) in enumerate(zip(header, row, strict=True)):
            lead = (LIST_MARK if i == 0 else LIST_INDENT) + f"{name}:"
            assert lines[at].startswith(lead), (lines[at], lead)
            parts = [lines[at].removeprefix(lead).strip()] if lines[at] != lead else []
            at += 1
            while at < len(lines) and lines[at].startswith(CONTINUED):
                parts.append(lines[at].removeprefix(CONTINUED))
                at += 1
            if name in WRAPPING_COLUMNS:
                assert " ".join(parts) == _normal(value), name
            else:
                assert parts == ([value] if value else []), name
    assert lines[at:] in ([], [f"{LIST_INDENT}(none)"])


FIXTURES = ("dev", "prod-eu with a violation", "dev with a vpn link", "prod-eu re-planned", "diff dev → prod-eu",
            "verdicts", "catalog of H100", "quotas of prod-eu", "refreshed prices")


def test_the_fixtures_are_every_fixture() -> None:
    assert tuple(fixtures()) == FIXTURES


@pytest.mark.parametrize("fixture", FIXTURES)
def test_every_cell_is_whole_or_its_column_is_named_at_every_width(fixture: str) -> None:
    for title, header, rows in fixtures()[fixture]:
        for width in _widths_to_try(header, rows):
            console = console_for(width)
            print_table(console, title, header, rows)
            text = console.export_text()
            for line in text.splitlines():
                assert len(line) <= width or len(line.strip().split()) == 1 or re.match(r"\s+\S+$", line), (
                    f"{title} at {width}: {line!r}"
                )
            try:
                if not rows:
                    assert text == f"{title}: none\n"
                elif layout(header, rows, width) is None:
                    _check_list(text, header, rows)
                else:
                    _check_table(text, header, rows)
            except AssertionError as error:
                raise AssertionError(f"{fixture}: {title} at {width} columns:\n{text}") from error


def test_the_issues_cuts_at_100_columns_are_gone() -> None:
    """ASN 64542 as 6454, 169.254.21.144/30 as /3, a Moved table without 'after', Resources
    with cloud 'a' and region 'us-e', the budget under 'above commitment'."""
    doc = _replanned(_linked(document("dev")))
    text = render_plan(doc, "table", 100)
    tunnels = text[text.index("Link tunnels"):text.index("Link routes")]
    asn = str(doc["interconnect"]["sites"][0]["asn"])
    cidr = doc["interconnect"]["tunnels"][0]["inside_cidr"]
    assert re.search(rf"│ {asn} +│", tunnels)
    assert re.search(rf"│ {re.escape(cidr)} +│", tunnels)
    moved = text[text.index("Moved from the previous plan"):text.index("Capacity the clouds")]
    assert "after" in moved
    assert re.search(r"│ 191 +│ 0 +│", moved)
    resources = text[text.index("Resources ("):]
    assert "- cloud: aws; region: us-east-1; type: aws:ec2/vpc:Vpc; count: 1" in resources.splitlines()
    cost = text[text.index("Cost per month"):text.index("Where each price")]
    assert "budget" not in cost.split("Budget per month")[0]
    assert re.search(r"│ \$5,000 +│ \$\d[\d,]* +│ \$\d[\d,]* +│ \d+% +│", cost)


def test_a_table_too_wide_for_any_column_drop_is_a_list_with_every_column() -> None:
    header = ("name", "CIDR", "ASN")
    rows = [("a-rather-long-name-of-a-region-pair", "169.254.21.144/30", "64542")]
    console = console_for(60)
    print_table(console, "Wide", header, [(rows[0][0] * 2, rows[0][1], rows[0][2])])
    text = console.export_text()
    assert text.splitlines()[0] == "Wide (a list: the table is wider than 60 columns)"
    assert "  CIDR: 169.254.21.144/30" in text.splitlines()
    assert "  ASN: 64542" in text.splitlines()


def test_a_table_without_rows_says_none_instead_of_a_header_over_nothing() -> None:
    from rich.console import Console

    console = Console(width=100, record=True)
    print_table(console, "Storage", ("name", "cloud", "region", "TiB", "protected"), [])
    assert console.export_text() == "Storage: none\n"
