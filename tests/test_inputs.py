"""Inputs that cannot hurt (issue 31): every file a command reads is bounded before it is parsed
and checked before it is used, and a mistake in it is an exit 2 naming the input, never a
traceback, a hang, or a message that renders an unbounded value."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet import safeyaml
from gpufleet.catalog.overlay import COLUMNS, formula_problem
from gpufleet.cli import main
from gpufleet.errors import shown
from gpufleet.textfile import SPEC_BYTES
from tests.conftest import fleet_of

TOKEN = "k8s-aws-v1.c2VjcmV0LXRva2Vu"  # what a kubeconfig's credentials look like


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err


def stack_file(tmp_path: Path, body: str, name: str = "Pulumi.t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def dev_spec(tmp_path: Path, **changes: Any) -> Path:
    return stack_file(tmp_path, yaml.safe_dump({"config": {"gpufleet:fleet": {**fleet_of("dev"), **changes}}}))


def alias_bomb() -> str:
    """About 1 KB that expands to 10^9 values."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    return "\n".join([*lines, "name: *a8", ""])


# -- YAML --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "expected"), [
    (alias_bomb(), "column 5: YAML: more than 200,000 values once its aliases are expanded"),
    ("name: " + "[" * 600 + "]" * 600 + "\n", "YAML: nested more than 64 levels deep"),
    ("name: &a [*a]\n", "YAML: an alias refers to a node that contains it"),
    ("name: " + "9" * 5000 + "\n", "YAML: an integer of 5,000 digits (at most 100)"),
    ("name: 2024-13-45\n", "YAML: cannot read the value: month must be in 1..12"),
    ("name: !!float abc\n", "YAML: cannot read the value: could not convert string to float"),
])
def test_yaml_beyond_the_bounds_exits_2_at_once_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, expected: str
) -> None:
    started = time.perf_counter()
    code, err = run(capsys, "plan", "--spec", str(stack_file(tmp_path, body)))
    assert (code, time.perf_counter() - started < 5) == (2, True)
    assert expected in err
    assert len(err) < 1000


def test_a_duplicate_key_is_refused_as_the_pulumi_cli_refuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (Path("stacks/Pulumi.dev.yaml").read_text(encoding="utf-8")
            .replace("      monthly_usd: 5000\n", "      monthly_usd: 5000\n      monthly_usd: 50000000\n"))
    code, err = run(capsys, "plan", "--spec", str(stack_file(tmp_path, body)))
    assert code == 2
    assert "key 'monthly_usd' is given twice (lines 6 and 7); the Pulumi CLI refuses duplicate keys" in err


def test_yaml_merge_keys_still_override_as_yaml_says() -> None:
    assert safeyaml.load("base: &b {a: 1, b: 2}\nboth:\n  <<: *b\n  b: 3\n")["both"] == {"a": 1, "b": 3}


def test_a_spec_file_larger_than_the_bound_is_not_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prices = "".join(f"      aws/us-east-1/p{i}.xlarge: 1.0\n" for i in range(SPEC_BYTES // 30))
    body = Path("stacks/Pulumi.dev.yaml").read_text(encoding="utf-8") + "    prices:\n" + prices
    started = time.perf_counter()
    code, err = run(capsys, "plan", "--spec", str(stack_file(tmp_path, body)))
    assert (code, time.perf_counter() - started < 5) == (2, True)
    assert "spec file is larger than 1 MiB, the most gpufleet reads" in err


def test_a_message_never_renders_an_unbounded_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = dev_spec(tmp_path, pools=[{"name": "infer", "accelerator": "T" * 200_000, "gpus": 4}])
    code, err = run(capsys, "plan", "--spec", str(spec))
    assert code == 2
    assert "pools[0].accelerator: unknown accelerator 'TTTT" in err
    assert len(err) < 2000
    assert shown(10**5000) == "<an integer of about 5,000 digits>"
    assert len(shown([[[[[[list(range(10_000))]]]]]])) < 100


# -- the spec's numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "expected"), [
    ({"budget": {"monthly_usd": float("inf")}}, "budget.monthly_usd: Input should be a finite number"),
    ({"budget": {"monthly_usd": 1e308}}, "budget.monthly_usd: above the 1,000,000,000 USD a month"),
    ({"budget": {"commitments": {"aws": float("inf")}}}, "budget.commitments.aws: Input should be a finite"),
    ({"prices": {"aws/us-east-1/g4dn.xlarge": 1e308}}, "prices.aws/us-east-1/g4dn.xlarge: above the 1,000 USD"),
    ({"prices": {"aws/us-east-1/g4dn.xlarge": float("inf")}}, "prices.aws/us-east-1/g4dn.xlarge: Input should be"),
    ({"pools": [{"name": "infer", "accelerator": "T4", "gpus": True}]}, "pools[0].gpus: a number is expected here"),
    ({"pools": [{"name": "infer", "accelerator": "T4", "gpus": 4, "pin": {"aws/us-east-1": 10**30}}]},
     "pools[0].pin.aws/us-east-1: above the 1,000,000 nodes"),
    ({"pools": [{"name": "infer", "accelerator": "T4", "gpus": 4, "gpus_per_node": 1, "pin": {"aws/us-east-1": 5}}]},
     "pools[0].pin.aws/us-east-1: 5 nodes is more than the 4 that 4 GPUs fill on 1-GPU nodes"),
    ({"storage": [{"name": "models", "size_tib": 1e300, "colocate_with": ["infer"]}]},
     "storage[0].size_tib: above the 100,000 TiB"),
    ({"quotas": {"aws": {"us-east-1": {"L-DB2E81BA": True}}}}, "quotas.aws.us-east-1.L-DB2E81BA: a number is"),
    ({"placement": {"stability_tolerance": float("nan")}}, "placement.stability_tolerance: Input should be a finite"),
])
def test_numbers_are_finite_bounded_and_never_booleans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, Any], expected: str
) -> None:
    code, err = run(capsys, "plan", "--spec", str(dev_spec(tmp_path, **changes)), "--format", "json")
    assert code == 2
    assert expected in err


