"""Rendering plans, diffs, verdicts and the catalog as a terminal table, markdown or JSON.

Everything renders from the plan *document* (the JSON contract), so a plan read back from a file
looks the same as one just made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gpufleet import markdown
from gpufleet.burnreport import burn_down_mermaid, burn_sections, print_burn_chart
from gpufleet.errors import EXIT_OK, EXIT_POLICY
from gpufleet.explaintable import explain_tables, scenario_tables
from gpufleet.ledger import BudgetUse
from gpufleet.moves import MOVED_HEADER
from gpufleet.pipereport import pipe_tables
from gpufleet.planjson import dumps
from gpufleet.tables import Row, console_for, print_table

if TYPE_CHECKING:
    from gpufleet.catalog import Catalog, Offer, Region, Sku
    from gpufleet.diff import PlanDiff
    from gpufleet.policy import PolicyVerdict

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


def _md_table(header: Row, rows: Sequence[Row]) -> str:
    """A markdown table; every cell escaped (gpufleet.markdown: names come from pull requests)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(markdown.cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _pod_space(network: dict[str, Any]) -> str:
    """Where the network's pods take addresses beside its CIDR: an overlay range, or a grown
    VPC's secondary blocks (EKS custom networking), else "-"."""
    if network.get("pod_blocks"):
        return ", ".join(network["pod_blocks"]) + " (secondary blocks, custom networking)"
    return network.get("pod_cidr") or "-"


Table = tuple[str, Row, list[Row]]  # title, header, rows


def plan_tables(doc: dict[str, Any]) -> list[Table]:
    """Every table the terminal shows for a plan: its violations (if any), then its sections."""
    violations = _violation_rows(doc)
    shown = [(f"Policy violations ({len(violations)})", VIOLATION_HEADER, violations)] if violations else []
    return [*shown, *_sections(doc)]


def _racks(doc: dict[str, Any]) -> list[Table]:
    """Placements on rack-scale SKUs: their racks, one node group / agent pool each, all of a
    rack in one zone (gpufleet.racks); no table when there are none."""
    rows: list[Row] = [
        (pool["name"], f"{p['cloud']}/{p['region']}", p["rack"], str(p["racks"]), str(p["rack_instances"]),
         str(p["nodes"]))
        for pool in doc["pools"] for p in pool["placements"] if "racks" in p
    ]
    header = ("pool", "cloud/region", "rack", "racks", "instances per rack", "nodes")
    return [("Racks (one node group each, all of a rack in one zone)", header, rows)] if rows else []


def _sections(doc: dict[str, Any]) -> list[Table]:
    """The plan's tables, shared by the terminal and the markdown renderers."""
    placements: list[Row] = [
        (pool["name"], p.get("accelerator", pool["accelerator"]), f"{p['cloud']}/{p['region']}",
         p["instance_type"] + (f" ({p['sku_source']})" if p.get("sku_source") else ""),
         str(p["nodes"]), str(p["gpus"]), p["capacity"], usd(p["monthly_usd"]))
        for pool in doc["pools"] for p in pool["placements"]
    ]
    networks: list[Row] = [
        (n["cloud"], n["region"], n["cidr"], _pod_space(n)) for n in doc["networks"]
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
        (cloud, usd(amount), *_month_against_commitment(cost["commitments"].get(cloud)))
        for cloud, amount in cost["by_cloud"].items()
    ]
    spend.append(("total", usd(cost["monthly_usd"]), "", "", "", ""))
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
        (c["cloud"], c["region"], f"c{c.get('cluster', 1)}",
         f"{c['groups']} / {c['groups_limit']}",
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
        *scenario_tables(doc),
        *burn_sections(doc),
        ("Placements", ("pool", "GPU", "cloud/region", "SKU", "nodes", "GPUs", "capacity", "$/month"), placements),
        *_racks(doc),
        *_spread(doc["pools"]),
        *_kept(doc.get("previous")),
        *_capacity(doc.get("capacity")),
        ("Networks", ("cloud", "region", "CIDR", "pod CIDR"), networks),
        ("Addresses (at maximum size, with upgrade surge and system pool)",
         ("cloud/region", "range", "CIDR", "nodes", "needed", "available", "holds"), addresses),
        *_link(doc.get("interconnect")),
        *pipe_tables(doc.get("pipes")),
        ("Storage", ("name", "cloud", "region", "TiB", "protected"), storage),
        ("Cost per month", ("cloud", "spend", "committed", "burned", "left", "above commitment"), spend),
        *_budget(cost),
        ("Where each price comes from", ("item", "cloud", "region", "$/month", "source"), lines),
        ("Quota headroom (vCPUs)", quota_header, quota),
        ("Clusters against their limits (GPU pools; system pool not counted)",
         ("cloud", "region", "cluster", "groups / limit", "largest group / nodes per group", "nodes / limit"),
         clusters),
        ("Policies", ("policy", "enforcement", "verdict"), policies),
        ("Resources", ("cloud", "region", "type", "count"), counts),
        *explain_tables(doc),
    ]


def _spread(pools: list[dict[str, Any]]) -> list[tuple[str, Row, list[Row]]]:
    """Each pool's largest single-region share against the most one region may hold (plans
    written before spreading have neither: no table)."""
    if not pools or "largest_region_share" not in pools[0]:
        return []
    noted = any(pool.get("region_share_note") for pool in pools)
    rows: list[Row] = [
        (pool["name"], str(len({(p["cloud"], p["region"]) for p in pool["placements"]})),
         pool["largest_region"] or "-", f"{100 * pool['largest_region_share']:.1f} %",
         "-" if pool["max_region_share"] is None else f"{100 * pool['max_region_share']:.1f} %"
         + (" (default)" if pool["max_region_share_default"] else ""),
         *([pool.get("region_share_note", "")] if noted else []))
        for pool in pools
    ]
    header = ("pool", "regions", "largest region", "its share", "most per region", *(("note",) if noted else ()))
    return [("Spread over regions (share of each pool's GPUs)", header, rows)]


def _month_against_commitment(commitment: dict[str, Any] | None) -> Row:
    """A flat commitment's month (committed, burned, left, above); a contract (no entry) burns
    over its term, so its month says where its burn is shown rather than a $0 commitment."""
    if commitment is None:
        return ("contract: see Commitments", "", "", "")
    return (usd(commitment["committed_usd"]), usd(commitment["burned_usd"]), usd(commitment["left_usd"]),
            usd(commitment["above_commitment_usd"]))


def _budget(cost: dict[str, Any]) -> list[tuple[str, Row, list[Row]]]:
    """With a cap: the month against it (the ledger's arithmetic, `BudgetUse`)."""
    if cost.get("budget_usd") is None:
        return []
    use = BudgetUse(float(cost["budget_usd"]), float(cost["monthly_usd"]))
    left = f"{usd(-use.headroom_usd)} over" if use.over else usd(use.headroom_usd)
    return [("Budget per month", ("cap", "spend", "headroom", "share of cap"),
             [(usd(use.cap_usd), usd(use.spend_usd), left, f"{use.share:.0%}")])]


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
        ("Link tunnels", ("endpoint", "endpoint ASN", "gateway", "gateway ASN", "tunnel", "inside CIDR",
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
        (m["pool"], m["offer"], str(m["before"]), str(m["after"]), m["reason"], m["sentence"])
        for m in previous.get("moved", [])
    ]
    return [("Kept from the previous plan", header, [row]),
            *([("Moved from the previous plan", MOVED_HEADER, moved)] if moved else [])]




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
        f"placement {solver['status']} (gap {_gap(solver['optimality_gap'])}{_within(doc)})"
    )


def _within(doc: dict[str, Any]) -> str:
    """What "Optimal" allows over a horizon with contracts (a proven gap up to `HORIZON_GAP`),
    and what a plan not proven within it may cost more."""
    from gpufleet.horizon import HORIZON_GAP  # the plan was made: its spec's modules are loaded

    status, gap, within = doc["solver"]["status"], doc["solver"]["optimality_gap"], f"{HORIZON_GAP:g} over the horizon"
    if status == "Feasible" and doc.get("horizon") and gap is not None:
        return f", not proven within {within}: it may cost up to {gap:.3%} more than the best"
    return f", proven within {within}" if status == "Optimal" and gap else ""


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
    console = console_for(width)
    console.print(_headline(doc))
    console.print(access_line(doc), highlight=False)
    for title, header, rows in plan_tables(doc):
        print_table(console, title, header, rows)
    print_burn_chart(console, doc)
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
        if title.startswith("Commitments: the whole term"):
            parts.extend(burn_down_mermaid(doc))
    return "\n\n".join(parts) + "\n"


VERDICT_HEADER = ("policy", "enforcement", "verdict")


def verdict_rows(verdicts: Sequence[PolicyVerdict]) -> list[Row]:
    """A row per violation (a passing policy: one row, `pass`)."""
    docs = [v.to_json() for v in verdicts]
    return [
        (d["policy"], d["enforcement"], "pass" if not d["violations"] else item["message"])
        for d in docs for item in (d["violations"] or [{"message": ""}])
    ]


def render_verdicts(verdicts: Sequence[PolicyVerdict], fmt: str, width: int = PIPE_WIDTH) -> tuple[str, int]:
    from gpufleet.policy import mandatory_failed

    code = EXIT_POLICY if mandatory_failed(verdicts) else EXIT_OK
    if fmt == "json":
        return dumps({"policies": [v.to_json() for v in verdicts]}), code
    rows = verdict_rows(verdicts)
    if fmt == "markdown":
        return _md_table(VERDICT_HEADER, rows), code
    console = console_for(width)
    print_table(console, "Policy verdicts", VERDICT_HEADER, rows)
    return console.export_text(), code


def render_diff(change: PlanDiff, fmt: str, width: int = PIPE_WIDTH) -> str:
    if fmt == "json":
        return dumps(change.to_json())
    sections = change.sections()
    if fmt == "markdown":
        parts = [f"### {markdown.text(change.headline())}"]
        parts += [f"**{title}**\n\n{_md_table(header, rows)}" for title, header, rows in sections if rows]
        parts += burn_down_mermaid(change.head_horizon) if change.head_horizon else []
        return "\n\n".join(parts) + "\n"
    console = console_for(width)
    console.print(change.headline())
    for title, header, rows in sections:
        if rows:
            print_table(console, title, header, rows)
    return console.export_text()


def render_catalog(
    fmt: str, cloud: str | None, accelerator: str | None, region: str | None, width: int = PIPE_WIDTH,
    *,
    catalog: Catalog | None = None,
) -> str:
    """The catalog's offers and regions, filtered by names spelled as the catalog does; with an
    accelerator, only the regions that offer it. `catalog` (default: the packaged one) may carry
    a spec's declared SKUs and price book. An offer without an on-demand price needs a
    price-book entry ("price book"); SKUs without any offer are listed with the key to add."""
    from gpufleet.catalog import price_key

    offers, bare, regions = _catalog_entries(cloud, accelerator, region, catalog)
    if fmt == "json":
        return dumps({
            "offers": [
                {"cloud": o.cloud, "region": o.region, "instance_type": o.sku.instance_type,
                 "accelerator": o.sku.accelerator, "gpus": o.sku.gpus, "vcpus": o.sku.vcpus,
                 "price_usd_per_hour": o.price_usd_per_hour,
                 "spot_price_usd_per_hour": o.spot_price_usd_per_hour,
                 "quota_bucket": o.sku.quota_bucket, "spot_quota_bucket": o.sku.spot_quota_bucket,
                 "price_source": o.source, "sku_source": o.sku.source, "confidence": o.sku.confidence}
                for o in offers
            ],
            "skus_without_offers": [
                {"cloud": s.cloud, "instance_type": s.instance_type, "accelerator": s.accelerator,
                 "gpus": s.gpus, "vcpus": s.vcpus, "sku_source": s.source, "confidence": s.confidence,
                 "price_key": price_key(s.cloud, "<region>", s.instance_type)}
                for s in bare
            ],
            "regions": [
                {"cloud": r.cloud, "region": r.region, "country": r.country,
                 "jurisdictions": sorted(r.jurisdictions)}
                for r in regions
            ],
        })
    console = console_for(width)
    for title, header, rows in catalog_tables(cloud, accelerator, region, catalog):
        print_table(console, title, header, rows)
    return console.export_text()


def _catalog_entries(
    cloud: str | None, accelerator: str | None, region: str | None, catalog: Catalog | None
) -> tuple[list[Offer], list[Sku], list[Region]]:
    """The offers, the SKUs no region offers (a spec's declared ones before the price book
    names a region), and the regions the filters keep."""
    from gpufleet.clouds.catalog import load_catalog

    catalog = catalog if catalog is not None else load_catalog()
    offers = [
        o for o in sorted(catalog.offers.values(), key=lambda o: (o.cloud, o.region, o.sku.instance_type))
        if cloud in (None, o.cloud) and accelerator in (None, o.sku.accelerator) and region in (None, o.region)
    ]
    offered = {(o.cloud, o.sku.instance_type) for o in catalog.offers.values()}
    bare = [
        s for s in sorted(catalog.skus.values(), key=lambda s: (s.cloud, s.instance_type))
        if (s.cloud, s.instance_type) not in offered and cloud in (None, s.cloud)
        and accelerator in (None, s.accelerator) and region is None
    ]
    with_offers = {(o.cloud, o.region) for o in offers}
    regions = [
        r for r in sorted(catalog.regions.values(), key=lambda r: (r.cloud, r.region))
        if cloud in (None, r.cloud) and region in (None, r.region)
        and (accelerator is None or (r.cloud, r.region) in with_offers)
    ]
    return offers, bare, regions


def catalog_tables(
    cloud: str | None, accelerator: str | None, region: str | None, catalog: Catalog | None = None
) -> list[Table]:
    """The catalog's offers, SKUs without an offer and regions as the terminal shows them; a
    title says when a price-book entry is needed and how to write it."""
    offers, bare, regions = _catalog_entries(cloud, accelerator, region, catalog)
    offer_header = ("cloud", "region", "SKU", "GPU", "GPUs", "vCPUs", "$/h", "spot $/h")
    offer_rows: list[Row] = [
        (o.cloud, o.region, _sku_cell(o.sku), o.sku.accelerator, str(o.sku.gpus), str(o.sku.vcpus),
         "price book" if o.price_usd_per_hour is None else f"{o.price_usd_per_hour:g}",
         "-" if o.spot_price_usd_per_hour is None else f"{o.spot_price_usd_per_hour:g}")
        for o in offers
    ]
    offers_title = f"{len(offers)} offers"
    if any(o.price_usd_per_hour is None for o in offers):
        offers_title += " (price book: no public on-demand price; plan it with prices: cloud/region/SKU: <usd/h>)"
    tables: list[Table] = [(offers_title, offer_header, offer_rows)]
    if bare:
        tables.append((
            f"{len(bare)} SKUs without an offer (no public price or region: plan one with prices: "
            "cloud/<region>/SKU: <usd/h>)",
            ("cloud", "SKU", "GPU", "GPUs", "vCPUs", "facts"),
            [(s.cloud, _sku_cell(s), s.accelerator, str(s.gpus), str(s.vcpus), s.confidence) for s in bare],
        ))
    region_rows: list[Row] = [(r.cloud, r.region, r.country, ", ".join(sorted(r.jurisdictions))) for r in regions]
    tables.append((f"{len(regions)} regions", ("cloud", "region", "country", "jurisdictions"), region_rows))
    return tables


def _sku_cell(sku: Sku) -> str:
    return f"{sku.instance_type} ({sku.source})" if sku.declared else sku.instance_type


def render_table(title: str, header: Row, rows: Sequence[Row], fmt: str, width: int = PIPE_WIDTH) -> str:
    """One titled table as a terminal table or markdown (commands with a single table)."""
    if fmt == "markdown":
        return f"**{markdown.cell(title)}**\n\n{_md_table(header, rows)}\n"
    console = console_for(width)
    print_table(console, title, header, rows)
    return console.export_text()
