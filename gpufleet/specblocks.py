"""Capacity bought: a reserved pool's `capacity_reservation_id`, checked against the clouds that
take one (their capabilities' `reservation`: what the id is and its whole-string pattern)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from gpufleet import clouds as registry
from gpufleet.catalog import Cloud
from gpufleet.errors import Problem
from gpufleet.specmodel import Pool


def reservation_problems(path: str, pool: Pool, clouds: Sequence[Cloud]) -> Iterator[Problem]:
    """A reserved pool names the reservation it runs in, as the clouds that take one spell it."""
    reserving = [c for c in clouds if registry.get(c).capabilities.reservation is not None]
    if pool.capacity_reservation_id and pool.capacity != "reserved":
        yield Problem(
            f"{path}.capacity_reservation_id",
            f"a capacity reservation needs capacity: reserved (got '{pool.capacity}')",
        )
    elif pool.capacity == "reserved" and reserving and not pool.capacity_reservation_id:
        needed = "; ".join(_reservation_text(c) for c in reserving)
        notes = "".join(
            f". On {registry.get(c).title} {note}"
            for c in clouds if (note := registry.get(c).capabilities.notes.get("capacity: reserved"))
        )
        yield Problem(f"{path}.capacity_reservation_id", f"capacity: reserved needs the id of {needed}{notes}")
    elif pool.capacity_reservation_id and reserving:
        patterns = {c: reservation_pattern(c) for c in reserving}
        if not any(re.fullmatch(p, pool.capacity_reservation_id) for p in patterns.values()):
            shown = ", ".join(f"{registry.get(c).title} {p}" for c, p in patterns.items())
            yield Problem(
                f"{path}.capacity_reservation_id",
                f"'{pool.capacity_reservation_id}' is not a capacity reservation id; allowed: {shown}",
            )


def _reservation_text(cloud: Cloud) -> str:
    model = registry.get(cloud)
    reservation = model.capabilities.reservation
    assert reservation is not None  # the caller chose clouds that take one
    return (
        f"{reservation.noun}, which {model.title} nodes then run in; without one the nodes would be "
        "created and priced as on-demand"
    )


def reservation_pattern(cloud: Cloud) -> str:
    """The whole-string pattern of a cloud's reservation ids ('' when it takes none)."""
    reservation = registry.get(cloud).capabilities.reservation
    return reservation.pattern if reservation is not None else ""
