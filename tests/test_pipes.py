"""Copies fit their pipes (issue 29, item 5): every copy away from its dataset's home against the
line rate of the paths it travels, the VPN gateway sized for them and priced, and the copies no
path holds refused by data-pipes (docs/data-gravity.md, "Copies fit their pipes")."""

from __future__ import annotations

import copy
from dataclasses import replace
from functools import cache
from typing import Any

import pytest
from pulumi_azure_native import network

from gpufleet.catalog.paths import path_rates
from gpufleet.clouds.azure.link import gateway_sizes
from gpufleet.cost import HOURS_PER_MONTH, monthly
from gpufleet.pipeline import build_plan
from gpufleet.pipes import gbps, hub_choice, tib_per_month
from gpufleet.placement import colocated_storage, plan_ledger
from gpufleet.plan import FleetPlan, Placement
from gpufleet.policy import evaluate, policy_config
from gpufleet.preview import Recording
from gpufleet.spec import load_fleet
from tests.conftest import record_fleet

AWS_US = ("us-east-1", "us-east-2", "us-west-2", "us-west-1")


def fleet(home: str = "azure/eastus", size_tib: float = 5120, churn_tib: float = 0, months: int = 8,
          aws: tuple[str, ...] = AWS_US, interconnect: str = "vpn") -> dict[str, Any]:
    """One spot T4 node pinned in each AWS region and in azure/eastus, and a corpus homed in
    `home` with a copy next to every node (the issue's case: 5 PiB synced to four AWS regions)."""
    sites = [("aws", r) for r in aws] + [("azure", "eastus")]
    return {
        "name": "pipes",
        "network": {"supernet": "10.0.0.0/8", "interconnect": interconnect},
        "clouds": {"aws": {"regions": list(aws)}, "azure": {"regions": ["eastus"]}},
        "pools": [{"name": "infer", "accelerator": "T4", "gpus": len(sites), "gpus_per_node": 1, "capacity": "spot",
                   "pin": {f"{cloud}/{region}": 1 for cloud, region in sites}}],
        "storage": [{"name": "corpus", "size_tib": size_tib, "colocate_with": ["infer"], "home": home,
                     "churn_tib": churn_tib, "amortize_months": months}],
    }


@cache
def planned(home: str = "azure/eastus", size_tib: float = 5120, churn_tib: float = 0, months: int = 8,
            aws: tuple[str, ...] = AWS_US) -> FleetPlan:
    return build_plan(load_fleet(fleet(home, size_tib, churn_tib, months, aws)), "test")


def pipes_of(plan: FleetPlan, kind: str) -> dict[str, tuple[float, float | None, bool | None]]:
    return {p.path: (round(p.needed_gbps, 3), p.available_gbps, p.fits) for p in plan.pipes if p.kind == kind}


def data_pipes(plan: FleetPlan, resources: Any = ()) -> list[str]:
    config = policy_config(plan.spec, plan.commitments, plan.pipes)
    (verdict,) = [v for v in evaluate(list(resources), config) if v.policy == "data-pipes"]
    assert verdict.enforcement == "mandatory"
    return [v.message for v in verdict.violations]


def test_a_650_mbps_gateway_moves_about_194_tib_a_month() -> None:
    """The issue's figure: VpnGw1AZ's 650 Mbps at line rate over the 730-hour month."""
    assert tib_per_month(0.65) == pytest.approx(194.2, abs=0.05)
    assert gbps(tib_per_month(2.5)) == pytest.approx(2.5)


def test_the_path_data_is_sourced_and_the_sdk_knows_every_gateway_sku() -> None:
    rows = path_rates()
    assert all(r.source.startswith("https://") and r.confidence in {"confirmed", "secondary", "inferred",
                                                                     "unconfirmed"} for r in rows)
    for zonal in ("eastus", "westus"):  # eastus has zones, westus none
        sizes = gateway_sizes(zonal)
        assert [s.gbps for s in sizes] == sorted(s.gbps for s in sizes if s.gbps is not None)
        assert all(s.usd_per_hour is not None and s.per_tunnel_gbps is not None for s in sizes)
        for s in sizes:  # the provider's enums (pulumi-azure-native network)
            assert network.VirtualNetworkGatewaySkuName(s.size).value == s.size
            assert network.VirtualNetworkGatewaySkuTier(s.size).value == s.size
            assert network.VpnGatewayGeneration(s.generation).value == s.generation
    assert [s.size for s in gateway_sizes("eastus")] == ["VpnGw1AZ", "VpnGw2AZ", "VpnGw3AZ", "VpnGw4AZ", "VpnGw5AZ"]
    assert [s.size for s in gateway_sizes("westus")] == ["VpnGw1", "VpnGw2", "VpnGw3", "VpnGw4", "VpnGw5"]


