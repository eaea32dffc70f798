"""The one launch template shape every EKS node group uses: IMDSv2, encrypted gp3 root, no SSH."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
from pulumi_aws.ec2 import (
    LaunchTemplateCapacityReservationSpecificationArgsDict,
    LaunchTemplateInstanceMarketOptionsArgsDict,
    LaunchTemplateNetworkInterfaceArgsDict,
    LaunchTemplatePlacementArgsDict,
    LaunchTemplateTagSpecificationArgsDict,
)

from components.aws.decisions import NO_RESERVATION, CapacityReservation

ROOT_DEVICE = "/dev/xvda"  # Amazon Linux 2023 EKS AMIs


@dataclass(frozen=True)
class LaunchTemplateSpec:
    """What differs between node groups; everything else is fixed secure defaults."""

    root_gib: int
    instance_tags: Mapping[str, str]  # tagged onto instances, volumes and interfaces at launch
    tags: Mapping[str, str] = field(default_factory=dict[str, str])
    network_interfaces: Sequence[LaunchTemplateNetworkInterfaceArgsDict] = ()
    placement_group: pulumi.Input[str] | None = None
    reservation: CapacityReservation = NO_RESERVATION
    max_pods: int | None = None  # the kubelet's, where the VPC CNI caps a node's addresses


def node_config(max_pods: int) -> str:
    """Launch template user data (base64): a nodeadm NodeConfig setting the kubelet's maxPods, in
    the MIME multi-part form EKS merges with its own for AL2023 managed nodes (EKS User Guide,
    "Customize managed nodes with launch templates"; NodeConfig `spec.kubelet.config`,
    awslabs.github.io/amazon-eks-ami/nodeadm/doc/api)."""
    document = (
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="//"\n\n--//\n'
        "Content-Type: application/node.eks.aws\n\n"
        "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    config:\n"
        f"      maxPods: {max_pods}\n\n--//--\n"
    )
    return base64.b64encode(document.encode()).decode()


def node_launch_template(
    name: str, spec: LaunchTemplateSpec, opts: pulumi.ResourceOptions
) -> aws.ec2.LaunchTemplate:
    """IMDSv2 required with hop limit 2 (pods reach the node role only through IMDSv2, EC2.170),
    encrypted gp3 root volume, no key pair, tags on instances, volumes and interfaces."""
    placement: LaunchTemplatePlacementArgsDict | None = (
        {"group_name": spec.placement_group} if spec.placement_group is not None else None
    )
    reservation: LaunchTemplateCapacityReservationSpecificationArgsDict | None = None
    if spec.reservation.reservation_id:
        reservation = {
            "capacity_reservation_target": {
                "capacity_reservation_id": spec.reservation.reservation_id
            }
        }
    elif spec.reservation.preference:
        reservation = {"capacity_reservation_preference": spec.reservation.preference}
    market: LaunchTemplateInstanceMarketOptionsArgsDict | None = (
        {"market_type": spec.reservation.market_type} if spec.reservation.market_type else None
    )
    tag_specifications: list[LaunchTemplateTagSpecificationArgsDict] = [
        {"resource_type": kind, "tags": dict(spec.instance_tags)}
        for kind in ("instance", "volume", "network-interface")
    ]
    return aws.ec2.LaunchTemplate(
        name,
        description=f"{name}: EKS nodes (IMDSv2, encrypted root, no SSH)",
        metadata_options={
            "http_endpoint": "enabled",
            "http_tokens": "required",
            "http_put_response_hop_limit": 2,
            "instance_metadata_tags": "disabled",
        },
        block_device_mappings=[
            {
                "device_name": ROOT_DEVICE,
                "ebs": {
                    "volume_size": spec.root_gib,
                    "volume_type": "gp3",
                    "encrypted": "true",
                    "delete_on_termination": "true",
                },
            }
        ],
        network_interfaces=list(spec.network_interfaces) or None,
        placement=placement,
        capacity_reservation_specification=reservation,
        instance_market_options=market,
        tag_specifications=tag_specifications,
        tags=dict(spec.tags) or None,
        user_data=node_config(spec.max_pods) if spec.max_pods is not None else None,
        update_default_version=True,
        opts=opts,
    )
