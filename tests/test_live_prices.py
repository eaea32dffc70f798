"""Live prices without a network: botocore's Stubber (and an HTTP-level fake for throttling) for
AWS, recorded Retail Prices pages through a fake azure-core transport for Azure; the refreshed
file a following plan uses."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
import requests
import yaml
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._requests_basic import RestRequestsTransportResponse  # what RequestsTransport answers
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from gpufleet.catalog.overlay import COLUMNS, DIR_VARIABLE
from gpufleet.cli import main
from gpufleet.clouds.aws import live as live_aws
from gpufleet.clouds.azure import live as live_azure
from gpufleet.clouds.catalog import load_catalog
from gpufleet.live.prices import LivePrice, refresh
from tests.test_live_quotas import FAKE_KEYS, StubbedSession

P5, G6 = "p5.48xlarge", "g6.xlarge"


def price_list_entry(instance_type: str, region: str, usd: str) -> str:
    """One PriceList entry as get_products returns it: a JSON string (format aws_v1)."""
    sku = f"SKU{abs(hash((instance_type, region))) % 10**8:08d}"
    return json.dumps({
        "product": {"productFamily": "Compute Instance", "sku": sku, "attributes": {
            "instanceType": instance_type, "regionCode": region, "operatingSystem": "Linux",
            "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used",
            "licenseModel": "No License required", "servicecode": "AmazonEC2"}},
        "serviceCode": "AmazonEC2",
        "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {
            "offerTermCode": "JRTCKXETXF", "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z",
            "termAttributes": {}, "priceDimensions": {f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                "unit": "Hrs", "beginRange": "0", "endRange": "Inf", "appliesTo": [],
                "rateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7", "pricePerUnit": {"USD": usd},
                "description": f"${usd} per On Demand Linux {instance_type} Instance Hour"}}}},
            "Reserved": {}},
        "version": "20261101000000", "publicationDate": "2026-11-01T00:00:00Z",
    })


def _filters(region: str) -> list[dict[str, str]]:
    fixed = [("regionCode", region), ("operatingSystem", "Linux"), ("tenancy", "Shared"),
             ("preInstalledSw", "NA"), ("capacitystatus", "Used")]
    return [{"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in fixed] + [
        {"Type": "ANY_OF", "Field": "instanceType", "Value": f"{G6},{P5}"}]


def _spot(instance_type: str, zone: str, price: str, day: int) -> dict[str, Any]:
    return {"AvailabilityZone": zone, "InstanceType": instance_type, "ProductDescription": "Linux/UNIX",
            "SpotPrice": price, "Timestamp": datetime(2026, 11, day, tzinfo=UTC)}


def _pricing(stub: Stubber) -> None:
    region = "us-east-1"
    stub.add_response("get_products", {"FormatVersion": "aws_v1", "NextToken": "page-2",
                                       "PriceList": [price_list_entry(P5, region, "98.3200000000")]},
                      {"ServiceCode": "AmazonEC2", "Filters": _filters(region)})
    stub.add_response("get_products", {"FormatVersion": "aws_v1",
                                       "PriceList": [price_list_entry(G6, region, "0.8048000000")]},
                      {"ServiceCode": "AmazonEC2", "Filters": _filters(region), "NextToken": "page-2"})


def _spot_history(stub: Stubber) -> None:
    first = [_spot(P5, "us-east-1a", "40.00", 1), _spot(P5, "us-east-1a", "31.00", 9),
             _spot(P5, "us-east-1b", "35.50", 8), _spot(G6, "us-east-1a", "0.8048", 9)]
    stub.add_response("describe_spot_price_history", {"SpotPriceHistory": first, "NextToken": "more"})
    stub.add_response("describe_spot_price_history",
                      {"SpotPriceHistory": [_spot(P5, "us-east-1c", "52.00", 9)]})


@pytest.fixture
def aws_session(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubbedSession]:
    session = StubbedSession({("pricing", "us-east-1"): _pricing, ("ec2", "us-east-1"): _spot_history})
    monkeypatch.setattr(live_aws, "make_session", lambda: session)
    yield session
    for stub in session.stubs:
        stub.assert_no_pending_responses()


def test_aws_on_demand_pages_and_spot_zone_median(aws_session: StubbedSession) -> None:
    found = {p.instance_type: p for p in live_aws.region_prices("us-east-1", [G6, P5])}
    assert found[P5].on_demand == 98.32
    assert found[P5].spot == 35.5  # latest per zone: a 31.00, b 35.50, c 52.00 -> the median
    assert found[G6].on_demand == 0.8048
    assert found[G6].row()["spot_price_usd_per_hour"] == ""  # equal to on-demand: unknown
    assert found[P5].row()["source"].startswith("aws pricing get_products + ec2 spot price history")


def test_aws_throttling_fails_only_its_region(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ThrottlingException that outlasts the retries is that region's failure; the others count."""
    def throttled(stub: Stubber) -> None:
        stub.add_client_error("get_products", "ThrottlingException", "Rate exceeded", 400)

    session = StubbedSession({("pricing", "us-east-1"): throttled})
    monkeypatch.setattr(live_aws, "make_session", lambda: session)
    fine = LivePrice("aws", P5, "us-west-2", 1.0, None, "fake", "2026-11-29T00:00:00Z")
    calls = {"us-west-2": lambda: [fine]}

    class Mixed:
        def prices_credentials_problem(self) -> None:
            return None

        def region_prices(self, region: str, instance_types: Sequence[str]) -> list[LivePrice]:
            return calls[region]() if region in calls else live_aws.region_prices(region, instance_types)

    found, failed = refresh({("aws", "us-east-1"): [P5], ("aws", "us-west-2"): [P5]}, {"aws": Mixed()})
    assert found == [fine]
    assert [(f.region, f.reason.split(":")[0]) for f in failed] == [("us-east-1", "ThrottlingException")]


