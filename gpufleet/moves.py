"""What moved between two plans and why: the answer a re-plan around a capacity shortfall owes
the user (`plan --previous` and `gpufleet diff`). Pure: placements and a reason for each loss in,
rows out; each row's reason is one of `gpufleet.reasons` (the plan finds it with
`gpufleet.movereasons`; a diff reads what the plan recorded)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from gpufleet.plan import Placement
from gpufleet.reasons import Reason
from gpufleet.speccapacity import Shortfalls


@dataclass(frozen=True, slots=True)
class Cause:
    """Why nodes moved: the binding reason and a sentence with its figures."""

    reason: Reason
    sentence: str


MOVED_HEADER = ("pool", "cloud/region/SKU", "nodes before", "after", "reason", "why")
"""The columns a table of moves shows (plan and diff)."""

Why = Callable[[str, str, int], Cause | None]
"""(pool, offer, nodes lost) -> why; None: not a move (the pool's own shape changed)."""


@with_config(ConfigDict(extra="forbid"))
class MoveDoc(TypedDict):
    """Nodes of one pool on one offer before and after, the binding reason and its sentence."""

    pool: str
    offer: str
    before: int
    after: int
    reason: Reason
    sentence: str


@dataclass(frozen=True, slots=True)
class Move:
    pool: str
    offer: str  # cloud/region/sku
    before: int
    after: int
    reason: Reason
    sentence: str

    def to_json(self) -> MoveDoc:
        return {"pool": self.pool, "offer": self.offer, "before": self.before,
                "after": self.after, "reason": self.reason, "sentence": self.sentence}


def _nodes(placements: Sequence[Placement]) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for p in placements:
        key = (p.pool, f"{p.cloud}/{p.region}/{p.instance_type}")
        found[key] = found.get(key, 0) + p.nodes
    return found


def moves(before: Sequence[Placement], after: Sequence[Placement], why: Why) -> list[Move]:
    """Every (pool, offer) whose nodes changed, for pools in both plans: a loss with its cause
    (`why`), a gain with the cause of most of its pool's losses. A pool with no loss that has
    a cause moved nothing (it grew or changed shape): it is left out."""
    old, new = _nodes(before), _nodes(after)
    pools = {pool for pool, _ in old} & {pool for pool, _ in new}
    changed = sorted(key for key in old.keys() | new.keys() if key[0] in pools and old.get(key, 0) != new.get(key, 0))
    lost: dict[tuple[str, str], Cause] = {}
    for pool, offer in changed:
        was, now = old.get((pool, offer), 0), new.get((pool, offer), 0)
        if now < was and (cause := why(pool, offer, was - now)) is not None:
            lost[(pool, offer)] = cause
    found: list[Move] = []
    for pool, offer in changed:
        was, now = old.get((pool, offer), 0), new.get((pool, offer), 0)
        if (pool, offer) in lost:
            cause = lost[(pool, offer)]
            found.append(Move(pool, offer, was, now, cause.reason, cause.sentence))
        elif now > was and (cause := _gained(pool, lost, old, new)) is not None:
            found.append(Move(pool, offer, was, now, cause.reason, cause.sentence))
    return found


Nodes = Mapping[tuple[str, str], int]  # (pool, offer) -> nodes


def _gained(pool: str, lost: Mapping[tuple[str, str], Cause], old: Nodes, new: Nodes) -> Cause | None:
    """A gain's cause: its pool's losses, the reason of the one that lost most nodes."""
    mine = sorted(((old[key] - new.get(key, 0), key[1]) for key in lost if key[0] == pool), key=lambda n: (-n[0], n[1]))
    if not mine:
        return None
    reason = lost[(pool, mine[0][1])].reason
    offers = ", ".join(offer for _, offer in mine)
    return Cause(reason, f"took the nodes of {pool} that left {offers} ({reason})")


def capacity_cause(shortfalls: Shortfalls, offer: str, nodes_before: int) -> Cause | None:
    """`unavailable` when a capacity rule took the offer out, or capped it below the nodes it
    had (`nodes_before`, over every pool: a cap is shared); else None."""
    if rule := shortfalls.rule_for(offer):
        return Cause("unavailable", f"{offer} is taken out (capacity.unavailable '{rule}')")
    cap = shortfalls.cap(offer)
    if cap is not None and nodes_before > cap:
        return Cause("unavailable", f"{offer} delivers at most {cap} nodes (capacity.available); "
                                    f"{nodes_before} were placed on it")
    return None


def recorded_causes(before: Sequence[Placement], head: dict[str, Any]) -> Why:
    """The causes a plan document recorded for its re-plan (`previous.moved`) where `before`
    has the same nodes as that plan's previous one; else what its capacity rules say."""
    previous: dict[str, Any] = head.get("previous") or {}
    listed = cast(list[MoveDoc], previous.get("moved", []))
    recorded = {(m["pool"], m["offer"], m["before"], m["after"]): m for m in listed}
    old = _nodes(before)
    shortfalls = shortfalls_of_document(head)

    def why(pool: str, offer: str, lost: int) -> Cause | None:
        was = old.get((pool, offer), 0)
        if found := recorded.get((pool, offer, was, was - lost)):
            return Cause(found["reason"], found["sentence"])
        return capacity_cause(shortfalls, offer, sum(n for (_, o), n in old.items() if o == offer))

    return why


def shortfalls_of_document(document: dict[str, Any]) -> Shortfalls:
    """The capacity rules a plan document was made under (its `capacity` section, if any)."""
    section: dict[str, Any] = document.get("capacity") or {}
    return Shortfalls(tuple(section.get("unavailable", ())), dict(section.get("available", {})))
