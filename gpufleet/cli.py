"""The `gpufleet` command line: plan, diff, check, schema, catalog, policy-config.

Only argparse is imported at start-up; each command imports what it needs, so `gpufleet --help`
stays fast and never loads a cloud SDK. A user's mistake prints a message and exits 2; a
mandatory policy violation (or an infeasible placement) exits 1; never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gpufleet.cliparser import build_parser

if TYPE_CHECKING:
    from gpufleet.live import LiveQuota
    from gpufleet.offline import SpecSource

__all__ = ["build_parser", "main"]

def _source(args: argparse.Namespace) -> SpecSource:
    from gpufleet.offline import SpecSource

    return SpecSource(
        stack=args.stack, spec=args.spec, stack_name=args.stack_name,
        unavailable=tuple(getattr(args, "unavailable", ())),
        cluster_software=getattr(args, "cluster_software", None),
        period=getattr(args, "period", None),
        price_changes=tuple(getattr(args, "price_change", ())),
        quota_changes=tuple(getattr(args, "quota", ())),
    )


def _check_out(out: Path | None) -> None:
    """Refuse an --out that cannot be written before any work is done. Missing folders are not
    created: a mistyped path would otherwise grow a tree of folders and the output would go
    unnoticed there; `mkdir -p` first when a new folder is meant."""
    from gpufleet.errors import CommandLineError, Problem

    if out is None:
        return
    if out.is_dir():
        raise CommandLineError([Problem("--out", f"{out} is a folder; give a file name in it")])
    folder = out.parent
    if not folder.is_dir():
        reason = "is not a folder" if folder.exists() else "does not exist"
        raise CommandLineError([Problem(
            "--out", f"folder {folder} {reason}; create it first (gpufleet does not create folders)"
        )])


def _emit(text: str, out: Path | None) -> None:
    from gpufleet.safewrite import write_text

    text = text if text.endswith("\n") else text + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    write_text(out, text)


def _width(out: Path | None) -> int:
    """Table width: the terminal's when writing to stdout, a fixed width into a file."""
    from gpufleet import report

    return report.terminal_width() if out is None else report.PIPE_WIDTH


def cmd_plan(args: argparse.Namespace) -> int:
    from gpufleet import report
    from gpufleet.errors import CommandLineError
    from gpufleet.offline import load_source, run_plan, with_scenario
    from gpufleet.planinput import read_document

    if args.previous is not None:  # read here, so a bad file is named as the flag it came from
        try:
            read_document(args.previous, CommandLineError)
        except CommandLineError as error:
            raise CommandLineError(error.problems, source="--previous") from None
    from gpufleet.catalog.overlay import using
    from gpufleet.clouds.catalog import load_catalog
    from gpufleet.explain import explain
    from gpufleet.planjson import stable

    progress = args.format != "json"  # a terminal shows progress on stderr; JSON mode stays silent
    with using(args.catalog_dir):
        load_catalog()  # a bad refreshed file is named here, before any work
        live = _plan_quotas(_source(args)) if args.live_quotas else ()
        source = _source(args)
        result = run_plan(source, previous=args.previous, progress=progress, live=live)
        document = stable(result.document) if args.stable else result.document
        change = None
        if source.price_changes or source.quota_changes:
            unchanged = run_plan(source.unchanged, previous=args.previous, progress=progress, live=live)
            change = with_scenario(document, source, unchanged.document)
        if args.explain:
            spec, _, _ = load_source(source)
            document["explain"] = [e.to_json() for e in explain(spec, period=args.period)]
    text = report.render_plan(document, args.format, _width(args.out))
    if change is not None and args.format != "json":
        text = text.rstrip("\n") + "\n\n" + report.render_diff(change, args.format, _width(args.out))
    _emit(text, args.out)
    return result.exit_code


def cmd_explain(args: argparse.Namespace) -> int:
    from gpufleet import report
    from gpufleet.explain import SEARCH_SECONDS, explain
    from gpufleet.explaintable import EXPLAIN_HEADER, EXPLAIN_TITLE, explain_rows
    from gpufleet.offline import load_source
    from gpufleet.planjson import dumps

    spec, _, _ = load_source(_source(args))
    seconds = SEARCH_SECONDS if args.search_seconds is None else args.search_seconds or None  # 0: no limit
    explained = [e.to_json() for e in explain(spec, args.pool, args.period, search_seconds=seconds)]
    if args.format == "json":
        _emit(dumps(explained), args.out)
    else:
        rows = explain_rows(explained)
        _emit(report.render_table(EXPLAIN_TITLE, EXPLAIN_HEADER, rows, args.format, _width(args.out)), args.out)
    return 0


