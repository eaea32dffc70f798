"""Rendering plans, diffs, verdicts and the catalog as a terminal table, markdown or JSON.

Everything renders from the plan *document* (the JSON contract), so a plan read back from a file
looks the same as one just made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gpufleet import markdown
from gpufleet.errors import EXIT_OK, EXIT_POLICY
from gpufleet.planjson import dumps

if TYPE_CHECKING:
    from rich.console import Console

    from gpufleet.diff import PlanDiff
    from gpufleet.policy import PolicyVerdict

Row = Sequence[str]

PIPE_WIDTH = 100  # columns when stdout is a pipe or a file: fits a 100-column terminal or a PR view


def usd(value: float | None) -> str:
    return "-" if value is None else f"${value:,.0f}"


def terminal_width() -> int:
    """The width to render for stdout: COLUMNS or the terminal's (rich's detection), or
    PIPE_WIDTH on a pipe, so the same command writes the same file everywhere."""
    import os

    from rich.console import Console

    console = Console()
    if console.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return console.width
    return PIPE_WIDTH


def _console(width: int) -> Console:
    """A console that renders plain text into memory at `width` columns."""
    import io

    from rich.console import Console

    return Console(
        file=io.StringIO(), record=True, width=width, force_terminal=False, color_system=None,
        soft_wrap=False,
    )


# Columns that a narrow terminal drops first, in this order (markdown and JSON keep them all).
OPTIONAL_COLUMNS = ("GPU", "capacity", "GPUs", "burned", "left", "pod CIDR", "enforcement", "vCPUs")
# Free text that wraps at spaces; every other column keeps a cell on one line while it can.
WRAPPING_COLUMNS = frozenset({"item", "source", "verdict", "what is wrong and how to fix it", "properties",
                              "jurisdictions", "name", "resource"})


def _narrowest(header: Row, rows: Sequence[Row], keep: Sequence[int]) -> int:
    """Columns the table needs with no cell folded: a wrapping column at its longest word,
    any other at its longest cell, plus padding and borders."""
    from rich.cells import cell_len

    def need(i: int) -> int:
        cells = [header[i], *(row[i] for row in rows)]
        if header[i] in WRAPPING_COLUMNS:
            return max(cell_len(word) for cell in cells for word in [*cell.split(), ""])
        return max(cell_len(cell) for cell in cells)

    return sum(need(i) + 3 for i in keep) + 1


def _rich_table(console: Console, title: str, header: Row, rows: Sequence[Row]) -> None:
    """A table that fits the console: optional columns go while the table cannot fit without
    folding a cell; what remains wraps at spaces (free text) or folds."""
    from rich.table import Table

    keep = list(range(len(header)))
    dropped: list[str] = []
    for column in OPTIONAL_COLUMNS:
        if _narrowest(header, rows, keep) <= console.width:
            break
        if column in header:
            keep.remove(header.index(column))
            dropped.append(column)
    caption = f"not shown at this width: {', '.join(dropped)}" if dropped else None
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for i in keep:
        table.add_column(header[i], overflow="fold", no_wrap=header[i] not in WRAPPING_COLUMNS)
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    console.print(table)


def _md_table(header: Row, rows: Sequence[Row]) -> str:
    """A markdown table; every cell escaped (gpufleet.markdown: names come from pull requests)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(markdown.cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _sections(doc: dict[str, Any]) -> list[tuple[str, Row, list[Row]]]:
    """The plan's tables, shared by the terminal and the markdown renderers."""
    placements: list[Row] = [
        (pool["name"], pool["accelerator"], f"{p['cloud']}/{p['region']}", p["instance_type"],
         str(p["nodes"]), str(p["gpus"]), p["capacity"], usd(p["monthly_usd"]))
        for pool in doc["pools"] for p in pool["placements"]
    ]
    networks: list[Row] = [
        (n["cloud"], n["region"], n["cidr"], n.get("pod_cidr") or "-") for n in doc["networks"]
    ]
    addresses: list[Row] = [
        (f"{n['cloud']}/{n['region']}", a["range"], a["cidr"], str(a["nodes"]), str(a["needed"]),
         str(a["available"]), "yes" if a["needed"] <= a["available"] else f"NO: {a['fix']}")
        for n in doc["networks"] for a in n.get("addresses", [])
    ]
    storage: list[Row] = [
        (s["name"], s["cloud"], s["region"], f"{s['size_tib']:g}", "yes" if s["protect"] else "no")
        for s in doc["storage"]
    ]
    cost = doc["cost"]
    spend: list[Row] = [
        (cloud, usd(amount), usd(cost["commitments"][cloud]["committed_usd"]),
         usd(cost["commitments"][cloud]["burned_usd"]), usd(cost["commitments"][cloud]["left_usd"]),
         usd(cost["commitments"][cloud]["above_commitment_usd"]))
        for cloud, amount in cost["by_cloud"].items()
    ]
    spend.append(("total", usd(cost["monthly_usd"]), "", "", "", f"budget {usd(cost['budget_usd'])}"))
    lines: list[Row] = [
        (line["item"], line["cloud"], line["region"], usd(line["monthly_usd"]), line["source"])
        for line in cost["lines"]
    ]
    sourced = any("source" in q for q in doc["quota"])  # live look-ups say where and when
    quota: list[Row] = [
        (q["cloud"], q["region"], q["bucket"] + (" (GPUs)" if q.get("unit") == "gpus" else ""), str(q["used_vcpus"]),
         "unknown" if q["limit_vcpus"] is None else str(q["limit_vcpus"]),
         "unknown" if q["limit_vcpus"] is None else str(q["limit_vcpus"] - q["used_vcpus"]),
         *([q.get("source", "spec")] if sourced else []))
        for q in doc["quota"]
    ]
    quota_header = ("cloud", "region", "bucket", "used", "limit", "headroom", *(("source",) if sourced else ()))
    clusters: list[Row] = [
        (c["cloud"], c["region"], f"{c['groups']} / {c['groups_limit']}",
         f"{c['largest_group_nodes']} / {c['nodes_per_group_limit']}",
         f"{c['nodes']} / {'-' if c['nodes_limit'] is None else c['nodes_limit']}")
        for c in doc.get("clusters", [])
    ]
    policies: list[Row] = [
        (v["policy"], v["enforcement"],
         "pass" if not v["violations"] else f"{len(v['violations'])} violation(s)")
        for v in doc["policies"]
    ]
    counts: list[Row] = [
        (c["cloud"], c["region"], c["type"], str(c["count"])) for c in doc["resource_counts"]
    ]
    return [
        ("Placements", ("pool", "GPU", "cloud/region", "SKU", "nodes", "GPUs", "capacity", "$/month"), placements),
        *_kept(doc.get("previous")),
        *_capacity(doc.get("capacity")),
        ("Networks", ("cloud", "region", "CIDR", "pod CIDR"), networks),
        ("Addresses (at maximum size, with upgrade surge and system pool)",
         ("cloud/region", "range", "CIDR", "nodes", "needed", "available", "holds"), addresses),
        *_link(doc.get("interconnect")),
        ("Storage", ("name", "cloud", "region", "TiB", "protected"), storage),
        ("Cost per month", ("cloud", "spend", "committed", "burned", "left", "above commitment"), spend),
        ("Where each price comes from", ("item", "cloud", "region", "$/month", "source"), lines),
        ("Quota headroom (vCPUs)", quota_header, quota),
        ("Clusters against their limits (GPU pools; system pool not counted)",
         ("cloud", "region", "groups / limit", "largest group / nodes per group", "nodes / limit"), clusters),
        ("Policies", ("policy", "enforcement", "verdict"), policies),
        ("Resources", ("cloud", "region", "type", "count"), counts),
    ]


def _link(link: dict[str, Any] | None) -> list[tuple[str, Row, list[Row]]]:
    """With `interconnect: vpn`: each site's ASN, each tunnel's inside /30 and both ends'
    inside addresses, and how many networks each site reaches and by which path."""
    if not link:
        return []
    asn = {f"{s['cloud']}/{s['region']}": str(s["asn"]) for s in link["sites"]}
    tunnels: list[Row] = [
        (t["endpoint"], asn[t["endpoint"]], t["gateway"], asn[t["gateway"]],
         f"c{t['connection']}t{t['tunnel']}", t["inside_cidr"], t["endpoint_address"], t["gateway_address"])
        for t in link["tunnels"]
    ]
    routes: list[Row] = [
        (r["source"], r["destination"], r["cidr"], r["path"]) for r in link["routes"]
    ]
    return [
        ("Link tunnels", ("endpoint", "ASN", "gateway", "ASN", "tunnel", "inside CIDR",
                          "endpoint inside", "gateway inside"), tunnels),
        ("Link routes", ("from", "to", "CIDR", "path"), routes),
    ]


def _kept(previous: dict[str, Any] | None) -> list[tuple[str, Row, list[Row]]]:
    """With --previous: how many of its nodes stay, and the most that costs against the
    cheapest plan (the tolerance bounds it; placement does not report the exact difference)."""
    if not previous:
        return []
    row = (str(previous["nodes"]), str(previous["kept_nodes"]), f"{previous['stability_tolerance']:.1%}",
           f"at most {usd(previous['max_extra_usd'])}/month more")
    header = ("previous nodes", "kept", "stability tolerance", "against the cheapest plan")
    moved: list[Row] = [
        (m["pool"], m["offer"], str(m["before"]), str(m["after"]), m["reason"])
        for m in previous.get("moved", [])
    ]
    return [("Kept from the previous plan", header, [row]),
            *([("Moved from the previous plan", MOVED_HEADER, moved)] if moved else [])]


MOVED_HEADER = ("pool", "cloud/region/SKU", "nodes before", "after", "why")


def _capacity(capacity: dict[str, Any] | None) -> list[tuple[str, Row, list[Row]]]:
    """Offers the spec's `capacity` rules (or `--unavailable`) took out, and the caps."""
    if not capacity:
        return []
    rows: list[Row] = [tuple(line.split(": ", 1)) for line in capacity["offers_out"]]
    rows += [(key, f"at most {nodes} nodes (capacity.available)") for key, nodes in capacity["available"].items()]
    return [("Capacity the clouds cannot deliver", ("cloud/region/SKU", "rule"), rows)]


VIOLATION_HEADER = ("enforcement", "policy", "resource", "what is wrong and how to fix it")


def _where(urn: str) -> str:
    """A resource as a reader finds it in the program: its name and its type token."""
    if "::" not in urn:
        return urn or "-"
    *_, types, name = urn.split("::")
    return f"{name} ({types.split('$')[-1]})"


def _violation_rows(doc: dict[str, Any]) -> list[Row]:
    """Every violation, mandatory first: what is violated, where, and how to fix it (each
    policy's message names the fix)."""
    rows: list[Row] = [
        (v["enforcement"], v["policy"], _where(item["urn"]), item["message"])
        for v in doc["policies"] for item in v["violations"]
    ]
    return sorted(rows, key=lambda row: row[0] != "mandatory")


def _gap(gap: float | None) -> str:
    return "unknown" if gap is None else f"{gap:g}"


def _headline(doc: dict[str, Any]) -> str:
    solver = doc["solver"]
    gpus = sum(p["gpus"] for pool in doc["pools"] for p in pool["placements"])
    return (
        f"gpufleet plan: stack {doc['stack']}, fleet {doc['fleet']}: {gpus} GPUs, "
        f"{usd(doc['cost']['monthly_usd'])}/month, {len(doc['resources'])} resources; "
        f"placement {solver['status']} (gap {_gap(solver['optimality_gap'])})"
    )


def access_line(doc: dict[str, Any]) -> str:
    """How the API servers are reached, and in which run the in-cluster GPU layer is declared."""
    access: dict[str, Any] = doc.get("access") or {"mode": "private", "cidrs": [], "cluster_software": False}
    cidrs = [str(c) for c in access["cidrs"]]
    reach = "private (from inside the networks)" if access["mode"] == "private" else (
        f"allowlist {', '.join(cidrs)}"
    )
    layer = "declared in this run" if access["cluster_software"] else (
        "not in this run (second stage: gpufleet:clusterSoftware true, from inside the networks)"
    )
    return f"API access: {reach}; in-cluster GPU layer: {layer}"


def render_plan(doc: dict[str, Any], fmt: str, width: int = PIPE_WIDTH) -> str:
    if fmt == "json":
        return dumps(doc)
    if fmt == "markdown":
        return plan_markdown(doc)
    console = _console(width)
    console.print(_headline(doc))
    console.print(access_line(doc), highlight=False)
    violations = _violation_rows(doc)
    if violations:
        _rich_table(console, f"Policy violations ({len(violations)})", VIOLATION_HEADER, violations)
    for title, header, rows in _sections(doc):
        _rich_table(console, title, header, rows)
    if doc["skipped_offers"]:
        console.print(f"{len(doc['skipped_offers'])} offers skipped (no price); see --format json")
    return console.export_text()


def plan_markdown(doc: dict[str, Any]) -> str:
    parts = [f"### {markdown.text(_headline(doc))}", markdown.text(access_line(doc))]
    violations = _violation_rows(doc)
    if violations:
        parts.append(f"**Policy violations ({len(violations)})**\n\n{_md_table(VIOLATION_HEADER, violations)}")
    for title, header, rows in _sections(doc):
        table = _md_table(header, rows) if rows else "_none_"
        if title == "Resources":
            listing = _md_table(
                ("type", "name", "region", "protect"),
                [(r["type"], r["name"], r["region"] or "-", "yes" if r["protect"] else "")
                 for r in doc["resources"]],
            )
            parts.append(
                f"<details><summary>{len(doc['resources'])} resources</summary>\n\n{table}\n\n"
                f"{listing}\n\n</details>"
            )
        else:
            parts.append(f"**{title}**\n\n{table}")
    return "\n\n".join(parts) + "\n"


def render_verdicts(verdicts: Sequence[PolicyVerdict], fmt: str, width: int = PIPE_WIDTH) -> tuple[str, int]:
    from gpufleet.policy import mandatory_failed

    code = EXIT_POLICY if mandatory_failed(verdicts) else EXIT_OK
    docs = [v.to_json() for v in verdicts]
    if fmt == "json":
        return dumps({"policies": docs}), code
    rows: list[Row] = [
        (d["policy"], d["enforcement"], "pass" if not d["violations"] else item["message"])
        for d in docs for item in (d["violations"] or [{"message": ""}])
    ]
    header = ("policy", "enforcement", "verdict")
    if fmt == "markdown":
        return _md_table(header, rows), code
    console = _console(width)
    _rich_table(console, "Policy verdicts", header, rows)
    return console.export_text(), code


def render_diff(change: PlanDiff, fmt: str, width: int = PIPE_WIDTH) -> str:
    if fmt == "json":
        return dumps(change.to_json())
    sections = change.sections()
    if fmt == "markdown":
        parts = [f"### {markdown.text(change.headline())}"]
        parts += [f"**{title}**\n\n{_md_table(header, rows)}" for title, header, rows in sections if rows]
        return "\n\n".join(parts) + "\n"
    console = _console(width)
    console.print(change.headline())
    for title, header, rows in sections:
        if rows:
            _rich_table(console, title, header, rows)
    return console.export_text()


def render_catalog(
    fmt: str, cloud: str | None, accelerator: str | None, region: str | None, width: int = PIPE_WIDTH
) -> str:
    """The catalog's offers and regions, filtered by names spelled as the catalog does; with an
    accelerator, only the regions that offer it."""
    from gpufleet.clouds.catalog import load_catalog

    catalog = load_catalog()
    offers = [
        o for o in sorted(catalog.offers.values(), key=lambda o: (o.cloud, o.region, o.sku.instance_type))
        if cloud in (None, o.cloud) and accelerator in (None, o.sku.accelerator) and region in (None, o.region)
    ]
    with_offers = {(o.cloud, o.region) for o in offers}
    regions = [
        r for r in sorted(catalog.regions.values(), key=lambda r: (r.cloud, r.region))
        if cloud in (None, r.cloud) and region in (None, r.region)
        and (accelerator is None or (r.cloud, r.region) in with_offers)
    ]
    if fmt == "json":
        return dumps({
            "offers": [
                {"cloud": o.cloud, "region": o.region, "instance_type": o.sku.instance_type,
                 "accelerator": o.sku.accelerator, "gpus": o.sku.gpus, "vcpus": o.sku.vcpus,
                 "price_usd_per_hour": o.price_usd_per_hour,
                 "spot_price_usd_per_hour": o.spot_price_usd_per_hour,
                 "quota_bucket": o.sku.quota_bucket, "spot_quota_bucket": o.sku.spot_quota_bucket}
                for o in offers
            ],
            "regions": [
                {"cloud": r.cloud, "region": r.region, "country": r.country,
                 "jurisdictions": sorted(r.jurisdictions)}
                for r in regions
            ],
        })
    console = _console(width)
    offer_header = ("cloud", "region", "SKU", "GPU", "GPUs", "vCPUs", "$/h", "spot $/h")
    _rich_table(console, f"{len(offers)} offers", offer_header, [
        (o.cloud, o.region, o.sku.instance_type, o.sku.accelerator, str(o.sku.gpus), str(o.sku.vcpus),
         "-" if o.price_usd_per_hour is None else f"{o.price_usd_per_hour:g}",
         "-" if o.spot_price_usd_per_hour is None else f"{o.spot_price_usd_per_hour:g}")
        for o in offers
    ])
    _rich_table(console, f"{len(regions)} regions", ("cloud", "region", "country", "jurisdictions"), [
        (r.cloud, r.region, r.country, ", ".join(sorted(r.jurisdictions))) for r in regions
    ])
    return console.export_text()


def render_table(title: str, header: Row, rows: Sequence[Row], fmt: str, width: int = PIPE_WIDTH) -> str:
    """One titled table as a terminal table or markdown (commands with a single table)."""
    if fmt == "markdown":
        return f"**{markdown.cell(title)}**\n\n{_md_table(header, rows)}\n"
    console = _console(width)
    _rich_table(console, title, header, rows)
    return console.export_text()
