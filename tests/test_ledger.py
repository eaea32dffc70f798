"""One cost ledger: every figure that sums spend agrees to the cent.

The plan's cost table and JSON, its per-cloud totals and commitment burn, placement's reported
objective, `spend_by_cloud`, the budget and commitment policies over the declared resources, and
`diff`, for the sample stacks, the example and generated fleets that reach what the simple ones do
not: a VPN link over five regions (an Azure gateway with more tunnels than its price includes),
datasets named with dashes, homes on either cloud.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import StackValidationArgs

from gpufleet.diff import diff_documents
from gpufleet.errors import InfeasibleError, SpecError
from gpufleet.ledger import Ledger
from gpufleet.offline import OfflinePlan, SpecSource, run_plan
from gpufleet.placement import place, spend_by_cloud
from gpufleet.plan import CostLine
from gpufleet.policy import budget as budget_policy
from gpufleet.policy import policy_config, stack_of
from gpufleet.policy.config import COMMITMENT_BURN, GPU_BUDGET
from gpufleet.spec import load_fleet
from tests.conftest import fleet_of

ROOT = Path(__file__).resolve().parent.parent


def _h100(name: str, gpus: int, pin: Mapping[str, int]) -> dict[str, Any]:
    return {"name": name, "accelerator": "H100", "gpus": gpus, "gpus_per_node": 8, "pin": dict(pin)}


GENERATED: dict[str, dict[str, Any]] = {
    # Five regions joined by VPN: each Azure gateway ends 3 AWS peers × 4 tunnels = 12 tunnels,
    # 2 above the 10 its price includes; a dataset with a dashed name produced on Azure.
    "us-vpn": {
        "name": "usvpn",
        "budget": {"monthly_usd": 5_000_000, "commitments": {"aws": 400_000, "azure": 300_000}},
        "network": {"supernet": "10.0.0.0/8", "interconnect": "vpn"},
        "clouds": {"aws": {"regions": ["us-east-1", "us-east-2", "us-west-2"]},
                   "azure": {"regions": ["eastus", "eastus2"]}},
        "pools": [
            _h100("train", 40, {"aws/us-east-1": 1, "aws/us-east-2": 1, "aws/us-west-2": 1,
                                "azure/eastus": 1, "azure/eastus2": 1}),
            {"name": "infer", "accelerator": "T4", "gpus": 8, "capacity": "spot"},
        ],
        "storage": [
            {"name": "training-data", "size_tib": 40, "colocate_with": ["train"], "home": "azure/eastus",
             "churn_tib": 2},
            {"name": "ckpt", "size_tib": 5, "colocate_with": ["train", "infer"]},
        ],
    },
    # A VPN link over only some of the candidate regions: placement's model bounds each open
    # region's link share as if all four were open; the reported objective must not.
    "dev-vpn": {
        "name": "devvpn",
        "network": {"supernet": "10.128.0.0/10", "interconnect": "vpn"},
        "clouds": {"aws": {"regions": ["us-east-1", "us-west-2"]}, "azure": {"regions": ["eastus", "eastus2"]}},
        "pools": [{"name": "infer", "accelerator": "T4", "gpus": 4, "gpus_per_node": 1, "capacity": "spot",
                   "min_share": {"aws": 0.25, "azure": 0.25}}],
    },
    # Two clouds in the EU (Azure's H100 priced by the price book), the dataset produced on AWS
    # and copied to Azure, no link.
    "eu-aws-home": {
        "name": "euhome",
        "budget": {"commitments": {"azure": 10_000}},
        "sovereignty": {"jurisdictions": ["EU"]},
        "network": {"supernet": "10.64.0.0/10"},
        "clouds": {"aws": {"regions": ["eu-central-1", "eu-north-1"]}, "azure": {"regions": ["swedencentral"]}},
        "prices": {"azure/swedencentral/Standard_ND96isr_H100_v5": 98.32},
        "pools": [_h100("train", 24, {"aws/eu-north-1": 2, "azure/swedencentral": 1})],
        "storage": [{"name": "eval-sets", "size_tib": 12, "colocate_with": ["train"],
                     "home": "aws/eu-central-1", "churn_tib": 1, "amortize_months": 6}],
    },
}
FLEETS = ["dev", "prod-eu", "example:data-gravity", "example:gb200-racks", *GENERATED]


def _fleet(name: str) -> dict[str, Any]:
    if name.startswith("example:"):
        return yaml.safe_load((ROOT / "examples" / f"{name.split(':')[1]}.yaml").read_text())
    return GENERATED.get(name) or fleet_of(name)


@cache
def _planned(name: str, folder: Path) -> OfflinePlan:
    path = folder / f"{name.replace(':', '-')}.yaml"
    path.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": _fleet(name)}}))
    return run_plan(SpecSource(spec=path))


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], OfflinePlan]:
    folder = tmp_path_factory.mktemp("ledger")
    return lambda name: _planned(name, folder)


def _declared(offline: OfflinePlan) -> Ledger:
    """The ledger the budget policies build from the recorded resources."""
    config = policy_config(offline.plan.spec)[GPU_BUDGET]
    found = budget_policy.estimate(stack_of(offline.recording.resources), config)
    assert found.unpriced == []
    return found.ledger


def _messages(validate: Callable[[Any, Any], None], offline: OfflinePlan, config: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    validate(StackValidationArgs(stack_of(offline.recording.resources), config),
             lambda message, urn=None: found.append(message))
    return found


@pytest.mark.parametrize("name", FLEETS)
def test_every_total_of_a_plan_is_its_ledgers(name: str, planned: Callable[[str], OfflinePlan]) -> None:
    offline = planned(name)
    plan, doc = offline.plan, offline.document
    ledger = Ledger(plan.cost.lines)
    assert plan.solver.objective_usd == plan.cost.monthly_usd == doc["cost"]["monthly_usd"] == ledger.total_usd
    spent = {cloud: usd for cloud, usd in doc["cost"]["by_cloud"].items() if usd}
    assert spent == ledger.by_cloud() == spend_by_cloud(plan.spec, plan.placements)
    for burn in ledger.burn(plan.spec.budget.monthly_commitments(), doc["cost"]["commitments"]):
        assert doc["cost"]["commitments"][burn.cloud] == {
            "committed_usd": burn.commitment_usd, "burned_usd": round(burn.burned_usd, 2),
            "left_usd": round(burn.left_usd, 2), "above_commitment_usd": round(burn.above_commitment_usd, 2),
        }
    change = diff_documents(doc, doc)
    assert change.cost[0] == ("total", ledger.total_usd, ledger.total_usd)
    assert {scope: after for scope, _, after in change.cost[1:] if after} == ledger.by_cloud()


@pytest.mark.parametrize("name", FLEETS)
def test_the_budget_policies_price_the_declared_resources_as_the_plan(
    name: str, planned: Callable[[str], OfflinePlan]
) -> None:
    offline = planned(name)
    plan, declared = Ledger(offline.plan.cost.lines), _declared(offline)
    assert declared.total_usd == plan.total_usd
    assert declared.by_cloud() == plan.by_cloud()
    assert declared.by_kind() == plan.by_kind()
    config = dict(policy_config(offline.plan.spec)[GPU_BUDGET])
    assert _messages(budget_policy.validate_gpu_budget, offline, {**config, "monthly_usd": plan.total_usd}) == []
    [over] = _messages(budget_policy.validate_gpu_budget, offline, {**config, "monthly_usd": plan.total_usd - 0.01})
    assert f"cost ${plan.total_usd:,.0f}/month" in over


@pytest.mark.parametrize("name", ["us-vpn", "eu-aws-home"])
def test_commitment_burn_reads_the_plans_spend_per_cloud(name: str, planned: Callable[[str], OfflinePlan]) -> None:
    offline = planned(name)
    plan = Ledger(offline.plan.cost.lines)
    config = dict(policy_config(offline.plan.spec)[COMMITMENT_BURN])
    above = {cloud: plan.cloud_usd(cloud) + 1 for cloud in plan.by_cloud()}
    found = _messages(budget_policy.validate_commitment_burn, offline, {**config, "commitments": above})
    assert found == [
        f"{cloud}: the stack spends ${plan.cloud_usd(cloud):,.0f}/month at maximum size, below the "
        f"${above[cloud]:,.0f} commitment; $1/month of committed spend is unused (allowed: spend at least "
        "the commitment, or lower it)"
        for cloud in sorted(above)
    ]


def test_the_vpn_fleet_has_what_the_simple_ones_lack(planned: Callable[[str], OfflinePlan]) -> None:
    """The generated fleet reaches the lines that made the totals disagree: S3 copies of a
    dataset with a dashed name, transfers from an Azure home, extra VPN tunnels."""
    lines = planned("us-vpn").plan.cost.lines
    items = [line.item for line in lines]
    assert any(item.startswith("storage training-data") and "S3" in item for item in items)
    assert any(line.kind == "transfer" and line.cloud == "azure" for line in lines)
    assert any(item.startswith("link: S2S tunnels beyond the 10 included (2)") for item in items)


def test_a_vpn_budget_refused_only_by_the_link_bound_says_so(planned: Callable[[str], OfflinePlan]) -> None:
    offline = planned("dev-vpn")
    assert len(offline.plan.link.sites if offline.plan.link else ()) == 2  # of 4 candidate regions
    total = offline.plan.cost.monthly_usd
    spec = load_fleet({**_fleet("dev-vpn"), "budget": {"monthly_usd": total}})
    with pytest.raises(InfeasibleError) as caught:
        place(spec, spec.catalog())
    assert str(caught.value).startswith(
        f"cheapest placement costs ${total:,.0f}/month, within the budget ${total:,.0f}, but placement prices "
        "the VPN link as if all 4 regions of the spec were open"
    )


def test_sums_are_in_whole_cents_in_any_order() -> None:
    lines = tuple(CostLine(f"item {i}", "aws" if i % 2 else "azure", "r", 0.1, "s", "fixed") for i in range(10))
    ledger = Ledger((*lines, CostLine("gpu", "aws", "r", 0.2, "s", "compute")))
    assert ledger.total_usd == 1.2  # float addition would give 1.2000000000000002
    assert ledger.by_cloud() == {"azure": 0.5, "aws": 0.7}
    assert ledger.by_kind() == {"fixed": 1.0, "compute": 0.2}
    assert Ledger(tuple(reversed(ledger.lines))).total_usd == ledger.total_usd
    aws, gcp = ledger.burn({"aws": 1.0}, ["aws", "gcp"])
    assert (aws.burned_usd, aws.left_usd, gcp.commitment_usd, gcp.monthly_usd) == (0.7, 0.3, 0.0, 0.0)
    budget = ledger.budget(1.19)
    assert budget is not None
    assert (budget.over, budget.headroom_usd) == (True, -0.01)
    assert ledger.budget(None) is None


def test_a_budget_below_the_commitments_is_refused() -> None:
    fleet = fleet_of("prod-eu")
    fleet["budget"] = {"monthly_usd": 2_000_000, "commitments": {"aws": 4_000_000, "azure": 2_000_000}}
    with pytest.raises(SpecError) as caught:
        load_fleet(fleet)
    assert str(caught.value).endswith(
        "budget.monthly_usd: the cap $2,000,000 is below the $6,000,000 committed per month (aws $4,000,000 + "
        "azure $2,000,000): committed spend is paid whether it is used or not, so every month costs at least "
        "$6,000,000; raise the cap to at least that, or lower budget.commitments"
    )
    fleet["budget"]["monthly_usd"] = 6_000_000
    assert load_fleet(fleet).budget.monthly_usd == 6_000_000
