"""Live quotas without a network: botocore's Stubber (and an HTTP-level fake for throttling)
for AWS, a fake client with the SDK's model classes for Azure."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.mgmt.compute.models import Usage, UsageName
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from gpufleet.cli import main
from gpufleet.clouds.aws import live as live_aws
from gpufleet.clouds.azure import live as live_azure
from gpufleet.live import LiveQuota, NoCredentialsError, RegionFailure, in_parallel
from gpufleet.live.quotas import look_up, pool_buckets, quotas_document, table_rows
from gpufleet.pipeline import build_plan
from gpufleet.spec import load_fleet
from tests.test_placement import fleet, h100

P_ON_DEMAND, P_SPOT, G_ON_DEMAND = "L-417A185B", "L-7212CCBC", "L-DB2E81BA"
FAKE_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _quota(code: str, value: float) -> dict[str, Any]:
    return {"ServiceCode": "ec2", "ServiceName": "Amazon EC2", "QuotaCode": code,
            "QuotaName": code, "Value": value, "Unit": "None", "Adjustable": True, "GlobalQuota": False}


def _instance(instance_type: str, cores: int, spot: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = {"InstanceId": "i-0123456789abcdef0", "InstanceType": instance_type,
                             "CpuOptions": {"CoreCount": cores, "ThreadsPerCore": 2}}
    return found | ({"InstanceLifecycle": "spot"} if spot else {})


class StubbedSession:
    """boto3's session as the look-up uses it: each client is stubbed with its region's answers."""

    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        self.answers = answers
        self.stubs: list[Stubber] = []

    def get_credentials(self) -> object:
        return object()

    def client(self, service: str, region_name: str, config: Any) -> Any:
        client = boto3.Session(**FAKE_KEYS).client(service, region_name=region_name, config=config)
        stub = Stubber(client)
        self.answers[(service, region_name)](stub)
        stub.activate()
        self.stubs.append(stub)
        return client


def _region_answers(stubs: dict[Any, Any], region: str) -> None:
    def quotas(stub: Stubber) -> None:
        stub.add_response("list_service_quotas", {"Quotas": [_quota(P_ON_DEMAND, 1536.0)], "NextToken": "page-2"},
                          {"ServiceCode": "ec2"})
        stub.add_response("list_service_quotas", {"Quotas": [_quota(G_ON_DEMAND, 64.0)]},
                          {"ServiceCode": "ec2", "NextToken": "page-2"})
        stub.add_response("get_service_quota", {"Quota": _quota(P_SPOT, 384.0)},
                          {"ServiceCode": "ec2", "QuotaCode": P_SPOT})
        stub.add_client_error("get_service_quota", "NoSuchResourceException", "The request failed because "
                              "the specified resource does not exist.", 400,
                              expected_params={"ServiceCode": "ec2", "QuotaCode": "L-3819A6DF"})

    def instances(stub: Stubber) -> None:
        reservation = {"Instances": [_instance("p5.48xlarge", 96), _instance("g4dn.xlarge", 2, spot=True)]}
        stub.add_response("describe_instances", {"Reservations": [reservation], "NextToken": "n"})
        stub.add_response("describe_instances", {"Reservations": [{"Instances": [_instance("p4d.24xlarge", 48)]}]})

    stubs[("service-quotas", region)] = quotas
    stubs[("ec2", region)] = instances


@pytest.fixture
def aws_session(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubbedSession]:
    answers: dict[Any, Any] = {}
    for region in ("us-east-1", "us-west-2"):
        _region_answers(answers, region)
    session = StubbedSession(answers)
    monkeypatch.setattr(live_aws, "make_session", lambda: session)
    yield session
    for stub in session.stubs:
        stub.assert_no_pending_responses()


def test_aws_limits_usage_and_a_missing_quota(aws_session: StubbedSession) -> None:
    buckets = [G_ON_DEMAND, P_ON_DEMAND, P_SPOT, "L-3819A6DF"]
    found = {q.bucket: q for q in live_aws.region_quotas("us-east-1", buckets)}
    assert (found[P_ON_DEMAND].limit_vcpus, found[P_ON_DEMAND].used_vcpus) == (1536, 192 + 96)
    assert found[P_ON_DEMAND].headroom == 1536 - 288
    assert (found[G_ON_DEMAND].limit_vcpus, found[G_ON_DEMAND].used_vcpus) == (64, 0)
    assert (found[P_SPOT].limit_vcpus, found[P_SPOT].used_vcpus) == (384, 0)
    assert found["L-3819A6DF"].limit_vcpus is None
    assert found["L-3819A6DF"].used_vcpus == 4
    assert found[P_ON_DEMAND].source == "aws service-quotas + ec2 describe_instances"


def test_throttling_is_retried_by_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    """ThrottlingException twice, then the answer: botocore's standard retry mode sends again."""
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda *_: 0)
    client = boto3.Session(**FAKE_KEYS).client("service-quotas", region_name="eu-west-1",
                                               config=live_aws.client_config())
    sent: list[int] = []
    throttled = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
    answer = json.dumps({"Quota": _quota(P_ON_DEMAND, 96.0)}).encode()

    def respond(request: Any, **_: Any) -> AWSResponse:
        sent.append(1)
        body = throttled if len(sent) < 3 else answer
        response = AWSResponse(request.url, 400 if len(sent) < 3 else 200, {}, None)  # pyright: ignore[reportArgumentType]
        response._content = body  # pyright: ignore[reportAttributeAccessIssue]  # what raw would read
        return response

    client.meta.events.register("before-send.service-quotas", respond)  # pyright: ignore[reportArgumentType]
    quota = client.get_service_quota(ServiceCode="ec2", QuotaCode=P_ON_DEMAND)  # pyright: ignore[reportAttributeAccessIssue]
    assert quota["Quota"]["Value"] == 96.0
    assert len(sent) == 3


