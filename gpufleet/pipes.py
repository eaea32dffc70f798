"""Copies fit their pipes (issue 29, docs/data-gravity.md, "Copies fit their pipes"): every copy
away from its dataset's home is filled and synced through a path with a line rate, and what
the plan prices a month of must be movable in a month.

A copy's need is its month's transfer, (size ÷ amortize_months + churn) TiB, as a line rate
over the 730-hour month. Which path it takes follows gpufleet/datasync.py:
- a home whose cloud keeps its stores private (`storage_private_only`, Azure) is read by the
  other cloud over the fleet link: the home's VPN gateway (its aggregate, all copies through it
  together), the pair's tunnels (2 connections × 2 tunnels, spread by ECMP on the transit
  gateway, each at the lower per-tunnel rate of its two ends), and both stores;
- any other cross-cloud copy reads the home's public endpoint over TLS, and a copy on the
  home's own cloud is filled by its managed replication: both stores are its path.
Each store carries every copy it sends or receives. A hub with sizes (`CloudModel.hub_sizes`) is
given the smallest that holds the copies through it, else its largest; a path that still cannot
carry its copies is a `data-pipes` violation (gpufleet/policy/pipes.py). Line rates are sourced
data (catalog/data/paths.csv); a path without a documented cap is shown, unchecked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from gpufleet import clouds
from gpufleet.catalog.paths import PathRate
from gpufleet.cost import GB_PER_TIB, HOURS_PER_MONTH, transfer_gb_per_month
from gpufleet.datasync import Place, unreadable
from gpufleet.interconnect import CONNECTIONS, TUNNELS
from gpufleet.plan import LinkPlan, PipeUse, StoragePlan, within
from gpufleet.spec import FleetSpec

BITS_PER_TIB = 8 * 2**40
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
TUNNELS_PER_PAIR = len(CONNECTIONS) * len(TUNNELS)


def gbps(tib_per_month: float) -> float:
    """The line rate that moves `tib_per_month` TiB in a 730-hour month."""
    return tib_per_month * BITS_PER_TIB / SECONDS_PER_MONTH / 1e9


def tib_per_month(line_gbps: float) -> float:
    """TiB a line rate moves in a 730-hour month (650 Mbps: about 194 TiB)."""
    return line_gbps * 1e9 * SECONDS_PER_MONTH / BITS_PER_TIB


@dataclass(frozen=True, slots=True)
class Flow:
    """One copy away from its dataset's home and what it receives each month."""

    dataset: str
    home: Place
    copy: Place
    tib: float
    over_link: bool

    @property
    def label(self) -> str:
        return f"{self.dataset}: {_key(self.home)} -> {_key(self.copy)}"

    @property
    def gbps(self) -> float:
        return gbps(self.tib)


def _key(place: Place) -> str:
    return f"{place[0]}/{place[1]}"


def flows(spec: FleetSpec, storage: Sequence[StoragePlan], sites: Iterable[Place]) -> list[Flow]:
    """Every copy filled from a home, in plan order; one the other cloud cannot read (a private
    home off the link: `datasync.unreadable`) is left out, as datasync leaves it without a job and
    warns."""
    entries = {entry.name: entry for entry in spec.storage}
    linked = set(sites)
    found: list[Flow] = []
    for s in storage:
        entry = entries[s.name]
        home = entry.home_place()
        if s.source is None or home is None:
            continue
        copy = (s.cloud, s.region)
        if unreadable(home, copy, linked):
            continue
        over_link = home[0] != s.cloud and clouds.get(home[0]).storage_private_only
        tib = transfer_gb_per_month(entry.size_tib, entry.amortize_months, entry.churn_tib) / GB_PER_TIB
        found.append(Flow(s.name, home, copy, tib, over_link))
    return found


def hub_choice(spec: FleetSpec, storage: Sequence[StoragePlan], sites: Sequence[Place]) -> dict[Place, str]:
    """The size of every link hub that has sizes: the smallest that carries the copies through
    it at line rate, else the largest (the plan then refuses the copies: `pipe_uses`)."""
    through = flows(spec, storage, sites)
    chosen: dict[Place, str] = {}
    for site in sites:
        sizes = clouds.get(site[0]).hub_sizes(site[1])
        if sizes:
            need = sum(f.gbps for f in through if f.over_link and site in (f.home, f.copy))
            chosen[site] = _smallest_holding(sizes, need).size
    return chosen


