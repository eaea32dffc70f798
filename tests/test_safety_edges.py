"""The edges of the safety checks (issue 32): what a user or an attacker would see at the
boundary of every address check, limit and statistic, and of a secret file's mode.

Each test here was written against a mistake that once passed the whole suite (the issue's list;
benchmarks/mutation.md names the test that now catches each): a secret file left readable when
it already existed, an overrun quota turned into negative headroom, a range neither private nor
public accepted as public, a collision at the far end of a link left unchecked, a valid override
refused by the pod-range choice, the "higher middle" lost on an even count.
"""

from __future__ import annotations

import ipaddress
import json
import os
import stat
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from gpufleet import clouds
from gpufleet.cli import main
from gpufleet.clouds.aws import REGION_SLOTS as AWS_SLOTS
from gpufleet.clouds.aws import live as live_aws
from gpufleet.clouds.azure.pools import OVERLAY_POD_CANDIDATES
from gpufleet.errors import SpecError
from gpufleet.interconnect import plan_link, shared_blocks
from gpufleet.ipam import allocate, region_blocks
from gpufleet.live import LiveQuota
from gpufleet.plan import NetworkPlan
from gpufleet.quota import with_live_quotas
from gpufleet.spec import FleetSpec, load_fleet
from tests.test_live_quotas import StubbedSession

# -- a secret file's mode: on create and on overwrite --------------------------------------------

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://eks.example", certificate-authority-data: Q0E=}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def _write_kubeconfig(tmp_path: Path, out: Path) -> int:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"aws/us-east-1/kubeconfig": KUBECONFIG}))
    return main(["kubeconfig", "--stack", "dev", "--outputs", str(outputs), "--out", str(out)])


