"""`gpufleet init`: a bare spec becomes a stack file that plans and that `pulumi up` reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gpufleet.cli import main
from gpufleet.specfile import read_yaml
from tests.conftest import fleet_of


def bare_spec(tmp_path: Path) -> Path:
    spec = tmp_path / "fleet.yaml"
    spec.write_text("# the fleet, kept as written\n" + yaml.safe_dump({**fleet_of("dev"), "name": "mlfleet"}, sort_keys=False))
    return spec


def test_init_writes_a_stack_file_that_plans_and_says_what_to_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = bare_spec(tmp_path)
    assert main(["init", str(spec), "--project-dir", str(tmp_path)]) == 0
    stack_file = tmp_path / "stacks" / "Pulumi.mlfleet.yaml"
    out = capsys.readouterr().out
    assert f"wrote {stack_file} (config key gpufleet:fleet)" in out
    assert f"gpufleet plan --spec {stack_file}" in out
    assert "pulumi stack init mlfleet" in out
    assert "pulumi up --stack mlfleet" in out
    assert read_yaml(stack_file)["config"]["gpufleet:fleet"] == read_yaml(spec)
    assert "    # the fleet, kept as written" in stack_file.read_text()
    assert main(["plan", "--spec", str(stack_file), "--format", "json"]) == 0
    assert '"fleet": "mlfleet"' in capsys.readouterr().out


def test_init_names_the_stack_and_refuses_to_overwrite_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = bare_spec(tmp_path)
    args = ["init", str(spec), "--project-dir", str(tmp_path), "--stack", "prod.eu"]
    assert main(args) == 0
    stack_file = tmp_path / "stacks" / "Pulumi.prod.eu.yaml"
    stack_file.write_text(stack_file.read_text() + "# edited by hand\n")
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{stack_file}: exists; pass --force to replace it" in err
    assert "edited by hand" in stack_file.read_text()
    assert main([*args, "--force"]) == 0
    assert "edited by hand" not in stack_file.read_text()


def test_init_validates_the_spec_and_the_stack_name_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({**fleet_of("dev"), "pools": [{"name": "infer", "accelerator": "H1000", "gpus": 8}]}))
    assert main(["init", str(spec), "--project-dir", str(tmp_path)]) == 2
    assert "accelerator: unknown accelerator 'H1000'" in capsys.readouterr().err
    assert main(["init", str(bare_spec(tmp_path)), "--project-dir", str(tmp_path), "--stack", "a/b"]) == 2
    assert "'a/b' is not a Pulumi stack name" in capsys.readouterr().err
    assert not (tmp_path / "stacks").exists()


def _project(root: Path, stack_config_dir: str | None) -> Path:
    """A Pulumi project folder holding the dev stack where its Pulumi.yaml says stacks live."""
    project: dict[str, object] = {"name": "mine", "runtime": "python"}
    if stack_config_dir:
        project["stackConfigDir"] = stack_config_dir
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    stacks = root / (stack_config_dir or ".")
    stacks.mkdir(parents=True, exist_ok=True)
    (stacks / "Pulumi.mine.yaml").write_text(yaml.safe_dump({"config": {"gpufleet:fleet": fleet_of("dev")}}))
    return root


@pytest.mark.parametrize("stack_config_dir", ["stacks", "config/stacks", None])
def test_stack_is_found_in_the_project_around_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stack_config_dir: str | None
) -> None:
    """As the Pulumi CLI does: the nearest Pulumi.yaml at or above the working folder, and its
    stackConfigDir; not the folder gpufleet happens to be installed in."""
    root = _project(tmp_path / "repo", stack_config_dir)
    (root / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(root / "deep" / "er")
    assert main(["plan", "--stack", "mine", "--format", "json", "--stable"]) == 0
    assert '"stack": "mine"' in capsys.readouterr().out


def test_stack_outside_any_project_is_a_command_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "--stack", "dev"]) == 2
    err = capsys.readouterr().err
    assert f"--stack: no Pulumi project (Pulumi.yaml) in {tmp_path}" in err
    assert "give the stack file with --spec FILE" in err


def test_a_spec_planned_as_a_file_and_as_the_stack_init_made_diffs_to_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 30: `plan --spec fleet.yaml` planned as stack dev while `init` named the stack after
    the fleet, so diffing the two ways reported +79 -79 resources and protected data removed."""
    spec = bare_spec(tmp_path)
    assert main(["init", str(spec), "--project-dir", str(tmp_path)]) == 0
    stack_file = tmp_path / "stacks" / "Pulumi.mlfleet.yaml"
    capsys.readouterr()
    assert main(["diff", str(spec), str(stack_file), "--format", "json"]) == 0
    change = json.loads(capsys.readouterr().out)
    assert (change["base"], change["head"], change["resources"], change["errors"]) == ("mlfleet", "mlfleet", [], 0)
    assert main(["plan", "--spec", str(spec), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["stack"] == "mlfleet"


def test_init_of_a_stack_file_keeps_its_stack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Pulumi.<stack>.yaml plans as <stack>, so init makes that stack, not the fleet's name."""
    source = tmp_path / "Pulumi.staging.yaml"
    source.write_text(yaml.safe_dump({"config": {"gpufleet:fleet": {**fleet_of("dev"), "name": "mlfleet"}}}))
    project = tmp_path / "project"
    assert main(["init", str(source), "--project-dir", str(project)]) == 0
    assert (project / "stacks" / "Pulumi.staging.yaml").exists()
    assert "pulumi stack init staging" in capsys.readouterr().out


def test_init_sizes_the_supernet_of_a_spec_without_one_for_its_pools(tmp_path: Path) -> None:
    """A spec without `network:` gets the smallest 10.0.0.0 supernet whose region slots hold
    its pools (commented), so its addresses never push nodes to dearer regions; a small fleet
    gets the smallest supernet there is, a region-scale one a larger one."""
    pools = [{"name": "train", "accelerator": "H100", "gpus": 16384, "gpus_per_node": 8, "interconnect": "rdma",
              "placement": {"unit_nodes": 64}, "min_share": {"aws": 0.3, "azure": 0.3}}]
    clouds = {"aws": {"regions": ["us-east-1", "us-east-2"]}, "azure": {"regions": ["eastus"]}}
    sizes = {}
    for name, fleet in (("small", {**fleet_of("dev"), "name": "small"}), ("big", {"name": "big", "clouds": clouds, "pools": pools})):
        fleet.pop("network", None)
        spec = tmp_path / f"{name}.yaml"
        spec.write_text("# kept\n" + yaml.safe_dump(fleet, sort_keys=False))
        assert main(["init", str(spec), "--project-dir", str(tmp_path)]) == 0
        text = (tmp_path / "stacks" / f"Pulumi.{name}.yaml").read_text()
        assert "    # kept" in text
        assert "# sized by gpufleet init" in text
        sizes[name] = read_yaml(tmp_path / "stacks" / f"Pulumi.{name}.yaml")["config"]["gpufleet:fleet"]["network"]
    assert sizes == {"small": {"supernet": "10.0.0.0/12"}, "big": {"supernet": "10.0.0.0/10"}}
