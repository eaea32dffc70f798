"""The multi-period placement MILP (`HorizonModel`, docs/design.md, "Multi-period placement").

A block per period: the period's single-period model (`cost_model` of the period's spec, its
pools at the period's size and its contracts' discount), its columns shifted into one MILP.
Every row that binds one month binds each block: GPUs, shares, pins, quotas, capacity caps,
cluster limits and address ranges, the monthly budget. Contracts join the blocks:
- a column per (contract cloud, block) holds the block's monthly spend of the kinds the
  contract's `burns` lists (rows once per block, so a checkpoint row has a term per block, not
  per offer);
- a checkpoint's row: Σ months × burn over its window − credit drawn + its shortfall (and, for
  a cumulative milestone, the shortfalls charged before) ≥ its minimum − what was burned
  before the horizon; the shortfall is a priced, non-negative column;
- `shortfall: credit`: a shortfall becomes credit that later consumption may draw (a column per
  stretch of months after a checkpoint, within its burn and the credit earned so far); a drawn
  dollar is not paid again and does not burn.

Objectives, per month of each block (× its months): `cost` (level 1) is the money paid above
the commitments: flat commitments' excess as today, and on a contract cloud its whole spend
plus shortfalls less credit drawn (the contract's minimum is a constant, so this is the spend
above it); `spend` (level 2) is the total spend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from gpufleet.catalog import Cloud
from gpufleet.horizon import Period, Terms, contract_clouds, contract_terms
from gpufleet.placement.formulation import Formulation
from gpufleet.placement.milp import Milp, Solved
from gpufleet.spec import FleetSpec
from gpufleet.spechorizon import Contract


@dataclass(frozen=True)
class Block:
    """One period's model inside the joint MILP: its columns start at `offset`."""

    period: Period
    spec: FleetSpec
    form: Formulation
    offset: int

    def col(self, local: int) -> int:
        return self.offset + local

    def solved(self, solved: Solved) -> Solved:
        """The joint solution seen by the period's own model."""
        size = len(self.form.milp.lower)
        return replace(solved, values=solved.values[self.offset : self.offset + size])


def _add(objective: dict[int, float], col: int, value: float) -> None:
    objective[col] = objective.get(col, 0.0) + value


