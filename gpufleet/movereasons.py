"""Why a previous plan's nodes moved (`plan --previous`): what putting them back would break,
or cost, in the new plan. The reason is one of `gpufleet.reasons`.

For a pool that lost nodes on an offer, the counterfactual is the new plan with those nodes back
on the offer and as many of the pool's GPUs taken off the offers where it gained (same region
first, then same cloud, then the rest). The first rule the counterfactual breaks is the reason,
checked in this order: the capacity rules (`unavailable`), the region no longer allowed
(`sovereignty`), no price (`no-price`), the region's quotas (`quota`), its cluster limits
(`limit`), its node ranges (`address`), the pool's shares and pins (`share`). A counterfactual
that breaks none costs more: in dataset copies and transfers (`data`), in spend above the
commitments only (`commitment`), else `price`; one that costs no more in the month while another
cloud holds a contract keeps that contract's minimum burned (`commitment`). Placement keeps the most previous nodes the
stability tolerance allows, so a move whose counterfactual breaks nothing and costs nothing
more would be a placement bug: it is reported as `stability` and tests hold that it never is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from gpufleet import addresses
from gpufleet.catalog import Catalog
from gpufleet.clusters import clusters_needed
from gpufleet.cost import monthly
from gpufleet.ledger import Ledger
from gpufleet.moves import Cause, capacity_cause
from gpufleet.nodegroups import cluster_limits
from gpufleet.placement import Candidate, candidates, placement_of, plan_ledger
from gpufleet.plan import Placement
from gpufleet.quota import quota_use
from gpufleet.spec import FleetSpec
from gpufleet.speccapacity import Shortfalls


def _excess(spec: FleetSpec, ledger: Ledger) -> float:
    """Spend above the commitments, as placement's first level counts it."""
    return sum(s.above_commitment_usd for s in ledger.burn(spec.budget.monthly_commitments(), ledger.by_cloud()))


