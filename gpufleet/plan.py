"""The fleet plan: pure, serialisable data that components turn into resources.

Only the data model: `gpufleet.pipeline.build_plan` fills it in. Nothing here imports Pulumi or
the solver, so the CLI, the policy pack and the Pulumi program share one plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gpufleet.catalog import Capacity, Cloud
from gpufleet.spec import FleetSpec
from gpufleet.spechorizon import CostKind
from gpufleet.spread import NO_CAP, RegionShare, largest_region_share

PLAN_VERSION = 1


@dataclass(frozen=True, slots=True)
class Placement:
    """Whole nodes of one SKU for one pool in one (cloud, region)."""

    pool: str
    cloud: Cloud
    region: str
    instance_type: str
    nodes: int
    gpus: int
    capacity: Capacity
    vcpus_per_node: int
    quota_bucket: str
    price_usd_per_hour: float
    price_source: str
    monthly_usd: float
    accelerator: str = ""
    """The SKU's accelerator, for a pool that accepts several (else empty: the pool's)."""
    sku_source: str = ""
    """`declared by the spec` for a SKU the spec's `skus:` declares (else empty: the catalog's)."""
    blocks: str = ""
    """The capacity blocks the nodes run on (ids, or `capacity.blocks[i]`; else empty): their
    nodes cost nothing more, the blocks' upfront is a line of its own."""

    @property
    def key(self) -> str:
        """Stable identity (pool, cloud, region, SKU): what resource names derive from."""
        return f"{self.pool}/{self.cloud}/{self.region}/{self.instance_type}"


@dataclass(frozen=True, slots=True)
class PoolPlan:
    name: str
    accelerator: str
    gpus: int
    placements: tuple[Placement, ...]
    spread: RegionShare = NO_CAP
    """The most one region may hold of the pool (docs/design.md, "Spreading")."""

    @property
    def largest_region(self) -> tuple[str, float]:
        """The region holding most of the pool's GPUs ('cloud/region') and its share of `gpus`."""
        return largest_region_share(self.gpus, [(f"{p.cloud}/{p.region}", p.gpus) for p in self.placements])


@dataclass(frozen=True, slots=True)
class RangeUse:
    """One range the region's nodes take addresses from: what its nodes need at most (maximum
    sizes, upgrade surge, system pool) against what it holds; `fix` says what to change."""

    label: str
    cidr: str
    nodes: int
    needed: int
    available: int
    fix: str = ""

    @property
    def fits(self) -> bool:
        return self.needed <= self.available


@dataclass(frozen=True, slots=True)
class NetworkPlan:
    """Address space of one VPC/VNet; `pod_cidr` is the AKS overlay range (Azure only);
    `ranges` what the nodes need of each range they draw on (gpufleet.addresses); `pod_blocks`
    the blocks a grown network adds for its pods, per cluster and zone (AWS: secondary VPC CIDR
    blocks under EKS custom networking; gpufleet.addresses.layout decides where)."""

    cloud: Cloud
    region: str
    cidr: str
    pod_cidr: str | None = None
    ranges: tuple[RangeUse, ...] = ()
    pod_blocks: tuple[str, ...] = ()

    @property
    def grown(self) -> bool:
        return bool(self.pod_blocks)


@dataclass(frozen=True, slots=True)
class LinkSite:
    """One VPC/VNet on the fleet link: its BGP ASN and the CIDR it advertises."""

    cloud: Cloud
    region: str
    asn: int
    cidr: str
    hub: str = ""
    """The size of its hub where its cloud's hub has sizes (an Azure VPN gateway SKU), chosen by
    the copies over the link (gpufleet/pipes.py); "" where it has none."""

    @property
    def key(self) -> str:
        return f"{self.cloud}/{self.region}"


@dataclass(frozen=True, slots=True)
class TunnelPlan:
    """One IPsec tunnel between two sites: `endpoint` is the site whose VPN service owns the
    tunnel and takes the /30's first inside address, `gateway` the other one (second address).
    `connection` (1, 2) is the gateway's public IP the tunnel ends on; `tunnel` (1, 2) is which
    of the connection's two tunnels it is."""

    endpoint: str
    gateway: str
    connection: int
    tunnel: int
    inside_cidr: str
    endpoint_address: str
    gateway_address: str

    @property
    def key(self) -> str:
        """Stable identity: what the tunnel's resource names derive from."""
        return f"{self.endpoint}--{self.gateway}/c{self.connection}t{self.tunnel}"


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """`source` reaches `destination` (its `cidr`) over `path`."""

    source: str
    destination: str
    cidr: str
    path: str


