"""The offline plan: spec → the Pulumi program under the recording engine → policies → document.

One pipeline for `gpufleet plan`, `check`, `diff` and the benchmarks: the program decides the
plan and declares the resources; the policy pack judges the recorded resources.
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from gpufleet import safejson
from gpufleet.clouds.catalog import load_catalog
from gpufleet.clusters import plan_clusters
from gpufleet.diff import PlanDiff, diff_documents
from gpufleet.errors import EXIT_OK, EXIT_POLICY, CommandLineError, GpufleetError, Problem, SpecError
from gpufleet.horizonjson import horizon_json
from gpufleet.live import LiveQuota
from gpufleet.movereasons import MoveCauses
from gpufleet.moves import moves
from gpufleet.pipeline import deployed_period
from gpufleet.plan import PLAN_VERSION, FleetPlan, QuotaUse
from gpufleet.planinput import read_document
from gpufleet.planjson import (
    CapacityDoc,
    PlanDocument,
    PolicyDoc,
    PreviousDoc,
    QuotaDoc,
    ResourceDoc,
    cluster_docs,
    interconnect_json,
    network_json,
    pipes_json,
    pool_json,
    previous_placements,
)
from gpufleet.policy import PolicyVerdict, evaluate, mandatory_failed, policy_config
from gpufleet.preview import RecordedResource, Recording, record_program
from gpufleet.racks import placement_racks
from gpufleet.spec import FleetSpec, load_fleet
from gpufleet.speccapacity import flag_problems, with_unavailable
from gpufleet.specfile import (
    CLUSTER_SOFTWARE_CONFIG,
    CONFIG_KEY,
    PERIOD_CONFIG,
    existing_stack_path,
    read_fleet,
    stack_name_problem,
    stack_of_file,
    stack_path,
)
from gpufleet.whatif import scenario

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


@dataclass(frozen=True)
class SpecSource:
    """Where a spec comes from (a stack name in stacks/, or a file) and, optionally, the stack
    name to plan it as (`--stack-name`)."""

    stack: str | None = None
    spec: Path | None = None
    stack_name: str | None = None
    unavailable: tuple[str, ...] = ()
    """One-off `--unavailable` entries, added to the spec's `capacity.unavailable`."""
    cluster_software: bool | None = None  # gpufleet:clusterSoftware; None: the access mode decides
    period: str | None = None
    """`--period`: the month whose period a horizon plan deploys (gpufleet:period)."""
    price_changes: tuple[str, ...] = ()
    """`--price-change` values, written into the spec's price book (`gpufleet.whatif`)."""
    quota_changes: tuple[str, ...] = ()
    """`--quota` values, written into the spec's declared quotas."""

    @property
    def unchanged(self) -> SpecSource:
        """The same source without the what-if scenario: the plan a scenario is compared with."""
        return replace(self, price_changes=(), quota_changes=())


@dataclass(frozen=True)
class OfflinePlan:
    plan: FleetPlan
    recording: Recording
    verdicts: list[PolicyVerdict]
    document: dict[str, Any]  # read like a plan read back from a file

    @property
    def exit_code(self) -> int:
        return EXIT_POLICY if mandatory_failed(self.verdicts) else EXIT_OK


def load_source(source: SpecSource) -> tuple[FleetSpec, str, object]:
    """(validated spec, stack name, raw fleet mapping); errors name the file and field."""
    if source.stack_name is not None and (bad_name := stack_name_problem(source.stack_name)):
        raise CommandLineError([Problem("--stack-name", bad_name)])
    if source.stack:
        path = existing_stack_path(source.stack)
    elif source.spec is not None:
        path = source.spec
    else:
        raise CommandLineError([Problem("--stack/--spec", "give a stack name or a spec file")])
    if source.unavailable and (bad := flag_problems(source.unavailable, load_catalog())):
        raise CommandLineError(bad)
    spec, data = read_fleet(path)
    if source.unavailable:
        data = with_unavailable(data, source.unavailable)
        spec = _reloaded(data, path)
    if source.price_changes or source.quota_changes:
        data = scenario(spec, source.price_changes, source.quota_changes).applied(data)
        spec = _reloaded(data, path)
    name = source.stack_name or source.stack or stack_of_file(path, spec.name)
    if source.period is not None:
        _check_period(spec, source.period)
    return spec, name, data