def _placed(regions: tuple[str, ...]) -> list[Placement]:
    return [Placement("infer", cloud, region, "t", 1, 1, "spot", 4, "b", 1.0, "test", 730.0)
            for cloud, region in [("aws", r) for r in regions] + [("azure", "eastus")]]


@pytest.mark.parametrize("step", range(5))
def test_the_gateway_is_the_smallest_sku_that_holds_the_copies(step: int) -> None:
    """At each step of the ladder: copies needing exactly a SKU's aggregate get that SKU; a
    millionth more gets the next one (the largest stays the largest: the plan refuses then)."""
    sizes = gateway_sizes("eastus")
    regions = AWS_US[:2]
    placed = _placed(regions)
    sites = sorted({(p.cloud, p.region) for p in placed})
    aggregate = sizes[step].gbps
    assert aggregate is not None
    for factor, expected in ((1.0, sizes[step]), (1 + 1e-6, sizes[min(step + 1, len(sizes) - 1)])):
        per_copy = tib_per_month(aggregate) / len(regions) * factor
        spec = load_fleet(fleet(size_tib=per_copy, months=1, aws=regions))
        assert hub_choice(spec, colocated_storage(spec, placed), sites) == {("azure", "eastus"): expected.size}
        lines = [li for li in plan_ledger(spec, placed).lines if li.item.startswith("link: VPN gateway")]
        assert expected.usd_per_hour is not None
        assert [(li.item, li.monthly_usd) for li in lines] == [
            (f"link: VPN gateway {expected.size}", monthly(expected.usd_per_hour))]


def test_the_5_pib_sync_is_planned_on_a_vpngw5az_that_holds_it() -> None:
    """The issue's case: 5 PiB homed on Azure, a copy in four AWS regions, each filled over 8
    months (640 TiB/month, 2.14 Gbps; 8.57 Gbps through the home's gateway)."""
    plan = planned()
    assert pipes_of(plan, "vpn-gateway") == {"azure/eastus VPN gateway VpnGw5AZ": (8.568, 10.0, True)}
    tunnels = pipes_of(plan, "vpn-tunnels")
    assert tunnels == {f"azure/eastus <-> aws/{r}: 4 tunnels (ECMP)": (2.142, 5.0, True) for r in AWS_US}
    stores = pipes_of(plan, "object-store")
    assert stores["azure/eastus storage-account of corpus (sends)"] == (8.568, 25.0, True)
    assert stores["aws/us-east-1 s3-bucket of corpus (receives)"] == (2.142, None, None)  # no documented cap
    (line,) = [li for li in plan.cost.lines if li.item.startswith("link: VPN gateway")]
    assert (line.item, line.monthly_usd) == ("link: VPN gateway VpnGw5AZ", round(3.29 * HOURS_PER_MONTH, 2))
    assert plan.solver.objective_usd == plan.cost.monthly_usd  # placement's ledger prices the same SKU
    assert plan.link is not None
    assert [s.hub for s in plan.link.sites if s.cloud == "azure"] == ["VpnGw5AZ"]
    assert data_pipes(plan) == []


def test_a_sync_no_gateway_holds_is_refused_naming_copies_path_and_rates() -> None:
    """Twice the churn: 4 × (640 + 400) TiB/month is above VpnGw5AZ's 10 Gbps."""
    plan = planned(churn_tib=400)
    (gateway,) = [p for p in plan.pipes if p.kind == "vpn-gateway"]
    assert (gateway.size, gateway.fits) == ("VpnGw5AZ", False)
    (message,) = data_pipes(plan)
    assert "corpus: azure/eastus -> aws/us-east-1" in message
    assert "corpus: azure/eastus -> aws/us-west-1" in message
    assert "azure/eastus VPN gateway VpnGw5AZ" in message
    assert "even at its largest size, VpnGw5AZ" in message
    assert "carries 10.000 Gbps (2,987.7 TiB/month)" in message
    assert "need 13.924 Gbps (4,160.0 TiB/month" in message
    assert "about-gateway-skus" in message


