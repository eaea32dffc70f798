"""Pulumi components: a `FleetPlan` in, resources on AWS and Azure out.

`GpuFleet` is the root; each cloud module registers one builder that creates, per region the
plan uses, a network, a cluster, one GPU node pool per placement and the co-located storage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pulumi

from gpufleet.catalog import Cloud
from gpufleet.plan import FleetPlan

CloudBuilder = Callable[[FleetPlan, pulumi.Resource], Mapping[str, pulumi.Output[object]]]


def _builders() -> dict[Cloud, CloudBuilder]:
    """Cloud name → builder; imported lazily so one cloud's SDK loads only when used."""
    from components.aws import build_aws
    from components.azure import build_azure

    return {"aws": build_aws, "azure": build_azure}


class GpuFleet(pulumi.ComponentResource):
    """The whole fleet; children are per-cloud, per-region components named from stable keys."""

    outputs: dict[str, pulumi.Output[object]]

    def __init__(self, name: str, plan: FleetPlan, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:index:GpuFleet", name, None, opts)
        self.outputs = {}
        for cloud, build in _builders().items():
            if plan.regions(cloud):
                self.outputs.update(build(plan, self))
        self.register_outputs(self.outputs)
