"""Why nodes are where they are, or not where they might be: one closed set of binding reasons.

Every reason a plan gives for a placement, a move (`gpufleet.moves`, `plan --previous`,
`--unavailable`, `diff`) or an offer left empty (`gpufleet explain`, issue 25) is one of these
words, so a reviewer, a script and a test read the same vocabulary; the sentence next to it says
the figures. docs/design.md, "Binding reasons", is the reference.
"""

from __future__ import annotations

from typing import Literal, get_args

Reason = Literal[
    "price", "quota", "share", "limit", "address", "sovereignty", "unavailable", "no-price",
    "commitment", "data", "stability",
]
REASONS: tuple[Reason, ...] = get_args(Reason)

MEANING: dict[Reason, str] = {
    "price": "another offer is cheaper by more than the plan allows (the stability tolerance, for kept nodes)",
    "quota": "a declared (or live) vCPU quota of the cloud, region and bucket is used up",
    "share": "the pool's min_share / max_share of a cloud, its max_region_share or a pin fixes the GPUs there",
    "limit": "the region's cluster is at its node-group or node limit",
    "address": "the region's node subnets or pod range hold no more nodes",
    "sovereignty": "the spec does not allow the region (clouds.<cloud>.regions, sovereignty.jurisdictions)",
    "unavailable": "the spec's capacity rules take the offer out or cap it (capacity, plan --unavailable)",
    "no-price": "neither the catalog nor the price book has a price for the offer at the pool's capacity",
    "commitment": "spend there burns a commitment another cloud's spend would leave unused",
    "data": "the copy of a colocated dataset, or its transfer from home, costs more elsewhere",
    "stability": "kept where a previous plan put it, within placement.stability_tolerance",
}