def test_one_copy_over_its_pairs_tunnels_is_refused_even_when_the_gateway_holds_it() -> None:
    """A single AWS region: the gateway (10 Gbps) would hold 5.2 Gbps, the pair's 4 tunnels at
    1.25 Gbps (AWS standard tunnels) do not."""
    needed = tib_per_month(5.2)
    plan = planned(size_tib=needed, months=1, aws=("us-east-1",))
    assert pipes_of(plan, "vpn-gateway") == {"azure/eastus VPN gateway VpnGw5AZ": (5.2, 10.0, True)}
    assert pipes_of(plan, "vpn-tunnels") == {"azure/eastus <-> aws/us-east-1: 4 tunnels (ECMP)": (5.2, 5.0, False)}
    (message,) = data_pipes(plan)
    assert "azure/eastus <-> aws/us-east-1: 4 tunnels (ECMP)" in message
    assert "1.25 Gbps/tunnel" in message


def test_an_aws_home_reaches_azure_over_the_public_endpoint_and_leaves_the_gateway_small() -> None:
    """The other direction: an AWS home's copy on Azure reads S3 over TLS, not the link, so the
    gateway stays VpnGw1AZ; the Azure account's ingress (25 Gbps, conservative) is its limit."""
    plan = planned(home="aws/us-east-1", size_tib=tib_per_month(26), months=1, aws=("us-east-1",))
    assert pipes_of(plan, "vpn-gateway") == {}
    assert pipes_of(plan, "vpn-tunnels") == {}
    assert plan.link is not None
    assert [s.hub for s in plan.link.sites if s.cloud == "azure"] == ["VpnGw1AZ"]
    assert pipes_of(plan, "object-store") == {
        "aws/us-east-1 s3-bucket of corpus (sends)": (26.0, None, None),
        "azure/eastus storage-account of corpus (receives)": (26.0, 25.0, False),
    }
    (message,) = data_pipes(plan)
    assert "corpus: aws/us-east-1 -> azure/eastus" in message
    assert "scalability-targets-standard-account" in message


def test_copies_that_fit_pass_and_a_home_without_copies_away_has_no_pipes() -> None:
    plan = planned(size_tib=100, months=12, aws=("us-east-1",))
    assert all(p.fits in (True, None) for p in plan.pipes)
    assert data_pipes(plan) == []
    assert plan.link is not None
    assert [s.hub for s in plan.link.sites if s.cloud == "azure"] == ["VpnGw1AZ"]
    alone = load_fleet({**fleet(aws=("us-east-1",)), "storage": [{"name": "corpus", "size_tib": 5, "colocate_with": ["infer"]}]})
    assert build_plan(alone, "test").pipes == ()


@cache
def _recording() -> Recording:
    """The whole program of a two-region fleet whose copy needs 1.34 Gbps over the link."""
    return record_fleet(fleet(size_tib=400, months=1, aws=("us-east-1",)))


def test_the_program_declares_the_planned_sku_and_the_pack_checks_the_declared_one() -> None:
    """The gateway is declared at the plan's SKU and generation (VpnGw3AZ, Generation2); the
    pack, seeing only declared resources, refuses the same copies behind a VpnGw1AZ."""
    recording = _recording()
    (gateway,) = [r for r in recording.resources if r.type.endswith("VirtualNetworkGateway")]
    assert gateway.inputs["sku"] == {"name": "VpnGw3AZ", "tier": "VpnGw3AZ"}
    assert gateway.inputs["vpnGatewayGeneration"] == "Generation2"
    plan = planned(size_tib=400, months=1, aws=("us-east-1",))
    assert data_pipes(plan, recording.resources) == []
    inputs = copy.deepcopy(dict(gateway.inputs))
    inputs["sku"] = {"name": "VpnGw1AZ", "tier": "VpnGw1AZ"}
    smaller = [replace(r, inputs=inputs) if r is gateway else r for r in recording.resources]
    (message,) = data_pipes(replace(plan, pipes=()), smaller)
    assert f"the VPN gateway {gateway.name} (VpnGw1AZ) in azure/eastus" in message
    assert "carries 0.650 Gbps" in message
    assert "need 1.339 Gbps" in message
