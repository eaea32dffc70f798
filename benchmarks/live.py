"""Live look-up benchmark: `quotas --live` and `catalog refresh` against stubs for every catalog
region, and the re-plan around one unavailable region on the largest placement instance.

Run: .venv/bin/python benchmarks/live.py

No network: AWS answers come from botocore's Stubber (each call held LATENCY seconds, standing
for a round trip), Azure's from a fake compute client with the SDK's model classes and, for the
Retail Prices API, a fake azure-core transport (held LATENCY seconds per page). The regions
run on the bounded pool of `gpufleet.live` (WORKERS at once): the wall time shows the work is
parallel (well under calls × latency) and bounded (not one region's latency either).
Targets: under 5 s for the look-ups; the re-plan within the placement target (2 s,
benchmarks/placement.py and benchmarks/README.md), on the 32,768-H100 fleet of issue 14 and on the
largest placement instance.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from azure.mgmt.compute.models import Usage, UsageName
from botocore.stub import Stubber

from benchmarks.placement import instances, largest
from benchmarks.plan import limit_fleets
from gpufleet import clouds
from gpufleet.clouds.aws import live as live_aws
from gpufleet.clouds.azure import live as live_azure
from gpufleet.clouds.catalog import load_catalog
from gpufleet.live import WORKERS
from gpufleet.live.prices import refresh, targets
from gpufleet.live.quotas import look_up
from gpufleet.placement import place
from gpufleet.spec import FleetSpec, load_fleet
from tests.test_live_prices import FakeTransport, price_list_entry, retail_item

LATENCY = 0.1
KEYS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
calls: list[int] = []


def _slow(**_: Any) -> None:
    calls.append(1)
    time.sleep(LATENCY)


class Session:
    shared = boto3.Session(**KEYS)

    def get_credentials(self) -> object:
        return object()

    def client(self, service: str, region_name: str, config: Any) -> Any:
        client = self.shared.client(service, region_name=region_name, config=config)
        stub = Stubber(client)
        if service == "service-quotas":
            stub.add_response("list_service_quotas", {"Quotas": [
                {"QuotaCode": code, "Value": 384.0} for code in ("L-417A185B", "L-7212CCBC", "L-DB2E81BA", "L-3819A6DF")
            ]})
        else:
            stub.add_response("describe_instances", {"Reservations": []})
        client.meta.events.register("before-call.*.*", _slow)
        stub.activate()
        return client


class PriceSession(Session):
    """The price look-ups' clients: one page of get_products, one of spot price history."""

    def client(self, service: str, region_name: str, config: Any) -> Any:
        client = self.shared.client(service, region_name=region_name, config=config)
        stub = Stubber(client)
        if service == "pricing":
            stub.add_response("get_products", {"PriceList": [price_list_entry("p5.48xlarge", region_name, "55.04")]})
        else:
            stub.add_response("describe_spot_price_history", {"SpotPriceHistory": []})
        client.meta.events.register("before-call.*.*", _slow)
        stub.activate()
        return client


class RetailPages(FakeTransport):
    """One page per query, held LATENCY seconds, the region's ND H100 price."""

    def send(self, request: Any, **kwargs: Any) -> Any:
        _slow()
        region = request.url.split("armRegionName+eq+%27")[1].split("%27")[0]
        page = {"Items": [retail_item("Standard_ND96isr_H100_v5", region, 98.32, "ND96isr H100 v5", "NDsr")],
                "NextPageLink": None}
        return self.answer(request, 200, page)


class Usages:
    def list(self, location: str) -> list[Usage]:
        _slow()
        return [Usage(current_value=0, limit=350, name=UsageName(value=name))
                for name in ("cores", "lowPriorityCores", "standardNDSH100v5Family")]


class Compute:
    usage = Usages()


def main() -> None:
    import os

    os.environ.setdefault("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000")
    live_aws.make_session = Session  # type: ignore[assignment]
    live_azure.make_client = Compute  # type: ignore[assignment]
    name, spec = largest(instances())
    regions = len(spec.clouds.regions())
    began = time.perf_counter()
    found, failed = look_up(spec)
    wall = time.perf_counter() - began
    print(f"quotas --live, stubbed: {regions} regions, {len(calls)} calls of {LATENCY:g} s, {WORKERS} at once: "
          f"{wall:.2f} s (one at a time: {len(calls) * LATENCY:.1f} s); {len(found)} quotas, {len(failed)} failed")

    live_aws.make_session = PriceSession  # type: ignore[assignment]
    live_azure.retail_transport = RetailPages  # type: ignore[assignment]
    wanted = targets(load_catalog(), clouds.names())
    calls.clear()
    began = time.perf_counter()
    prices, failed = refresh(wanted)
    wall = time.perf_counter() - began
    print(f"catalog refresh, stubbed: {len(wanted)} regions, {len(calls)} calls of {LATENCY:g} s, {WORKERS} at once: "
          f"{wall:.2f} s (one at a time: {len(calls) * LATENCY:.1f} s); {len(prices)} offers, {len(failed)} failed")

    fleet = load_fleet(limit_fleets()["h100-32768"])
    for label, planned in (("32,768 H100 (issue 14)", fleet), (name, spec)):
        replans(label, planned)


def replans(name: str, spec: FleetSpec) -> None:
    """The first plan, then re-plans with --previous around a typical and the busiest region."""
    began = time.perf_counter()
    first = place(spec, spec.catalog())
    print(f"{name}: first plan {time.perf_counter() - began:.2f} s")
    by_region: dict[str, int] = {}
    for p in first.placements:
        by_region[f"{p.cloud}/{p.region}"] = by_region.get(f"{p.cloud}/{p.region}", 0) + p.nodes
    ranked = sorted(sorted(by_region), key=lambda r: by_region[r])
    total = sum(p.nodes for p in first.placements)
    for region in (ranked[len(ranked) // 2], ranked[-1]):  # a typical region and the busiest
        limits = spec.capacity.model_copy(update={"unavailable": (f"{region}/*",)})
        short = spec.model_copy(update={"capacity": limits})
        began = time.perf_counter()
        again = place(short, short.catalog(), first.placements)
        replan = time.perf_counter() - began
        print(f"{name}: re-plan with {region} unavailable ({by_region[region]} of {total} nodes there), "
              f"--previous: {replan:.2f} s, kept {again.solver.kept_from_previous} nodes")


if __name__ == "__main__":
    main()