@pytest.mark.parametrize("existing", [None, 0o644, 0o666, 0o600])
def test_a_kubeconfig_is_owner_only_whether_new_or_overwritten(
    tmp_path: Path, existing: int | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A world-readable file left from before must not keep its mode: the new file holds the CA."""
    out = tmp_path / "kubeconfig"
    if existing is not None:
        out.write_text("stale content, longer than nothing\n" * 200)
        out.chmod(existing)
    old_umask = os.umask(0)  # the mode must not depend on a careful umask
    try:
        assert _write_kubeconfig(tmp_path, out) == 0
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "stale content" not in out.read_text()  # truncated, not written over the start
    assert out.read_text().count("certificate-authority-data: Q0E=") == 1
    assert f"# wrote {out}" in capsys.readouterr().out


# -- live quota headroom: at, below and above the limit -------------------------------------------


def _quota(limit: int | None, used: int, region: str = "us-east-1") -> LiveQuota:
    return LiveQuota("aws", region, "P", limit, used, "aws service-quotas", "2026-12-01T00:00:00Z")


@pytest.mark.parametrize(("limit", "used", "headroom"), [
    (384, 0, 384), (384, 383, 1), (384, 384, 0), (384, 385, 0), (384, 10_000, 0), (0, 0, 0), (None, 0, None),
])
def test_headroom_is_what_is_left_and_never_negative(limit: int | None, used: int, headroom: int | None) -> None:
    """An overrun quota (use above the limit, e.g. after the limit was lowered) leaves nothing, not
    a negative figure that would read as a debt or wrap into a huge unsigned one elsewhere."""
    assert _quota(limit, used).headroom == headroom


def test_an_overrun_live_quota_lets_placement_draw_nothing_there() -> None:
    spec = load_fleet({
        "name": "quota", "network": {"supernet": "10.64.0.0/10"},
        "clouds": {"aws": {"regions": ["us-east-1", "us-west-2"]}},
        "pools": [{"name": "train", "accelerator": "H100", "gpus": 8, "gpus_per_node": 8}],
    })
    filled, sources = with_live_quotas(spec, [_quota(192, 400), _quota(None, 0, "us-west-2")])
    assert filled.quotas["aws"]["us-east-1"]["P"] == 0
    assert "us-west-2" not in filled.quotas.get("aws", {})  # no bucket there: nothing declared
    assert sources[("aws", "us-east-1", "P")].startswith("live: limit 192 - in use 400; aws service-quotas at")


# -- live spot prices: the higher middle zone, for even and odd counts ---------------------------


def _spot_zones(prices: list[str]) -> Callable[[Stubber], None]:
    def answers(stub: Stubber) -> None:
        history = [{"AvailabilityZone": f"us-east-1{'abcdef'[i]}", "InstanceType": "p5.48xlarge",
                    "ProductDescription": "Linux/UNIX", "SpotPrice": price,
                    "Timestamp": datetime(2026, 11, 9, tzinfo=UTC)} for i, price in enumerate(prices)]
        stub.add_response("describe_spot_price_history", {"SpotPriceHistory": history})
    return answers


def _no_on_demand(stub: Stubber) -> None:
    stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": []})


@pytest.fixture
def spot_prices(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[str]], float | None]:
    def look_up(prices: list[str]) -> float | None:
        session = StubbedSession({("pricing", "us-east-1"): _no_on_demand, ("ec2", "us-east-1"): _spot_zones(prices)})
        monkeypatch.setattr(live_aws, "make_session", lambda: session)
        found = live_aws.region_prices("us-east-1", ["p5.48xlarge"])
        for stub in session.stubs:
            stub.assert_no_pending_responses()
        return found[0].spot if found else None
    return look_up


@pytest.mark.parametrize(("zones", "expected"), [
    (["31.00"], 31.0),
    (["52.00", "31.00"], 52.0),  # two zones: the higher one, not their mean (41.5)
    (["35.50", "31.00", "52.00"], 35.5),
    (["40.00", "31.00", "52.00", "35.50"], 40.0),  # even: the higher middle, not 37.75 or 35.50
    (["10", "20", "30", "40", "50", "60"], 40.0),
])
def test_a_regions_spot_price_is_the_higher_middle_zone(
    spot_prices: Callable[[list[str]], float | None], zones: list[str], expected: float
) -> None:
    """A typical node pays about the middle zone's price; on an even count the higher of the two
    middles, so the estimate never rests on a price between zones that no zone offers."""
    assert spot_prices(zones) == expected


def test_a_zone_quoting_zero_makes_the_spot_price_unknown(spot_prices: Callable[[list[str]], float | None]) -> None:
    assert spot_prices(["0", "31.00", "52.00"]) is None


# -- access allowlists: public ranges only -------------------------------------------------------


def _allowlist(*cidrs: str) -> dict[str, Any]:
    return {
        "name": "acl", "network": {"supernet": "10.64.0.0/10"},
        "clouds": {"aws": {"regions": ["us-east-1"]}},
        "access": {"mode": "allowlist", "cidrs": list(cidrs)},
        "pools": [{"name": "serve", "accelerator": "L4", "gpus": 1}],
    }


CGNAT = "shared address space (carrier-grade NAT) (100.64.0.0/10, RFC 6598)"  # neither private nor public


@pytest.mark.parametrize(("cidr", "kind"), [
    ("100.64.0.0/10", CGNAT), ("100.127.255.0/24", CGNAT), ("100.64.0.0/24", CGNAT),  # whole, last and first /24
    ("192.0.2.0/24", "documentation (TEST-NET-1) (192.0.2.0/24, RFC 5737)"),
    ("198.51.100.0/24", "documentation (TEST-NET-2) (198.51.100.0/24, RFC 5737)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3) (203.0.113.0/24, RFC 5737)"),
    ("10.0.0.0/8", "private-use (10.0.0.0/8, RFC 1918)"),
    ("172.16.0.0/12", "private-use (172.16.0.0/12, RFC 1918)"),
    ("192.168.1.0/24", "private-use (192.168.0.0/16, RFC 1918)"),
    ("127.0.0.0/8", "loopback (127.0.0.0/8, RFC 1122)"),
    ("169.254.0.0/16", "link-local (169.254.0.0/16, RFC 3927)"),
    ("0.0.0.0/8", "'this network' (0.0.0.0/8, RFC 791)"),
    ("240.0.0.0/4", "reserved (240.0.0.0/4, RFC 1112)"),
    ("198.18.0.0/15", "benchmarking (198.18.0.0/15, RFC 2544)"),
])
def test_an_allowlist_refuses_every_range_that_is_not_public(cidr: str, kind: str) -> None:
    """Refused, naming the special-purpose block it falls in and the RFC that sets it aside."""
    with pytest.raises(SpecError) as caught:
        load_fleet(_allowlist("203.0.114.0/24", cidr))
    assert [str(p) for p in caught.value.problems] == [
        f"access.cidrs[1]: not a public range: {cidr} is {kind}; the public endpoint sees public source "
        "addresses (inside the networks the private endpoint is used)"
    ]


@pytest.mark.parametrize("cidr", ["100.63.255.0/24", "100.128.0.0/24", "8.8.8.0/24", "203.0.114.0/24", "1.2.3.4/32"])
def test_an_allowlist_takes_public_ranges_next_to_the_special_ones(cidr: str) -> None:
    assert [str(c) for c in load_fleet(_allowlist(cidr)).access.cidrs] == [cidr]


def test_an_allowlist_of_the_whole_internet_is_refused_as_such() -> None:
    with pytest.raises(SpecError) as caught:
        load_fleet(_allowlist("0.0.0.0/0"))
    assert [p.path for p in caught.value.problems] == ["access.cidrs[0]"]
    assert [str(p) for p in caught.value.problems] == [
        "access.cidrs[0]: 0.0.0.0/0 covers the whole public IPv4 internet; it would open the API servers to "
        "the internet; allowed: the ranges your runners and operators use, or mode: private"]


# -- the link: a collision of tunnel addresses at either end of a pair --------------------------


def test_a_collision_at_the_gateway_end_of_two_pairs_is_refused() -> None:
    """Two AWS regions whose slots give the same /28 at one Azure gateway: the gateway (the far
    end from AWS's tunnel endpoints) would hold two tunnels with one inside address."""
    blocks = len(shared_blocks("aws", "azure"))
    by_block: dict[int, list[str]] = defaultdict(list)
    for region, slot in sorted(AWS_SLOTS.items(), key=lambda kv: kv[1]):
        by_block[slot % blocks].append(region)
    first, second = next(regions[:2] for regions in by_block.values() if len(regions) > 1)
    spec = load_fleet({"name": "mesh", "network": {"supernet": "10.128.0.0/10", "interconnect": "vpn"},
                       "clouds": {"aws": {"regions": [first]}, "azure": {"regions": ["eastus"]}},
                       "pools": [{"name": "serve", "accelerator": "T4", "gpus": 1}]})
    networks = [NetworkPlan("aws", first, "10.0.0.0/16"), NetworkPlan("aws", second, "10.1.0.0/16"),
                NetworkPlan("azure", "eastus", "10.2.0.0/16")]
    with pytest.raises(SpecError) as caught:
        plan_link(spec, networks)
    [problem] = caught.value.problems
    assert problem.path == "network.interconnect"
    assert f"aws/{second}--azure/eastus and aws/{first}--azure/eastus would share tunnel inside " \
           "addresses at azure/eastus" in problem.message
    assert problem.message.endswith(f"{blocks} blocks); allowed: regions whose pairs differ (drop one of them "
                                    "from clouds.*.regions)")  # what the user may do about it
    assert plan_link(spec, networks[::2]) is not None  # either AWS region alone is fine


# -- the overlay pod range: it moves out of an override's way -----------------------------------


def _network(overrides: dict[str, str], supernet: str = "10.64.0.0/10") -> Any:
    return load_fleet({
        "name": "net", "network": {"supernet": supernet, "overrides": overrides},
        "clouds": {"aws": {"regions": ["us-east-1", "us-west-2"]}, "azure": {"regions": ["swedencentral"]}},
        "pools": [{"name": "serve", "accelerator": "T4", "gpus": 1}],
    })


@pytest.mark.parametrize("key", ["aws/us-east-1", "azure/swedencentral"])
def test_an_override_in_the_pod_candidates_shared_space_is_refused_naming_the_field(key: str) -> None:
    """A VPC or VNet block in carrier-grade NAT space is refused by the spec (inside RFC 1918
    only), so the overlay pod range's first candidates never meet a block the user chose."""
    with pytest.raises(SpecError) as caught:
        _network({key: "100.64.0.0/16"})
    assert [str(p) for p in caught.value.problems] == [
        f"network.overrides.{key}: 100.64.0.0/16 is shared address space (carrier-grade NAT) (100.64.0.0/10, "
        "RFC 6598); allowed: a block inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918) (got "
        "'100.64.0.0/16')"]


def _azure_blocks(*avoid: str) -> Any:
    slot = ipaddress.IPv4Network("10.64.0.0/16")
    return clouds.get("azure").address_blocks(slot, None, [ipaddress.IPv4Network(a) for a in avoid])


def test_the_pod_range_moves_clear_of_every_block_it_must_avoid_not_only_the_first() -> None:
    """Defence in depth for a FleetSpec built by a program: any of the blocks to avoid, first or
    last, moves the pod range to the next candidate; a VNet never shares addresses with pods."""
    assert str(_azure_blocks().pod_cidr) == str(OVERLAY_POD_CANDIDATES[0]) == "100.64.0.0/11"
    assert str(_azure_blocks("10.0.0.0/8", "100.64.0.0/16").pod_cidr) == "100.96.0.0/11"
    assert str(_azure_blocks("100.64.0.0/16", "10.0.0.0/8").pod_cidr) == "100.96.0.0/11"
    assert str(_azure_blocks("10.0.0.0/8", "100.95.255.0/24", "100.96.0.0/24").pod_cidr) == "172.16.0.0/12"
    with pytest.raises(ValueError, match=r"leaves no overlay pod range free: every candidate \(100\.64\.0\.0/11, "
                       r"100\.96\.0\.0/11, 172\.16\.0\.0/12\) overlaps"):
        _azure_blocks("100.64.0.0/24", "100.96.0.0/24", "172.31.255.0/24")


def test_the_pod_range_is_outside_the_supernet_and_every_override() -> None:
    spec = _network({"aws/us-east-1": "172.20.0.0/16"}, supernet="10.64.0.0/10")
    [plan] = allocate(spec, [("azure", "swedencentral")])
    assert plan.pod_cidr == "100.64.0.0/11"
    assert not any(ipaddress.IPv4Network(plan.pod_cidr).overlaps(ipaddress.IPv4Network(n))
                   for n in ("10.64.0.0/10", "172.20.0.0/16"))


def test_region_blocks_are_the_blocks_the_plan_gives() -> None:
    spec = _network({"aws/us-east-1": "10.200.0.0/16"})
    for cloud, region in (("aws", "us-east-1"), ("azure", "swedencentral")):
        blocks = region_blocks(spec, cloud, region)
        [plan] = allocate(spec, [(cloud, region)])
        assert blocks is not None
        assert (str(blocks.cidr), blocks.pod_cidr and str(blocks.pod_cidr)) == (plan.cidr, plan.pod_cidr)
    assert region_blocks(_network({"aws/us-east-1": "10.200.0.0/15"}), "aws", "us-east-1") is None  # too big a VPC


def test_two_azure_clusters_share_one_pod_range_and_never_a_network() -> None:
    spec = load_fleet({
        "name": "net", "network": {"supernet": "10.64.0.0/10"},
        "clouds": {"azure": {"regions": ["swedencentral", "eastus"]}},
        "pools": [{"name": "serve", "accelerator": "T4", "gpus": 1}],
    })
    plans = allocate(spec, [("azure", "swedencentral"), ("azure", "eastus")])
    assert {p.pod_cidr for p in plans} == {"100.64.0.0/11"}
    assert not ipaddress.IPv4Network(plans[0].cidr).overlaps(ipaddress.IPv4Network(plans[1].cidr))


def test_an_unused_regions_override_that_overlaps_a_used_network_is_named() -> None:
    """The override is what the user wrote, so the error names it, not the network cut from the
    supernet it collides with (a configured region the plan does not use keeps its override)."""
    spec = load_fleet({
        "name": "net", "network": {"supernet": "10.64.0.0/10", "overrides": {"aws/us-east-1": "10.68.0.0/16"}},
        "clouds": {"aws": {"regions": ["eu-north-1", "us-east-1"]}},
        "pools": [{"name": "serve", "accelerator": "L4", "gpus": 1}],
    })
    with pytest.raises(SpecError) as caught:
        allocate(spec, [("aws", "eu-north-1")])
    assert [str(p) for p in caught.value.problems] == [
        "network.overrides.aws/us-east-1: 10.68.0.0/16 overlaps aws/eu-north-1 (10.68.192.0/18); "
        "choose a disjoint block"]


def test_allocate_refuses_a_supernet_too_small_for_the_slots_even_unvalidated() -> None:
    """A FleetSpec built by a program without load_fleet's rules still gets no overlapping slots."""
    spec = FleetSpec.model_validate({
        "name": "net", "network": {"supernet": "10.64.0.0/13"},
        "clouds": {"aws": {"regions": ["us-east-1"]}},
        "pools": [{"name": "serve", "accelerator": "L4", "gpus": 1}],
    })
    with pytest.raises(SpecError) as caught:
        allocate(spec, [("aws", "us-east-1")])
    assert [str(p) for p in caught.value.problems] == [
        "network.supernet: 10.64.0.0/13 is too small: 256 region slots of at least /20 need a /12 or "
        "larger (e.g. 10.64.0.0/12)"]
    # the smallest that holds them: /20 slots; aws/us-east-1 is slot 30, 10.64.0.0 + 30 × 4096
    assert allocate(FleetSpec.model_validate({**spec.model_dump(mode="json"), "network": {"supernet": "10.64.0.0/12"}}),
                    [("aws", "us-east-1")])[0].cidr == "10.65.224.0/20"
