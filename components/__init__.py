"""Pulumi components: a `FleetPlan` in, resources on AWS and Azure out.

`GpuFleet` is the root; each registered cloud (gpufleet.clouds) names one builder that creates, per region the
plan uses, a network, a cluster, one GPU node pool per placement and the co-located storage.
"""

from __future__ import annotations

import pulumi

from components.link import LinkBoard
from components.sync import SyncBoard
from gpufleet import clouds
from gpufleet.datasync import sync_plans
from gpufleet.plan import FleetPlan


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
                self.outputs.update(model.builder()(plan, self, board, sync))
        if board is not None:  # every hub is declared: join them
            board.wire(self)
        if sync is not None:  # every cluster and store is declared: the cross-cloud sync jobs
            sync.wire(self)
        self.register_outputs(self.outputs)


def _sync_board(plan: FleetPlan) -> SyncBoard | None:
    """With the in-cluster layer (second stage): a sync job per cross-cloud copy. A copy no job
    can fill is a warning in every stage (gpufleet/datasync.py)."""
    jobs, warnings = sync_plans(plan)
    for warning in warnings:
        pulumi.log.warn(warning)
    return SyncBoard(jobs) if jobs and plan.cluster_software else None
