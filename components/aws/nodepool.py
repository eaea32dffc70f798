"""`gpufleet:aws:GpuNodePool`: the EKS managed node groups of one placement of a pool.

One group while the placement fits the EKS quota of nodes per managed node group; beyond it,
more groups (`gpufleet.nodegroups.placement_parts`) that share the launch template and, with
rdma, the placement group, the zone and the EFA security group. On a rack-scale SKU one group
per rack (UltraServer), all in one zone. The first group keeps the placement's names of old;
the others add `-g2`, `-g3`, ... (`-r2`, ... for racks) so growing never replaces a group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws import decisions, efa, layout
from components.aws.autoscaler import EFA_RESOURCE, TEMPLATE, gpu_node_labels, node_template_tags
from components.aws.launch import LaunchTemplateSpec, node_launch_template
from gpufleet.catalog import Capacity, Sku
from gpufleet.clouds.aws import kubelet_max_pods
from gpufleet.nodegroups import GroupPart


@dataclass(frozen=True)
class GpuNodePoolArgs:
    """One placement, resolved: the SKU, the pool's choices and the cluster it joins."""

    fleet: str
    pool: str
    accelerator: str
    sku: Sku
    capacity: Capacity
    capacity_reservation_id: str | None
    zone: str | None
    """The one zone every group spans (a capacity block's, a rack's), else None: the network's."""
    interconnect: str
    parts: tuple[GroupPart, ...]
    """The node groups (`gpufleet.nodegroups.placement_parts`): one per rack on a rack-scale SKU."""
    zones: tuple[str, ...]
    subnet_ids: Mapping[str, pulumi.Input[str]]
    vpc_id: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    cluster_security_group_id: pulumi.Input[str]
    node_role_arn: pulumi.Input[str]
    depends_on: Sequence[pulumi.Resource]
    instance_tags: Mapping[str, str]  # the provider's default tags do not reach launched instances
    grown: bool = False  # in a grown VPC (custom networking: the kubelet's max pods differ)


class GpuNodePool(pulumi.ComponentResource):
    """GPU nodes: NVIDIA AL2023 AMI for the SKU's architecture, tainted so only GPU workloads
    land there, labelled by fleet/pool/accelerator, IMDSv2 launch template. With rdma on an EFA
    SKU: one zone, a cluster placement group, one EFA interface per network card and a
    security group open only to itself."""

    node_group_names: list[pulumi.Output[str]]
    autoscaling_group_names: list[pulumi.Output[str]]
    """The Auto Scaling group behind each node group (what the cluster autoscaler may scale)."""

    def __init__(
        self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gpufleet:aws:GpuNodePool", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        efa_cards = efa.efa_interface_count(args.sku, args.interconnect)
        zones = (args.zone,) if args.zone else layout.node_zones(args.zones, efa=efa_cards > 0)
        tags = {"gpufleet:pool": args.pool}

        interfaces: list[aws.ec2.LaunchTemplateNetworkInterfaceArgsDict] = []
        placement_group: pulumi.Output[str] | None = None
        if efa_cards:
            efa_sg = aws.ec2.SecurityGroup(
                f"{name}-efa",
                vpc_id=args.vpc_id,
                description=f"{args.pool}: EFA traffic between the pool's nodes only",
                tags={**tags, "Name": f"{name}-efa"},
                opts=child,
            )
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-efa-in",
                security_group_id=efa_sg.id,
                referenced_security_group_id=efa_sg.id,
                ip_protocol="-1",
                description="all traffic from the pool's EFA security group",
                opts=child,
            )
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-efa-out",
                security_group_id=efa_sg.id,
                referenced_security_group_id=efa_sg.id,
                ip_protocol="-1",
                description="all traffic to the pool's EFA security group",
                opts=child,
            )
            # The interfaces carry every group the node needs: the cluster group (kubelet,
            # pod and egress traffic) and the EFA group; EKS adds none when interfaces are set.
            interfaces = efa.efa_interfaces(
                efa_cards, [args.cluster_security_group_id, efa_sg.id]
            )
            placement_group = aws.ec2.PlacementGroup(
                f"{name}-pg", strategy="cluster", tags=tags, opts=child
            ).name

        template = node_launch_template(
            f"{name}-lt",
            LaunchTemplateSpec(
                max_pods=kubelet_max_pods(args.sku.instance_type, args.grown),
                root_gib=decisions.root_volume_gib(args.sku.gpus),
                instance_tags={**args.instance_tags, **tags},
                tags=tags,
                network_interfaces=interfaces,
                placement_group=placement_group,
                reservation=decisions.capacity_reservation(
                    args.capacity, args.capacity_reservation_id
                ),
            ),
            child,
        )
        labels = gpu_node_labels(args.fleet, args.pool, args.accelerator, args.sku.family)
        self.node_group_names = []
        self.autoscaling_group_names = []
        for part in args.parts:
            size = decisions.scaling(part.nodes, part.min_nodes)
            group = aws.eks.NodeGroup(
                f"{name}-ng{part.suffix}",
                cluster_name=args.cluster_name,
                node_group_name=decisions.node_group_name(args.pool, args.sku.instance_type, part.suffix),
                node_role_arn=args.node_role_arn,
                subnet_ids=[args.subnet_ids[zone] for zone in zones],
                instance_types=[args.sku.instance_type],
                ami_type=decisions.ami_type(args.sku),
                capacity_type=decisions.capacity_type(args.capacity, args.capacity_reservation_id),
                scaling_config={
                    "min_size": size.min_size,
                    "max_size": size.max_size,
                    "desired_size": size.desired_size,
                },
                update_config={"max_unavailable": 1},
                launch_template={"id": template.id, "version": template.latest_version.apply(str)},
                labels=labels,
                taints=decisions.gpu_taints(args.sku),
                tags=tags,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=list(args.depends_on),
                    ignore_changes=["scalingConfig.desiredSize"] if size.autoscaled else None,
                ),
            )
            self.node_group_names.append(group.node_group_name)
            asg = group.resources.apply(_autoscaling_group)
            self.autoscaling_group_names.append(asg)
            if size.autoscaled and size.min_size == 0:
                efa_resources = {EFA_RESOURCE: efa_cards} if efa_cards else {}
                taints = decisions.gpu_target_taints(args.sku)
                for key, value in node_template_tags(labels, taints, efa_resources).items():
                    aws.autoscaling.Tag(
                        f"{name}-ng{part.suffix}-{decisions.slug(key.removeprefix(TEMPLATE))}",
                        autoscaling_group_name=asg,
                        tag={"key": key, "value": value, "propagate_at_launch": False},
                        opts=child,
                    )
        self.register_outputs({"nodeGroupNames": self.node_group_names})


def _autoscaling_group(resources: Sequence[aws.eks.outputs.NodeGroupResource] | None) -> str:
    """The name of the Auto Scaling group EKS made for a managed node group."""
    return next((g.name for r in resources or () for g in r.autoscaling_groups or () if g.name), "")