class HorizonModel:
    """The joint MILP over the blocks; `cost`, `spend` and `tie_break` are its objectives."""

    def __init__(self, spec: FleetSpec, blocks: Sequence[tuple[Period, FleetSpec, Formulation]]) -> None:
        self.spec = spec
        self.milp = Milp()
        self.cost: dict[int, float] = {}
        self.spend: dict[int, float] = {}
        self.blocks: list[Block] = []
        self.burn: dict[tuple[Cloud, int], int] = {}
        contracts = contract_clouds(spec)
        for b, (period, period_spec, form) in enumerate(blocks):
            block = Block(period, period_spec, form, len(self.milp.lower))
            self._merge(form.milp, block.offset)
            self.blocks.append(block)
            costs = BlockCosts.of(form, period.months, contracts)
            for mine, theirs in ((self.cost, costs.cost), (self.spend, costs.spend)):
                for col, value in theirs.items():
                    _add(mine, block.col(col), value)
            for cloud, burning in costs.burn.items():
                if burning:  # a column holds the block's burn: checkpoint rows have one term per block
                    self.burn[(cloud, b)] = beta = self.milp.col(0.0, math.inf)
                    row = {block.col(col): usd for col, usd in burning.items()}
                    row[beta] = -1.0
                    self.milp.row(0.0, 0.0, row)
        self.shortfall: dict[tuple[Cloud, int], int] = {}
        self.draw: dict[tuple[Cloud, int], int] = {}
        for terms in contract_terms(spec, [block.period for block in self.blocks]):
            self._contract(terms)

    def _merge(self, milp: Milp, offset: int) -> None:
        m = self.milp
        m.lower.extend(milp.lower)
        m.upper.extend(milp.upper)
        m.integer.extend(milp.integer)
        m.rows.extend(
            (lower, upper, {col + offset: v for col, v in coefs.items()}) for lower, upper, coefs in milp.rows
        )

    def _contract(self, terms: Terms) -> None:
        """The contract's shortfalls, credit drawn and checkpoint rows."""
        m = self.milp
        cloud = terms.cloud
        for i, stretch in enumerate(terms.stretches):
            beta = self.burn.get((cloud, stretch.period))
            if beta is not None and stretch.credit:
                self.draw[(cloud, i)] = drawn = m.col(0.0, math.inf)
                m.row(-math.inf, 0.0, {drawn: 1.0, beta: -float(stretch.months)})
                _add(self.cost, drawn, -1.0)
        for k in range(len(terms.checkpoints)):
            self.shortfall[(cloud, k)] = short = m.col(0.0, math.inf)
            _add(self.cost, short, 1.0)
        for k, checkpoint in enumerate(terms.checkpoints):
            row: dict[int, float] = {self.shortfall[(cloud, k)]: 1.0}
            if checkpoint.cumulative:
                row.update({self.shortfall[(cloud, j)]: 1.0 for j in range(k)})
            for i, stretch in enumerate(terms.stretches):
                beta = self.burn.get((cloud, stretch.period))
                if beta is None or k not in stretch.windows:
                    continue
                _add(row, beta, float(stretch.months))
                if (cloud, i) in self.draw:
                    _add(row, self.draw[(cloud, i)], -1.0)
            m.row(checkpoint.minimum - checkpoint.burned, math.inf, row)
        for j in range(1, len(terms.credit) + 1):  # credit drawn so far ≤ credit earned so far
            row = {col: 1.0 for (c, i), col in self.draw.items() if c == cloud and terms.stretches[i].credit <= j}
            row.update({self.shortfall[(cloud, k)]: -1.0 for k in terms.credit[:j]})
            m.row(-math.inf, 0.0, row)

    def block_values(self, solved: Solved) -> list[Solved]:
        return [block.solved(solved) for block in self.blocks]

    def value(self, solved: Solved, objective: Mapping[int, float]) -> float:
        return sum(v * solved.values[col] for col, v in objective.items())

    def carry(self, other: HorizonModel, solved: Solved, blocks: Sequence[Sequence[float]]) -> list[float]:
        """Every column's value in this model for `other`'s solution, given this model's
        blocks' values (`Formulation.solution_for`): the contract columns are the same."""
        values = [0.0] * len(self.milp.lower)
        for block, local in zip(self.blocks, blocks, strict=True):
            values[block.offset : block.offset + len(local)] = local
        for mine, theirs in ((self.burn, other.burn), (self.shortfall, other.shortfall), (self.draw, other.draw)):
            for key, col in mine.items():
                values[col] = solved.values[theirs[key]]
        return values


@dataclass(frozen=True)
class BlockCosts:
    """A period model's objectives over its own columns, for `months` months: `cost` (level 1:
    flat commitments' excess, and a contract cloud's whole spend), `spend` (level 2) and, per
    contract cloud, `burn`: its monthly spend of the kinds the contract's `burns` lists."""

    cost: dict[int, float]
    spend: dict[int, float]
    burn: dict[Cloud, dict[int, float]]

    @staticmethod
    def of(form: Formulation, months: int, contracts: Mapping[Cloud, Contract]) -> BlockCosts:
        cost: dict[int, float] = {}
        for cloud, above in form.above.items():
            if cloud not in contracts:  # a flat commitment: the excess, month by month
                _add(cost, above, float(months))
        for cloud in contracts:
            for col, usd in form.spend_row(cloud).items():
                _add(cost, col, months * usd)
        spend = {col: months * usd for col, usd in form.spend.items()}
        burn = {cloud: _burning(form, cloud, contract) for cloud, contract in contracts.items()}
        return BlockCosts(cost, spend, burn)

    def value(self, values: Sequence[float]) -> tuple[float, float, dict[Cloud, float]]:
        """(cost, spend, burn per cloud) of a solution of the period's model."""
        def total(row: Mapping[int, float]) -> float:
            return sum(v * values[col] for col, v in row.items())

        return total(self.cost), total(self.spend), {cloud: total(row) for cloud, row in self.burn.items()}


def _burning(form: Formulation, cloud: Cloud, contract: Contract) -> dict[int, float]:
    """The block's monthly spend on the cloud of the kinds that burn the contract (compute
    always: the GPU node columns; the fixed columns' kinds as `burns` lists them)."""
    row = {form.x[i]: c.monthly for i, c in enumerate(form.cands) if c.cloud == cloud}
    for col, (where, _) in form.fixed.items():
        if where == cloud:
            usd = sum(v for kind, v in form.kinds[col].items() if kind in contract.burns)
            if usd:
                row[col] = usd
    return row
