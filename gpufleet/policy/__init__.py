"""The gpufleet CrossGuard policy pack: sovereignty, quota, budget, security and tags.

One implementation, two doors: `policies/__main__.py` builds the `PolicyPack` from
`pack.policies()` for `pulumi preview --policy-pack policies`, and `evaluate` runs the same
policy objects over recorded resources for `gpufleet plan` and `gpufleet check`.
"""

from gpufleet.policy.config import policy_config
from gpufleet.policy.offline import (
    PolicyVerdict,
    Violation,
    evaluate,
    mandatory_failed,
    resources_from_json,
    stack_of,
)

__all__ = [
    "PolicyVerdict",
    "Violation",
    "evaluate",
    "mandatory_failed",
    "policy_config",
    "resources_from_json",
    "stack_of",
]