def _smallest_holding(sizes: Sequence[PathRate], need: float) -> PathRate:
    for size in sizes:
        if size.gbps is not None and within(need, size.gbps):
            return size
    return sizes[-1]


def sized(spec: FleetSpec, link: LinkPlan | None, storage: Sequence[StoragePlan]) -> LinkPlan | None:
    """The link with each hub's size chosen for the plan's copies (`hub_choice`)."""
    if link is None:
        return None
    hubs = hub_choice(spec, storage, LinkPlan.places_of(link))
    return replace(link, sites=tuple(replace(s, hub=hubs.get((s.cloud, s.region), "")) for s in link.sites))


def pipe_uses(spec: FleetSpec, storage: Sequence[StoragePlan], link: LinkPlan | None) -> tuple[PipeUse, ...]:
    """Every path the plan's copies travel against its line rate: hubs, tunnel pairs, stores."""
    hubs: Mapping[Place, str] = {(s.cloud, s.region): s.hub for s in link.sites if s.hub} if link else {}
    through = flows(spec, storage, LinkPlan.places_of(link))
    return (*_hub_uses(through, hubs), *_pair_uses(through, hubs), *_store_uses(through))


def _hub_uses(through: Sequence[Flow], hubs: Mapping[Place, str]) -> list[PipeUse]:
    found: list[PipeUse] = []
    for site, size in hubs.items():
        carried = [f for f in through if f.over_link and site in (f.home, f.copy)]
        if carried:
            rate = _hub_rate(site, size)
            found.append(_use("vpn-gateway", f"{_key(site)} VPN gateway {size}", carried, rate.gbps, size=size,
                              source=rate.source))
    return found


def _hub_rate(site: Place, size: str) -> PathRate:
    return next(r for r in clouds.get(site[0]).hub_sizes(site[1]) if r.size == size)


def _pair_uses(through: Sequence[Flow], hubs: Mapping[Place, str]) -> list[PipeUse]:
    pairs: dict[tuple[Place, Place], list[Flow]] = {}
    for f in through:
        if f.over_link:
            pairs.setdefault((f.home, f.copy), []).append(f)
    found: list[PipeUse] = []
    for (home, copy), carried in pairs.items():
        ends = [_tunnel_rate(home, hubs), _tunnel_rate(copy, hubs)]
        known = [r for r in ends if r is not None and r.per_tunnel_gbps is not None]
        per_tunnel = min((r.per_tunnel_gbps for r in known if r.per_tunnel_gbps is not None), default=None)
        available = None if per_tunnel is None else TUNNELS_PER_PAIR * per_tunnel
        found.append(_use(
            "vpn-tunnels", f"{_key(home)} <-> {_key(copy)}: {TUNNELS_PER_PAIR} tunnels (ECMP)", carried, available,
            source="; ".join(dict.fromkeys(f"{r.cloud} {r.size} {r.per_tunnel_gbps:g} Gbps/tunnel: {r.source}"
                                        for r in known)),
        ))
    return found


def _tunnel_rate(site: Place, hubs: Mapping[Place, str]) -> PathRate | None:
    """A tunnel's rate at one end: its hub's size, else the cloud's VPN tunnel."""
    if site in hubs:
        return _hub_rate(site, hubs[site])
    rows = clouds.get(site[0]).path_rows("vpn-tunnel")
    return rows[0] if rows else None


def _store_uses(through: Sequence[Flow]) -> list[PipeUse]:
    stores: dict[tuple[str, Place, str], list[Flow]] = {}
    for f in through:
        stores.setdefault((f.dataset, f.home, "sends"), []).append(f)
        stores.setdefault((f.dataset, f.copy, "receives"), []).append(f)
    found: list[PipeUse] = []
    for (dataset, place, way), carried in stores.items():
        rows = clouds.get(place[0]).path_rows("object-store")
        rate = rows[0] if rows else None
        found.append(_use(
            "object-store", f"{_key(place)} {rate.size if rate else 'store'} of {dataset} ({way})", carried,
            rate.gbps if rate else None, source=rate.source if rate else "no line rate known",
        ))
    return found


def _use(kind: str, path: str, carried: Sequence[Flow], available: float | None, *, size: str = "",
         source: str) -> PipeUse:
    return PipeUse(kind, path, tuple(f.label for f in carried), sum(f.gbps for f in carried), available, size,
                   source)


__all__ = ["Flow", "flows", "gbps", "hub_choice", "pipe_uses", "sized", "tib_per_month"]
