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

if TYPE_CHECKING:
    from gpufleet.offline import SpecSource

FORMATS = ("table", "markdown", "json")


def _add_source(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument("--stack", metavar="NAME", help="a stack in stacks/ (Pulumi.NAME.yaml)")
    source.add_argument(
        "--spec", metavar="FILE", type=Path,
        help="a stack file (config: gpufleet:fleet: ...) or a bare fleet spec",
    )


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
    plan.add_argument("--stable", action="store_true",
                      help="leave out timings, so the same input gives byte-identical output")

    diff = commands.add_parser("diff", help="what changes between two plans or specs")
    diff.add_argument("base", help="plan JSON, stack name or spec file")
    diff.add_argument("head", help="plan JSON, stack name or spec file")
    _add_output(diff, default="markdown")

    check = commands.add_parser("check", help="policy verdicts only, for a CI gate")
    check.add_argument("--stack", metavar="NAME")
    check.add_argument("--spec", metavar="FILE", type=Path)
    check.add_argument("--resources", metavar="FILE", type=Path,
                       help="JSON list of resources (plan `resources` shape); needs --spec")
    _add_output(check)

    schema = commands.add_parser("schema", help="JSON Schema of the fleet spec (or of the plan or diff JSON)")
    document = schema.add_mutually_exclusive_group()
    document.add_argument("--plan", action="store_true", help="the plan JSON's schema instead")
    document.add_argument("--diff", action="store_true", help="the diff JSON's schema instead")

    catalog = commands.add_parser("catalog", help="SKUs, prices, regions and jurisdictions")
    catalog.add_argument("--format", choices=("table", "json"), default="table")
    catalog.add_argument("--cloud", choices=("aws", "azure"))
    catalog.add_argument("--accelerator")
    catalog.add_argument("--region")

    comment = commands.add_parser(
        "pr-comment", help="one PR comment from folders of base and head plan JSON files"
    )
    comment.add_argument("base_dir", type=Path)
    comment.add_argument("head_dir", type=Path)
    comment.add_argument("--out", metavar="FILE", type=Path)

    init = commands.add_parser(
        "init", help="make stacks/Pulumi.NAME.yaml from a bare spec file, for pulumi up",
    )
    init.add_argument("spec", type=Path, help="a bare fleet spec (or a stack file)")
    init.add_argument("--stack", metavar="NAME", help="stack name (default: the fleet's name)")
    init.add_argument("--project-dir", metavar="DIR", type=Path,
                      help="the Pulumi project holding stacks/ (default: gpufleet's own)")
    init.add_argument("--force", action="store_true", help="replace an existing stack file")

    config = commands.add_parser(
        "policy-config", help="write the --policy-pack-config JSON for a stack"
    )
    _add_source(config)
    config.add_argument("--out", metavar="FILE", type=Path)
    return parser


def _source(stack: str | None, spec: Path | None) -> SpecSource:
    from gpufleet.offline import SpecSource

    return SpecSource(stack=stack, spec=spec)


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        out.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def _width(out: Path | None) -> int:
    """Table width: the terminal's when writing to stdout, a fixed width into a file."""
    from gpufleet import report

    return report.terminal_width() if out is None else report.PIPE_WIDTH


def cmd_plan(args: argparse.Namespace) -> int:
    from gpufleet import report
    from gpufleet.offline import run_plan
    from gpufleet.planjson import stable

    progress = args.format != "json"  # a terminal shows progress on stderr; JSON mode stays silent
    result = run_plan(_source(args.stack, args.spec), previous=args.previous, progress=progress)
    document = stable(result.document) if args.stable else result.document
    _emit(report.render_plan(document, args.format, _width(args.out)), args.out)
    return result.exit_code


def cmd_diff(args: argparse.Namespace) -> int:
    from gpufleet import diff, report
    from gpufleet.offline import load_document

    change = diff.diff_documents(load_document(args.base), load_document(args.head))
    _emit(report.render_diff(change, args.format, _width(args.out)), args.out)
    return change.exit_code


def cmd_check(args: argparse.Namespace) -> int:
    from gpufleet import report
    from gpufleet.errors import Problem, SpecError
    from gpufleet.offline import check_resources, run_plan

    if args.resources is not None:
        if args.spec is None:
            raise SpecError([Problem("--resources", "needs --spec FILE for jurisdictions, quotas and prices")])
        verdicts = check_resources(args.resources, args.spec)
    elif args.stack or args.spec:
        verdicts = run_plan(_source(args.stack, args.spec)).verdicts
    else:
        raise SpecError([Problem("check", "give --stack NAME, --spec FILE, or --resources FILE --spec FILE")])
    text, code = report.render_verdicts(verdicts, args.format, _width(args.out))
    _emit(text, args.out)
    return code


def cmd_schema(args: argparse.Namespace) -> int:
    import json

    if args.plan:
        from gpufleet.planjson import plan_schema as schema
    elif args.diff:
        from gpufleet.diff import diff_schema as schema
    else:
        from gpufleet.spec import spec_schema as schema
    _emit(json.dumps(schema(), indent=2), None)
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    from gpufleet import report

    _emit(report.render_catalog(args.format, args.cloud, args.accelerator, args.region, _width(None)), None)
    return 0


def cmd_policy_config(args: argparse.Namespace) -> int:
    import json

    from gpufleet.offline import load_source
    from gpufleet.policy import policy_config

    spec, _, _ = load_source(_source(args.stack, args.spec))
    _emit(json.dumps(policy_config(spec), indent=2), args.out)
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from gpufleet.specfile import PROJECT_ROOT
    from gpufleet.stackinit import init_stack, next_steps

    root = args.project_dir or PROJECT_ROOT
    stack, path = init_stack(args.spec, args.stack, root, args.force)
    _emit(next_steps(stack, path, root), None)
    return 0


def cmd_pr_comment(args: argparse.Namespace) -> int:
    from gpufleet.prcomment import build_comment

    text, code = build_comment(args.base_dir, args.head_dir)
    _emit(text, args.out)
    return code


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "plan": cmd_plan, "diff": cmd_diff, "check": cmd_check, "schema": cmd_schema,
    "catalog": cmd_catalog, "policy-config": cmd_policy_config, "pr-comment": cmd_pr_comment,
    "init": cmd_init,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from gpufleet.errors import GpufleetError

    try:
        return COMMANDS[args.command](args)
    except GpufleetError as error:
        print(f"gpufleet {args.command}: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
