"""The offline plan: spec → the Pulumi program under the recording engine → policies → document.

One pipeline for `gpufleet plan`, `check`, `diff` and the benchmarks: the program decides the
plan and declares the resources; the policy pack judges the recorded resources.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Generator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpufleet.errors import EXIT_OK, EXIT_POLICY, GpufleetError, Problem, SpecError
from gpufleet.plan import PLAN_VERSION, FleetPlan
from gpufleet.planjson import placement_json, read_document
from gpufleet.policy import PolicyVerdict, evaluate, mandatory_failed, policy_config
from gpufleet.preview import Recording, record_program
from gpufleet.spec import FleetSpec
from gpufleet.specfile import CONFIG_KEY, existing_stack_path, read_fleet, stack_path

PROGRESS_AFTER_SECONDS = 1.0


@dataclass(frozen=True)
class SpecSource:
    """Where a spec comes from: a stack name in stacks/, or a file."""

    stack: str | None = None
    spec: Path | None = None


@dataclass(frozen=True)
class OfflinePlan:
    plan: FleetPlan
    recording: Recording
    verdicts: list[PolicyVerdict]
    document: dict[str, Any]

    @property
    def exit_code(self) -> int:
        return EXIT_POLICY if mandatory_failed(self.verdicts) else EXIT_OK


def load_source(source: SpecSource) -> tuple[FleetSpec, str, object]:
    """(validated spec, stack name, raw fleet mapping); errors name the file and field."""
    if source.stack:
        path = existing_stack_path(source.stack)
    elif source.spec is not None:
        path = source.spec
    else:
        raise SpecError([Problem("--stack/--spec", "give a stack name or a spec file")])
    spec, data = read_fleet(path)
    name = source.stack or path.name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml")
    return spec, name, data


@contextmanager
def _progress(label: str, enabled: bool) -> Generator[None]:
    """Say on stderr what is happening when it takes more than a second."""
    started = time.perf_counter()
    timer = threading.Timer(
        PROGRESS_AFTER_SECONDS, lambda: print(f"gpufleet: {label} ...", file=sys.stderr, flush=True)
    )
    if enabled:
        timer.start()
    try:
        yield
    finally:
        timer.cancel()
        elapsed = time.perf_counter() - started
        if enabled and elapsed > PROGRESS_AFTER_SECONDS:
            print(f"gpufleet: {label}: done in {elapsed:.1f} s", file=sys.stderr, flush=True)


def _program_error(error: BaseException) -> GpufleetError | None:
    """The gpufleet error behind a failed program run (the program wraps it in RunError)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, GpufleetError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def run_plan(source: SpecSource, previous: Path | None = None, progress: bool = False) -> OfflinePlan:
    spec, stack, data = load_source(source)
    config: dict[str, Any] = {CONFIG_KEY: data}
    if previous is not None:
        config["gpufleet:previousPlan"] = str(previous)  # the program reads it, as under pulumi up
    with _progress(f"planning {stack}", progress):
        try:
            recording = record_program(stack, config)
        except Exception as error:
            cause = _program_error(error)
            if cause is None:
                raise
            raise cause from None
        plan: FleetPlan = recording.result
        verdicts = evaluate(recording.resources, policy_config(spec))
    return OfflinePlan(plan, recording, verdicts, plan_document(plan, recording, verdicts))


def plan_document(plan: FleetPlan, recording: Recording, verdicts: Sequence[PolicyVerdict]) -> dict[str, Any]:
    """The plan JSON (DESIGN.md contract, extended with solver, commitments and counts)."""
    # Providers stay in: their region and default tags are part of what a policy judges.
    # Registration order depends on thread scheduling; URN order is stable.
    resources = sorted(recording.resources, key=lambda r: r.urn)
    counts = Counter((r.cloud or "-", r.region or "-", r.type) for r in resources if r.custom)
    spend = {s.cloud: s for s in plan.cost.by_cloud}
    return {
        "version": PLAN_VERSION,
        "stack": plan.stack,
        "fleet": plan.fleet,
        "pools": [
            {"name": pool.name, "accelerator": pool.accelerator, "gpus": pool.gpus,
             "placements": [placement_json(p) for p in pool.placements]}
            for pool in plan.pools
        ],
        "networks": [
            {"cloud": n.cloud, "region": n.region, "cidr": n.cidr, "pod_cidr": n.pod_cidr}
            for n in plan.networks
        ],
        "storage": [
            {"name": s.name, "cloud": s.cloud, "region": s.region, "size_tib": s.size_tib,
             "protect": s.protect}
            for s in plan.storage
        ],
        "cost": {
            "monthly_usd": round(plan.cost.monthly_usd, 2),
            "by_cloud": {c: round(s.monthly_usd, 2) for c, s in spend.items()},
            "budget_usd": plan.cost.budget_usd,
            "commitments": {
                c: {"committed_usd": s.commitment_usd, "burned_usd": round(s.burned_usd, 2),
                    "left_usd": round(s.left_usd, 2),
                    "above_commitment_usd": round(s.above_commitment_usd, 2)}
                for c, s in spend.items()
            },
            "lines": [
                {"item": line.item, "cloud": line.cloud, "region": line.region,
                 "monthly_usd": round(line.monthly_usd, 2), "source": line.source}
                for line in plan.cost.lines
            ],
        },
        "quota": [
            {"cloud": q.cloud, "region": q.region, "bucket": q.bucket,
             "used_vcpus": q.used_vcpus, "limit_vcpus": q.limit_vcpus}
            for q in plan.quota
        ],
        "solver": {
            "status": plan.solver.status, "optimality_gap": plan.solver.optimality_gap,
            "seconds": round(plan.solver.seconds, 4), "objective_usd": round(plan.solver.objective_usd, 2),
            "kept_from_previous": plan.solver.kept_from_previous,
        },
        "skipped_offers": list(plan.skipped_offers),
        "resource_counts": [
            {"cloud": c, "region": r, "type": t, "count": n} for (c, r, t), n in sorted(counts.items())
        ],
        "resources": [r.to_json() for r in resources],
        "policies": [v.to_json() for v in verdicts],
    }


def load_document(reference: str) -> dict[str, Any]:
    """A plan document from a plan JSON file, a stack name, or a spec file (planned offline)."""
    path = Path(reference)
    if path.suffix == ".json":
        return read_document(path)
    if path.exists():
        return run_plan(SpecSource(spec=path)).document
    if stack_path(reference).exists():
        return run_plan(SpecSource(stack=reference)).document
    raise SpecError([Problem(reference, "not a plan JSON file, a spec file or a stack name")])


def check_resources(resources_file: Path, spec_file: Path) -> list[PolicyVerdict]:
    """Policy verdicts for resources from any program, judged against a spec's rules."""
    import json

    from gpufleet.policy import resources_from_json

    spec, _, _ = load_source(SpecSource(spec=spec_file))
    try:
        items: object = json.loads(resources_file.read_text(encoding="utf-8"))
    except OSError as error:
        raise SpecError([Problem(str(resources_file), f"cannot read: {error.strerror}")]) from None
    except json.JSONDecodeError as error:
        raise SpecError([Problem(f"{resources_file}:line {error.lineno}", f"not JSON: {error.msg}")]) from None
    return evaluate(resources_from_json(items), policy_config(spec))  # a list or a whole plan