def _plan_quotas(source: SpecSource) -> tuple[LiveQuota, ...]:
    """Live quotas for `plan --live-quotas`; without credentials (or for regions that fail)
    a warning on stderr, and the plan uses the declared values there."""
    from gpufleet.live import NoCredentialsError
    from gpufleet.live.quotas import look_up
    from gpufleet.offline import load_source

    spec, _, _ = load_source(source)
    try:
        found, failed = look_up(spec)
    except NoCredentialsError as error:
        print(f"gpufleet plan: warning: {error}; planning with declared quotas only", file=sys.stderr)
        return ()
    for failure in failed:
        print(f"gpufleet plan: warning: quotas of {failure.cloud}/{failure.region} not read "
              f"({failure.reason}); declared values only there", file=sys.stderr)
    return tuple(found)


def cmd_quotas(args: argparse.Namespace) -> int:
    from gpufleet import report
    from gpufleet.live.quotas import HEADER, look_up, quotas_document, table_rows
    from gpufleet.offline import load_source
    from gpufleet.planjson import dumps

    spec, _, _ = load_source(_source(args))
    found, failed = look_up(spec) if args.live else ([], [])
    document = quotas_document(spec, found, failed)
    if args.format == "json":
        _emit(dumps(document), args.out)
    else:
        title = "Quotas (vCPUs): live and declared" if args.live else "Declared quotas (vCPUs); --live asks the clouds"
        text = report.render_table(title, HEADER, table_rows(document), args.format, _width(args.out))
        _emit(text, args.out)
    for failure in failed:
        print(f"gpufleet quotas: {failure.cloud}/{failure.region}: not read ({failure.reason})", file=sys.stderr)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from gpufleet import diff, report
    from gpufleet.offline import load_document

    change = diff.diff_documents(
        load_document(args.base, args.stack_name), load_document(args.head, args.stack_name)
    )
    _emit(report.render_diff(change, args.format, _width(args.out)), args.out)
    return change.exit_code


def cmd_check(args: argparse.Namespace) -> int:
    from gpufleet import report
    from gpufleet.errors import CommandLineError, Problem
    from gpufleet.offline import check_resources, run_plan

    if args.resources is not None:
        if args.spec is None:
            raise CommandLineError(
                [Problem("--resources", "needs --spec FILE for jurisdictions, quotas and prices")]
            )
        verdicts = check_resources(args.resources, args.spec)
    elif args.stack or args.spec:
        verdicts = run_plan(_source(args)).verdicts
    else:
        raise CommandLineError(
            [Problem("check", "give --stack NAME, --spec FILE, or --resources FILE --spec FILE")]
        )
    text, code = report.render_verdicts(verdicts, args.format, _width(args.out))
    _emit(text, args.out)
    return code


def cmd_schema(args: argparse.Namespace) -> int:
    from gpufleet.planjson import dumps

    if args.plan:
        from gpufleet.planjson import plan_schema as schema
    elif args.diff:
        from gpufleet.diff import diff_schema as schema
    else:
        from gpufleet.specschema import spec_schema as schema
    _emit(dumps(schema()), None)
    return 0


def _catalog_name(
    flag: str, kind: str, value: str | None, known: list[str], shown: int = 12
) -> str | None:
    """The catalog's spelling of a filter value (matched without case), or a message naming
    the flag, the close matches and the known values."""
    from gpufleet.errors import CommandLineError, Problem
    from gpufleet.specwords import one_of, spelled_as

    if value is None:
        return None
    match = spelled_as(value, known)
    if match is None:
        raise CommandLineError([Problem(flag, one_of(kind, value, known, shown))])
    return match


def cmd_catalog(args: argparse.Namespace) -> int:
    from gpufleet import clouds, report
    from gpufleet.clouds.catalog import load_catalog

    if args.catalog_action == "refresh":
        return cmd_catalog_refresh(args)

    catalog = load_catalog()
    if args.stack or args.spec:  # the spec's own SKUs and price book, marked as such
        from gpufleet.offline import load_source

        catalog = load_source(_source(args))[0].catalog()
    names = list(clouds.names())
    cloud = _catalog_name("--cloud", "cloud", args.cloud, names, len(names))
    chosen = [cloud] if cloud else names
    known = catalog.accelerators()
    accelerator = _catalog_name("--accelerator", "accelerator", args.accelerator, known, len(known))
    regions = sorted({name for c in chosen for name in catalog.region_names(c)})
    region = _catalog_name("--region", f"{' or '.join(chosen)} region", args.region, regions)
    _emit(report.render_catalog(args.format, cloud, accelerator, region, _width(args.out), catalog=catalog), args.out)
    return 0


