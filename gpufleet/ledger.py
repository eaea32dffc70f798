"""The cost ledger: the one place where spend is summed (docs/design.md, "The cost ledger").

Lines in: `CostLine`s (item, cloud, region, $/month, source, kind), each already priced to the
cent by whoever knows the item (`gpufleet.cost` for a plan, `gpufleet.policy.budget` for
declared resources). Totals out, summed in whole cents so that no order of addition and no
float residue can make two readers disagree: the whole month, per cloud, per kind, the budget's
headroom, and each cloud's commitment burn for the first period. The plan's cost table, its
JSON, placement's reported objective, the budget and commitment policies and `diff` all read a
ledger, so a figure printed twice is the same figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gpufleet.catalog import Cloud
from gpufleet.plan import CloudSpend, CostKind, CostLine


def cents(usd: float) -> int:
    """A dollar amount in whole cents (each line is priced to the cent)."""
    return round(usd * 100)


def _usd(total_cents: int) -> float:
    return total_cents / 100


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """The month's spend against the cap: `headroom_usd` is negative when over it."""

    cap_usd: float
    spend_usd: float

    @property
    def headroom_usd(self) -> float:
        return _usd(cents(self.cap_usd) - cents(self.spend_usd))

    @property
    def over(self) -> bool:
        return cents(self.spend_usd) > cents(self.cap_usd)

    @property
    def share(self) -> float:
        """Spend as a fraction of the cap."""
        return self.spend_usd / self.cap_usd


@dataclass(frozen=True, slots=True)
class Ledger:
    """Cost lines and every sum of them."""

    lines: tuple[CostLine, ...]

    @property
    def total_usd(self) -> float:
        return _usd(sum(cents(line.monthly_usd) for line in self.lines))

    def cloud_usd(self, cloud: Cloud) -> float:
        return _usd(sum(cents(line.monthly_usd) for line in self.lines if line.cloud == cloud))

    def by_cloud(self) -> dict[Cloud, float]:
        """$/month per cloud that has a line, clouds in first-seen order."""
        return {cloud: self.cloud_usd(cloud) for cloud in dict.fromkeys(line.cloud for line in self.lines)}

    def by_kind(self) -> dict[CostKind, float]:
        """$/month per kind of spend that has a line (compute, storage, transfer, fixed)."""
        found: dict[CostKind, int] = {}
        for line in self.lines:
            found[line.kind] = found.get(line.kind, 0) + cents(line.monthly_usd)
        return {kind: _usd(total) for kind, total in found.items()}

    def budget(self, cap_usd: float | None) -> BudgetUse | None:
        """The month against a cap; None without one."""
        return None if cap_usd is None else BudgetUse(cap_usd, self.total_usd)

    def burn(self, commitments: Mapping[Cloud, float], clouds: Iterable[Cloud]) -> tuple[CloudSpend, ...]:
        """Each of `clouds`' spend against its commitment (0 without one) in the first period:
        what is burned, left unused and spent above it (`CloudSpend`)."""
        return tuple(CloudSpend(cloud, self.cloud_usd(cloud), commitments.get(cloud, 0.0)) for cloud in clouds)

    def largest(self, count: int) -> list[CostLine]:
        """The `count` dearest lines, ties by item: what a message names as top contributors."""
        return sorted(self.lines, key=lambda line: (-cents(line.monthly_usd), line.item))[:count]
