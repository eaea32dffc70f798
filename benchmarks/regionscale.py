"""Region-scale fleets (issue 29): the 16,384-GPU US fleet over four AWS and four Azure regions,
and a 65,536-GPU fleet over every AWS and Azure US region.

Each: an H100 training pool in whole units of 64 nodes (rdma) with at least 30 % on each cloud,
and a spot L4 inference pool (at most half in one region, the spot default); the 16,384-GPU
fleet on the sample's /10 supernet (so the AWS regions grow: EKS custom networking), the
65,536-GPU one on a /8. Reports the median placement time (spec to placements, with the deploy
limits' lazy rounds; target <= 10 s, proven optimal), the whole offline plan (`run_plan`:
placement, program under the recording engine, policies, plan document), the cost, how many AWS
regions grew, how many clusters each region got and each pool's largest region share; for the
65,536-GPU fleet also the offline plan against registering its resources under plain Pulumi
mocks (`benchmarks/plan.py`'s `measure`; target ratio <= 1.3).

Run: .venv/bin/python benchmarks/regionscale.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.plan import AWS_REGIONS, AZURE_REGIONS, measure  # noqa: E402
from gpufleet.clusters import cluster_counts  # noqa: E402
from gpufleet.offline import SpecSource, run_plan  # noqa: E402
from gpufleet.placement import place  # noqa: E402
from gpufleet.spec import load_fleet  # noqa: E402

FLEET_16384: dict[str, Any] = {
    "name": "us16k",
    "network": {"supernet": "10.64.0.0/10"},
    "clouds": {
        "aws": {"regions": ["us-east-1", "us-east-2", "us-west-1", "us-west-2"]},
        "azure": {"regions": ["eastus", "eastus2", "westus2", "southcentralus"]},
    },
    "pools": [
        {"name": "train", "accelerator": "H100", "gpus": 16384, "gpus_per_node": 8, "interconnect": "rdma",
         "placement": {"unit_nodes": 64}, "min_share": {"aws": 0.3, "azure": 0.3}},
        {"name": "serve", "accelerator": "L4", "gpus": 601, "capacity": "spot"},
    ],
}


FLEET_65536: dict[str, Any] = {
    "name": "us64k",
    "network": {"supernet": "10.0.0.0/8"},
    "clouds": {"aws": {"regions": AWS_REGIONS}, "azure": {"regions": AZURE_REGIONS}},
    "pools": [
        {"name": "train", "accelerator": "H100", "gpus": 65536, "gpus_per_node": 8, "interconnect": "rdma",
         "placement": {"unit_nodes": 64}, "min_share": {"aws": 0.3, "azure": 0.3}},
        {"name": "serve", "accelerator": "L4", "gpus": 2404, "capacity": "spot"},
    ],
}


def median_seconds(runs: int, work: Any) -> tuple[float, Any]:
    times: list[float] = []
    result: Any = None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def report(fleet: dict[str, Any], runs: int, against_mocks: bool) -> None:
    """One fleet's placement, offline plan and clusters (and, if asked, the ratio to mocks)."""
    name = fleet["name"]
    spec = load_fleet(fleet)
    placing, result = median_seconds(runs, lambda: place(spec, spec.catalog()))
    train = [p for p in result.placements if p.pool == "train"]
    many = {f"{c}/{r}": n for (c, r), n in cluster_counts(spec, result.placements).items() if n > 1}
    print(f"{name} placement: {placing:.2f} s median of {runs} ({result.solver.status}, gap "
          f"{result.solver.optimality_gap:.2g}); train sites {sorted((p.key, p.nodes) for p in train)}; "
          f"regions with several clusters: {many or 'none'}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": fleet}}))
        planning, made = median_seconds(runs, lambda: run_plan(SpecSource(spec=path, stack_name=name)))
        doc = made.document
        grown = sorted(f"{n['cloud']}/{n['region']}" for n in doc["networks"] if n["pod_blocks"])
        print(f"{name} offline plan: {planning:.2f} s median of {runs}, exit {made.exit_code}, "
              f"{len(doc['resources'])} resources, ${doc['cost']['monthly_usd']:,.0f}/month; grown: {grown}")
        for pool in doc["pools"]:  # the spot pool spreads by default (docs/region-scale.md, "Spreading")
            print(f"  {pool['name']}: largest region {pool['largest_region']} holds "
                  f"{pool['largest_region_share']:.1%} (most per region: {pool['max_region_share']})")
        if against_mocks:
            row = measure(name, path, runs)
            print(f"{name} offline plan {row['offline_s']:.2f} s against plain mocks {row['raw_s']:.2f} s: "
                  f"ratio {row['ratio']:.2f} (target <= 1.3)")


def main() -> None:
    parser = argparse.ArgumentParser(description="the 16,384-GPU and 65,536-GPU US fleets")
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    report(FLEET_16384, runs, against_mocks=False)
    report(FLEET_65536, runs, against_mocks=True)


if __name__ == "__main__":
    main()
