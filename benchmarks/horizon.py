"""Multi-period placement benchmark (issue 24): time to a plan over a horizon, its status and
optimality gap, the groups of interchangeable periods the master problem solves, and the nodes
moved between periods.

Run: .venv/bin/python benchmarks/horizon.py [--runs N]

Instances:
- the 32,768-GPU fleet of examples/two-deals.yaml (two pools, six US regions of both clouds, a
  7-year AWS contract with a per-year ramp and an 8-year Azure commitment with milestones) over
  84 monthly periods and over 28 quarters (2026-01 to 2032-12);
- the 50-pool × 80-region instance of benchmarks/placement.py over 12 quarters: with its flat
  commitments (nothing ties a period to another: each is today's single-period placement
  after the one before), and with contracts (a 3-year AWS per-year ramp with a 5 % discount, a
  3-year Azure whole-term commitment with a milestone and credit), which the column generation
  over periods solves.

Targets (issue 24): each at most 10 s to a proven optimum on two cores. Over a horizon "Optimal"
means proven within a relative gap of 1e-4 (`gpufleet.horizon.HORIZON_GAP`, HiGHS's default
`mip_rel_gap`; docs/design.md, "Multi-period placement"): a commitment burned to its minimum is
met with whole nodes, a knapsack whose exact optimum takes HiGHS minutes to prove. The gap shown
is the one proven; a plan not proven within 1e-4 is Feasible.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.placement import instances, largest  # noqa: E402
from gpufleet.horizon import contract_terms, period_spec, periods  # noqa: E402
from gpufleet.pipeline import moved_nodes  # noqa: E402
from gpufleet.placement.horizon import HorizonResult, place_horizon  # noqa: E402
from gpufleet.placement.master import groups_of  # noqa: E402
from gpufleet.spec import FleetSpec, load_fleet  # noqa: E402

EXAMPLE = ROOT / "examples" / "two-deals.yaml"


def two_deals(months: int, period: str) -> FleetSpec:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["horizon"] = {"start": "2026-01", "months": months, "period": period}
    return load_fleet(data)


def fifty_pools(contracts: bool) -> FleetSpec:
    _, spec = largest(instances())
    data = spec.model_dump(mode="json", exclude_none=True)
    data["horizon"] = {"start": "2026-01", "months": 36, "period": "quarter"}
    if contracts:
        data["budget"] = {"commitments": {
            "aws": {"total_usd": 90_000_000, "start": "2026-01", "years": 3, "minimum": "per-year",
                    "ramp_usd": [20e6, 30e6, 40e6], "discount": 0.05},
            "azure": {"total_usd": 126_000_000, "start": "2026-01", "years": 3, "minimum": "whole-term",
                      "milestones": {"2026-12": 30e6}, "shortfall": "credit"},
        }}
    return load_fleet(data)


def groups(spec: FleetSpec) -> int:
    """Periods the master problem tells apart (without contracts: distinct period specs)."""
    assert spec.horizon is not None
    cut = periods(spec.horizon)
    specs = [period_spec(spec, p) for p in cut]
    key = lambda s: (tuple(p.gpus for p in s.pools), tuple(sorted(s.budget.discounts().items())))  # noqa: E731
    return len(groups_of(specs, cut, contract_terms(spec, cut), key))


def measure(name: str, spec: FleetSpec, runs: int) -> tuple[str, ...]:
    walls: list[float] = []
    result: HorizonResult | None = None
    for _ in range(runs):
        began = time.perf_counter()
        result = place_horizon(spec)
        walls.append(time.perf_counter() - began)
    assert result is not None
    moved = sum(moved_nodes(a, b) for a, b in zip(result.placements, result.placements[1:], strict=False))
    return (name, str(len(result.periods)), str(groups(spec)), result.solver.status,
            f"{result.solver.optimality_gap:.2g}", f"{result.solver.seconds:.2f}", f"{statistics.median(walls):.2f}",
            str(moved))


def main() -> None:
    parser = argparse.ArgumentParser(description="Multi-period placement benchmark")
    parser.add_argument("--runs", type=int, default=1, help="solves per instance; the median time is shown")
    args = parser.parse_args()
    header = ("instance", "periods", "groups", "status", "gap", "HiGHS s", "place_horizon() s", "moved nodes")
    rows = [
        measure("two-deals, 32,768 GPUs, 84 months", two_deals(84, "month"), args.runs),
        measure("two-deals, 32,768 GPUs, 28 quarters", two_deals(84, "quarter"), args.runs),
        measure("50 pools × 80 regions, 12 quarters, flat commitments", fifty_pools(contracts=False), args.runs),
        measure("50 pools × 80 regions, 12 quarters, contracts", fifty_pools(contracts=True), args.runs),
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        cells = zip(row, widths, strict=True)
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells)))
    print(
        "\ngroups: periods the master problem tells apart (same pool sizes, discount and place in every "
        "contract);\nHiGHS s: time in the solver; place_horizon() s: the whole call (median of "
        f"{args.runs}); gap: relative, proven (to the master problem's bound or, over every offer, the joint MILP's):\n"
        "Optimal over a horizon means within 1e-4 (HORIZON_GAP)."
    )


if __name__ == "__main__":
    main()
