"""Where each pool's nodes go: a mixed-integer program solved with HiGHS.

One integer variable per candidate offer (pool, cloud, region, SKU with a price for the pool's
capacity) counts whole nodes. Constraints: GPUs per pool, quotas in vCPUs per (cloud, region,
bucket) shared by all pools, min/max share per cloud, the most per region (`gpufleet.spread`),
pins, the budget. The objective is
lexicographic (docs/design.md): spend above each cloud's commitment, then total spend, then a fixed
order over candidates. Each level is its own solve with the levels before it held at their
optimum, so a tie-break can never trade away a dollar. The two cost levels are solved with
interchangeable pools grouped (`interchangeable`), which is exact and much faster; the plan is
then split back into each pool's nodes for the tie-break. Where the model holds a deploy limit
that counts node groups, each pool of a group keeps its own columns (`cost_model`): a group's
column would be one node group per pool.

Shares are fractions of the pool's requested GPUs (`min_share: {aws: 0.25}` on 512 GPUs means
at least 128 on AWS), which keeps them linear and lets a pool's node count be bounded.

Spend is the whole plan's, as `gpufleet.cost` prices it: GPU nodes, plus for every region that
holds nodes its fixed cost (`cost.region_fixed_usd`: control plane, NAT gateways, system nodes)
and a copy of each storage entry co-located with a pool there. A binary per region (and per
co-located storage and region) switches those on; so a region is opened only when it pays for
itself, the budget caps the total that `gpufleet.cost` reports, and spend against commitments
includes the fixed part. A dataset with a `home` keeps its home copy always, and a copy away
from home also pays (fill ÷ amortisation + churn) × the transfer rate on the home cloud
(`gpufleet.cost.copy_costs`, first-tier rates: a linear upper bound of the concave tiers), so a
pool may land in a dearer region next to its data.

What the model minimises is the plan's ledger (`gpufleet.ledger`) exactly, with one exception:
with `network.interconnect: vpn` a region's share of the link (its hub and its tunnels or
peerings to every other open region) depends on which other regions are open, a product of
binaries. The model charges each open region its share as if every candidate region were open
(`cost.region_fixed_usd`), an upper bound, in the objective, the commitment rows and the budget
row. The objective the solver reports (`SolverReport.objective_usd`) is not that bound but the
ledger's total for the plan found (`spend.plan_ledger`), the figure the cost table shows; the
budget row may therefore refuse a plan whose true cost is within the cap by at most the link's
overcharge, never accept one above it.

Deploy limits are rows too, added lazily (`solve.place`: only for the places an optimal plan
of the model so far breaks, and there only where a plan could reach them, `tight_places`): each
cluster within its node groups and nodes (`gpufleet.nodegroups`), and each node subnet and pod
range holding its nodes (`gpufleet.addresses`: addresses per node × nodes + a group's upgrade
surge × an integer count of groups + the system pool once the region is open). So a region
whose network is full sends the rest to another region or cloud, and a fleet no network holds
is infeasible, with the range, its need and room and the field to change in the diagnosis.

The package splits that work by job: `candidates` (offers and pruning), `formulation` (the
model), `shares` (its share and pin rows), `milp` (the HiGHS wrapper), `solve` (the
lexicographic levels), `diagnosis` (why there is no placement), `spend` (what a plan spends);
quota buckets live in `gpufleet.quota`, which loads no solver.
"""

from gpufleet.placement.candidates import (
    Candidate,
    candidates,
    interchangeable,
    placement_of,
    unavailable_offers,
    undominated,
    unlimited_bounds,
)
from gpufleet.placement.diagnosis import diagnose
from gpufleet.placement.formulation import Formulation, cost_model, offer_bounds
from gpufleet.placement.milp import Milp, Solved
from gpufleet.placement.options import DEFAULT_OPTIONS, SolverOptions
from gpufleet.placement.solve import PlacementResult, place
from gpufleet.placement.spend import colocated_storage, plan_ledger, spend_by_cloud
from gpufleet.quota import quota_use

__all__ = [
    "DEFAULT_OPTIONS",
    "Candidate",
    "Formulation",
    "Milp",
    "PlacementResult",
    "Solved",
    "SolverOptions",
    "candidates",
    "colocated_storage",
    "cost_model",
    "diagnose",
    "interchangeable",
    "offer_bounds",
    "place",
    "placement_of",
    "plan_ledger",
    "quota_use",
    "spend_by_cloud",
    "unavailable_offers",
    "undominated",
    "unlimited_bounds",
]
