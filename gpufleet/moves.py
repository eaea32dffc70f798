"""What moved between two plans and why: the answer a re-plan around a capacity shortfall owes
the user (`plan --previous` and `gpufleet diff`). Pure: placements in, rows out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from gpufleet.plan import Placement
from gpufleet.speccapacity import Shortfalls

GAINED = "took the moved nodes"


@with_config(ConfigDict(extra="forbid"))
class MoveDoc(TypedDict):
    """Nodes of one pool on one offer before and after, and why they changed."""

    pool: str
    offer: str
    before: int
    after: int
    reason: str


@dataclass(frozen=True, slots=True)
class Move:
    pool: str
    offer: str  # cloud/region/sku
    before: int
    after: int
    reason: str

    def to_json(self) -> MoveDoc:
        return {"pool": self.pool, "offer": self.offer, "before": self.before,
                "after": self.after, "reason": self.reason}


def _nodes(placements: Sequence[Placement]) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for p in placements:
        key = (p.pool, f"{p.cloud}/{p.region}/{p.instance_type}")
        found[key] = found.get(key, 0) + p.nodes
    return found


def moves(before: Sequence[Placement], after: Sequence[Placement], shortfalls: Shortfalls) -> list[Move]:
    """Every (pool, offer) whose nodes changed: losses name the capacity rule that forced them
    (or say they were re-placed), gains say they took the moved nodes. Pools only in one of the
    plans (added or removed from the spec) are not moves and are left out."""
    old, new = _nodes(before), _nodes(after)
    pools = {pool for pool, _ in old} & {pool for pool, _ in new}
    on_offer: dict[str, int] = {}
    for (_, offer), n in old.items():
        on_offer[offer] = on_offer.get(offer, 0) + n
    found: list[Move] = []
    for pool, offer in sorted(old.keys() | new.keys()):
        if pool not in pools:
            continue
        was, now = old.get((pool, offer), 0), new.get((pool, offer), 0)
        if now < was:
            found.append(Move(pool, offer, was, now, shortfalls.why_moved(offer, on_offer[offer])))
        elif now > was:
            found.append(Move(pool, offer, was, now, GAINED))
    return found


def shortfalls_of_document(document: dict[str, Any]) -> Shortfalls:
    """The capacity rules a plan document was made under (its `capacity` section, if any)."""
    section: dict[str, Any] = document.get("capacity") or {}
    return Shortfalls(tuple(section.get("unavailable", ())), dict(section.get("available", {})))
