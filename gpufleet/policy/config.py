"""Policy names, their configuration schemas, and the configuration a spec implies.

`policy_config(spec)` is the JSON a CI passes with `pulumi preview --policy-pack policies
--policy-pack-config FILE`; `gpufleet policy-config --stack NAME` writes it. When the CLI passes
no configuration for a policy, the pack falls back to the stack's own `gpufleet:fleet` config
(the engine hands it to the analyzer in PULUMI_CONFIG), so a plain `pulumi preview
--policy-pack policies` still checks against the spec.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast

from pulumi_policy import PolicyConfigSchema

from gpufleet.errors import GpufleetError
from gpufleet.plan import CommitmentBurn, FleetPlan, PipeUse
from gpufleet.policy.props import items
from gpufleet.spec import TYPE_TOKEN_PATTERN, FleetSpec, load_fleet
from gpufleet.spechorizon import Contract

SOVEREIGNTY_REGIONS = "sovereignty-allowed-regions"
SOVEREIGNTY_STORAGE = "sovereignty-storage-residency"
GPU_QUOTA = "gpu-quota"
GPU_BUDGET = "gpu-budget"
GPU_BUDGET_HEADROOM = "gpu-budget-headroom"
COMMITMENT_BURN = "commitment-burn"
SECURITY_BASELINE = "security-baseline"
SECURITY_COVERAGE = "security-baseline-coverage"
REQUIRED_TAGS = "required-tags"
DEPLOY_READINESS = "deploy-readiness"
ADDRESS_CAPACITY = "address-capacity"
DATA_PIPES = "data-pipes"

ENFORCEMENT_KEY = "enforcementLevel"
# The spec keys (under `policies:`) and the policy config properties of the explicit exemptions.
UNLOCATED_TYPES = "unlocated_types"
UNCHECKED_TYPES = "unchecked_types"
DEFAULT_HEADROOM = 0.8

_JURISDICTIONS: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string"},
    "minItems": 1,
    "description": "allowed jurisdictions: EU, EEA or ISO 3166-1 alpha-2 codes (UK = GB)",
}


def _types(key: str, what: str) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {"type": "string", "pattern": TYPE_TOKEN_PATTERN.pattern},
        "description": f"resource type tokens (pkg:module:Type) {what} (spec: policies.{key})",
    }


_UNLOCATED = _types(UNLOCATED_TYPES, "accepted without a verifiable location")
_UNCHECKED = _types(UNCHECKED_TYPES, "accepted without tag and security verification")
_PRICES: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {"type": "number", "exclusiveMinimum": 0},
    "description": "price book: 'cloud/region/sku' or 'cloud/region/sku:spot' -> $/hour",
}
_SKUS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {"type": "object"},
    "description": "SKUs the spec declares: 'cloud/instance_type' -> facts (spec skus:); their "
    "pools are counted and priced like catalog SKUs",
}
_QUOTAS: dict[str, Any] = {
    "type": "object",
    "description": "declared vCPU quotas: cloud -> region -> quota bucket -> vCPUs",
    "additionalProperties": {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "additionalProperties": {"type": "integer", "minimum": 0},
        },
    },
}
_LIMITS: dict[str, Any] = {
    "type": "object",
    "description": "declared cluster limits: cloud -> region -> limit key (nodes_per_node_group, ...) -> value",
    "additionalProperties": {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "additionalProperties": {"type": "integer", "minimum": 1},
        },
    },
}
_STORAGE_TIB: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {"type": "number", "minimum": 0},
    "description": "size per storage entry name (TiB); buckets/accounts are matched by name",
}
_STORAGE_HOMES: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "properties": {
            "home": {"type": "string", "description": "'cloud/region' of the source of truth"},
            "churn_tib": {"type": "number", "minimum": 0},
            "amortize_months": {"type": "integer", "minimum": 1},
        },
        "required": ["home", "churn_tib", "amortize_months"],
    },
    "description": "per storage entry with a home: copies elsewhere pay their transfer from it",
}
_DISCOUNTS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
    "description": "a contract's discount on each cloud's list prices in the deployed period (not on the price book)",
}
_BLOCKS: dict[str, Any] = {
    "type": "array",
    "items": {"type": "object"},
    "description": "the spec's capacity.blocks (their upfront, a month's share each, is a line of its own)",
}
_BUDGET: dict[str, dict[str, Any]] = {
    "monthly_usd": {"type": "number", "exclusiveMinimum": 0, "description": "hard cap, $/month"},
    "prices": _PRICES,
    "skus": _SKUS,
    "discounts": _DISCOUNTS,
    "capacity_blocks": _BLOCKS,
    "storage_tib": _STORAGE_TIB,
    "storage_homes": _STORAGE_HOMES,
}
_SHORTFALLS: dict[str, Any] = {
    "type": "array",
    "description": "each contract checkpoint's planned shortfall (gpufleet plan's burn report) and the threshold "
    "above which commitment-burn warns (budget.commitments.<cloud>.shortfall_threshold_usd)",
    "items": {
        "type": "object",
        "properties": {
            "cloud": {"type": "string"}, "checkpoint": {"type": "string"}, "through": {"type": "string"},
            "due": {"type": "string"}, "paced": {"type": "boolean"}, "treatment": {"type": "string"},
            "minimum_usd": {"type": "number"}, "shortfall_usd": {"type": "number", "minimum": 0},
            "threshold_usd": {"type": "number", "minimum": 0},
        },
        "required": ["cloud", "checkpoint", "due", "shortfall_usd", "threshold_usd"],
    },
}

_PIPES: dict[str, Any] = {
    "type": "array",
    "description": "the plan's paths for dataset copies (gpufleet plan's pipes): the copies on each, the "
    "throughput they need and the path's line rate (null: no documented cap)",
    "items": {
        "type": "object",
        "properties": {
            "kind": {"type": "string"}, "path": {"type": "string"},
            "copies": {"type": "array", "items": {"type": "string"}},
            "needed_gbps": {"type": "number", "minimum": 0}, "available_gbps": {"type": ["number", "null"]},
            "size": {"type": "string"}, "source": {"type": "string"},
        },
        "required": ["path", "copies", "needed_gbps", "available_gbps"],
    },
}

SCHEMAS: dict[str, PolicyConfigSchema | None] = {
    SOVEREIGNTY_REGIONS: PolicyConfigSchema({
        "jurisdictions": _JURISDICTIONS, UNLOCATED_TYPES: _UNLOCATED,
    }),
    SOVEREIGNTY_STORAGE: PolicyConfigSchema({"jurisdictions": _JURISDICTIONS}),
    GPU_QUOTA: PolicyConfigSchema({"quotas": _QUOTAS, "skus": _SKUS}),
    GPU_BUDGET: PolicyConfigSchema(dict(_BUDGET)),
    GPU_BUDGET_HEADROOM: PolicyConfigSchema({
        **_BUDGET,
        "headroom": {
            "type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": DEFAULT_HEADROOM,
            "description": "share of the cap above which the advisory warns",
        },
    }),
    COMMITMENT_BURN: PolicyConfigSchema({
        "commitments": {
            "type": "object",
            "additionalProperties": {"type": "number", "minimum": 0},
            "description": "committed spend per cloud ($/month)",
        },
        "planned_shortfalls": _SHORTFALLS,
        "prices": _PRICES,
        "skus": _SKUS,
        "discounts": _DISCOUNTS,
        "capacity_blocks": _BLOCKS,
        "storage_tib": _STORAGE_TIB,
        "storage_homes": _STORAGE_HOMES,
    }),
    SECURITY_BASELINE: PolicyConfigSchema({UNCHECKED_TYPES: _UNCHECKED}),
    SECURITY_COVERAGE: None,
    ADDRESS_CAPACITY: None,
    REQUIRED_TAGS: PolicyConfigSchema({
        "fleet": {"type": "string", "description": "expected value of the fleet tag"},
        UNCHECKED_TYPES: _UNCHECKED,
    }),
    DEPLOY_READINESS: PolicyConfigSchema({"limits": _LIMITS}),
    DATA_PIPES: PolicyConfigSchema({
        "planned_pipes": _PIPES, "storage_tib": _STORAGE_TIB, "storage_homes": _STORAGE_HOMES,
    }),
}


def policy_config(
    spec: FleetSpec, burns: Sequence[CommitmentBurn] | None = None, pipes: Sequence[PipeUse] | None = None
) -> dict[str, dict[str, object]]:
    """Policy name -> configuration for `--policy-pack-config`, from a validated spec.

    A spec without `sovereignty:` disables the two sovereignty policies explicitly (they refuse
    everything when left enabled without jurisdictions, so a forgotten config fails closed).
    With contracts, commitment-burn judges the plan's burn report: `burns` (a plan's
    `commitments`), else the spec is planned for it (`planned_burns`); with datasets that have a
    home, data-pipes judges the plan's copy paths: `pipes` (a plan's), else planned likewise.
    """
    sovereignty: dict[str, object] = (
        {"jurisdictions": list(spec.sovereignty.jurisdictions)}
        if spec.sovereignty
        else {ENFORCEMENT_KEY: "disabled"}
    )
    prices: dict[str, object] = dict(sorted(spec.prices.items()))
    storage_tib: dict[str, object] = {s.name: s.size_tib for s in spec.storage}
    budget: dict[str, object] = {"prices": prices, "storage_tib": storage_tib}
    homes: dict[str, object] = {
        s.name: {"home": s.home, "churn_tib": s.churn_tib, "amortize_months": s.amortize_months}
        for s in spec.storage if s.home is not None
    }
    if homes:  # only then: configs of fleets without homes stay as they were
        budget["storage_homes"] = homes
    if spec.budget.monthly_usd is not None:
        budget["monthly_usd"] = spec.budget.monthly_usd
    # Declared SKUs only when the spec has them: configs of other fleets stay as they were.
    declared: dict[str, object] = (
        {"skus": {key: facts.model_dump(exclude_none=True) for key, facts in sorted(spec.skus.items())}}
        if spec.skus else {}
    )
    budget.update(declared)
    if discounts := spec.budget.discounts():  # only with a contract: other configs stay as they were
        budget["discounts"] = dict(discounts)
    if spec.capacity.blocks:  # only with blocks: other configs stay as they were
        budget["capacity_blocks"] = [block.model_dump(mode="json") for block in spec.capacity.blocks]
    quotas: dict[str, object] = {
        cloud: {region: dict(buckets) for region, buckets in per_region.items()}
        for cloud, per_region in spec.quotas.items()
    }
    # An exemption list appears only when the spec gives one, so configs without stay as they were.
    unlocated: dict[str, object] = (
        {UNLOCATED_TYPES: list(spec.policies.unlocated_types)}
        if spec.sovereignty and spec.policies.unlocated_types else {}
    )
    unchecked: dict[str, object] = (
        {UNCHECKED_TYPES: list(spec.policies.unchecked_types)}
        if spec.policies.unchecked_types else {}
    )
    return {
        SOVEREIGNTY_REGIONS: {**sovereignty, **unlocated},
        SOVEREIGNTY_STORAGE: dict(sovereignty),
        GPU_QUOTA: {"quotas": quotas, **declared},
        GPU_BUDGET: dict(budget),
        GPU_BUDGET_HEADROOM: {**budget, "headroom": DEFAULT_HEADROOM},
        COMMITMENT_BURN: {
            "commitments": {
                cloud: usd for cloud, usd in spec.budget.commitments.items() if not isinstance(usd, Contract)
            },
            "prices": prices,
            **declared,
            "storage_tib": storage_tib,
            **{key: budget[key] for key in ("storage_homes", "discounts", "capacity_blocks") if key in budget},
            **_shortfalls(spec, burns),
        },
        SECURITY_BASELINE: dict(unchecked),
        SECURITY_COVERAGE: {},
        ADDRESS_CAPACITY: {},
        REQUIRED_TAGS: {"fleet": spec.name, **unchecked},
        DEPLOY_READINESS: {"limits": {
            cloud: {region: dict(keys) for region, keys in per_region.items()}
            for cloud, per_region in spec.limits.items()
        }},
        DATA_PIPES: _pipes(spec, budget, pipes),
    }


def _pipes(spec: FleetSpec, budget: Mapping[str, object], pipes: Sequence[PipeUse] | None) -> dict[str, object]:
    """data-pipes' configuration: the datasets (sizes, homes) and, with a home, the plan's pipes."""
    found: dict[str, object] = {key: budget[key] for key in ("storage_tib", "storage_homes") if key in budget}
    if "storage_homes" in found:
        found["planned_pipes"] = [
            {"kind": p.kind, "path": p.path, "copies": list(p.copies), "needed_gbps": p.needed_gbps,
             "available_gbps": p.available_gbps, "size": p.size, "source": p.source}
            for p in (planned_pipes(spec) if pipes is None else pipes)
        ]
    return found


def _shortfalls(spec: FleetSpec, burns: Sequence[CommitmentBurn] | None) -> dict[str, object]:
    """commitment-burn's `planned_shortfalls`, only for a spec with contracts."""
    if not spec.budget.contracts():
        return {}
    found = planned_burns(spec) if burns is None else burns
    return {"planned_shortfalls": [
        {"cloud": c.cloud, "checkpoint": w.label, "through": w.end, "due": w.due, "paced": w.paced,
         "treatment": c.treatment, "minimum_usd": w.minimum_usd, "shortfall_usd": w.shortfall_usd,
         "threshold_usd": c.threshold_usd}
        for c in found for w in c.windows
    ]}