class FakeUsages:
    def __init__(self, by_region: dict[str, list[Usage]], fail: Exception | None = None) -> None:
        self.by_region = by_region
        self.fail = fail

    def list(self, location: str) -> Iterator[Usage]:
        if self.fail:
            raise self.fail
        yield from self.by_region[location]


class FakeCompute:
    def __init__(self, usage: FakeUsages) -> None:
        self.usage = usage


def _usage(name: str, current: int, limit: int) -> Usage:
    return Usage(current_value=current, limit=limit, name=UsageName(value=name, localized_value=name))


def test_azure_usages_family_regional_and_spot(monkeypatch: pytest.MonkeyPatch) -> None:
    usages = [_usage("cores", 40, 350), _usage("standardNDSH100v5Family", 96, 960),
              _usage("lowPriorityCores", 0, 100), _usage("standardDSv3Family", 8, 350)]
    monkeypatch.setattr(live_azure, "make_client", lambda: FakeCompute(FakeUsages({"eastus": usages})))
    wanted = ["cores", "lowPriorityCores", "standardNDSH100v5Family", "standardNCADSH100v5Family"]
    found = {q.bucket: q for q in live_azure.region_quotas("eastus", wanted)}
    assert found["standardNDSH100v5Family"].headroom == 864
    assert found["lowPriorityCores"].limit_vcpus == 100
    assert found["cores"].used_vcpus == 40
    assert found["standardNCADSH100v5Family"].limit_vcpus is None
    assert "standardDSv3Family" not in found


