"""Offline plan cost against plain Pulumi mocks, and CLI start-up time.

For each fleet (the sample stacks, a generated fleet of 1,000+ resources on both clouds, and the
H100 fleets of issue 14 at 1,024, 8,192 and 32,768 GPUs, whose placement time with the cluster
limits and address ranges is reported too, target <= 2 s):
- offline plan: `gpufleet plan`'s whole pipeline (spec → placement → program under the recording
  engine → policies → plan document), as `run_plan` does it;
- raw: registering the same program's resources (`GpuFleet` over the same, precomputed plan)
  under plain Pulumi mocks, with no planning, recording or policies.
Reports the median of several runs, the ratio (target <= 1.3) and resources per second; then the
median start-up time of `gpufleet --help` and `gpufleet plan --help` (target <= 0.3 s).

Run: .venv/bin/python benchmarks/plan.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpufleet.offline import SpecSource, run_plan  # noqa: E402
from gpufleet.pipeline import build_plan  # noqa: E402
from gpufleet.preview import run_program  # noqa: E402
from gpufleet.specfile import load_spec_file, stack_path  # noqa: E402

AWS_REGIONS = ["us-east-1", "us-east-2", "us-west-1", "us-west-2"]
AZURE_REGIONS = ["eastus", "eastus2", "westus", "westus2", "westus3", "southcentralus",
                 "centralus", "northcentralus"]


def large_fleet(pools: int = 28) -> dict[str, Any]:
    """A fleet whose pools are pinned across 12 regions of both clouds (1,000+ resources); the
    planner places the unpinned half of each pool."""
    regions = [f"aws/{r}" for r in AWS_REGIONS] + [f"azure/{r}" for r in AZURE_REGIONS]
    return {
        "name": "bench",
        "network": {"supernet": "10.0.0.0/8"},
        "clouds": {"aws": {"regions": AWS_REGIONS}, "azure": {"regions": AZURE_REGIONS}},
        "pools": [
            {
                "name": f"pool-{i:02d}", "accelerator": "T4", "gpus": 2 * len(regions),
                "gpus_per_node": 1, "capacity": "spot" if i % 2 else "on-demand",
                "pin": dict.fromkeys(regions[1:-1], 1), "autoscale": {"min_nodes": 0},
            }
            for i in range(pools)
        ],
        "storage": [{"name": "datasets", "size_tib": 10, "colocate_with": ["pool-00"]}],
    }


def limit_fleets() -> dict[str, dict[str, Any]]:
    """The fleets of issue 14 (H100, rdma): 1,024 and 8,192 GPUs over aws/us-east-1 and
    azure/eastus (the second half on Azure), and 32,768 GPUs over six regions of both clouds,
    at least half on Azure. One AWS VPC (a /16 at most) holds about 320 p5.48xlarge, so the
    planner fills the AWS regions' subnets and puts the rest on Azure, whose clusters declare
    the raised 5,000 nodes (at the default 1,000 the fleet does not fit, and plan exits 1)."""
    def fleet(
        gpus: int, aws: list[str], azure: list[str], supernet: str, limits: dict[str, Any] | None = None, **pool: Any
    ) -> dict[str, Any]:
        return {
            "name": f"h100-{gpus}", "network": {"supernet": supernet},
            "clouds": {"aws": {"regions": aws}, "azure": {"regions": azure}},
            # units of one node, as before issue 29 kept an rdma pool whole in one site by default
            "pools": [{"name": "train", "accelerator": "H100", "gpus": gpus, "interconnect": "rdma",
                       "placement": {"unit_nodes": 1}, **pool}],
            "limits": limits or {},
        }

    azure_32768 = ["eastus", "eastus2", "westus"]

    return {
        "h100-1024": fleet(1024, ["us-east-1"], ["eastus"], "10.96.0.0/11"),
        "h100-8192": fleet(8192, ["us-east-1"], ["eastus"], "10.0.0.0/8", min_share={"azure": 0.5}),
        "h100-32768": fleet(32768, ["us-east-1", "us-east-2", "us-west-2"], azure_32768, "10.0.0.0/8",
                            {"azure": {r: {"nodes_per_cluster": 5000} for r in azure_32768}},
                            min_share={"azure": 0.5}),
    }


def placement_seconds(spec_file: Path, runs: int) -> float:
    """Median time of placement alone (with the cluster limits as bounds) for a spec file."""
    from gpufleet.placement import place

    spec = load_spec_file(spec_file)
    return _median_seconds(lambda: place(spec, spec.catalog()), runs)


def _median_seconds(action: Callable[[], object], runs: int) -> float:
    samples: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def measure(label: str, spec_file: Path, runs: int) -> dict[str, Any]:
    from pulumi.runtime.mocks import MockMonitor

    from components import GpuFleet
    from gpufleet.mocks import FleetMocks

    spec = load_spec_file(spec_file)
    plan = build_plan(spec, label)
    source = SpecSource(spec=spec_file)
    resources = len(run_plan(source).recording.resources)

    def raw() -> None:
        run_program(label, {}, lambda: GpuFleet(spec.name, plan), MockMonitor(FleetMocks()))

    raw_seconds = _median_seconds(raw, runs)
    offline_seconds = _median_seconds(lambda: run_plan(source), runs)
    return {
        "fleet": label, "resources": resources, "raw_s": raw_seconds, "offline_s": offline_seconds,
        "ratio": offline_seconds / raw_seconds, "resources_per_s": resources / offline_seconds,
    }


def startup(args: list[str], runs: int) -> float:
    command = [str(ROOT / ".venv" / "bin" / "gpufleet"), *args]
    return _median_seconds(lambda: subprocess.run(command, check=True, capture_output=True), runs)


def main() -> None:
    parser = argparse.ArgumentParser(description="Offline plan cost against plain Pulumi mocks")
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        generated = Path(folder) / "bench.yaml"
        generated.write_text(yaml.safe_dump(large_fleet()), encoding="utf-8")
        rows = [measure(s, stack_path(s), runs) for s in ("dev", "prod-eu")]
        rows.append(measure("generated", generated, max(1, runs // 2)))
        placed: list[tuple[str, float]] = []
        for label, fleet in limit_fleets().items():
            path = Path(folder) / f"{label}.yaml"
            path.write_text(yaml.safe_dump(fleet), encoding="utf-8")
            rows.append(measure(label, path, max(1, runs // 2)))
            placed.append((label, placement_seconds(path, runs)))
    print(f"{'fleet':<10} {'resources':>9} {'raw mocks s':>11} {'offline plan s':>14} {'ratio':>6} {'res/s':>7}")
    for row in rows:
        print(f"{row['fleet']:<10} {row['resources']:>9} {row['raw_s']:>11.3f} {row['offline_s']:>14.3f} "
              f"{row['ratio']:>6.2f} {row['resources_per_s']:>7.0f}")
    print("target: ratio <= 1.3")
    for label, seconds in placed:
        print(f"{label:<10} placement with cluster limits and address ranges: {seconds:.3f} s (target <= 2 s)")
    for args in (["--help"], ["plan", "--help"]):
        print(f"gpufleet {' '.join(args):<12} start-up: {startup(args, runs):.3f} s (target <= 0.3 s)")


if __name__ == "__main__":
    main()
