"""The placement MILP (`Formulation`): a column per candidate offer counting whole nodes, rows
for GPUs, shares and pins (`shares`), quotas and the budget, and a binary per region and storage
copy that switches its fixed cost on. The package docstring (`gpufleet.placement`) describes the
model."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from fractions import Fraction

from gpufleet import addresses, clouds
from gpufleet.catalog import Cloud
from gpufleet.clouds.capabilities import GLOBAL
from gpufleet.cost import copy_cost_items, copy_costs, region_fixed_usd
from gpufleet.nodegroups import ClusterLimits, cluster_limits
from gpufleet.placement.candidates import Candidate, Limited, counted_places, interchangeable, unlimited_bounds
from gpufleet.placement.clusters import cluster_rows, settle_extra
from gpufleet.placement.milp import Milp, Solved
from gpufleet.placement.shares import Term, most_nodes, share_rows
from gpufleet.plan import CostKind
from gpufleet.quota import QuotaKey, declared_quotas, quota_key, quota_units
from gpufleet.spec import FleetSpec, Pool
from gpufleet.specmodel import Storage


class Formulation:
    """The placement MILP over a set of candidates; options switch limits off for diagnosis."""

    def __init__(
        self,
        spec: FleetSpec,
        cands: Sequence[Candidate],
        pools: Sequence[Pool],
        *,
        groups: Mapping[str, Sequence[Pool]] | None = None,
        quotas: bool = True,
        shares_and_pins: bool = True,
        budget: bool = True,
        elastic: Iterable[QuotaKey] = (),
        shortfall: bool = False,
        bounds: Mapping[str, int] | None = None,
        clusters: bool = True,
        limited: Limited = None,
        apart: Collection[str] = (),
    ) -> None:
        """`groups` maps a pool to the interchangeable pools it stands for (`interchangeable`):
        its candidates then carry the whole group's nodes, shared out by `_split_group`, except
        in the places `apart` (`cost_model`: where a limit that counts node groups may bind),
        where `cands` holds every member's own candidates instead, so their groups are counted.
        `bounds`: the most nodes per candidate key in a plan optimal on cost
        (`unlimited_bounds`), for the cost levels; a group's column takes its pools' bound
        (the same for all of them) unless one of them has none. `clusters` False leaves out
        the deploy limits (`_cluster_limits`, `_address_limits`), for diagnosis; `limited` holds
        them only in those places (`candidates.Limited`)."""
        self.spec = spec
        self.limited = limited
        self.cands = list(cands)
        self.milp = Milp()
        m = self.milp
        limits: Mapping[QuotaKey, tuple[str, int]] = declared_quotas(spec) if quotas else {}
        raised = set(elastic)
        fixed_limits = {key for key in limits if key not in raised}
        self.members = {pool.name: tuple((groups or {}).get(pool.name, (pool,))) for pool in pools}
        self.apart = frozenset(apart)
        capped = {member.name for group in self.members.values() for member in group} if shares_and_pins else set[str]()
        self.most: list[int] = []
        for c in self.cands:
            alike = [c if member is c.pool else replace(c, pool=member) for member in self.stands_for(c)]
            most = sum(most_nodes(a, limits, raised, c.pool.name in capped) for a in alike)
            if bounds is not None and all(a.key in bounds for a in alike):
                most = min(most, max(bounds[a.key] for a in alike))
            self.most.append(most)
        self.covers: dict[int, list[int]] = {}  # binary → the candidates that switch it on
        quota_linked = [
            any(quota_key(c.cloud, c.region, b) in fixed_limits for b in c.buckets)
            for c in self.cands
        ]
        self.x = [m.col(0.0, float(most), True) for most in self.most]
        self.unit_cols: dict[int, int] = {}  # candidate → its count of units (gpufleet.units)
        for i, c in enumerate(self.cands):  # whole units: nodes = unit × an integer
            if c.unit > 1:
                self.unit_cols[i] = m.col(0.0, float(self.most[i] // c.unit), True)
                m.row(0.0, 0.0, {self.x[i]: 1.0, self.unit_cols[i]: -float(c.unit)})
        self.short: dict[str, int] = {}
        self.split: dict[tuple[str, Cloud, int | Fraction], int] = {}  # (member, cloud, GPUs per node) → column
        by_pool: dict[str, list[int]] = {}
        for i, c in enumerate(self.cands):
            by_pool.setdefault(c.pool.name, []).append(i)
        for pool in pools:
            if len(self.members[pool.name]) == 1:
                mine = by_pool.get(pool.name, [])
                region_gpus = next((self.cands[i].region_gpus for i in mine), None)
                self._pool_rows(pool, self._terms(mine), shortfall, shares_and_pins, region_gpus)
            else:
                self._split_group(pool.name, by_pool, shortfall, shares_and_pins)
        self.spend = {self.x[i]: c.monthly for i, c in enumerate(self.cands)}
        self.fixed: dict[int, tuple[Cloud, float]] = {}
        self.kinds: dict[int, dict[CostKind, float]] = {}  # fixed column → its cost by kind
        self.opened: dict[tuple[Cloud, str], int] = {}
        self._fixed_costs(quota_linked)
        self.group_cols: dict[int, tuple[int, int]] = {}  # candidate → (groups column, nodes per group)
        self.cluster_rows: list[tuple[Cloud, str]] = []
        self.extra_clusters: dict[tuple[Cloud, str], int] = {}  # region → its clusters after the first
        self.address_rows: list[tuple[Cloud, str]] = []
        if clusters:
            self._cluster_limits()
            self._address_limits()
        self.elastic: dict[QuotaKey, int] = {}
        if quotas:
            self._quotas(limits, raised)
        self._caps()
        used: set[Cloud] = {c.cloud for c in self.cands}
        self.excess: dict[int, float] = {}
        self.above: dict[Cloud, int] = {}
        for cloud in clouds.names():
            if cloud not in used:
                continue
            commitment = spec.budget.monthly_commitment(cloud)
            above = m.col(0.0, math.inf)
            self.excess[above] = 1.0
            self.above[cloud] = above
            row = self.spend_row(cloud)  # above >= spend_cloud - commitment
            row[above] = -1.0
            m.row(-math.inf, commitment, row)
        if budget and spec.budget.monthly_usd is not None:
            m.row(-math.inf, spec.budget.monthly_usd, self.spend)

    def stands_for(self, c: Candidate) -> tuple[Pool, ...]:
        """The pools whose nodes candidate c's column counts: its group's for a group's column
        (a leader's candidate outside `apart`), else its pool's."""
        return (c.pool,) if c.place in self.apart else self.members.get(c.pool.name, (c.pool,))

    def _terms(self, mine: Iterable[int]) -> list[Term]:
        return [Term(self.x[i], self.cands[i].cloud, self.cands[i].place, self.cands[i].gpus) for i in mine]

    def spend_row(self, cloud: Cloud) -> dict[int, float]:
        """The cloud's monthly spend: its GPU nodes and the fixed costs of what it opens."""
        row = {self.x[i]: c.monthly for i, c in enumerate(self.cands) if c.cloud == cloud}
        row.update({col: usd for col, (where, usd) in self.fixed.items() if where == cloud})
        return row

    def _fixed_costs(self, quota_linked: Sequence[bool]) -> None:
        """A binary per region with a candidate, and per (storage, region) where a
        `colocate_with` pool has one: it adds its cost to the cloud's spend and must be 1 for
        the nodes it covers. Being 1 without nodes only costs, so at an optimum the binaries
        are 1 exactly where the cost model prices a cluster or a storage copy. A copy away
        from its dataset's home also costs its transfer on the home cloud (`_copy`); the home
        copy itself is a column fixed at 1, so the home cloud's spend and the budget count it.

        Links: a declared quota row reads vCPUs ≤ limit × open (`_quotas`); a region's other
        candidates share Σ nodes ≤ (Σ their bounds) × open. On the 50-pool benchmark that
        solved faster and more steadily than a row per candidate (x ≤ bound × open).
        """
        regions: dict[tuple[Cloud, str], list[int]] = {}
        for i, c in enumerate(self.cands):
            regions.setdefault((c.cloud, c.region), []).append(i)
        copies: dict[tuple[str, ...], list[Storage]] = {}  # same pools → one binary, costs add
        for entry in self.spec.storage:
            copies.setdefault(tuple(sorted(set(entry.colocate_with))), []).append(entry)
        catalog = self.spec.catalog()
        for (cloud, region), here in sorted(regions.items()):
            unlinked = [i for i in here if not quota_linked[i]]  # the quota rows link the rest
            self.opened[(cloud, region)] = self._link(here, cloud, region_fixed_usd(cloud, self.spec), unlinked)
            for pools, entries in sorted(copies.items()):
                covered = [i for i in here if self.cands[i].pool.name in pools]
                away = [e for e in entries if e.home_place() != (cloud, region)]
                if covered and away:
                    self._copy(covered, cloud, [
                        item for e in away for item in copy_cost_items(catalog, e, cloud, region)
                    ])
        for entry in self.spec.storage:
            home = entry.home_place()
            if home is not None:  # the home copy is always kept: a column fixed at 1
                col = self.milp.col(1.0, 1.0, True)
                (where, usd), = copy_costs(catalog, entry, *home)  # storage only: no transfer
                self.fixed[col] = (where, usd)
                self.kinds[col] = {"storage": usd}
                self.spend[col] = usd
                self.covers[col] = []

    def _copy(self, covered: list[int], cloud: Cloud, costs: list[tuple[Cloud, CostKind, float]]) -> None:
        """A copy's binary on its own cloud; the transfer it costs another cloud (its home's)
        rides on a column held equal to it, so every fixed column is paid by one cloud."""
        by_cloud: dict[Cloud, dict[CostKind, float]] = {}
        for where, kind, usd in costs:
            kinds = by_cloud.setdefault(where, {})
            kinds[kind] = kinds.get(kind, 0.0) + usd
        own = by_cloud.pop(cloud, {})
        binary = self._link(covered, cloud, sum(own.values()), kinds=own)
        for where, kinds in sorted(by_cloud.items()):
            twin = self.milp.col(0.0, 1.0, True)
            self.milp.row(0.0, 0.0, {twin: 1.0, binary: -1.0})
            usd = sum(kinds.values())
            self.kinds[twin] = kinds
            self.fixed[twin] = (where, usd)
            self.spend[twin] = usd
            self.covers[twin] = covered

    def _cluster_limits(self) -> None:
        """Each region's clusters within their limits (`gpufleet.nodegroups`), each limit where
        a plan could reach it, with the region's extra clusters where it may have several
        (`placement.clusters`): an integer count of node groups per candidate, at least nodes /
        nodes per group, and the nodes, within what the region's clusters hold.

        A group's column (`stands_for`) would become one node group per pool and cannot be
        counted this way, so `cost_model` keeps the pools apart wherever a limit that counts
        groups may bind (`counted_places`). Elsewhere these tests do not find one on a group's
        column either: its groups at most (of the members' nodes summed) are no more than the
        members' groups at most together. The node limit counts a group's column exactly."""
        for (cloud, region), here in self._regions():
            if cluster_rows(self, cloud, region, here):
                self.cluster_rows.append((cloud, region))

    def _address_limits(self) -> None:
        """Each region's node ranges hold its nodes (`gpufleet.addresses`), where a plan could
        fill one (`addresses.may_bind`): per range, Σ over the region's candidates of addresses
        per node × nodes + a group's fixed surge × groups (`addresses.node_demand`, a linear
        bound of the upgrade surge), plus the system pool's share once the region is open,
        within the range's usable addresses. The groups are `_cluster_limits`' integer columns,
        so the per-group surge is counted exactly, not as a fraction of the nodes. Ranges with
        the same row (AWS's two private subnets) get one. A group's column gets none: see
        `_cluster_limits`."""
        for (cloud, region), here in self._regions():
            kinds = [self.cands[i].sku.instance_type for i in here]
            most = [(kind, self.most[i]) for kind, i in zip(kinds, here, strict=True)]
            if not addresses.may_bind(self.spec, cloud, region, most):
                continue
            self.address_rows.append((cloud, region))
            model = clouds.get(cloud)
            limits = cluster_limits(self.spec, cloud, region)
            rows: set[tuple[int, tuple[tuple[int, float], ...]]] = set()
            extra = self.extra_clusters.get((cloud, region))
            for room in addresses.planned_rooms(self.spec, cloud, region):
                row: dict[int, float] = {self.opened[(cloud, region)]: float(room.system)}
                if extra is not None:  # each cluster's system pool (a range of each cluster's own is
                    row[extra] = float(room.system)  # held to the first's: the fill knows no addresses)
                for i, kind in zip(here, kinds, strict=True):
                    demand = addresses.node_demand(model, kind, room.node_range)
                    row[self.x[i]] = demand.per_node
                    if demand.per_group:
                        row[self.groups_col(i, limits)] = demand.per_group
                rows.add((room.node_range.usable, tuple(sorted(row.items()))))
            for usable, items in sorted(rows):
                self.milp.row(-math.inf, float(usable), dict(items))

    def _regions(self) -> list[tuple[tuple[Cloud, str], list[int]]]:
        """The candidates of each region whose deploy limits the model holds, regions in order."""
        regions: dict[tuple[Cloud, str], list[int]] = {}
        for i, c in enumerate(self.cands):
            if self.limited is None or c.place in self.limited:
                regions.setdefault((c.cloud, c.region), []).append(i)
        return sorted(regions.items())

    def groups_col(self, i: int, limits: ClusterLimits) -> int:
        """Candidate i's integer count of node groups (made once): at least its nodes / nodes
        per group of its cluster (`limits`, its region's), at most what its bound needs. Below
        a group's size (a rack on a rack-scale SKU), the bound is the tighter multiplier
        (nodes ≤ bound × groups)."""
        assert len(self.stands_for(self.cands[i])) == 1, "a group's column has no group count (_cluster_limits)"
        if i not in self.group_cols:
            size = limits.group_size(self.cands[i].sku)
            col = self.milp.col(0.0, float(limits.groups_for(self.most[i], self.cands[i].sku)), True)
            self.milp.row(-math.inf, 0.0, {self.x[i]: 1.0, col: -float(min(size, self.most[i]))})
            self.group_cols[i] = (col, size)
        return self.group_cols[i][0]

    def _link(
        self, covered: list[int], cloud: Cloud, usd: float, linked: list[int] | None = None,
        kinds: dict[CostKind, float] | None = None,
    ) -> int:
        """A binary costing `usd` on `cloud` (a region's `fixed` cost unless `kinds` splits it),
        1 wherever a covered candidate has nodes; this row links the `linked` ones (default:
        all covered), other rows the rest."""
        binary = self.milp.col(0.0, 1.0, True)
        self.fixed[binary] = (cloud, usd)
        self.kinds[binary] = {"fixed": usd} if kinds is None else kinds
        self.spend[binary] = usd
        self.covers[binary] = covered
        rowed = covered if linked is None else linked
        if rowed:
            row = {self.x[i]: 1.0 for i in rowed}
            row[binary] = -float(sum(self.most[i] for i in rowed))
            self.milp.row(-math.inf, 0.0, row)
        return binary

    def _pool_rows(
        self, pool: Pool, terms: Sequence[Term], shortfall: bool, shares_and_pins: bool,
        region_gpus: int | None = None,
    ) -> None:
        """The pool's GPUs, and its shares per cloud and region and its pins (`shares.share_rows`),
        over the columns counting its nodes."""
        m = self.milp
        demand = {t.col: float(t.gpus) for t in terms}
        if shortfall:
            self.short[pool.name] = m.col(0.0, float(pool.gpus))
            demand[self.short[pool.name]] = 1.0
        m.row(float(pool.gpus), math.inf, demand)
        if shares_and_pins:
            share_rows(m, pool, terms, region_gpus)

    def _split_group(
        self, name: str, by_pool: Mapping[str, list[int]], shortfall: bool, shares_and_pins: bool
    ) -> None:
        """The group's nodes of each (cloud, GPUs per node) are shared out among its pools;
        in the places `apart` each pool has its own columns, which its rows count as well.

        Nodes of one class are alike to a pool (its rows count GPUs per cloud), so any split
        of the class's nodes with these counts is a plan of the same cost: no row outside
        `apart` tells the pools' nodes of one offer apart (pins would, and grouped pools have
        none; node groups would, and they are counted only in `apart`). A pool never needs
        more nodes of a class than cover it alone or its max share: one more could be removed
        at a saving, as `Candidate.max_nodes` argues; the bound keeps each split within the
        per-candidate bounds of the full model.
        """
        m = self.milp
        classes: dict[tuple[Cloud, int | Fraction], list[int]] = {}
        for i in by_pool.get(name, []):
            if self.cands[i].place not in self.apart:
                classes.setdefault((self.cands[i].cloud, self.cands[i].gpus), []).append(i)
        terms = {
            member.name: self._terms(i for i in by_pool.get(member.name, []) if self.cands[i].place in self.apart)
            for member in self.members[name]
        }
        for (cloud, size), here in sorted(classes.items()):
            row = {self.x[i]: 1.0 for i in here}
            for member in self.members[name]:
                bound = math.ceil(member.gpus / size)
                if shares_and_pins and cloud in member.max_share:
                    bound = min(bound, member.max_gpus(cloud) // size)
                col = m.col(0.0, float(bound), True)
                self.split[(member.name, cloud, size)] = col
                row[col] = -1.0
                terms[member.name].append(Term(col, cloud, "", size))
            m.row(0.0, 0.0, row)
        for member in self.members[name]:
            self._pool_rows(member, terms[member.name], shortfall, shares_and_pins)

    def _quotas(self, limits: Mapping[QuotaKey, tuple[str, int]], elastic: set[QuotaKey]) -> None:
        rows: dict[QuotaKey, dict[int, float]] = {}
        for i, c in enumerate(self.cands):
            for bucket in c.buckets:
                key = quota_key(c.cloud, c.region, bucket)
                if key in limits:
                    rows.setdefault(key, {})[self.x[i]] = float(quota_units(c.sku))
        for key in sorted(rows):
            row = rows[key]
            limit = float(limits[key][1])
            if key in elastic:  # a variable raise of this quota, for diagnosis
                self.elastic[key] = self.milp.col(0.0, math.inf, True)
                row[self.elastic[key]] = -1.0
                self.milp.row(-math.inf, limit, row)
            elif key[1] != GLOBAL:  # units ≤ limit × open: the quota, and the region's link
                row[self.opened[(key[0], key[1])]] = -limit
                self.milp.row(-math.inf, 0.0, row)
            else:  # one quota for all the cloud's regions (quota_scope global): units ≤ limit
                self.milp.row(-math.inf, limit, row)

    def _caps(self) -> None:
        """Σ nodes ≤ cap per offer that `capacity.available` limits, over every pool using it."""
        rows: dict[str, tuple[int, dict[int, float]]] = {}
        for i, c in enumerate(self.cands):
            if c.cap is not None:
                rows.setdefault(c.offer.key, (c.cap, {}))[1][self.x[i]] = 1.0
        for _, (cap, row) in sorted(rows.items()):
            self.milp.row(-math.inf, float(cap), row)

    def tie_break(self) -> dict[int, float]:
        """Among equal-cost plans prefer earlier candidates in (pool, cloud, region, SKU) order."""
        return {col: float(i + 1) for i, col in enumerate(self.x)}

    def nodes(self, solved: Solved) -> list[int]:
        return [int(solved.values[col]) for col in self.x]

    def nodes_by_key(self, solved: Solved) -> dict[str, int]:
        """Nodes per candidate key of every pool. A group's nodes of each class go to its pools
        in spec order, each taking the earliest candidates first: few node groups per pool, and
        the same solution always splits the same way. A pool's own columns (`apart`) are its."""
        values = solved.values
        need = {key: round(values[col]) for key, col in self.split.items()}
        nodes: dict[str, int] = {}
        for i, c in enumerate(self.cands):
            have = round(values[self.x[i]])
            members = self.stands_for(c)
            if len(members) == 1:
                nodes[c.key] = have
                continue
            for member in members:
                class_key = (member.name, c.cloud, c.gpus)
                take = min(have, need[class_key])
                nodes[f"{member.name}/{c.offer.key}"] = take
                need[class_key] -= take
                have -= take
        return {key: n for key, n in nodes.items() if n > 0}

    def solution_for(self, nodes: Mapping[str, int]) -> list[float]:
        """Every column's value for a plan given as nodes per candidate key: a start for HiGHS
        (for a model without groups)."""
        values = [0.0] * len(self.milp.lower)
        for col, c in zip(self.x, self.cands, strict=True):
            values[col] = float(nodes.get(c.key, 0))
        for binary, covered in self.covers.items():
            kept = self.milp.lower[binary] >= 1.0  # a home copy
            values[binary] = 1.0 if kept or any(values[self.x[i]] > 0 for i in covered) else 0.0
        for i, (col, per_group) in self.group_cols.items():
            values[col] = float(math.ceil(values[self.x[i]] / per_group))
        for i, col in self.unit_cols.items():
            values[col] = values[self.x[i]] / self.cands[i].unit
        settle_extra(self, values)
        return self.with_excess(values)

    def with_excess(self, values: list[float]) -> list[float]:
        """`values` with each cloud's spend above its commitment computed from its other columns."""
        for cloud, above in self.above.items():
            spend = sum(usd * values[col] for col, usd in self.spend_row(cloud).items())
            values[above] = max(0.0, spend - self.spec.budget.monthly_commitment(cloud))
        return values

    def value(self, solved: Solved, objective: Mapping[int, float]) -> float:
        return sum(v * solved.values[col] for col, v in objective.items())


def offer_bounds(
    spec: FleetSpec, cands: Sequence[Candidate], keep: Collection[str] = (), limited: Limited = None
) -> dict[str, int]:
    """`unlimited_bounds` for the cost model, except for the previous plan's offers (`keep`),
    which stability may keep at any count.

    The bounds cut no optimum, and they shrink HiGHS's work per integer column and the region
    links' big-M: on 32 generated 50-pool solves the median `place` took 0.8 s, not 2.0 s.
    On one fleet they made the search far longer (`SolverOptions.bounded_first_nodes`)."""
    return {key: most for key, most in unlimited_bounds(spec, cands, limited).items() if key not in keep}


def cost_model(
    spec: FleetSpec,
    cands: Sequence[Candidate],
    bounds: Mapping[str, int] | None = None,
    *,
    grouped: bool = True,
    limited: Limited = None,
) -> Formulation:
    """The model the cost levels are solved on: each offer within `bounds` (`offer_bounds`) if
    given, and interchangeable pools grouped unless `grouped` is False.

    A group's column would be one node group per pool, which a limit counting node groups
    cannot count (`_cluster_limits`), so in the places where one may bind (`counted_places`
    among `limited`) each member pool keeps its own columns (`Formulation`'s `apart`), and
    everywhere else the group places its nodes once. On the 50-pool benchmark the round that
    holds the limits its first plan broke solves its first level in 1,361 branch-and-bound
    nodes, not the 11,356 of every pool's own columns everywhere."""
    if not grouped:
        return Formulation(spec, cands, spec.pools, bounds=bounds, limited=limited)
    groups = {group[0].name: group for group in interchangeable(spec, cands)}
    leaders = [group[0] for group in groups.values()]
    apart = counted_places(spec, cands, limited) if len(leaders) < len(spec.pools) else frozenset[str]()
    return Formulation(
        spec, [c for c in cands if c.pool.name in groups or c.place in apart], leaders,
        groups=groups, bounds=bounds, limited=limited, apart=apart,
    )