@dataclass(frozen=True, slots=True)
class LinkPlan:
    """The fleet's private network (`network.interconnect: vpn`): sites, tunnels, routes."""

    sites: tuple[LinkSite, ...]
    tunnels: tuple[TunnelPlan, ...]
    routes: tuple[RoutePlan, ...]

    def site(self, key: str) -> LinkSite:
        return next(s for s in self.sites if s.key == key)

    @staticmethod
    def places_of(link: LinkPlan | None) -> list[tuple[Cloud, str]]:
        """The (cloud, region) of every site of a link, none without one."""
        return [(s.cloud, s.region) for s in link.sites] if link else []

    def tunnels_between(self, endpoint: str, gateway: str) -> list[TunnelPlan]:
        return [t for t in self.tunnels if (t.endpoint, t.gateway) == (endpoint, gateway)]


@dataclass(frozen=True, slots=True)
class StoragePlan:
    """One copy of a dataset; `source` is the 'cloud/region' (its home) it is filled and kept
    in sync from, None for the home copy itself and for datasets without a home."""

    name: str
    cloud: Cloud
    region: str
    size_tib: float
    protect: bool
    source: str | None = None


@dataclass(frozen=True, slots=True)
class PipeUse:
    """One path dataset copies travel and what they need of it each month (gpufleet/pipes.py):
    `kind` is `vpn-gateway` (a hub's aggregate, `size` its SKU), `vpn-tunnels` (one pair's
    tunnels) or `object-store` (a store's throughput); `copies` are 'dataset: home -> copy';
    `available_gbps` None where the path has no documented cap (shown unchecked)."""

    kind: str
    path: str
    copies: tuple[str, ...]
    needed_gbps: float
    available_gbps: float | None
    size: str
    source: str

    @property
    def fits(self) -> bool | None:
        """Whether the copies fit at line rate (None: nothing to check against)."""
        return None if self.available_gbps is None else within(self.needed_gbps, self.available_gbps)


def within(needed_gbps: float, available_gbps: float) -> bool:
    """Whether a need fits a line rate; the tolerance absorbs the float residue of converting
    TiB/month to Gbps (a copy sized to exactly a path's rate fits), it is not a margin."""
    return needed_gbps <= available_gbps * (1 + 1e-9)


@dataclass(frozen=True, slots=True)
class CostLine:
    """One priced item per month, with where its price came from and what kind of spend it is."""

    item: str
    cloud: Cloud
    region: str
    monthly_usd: float
    source: str
    kind: CostKind


@dataclass(frozen=True, slots=True)
class CloudSpend:
    """A cloud's month against its commitment (`gpufleet.ledger.Ledger.burn`), to the cent."""

    cloud: Cloud
    monthly_usd: float
    commitment_usd: float

    @property
    def burned_usd(self) -> float:
        return min(self.monthly_usd, self.commitment_usd)

    @property
    def left_usd(self) -> float:
        return round(max(0.0, self.commitment_usd - self.monthly_usd), 2)

    @property
    def above_commitment_usd(self) -> float:
        return round(max(0.0, self.monthly_usd - self.commitment_usd), 2)


@dataclass(frozen=True, slots=True)
class CostSummary:
    monthly_usd: float
    by_cloud: tuple[CloudSpend, ...]
    budget_usd: float | None
    lines: tuple[CostLine, ...]


@dataclass(frozen=True, slots=True)
class QuotaUse:
    """What the plan draws on one quota bucket, in its cloud's quota unit (`unit`: vCPUs, or
    GPUs; the fields keep the contract's names); `limit_vcpus` None means unknown (undeclared).
    `region` is "global" for a cloud whose quotas hold for all its regions."""

    cloud: Cloud
    region: str
    bucket: str
    used_vcpus: int
    limit_vcpus: int | None
    source: str | None = None
    """Where a live limit came from and when; None: declared in the spec (or unknown)."""
    unit: str = "vcpus"


@dataclass(frozen=True, slots=True)
class SolverReport:
    status: str
    optimality_gap: float
    seconds: float
    objective_usd: float
    kept_from_previous: int = 0