def test_pricing_throttling_is_retried_by_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    """ThrottlingException twice, then the page: the client's standard retry mode sends again."""
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda *_: 0)
    client = boto3.Session(**FAKE_KEYS).client("pricing", region_name="us-east-1", config=live_aws.client_config())
    sent: list[int] = []
    throttled = json.dumps({"__type": "ThrottlingException", "Message": "Rate exceeded"}).encode()
    answer = json.dumps({"FormatVersion": "aws_v1", "PriceList": [price_list_entry(P5, "us-east-1", "98.32")]})

    def respond(request: Any, **_: Any) -> AWSResponse:
        sent.append(1)
        ok = len(sent) >= 3
        response = AWSResponse(request.url, 200 if ok else 400, {}, None)  # pyright: ignore[reportArgumentType]
        response._content = answer.encode() if ok else throttled  # pyright: ignore[reportAttributeAccessIssue]
        return response

    client.meta.events.register("before-send.pricing", respond)  # pyright: ignore[reportArgumentType]
    page = client.get_products(ServiceCode="AmazonEC2")  # pyright: ignore[reportAttributeAccessIssue]
    assert json.loads(page["PriceList"][0])["product"]["attributes"]["instanceType"] == P5
    assert len(sent) == 3


ND, NC = "Standard_ND96isr_H100_v5", "Standard_NC40ads_H100_v5"


def retail_item(sku: str, region: str, price: float, sku_name: str, product: str) -> dict[str, Any]:
    """One Retail Prices item as the API returns it."""
    return {"currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": price, "unitPrice": price,
            "armRegionName": region, "location": "Sweden Central", "effectiveStartDate": "2026-06-01T00:00:00Z",
            "meterId": "00000000-0000-0000-0000-000000000000", "meterName": sku_name,
            "productId": "DZH318Z08M9R", "skuId": "DZH318Z08M9R/00F5", "productName": product,
            "skuName": sku_name, "serviceName": "Virtual Machines", "serviceId": "DZH313Z7MMC8",
            "serviceFamily": "Compute", "unitOfMeasure": "1 Hour", "type": "Consumption",
            "isPrimaryMeterRegion": True, "armSkuName": sku}


REGION = "swedencentral"
PAGE_2 = "https://prices.azure.com/api/retail/prices?api-version=2023-01-01-preview&$skip=100"
PAGES = {
    None: {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
           "Count": 3, "NextPageLink": PAGE_2, "Items": [
               retail_item(ND, REGION, 107.84, "ND96isr H100 v5", "Virtual Machines NDsr H100 v5 Series"),
               retail_item(ND, REGION, 118.6, "ND96isr H100 v5", "Virtual Machines NDsr H100 v5 Series Windows"),
               retail_item(ND, REGION, 43.14, "ND96isr H100 v5 Low Priority", "Virtual Machines NDsr H100 v5 Series")]},
    PAGE_2: {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
             "Count": 2, "NextPageLink": None, "Items": [
                 retail_item(ND, REGION, 32.35, "ND96isr H100 v5 Spot", "Virtual Machines NDsr H100 v5 Series"),
                 retail_item(NC, REGION, 7.68, "NC40ads H100 v5", "Virtual Machines NCadsH100v5 Series")]},
}