_PLANNED: dict[str, FleetPlan] = {}


def _planned(spec: FleetSpec) -> FleetPlan:
    """The spec's plan (with a horizon, its first period's: the burn report is the same whichever
    period it deploys), planned once per spec, as the policy pack asks for every policy's
    configuration in turn."""
    from gpufleet.pipeline import build_plan

    key = spec.model_dump_json()
    if key not in _PLANNED:
        _PLANNED[key] = build_plan(spec, "policy", period=spec.horizon.start if spec.horizon else None)
    return _PLANNED[key]


def planned_burns(spec: FleetSpec) -> tuple[CommitmentBurn, ...]:
    """The burn report of the spec's plan over its horizon."""
    assert spec.horizon is not None  # the spec's rules: a contract needs a horizon
    return _planned(spec).commitments


def planned_pipes(spec: FleetSpec) -> tuple[PipeUse, ...]:
    """The copy paths of the spec's plan; none when it cannot be planned (the plan refuses it)."""
    try:
        return _planned(spec).pipes
    except GpufleetError:
        return ()


class _HasConfig(Protocol):
    def get_config(self) -> Mapping[str, Any]: ...


def stack_spec_from_env() -> FleetSpec | None:
    """The stack's `gpufleet:fleet` from PULUMI_CONFIG (set by the engine for analyzers)."""
    raw = os.environ.get("PULUMI_CONFIG")
    if not raw:
        return None
    try:
        config: Any = json.loads(raw)
        fleet: Any = (
            cast(dict[str, Any], config).get("gpufleet:fleet") if isinstance(config, dict) else None
        )
        if isinstance(fleet, str):
            fleet = json.loads(fleet)
        return load_fleet(fleet) if fleet is not None else None
    except (ValueError, GpufleetError):
        return None


def effective_config(args: _HasConfig, policy: str) -> Mapping[str, Any] | None:
    """The policy's configuration; None when the derived configuration disables it."""
    given = args.get_config()
    if given:
        return given
    spec = stack_spec_from_env()
    if spec is None:
        return {}
    derived = policy_config(spec).get(policy, {})
    if derived.get(ENFORCEMENT_KEY) == "disabled":
        return None
    return {k: v for k, v in derived.items() if k != ENFORCEMENT_KEY}


def listed_types(config: Mapping[str, Any], key: str) -> frozenset[str]:
    """The type tokens a policy's configuration exempts under `key` (a proxied list)."""
    return frozenset(str(entry) for entry in items(config.get(key)))