class MoveCauses:
    """The binding reason of each loss between a previous plan and the new one (`why`)."""

    def __init__(
        self, spec: FleetSpec, catalog: Catalog, before: Sequence[Placement], after: Sequence[Placement]
    ) -> None:
        self.spec = spec
        self.catalog = catalog
        self.before = list(before)
        self.after = list(after)
        self.shortfalls = Shortfalls.of(spec.capacity)
        found, _ = candidates(spec, catalog)
        self.offers: dict[str, Candidate] = {c.key: c for c in found}
        self.ledger = plan_ledger(spec, after)
        self.today_usd = self.ledger.total_usd  # the new plan's figures, once: explain asks thousands
        self.today_excess = _excess(spec, self.ledger)
        self.today_kinds = self.ledger.by_kind()

    def why(self, pool: str, offer: str, lost: int) -> Cause | None:
        """Why `lost` nodes of `pool` left `offer` ('cloud/region/sku'); None when the pool's
        shape changed so that the offer no longer fits it (the spec's edit, not a move)."""
        before_nodes = sum(p.nodes for p in self.before if f"{p.cloud}/{p.region}/{p.instance_type}" == offer)
        if cause := capacity_cause(self.shortfalls, offer, before_nodes):
            return cause
        cloud, region, _ = offer.split("/")
        if (cloud, region) not in set(self.spec.clouds.regions()) or not self._allowed(cloud, region):
            return Cause("sovereignty", f"the spec no longer allows {cloud}/{region} (clouds.{cloud}.regions, "
                                        "sovereignty.jurisdictions)")
        candidate = self.offers.get(f"{pool}/{offer}")
        if candidate is None:
            return self._unpriced(pool, offer)
        return self.blocked(candidate, lost)

    def blocked(self, candidate: Candidate, nodes: int) -> Cause:
        """What `nodes` more nodes on the candidate's offer (as many of its pool's GPUs taken off
        the offers where it gained, nearest first) would break in the new plan, or cost: `why`
        for an offer that is priced and allowed. With no previous plan every offer of the pool
        counts as gained (`gpufleet.explain` asks this of offers left empty)."""
        return self.judged(candidate, nodes)[0]

    def judged(self, candidate: Candidate, nodes: int) -> tuple[Cause, float | None]:
        """`blocked`, and what the counterfactual costs more a month than the new plan (None
        where it breaks a rule): `gpufleet.explain` orders its searches by it."""
        back, words = self._put_back(candidate, nodes), self.counterfactual(candidate, nodes)
        if broken := self._broken(candidate, back, words):
            return broken, None
        ledger = plan_ledger(self.spec, back)
        more = ledger.total_usd - self.today_usd
        return self._dearer(candidate, ledger, more, words), more

    def counterfactual(self, candidate: Candidate, nodes: int) -> str:
        """How sentences name the nodes put back (`gpufleet.explain` says how many more)."""
        return "them back"

    def putting(self, words: str) -> str:
        """The counterfactual as a sentence's subject."""
        return f"putting {words}"

    def kept(self) -> str:
        """What a sentence about cost adds: why moved nodes were not kept (none in explain)."""
        share = self.spec.placement.stability_tolerance
        return f"; the plan keeps the previous nodes that fit in the {share:.1%} stability tolerance"

    def _unpriced(self, pool: str, offer: str) -> Cause | None:
        """`no-price` when the pool could still use the SKU but nothing prices it there (the
        catalog's price or the price-book entry is gone); None when the SKU no longer fits the
        pool (its accelerator or shape changed)."""
        cloud, region, name = offer.split("/")
        sku, spec = self.catalog.sku(cloud, name), self.spec.pool(pool)
        if sku is None or sku.accelerator not in spec.accelerators() or spec.gpus_per_node not in (None, sku.gpus):
            return None
        return Cause("no-price", f"{offer}: no {spec.capacity} price in the catalog or the price book "
                                 f"(`prices: {cloud}/{region}/{name}`)")

    def _allowed(self, cloud: str, region: str) -> bool:
        allowed = self.spec.allowed_jurisdictions()
        info = self.catalog.region(cloud, region)
        return info is not None and (allowed is None or bool(info.jurisdictions & allowed))

    def _put_back(self, c: Candidate, lost: int) -> list[Placement]:
        """The new plan with `lost` nodes back on the candidate's offer and as many GPUs of its
        pool taken off the offers where the pool gained, nearest first."""
        pool = c.pool.name
        had = {p.key: p.nodes for p in self.before if p.pool == pool}
        placed = {p.key: p for p in self.after}
        gained = sorted(
            (p for p in self.after if p.pool == pool and p.key != c.key and p.nodes > had.get(p.key, 0)),
            key=lambda p: (p.region != c.region or p.cloud != c.cloud, p.cloud != c.cloud, p.key),
        )
        gpus = lost * c.sku.gpus
        nodes = {key: p.nodes for key, p in placed.items()}
        for p in gained:
            per_node = p.gpus // p.nodes
            take = min(p.nodes - had.get(p.key, 0), gpus // per_node)
            nodes[p.key] -= take
            gpus -= take * per_node
        nodes[c.key] = nodes.get(c.key, 0) + lost
        kept = [placed[key] for key in placed if nodes[key] > 0 and key != c.key]
        return [*(p if p.nodes == nodes[p.key] else _resized(p, nodes[p.key]) for p in kept),
                placement_of(c, nodes[c.key])]

    def _broken(self, c: Candidate, back: Sequence[Placement], words: str) -> Cause | None:
        """The first deploy rule that the counterfactual breaks in the offer's region or pool."""
        cloud, region, pool = c.cloud, c.region, c.pool
        carried = sum(p.nodes for p in back if p.key == c.key)
        if c.cap is not None and carried > c.cap:
            return Cause("unavailable", f"{c.key} delivers at most {c.cap} nodes (capacity.available); "
                                        f"with {words} it would carry {carried}")
        here = [p for p in back if (p.cloud, p.region) == (cloud, region)]
        for use in quota_use(self.spec, self.catalog, back, only=(cloud, region)):
            over = use.limit_vcpus is not None and use.used_vcpus > use.limit_vcpus
            if over and (use.cloud, use.region) == (cloud, region):
                return Cause("quota", f"{cloud}/{region} quota {use.bucket} holds {use.limit_vcpus} vCPUs; "
                                      f"with {words} it would need {use.used_vcpus}")
        limits = cluster_limits(self.spec, cloud, region)
        most = addresses.most_clusters(self.spec, cloud, region)
        if (needed := clusters_needed(self.spec, cloud, region, here)) is None or needed > most:
            groups = sum(limits.groups_for(p.nodes) for p in here)
            return Cause("limit", f"{cloud}/{region}'s clusters (at most {most}) would hold {groups} "
                                  f"GPU node groups of {limits.gpu_groups} each and {sum(p.nodes for p in here)} "
                                  f"nodes with {words}")
        if full := addresses.overfilled(self.spec, cloud, region, [(p.instance_type, p.nodes) for p in here]):
            came = sorted({p.pool for p in self.after if (p.cloud, p.region) == (cloud, region)
                           and p.pool != pool.name and p.nodes > self._had(p)})
            taken = f"; {', '.join(came)} moved in there" if came else ""
            return Cause("address", f"{cloud}/{region} {full[0].label} {full[0].cidr} would need {full[0].needed} "
                                    f"addresses with {words}, {full[0].available} usable{taken}")
        for name in sorted(pool.min_share | pool.max_share):
            gpus = sum(p.gpus for p in back if p.pool == pool.name and p.cloud == name)
            low, high = pool.min_gpus(name), pool.max_gpus(name) if name in pool.max_share else pool.gpus
            if not low <= gpus <= high:
                return Cause("share", f"pool {pool.name} keeps {low}-{high} GPUs on {name} (min_share/max_share); "
                                      f"with {words} {name} would have {gpus}")
        in_region = sum(p.gpus for p in back if p.pool == pool.name and (p.cloud, p.region) == (cloud, region))
        if c.region_gpus is not None and in_region > c.region_gpus:
            return Cause("share", f"pool {pool.name} keeps at most {c.region_gpus} GPUs in one region "
                                  f"(max_region_share); with {words} {c.place} would have {in_region}")
        for place, pinned in sorted(pool.pin.items()):
            there = sum(p.nodes for p in back if p.pool == pool.name and f"{p.cloud}/{p.region}" == place)
            if there != pinned:
                return Cause("share", f"pool {pool.name} pins {pinned} nodes in {place}; with {words} it "
                                      f"would have {there}")
        return None

    def _had(self, p: Placement) -> int:
        return sum(b.nodes for b in self.before if b.key == p.key)

    def _dearer(self, c: Candidate, ledger: Ledger, more: float, words: str) -> Cause:
        """What putting them back costs against the new plan, by the counterfactual's `ledger`
        (`more` $/month dearer). Costing no more in the month is, with another cloud's contract,
        that contract's minimum: the horizon's plan pays spend moved off that cloud again as
        shortfall."""
        above = _excess(self.spec, ledger) - self.today_excess
        if more > 0:
            data = sum(ledger.by_kind().get(k, 0.0) - self.today_kinds.get(k, 0.0) for k in ("storage", "transfer"))
            reason = "data" if data > more / 2 else "price"
            part = f" (${data:,.0f} of it dataset copies and transfers)" if reason == "data" else ""
            return Cause(reason, f"{self.putting(words)} costs ${more:,.0f}/month more{part}{self.kept()}")
        if above > 0:
            return Cause("commitment", f"{self.putting(words)} adds ${above:,.0f}/month above the "
                                       f"commitments{self.kept()}")
        if others := {cloud: k for cloud, k in self.spec.budget.contracts().items() if cloud != c.cloud}:
            named = " and ".join(f"{cloud}'s contract (budget.commitments.{cloud}, shortfall: {k.shortfall})"
                                 for cloud, k in sorted(others.items()))
            return Cause("commitment", f"{self.putting(words)} costs no more in the month, but over the horizon "
                                       f"{named} must burn its minimum: spend moved off "
                                       f"{' or '.join(sorted(others))} would be paid again as shortfall")
        return Cause("stability", "putting them back breaks no rule and costs no more: a placement fault, "
                                  "please report it")


def _resized(p: Placement, nodes: int) -> Placement:
    return replace(p, nodes=nodes, gpus=nodes * (p.gpus // p.nodes), monthly_usd=monthly(nodes * p.price_usd_per_hour))
