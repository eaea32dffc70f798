"""The command line's shape: every command, its arguments and their help (gpufleet/cli.py runs
them). Only argparse is imported here, so `gpufleet --help` stays fast."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

FORMATS = ("table", "markdown", "json")


STACK_NAME_HELP = (
    "the Pulumi stack to plan as: it is part of resource names and tags. Default: NAME of "
    "--stack; for --spec, <name> of a file called Pulumi.<name>.yaml (Pulumi's own convention), "
    "else the fleet's name (the stack `gpufleet init` makes), never another file name, so the same "
    "spec plans the same under any file name"
)


def _add_stack_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack-name", metavar="NAME", help=STACK_NAME_HELP)


def _add_source(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument("--stack", metavar="NAME", help="a stack in stacks/ (Pulumi.NAME.yaml)")
    source.add_argument(
        "--spec", metavar="FILE", type=Path,
        help="a stack file (config: gpufleet:fleet: ...) or a bare fleet spec; planned as the "
        "stack --stack-name names",
    )
    _add_stack_name(parser)


def _add_output(parser: argparse.ArgumentParser, default: str = "table") -> None:
    parser.add_argument("--format", choices=FORMATS, default=default, help=f"default: {default}")
    parser.add_argument("--out", metavar="FILE", type=Path, help="write to FILE instead of stdout")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gpufleet",
        description="GPU capacity on AWS and Azure from one typed spec: placement, cost and "
        "policy verdicts before anything is created.",
        epilog="exit codes: 0 ok, 1 a mandatory policy is violated (or no feasible placement), "
        "2 invalid spec or command line",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = commands.add_parser(
        "plan", help="offline preview: placements, networks, storage, cost, quota, policies",
        description="Run the Pulumi program offline under a recording mock engine and report "
        "what `pulumi preview` would create, with placement, cost and policy verdicts.",
    )
    _add_source(plan)
    _add_output(plan)
    plan.add_argument("--previous", metavar="PLAN.json", type=Path,
                      help="a previous plan: keep its placements when the cost is equal")
    plan.add_argument(
        "--unavailable", metavar="CLOUD/REGION/SKU", action="append", default=[],
        help="capacity the cloud cannot deliver now (e.g. aws/us-east-1/p5.48xlarge, "
        "azure/eastus/*), for this plan only; repeatable; with --previous only what must move moves",
    )
    plan.add_argument(
        "--live-quotas", action="store_true",
        help="fill the quotas the spec does not declare with live headroom (limit - usage) from "
        "AWS Service Quotas and Azure compute usages; without credentials: a warning, declared only",
    )
    plan.add_argument(
        "--catalog-dir", metavar="DIR", type=Path,
        help="use the refreshed offers in DIR/offers.csv (`catalog refresh --out DIR`) over the "
        "packaged prices; as GPUFLEET_CATALOG_DIR=DIR, which `pulumi up` needs set as well",
    )
    plan.add_argument("--stable", action="store_true",
                      help="leave out timings, so the same input gives byte-identical output")
    _add_cluster_software(plan)
    _add_period(plan)
    _add_scenario(plan)
    plan.add_argument("--explain", action="store_true",
                      help="add why each offer left empty is, and the price that would change it "
                      "(as `gpufleet explain`; re-plans, so it takes longer)")

    explain = commands.add_parser(
        "explain", help="why not there? the binding reason of every offer a pool leaves empty, with break-even prices",
        description="For every pool, every offer of its regions that the plan leaves empty (or short): the binding "
        "reason (price, quota, share, limit, address, sovereignty, unavailable, no-price, commitment, data), the "
        "break-even price at or below which it would take nodes and how many, what one more node's (or training "
        "unit's) worth of quota saves. Every figure is a re-plan. With a horizon, the deployed period is explained.",
    )
    _add_source(explain)
    explain.add_argument("--pool", metavar="P", help="only this pool")
    explain.add_argument(
        "--search-seconds", metavar="S", type=_seconds,
        help="start no re-plan S seconds after explain begins (default 40): offers not searched by then keep "
        "today's reason and say so; 0: no limit (a 50-pool fleet then takes hours)",
    )
    _add_output(explain)
    _add_period(explain)
    _add_scenario(explain)

    diff = commands.add_parser("diff", help="what changes between two plans or specs")
    diff.add_argument("base", help="plan JSON, stack name or spec file")
    diff.add_argument("head", help="plan JSON, stack name or spec file")
    _add_stack_name(diff)
    _add_output(diff, default="markdown")

    check = commands.add_parser("check", help="policy verdicts only, for a CI gate")
    _add_source(check, required=False)
    check.add_argument("--resources", metavar="FILE", type=Path,
                       help="JSON list of resources (plan `resources` shape); needs --spec")
    _add_cluster_software(check)
    _add_period(check)
    _add_output(check)

    schema = commands.add_parser("schema", help="JSON Schema of the fleet spec (or of the plan or diff JSON)")
    document = schema.add_mutually_exclusive_group()
    document.add_argument("--plan", action="store_true", help="the plan JSON's schema instead")
    document.add_argument("--diff", action="store_true", help="the diff JSON's schema instead")

    catalog = commands.add_parser("catalog", help="SKUs, prices, regions and jurisdictions")
    catalog.add_argument("--format", choices=("table", "json"), default="table")
    catalog.add_argument("--cloud", help="a registered cloud (aws, azure)")
    catalog.add_argument("--accelerator", help="e.g. H100 (any case)")
    catalog.add_argument("--region", help="e.g. eu-north-1 or swedencentral")
    catalog.add_argument("--out", metavar="FILE", type=Path, help="write to FILE instead of stdout")
    _add_source(catalog, required=False)  # with a spec: its declared SKUs and price book too
    _add_refresh(catalog)

    quotas = commands.add_parser(
        "quotas", help="a spec's quota buckets: declared, and with --live the clouds' limits and usage",
        description="Declared quotas per region and bucket; with --live, the limit and current usage "
        "from AWS Service Quotas (boto3 default credentials) and Azure compute usages "
        "(DefaultAzureCredential, subscription from AZURE_SUBSCRIPTION_ID). Declared values stay "
        "what a plan uses; live values fill the rest (plan --live-quotas).",
    )
    _add_source(quotas)
    quotas.add_argument("--live", action="store_true", help="ask the clouds (needs credentials)")
    quotas.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    quotas.add_argument("--out", metavar="FILE", type=Path, help="write to FILE instead of stdout")

    comment = commands.add_parser(
        "pr-comment", help="one PR comment from folders of base and head plan JSON files"
    )
    comment.add_argument("base_dir", type=Path)
    comment.add_argument("head_dir", type=Path)
    comment.add_argument("--out", metavar="FILE", type=Path)
    comment.add_argument("--full-out", metavar="FILE", type=Path,
                         help="the full report, when the comment must fold to fit GitHub's limit")
    comment.add_argument("--report-url", metavar="URL",
                         help="where the full report is kept (the workflow run), linked from a folded comment")

    init = commands.add_parser(
        "init", help="make stacks/Pulumi.NAME.yaml from a bare spec file, for pulumi up",
    )
    init.add_argument("spec", type=Path, help="a bare fleet spec (or a stack file)")
    init.add_argument("--stack", metavar="NAME", help="stack name (default: as `plan --spec` plans the file: "
                      "<name> of Pulumi.<name>.yaml, else the fleet's name)")
    init.add_argument("--project-dir", metavar="DIR", type=Path,
                      help="the Pulumi project folder (default: the one around the working folder)")
    init.add_argument("--force", action="store_true", help="replace an existing stack file")

    kube = commands.add_parser(
        "kubeconfig", help="one kubeconfig with a context per cluster, and the SkyPilot snippet",
        description="Merge the clusters' kubeconfigs into one, a context <fleet>-<cloud>-<region> "
        "per cluster (exec credentials, no token stored), and print SkyPilot's "
        "kubernetes.allowed_contexts. Offline it shows what the file will contain.",
    )
    _add_source(kube)
    kube.add_argument("--outputs", metavar="FILE", type=Path,
                      help="`pulumi stack output --json --show-secrets` of the deployed stack")
    kube.add_argument("--out", metavar="FILE", type=Path,
                      help="write the kubeconfig to FILE (mode 600); the SkyPilot snippet goes to stdout")

    config = commands.add_parser(
        "policy-config", help="write the --policy-pack-config JSON for a stack"
    )
    _add_source(config)
    config.add_argument("--out", metavar="FILE", type=Path)
    return parser


def _add_refresh(catalog: argparse.ArgumentParser) -> None:
    actions = catalog.add_subparsers(dest="catalog_action", metavar="ACTION")
    refresh = actions.add_parser(
        "refresh", help="price the catalog's GPU SKUs from the clouds' price APIs",
        description="Ask AWS (Price List Query API and spot price history; boto3 default "
        "credentials) and Azure (Retail Prices API; public, no credentials) for today's $/hour of "
        "every catalog SKU in every catalog region, and show what changed against the catalog in "
        "use. With --out DIR, also write DIR/offers.csv (earlier rows of other clouds and regions "
        "kept); GPUFLEET_CATALOG_DIR=DIR or `plan --catalog-dir DIR` then plans with it.",
    )
    refresh.add_argument("--cloud", dest="refresh_cloud", metavar="NAME", help="one registered cloud (default: all)")
    refresh.add_argument("--region", dest="refresh_regions", metavar="REGION", action="append", default=[],
                         help="a catalog region (repeatable; default: every region of the cloud)")
    refresh.add_argument("--out", dest="refresh_out", metavar="DIR", type=Path,
                         help="write DIR/offers.csv, the refreshed rows in the catalog's format")
    refresh.add_argument("--format", dest="refresh_format", choices=("table", "markdown"), default="table")


def _add_cluster_software(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cluster-software", action=argparse.BooleanOptionalAction, default=None,
        help="as config gpufleet:clusterSoftware: declare the in-cluster GPU layer (the second "
        "stage of private access); default: only with access mode allowlist",
    )


def _add_scenario(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--price-change", metavar="CLOUD[/REGION[/SKU]]=±N%", action="append", default=[],
        help="what if prices change: e.g. aws=-15%%, azure/swedencentral=-10%%, aws/*/p5.48xlarge=-20%%; "
        "repeatable; written into the price book; plan shows the diff to the plan without it",
    )
    parser.add_argument(
        "--quota", metavar="CLOUD/REGION/BUCKET=±N", action="append", default=[],
        help="what if a declared quota changes: e.g. aws/us-west-2/L-417A185B=+1536 (or =2048); repeatable",
    )


def _seconds(text: str) -> float:
    """A number of seconds ≥ 0, as argparse reads it (a bad one exits 2 naming the flag)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0 or math.isinf(seconds):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds ≥ 0 (0: no limit)")
    return seconds


def _add_period(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--period", metavar="YYYY-MM",
        help="with a horizon: deploy the period this month falls in (as config gpufleet:period); "
        "default: the period of the current month",
    )
