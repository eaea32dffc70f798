"""What a pool asks of the cloud it runs on, read against each cloud's capabilities
(`CloudModel.capabilities`, gpufleet/clouds/capabilities.py).

A pool's `mig`, `interconnect: rdma` and `capacity` are needs: a cloud that lacks one cannot hold
the pool. The spec refuses a pool that no configured cloud can hold (exit 2, naming the clouds
that could), and a share or pin on a cloud that lacks a need; placement puts the pool only on the
configured clouds that meet all its needs (docs/design.md, "Capabilities").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gpufleet import clouds
from gpufleet.catalog import Cloud, Sku
from gpufleet.clouds.capabilities import Capabilities
from gpufleet.specmodel import Pool


@dataclass(frozen=True, slots=True)
class Need:
    """One thing a pool asks of its cloud: the spec field that asks, how messages name it and
    the note key of `Capabilities.notes`, and whether a cloud's capabilities meet it."""

    field: str
    label: str
    met_by: Callable[[Capabilities], bool]


def needs(pool: Pool) -> tuple[Need, ...]:
    """Every capability the pool asks for, in the order of its fields."""
    found: list[Need] = []
    capacity = pool.capacity
    if capacity != "on-demand":
        found.append(Need("capacity", f"capacity: {capacity}", lambda c: capacity in c.capacity_types))
    if pool.interconnect == "rdma":
        found.append(Need("interconnect", "rdma", lambda c: c.rdma_fabric is not None))
    mig = pool.mig
    if mig is not None:
        found.append(Need("mig", "mig", lambda c: mig in c.mig_profiles))
    return tuple(found)


def lacking(pool: Pool, cloud: Cloud) -> tuple[Need, ...]:
    """The pool's needs that `cloud` does not meet."""
    capabilities = clouds.get(cloud).capabilities
    return tuple(need for need in needs(pool) if not need.met_by(capabilities))


def able_clouds(pool: Pool, candidates: Sequence[Cloud]) -> list[Cloud]:
    """The clouds among `candidates` that meet every need of the pool, in their order."""
    return [cloud for cloud in candidates if not lacking(pool, cloud)]


def runs_sku(sku: Sku) -> bool:
    """Whether the SKU's cloud declares GPU pools of its CPU architecture (arm64 needs
    `arm64_gpu_nodes`) and of its device family (`device_families`)."""
    return sku_problem(sku) is None


def sku_problem(sku: Sku) -> str | None:
    """Why the SKU's cloud cannot run GPU pools of it (its note saying what to do), or None."""
    model = clouds.get(sku.cloud)
    capabilities = model.capabilities
    if sku.arch == "arm64" and not capabilities.arm64_gpu_nodes:
        return capabilities.notes.get("arm64", f"{model.title} declares no arm64 GPU nodes")
    if sku.family not in capabilities.device_families:
        return capabilities.notes.get(sku.family, (
            f"{model.title} GPU pools run {' and '.join(sorted(capabilities.device_families))} "
            f"devices, not {sku.family}"))
    return None


def offered_by(need: Need) -> list[str]:
    """Every registered cloud that meets the need, as messages name them."""
    return [model.title for model in clouds.models() if need.met_by(model.capabilities)]


def refusal(need: Need, configured: Sequence[Cloud]) -> str:
    """Why no configured cloud can hold a pool with this need, and what can."""
    titles = ", ".join(clouds.get(c).title for c in configured)
    able = offered_by(need)
    notes = [
        f"{clouds.get(c).title}: {note}" for c in configured
        if (note := clouds.get(c).capabilities.notes.get(need.label))
    ]
    advice = f"; {'; '.join(notes)}" if notes else ""
    return (
        f"{need.label} is not offered on {titles}; clouds that offer it: {', '.join(able) or 'none'} "
        f"(add one under clouds:, or drop {need.field}){advice}"
    )