class FakeTransport(HttpTransport):
    """Recorded Retail Prices pages by URL; the first request is throttled once (429)."""

    def __init__(self, throttle: bool = True) -> None:
        self.urls: list[str] = []
        self.timeouts: list[tuple[Any, Any]] = []
        self.throttle = throttle

    def send(self, request: Any, **kwargs: Any) -> RestRequestsTransportResponse:
        self.urls.append(request.url)
        self.timeouts.append((kwargs.get("connection_timeout"), kwargs.get("read_timeout")))
        if self.throttle and len(self.urls) == 1:
            return self.answer(request, 429, {"error": {"code": "TooManyRequests"}}, {"Retry-After": "0"})
        return self.answer(request, 200, PAGES[request.url if request.url == PAGE_2 else None])

    @staticmethod
    def answer(request: Any, status: int, body: object, headers: dict[str, str] | None = None) -> RestRequestsTransportResponse:
        """A JSON response as azure-core's requests transport returns it."""
        answer = requests.Response()
        answer.status_code = status
        answer.headers.update({"Content-Type": "application/json", **(headers or {})})
        answer.raw = io.BytesIO(json.dumps(body).encode())  # what requests streams the body from
        response = RestRequestsTransportResponse(request=request, internal_response=answer)
        response.read()
        return response

    def open(self) -> None: ...

    def close(self) -> None: ...

    def __exit__(self, *_: Any) -> None: ...

    def sleep(self, duration: float) -> None: ...


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> FakeTransport:
    fake = FakeTransport()
    monkeypatch.setattr(live_azure, "retail_transport", lambda: fake)
    return fake


def test_azure_retail_pages_spot_and_ignored_rows(transport: FakeTransport) -> None:
    found = {p.instance_type: p for p in live_azure.region_prices(REGION, [NC, ND])}
    assert (found[ND].on_demand, found[ND].spot) == (107.84, 32.35)  # not Windows, not Low Priority
    assert (found[NC].on_demand, found[NC].spot) == (7.68, None)
    assert len(transport.urls) == 3  # throttled, retried, then the NextPageLink
    query = parse_qs(urlparse(transport.urls[0]).query)
    assert query["api-version"] == ["2023-01-01-preview"]
    assert query["$filter"] == [f"serviceName eq 'Virtual Machines' and armRegionName eq '{REGION}' and "
                                f"priceType eq 'Consumption' and (armSkuName eq '{NC}' or armSkuName eq '{ND}')"]
    assert transport.timeouts[0] == (5, 15)