def test_azure_credential_failure_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    failing = FakeUsages({}, ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token\nmore"))
    monkeypatch.setattr(live_azure, "make_client", lambda: FakeCompute(failing))
    with pytest.raises(NoCredentialsError, match=r"^no Azure credentials: DefaultAzureCredential: "
                       r"DefaultAzureCredential failed to retrieve a token$"):
        live_azure.region_quotas("eastus", ["cores"])


class FakeLookup:
    """A cloud's look-up answering every region with one bucket, recording how many ran at once."""

    def __init__(self, problem: str | None = None) -> None:
        self.problem = problem

    def credentials_problem(self) -> str | None:
        return self.problem

    def region_quotas(self, region: str, buckets: Sequence[str]) -> list[LiveQuota]:
        if region == "us-west-2":
            raise TimeoutError("read timed out")
        return [LiveQuota("aws", region, P_ON_DEMAND, 960, 192, "fake", "2025-01-01T00:00:00Z")]


SPEC = fleet([h100()], quotas={"aws": {"us-east-1": {P_ON_DEMAND: 384}}})


def test_live_quotas_fill_only_undeclared_buckets() -> None:
    spec = load_fleet(SPEC)
    found, failed = look_up(spec, {"aws": FakeLookup(), "azure": FakeLookup()})
    assert [f.region for f in failed] == ["us-west-2"]
    plan = build_plan(spec, "dev", live=found)
    east = next(q for q in plan.quota if q.region == "us-east-1" and q.bucket == P_ON_DEMAND)
    assert east.limit_vcpus == 384
    assert east.source is None


def test_live_headroom_limits_placement() -> None:
    spec = load_fleet(fleet([h100(gpus=32)], clouds={"aws": {"regions": ["us-east-1", "us-west-2"]}}))
    live = [LiveQuota("aws", "us-east-1", P_ON_DEMAND, 960, 192 * 3, "fake", "2025-01-01T00:00:00Z")]
    plan = build_plan(spec, "dev", live=live)
    east = sum(p.nodes for p in plan.placements if p.region == "us-east-1")
    assert east == 2  # headroom 384 vCPUs: two p5 nodes
    quota = next(q for q in plan.quota if q.region == "us-east-1")
    assert quota.limit_vcpus == 384
    assert quota.source
    assert "limit 960 - in use 576; fake at 2025" in quota.source


def test_in_parallel_is_bounded_and_reports_failures() -> None:
    import threading
    import time

    running, most = 0, 0
    lock = threading.Lock()

    def call() -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return 1

    work = {f"r{i}": call for i in range(20)}
    work["slow"] = lambda: time.sleep(1) or 0
    results, failures = in_parallel(work, workers=4, timeout=0.3)
    assert len(results) == 20
    assert most <= 4
    assert failures == {"slow": "no answer within 0.3 s"}


def test_quotas_without_credentials_exit_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    monkeypatch.setattr(live_aws, "make_session", lambda: boto3.Session(**FAKE_KEYS))
    spec = tmp_path / "fleet.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    assert main(["quotas", "--spec", str(spec), "--live"]) == 2
    err = capsys.readouterr().err
    assert err == "gpufleet quotas: no Azure credentials: set AZURE_SUBSCRIPTION_ID to the subscription to read quotas from\n"
    assert main(["plan", "--spec", str(spec), "--live-quotas", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert "warning: no Azure credentials" in captured.err
    assert "declared quotas only" in captured.err


def test_help_and_offline_plan_do_not_import_sdks() -> None:
    import subprocess
    import sys

    code = ("import sys; from gpufleet.cli import main; from gpufleet.offline import run_plan, SpecSource; "
            "run_plan(SpecSource(stack='dev')); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'azure')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__('os').environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_quotas_offline_lists_the_buckets_the_pools_may_draw_on(capsys: pytest.CaptureFixture[str]) -> None:
    """A new user's first `gpufleet quotas` shows which buckets to declare, not an empty table."""
    assert main(["quotas", "--stack", "dev", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["quotas"]
    assert {(r["cloud"], r["region"], r["bucket"], r["source"]) for r in rows} == {
        ("aws", "us-east-1", "L-3819A6DF", "undeclared: unlimited in plans"),      # spot G and VT
        ("azure", "eastus", "lowPriorityCores", "undeclared: unlimited in plans"),  # Azure spot
    }


def test_without_the_live_extra_quotas_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pip install .` has no boto3: one line naming the extra, exit 2, no traceback."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "boto3" else real(name, *a))
    assert main(["quotas", "--stack", "dev", "--live"]) == 2
    assert capsys.readouterr().err.strip() == (
        "gpufleet quotas: the AWS look-ups need boto3, which this install lacks: pip install 'gpufleet[live]'"
    )


def test_the_quotas_document_shows_each_bucket_once_declared_live_or_undeclared() -> None:
    """What `gpufleet quotas --live` prints (issue 32): a live bucket beside its declared value
    (the one plans use) with headroom never below zero when usage already exceeds the limit; a
    declared bucket the cloud did not answer for; a bucket a pool may draw on that nobody
    declared, said to be unlimited in plans; each once, sorted; and the regions not read."""
    spec = load_fleet(fleet([h100()], clouds={"aws": {"regions": ["us-east-1", "us-west-2"]}},
                            quotas={"aws": {"us-east-1": {P_ON_DEMAND: 384}, "us-west-2": {G_ON_DEMAND: 64}}}))
    live = [LiveQuota("aws", "us-east-1", P_ON_DEMAND, 960, 1000, "aws service-quotas", "2026-12-07T00:00:00Z")]
    document = quotas_document(spec, live, [RegionFailure("aws", "us-west-2", "read timed out")])
    assert [(r["region"], r["bucket"], r["declared_vcpus"], r["limit_vcpus"], r["used_vcpus"], r["headroom_vcpus"],
             r["source"]) for r in document["quotas"]] == [
        ("us-east-1", P_ON_DEMAND, 384, 960, 1000, 0, "aws service-quotas"),
        ("us-west-2", P_ON_DEMAND, None, None, None, None, "undeclared: unlimited in plans"),
        ("us-west-2", G_ON_DEMAND, 64, None, None, None, "spec"),
    ]
    assert document["failures"] == [{"cloud": "aws", "region": "us-west-2", "reason": "read timed out"}]
    assert table_rows(document) == [
        ("aws", "us-east-1", P_ON_DEMAND, "384", "960", "1000", "0", "aws service-quotas at 2026-12-07T00:00:00Z"),
        ("aws", "us-west-2", P_ON_DEMAND, "-", "-", "-", "-", "undeclared: unlimited in plans"),
        ("aws", "us-west-2", G_ON_DEMAND, "64", "-", "-", "-", "spec"),
    ]
    assert pool_buckets(spec) == [("aws", "us-east-1", P_ON_DEMAND), ("aws", "us-west-2", P_ON_DEMAND)]


class AskedLookup:
    """A cloud's look-up that answers nothing and records which buckets it was asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def credentials_problem(self) -> str | None:
        return None

    def region_quotas(self, region: str, buckets: Sequence[str]) -> list[LiveQuota]:
        self.asked.update(buckets)
        return []


def test_each_cloud_is_asked_only_for_its_own_buckets() -> None:
    """An AWS quota code sent to Azure (or an Azure family to AWS) would come back as a row
    of `gpufleet quotas --live` for a bucket that cloud does not have, its limit unknown."""
    spec = load_fleet(fleet([h100()], clouds={"aws": {"regions": ["us-east-1"]}, "azure": {"regions": ["eastus"]}}))
    lookups = {"aws": AskedLookup(), "azure": AskedLookup()}
    assert look_up(spec, lookups) == ([], [])
    assert not lookups["aws"].asked & lookups["azure"].asked
    for cloud, lookup in lookups.items():
        assert {bucket for c, _, bucket in pool_buckets(spec) if c == cloud} <= lookup.asked


def test_a_live_quota_nobody_declared_is_shown_beside_no_declared_value() -> None:
    """The usual `gpufleet quotas --live`: a spec that declares no quota, every row from the cloud."""
    spec = load_fleet(fleet([h100()]))
    live = [LiveQuota("aws", "us-east-1", P_ON_DEMAND, 960, 192, "aws service-quotas", "2026-12-07T00:00:00Z")]
    (row,) = [r for r in quotas_document(spec, live, [])["quotas"] if r["region"] == "us-east-1"]
    assert (row["bucket"], row["declared_vcpus"], row["limit_vcpus"], row["headroom_vcpus"]) == (P_ON_DEMAND, None, 960, 768)
