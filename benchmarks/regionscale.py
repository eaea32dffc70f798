"""Region-scale fleets (issue 29): the 16,384-GPU US fleet over four AWS and four Azure regions.

An H100 training pool in whole units of 64 nodes (rdma) with at least 30 % on each cloud, and a
spot L4 inference pool (at most half in one region, the spot default), on the sample's /10
supernet (so the AWS regions grow: EKS custom networking). Reports the median placement time
(spec to placements, with the deploy limits' lazy rounds), the whole offline plan (`run_plan`:
placement, program under the recording engine, policies, plan document), the cost, how many AWS
regions grew, and each pool's largest region share.

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


def median_seconds(runs: int, work: Any) -> tuple[float, Any]:
    times: list[float] = []
    result: Any = None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description="the 16,384-GPU US fleet over eight regions")
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    spec = load_fleet(FLEET_16384)
    placing, result = median_seconds(runs, lambda: place(spec, spec.catalog()))
    train = [p for p in result.placements if p.pool == "train"]
    print(f"placement: {placing:.2f} s median of {runs} ({result.solver.status}); "
          f"train sites {sorted((p.key, p.nodes) for p in train)}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "us16k.yaml"
        path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": FLEET_16384}}))
        planning, made = median_seconds(runs, lambda: run_plan(SpecSource(spec=path, stack_name="us16k")))
    doc = made.document
    grown = sorted(f"{n['cloud']}/{n['region']}" for n in doc["networks"] if n["pod_blocks"])
    print(f"offline plan: {planning:.2f} s median of {runs}, exit {made.exit_code}, "
          f"{len(doc['resources'])} resources, ${doc['cost']['monthly_usd']:,.0f}/month; grown: {grown}")
    for pool in doc["pools"]:  # the spot pool spreads by default (docs/region-scale.md, "Spreading")
        print(f"  {pool['name']}: largest region {pool['largest_region']} holds "
              f"{pool['largest_region_share']:.1%} (most per region: {pool['max_region_share']})")


if __name__ == "__main__":
    main()
