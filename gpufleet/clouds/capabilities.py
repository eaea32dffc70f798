"""What a cloud can deploy for a GPU pool, and how it counts quota: its capabilities.

Spec validation and placement read them (gpufleet/poolneeds.py): a pool that asks for what no
configured cloud offers (a MIG profile, an RDMA fabric, a capacity type) is refused at the spec,
exit 2, naming the clouds that offer it; with several clouds configured, the pool is placed only
on those that do (docs/design.md, "Capabilities"). Capabilities say what gpufleet declares on a
cloud, not everything the cloud could do: MIG on EKS would need the GPU Operator's MIG manager,
which gpufleet does not install, so AWS offers no MIG profile here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

QuotaUnit = Literal["vcpus", "gpus"]
QuotaScope = Literal["region", "global"]
GLOBAL = "global"
"""The spec's region key of a quota that holds once for all of a cloud's regions (quota_scope
"global": `quotas.<cloud>.global.<bucket>`)."""


@dataclass(frozen=True, slots=True)
class Reservation:
    """How a cloud's `capacity: reserved` pool names the capacity it runs in: the spec's
    `capacity_reservation_id` must match `pattern` (a whole-string regular expression)."""

    pattern: str
    noun: str
    """What messages call such an id ("an EC2 capacity block (cr-...)")."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """One cloud's capabilities (`CloudModel.capabilities`); every member is plain data."""

    capacity_types: frozenset[str] = frozenset({"on-demand"})
    """The `pools[].capacity` values its pools may take (on-demand, spot, reserved)."""
    reservation: Reservation | None = None
    """What a reserved pool's `capacity_reservation_id` is on this cloud; None: no reserved pools."""
    mig_profiles: frozenset[str] = frozenset()
    """The `pools[].mig` profiles its GPU pools can be partitioned into; empty: no MIG."""
    rdma_fabric: str | None = None
    """The fabric of its `interconnect: rdma` pools (`efa`, `infiniband`; which SKUs have it:
    catalog/data/rdma.csv); None: no rdma pools."""
    arm64_gpu_nodes: bool = False
    """Whether its GPU pools may run arm64 SKUs (an arm64 node image exists and is declared);
    placement skips arm64 SKUs of a cloud without."""
    device_families: frozenset[str] = frozenset({"nvidia"})
    """The accelerator device families (catalog/data/accelerators.csv: nvidia, neuron, amd) its
    GPU pools run: the node image has the driver and the in-cluster layer installs the family's
    device plugin (components/k8s/devices.py); placement skips SKUs of other families."""
    rack_scale: bool = False
    """Whether it declares rack-scale SKUs (one NVLink domain over a rack of nodes, NVL72) as a
    pool's unit; none does yet, and no spec key asks for one."""
    quota_unit: QuotaUnit = "vcpus"
    """What its GPU quotas count: vCPUs of the instance family (AWS, Azure) or GPUs."""
    quota_scope: QuotaScope = "region"
    """Where one quota holds: per region (AWS, Azure) or once for all regions (`global`, the
    spec's `quotas.<cloud>.global`)."""
    zonal_regions: frozenset[str] | None = None
    """The regions with availability zones; None: every region has them."""
    zones_per_region: int = 3
    """Availability zones a region with zones offers (at least)."""
    notes: Mapping[str, str] = field(default_factory=dict[str, str])
    """capability (`mig`, `rdma`, `capacity: reserved`, ...) -> what to do instead on this cloud,
    said when a pool asks for it."""

    def zones(self, region: str) -> int:
        """Availability zones the region offers (0: none, a single-datacenter region)."""
        if self.zonal_regions is None or region in self.zonal_regions:
            return self.zones_per_region
        return 0