def with_scenario(document: dict[str, Any], source: SpecSource, unchanged: dict[str, Any]) -> PlanDiff:
    """Record a what-if plan's scenario in its document (`scenario`: the changes and the diff
    from the plan without them, `unchanged`) and return that diff, for output that shows both."""
    spec, _, _ = load_source(source.unchanged)
    made = scenario(spec, source.price_changes, source.quota_changes)
    change = diff_documents(unchanged, document)
    document["scenario"] = {"price_changes": list(made.price_changes), "quota_changes": list(made.quota_changes),
                            "diff": dict(change.to_json())}
    return change


def _reloaded(data: object, path: Path) -> FleetSpec:
    """The spec of a fleet mapping changed by a flag, its errors naming the file."""
    try:
        return load_fleet(data)
    except SpecError as error:
        raise SpecError(error.problems, source=str(path)) from None


def _check_period(spec: FleetSpec, month: str) -> None:
    """`--period` names a month of the spec's horizon."""
    if spec.horizon is None:
        raise CommandLineError([Problem("--period", (
            "the spec has no horizon: one steady month is planned; add horizon: {start: YYYY-MM, "
            "months: N, period: month|quarter} to plan periods"
        ))])
    try:
        deployed_period(spec.horizon, month, "--period")
    except SpecError as error:
        raise CommandLineError(error.problems) from None


class _Progress:
    """On a terminal, what `gpufleet plan` is doing: the phase, the resources registered so far,
    the time; then one line with the total. On a pipe or in a CI log, nothing: a live display
    would write control codes, and stdout stays the only output."""

    def __init__(self, stack: str, enabled: bool) -> None:
        self.stack = stack
        self.enabled = enabled and sys.stderr.isatty()
        self.started = time.perf_counter()
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                SpinnerColumn(), TextColumn(f"gpufleet: planning {self.stack}: {{task.description}}"),
                TextColumn("{task.completed} resources"), TimeElapsedColumn(),
                console=Console(stderr=True), transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("running the program", total=None)
        return self

    def registered(self, _: RecordedResource) -> None:
        """One more resource registered (called from the engine's worker threads)."""
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task)

    def phase(self, description: str) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=description)

    def __exit__(self, failed: type[BaseException] | None, *_: object) -> None:
        if self._bar is None:
            return
        self._bar.stop()
        if failed is None:
            elapsed = time.perf_counter() - self.started
            count = self._bar.tasks[0].completed
            self._bar.console.print(
                f"gpufleet: planning {self.stack}: done in {elapsed:.1f} s ({count:.0f} resources)",
                highlight=False,
            )


