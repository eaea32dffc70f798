"""GPU node pools as the engine reports them (EKS managed node groups, AKS agent pools, or any
registered cloud's pools) at their maximum size, with the region and quota bucket each draws on.

Each cloud's model says which resources declare pools and how (`declared_pools`); this module
keeps the pools of a GPU SKU. Shared by the quota and budget policies, so both count the same
nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pulumi_policy import PolicyResource

from gpufleet import clouds
from gpufleet.catalog import Catalog, Sku
from gpufleet.clouds.declared import DeclaredPool
from gpufleet.policy.view import View
from gpufleet.quota import quota_units


@dataclass(frozen=True, slots=True)
class GpuPool:
    """One node group / agent pool of a GPU SKU, at its maximum node count."""

    urn: str
    name: str
    resource_type: str
    cloud: str
    region: str | None
    sku: Sku
    nodes: int
    spot: bool
    capacity_block: bool = False

    @property
    def units(self) -> int:
        """What the pool draws on each of its buckets: vCPUs, or GPUs (its cloud's quota unit)."""
        return self.nodes * quota_units(self.sku)

    @property
    def bucket(self) -> str:
        return self.sku.bucket_for("spot" if self.spot else "on-demand")

    def label(self) -> str:
        return f"{self.name} ({self.sku.instance_type} x {self.nodes})"


def largest_gpu_sku(catalog: Catalog, cloud: str, instance_types: Iterable[str]) -> Sku | None:
    skus = [catalog.sku(cloud, t) for t in instance_types]
    gpus = [s for s in skus if s is not None and s.gpus > 0]
    return max(gpus, key=lambda s: (s.vcpus, s.instance_type)) if gpus else None


def declared_pools(resources: Sequence[PolicyResource]) -> Iterable[tuple[PolicyResource, str, DeclaredPool]]:
    """(resource, cloud, pool) for every node pool any registered cloud reads in the stack."""
    for resource in resources:
        owner = clouds.owner_of(resource.resource_type)
        if owner is not None:
            for pool in owner.declared_pools(View(resource, resources)):
                yield resource, owner.name, pool


def gpu_pools(resources: Sequence[PolicyResource], catalog: Catalog) -> list[GpuPool]:
    """Every GPU node pool in the stack (non-GPU pools are left out)."""
    found: list[GpuPool] = []
    for resource, cloud, pool in declared_pools(resources):
        sku = largest_gpu_sku(catalog, cloud, pool.instance_types)
        if sku is not None:
            found.append(GpuPool(
                resource.urn, pool.name, resource.resource_type, cloud, pool.region, sku,
                pool.max_nodes, pool.spot, pool.capacity_block,
            ))
    return found
