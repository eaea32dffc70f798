"""EFA on EKS nodes: how many interfaces a node group's launch template asks for, and their
layout across the SKU's network cards (one per card, AWS's multi-card EFA configuration)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gpufleet.catalog import Sku
from gpufleet.clouds.aws import eni_figures
from gpufleet.errors import DecisionError

if TYPE_CHECKING:
    import pulumi
    from pulumi_aws.ec2 import LaunchTemplateNetworkInterfaceArgsDict


def efa_interface_count(sku: Sku, interconnect: str) -> int:
    """EFA interfaces a node group gets: one per network card for `interconnect: rdma`, none
    otherwise. Asking for rdma on a SKU without EFA is an error that names the SKU."""
    if interconnect != "rdma":
        return 0
    if not sku.rdma or sku.rdma_fabric != "efa":
        raise DecisionError(
            "interconnect",
            f"rdma needs EFA, and {sku.instance_type} has no EFA network cards; "
            "use an EFA SKU (p4d, p4de, p5, p5e, p5en, p6) or interconnect: none",
        )
    eni = eni_figures(sku.instance_type)
    if eni.network_cards not in (None, sku.rdma_interfaces):
        # One interface per card from card 0 (`efa_interfaces`) fits only when every card has
        # EFA; p6-b300.48xlarge has 16 EFA interfaces on 17 cards, and which card lacks EFA is
        # not in a source read here (gpufleet/catalog/README.md).
        raise DecisionError(
            "interconnect",
            f"{sku.instance_type} has {sku.rdma_interfaces} EFA interfaces on {eni.network_cards} "
            "network cards, and which card has none is not confirmed, so its EFA interfaces "
            "cannot be laid out; use interconnect: none or an SKU with EFA on every card "
            "(p5, p5e, p5en, p6-b200)",
        )
    return sku.rdma_interfaces


def efa_interfaces(
    count: int, security_group_ids: Sequence[pulumi.Input[str]]
) -> list[LaunchTemplateNetworkInterfaceArgsDict]:
    """One interface per network card, as AWS documents for multi-card EFA instances: card 0,
    device 0 is EFA with ENA (the node's primary interface, IP traffic); every other card gets
    an EFA-only interface at device index 1 (RDMA only, no IP address used)."""
    if count < 1:
        raise DecisionError("interconnect", f"EFA needs at least one network card (got {count})")
    interfaces: list[LaunchTemplateNetworkInterfaceArgsDict] = []
    for card in range(count):
        interfaces.append(
            {
                "network_card_index": card,
                "device_index": 0 if card == 0 else 1,
                "interface_type": "efa" if card == 0 else "efa-only",
                "security_groups": list(security_group_ids),
                "delete_on_termination": "true",
            }
        )
    return interfaces
