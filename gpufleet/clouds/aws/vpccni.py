"""The VPC CNI's address arithmetic on AWS: ENIs and IPv4 addresses per ENI of every GPU instance
type (`catalog/data/eni_limits.csv`, each row with its source), EKS max pods, and the subnet
addresses one node takes under the aws-node settings. Moved here from gpufleet/catalog/limits.py:
AWS knowledge lives in the AWS package (docs/design.md, "The cloud interface").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from gpufleet.catalog.limits import Confidence, data_rows, optional_int

# Every pod address under prefix delegation comes from a /28 prefix: 16 addresses.
# https://github.com/aws/amazon-vpc-cni-k8s/blob/master/docs/prefix-and-ip-target.md
PREFIX_ADDRESSES = 16
# The EKS max-pods formula adds the two host-network pods (aws-node, kube-proxy).
# https://github.com/awslabs/amazon-eks-ami (templates/shared/runtime/eni-max-pods.txt header)
HOST_NETWORK_PODS = 2


@dataclass(frozen=True, slots=True)
class EniLimits:
    """Network interfaces an AWS instance type takes and IPv4 addresses per interface.

    `max_enis` is the default network card's limit: the VPC CNI attaches interfaces to card 0
    only, so extra network cards (EFA) add nothing to pod addressing.
    """

    instance_type: str
    max_enis: int
    ipv4_per_eni: int
    network_cards: int | None
    eks_max_pods: int
    source: str
    confidence: Confidence
    notes: str

    @property
    def secondary_per_eni(self) -> int:
        """Addresses per ENI that can go to pods (or hold /28 prefixes): all but the primary."""
        return self.ipv4_per_eni - 1



@cache
def _eni_table() -> Mapping[str, EniLimits]:
    return {
        row["instance_type"]: EniLimits(
            instance_type=row["instance_type"],
            max_enis=int(row["max_enis"]),
            ipv4_per_eni=int(row["ipv4_per_eni"]),
            network_cards=optional_int(row["network_cards"]),
            eks_max_pods=int(row["eks_max_pods"]),
            source=row["source"],
            confidence=row["confidence"],  # type: ignore[arg-type]  # checked by the tests
            notes=row["notes"],
        )
        for row in data_rows("eni_limits.csv")
    }


def eni_limits(instance_type: str) -> EniLimits | None:
    """ENI figures of an AWS instance type, or None where the table has none (Azure sizes)."""
    return _eni_table().get(instance_type)



# --- VPC CNI arithmetic -------------------------------------------------------------------------


def max_pods(eni: EniLimits, max_eni: int = 0) -> int:
    """EKS max pods without prefix delegation: ENIs x (IPv4 per ENI - 1) + 2.

    The first address of each ENI is the ENI's own; +2 for the host-network pods. This is the
    formula behind amazon-eks-ami's eni-max-pods.txt, which the tests check row by row. With
    the VPC CNI's MAX_ENI (`max_eni`, 0: none) a node never holds more ENIs, so no more pods
    get an address: the kubelet must not admit more (they would hang in ContainerCreating).
    """
    enis = min(max_eni, eni.max_enis) if max_eni else eni.max_enis
    return enis * eni.secondary_per_eni + HOST_NETWORK_PODS


@dataclass(frozen=True, slots=True)
class VpcCniSettings:
    """The VPC CNI (aws-node) settings that decide how many addresses each node holds.

    WARM_IP_TARGET / MINIMUM_IP_TARGET, when either is above zero, override WARM_ENI_TARGET and
    WARM_PREFIX_TARGET (amazon-vpc-cni-k8s docs/eni-and-ip-target.md, docs/prefix-and-ip-target.md).
    The defaults are the CNI's own: WARM_ENI_TARGET=1, no prefix delegation, no MAX_ENI.
    MAX_ENI caps the ENIs ipamd attaches (0 = the instance type's limit; amazon-vpc-cni-k8s
    README, "MAX_ENI"): the one setting that bounds a node's addresses whatever runs on it.
    """

    warm_eni_target: int = 1
    warm_ip_target: int = 0
    minimum_ip_target: int = 0
    prefix_delegation: bool = False
    warm_prefix_target: int = 1
    max_eni: int = 0

    def __post_init__(self) -> None:
        for field in (
            "warm_eni_target", "warm_ip_target", "minimum_ip_target", "warm_prefix_target", "max_eni",
        ):
            if getattr(self, field) < 0:
                raise ValueError(f"VPC CNI {field} must be 0 or more, not {getattr(self, field)}")
        if self.prefix_delegation and not self.ip_targets and self.warm_prefix_target == 0:
            # prefix-and-ip-target.md: zero warm targets are not supported with prefix delegation.
            raise ValueError(
                "VPC CNI prefix delegation needs warm_prefix_target or warm_ip_target/minimum_ip_target > 0"
            )

    @property
    def ip_targets(self) -> bool:
        """True when WARM_IP_TARGET or MINIMUM_IP_TARGET is set, which overrides the warm ENI/prefix targets."""
        return self.warm_ip_target > 0 or self.minimum_ip_target > 0

    def env(self) -> dict[str, str]:
        """The aws-node environment variables that carry these settings (only those that are set)."""
        env = {"ENABLE_PREFIX_DELEGATION": "true" if self.prefix_delegation else "false"}
        if self.ip_targets:
            env |= {"WARM_IP_TARGET": str(self.warm_ip_target), "MINIMUM_IP_TARGET": str(self.minimum_ip_target)}
        elif self.prefix_delegation:
            env["WARM_PREFIX_TARGET"] = str(self.warm_prefix_target)
        else:
            env["WARM_ENI_TARGET"] = str(self.warm_eni_target)
        if self.max_eni:
            env["MAX_ENI"] = str(self.max_eni)
        return env

    @classmethod
    def from_env(cls, env: Mapping[str, object]) -> VpcCniSettings:
        """The settings an aws-node environment holds (as the vpc-cni add-on's `env` gives it);
        a missing or unreadable value keeps the CNI's default, so a bound is never understated."""
        def number(key: str, default: int) -> int:
            value = env.get(key)
            try:
                return max(0, int(str(value))) if value is not None else default
            except ValueError:
                return default

        return cls(
            warm_eni_target=number("WARM_ENI_TARGET", 1),
            warm_ip_target=number("WARM_IP_TARGET", 0),
            minimum_ip_target=number("MINIMUM_IP_TARGET", 0),
            prefix_delegation=str(env.get("ENABLE_PREFIX_DELEGATION", "false")).lower() == "true",
            warm_prefix_target=number("WARM_PREFIX_TARGET", 1) or 1,
            max_eni=number("MAX_ENI", 0),
        )


DEFAULT_VPC_CNI = VpcCniSettings()


def pod_capacity(eni: EniLimits, settings: VpcCniSettings = DEFAULT_VPC_CNI) -> int:
    """Pod addresses a node can ever hold: every secondary slot of every ENI, as an address or a /28."""
    slots = eni.max_enis * eni.secondary_per_eni
    return slots * PREFIX_ADDRESSES if settings.prefix_delegation else slots


def node_addresses(eni: EniLimits, pods: int, settings: VpcCniSettings = DEFAULT_VPC_CNI) -> int:
    """Subnet addresses one node takes with `pods` pods on pod networking (host-network pods excluded).

    - WARM_ENI_TARGET=n (the default, n=1): ipamd attaches whole ENIs with all their addresses and
      keeps n ENIs' worth free: ENIs = ceil(pods / (IPv4 per ENI - 1)) + n, each taking all of its
      IPv4 addresses (eni-and-ip-target.md: a p3dn.24xlarge with 3 pods holds 2 ENIs, 98 secondaries).
    - WARM_IP_TARGET / MINIMUM_IP_TARGET: secondaries = max(pods + WARM_IP_TARGET, MINIMUM_IP_TARGET),
      plus the primary address of each ENI they need (same page, second table).
    - Prefix delegation: each secondary slot holds a /28 (16 addresses); prefixes = ceil(pods / 16) +
      WARM_PREFIX_TARGET, or ceil(max(pods + WARM_IP_TARGET, MINIMUM_IP_TARGET) / 16) when the IP targets
      are set (prefix-and-ip-target.md), plus one primary address per ENI. A /28 prefix needs 16
      contiguous free addresses in the subnet, so fragmented subnets hold fewer.

    Every count is capped by what the instance type can attach. Interfaces the CNI does not manage
    (EFA interfaces on other network cards) are not counted here.
    """
    if pods < 0:
        raise ValueError(f"pods must be 0 or more, not {pods}")
    capacity = pod_capacity(eni, settings)
    if pods > capacity:
        raise ValueError(f"{eni.instance_type} holds at most {capacity} pod addresses, not {pods}")
    per_eni = eni.secondary_per_eni
    wanted_ips = max(pods + settings.warm_ip_target, settings.minimum_ip_target)
    if settings.prefix_delegation:
        if settings.ip_targets:
            prefixes = math.ceil(wanted_ips / PREFIX_ADDRESSES)
        else:
            prefixes = math.ceil(pods / PREFIX_ADDRESSES) + settings.warm_prefix_target
        prefixes = max(1, min(prefixes, eni.max_enis * per_eni))
        return _enis_for(prefixes, per_eni) + prefixes * PREFIX_ADDRESSES
    if settings.ip_targets:
        secondaries = min(wanted_ips, eni.max_enis * per_eni)
        return _enis_for(secondaries, per_eni) + secondaries
    enis = min(eni.max_enis, max(1, math.ceil(pods / per_eni) + settings.warm_eni_target))
    return enis * eni.ipv4_per_eni


def most_node_addresses(eni: EniLimits, settings: VpcCniSettings = DEFAULT_VPC_CNI) -> int:
    """Subnet addresses one node can ever hold, whatever its pods: every address of every ENI
    ipamd may attach (at most MAX_ENI of them), or with prefix delegation each ENI's primary
    address plus a /28 in every secondary slot. What a subnet must reserve per node."""
    enis = min(settings.max_eni, eni.max_enis) if settings.max_eni else eni.max_enis
    if settings.prefix_delegation:
        return enis * (1 + eni.secondary_per_eni * PREFIX_ADDRESSES)
    return enis * eni.ipv4_per_eni


def _enis_for(slots: int, per_eni: int) -> int:
    """ENIs needed for `slots` secondary slots; the primary ENI is always attached."""
    return max(1, math.ceil(slots / per_eni))