def _spec(tmp_path: Path) -> Path:
    spec = {"name": "test", "network": {"supernet": "10.64.0.0/10"},
            "clouds": {"azure": {"regions": [REGION]}},
            "pools": [{"name": "train", "accelerator": "H100", "gpus": 16, "gpus_per_node": 8}]}
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_refresh_writes_a_file_the_plan_uses(
    transport: FakeTransport, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DIR_VARIABLE, raising=False)
    spec = _spec(tmp_path)
    assert main(["plan", "--spec", str(spec), "--format", "json"]) == 1  # no Azure price in Sweden
    capsys.readouterr()
    assert main(["catalog", "refresh", "--cloud", "azure", "--region", REGION, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 offers, 2 changed" in out
    assert "- -> 107.84" in out
    rows = (tmp_path / "offers.csv").read_text().splitlines()
    assert rows[0] == ",".join(COLUMNS)
    assert rows[2].startswith(f"azure,{ND},{REGION},107.84,32.35,azure retail prices api at 20")
    assert main(["plan", "--spec", str(spec), "--format", "json", "--catalog-dir", str(tmp_path)]) == 0
    document = json.loads(capsys.readouterr().out)
    placement = document["pools"][0]["placements"][0]
    assert (placement["instance_type"], placement["price_usd_per_hour"]) == (ND, 107.84)
    assert placement["price_source"].startswith("azure retail prices api at 20")
    line = next(line for line in document["cost"]["lines"] if line["item"].startswith("pool train"))
    assert line["source"].startswith("azure retail prices api at 20")
    assert "$107.84/h" in line["source"]
    assert DIR_VARIABLE not in __import__("os").environ  # --catalog-dir is for that run only


@pytest.mark.parametrize(("text", "says"), [
    ("cloud,instance_type,region,price\n", "row 1: the header must be"),
    (",".join(COLUMNS) + f"\nazure,{ND},{REGION},abc,,x\n", "row 2: price_usd_per_hour 'abc' is not a number"),
    (",".join(COLUMNS) + f"\nazure,{ND},{REGION},1,,x\nazure,{ND},mars,1,,x\n", "row 3: region 'mars'"),
    (",".join(COLUMNS) + f"\nazure,p5.48xlarge,{REGION},1,,x\n", "row 2: instance_type 'p5.48xlarge'"),
    (",".join(COLUMNS) + f"\nazure,{ND},{REGION},-1,,x\n", "must be a positive number"),
    (",".join(COLUMNS) + f"\nazure,{ND},{REGION},1,,\n", "row 2: source is empty"),
    (",".join(COLUMNS) + f"\nazure,{ND},{REGION},1\n", "row 2: has the wrong number of cells"),
])
def test_a_bad_refreshed_file_exits_2_naming_file_and_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    (tmp_path / "offers.csv").write_text(text)
    assert main(["plan", "--spec", str(_spec(tmp_path)), "--catalog-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gpufleet plan: {tmp_path / 'offers.csv'}: ")
    assert says in err
    assert "Traceback" not in err


def test_a_missing_refreshed_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--spec", str(_spec(tmp_path)), "--catalog-dir", str(tmp_path / "none")]) == 2
    assert "catalog refresh --out" in capsys.readouterr().err


def test_refreshed_spot_equal_to_on_demand_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "offers.csv").write_text(",".join(COLUMNS) + "\naws,p5.48xlarge,us-west-2,60.5,60.5,hand\n")
    monkeypatch.setenv(DIR_VARIABLE, str(tmp_path))
    offer = load_catalog().offers[("aws", "p5.48xlarge", "us-west-2")]
    assert (offer.price_usd_per_hour, offer.spot_price_usd_per_hour, offer.source) == (60.5, None, "hand")


def test_refresh_keeps_other_rows_and_needs_aws_credentials(
    transport: FakeTransport, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "offers.csv").write_text(",".join(COLUMNS) + "\naws,p5.48xlarge,us-west-2,60.5,30,earlier\n")
    assert main(["catalog", "refresh", "--cloud", "azure", "--region", REGION, "--out", str(tmp_path)]) == 0
    assert "aws,p5.48xlarge,us-west-2,60.5,30,earlier" in (tmp_path / "offers.csv").read_text()
    capsys.readouterr()
    monkeypatch.setattr(live_aws, "make_session", lambda: boto3.Session(aws_access_key_id=None))
    monkeypatch.setattr("boto3.Session.get_credentials", lambda _: None)
    assert main(["catalog", "refresh", "--cloud", "aws"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gpufleet catalog: no AWS credentials: boto3's default chain found none")
    assert err.count("\n") == 1


def _region_prices(monkeypatch: pytest.MonkeyPatch, answer: Any) -> None:
    """Azure's price look-up per region answering `answer(region)` (raising, or a list)."""
    monkeypatch.setattr(live_azure, "region_prices", lambda region, _types: answer(region))


def _unreachable(region: str) -> list[Any]:
    raise OSError(f"prices.azure.com: Name or service not known ({region})")


@pytest.mark.parametrize(("answer", "says"), [
    (_unreachable, "1 of 1 regions not read (first: azure/swedencentral, OSError: prices.azure.com: Name or "
                   "service not known (swedencentral)); nothing written to {out}"),
    (lambda _region: [], "the price APIs gave no price for the catalog's SKUs in azure/swedencentral; nothing "
                         "written to {out}: an empty file would plan with the packaged prices"),
])
def test_a_refresh_that_fetched_nothing_exits_1_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], answer: Any, says: str
) -> None:
    _region_prices(monkeypatch, answer)
    folder = tmp_path / "refreshed"
    assert main(["catalog", "refresh", "--cloud", "azure", "--region", REGION, "--out", str(folder)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert says.format(out=folder / "offers.csv") in captured.err
    assert not folder.exists()
    assert main(["plan", "--spec", str(_spec(tmp_path)), "--catalog-dir", str(folder)]) == 2  # not silently packaged


def test_a_refresh_missing_a_region_exits_1_and_keeps_the_earlier_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    earlier = ",".join(COLUMNS) + "\naws,p5.48xlarge,us-west-2,60.5,30,earlier\n"
    (tmp_path / "offers.csv").write_text(earlier)
    found = LivePrice("azure", ND, REGION, 107.84, 32.35, "azure retail prices api", "2026-06-01T00:00:00Z")
    _region_prices(monkeypatch, lambda region: [found] if region == REGION else _unreachable(region))
    code = main(["catalog", "refresh", "--cloud", "azure", "--region", REGION, "--region", "eastus",
                 "--out", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "gpufleet catalog refresh: azure/eastus: not read (OSError" in err
    assert "1 of 2 regions not read" in err
    assert (tmp_path / "offers.csv").read_text() == earlier


def test_refresh_out_makes_its_folder(transport: FakeTransport, tmp_path: Path) -> None:
    folder = tmp_path / "new" / "refreshed"
    assert main(["catalog", "refresh", "--cloud", "azure", "--region", REGION, "--out", str(folder)]) == 0
    assert (folder / "offers.csv").read_text().startswith(",".join(COLUMNS))


def test_an_empty_refreshed_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "offers.csv").write_text(",".join(COLUMNS) + "\n")
    assert main(["plan", "--spec", str(_spec(tmp_path)), "--catalog-dir", str(tmp_path)]) == 2
    assert f"{tmp_path / 'offers.csv'}: holds no offers, so it refreshes nothing" in capsys.readouterr().err


def _row(instance_type: str, region: str, on_demand: str, spot: str) -> dict[str, str]:
    return dict(zip(COLUMNS, ("aws", instance_type, region, on_demand, spot, "AWS Price List at t"), strict=True))


def test_the_changes_list_names_every_price_that_moved_and_only_those() -> None:
    """What `catalog refresh` reports against the packaged catalog (g4dn.12xlarge in
    af-south-1 is $5.19 on demand and $0.519 spot there): `old -> new`, `-` for none."""
    from gpufleet.live.prices import changes

    catalog = load_catalog()
    rows = [
        _row("g4dn.12xlarge", "af-south-1", "5.19", "0.519"),  # unchanged: not listed
        _row("g4dn.12xlarge", "af-south-1", "5.5", "0.519"),  # on-demand moved
        _row("g4dn.12xlarge", "af-south-1", "5.19", ""),  # spot gone
        _row("g4dn.12xlarge", "xx-nowhere-1", "1.0", "0.4"),  # an offer the catalog lacks
    ]
    assert changes(catalog, rows) == [
        ("aws", "g4dn.12xlarge", "af-south-1", "5.19 -> 5.5", "0.519", "AWS Price List at t"),
        ("aws", "g4dn.12xlarge", "af-south-1", "5.19", "0.519 -> -", "AWS Price List at t"),
        ("aws", "g4dn.12xlarge", "xx-nowhere-1", "- -> 1.0", "- -> 0.4", "AWS Price List at t"),
    ]


def test_a_price_is_written_to_the_micro_dollar() -> None:
    price = LivePrice("aws", "p5.48xlarge", "us-east-1", 55.0412345678, 12.3456789, "AWS Price List", "t")
    assert (price.row()["price_usd_per_hour"], price.row()["spot_price_usd_per_hour"]) == ("55.041235", "12.345679")


def test_an_incomplete_refresh_says_what_is_missing_and_what_was_kept() -> None:
    from gpufleet.live import RegionFailure
    from gpufleet.live.prices import incomplete

    wanted = {("aws", r): ["p5.48xlarge"] for r in ("us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1")}
    failed = [RegionFailure("aws", "us-west-2", "throttled")]
    assert incomplete(wanted, failed, [], Path("out/offers.csv")) == (
        "1 of 5 regions not read (first: aws/us-west-2, throttled); nothing written to out/offers.csv: a refresh "
        "with regions missing would pass for a whole one; retry, or name the regions that answer with --region")
    assert incomplete(wanted, [], [], None) == (
        "the price APIs gave no price for the catalog's SKUs in aws/eu-west-1, aws/us-east-1, aws/us-east-2 "
        "and 2 more; nothing to write: an empty file would plan with the packaged prices")
    three = dict(list(wanted.items())[:3])
    assert incomplete(three, [], [], None) == (
        "the price APIs gave no price for the catalog's SKUs in aws/us-east-1, aws/us-east-2, aws/us-west-1; "
        "nothing to write: an empty file would plan with the packaged prices")
    assert incomplete(wanted, [], [_row("p5.48xlarge", "us-east-1", "55.04", "")], None) is None
