"""Placement benchmark: solve time, optimality gap and cost against a per-pool greedy baseline.

Run: .venv/bin/python benchmarks/placement.py [--runs N] [--seeds N] [--only TEXT]

Instances are generated from the packaged catalog with a fixed seed, so every run solves the same
problems: small (a few US regions, 3 pools), all catalog regions of both clouds × 10 pools, and
all catalog regions × 50 pools with shared quotas and min shares; plus the sample stacks. Azure
regions the catalog has no price for get price-book entries (a regional factor on the catalog's
mean price), so every region is a real candidate. The greedy baseline is what launch-time tools
do: each pool in turn takes the cheapest $/GPU offers left under the quotas (it ignores
commitments), so the coupled instances show what planning the fleet as a whole saves. Both
plans are priced alike: GPU nodes plus every used region's fixed cost (control plane, NAT
gateways, system nodes) and storage copies, as `gpufleet.placement.spend_by_cloud` counts them.

One seed is one search path: HiGHS's time on the largest instance depends on it as much as on
the model. So the benchmark also times that instance under other HiGHS seeds, and other fleets
drawn by the same generator, and shows the spread. `place` runs the second cost level ahead on a
second core when the machine has one; the benchmark also times the largest instance without
that, as a one-core machine would solve it (the plan is the same).

`--exact` also solves the largest instance with every pool's own columns (`SolverOptions`'
`group_pools` off, 10 minutes a solve) and with the cost levels solved in turn
(`within_commitments_first` off), and compares: both cost levels, the tie-break (Σ rank × nodes
in the fixed candidate order) and the plan. "B&B nodes" counts HiGHS's branch-and-bound
nodes over every solve of a `place` (the levels run ahead on the second core included), which
shows the size of the search apart from the machine's speed and load.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.greedy import greedy_place
from gpufleet.catalog import Catalog, Cloud
from gpufleet.clouds.catalog import load_catalog
from gpufleet.errors import InfeasibleError
from gpufleet.placement import (
    Milp,
    PlacementResult,
    Solved,
    SolverOptions,
    candidates,
    cost_model,
    offer_bounds,
    place,
    spend_by_cloud,
    undominated,
)
from gpufleet.plan import Placement
from gpufleet.spec import FleetSpec, load_fleet
from gpufleet.specfile import load_stack

SEED = 20240605
# Accelerators offered on both clouds (min shares make sense) and on AWS only.
BOTH = ("H100", "A100-80GB", "T4", "V100", "A100")
AWS_ONLY = ("L4", "A10G", "L40S")
BUCKET_LIMITS = (0, 192, 384, 768, 1536, 3072)


@dataclass(frozen=True)
class Row:
    name: str
    pools: int
    regions: int
    offers: int
    groups: int
    variables: int
    binaries: int
    nodes: int
    status: str
    gap: float
    solver_s: float
    wall_s: float
    above: float
    total: float
    greedy_above: float | None
    greedy_total: float | None


def all_regions(catalog: Catalog, cloud: Cloud) -> list[str]:
    return catalog.region_names(cloud)


def price_book(catalog: Catalog, rng: random.Random, regions: dict[Cloud, list[str]]) -> dict[str, float]:
    """Price every SKU of the benchmark accelerators in every chosen Azure region the catalog misses."""
    book: dict[str, float] = {}
    for accelerator in BOTH:
        for sku in catalog.skus_for(accelerator, "azure"):
            known = [
                o.price_usd_per_hour for o in catalog.offers.values()
                if o.sku == sku and o.price_usd_per_hour is not None
            ]
            spot_known = [
                o.spot_price_usd_per_hour for o in catalog.offers.values()
                if o.sku == sku and o.spot_price_usd_per_hour is not None
            ]
            if not known:
                continue
            base = statistics.mean(known)
            spot_ratio = statistics.mean(s / base for s in spot_known) if spot_known else 0.4
            for region in regions["azure"]:
                offer = catalog.offers.get(("azure", sku.instance_type, region))
                factor = rng.uniform(0.9, 1.3)
                if offer is None or offer.price_usd_per_hour is None:
                    book[f"azure/{region}/{sku.instance_type}"] = round(base * factor, 4)
                if offer is None or offer.spot_price_usd_per_hour is None:
                    ratio = spot_ratio * rng.uniform(0.8, 1.2)
                    book[f"azure/{region}/{sku.instance_type}:spot"] = round(base * factor * ratio, 4)
    return book


def generated(
    name: str,
    rng: random.Random,
    regions: dict[Cloud, list[str]],
    pools: int,
    commitments: dict[str, float] | None = None,
) -> tuple[str, FleetSpec]:
    """A fleet over these regions; with commitments it also gets declared quotas and min shares."""
    coupled = commitments is not None
    catalog = load_catalog()
    pool_specs: list[dict[str, Any]] = []
    for i in range(pools):
        accelerator = rng.choice(BOTH + AWS_ONLY if i % 3 else BOTH)
        pool: dict[str, Any] = {
            "name": f"pool-{i:02d}",
            "accelerator": accelerator,
            "gpus": 8 * rng.choice((2, 4, 8, 16, 32)),
            "capacity": "spot" if rng.random() < 0.3 else "on-demand",
        }
        if accelerator in ("H100", "A100") and rng.random() < 0.5:
            # units of one node: these instances measure placement as before issue 29, when an
            # rdma pool was not yet kept whole in one site
            pool |= {"interconnect": "rdma", "gpus_per_node": 8, "capacity": "on-demand",
                     "placement": {"unit_nodes": 1}}
        if coupled and accelerator in BOTH and rng.random() < 0.6:
            pool["min_share"] = {"aws": 0.2, "azure": 0.2}
        pool_specs.append(pool)
    quotas: dict[str, dict[str, dict[str, int]]] = {}
    if coupled:
        for cloud, names in regions.items():
            buckets = sorted({
                sku.bucket_for(capacity)
                for sku in catalog.skus.values() if sku.cloud == cloud
                for capacity in ("on-demand", "spot")
            })
            for region in names:
                declared = {b: rng.choice(BUCKET_LIMITS) for b in buckets if rng.random() < 0.5}
                if declared:
                    quotas.setdefault(cloud, {})[region] = declared
    data: dict[str, Any] = {
        "name": "bench",
        "budget": {"commitments": commitments} if commitments else {},
        "network": {"supernet": "10.0.0.0/8"},
        "clouds": {cloud: {"regions": names} for cloud, names in regions.items()},
        "prices": price_book(catalog, rng, regions),
        "quotas": quotas,
        "pools": pool_specs,
    }
    return name, load_fleet(data)


def instances(seed: int = SEED) -> list[tuple[str, FleetSpec]]:
    rng = random.Random(seed)
    catalog = load_catalog()
    everywhere: dict[Cloud, list[str]] = {c: all_regions(catalog, c) for c in ("aws", "azure")}
    small: dict[Cloud, list[str]] = {"aws": ["us-east-1", "us-west-2"], "azure": ["eastus", "westus3"]}
    made = [  # in this order: each draws on the same random sequence
        generated("small: 4 regions × 3 pools, quotas", rng, small, 3,
                  {"aws": 100_000, "azure": 150_000}),
        generated("all regions × 10 pools", rng, everywhere, 10),
        generated("all regions × 10 pools, quotas + shares", rng, everywhere, 10,
                  {"aws": 250_000, "azure": 300_000}),
        generated("all regions × 50 pools, quotas + shares", rng, everywhere, 50,
                  {"aws": 2_500_000, "azure": 3_500_000}),
    ]
    largest_name, largest = made[-1]
    return [
        *made,
        # The same fleet with commitments below what each cloud spends anyway, and with none:
        # the largest instance's Azure commitment is just above Azure's cheapest spend, so
        # placement must fill it almost exactly, which is what makes that instance hard.
        (largest_name + ", commitments below spend", with_commitments(largest, {"aws": 2_000_000, "azure": 2_000_000})),
        (largest_name + ", no commitments", with_commitments(largest, {})),
        ("stack dev", load_stack("dev")),
        ("stack prod-eu", load_stack("prod-eu")),
    ]


def with_commitments(spec: FleetSpec, commitments: dict[str, float]) -> FleetSpec:
    data = spec.model_dump(mode="json", exclude_none=True)
    data["budget"] = {"commitments": commitments}
    return load_fleet(data)


def above_commitment(spec: FleetSpec, placements: tuple[Placement, ...]) -> float:
    spend = spend_by_cloud(spec, placements)
    return sum(max(0.0, s - spec.budget.monthly_commitment(c)) for c, s in spend.items())


def total(spec: FleetSpec, placements: tuple[Placement, ...]) -> float:
    return sum(spend_by_cloud(spec, placements).values())


@contextmanager
def recorded_solves() -> Iterator[list[Solved]]:
    """Every HiGHS solve made inside the block, in the order they end (all threads)."""
    solves: list[Solved] = []
    real = Milp.solve

    def record(self: Milp, *args: Any, **kwargs: Any) -> Solved:
        solved = real(self, *args, **kwargs)
        solves.append(solved)
        return solved

    with patch.object(Milp, "solve", record):
        yield solves


def measure(name: str, spec: FleetSpec, runs: int) -> Row:
    """Solve `runs` times (the plan is the same each time) and keep the median wall time."""
    catalog = spec.catalog()
    walls: list[float] = []
    results: list[PlacementResult] = []
    nodes = 0
    for _ in range(runs):
        with recorded_solves() as solves:
            began = time.perf_counter()
            try:
                results.append(place(spec, catalog))
            except InfeasibleError as error:
                print(f"{name}: infeasible: {error}", file=sys.stderr)
                raise
            walls.append(time.perf_counter() - began)
        nodes = sum(s.nodes for s in solves)
    result = results[-1]
    assert all(r.placements == result.placements for r in results), f"{name}: plans differ between runs"
    greedy = greedy_place(spec, catalog)
    offers = candidates(spec, catalog)[0]
    first_round = frozenset[str]()  # no deploy limits held yet (`place`'s lazy rows)
    kept = undominated(spec, offers, limited=first_round)
    model = cost_model(spec, kept, offer_bounds(spec, kept, limited=first_round), limited=first_round)
    return Row(
        name=name,
        pools=len(spec.pools),
        regions=len(spec.clouds.regions()),
        offers=len(offers),
        groups=len(model.members),
        variables=sum(model.milp.integer) - len(model.fixed),
        binaries=len(model.fixed),
        nodes=nodes,
        status=result.solver.status,
        gap=result.solver.optimality_gap,
        solver_s=result.solver.seconds,
        wall_s=statistics.median(walls),
        above=above_commitment(spec, result.placements),
        total=total(spec, result.placements),
        greedy_above=above_commitment(spec, greedy) if greedy is not None else None,
        greedy_total=total(spec, greedy) if greedy is not None else None,
    )


def timed_place(spec: FleetSpec, highs_seed: int = 0, *, ahead: bool = True) -> float:
    """Seconds `place` takes with this HiGHS seed, and level 2 run ahead on a second core or not."""
    options = SolverOptions(random_seed=highs_seed, level_two_ahead=ahead)
    began = time.perf_counter()
    place(spec, spec.catalog(), options=options)
    return time.perf_counter() - began


def spread(seconds: list[float]) -> str:
    return f"{min(seconds):.2f} / {statistics.median(seconds):.2f} / {max(seconds):.2f} s"


def largest(made: list[tuple[str, FleetSpec]]) -> tuple[str, FleetSpec]:
    return next((name, spec) for name, spec in made if "50 pools" in name)


def usd(value: float | None) -> str:
    return "—" if value is None else f"${value:,.0f}"


def saving(optimal: float, greedy: float | None) -> str:
    if greedy is None:
        return "greedy fails"
    if greedy == 0:
        return "0.0 %"
    return f"{100 * (greedy - optimal) / greedy:.1f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description="Placement benchmark")
    parser.add_argument("--runs", type=int, default=5, help="solves per instance; the median time is shown")
    parser.add_argument("--seeds", type=int, default=8, help="HiGHS seeds and other fleets for the spread")
    parser.add_argument(
        "--exact", action="store_true",
        help="compare the largest instance with every pool's own columns and with the levels solved in turn",
    )
    parser.add_argument("--only", default="", help="solve only the instances whose name contains this text")
    args = parser.parse_args()
    runs, seeds = args.runs, args.seeds
    header = (
        "instance", "pools", "groups", "regions", "offers", "int vars", "binaries", "B&B nodes", "status", "gap",
        "HiGHS s",
        "place() s", "above commit", "greedy above", "saved", "total $/mo", "greedy total", "saved",
    )
    rows: list[tuple[str, ...]] = []
    made = instances()
    for name, spec in made:
        if args.only not in name:
            continue
        r = measure(name, spec, runs)
        rows.append((
            r.name, str(r.pools), str(r.groups), str(r.regions), str(r.offers), str(r.variables), str(r.binaries),
            f"{r.nodes:,}", r.status, f"{r.gap:g}", f"{r.solver_s:.3f}", f"{r.wall_s:.3f}",
            usd(r.above), usd(r.greedy_above), saving(r.above, r.greedy_above),
            usd(r.total), usd(r.greedy_total), saving(r.total, r.greedy_total),
        ))
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        cells = zip(row, widths, strict=True)
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells)))
    print(
        f"\nplace() s: median of {runs} solves; HiGHS s: the solver's share of the last one. groups: pools "
        "once interchangeable ones are placed together;\noffers: candidate (pool, region, SKU) offers; int vars: "
        "the integer columns the cost levels solve over (offers left after dropping dominated ones,\nper group, "
        "and each grouped pool's node count per cloud and node size); binaries: regions (and storage copies) "
        "that may be opened;\ngroups, int vars and binaries are the first round's, before any deploy limit is "
        "held; B&B nodes: HiGHS's branch-and-bound\nnodes over every solve of the last place().\nabove commit = Σ per "
        "cloud max(0, spend − commitment), the primary objective, with spend = GPU nodes + "
        "regions' fixed costs + storage;\ngreedy ignores commitments, so it is compared on both "
        "measures."
    )
    name, spec = largest(made)
    one_core = statistics.median(timed_place(spec, ahead=False) for _ in range(runs))
    print(f"\n{name}: place() with level 2 after level 1, as on one core: {one_core:.2f} s (median of {runs})")
    if seeds > 0:
        other_fleets = [timed_place(largest(instances(SEED + i))[1]) for i in range(1, seeds + 1)]
        print(
            f"{name}: place() min / median / max\n"
            f"  HiGHS seeds 0-{seeds - 1}: {spread([timed_place(spec, s) for s in range(seeds)])}\n"
            f"  {seeds} other fleets from the generator (seeds {SEED + 1}-{SEED + seeds}), HiGHS seed 0: "
            f"{spread(other_fleets)}"
        )
    if args.exact:
        compare_with_other_models(name, spec)


def compare_with_other_models(name: str, spec: FleetSpec) -> None:
    """The largest instance's plan against the plans solved with every pool's own columns and
    with the cost levels solved in turn (no one solve within the commitments): the cost levels
    must be equal; the tie-break and the plan are shown."""
    catalog = spec.catalog()
    rank = {c.key: i + 1 for i, c in enumerate(candidates(spec, catalog)[0])}
    plans: list[tuple[str, PlacementResult]] = []
    for label, options in (
        ("grouped", SolverOptions()),
        ("every pool's own columns", SolverOptions(group_pools=False, time_limit_seconds=600.0)),
        ("levels in turn", SolverOptions(within_commitments_first=False)),
    ):
        with recorded_solves() as solves:
            began = time.perf_counter()
            result = place(spec, catalog, options=options)
            seconds = time.perf_counter() - began
        plans.append((label, result))
        print(
            f"{name}, {label}: {seconds:.2f} s, {result.solver.status}, B&B nodes {sum(s.nodes for s in solves):,} "
            f"({', '.join(f'{s.nodes:,}' for s in solves if s.nodes)}), above commit "
            f"{usd(above_commitment(spec, result.placements))}, total {usd(total(spec, result.placements))}, "
            f"tie-break Σ rank × nodes {sum(rank[p.key] * p.nodes for p in result.placements):,}"
        )
    (_, grouped), *others = plans

    def levels(result: PlacementResult) -> tuple[float, float]:
        return round(above_commitment(spec, result.placements), 2), round(total(spec, result.placements), 2)

    for label, other in others:  # each placement is priced to the cent: equal levels may differ by cents
        apart = max(abs(a - b) for a, b in zip(levels(grouped), levels(other), strict=True))
        print(
            f"  grouped against {label}: plans {'identical' if grouped.placements == other.placements else 'differ'}; "
            f"cost levels equal within $0.05: {apart <= 0.05} (apart by ${apart:.2f})"
        )


if __name__ == "__main__":
    main()