def cmd_catalog_refresh(args: argparse.Namespace) -> int:
    """`catalog refresh`: the clouds' prices for the catalog's offers, what changed, and with
    --out the refreshed offers file (its folder made if need be). A refresh that did not read
    every region, or found no price, exits 1 and writes nothing (`live.prices.incomplete`)."""
    from gpufleet import clouds, report
    from gpufleet.catalog.overlay import FILE_NAME, read_offers, write_offers
    from gpufleet.clouds.catalog import load_catalog
    from gpufleet.errors import CommandLineError, LookupFailedError, Problem
    from gpufleet.live.prices import HEADER, changes, incomplete, merged, refresh, targets

    folder: Path | None = args.refresh_out
    if folder is not None and folder.exists() and not folder.is_dir():
        raise CommandLineError([Problem("--out", f"{folder} exists and is not a folder")])
    catalog = load_catalog()
    names = list(clouds.names())
    cloud = _catalog_name("--cloud", "cloud", args.refresh_cloud, names, len(names))
    chosen = [cloud] if cloud else names
    known = sorted({name for c in chosen for name in catalog.region_names(c)})
    regions = [_catalog_name("--region", f"{' or '.join(chosen)} region", r, known) or r
               for r in args.refresh_regions]
    wanted = targets(catalog, chosen, regions)
    found, failed = refresh(wanted)
    for failure in failed:
        print(f"gpufleet catalog refresh: {failure.cloud}/{failure.region}: not read ({failure.reason})",
              file=sys.stderr)
    rows = [price.row() for price in found]
    if problem := incomplete(wanted, failed, rows, folder / FILE_NAME if folder else None):
        raise LookupFailedError(problem)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / FILE_NAME
        earlier = read_offers(path, catalog.skus.keys(), catalog.regions.keys()) if path.exists() else []
        write_offers(path, merged(earlier, rows))
    changed = changes(catalog, rows)
    title = (f"Refreshed prices: {len(rows)} offers, {len(changed)} changed against the catalog"
             + (f"; written to {folder / FILE_NAME}" if folder else "; --out DIR writes them"))
    _emit(report.render_table(title, HEADER, changed, args.refresh_format, _width(None)), None)
    return 0


def cmd_policy_config(args: argparse.Namespace) -> int:
    from gpufleet.offline import load_source
    from gpufleet.planjson import dumps
    from gpufleet.policy import policy_config

    spec, _, _ = load_source(_source(args))
    _emit(dumps(policy_config(spec)), args.out)
    return 0


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    from gpufleet import kubeconfig
    from gpufleet.offline import load_source, run_plan

    if args.outputs is not None:
        spec, _, _ = load_source(_source(args))
        found = kubeconfig.cluster_outputs(kubeconfig.read_outputs(args.outputs))
        fleet, redact = spec.name, False
    else:
        result = run_plan(_source(args))
        found = kubeconfig.cluster_outputs(result.recording.outputs)
        fleet, redact = result.plan.fleet, True
    config, sky = kubeconfig.render(fleet, found, redact=redact)
    if args.out is None:
        commented = "".join(f"# {line}\n" for line in sky.splitlines())
        _emit(f"{config}# SkyPilot, in ~/.sky/config.yaml:\n{commented}", None)
    else:
        kubeconfig.write_private(args.out, config)
        _emit(f"# wrote {args.out}; SkyPilot, in ~/.sky/config.yaml:\n{sky}", None)
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from gpufleet.specfile import find_project
    from gpufleet.stackinit import init_stack, next_steps

    root = args.project_dir or find_project() or Path.cwd()
    stack, path = init_stack(args.spec, args.stack, root, args.force)
    _emit(next_steps(stack, path, root), None)
    return 0


def cmd_pr_comment(args: argparse.Namespace) -> int:
    from gpufleet.prcomment import build_comment
    from gpufleet.safewrite import write_text

    text, full, code = build_comment(args.base_dir, args.head_dir, args.report_url)
    if args.full_out is not None:
        write_text(args.full_out, full, flag="--full-out")
    _emit(text, args.out)
    return code


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "plan": cmd_plan, "explain": cmd_explain, "diff": cmd_diff, "check": cmd_check, "schema": cmd_schema,
    "catalog": cmd_catalog, "policy-config": cmd_policy_config, "pr-comment": cmd_pr_comment,
    "init": cmd_init, "quotas": cmd_quotas, "kubeconfig": cmd_kubeconfig,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from gpufleet.errors import GpufleetError

    try:
        _check_out(getattr(args, "out", None))
        return COMMANDS[args.command](args)
    except GpufleetError as error:
        print(f"gpufleet {args.command}: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