# -- JSON inputs -------------------------------------------------------------------------------


def plan_doc(**changes: Any) -> dict[str, Any]:
    """The least plan document the readers take."""
    placement = {"cloud": "aws", "region": "us-east-1", "instance_type": "g4dn.xlarge", "nodes": 1, "gpus": 1}
    return {"stack": "s", "pools": [{"name": "infer", "placements": [placement]}],
            "cost": {"monthly_usd": 100.0, "by_cloud": {"aws": 100.0}}, "resources": [], "policies": [],
            **changes}


def with_nodes(value: str) -> str:
    return json.dumps(plan_doc()).replace('"nodes": 1', f'"nodes": {value}')


DEEP = "[" * 5000 + "]" * 5000
BAD_PLANS = [
    ('{"pools": ' + DEEP + ', "cost": {"monthly_usd": 1}}', "nested more than 64 levels deep"),
    (DEEP, "nested more than 64 levels deep"),
    (json.dumps(plan_doc(pools="x")), "pools: Input should be a valid list (got 'x')"),
    (with_nodes('"lots"'), "pools[0].placements[0].nodes: Input should be a valid integer (got 'lots')"),
    (with_nodes("true"), "pools[0].placements[0].nodes: Input should be a valid integer (got True)"),
    (with_nodes("1e999"), "1e999 is beyond the largest finite number"),
    (with_nodes("9" * 5000), "an integer of 5,000 digits (at most 100)"),
    (with_nodes("NaN"), "NaN is not a JSON value"),
    (json.dumps({k: v for k, v in plan_doc().items() if k != "cost"}), "cost: required key is missing"),
    (json.dumps(plan_doc(cost={"monthly_usd": "lots"})), "cost.monthly_usd: Input should be a valid number"),
    (json.dumps(plan_doc(resources=[{"urn": "u", "type": "t", "protect": "yes"}])), "resources[0].protect"),
    (json.dumps(plan_doc(policies=[{"policy": "p", "enforcement": "mandatory", "violations": 3}])),
     "policies[0].violations"),
    (json.dumps([1, 2]), "not a gpufleet plan (no 'pools' key)"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_PLANS)
def test_diff_of_a_bad_plan_exits_2_naming_the_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(plan_doc()))
    for argv in (["diff", str(bad), str(good)], ["diff", str(good), str(bad), "--format", "json"]):
        code, err = run(capsys, *argv)
        assert code == 2
        assert f"{bad}" in err
        assert expected in err


@pytest.mark.parametrize(("text", "expected"), BAD_PLANS)
def test_a_bad_previous_plan_exits_2_before_planning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    bad = tmp_path / "previous.json"
    bad.write_text(text)
    code, err = run(capsys, "plan", "--stack", "dev", "--previous", str(bad))
    assert code == 2
    assert "in --previous" in err
    assert expected in err


def test_a_minimal_plan_diffs_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(plan_doc()))
    assert main(["diff", str(good), str(good)]) == 0
    assert "+0 ~0 ±0 -0" in capsys.readouterr().out


