"""The plan over time, rendered from the plan document (`schedule`, `commitments`): the schedule
and burn report tables, a bar chart of each checkpoint's burn against its minimum for the
terminal, and a Mermaid `xychart-beta` burn-down per contract for Markdown (GitHub renders it).
Plans without a horizon have none of these keys and render as they always did."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

Row = Sequence[str]
Section = tuple[str, Row, list[Row]]

BAR_WIDTH = 30  # characters of the terminal bar at 100 % of a checkpoint's minimum, where it fits


def usd(value: float) -> str:
    return f"${value:,.0f}"


def _gpus(period: dict[str, Any]) -> str:
    return ", ".join(f"{pool['name']} {pool['gpus']:,}" for pool in period["pools"])


def _nodes(period: dict[str, Any]) -> str:
    by_cloud: dict[str, int] = {}
    for pool in period["pools"]:
        for p in pool["placements"]:
            by_cloud[p["cloud"]] = by_cloud.get(p["cloud"], 0) + p["nodes"]
    return ", ".join(f"{cloud} {n:,}" for cloud, n in by_cloud.items()) or "-"


def _commitments(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], doc.get("commitments") or [])


def burn_sections(doc: dict[str, Any]) -> list[Section]:
    """The schedule (each period's GPUs, nodes and spend by cloud, nodes moved) and the burn
    report (per contract and checkpoint: committed, planned burn, shortfall or over-run)."""
    horizon = doc.get("horizon")
    if not horizon:
        return []
    clouds = sorted({c for p in doc["schedule"] for c in p["cost_by_cloud"]})
    schedule: list[Row] = [
        (p["period"] + (" (deployed)" if p["period"] == horizon["deployed"] else ""), str(p["months"]), _gpus(p),
         _nodes(p), *(usd(p["cost_by_cloud"].get(c, 0.0)) for c in clouds), str(p["moved_nodes"]))
        for p in doc["schedule"]
    ]
    burn: list[Row] = []
    for c in _commitments(doc):
        for w in c["periods"]:
            balance = w["over_usd"] - w["shortfall_usd"]
            burn.append((c["cloud"], w["label"], w["end"], w["due"] + ("*" if w["paced"] else ""),
                         usd(w["minimum_usd"]), usd(w["burn_usd"]), ("+" if balance >= 0 else "-") + usd(abs(balance))))
    totals: list[Row] = [
        (c["cloud"], c["end"], usd(c["total_usd"]), c["treatment"], c["used_up"] or "not in term",
         usd(c["shortfall_cost_usd"]), usd(c["credit_drawn_usd"]))
        for c in _commitments(doc)
    ]
    sections: list[Section] = [
        (f"Schedule ({horizon['months']} months by {horizon['period']}; this plan deploys {horizon['deployed']})",
         ("period", "months", "GPUs", "nodes", *(f"{c} $/month" for c in clouds), "moved"), schedule),
    ]
    if burn:
        sections += [
            ("Commitments: burn from the year's (or term's) start through a month, against what is due "
             "(* due after the horizon: the minimum is pro-rated to its end); + over-run, - shortfall",
             ("cloud", "checkpoint", "through", "due", "committed", "planned burn", "balance"), burn),
            ("Commitments: the whole term", ("cloud", "ends", "total", "shortfall is", "used up", "shortfall cost",
                                             "credit drawn"), totals),
        ]
    return sections


def print_burn_chart(console: Console, doc: dict[str, Any]) -> None:
    """Each checkpoint's planned burn as a bar against its minimum (the `|` mark), in the
    terminal: full blocks up to the minimum, shaded beyond it."""
    from rich.table import Table

    commitments = _commitments(doc)
    if not commitments:
        return
    rows = [(c["cloud"], f"{w['label']} {w['end']}",
             w["burn_usd"] / w["minimum_usd"] if w["minimum_usd"] else 1.0)
            for c in commitments for w in c["periods"]]
    header = ("cloud", "checkpoint", "burn", "of minimum")
    words = [max(len(header[0]), *(len(r[0]) for r in rows)), max(len(header[1]), *(len(r[1]) for r in rows)),
             max(len(header[3]), *(len(f"{r[2]:.0%}") for r in rows))]
    # Each column is padded by a space on both sides; the bar is its minimum, the mark and as
    # much beyond: narrowed to the console so no column is cut (the share is the figure).
    width = max(5, min(BAR_WIDTH, (console.width - sum(words) - 2 * len(header) - 1) // 2))
    table = Table(title="Burn against each checkpoint's minimum (| = 100 %)", title_justify="left", box=None)
    for column in header:
        table.add_column(column, no_wrap=True)
    for cloud, checkpoint, share in rows:
        table.add_row(cloud, checkpoint, _bar(share, width), f"{share:.0%}")
    console.print(table)


def _bar(share: float, width: int) -> Text:
    """Blocks to the minimum (green when reached, red when short), the mark, shade beyond (at
    most as long again)."""
    from rich.text import Text

    full = round(min(share, 1.0) * width)
    over = min(round(max(share - 1.0, 0.0) * width), width)
    bar = Text("█" * full, style="green" if share >= 1.0 else "red")
    bar.append(" " * (width - full) + "|")
    bar.append("▒" * over, style="yellow")
    return bar


def burn_down_mermaid(doc: dict[str, Any]) -> list[str]:
    """Per contract, a Mermaid `xychart-beta` burn-down in $ millions: each period's burn
    (bars), the commitment left after it as planned (first line) and as an even pace from the
    horizon's start to the term's end would leave it (second line)."""
    from gpufleet.months import month_index

    step = 3 if doc["horizon"]["period"] == "quarter" else 1
    charts: list[str] = []
    for c in _commitments(doc):
        periods = cast(list[dict[str, Any]], c["by_period"])
        if not periods:
            continue
        first = month_index(periods[0]["period"])
        term = month_index(c["end"]) + 1 - first
        start = float(c["total_usd"]) - float(c["burned_before_usd"])
        planned: list[float] = []
        pace: list[float] = []
        burned = 0.0
        for p in periods:
            burned += p["burn_usd"]
            elapsed = month_index(p["period"]) + step - first
            planned.append(max(start - burned, 0.0))
            pace.append(max(start * (1 - elapsed / term), 0.0))
        top = max([start, *(float(p["burn_usd"]) for p in periods)]) / 1e6
        labels = ", ".join(f'"{p["period"]}"' for p in periods)
        charts.append("\n".join([
            "```mermaid",
            "xychart-beta",
            f'    title "{c["cloud"]} commitment left ($M): planned, and at an even pace to {c["end"]}"',
            f"    x-axis [{labels}]",
            f'    y-axis "$ millions" 0 --> {max(top, 1.0):.0f}',
            f"    bar [{_millions(p['burn_usd'] for p in periods)}]",
            f"    line [{_millions(planned)}]",
            f"    line [{_millions(pace)}]",
            "```",
        ]))
    return charts


def _millions(values: Any) -> str:
    return ", ".join(f"{v / 1e6:.1f}" for v in values)
