"""`gpufleet explain` benchmark (issue 25): wall time to explain every offer of every pool, the
re-plans it took and the explanations made, on the sample stacks and larger fleets.

Run: .venv/bin/python benchmarks/explain.py [--runs N] [--only NAME]

Instances:
- stacks dev and prod-eu (target: prod-eu ≤ 3 s on two cores);
- examples/data-gravity.yaml;
- the 32,768-GPU fleet of examples/two-deals.yaml as one steady month at its final size (its
  horizon and schedules left out, each contract a flat monthly commitment of its first year):
  the issue's larger fleet (target ≤ 30 s).
- the 50-pool × 80-region fleet of benchmarks/placement.py (its largest generated instance,
  quotas, min shares and commitments; target ≤ 60 s): 8,229 offers, whose searches would take
  about two days, so explain searches the offers closest to winning until its deadline
  (`gpufleet.explain.SEARCH_SECONDS`) and says of the rest that they were not searched.
`failed` counts offers whose re-plan the solver did not finish (they get a reason and no
break-even); `unsearched` those left when explain's search time was up. `CPU s` is the
process's CPU time over every thread (the median run's): under load, where wall time mostly
measures waiting for a core, it is the steadier figure; it counts the forked worker's too.
Explain forks a second process where it has enough re-planning to do (`PARALLEL_SECONDS`);
`--sequential` measures it in one.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gpufleet.explain  # noqa: E402
from benchmarks import placement  # noqa: E402
from gpufleet import breakeven  # noqa: E402
from gpufleet.explain import Explanation, explain  # noqa: E402
from gpufleet.offline import SpecSource, load_source  # noqa: E402
from gpufleet.spec import FleetSpec, load_fleet  # noqa: E402


def example(name: str, steady: bool = False) -> FleetSpec:
    data: dict[str, Any] = yaml.safe_load((ROOT / "examples" / name).read_text(encoding="utf-8"))
    data = data.get("config", {}).get("gpufleet:fleet", data)
    if steady:  # at its final size: the schedule's last step
        data.pop("horizon", None)
        for pool in data["pools"]:
            if schedule := pool.pop("schedule", None):
                pool["gpus"] = schedule[max(schedule)]
        commitments = data.get("budget", {}).get("commitments", {})
        for cloud, deal in list(commitments.items()):
            if isinstance(deal, dict):  # a contract needs a horizon: its first year's minimum, flat
                ramp = deal.get("ramp_usd")
                yearly = ramp[0] if ramp else deal["total_usd"] / deal.get("years", 1)
                commitments[cloud] = round(yearly / 12, 2)
    return load_fleet(data)


def instances() -> dict[str, FleetSpec]:
    return {
        "dev": load_source(SpecSource(stack="dev"))[0],
        "prod-eu": load_source(SpecSource(stack="prod-eu"))[0],
        "data-gravity": example("data-gravity.yaml"),
        "two-deals (steady month)": example("two-deals.yaml", steady=True),
        "50 pools × 80 regions": placement.largest(placement.instances())[1],
    }


def _cpu() -> float:
    """CPU seconds of this process's threads and of its finished children (the workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", help="one instance by name")
    parser.add_argument("--sequential", action="store_true", help="in one process (no second worker)")
    args = parser.parse_args()
    if args.sequential:
        gpufleet.explain.PARALLEL_SECONDS = math.inf
    solve = breakeven.Replanner._solve  # counted, not changed
    count = multiprocessing.get_context("fork").Value("i", 0)  # shared with the forked workers

    def counted(self: breakeven.Replanner, *given: Any) -> Any:
        with count.get_lock():
            count.value += 1
        return solve(self, *given)

    breakeven.Replanner._solve = counted  # type: ignore[method-assign]
    print(f"{'instance':<28} {'median s':>9} {'min s':>7} {'CPU s':>6} {'re-plans':>9} {'offers':>7} "
          f"{'break-evens':>12} {'failed':>7} {'unsearched':>11}")
    for name, spec in instances().items():
        if args.only and name != args.only:
            continue
        times: list[float] = []
        cpu: list[float] = []
        found: list[Explanation] = []
        for _ in range(args.runs):
            count.value = 0
            started, used = time.perf_counter(), _cpu()
            found = explain(spec)
            times.append(time.perf_counter() - started)
            cpu.append(_cpu() - used)
        evens = sum(1 for e in found if e.even is not None)
        failed = sum(1 for e in found if "did not solve" in e.sentence)
        unsearched = sum(1 for e in found if "not searched" in e.sentence)
        print(f"{name:<28} {statistics.median(times):>9.2f} {min(times):>7.2f} {statistics.median(cpu):>6.2f} "
              f"{count.value:>9} {len(found):>7} "
              f"{evens:>12} {failed:>7} {unsearched:>11}", flush=True)


if __name__ == "__main__":
    main()