@pytest.mark.parametrize(("text", "expected"), [
    ('[{"type": "aws:s3/bucket:Bucket", "name": "b", "inputs": ' + '{"a": ' * 3000 + "1" + "}" * 3000 + "}]",
     "nested more than 64 levels deep"),
    ('[{"type": "aws:s3/bucket:Bucket", "name": "b", "inputs": {"n": 1e999}}]', "1e999 is beyond"),
    ('[{"type": "aws:s3/bucket:Bucket", "name": "b", "inputs": {"n": ' + "1" * 5000 + "}}]", "5,000 digits"),
    ('[{"type": "aws:s3/bucket:Bucket", "name": ' + '"x' * 1 + 'y" , "protect": "no"}]', "resources[0].protect"),
])
def test_check_resources_of_a_bad_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    resources = tmp_path / "resources.json"
    resources.write_text(text)
    code, err = run(capsys, "check", "--resources", str(resources), "--spec", str(dev_spec(tmp_path)))
    assert code == 2
    assert f"--resources {resources}" in err
    assert expected in err


def test_a_json_string_nested_past_the_stack_inside_inputs_is_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = '{"a": ' * 100_000 + "1" + "}" * 100_000
    resources = tmp_path / "resources.json"
    resources.write_text(json.dumps([{"type": "aws:s3/bucketPolicy:BucketPolicy", "name": "p",
                                      "region": "us-east-1", "inputs": {"bucket": "b", "policy": policy}}]))
    code, _ = run(capsys, "check", "--resources", str(resources), "--spec", str(dev_spec(tmp_path)))
    assert code == 1  # judged: a policy that cannot be read denies nothing (S3.5)


@pytest.mark.parametrize(("kubeconfig", "expected"), [
    (f"apiVersion: v1\nusers:\n- name: u\n  user: {{token: {TOKEN}\n", "its YAML cannot be read at line"),
    (f"clusters: 5\nusers: [{{name: u, user: {{token: {TOKEN}}}}}]\n", "not a kubeconfig: expected a mapping"),
    (f"users: [{{name: u, user: {{token: {TOKEN}}}}}]\n", "with a cluster that names its server"),
    (f"[{TOKEN}]", "not a kubeconfig"),
    ("a: &a [*a]\n", "its YAML cannot be read"),
])
def test_a_malformed_kubeconfig_output_exits_2_and_never_prints_its_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kubeconfig: str, expected: str
) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"aws/us-east-1/kubeconfig": kubeconfig}))
    code, err = run(capsys, "kubeconfig", "--stack", "dev", "--outputs", str(outputs))
    assert code == 2
    assert "--outputs: output aws/us-east-1/kubeconfig: " in err
    assert expected in err
    assert TOKEN not in err


def test_a_bad_outputs_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text("[" * 5000 + "]" * 5000)
    code, err = run(capsys, "kubeconfig", "--stack", "dev", "--outputs", str(outputs))
    assert code == 2
    assert f"--outputs {outputs}: nested more than 64 levels deep" in err


# -- refreshed offers (GPUFLEET_CATALOG_DIR/offers.csv) ----------------------------------------


@pytest.mark.parametrize(("rows", "expected"), [
    (["aws,g4dn.xlarge,us-east-1,0.5,,aws price list api at 2025-01-01",
      "aws,g4dn.xlarge,us-east-1,50,,aws price list api at 2025-01-02"],
     "row 3: repeats the offer of row 2 (aws/g4dn.xlarge/us-east-1); one row per cloud, instance type and region"),
    (["aws,g4dn.xlarge,us-east-1,0.5,,=cmd|' /C calc'!A0"], "row 2: source \"=cmd|' /C calc'!A0\" starts like a"),
    (["aws,g4dn.xlarge,us-east-1,0.5,,@SUM(1+1)"], "row 2: source '@SUM(1+1)' starts like a spreadsheet formula"),
])
def test_a_refreshed_offers_file_with_repeated_rows_or_formulas_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list[str], expected: str
) -> None:
    (tmp_path / "offers.csv").write_text("\n".join([",".join(COLUMNS), *rows]) + "\n")
    code, err = run(capsys, "plan", "--stack", "dev", "--catalog-dir", str(tmp_path))
    assert code == 2
    assert f"{tmp_path / 'offers.csv'}: {expected}" in err


def test_the_packaged_offers_hold_one_row_per_offer_and_no_formula() -> None:
    rows = list(csv.DictReader((Path(__file__).parent.parent / "gpufleet/catalog/data/offers.csv").open()))
    offers = [(r["cloud"], r["instance_type"], r["region"]) for r in rows]
    assert len(offers) == len(set(offers))
    assert not [r["source"] for r in rows if formula_problem("source", r["source"])]