@dataclass(frozen=True, slots=True)
class PeriodPlan:
    """One period of the horizon: each pool's placements, held for `months` months from
    `start`, and one month's cost lines (`gpufleet.cost.estimate` of the period's plan).
    `moved_nodes`: nodes drained from one offer and created on another since the period before."""

    start: str
    months: int
    pools: tuple[PoolPlan, ...]
    lines: tuple[CostLine, ...]
    moved_nodes: int = 0

    @property
    def placements(self) -> tuple[Placement, ...]:
        return tuple(p for pool in self.pools for p in pool.placements)

    def spend(self, cloud: Cloud, kinds: Sequence[str] | None = None) -> float:
        """The period's spend per month on a cloud, of these kinds of line (default: all)."""
        lines = [li for li in self.lines if li.cloud == cloud and (kinds is None or li.kind in kinds)]
        return round(sum(li.monthly_usd for li in lines), 2)


@dataclass(frozen=True, slots=True)
class WindowBurn:
    """One checkpoint of a contract as planned: spend burned in months [start, end] (with what
    was burned before the horizon) against the minimum due by `due`; when `due` is after the
    horizon the window is judged at the horizon's end on pace (`paced`, minimum pro-rated)."""

    label: str
    start: str
    end: str
    due: str
    minimum_usd: float
    burn_usd: float
    shortfall_usd: float
    over_usd: float
    paced: bool


@dataclass(frozen=True, slots=True)
class CommitmentBurn:
    """A contract's burn over the horizon (`gpufleet.burn`): each checkpoint, the month the
    total is used up at the plan's pace (None: not within the term), what its shortfalls cost
    (cash paid for nothing; credit left undrawn at the horizon's end), credit drawn."""

    cloud: Cloud
    start: str
    end: str
    treatment: str
    total_usd: float
    windows: tuple[WindowBurn, ...]
    used_up: str | None
    shortfall_cost_usd: float
    credit_drawn_usd: float
    threshold_usd: float
    burned_before_usd: float = 0.0
    """Burn since the contract's start before the horizon (per-year: earlier years at their minimum)."""
    by_period: tuple[tuple[str, float], ...] = ()
    """(period start, burn in it after credit drawn) for each period the term covers."""


@dataclass(frozen=True)
class FleetPlan:
    stack: str
    spec: FleetSpec
    pools: tuple[PoolPlan, ...]
    networks: tuple[NetworkPlan, ...]
    storage: tuple[StoragePlan, ...]
    cost: CostSummary
    quota: tuple[QuotaUse, ...]
    solver: SolverReport
    skipped_offers: tuple[str, ...] = field(default=())
    unavailable_offers: tuple[str, ...] = field(default=())
    """Offers `capacity.unavailable` took out, each 'cloud/region/sku: the rule'."""
    cluster_software: bool = False
    """Whether this run declares the in-cluster layer (second stage; see gpufleet/program.py)."""
    link: LinkPlan | None = None
    period: str | None = None
    """With a horizon: the period this plan deploys (its start, YYYY-MM); the plan's pools,
    networks, storage and cost are that period's."""
    schedule: tuple[PeriodPlan, ...] = ()
    commitments: tuple[CommitmentBurn, ...] = ()
    pipes: tuple[PipeUse, ...] = ()
    """Every path a copy away from its dataset's home travels, against its line rate."""

    @property
    def fleet(self) -> str:
        return self.spec.name

    @property
    def placements(self) -> tuple[Placement, ...]:
        return tuple(p for pool in self.pools for p in pool.placements)

    def regions(self, cloud: Cloud) -> list[str]:
        """Regions of a cloud that get infrastructure: those holding a placement, sorted."""
        return sorted({p.region for p in self.placements if p.cloud == cloud})

    def placements_in(self, cloud: Cloud, region: str) -> list[Placement]:
        return [p for p in self.placements if p.cloud == cloud and p.region == region]

    def network(self, cloud: Cloud, region: str) -> NetworkPlan:
        return next(n for n in self.networks if n.cloud == cloud and n.region == region)

    def storage_in(self, cloud: Cloud, region: str) -> list[StoragePlan]:
        return [s for s in self.storage if s.cloud == cloud and s.region == region]

    def storage_regions(self, cloud: Cloud) -> list[str]:
        """Regions of a cloud that hold only a dataset's home copy, no placement: sorted."""
        return sorted({s.region for s in self.storage if s.cloud == cloud} - set(self.regions(cloud)))

    def replicas_of(self, home: StoragePlan) -> list[StoragePlan]:
        """The copies filled from this home copy (every cloud), in plan order."""
        where = f"{home.cloud}/{home.region}"
        return [s for s in self.storage if s.name == home.name and s.source == where]
