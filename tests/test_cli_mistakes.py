"""Issue 20: every mistake in the first hour gets a clear answer and the right exit code, and
every output is honest (no plan that depends on a file name, no JSON that is not JSON)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, cast

import pytest

from gpufleet.cli import main
from gpufleet.errors import InfeasibleError, SpecError
from gpufleet.offline import SpecSource, load_source, plan_document, run_plan
from gpufleet.placement import place
from gpufleet.planjson import dumps
from gpufleet.report import render_plan
from gpufleet.safejson import loads
from gpufleet.spec import FleetSpec

SPEC = """\
name: mlfleet
network: {supernet: 10.64.0.0/10}
clouds: {aws: {regions: [us-east-1]}, azure: {regions: [eastus]}}
pools:
  - {name: infer, accelerator: T4, gpus: 2, gpus_per_node: 1, capacity: spot, min_share: {aws: 0.5}}
"""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write(folder: Path, name: str, text: str = SPEC) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# -- wrong answers ----------------------------------------------------------------------------


def test_the_same_spec_under_two_file_names_diffs_to_no_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "diff", str(write(tmp_path, "fleet.yaml")), str(write(tmp_path, "other.yaml")),
        "--format", "json",
    )
    change = json.loads(out)
    assert code == 0, out
    assert all(not rows for key, rows in change.items() if key in ("added", "removed", "replaced"))
    assert "+0 ~0 ±0 -0" in main_headline(tmp_path, capsys)


def main_headline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    _, out, _ = run(capsys, "diff", str(tmp_path / "fleet.yaml"), str(tmp_path / "other.yaml"))
    return out.splitlines()[0]


@pytest.mark.parametrize(
    ("name", "stack_name", "expected"),
    [("fleet.yaml", None, "mlfleet"), ("Pulumi.prod-us.yaml", None, "prod-us"),
     ("fleet.yaml", "prod_eu.2", "prod_eu.2"), ("Pulumi.prod-us.yaml", "staging", "staging")],
)
def test_the_stack_name_never_comes_from_an_arbitrary_file_name(
    tmp_path: Path, name: str, stack_name: str | None, expected: str
) -> None:
    _, stack, _ = load_source(SpecSource(spec=write(tmp_path, name), stack_name=stack_name))
    assert stack == expected


def test_stack_name_is_validated_and_used_by_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = str(write(tmp_path, "fleet.yaml"))
    code, _, err = run(capsys, "plan", "--spec", spec, "--stack-name", "prod eu")
    assert code == 2
    assert "invalid command line" in err
    assert "--stack-name: 'prod eu' is not a Pulumi stack name" in err
    code, out, _ = run(capsys, "plan", "--spec", spec, "--stack-name", "prod-eu", "--format", "json")
    assert code == 0
    assert json.loads(out)["stack"] == "prod-eu"


def test_help_explains_the_default_stack_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--stack-name NAME" in help_text
    assert "Pulumi.<name>.yaml" in help_text
    assert "else the fleet's name" in help_text


def test_a_solver_that_contradicts_itself_is_infeasible_not_a_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    # 10,000,000 H100 (above the spec's bound, so validated by pydantic alone): HiGHS found a
    # placement and called the model infeasible; the plan said "placement Infeasible", exit 0.
    # The cluster limits are lifted (pydantic alone does not refuse it), and so are the address
    # ranges (no network holds 1.25 million nodes), so that they do not make the model
    # infeasible before the solver can contradict itself.
    from gpufleet import addresses

    monkeypatch.setattr(addresses, "may_bind", lambda *_: False)
    lifted = {"nodes_per_node_group": 10_000_000, "nodes_per_cluster": 10_000_000, "nodes_per_agent_pool": 10_000_000}
    spec = FleetSpec.model_validate({
        "name": "mlfleet", "network": {"supernet": "10.64.0.0/10"},
        "clouds": {"aws": {"regions": ["us-east-1"]}, "azure": {"regions": ["eastus"]}},
        "limits": {"aws": {"us-east-1": lifted}, "azure": {"eastus": lifted}},
        "pools": [{"name": "train", "accelerator": "H100", "gpus": 10_000_000, "gpus_per_node": 8,
                   "min_share": {"aws": 0.25, "azure": 0.25}}],
    })
    with pytest.raises(InfeasibleError) as error:
        place(spec, spec.catalog())
    assert str(error.value).startswith("no placement: the solver found a placement and then called")
    assert str(error.value).endswith("(HiGHS status: Infeasible)")


def test_every_solver_status_is_explained() -> None:
    for status in ("Time limit reached", "Empty", "Unknown"):
        message = str(InfeasibleError.solver_stopped(status, 60.0))
        assert message.startswith("no placement: ")
        assert message.endswith(f"(HiGHS status: {status})")
    assert "60 s time limit" in str(InfeasibleError.solver_stopped("Time limit reached", 60.0))


def test_an_unknown_gap_is_null_and_json_never_holds_infinity(tmp_path: Path) -> None:
    made = run_plan(SpecSource(spec=write(tmp_path, "fleet.yaml")))
    unproven = dataclasses.replace(
        made.plan, solver=dataclasses.replace(made.plan.solver, optimality_gap=math.inf)
    )
    document = cast(dict[str, Any], plan_document(unproven, made.recording, made.verdicts))
    assert document["solver"]["optimality_gap"] is None
    assert json.loads(render_plan(document, "json"))["solver"]["optimality_gap"] is None
    assert "(gap unknown)" in render_plan(document, "table", 200)
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        dumps({"gap": math.inf})
    with pytest.raises(SpecError, match="Infinity is not a JSON value"):
        loads('{"gap": Infinity}', "plan.json")


@pytest.mark.parametrize("gpus", [10**7, 10**9, 10**20])
def test_huge_gpu_counts_blame_the_gpu_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gpus: int
) -> None:
    spec = write(tmp_path, "big.yaml", SPEC.replace("gpus: 2,", f"gpus: {gpus},"))
    code, out, err = run(capsys, "plan", "--spec", str(spec))
    assert (code, out) == (2, "")
    assert f"pools[0].gpus: {gpus:,} GPUs is above the 1,000,000 one pool may hold" in err
    assert "HiGHS" not in err
    assert "shares" not in err


def test_pr_comment_without_plans_is_not_a_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "pr-comment", str(tmp_path / "nonexistent"), str(tmp_path / "nonexistent2"))
    assert (code, out) == (2, "")
    assert f"base_dir: {tmp_path / 'nonexistent'} does not exist" in err
    (tmp_path / "base").mkdir()
    (tmp_path / "head").mkdir()
    code, out, err = run(capsys, "pr-comment", str(tmp_path / "base"), str(tmp_path / "head"))
    assert (code, out) == (2, "")
    assert "holds no plan (*.json) and no failed plan (*.error): nothing was planned" in err
    assert "all mandatory policies pass" not in out


# -- tracebacks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["plan", "--spec", "{spec}"], ["check", "--spec", "{spec}"], ["diff", "{spec}", "{spec}"],
     ["policy-config", "--spec", "{spec}"]],
)
def test_a_spec_that_is_not_utf8_names_the_file_and_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    spec = tmp_path / "latin1.yaml"
    spec.write_bytes(b"# caf\xe9\n" + SPEC.encode())
    code, out, err = run(capsys, *(a.format(spec=spec) for a in argv))
    assert (code, out) == (2, "")
    assert f"{spec}:byte 5 (line 1): spec file is not UTF-8 text (byte 0xe9); save it as UTF-8" in err
    assert "Traceback" not in err


def test_out_into_a_missing_folder_or_onto_a_folder_is_refused_before_planning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(write(tmp_path, "fleet.yaml"))
    code, _, err = run(capsys, "plan", "--spec", spec, "--out", str(tmp_path / "no" / "plan.json"))
    assert code == 2
    assert f"--out: folder {tmp_path / 'no'} does not exist; create it first" in err
    code, _, err = run(capsys, "policy-config", "--spec", spec, "--out", str(tmp_path))
    assert code == 2
    assert f"--out: {tmp_path} is a folder; give a file name in it" in err
    code, _, err = run(capsys, "catalog", "--out", str(tmp_path / "fleet.yaml" / "x"))
    assert code == 2
    assert "is not a folder" in err


def test_command_line_mistakes_are_labelled_as_such(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check")
    assert code == 2
    assert err.startswith("gpufleet check: invalid command line:\n  check: give --stack NAME")
    spec = str(write(tmp_path, "fleet.yaml"))
    code, _, err = run(capsys, "plan", "--spec", spec, "--previous", spec)
    assert code == 2
    assert err.startswith("gpufleet plan: invalid command line in --previous:\n")
    assert "not JSON" in err
    assert "invalid fleet spec" not in err


# -- silently accepted ------------------------------------------------------------------------


def test_min_nodes_above_the_planned_nodes_is_refused_at_plan_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without gpus_per_node the spec allows up to 16 one-GPU nodes; the price book makes two
    # 8-GPU nodes the cheapest placement.
    text = SPEC.replace("gpus: 2, gpus_per_node: 1, capacity: spot, min_share: {aws: 0.5}",
                        "gpus: 16, autoscale: {min_nodes: 10}")
    text = text.replace("accelerator: T4", "accelerator: H100")
    text += "prices: {aws/us-east-1/p5.48xlarge: 1.0}\n"
    code, _, err = run(capsys, "plan", "--spec", str(write(tmp_path, "fleet.yaml", text)))
    assert code == 2
    assert "pools[0].autoscale.min_nodes: min_nodes 10 is above the 2 nodes placed for pool infer; at most 2" in err


def test_catalog_accelerator_matches_without_case_and_filters_regions(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalog", "--accelerator", "h100", "--format", "json")
    catalog = json.loads(out)
    assert code == 0
    assert catalog["offers"]
    assert {o["accelerator"] for o in catalog["offers"]} == {"H100"}
    assert {(r["cloud"], r["region"]) for r in catalog["regions"]} == {
        (o["cloud"], o["region"]) for o in catalog["offers"]
    }


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [("--accelerator", "H1000", "--accelerator: unknown accelerator 'H1000' (did you mean 'H100'?); known: A10,"),
     ("--region", "eu-nort-1", "--region: unknown aws or azure region 'eu-nort-1' (did you mean 'eu-north-1'?)")],
)
def test_catalog_refuses_unknown_names(
    capsys: pytest.CaptureFixture[str], flag: str, value: str, expected: str
) -> None:
    code, out, err = run(capsys, "catalog", flag, value)
    assert (code, out) == (2, "")
    assert expected in err