def _program_error(error: BaseException) -> GpufleetError | None:
    """The gpufleet error behind a failed program run (the program wraps it in RunError)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, GpufleetError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def run_plan(
    source: SpecSource, previous: Path | None = None, progress: bool = False,
    live: Sequence[LiveQuota] = (),
) -> OfflinePlan:
    """Plan a spec offline; `progress` shows what is happening on stderr when it is a terminal;
    `live` quotas fill the buckets the spec does not declare."""
    _, stack, data = load_source(source)
    config: dict[str, Any] = {CONFIG_KEY: data}
    if live:
        config["gpufleet:liveQuotas"] = [q.to_json() for q in live]  # the program reads it
    if previous is not None:
        config["gpufleet:previousPlan"] = str(previous)  # the program reads it, as under pulumi up
    if source.cluster_software is not None:
        config[CLUSTER_SOFTWARE_CONFIG] = "true" if source.cluster_software else "false"
    if source.period is not None:
        config[PERIOD_CONFIG] = source.period
    started = time.perf_counter()
    with _Progress(stack, progress) as shown:
        try:
            recording = record_program(stack, config, on_register=shown.registered)
        except Exception as error:
            cause = _program_error(error)
            if cause is None:
                raise
            raise cause from None
        plan: FleetPlan = recording.result
        shown.phase("judging policies")
        config = policy_config(plan.spec, plan.commitments, plan.pipes)  # with live quotas
        verdicts = evaluate(recording.resources, config)
    kept = _previous(plan, previous)
    document = plan_document(plan, recording, verdicts, kept, time.perf_counter() - started)
    return OfflinePlan(plan, recording, verdicts, cast(dict[str, Any], document))


def _previous(plan: FleetPlan, previous: Path | None) -> PreviousDoc | None:
    """What `--previous` kept, and the most that keeping it may cost against the cheapest plan:
    placement keeps nodes only while the total stays within (1 + tolerance) × the cheapest
    total, so the difference is at most total × tolerance / (1 + tolerance)."""
    if previous is None:
        return None
    tolerance = plan.spec.placement.stability_tolerance
    before = previous_placements(str(previous))
    kept: PreviousDoc = {
        "nodes": sum(p.nodes for p in before),
        "kept_nodes": plan.solver.kept_from_previous,
        "stability_tolerance": tolerance,
        "max_extra_usd": round(plan.solver.objective_usd * tolerance / (1 + tolerance), 2),
    }
    why = MoveCauses(plan.spec, plan.spec.catalog(), before, plan.placements).why
    if moved := moves(before, plan.placements, why):
        kept["moved"] = [m.to_json() for m in moved]  # only when something moved
    return kept


def _capacity(plan: FleetPlan) -> CapacityDoc | None:
    """The `capacity` key: present when the spec (or `--unavailable`) names a shortfall."""
    limits = plan.spec.capacity
    if not limits.unavailable and not limits.available:
        return None
    return {"unavailable": list(limits.unavailable), "available": dict(limits.available),
            "offers_out": list(plan.unavailable_offers)}


def _quota_json(q: QuotaUse) -> QuotaDoc:
    """A quota line; `source` only where a live look-up gave the limit, `unit` only where the
    cloud counts GPUs."""
    doc: QuotaDoc = {"cloud": q.cloud, "region": q.region, "bucket": q.bucket,
                     "used_vcpus": q.used_vcpus, "limit_vcpus": q.limit_vcpus}
    if q.source:
        doc["source"] = q.source
    if q.unit == "gpus":
        doc["unit"] = "gpus"
    return doc


def plan_document(
    plan: FleetPlan, recording: Recording, verdicts: Sequence[PolicyVerdict],
    previous: PreviousDoc | None = None, seconds: float = 0.0,
) -> PlanDocument:
    """The plan JSON (docs/design.md contract, extended with solver, commitments and counts);
    `seconds` is the wall time of the whole plan, for `timings`."""
    # Providers stay in: their region and default tags are part of what a policy judges.
    # Registration order depends on thread scheduling; URN order is stable.
    resources = sorted(recording.resources, key=lambda r: r.urn)
    counts = Counter((r.cloud or "-", r.region or "-", r.type) for r in resources if r.custom)
    spend = {s.cloud: s for s in plan.cost.by_cloud}
    catalog = plan.spec.catalog()
    document: PlanDocument = {
        "version": PLAN_VERSION,
        "stack": plan.stack,
        "fleet": plan.fleet,
        "pools": [pool_json(pool, lambda p: placement_racks(plan.spec, catalog, p)) for pool in plan.pools],
        "networks": [network_json(n) for n in plan.networks],
        "storage": [
            {"name": s.name, "cloud": s.cloud, "region": s.region, "size_tib": s.size_tib,
             "protect": s.protect}
            for s in plan.storage
        ],
        "cost": {
            "monthly_usd": round(plan.cost.monthly_usd, 2),
            "by_cloud": {c: round(s.monthly_usd, 2) for c, s in spend.items()},
            "budget_usd": plan.cost.budget_usd,
            # A contract is no monthly figure: its burn is the `commitments` report over the horizon.
            "commitments": {
                c: {"committed_usd": s.commitment_usd, "burned_usd": round(s.burned_usd, 2),
                    "left_usd": round(s.left_usd, 2),
                    "above_commitment_usd": round(s.above_commitment_usd, 2)}
                for c, s in spend.items() if c not in plan.spec.budget.contracts()
            },
            "lines": [
                {"item": line.item, "cloud": line.cloud, "region": line.region,
                 "monthly_usd": round(line.monthly_usd, 2), "source": line.source, "kind": line.kind}
                for line in plan.cost.lines
            ],
        },
        "quota": [_quota_json(q) for q in plan.quota],
        "clusters": cluster_docs(plan_clusters(plan)),
        "solver": {
            "status": plan.solver.status,
            # unknown (no bound proven) is null: JSON has no Infinity
            "optimality_gap": gap if math.isfinite(gap := plan.solver.optimality_gap) else None,
            "seconds": round(plan.solver.seconds, 4), "objective_usd": round(plan.solver.objective_usd, 2),
            "kept_from_previous": plan.solver.kept_from_previous,
        },
        "previous": previous,
        "skipped_offers": list(plan.skipped_offers),
        "resource_counts": [
            {"cloud": c, "region": r, "type": t, "count": n} for (c, r, t), n in sorted(counts.items())
        ],
        "resources": cast(list[ResourceDoc], [r.to_json() for r in resources]),
        "policies": cast(list[PolicyDoc], [v.to_json() for v in verdicts]),
        "access": {
            "mode": plan.spec.access.mode, "cidrs": [str(c) for c in plan.spec.access.cidrs],
            "cluster_software": plan.cluster_software,
        },
        "timings": {"solver_seconds": round(plan.solver.seconds, 4), "plan_seconds": round(seconds, 2)},
    }
    if (capacity := _capacity(plan)) is not None:
        document["capacity"] = capacity
    if plan.link is not None:
        document["interconnect"] = interconnect_json(plan.link)
    if plan.pipes:  # only with copies away from a home: other plans stay as they were
        document["pipes"] = pipes_json(plan.pipes)
    if (over := horizon_json(plan)) is not None:  # only with a horizon: other plans stay as they were
        document["horizon"], document["schedule"], document["commitments"] = over
    return document


def load_document(reference: str, stack_name: str | None = None) -> dict[str, Any]:
    """A plan document from a plan JSON file, a stack name, or a spec file (planned offline,
    as `stack_name` if given)."""
    path = Path(reference)
    if path.suffix == ".json":
        return read_document(path, CommandLineError)
    if path.exists():
        return run_plan(SpecSource(spec=path, stack_name=stack_name)).document
    if stack_name_problem(reference) is None and stack_path(reference).exists():
        return run_plan(SpecSource(stack=reference, stack_name=stack_name)).document
    raise CommandLineError([Problem(reference, "not a plan JSON file, a spec file or a stack name")])


def check_resources(resources_file: Path, spec_file: Path) -> list[PolicyVerdict]:
    """Policy verdicts for resources from any program, judged against a spec's rules."""
    from gpufleet.policy import resources_from_json

    spec, _, _ = load_source(SpecSource(spec=spec_file))
    items: object = safejson.read(resources_file, "resources file", CommandLineError, f"--resources {resources_file}")
    try:
        resources = resources_from_json(items, spec.policies.unchecked_types)  # a list or a whole plan
    except SpecError as error:
        raise CommandLineError(error.problems, source=f"--resources {resources_file}") from None
    return evaluate(resources, policy_config(spec))
