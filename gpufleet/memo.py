"""Values remembered per object, by identity: for frozen specs, which are costly to hash by value
and asked the same questions thousands of times (placement at every solve, explain's re-plans)."""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class IdentityMemo(Generic[K, V]):
    """A table of values per owner object for the last `kept` owners. Each owner is held while
    its table is, so its id is never reused for another object meanwhile."""

    def __init__(self, kept: int) -> None:
        self.kept = kept
        self._tables: dict[int, tuple[object, dict[K, V]]] = {}

    def table(self, owner: object) -> dict[K, V]:
        """The owner's table (new and empty the first time, the oldest owner's dropped if full)."""
        held = self._tables.get(id(owner))
        if held is None or held[0] is not owner:
            if len(self._tables) >= self.kept:
                del self._tables[next(iter(self._tables))]
            held = self._tables[id(owner)] = (owner, {})
        return held[1]
