"""The spec's numbers: finite, bounded above, and never a boolean.

YAML reads `.inf` as infinity and `true` as a number to pydantic (`gpus: true` was one GPU), and a
value of 1e300 reached the placement solver, which failed naming no field. Every number of the
spec is one of the types below (new spec keys reuse them): the error names the field, the value
and the bound, and why the bound is there.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

MAX_POOL_GPUS = 1_000_000
"""GPUs one pool may ask for. The largest GPU clusters built so far hold 100,000-200,000 GPUs;
at 10,000,000 H100 the plan's dollar sums reach 10^10 and HiGHS's absolute 1e-6 tolerances no
longer hold (it called a feasible model infeasible), so the bound keeps a factor of 5 above real
clusters and 10 below the solver's trouble."""
MAX_NODES = MAX_POOL_GPUS
"""Nodes anywhere in the spec (pins, capacity caps, min_nodes): a node holds at least one GPU."""
MAX_MONTHLY_USD = 1e9
"""A month's spend (budget, commitments): far above any fleet's bill, and a thousand times below
the dollar sums at which the solver's tolerances fail (MAX_POOL_GPUS)."""
MAX_CONTRACT_USD = 1e12
"""A commitment contract's total or any of its amounts: above the largest cloud deals (hundreds
of billions over years), and a contract's checkpoint rows stay within the solver's range."""
MAX_PRICE_USD = 1_000.0
"""A price-book entry: USD per node-hour (the dearest GPU VMs list at about $100 an hour) or per
GB transferred (list prices are cents)."""
MAX_TIB = 100_000.0
"""A dataset, or its churn a month: 100 PiB, above the largest training sets."""
MAX_VCPUS = 1_000_000_000
"""A quota in vCPUs: a thousand times MAX_POOL_GPUS at the most vCPUs per GPU any SKU has."""


def _not_boolean(value: object) -> object:
    """YAML's `true` is a number to pydantic (1); a spec means a count, not a switch."""
    if isinstance(value, bool):
        raise ValueError(f"a number is expected here, not {str(value).lower()}")
    return value


def _at_most(most: float, unit: str, why: str) -> AfterValidator:
    def check(value: float) -> float:
        if value > most:
            raise ValueError(f"above the {most:,.0f} {unit} this field may hold ({why})")
        return value

    return AfterValidator(check)


NotBoolean = BeforeValidator(_not_boolean)

Nodes = Annotated[int, NotBoolean, _at_most(MAX_NODES, "nodes", "a node holds at least one GPU "
                                            f"and a pool at most {MAX_POOL_GPUS:,}")]
Gpus = Annotated[int, NotBoolean, Field(gt=0)]
"""GPUs of a pool; the bound MAX_POOL_GPUS is a rule of the spec (it says how to split)."""
Whole = Annotated[int, NotBoolean]
"""A count with its own bounds at the field (months, GPUs per node)."""
MonthlyUsd = Annotated[float, NotBoolean, Field(allow_inf_nan=False),
                       _at_most(MAX_MONTHLY_USD, "USD a month", "far above any fleet's bill")]
ContractUsd = Annotated[float, NotBoolean, Field(ge=0, allow_inf_nan=False),
                        _at_most(MAX_CONTRACT_USD, "USD", "above the largest cloud deals")]
PriceUsd = Annotated[float, NotBoolean, Field(gt=0, allow_inf_nan=False),
                     _at_most(MAX_PRICE_USD, "USD", "per node-hour or per GB; list prices are "
                              "at most about $100 an hour")]
Tib = Annotated[float, NotBoolean, Field(allow_inf_nan=False),
                _at_most(MAX_TIB, "TiB", "100 PiB, above the largest training datasets")]
Vcpus = Annotated[int, NotBoolean, Field(ge=0), _at_most(MAX_VCPUS, "vCPUs", "far above any quota")]
Fraction = Annotated[float, NotBoolean, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
