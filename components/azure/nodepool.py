"""`gpufleet:azure:GpuNodePool`: one User-mode AKS agent pool for one placement of the plan.

Everything the pool needs is decided before it is built (`PoolSettings`, from decisions.py):
size, scaling, priority, MIG profile, taints and labels; the component only declares it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import containerservice

from components.azure.decisions import PrioritySettings, ScaleSettings, UpgradeSettings
from gpufleet.clouds.azure import AGENT_POOL_REPLACE_ON_CHANGE


@dataclass(frozen=True)
class PoolSettings:
    """One placement's agent pool, fully decided (no Pulumi types, so tests can build it)."""

    agent_pool_name: str
    vm_size: str
    scale: ScaleSettings
    priority: PrioritySettings
    gpu_instance_profile: str | None
    node_taints: Sequence[str]
    node_labels: Mapping[str, str]
    tags: Mapping[str, str]
    upgrade_settings: UpgradeSettings | None = None


@dataclass(frozen=True)
class GpuNodePoolArgs:
    resource_group_name: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    node_subnet_id: pulumi.Input[str]
    location: str
    settings: PoolSettings


class GpuNodePool(pulumi.ComponentResource):
    """A GPU agent pool: tainted, labelled, no node public IPs, drivers installed by AKS."""

    agent_pool_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gpufleet:azure:GpuNodePool", name, {"location": args.location}, opts)
        s = args.settings
        pool = containerservice.AgentPool(
            f"{name}-pool",
            resource_group_name=args.resource_group_name,
            resource_name_=args.cluster_name,
            agent_pool_name=s.agent_pool_name,
            mode=containerservice.AgentPoolMode.USER,
            type=containerservice.AgentPoolType.VIRTUAL_MACHINE_SCALE_SETS,
            os_type=containerservice.OSType.LINUX,
            os_sku=containerservice.OSSKU.UBUNTU,
            vm_size=s.vm_size,
            count=s.scale.count,
            enable_auto_scaling=s.scale.enable_auto_scaling,
            min_count=s.scale.min_count,
            max_count=s.scale.max_count,
            scale_set_priority=s.priority.scale_set_priority,
            scale_set_eviction_policy=s.priority.scale_set_eviction_policy,
            spot_max_price=s.priority.spot_max_price,
            gpu_profile={"driver": containerservice.GPUDriver.INSTALL},
            gpu_instance_profile=s.gpu_instance_profile,
            node_taints=list(s.node_taints),
            node_labels=dict(s.node_labels),
            enable_node_public_ip=False,
            vnet_subnet_id=args.node_subnet_id,
            upgrade_settings=(
                {
                    "max_surge": s.upgrade_settings.max_surge,
                    "max_unavailable": s.upgrade_settings.max_unavailable,
                }
                if s.upgrade_settings
                else None
            ),
            tags=dict(s.tags),
            opts=pulumi.ResourceOptions(
                parent=self,
                # The physical name is fixed, so a replacement must delete the old pool first;
                # the autoscaler owns `count` once the pool exists.
                delete_before_replace=True,
                replace_on_changes=list(AGENT_POOL_REPLACE_ON_CHANGE),
                ignore_changes=["count"] if s.scale.enable_auto_scaling else None,
            ),
        )
        self.agent_pool_name = pool.name
        self.register_outputs({"agentPoolName": self.agent_pool_name})
