"""Pulumi components: a `FleetPlan` in, resources on every registered cloud out.

`declare_fleet` is the body of the Pulumi program (gpufleet.program.fleet_program runs it, from
`__main__.py` under `pulumi up` and under the recording engine for `gpufleet plan`). `GpuFleet`
is the root; each cloud the plan uses is declared by its builder, which this package maps from
the cloud's name (`builder_of`): the core's cloud models know nothing of Pulumi components, so
the seam runs one way (docs/design.md, "The cloud interface"). A cloud from outside registers
its builder with `registered_builder`, as it registers its model with gpufleet.clouds.registered.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from contextlib import contextmanager
from typing import TypeAlias

import pulumi

from components.link import LinkBoard
from components.sync import SyncBoard
from gpufleet import clouds
from gpufleet.datasync import sync_plans
from gpufleet.errors import GpufleetError
from gpufleet.plan import FleetPlan

Builder: TypeAlias = Callable[
    [FleetPlan, pulumi.Resource, LinkBoard | None, SyncBoard | None], Mapping[str, pulumi.Output[object]]
]
"""Declares one cloud's part of a plan under the parent; posts its link hubs on the link board and
its sync job clusters and stores on the sync board when given them; returns its stack outputs."""


def _aws() -> Builder:
    from components.aws import build_aws

    return build_aws


def _azure() -> Builder:
    from components.azure import build_azure

    return build_azure


# Cloud name -> the function that imports its builder: a cloud's SDK loads only when a plan uses it.
_BUILDERS: dict[str, Callable[[], Builder]] = {"aws": _aws, "azure": _azure}


def builder_of(cloud: str) -> Builder:
    """The builder of a registered cloud; a cloud with a model but no builder is a plug-in
    registered by halves, which no user input can cause."""
    try:
        return _BUILDERS[cloud]()
    except KeyError:
        raise GpufleetError(
            f"cloud '{cloud}' has no Pulumi builder; register one with components.registered_builder "
            f"(builders: {', '.join(_BUILDERS)})"
        ) from None


@contextmanager
def registered_builder(cloud: str, builder: Builder) -> Generator[Builder]:
    """Register a cloud's builder for the duration of a block (tests, plug-ins), next to its
    model (gpufleet.clouds.registered)."""
    if cloud in _BUILDERS:
        raise ValueError(f"cloud '{cloud}' already has a builder")
    _BUILDERS[cloud] = lambda: builder
    try:
        yield builder
    finally:
        del _BUILDERS[cloud]


class GpuFleet(pulumi.ComponentResource):
    """The whole fleet; children are per-cloud, per-region components named from stable keys."""

    outputs: dict[str, pulumi.Output[object]]

    def __init__(self, name: str, plan: FleetPlan, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:index:GpuFleet", name, None, opts)
        self.outputs = {}
        board = LinkBoard(plan.link) if plan.link else None
        sync = _sync_board(plan)
        for model in clouds.models():
            if plan.regions(model.name):  # a cloud's builder (and its SDK) loads only when used
                self.outputs.update(builder_of(model.name)(plan, self, board, sync))
        if board is not None:  # every hub is declared: join them
            board.wire(self)
        if sync is not None:  # every cluster and store is declared: the cross-cloud sync jobs
            sync.wire(self)
        self.register_outputs(self.outputs)


def declare_fleet(name: str, plan: FleetPlan) -> Mapping[str, pulumi.Output[object]]:
    """The fleet's resources (GpuFleet) and its stack outputs: the program's body."""
    return GpuFleet(name, plan).outputs


def _sync_board(plan: FleetPlan) -> SyncBoard | None:
    """With the in-cluster layer (second stage): a sync job per cross-cloud copy. A copy no job
    can fill is a warning in every stage (gpufleet/datasync.py)."""
    jobs, warnings = sync_plans(plan)
    for warning in warnings:
        pulumi.log.warn(warning)
    return SyncBoard(jobs) if jobs and plan.cluster_software else None
