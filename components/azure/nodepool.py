"""`gpufleet:azure:GpuNodePool`: the User-mode AKS agent pools of one placement of the plan.

Everything the pools need is decided before they are built (`PoolSettings`, from decisions.py):
names, sizes, scaling, priority, MIG profile, taints and labels; the component only declares
them. One pool while the placement fits AKS's nodes per agent pool; beyond it, more pools
(`gpufleet.nodegroups.split`) on the same subnet with the same settings. The first keeps the
placement's names of old; the others add `-g2`, ... so growing never replaces a pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import containerservice

from components.azure.decisions import PrioritySettings, ScaleSettings, UpgradeSettings
from gpufleet.clouds.azure import AGENT_POOL_REPLACE_ON_CHANGE


@dataclass(frozen=True)
class AgentPoolGroup:
    """One agent pool of a placement: its suffix (`""` for the first), name and size."""

    suffix: str
    agent_pool_name: str
    scale: ScaleSettings


@dataclass(frozen=True)
class PoolSettings:
    """One placement's agent pools, fully decided (no Pulumi types, so tests can build it)."""

    groups: tuple[AgentPoolGroup, ...]
    vm_size: str
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

    agent_pool_names: list[pulumi.Output[str]]

    def __init__(
        self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gpufleet:azure:GpuNodePool", name, {"location": args.location}, opts)
        s = args.settings
        self.agent_pool_names = []
        for group in s.groups:
            pool = containerservice.AgentPool(
                f"{name}-pool{group.suffix}",
                resource_group_name=args.resource_group_name,
                resource_name_=args.cluster_name,
                agent_pool_name=group.agent_pool_name,
                mode=containerservice.AgentPoolMode.USER,
                type=containerservice.AgentPoolType.VIRTUAL_MACHINE_SCALE_SETS,
                os_type=containerservice.OSType.LINUX,
                os_sku=containerservice.OSSKU.UBUNTU,
                vm_size=s.vm_size,
                count=group.scale.count,
                enable_auto_scaling=group.scale.enable_auto_scaling,
                min_count=group.scale.min_count,
                max_count=group.scale.max_count,
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
                    ignore_changes=["count"] if group.scale.enable_auto_scaling else None,
                ),
            )
            self.agent_pool_names.append(pool.name)
        self.register_outputs({"agentPoolNames": self.agent_pool_names})
