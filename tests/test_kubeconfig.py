"""`gpufleet kubeconfig` (gpufleet.kubeconfig): the merged file kubectl and SkyPilot read, and
every refusal of a stack output that is not a kubeconfig (issue 32: what a user would see).

The file's mode on create and overwrite is tested in tests/test_safety_edges.py, links and
atomic replacement in tests/test_safewrite.py, a context per cluster of a grown fleet in
tests/test_clusters.py.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.cli import main
from gpufleet.errors import CommandLineError, Problem
from gpufleet.kubeconfig import merged_kubeconfig, parse_kubeconfig, read_outputs, render

EKS_USER = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
                     "args": ["eks", "get-token", "--cluster-name", "c", "--region", "us-east-1"]}}
AKS_USER = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubelogin",
                     "args": ["get-token", "--login", "azurecli", "--server-id", "S"]}}
EKS_CLUSTER = {"server": "https://ABC.gr7.us-east-1.eks.amazonaws.com", "certificate-authority-data": "RUtT"}
AKS_CLUSTER = {"server": "https://d.privatelink.eastus.azmk8s.io:443", "certificate-authority-data": "QUtT"}
# `aws eks update-kubeconfig` writes JSON-compatible YAML; the program's EKS output is JSON.
EKS = json.dumps({
    "apiVersion": "v1", "kind": "Config", "current-context": "c",
    "clusters": [{"name": "c", "cluster": EKS_CLUSTER}], "users": [{"name": "c", "user": EKS_USER}],
    "contexts": [{"name": "c", "context": {"cluster": "c", "user": "c"}}],
})
# A kubeconfig holding more than the cluster its current context names (an admin entry, a stale
# one): the merged file must reach what `kubectl --kubeconfig source` reaches, not the first listed.
STALE_CLUSTER = {"server": "https://stale.example:443"}
STALE_USER = {"token": "stale-admin-token"}
AKS = yaml.safe_dump({
    "apiVersion": "v1", "kind": "Config",
    "clusters": [{"name": "stale", "cluster": STALE_CLUSTER}, {"name": "aks", "cluster": AKS_CLUSTER}],
    "users": [{"name": "admin", "user": STALE_USER}, {"name": "clusterUser", "user": AKS_USER}],
    "contexts": [{"name": "admin", "context": {"cluster": "stale", "user": "admin"}},
                 {"name": "aks", "context": {"cluster": "aks", "user": "clusterUser"}}],
    "current-context": "aks",
})
BOTH = {("aws", "us-east-1"): EKS, ("azure", "eastus"): AKS}
KEY = "aws/us-east-1/kubeconfig"


def _entry(name: str, cluster: dict[str, Any], user: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    return ({"name": name, "cluster": cluster}, {"name": name, "user": user},
            {"name": name, "context": {"cluster": name, "user": name}})


def _document(*entries: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    clusters, users, contexts = (list(column) for column in zip(*entries, strict=True))
    return {"apiVersion": "v1", "kind": "Config", "clusters": clusters, "users": users, "contexts": contexts,
            "current-context": contexts[0]["name"]}


def _refusal(call: Any, *args: Any) -> list[Problem]:
    with pytest.raises(CommandLineError) as caught:
        call(*args)
    return caught.value.problems


# -- the merged file ----------------------------------------------------------------------------


def test_each_cluster_is_one_cluster_user_and_context_named_fleet_cloud_region() -> None:
    """The whole document kubectl reads: each context points at its own cluster and user, and
    the first is current; the source's own names (`c`, `aks`, `clusterUser`) are gone."""
    assert merged_kubeconfig("llm", BOTH, redact=False) == _document(
        _entry("llm-aws-us-east-1", EKS_CLUSTER, EKS_USER),
        _entry("llm-azure-eastus", AKS_CLUSTER, AKS_USER),
    )


def test_the_offline_preview_hides_every_server_and_ca_but_keeps_the_exec_credentials() -> None:
    assert merged_kubeconfig("llm", BOTH, redact=True) == _document(
        _entry("llm-aws-us-east-1", {"server": "https://llm-aws-us-east-1.invalid"}, EKS_USER),
        _entry("llm-azure-eastus", {"server": "https://llm-azure-eastus.invalid"}, AKS_USER),
    )


def _source(**document: Any) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Config", **document})


ONE_CLUSTER = {"clusters": [{"name": "stale", "cluster": STALE_CLUSTER}, {"name": "aks", "cluster": AKS_CLUSTER}]}


@pytest.mark.parametrize(("source", "cluster", "user"), [
    pytest.param(_source(**ONE_CLUSTER, users=[{"name": "u", "user": AKS_USER}]), STALE_CLUSTER, AKS_USER,
                 id="no contexts: the first cluster and user"),
    pytest.param(_source(**ONE_CLUSTER), STALE_CLUSTER, {}, id="no users: the cluster, no credentials"),
    pytest.param(_source(**ONE_CLUSTER, users=[{"name": "u", "user": AKS_USER}],
                         contexts=[{"name": "x", "context": {"cluster": "aks", "user": "u"}}],
                         **{"current-context": "gone"}),
                 AKS_CLUSTER, AKS_USER, id="current-context names none: the first context"),
    pytest.param(_source(**ONE_CLUSTER, users=[{"name": "u", "user": AKS_USER}],
                         contexts=[{"name": "x", "context": {"cluster": "gone", "user": "gone"}}]),
                 STALE_CLUSTER, AKS_USER, id="a context naming no cluster or user: the first ones"),
    pytest.param(_source(**ONE_CLUSTER, contexts=[{"name": "x"}, {"name": "y", "context": {"cluster": "aks"}}],
                         **{"current-context": "x"}),
                 STALE_CLUSTER, {}, id="a context without its references: the first cluster"),
])
def test_a_sparse_kubeconfig_falls_back_to_its_first_entries(
    source: str, cluster: dict[str, Any], user: dict[str, Any]
) -> None:
    """What the module promises for an entry it cannot find by name (docstring of _first): the
    first listed, or nothing; never a crash on a kubeconfig parse_kubeconfig accepted."""
    merged = merged_kubeconfig("f", {("azure", "eastus"): source}, redact=False)
    assert merged == _document(_entry("f-azure-eastus", cluster, user))


def test_the_written_kubeconfig_is_the_merged_document_and_nothing_else() -> None:
    config, sky = render("llm", BOTH, redact=False)
    assert yaml.safe_load(config) == merged_kubeconfig("llm", BOTH, redact=False)
    assert not [line for line in config.splitlines() if line.startswith("#")]  # no "offline preview" note
    assert yaml.safe_load(sky) == {"kubernetes": {"allowed_contexts": ["llm-aws-us-east-1", "llm-azure-eastus"]}}


def test_the_offline_preview_says_so_and_its_next_steps_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The preview's head names the two commands to run after `pulumi up`: the Pulumi one writes
    the file the gpufleet one reads, with the flag read_outputs demands, and the gpufleet one
    runs as printed (its placeholder NAME the stack)."""
    config, _ = render("llm", BOTH, redact=True)
    head = [line for line in config.splitlines() if line.startswith("#")]
    assert config.startswith("# gpufleet kubeconfig, offline preview")
    assert yaml.safe_load(config) == merged_kubeconfig("llm", BOTH, redact=True)
    up, pulumi, command = re.findall(r"`([^`]+)`", "\n".join(head))
    assert up == "pulumi up"
    export, written = (part.strip() for part in pulumi.split(">"))
    assert export == "pulumi stack output --json --show-secrets"
    argv = shlex.split(command)
    assert argv[:2] == ["gpufleet", "kubeconfig"]
    outputs, out = tmp_path / "outputs.json", tmp_path / "gpufleet"
    outputs.write_text(json.dumps({KEY: EKS}))
    replaced = {"NAME": "dev", written: str(outputs), "~/.kube/gpufleet": str(out)}
    assert main([replaced.get(arg, arg) for arg in argv[1:]]) == 0
    assert [c["name"] for c in yaml.safe_load(out.read_text())["contexts"]] == ["dev-aws-us-east-1"]
    assert f"# wrote {out}" in capsys.readouterr().out


# -- refusals: exit 2, the output named, its text never shown -------------------------------------


NOT_A_KUBECONFIG = ("not a kubeconfig: expected a mapping whose clusters, users and contexts are lists, "
                    "with a cluster that names its server")
UNREADABLE = "not a kubeconfig: its YAML cannot be read{} (its text is not shown: it may hold credentials)"


@pytest.mark.parametrize(("text", "message"), [
    ("apiVersion: v1\nkind: Config\nclusters: x: [\n", UNREADABLE.format(" at line 3")),
    ("apiVersion: v1\nusers: [{name: u, user: {token: \x07secret}}]\n", UNREADABLE.format("")),  # no mark
    (_source(**ONE_CLUSTER, users={"u": {"token": "t"}}), NOT_A_KUBECONFIG),
    (_source(**ONE_CLUSTER, contexts={"x": {"cluster": "aks"}}), NOT_A_KUBECONFIG),
    (_source(clusters=[{"name": "c", "cluster": {"server": 443}}]), NOT_A_KUBECONFIG),
    (_source(clusters=[{"name": "c", "cluster": {"server": ["https://a"]}}]), NOT_A_KUBECONFIG),
    (_source(clusters=[{"name": "c", "cluster": {"server": ""}}]), NOT_A_KUBECONFIG),
    (_source(clusters={"c": {"server": "https://a"}}), NOT_A_KUBECONFIG),
])
def test_a_stack_output_that_is_not_a_kubeconfig_is_named_and_never_shown(text: str, message: str) -> None:
    """A list where kubectl expects one, a server that is not an address: refused before any
    file is written, the message naming the output and the line, never the text (tokens)."""
    assert _refusal(parse_kubeconfig, KEY, text) == [Problem(f"--outputs: output {KEY}", message)]


def test_an_outputs_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "outputs.json"
    assert _refusal(read_outputs, missing) == [
        Problem(str(missing), "cannot read stack outputs file: No such file or directory")]
    missing.write_text(json.dumps([{KEY: EKS}]))
    assert _refusal(read_outputs, missing) == [
        Problem(f"--outputs {missing}", "expected the JSON object of `pulumi stack output --json`")]


def test_masked_kubeconfigs_are_refused_with_the_command_that_shows_them(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({KEY: "[secret]", "azure/eastus/kubeconfig": AKS}))
    assert _refusal(read_outputs, outputs) == [Problem(f"--outputs {outputs}", (
        "the kubeconfigs are masked; write the file with `pulumi stack output --json --show-secrets`"))]


def test_outputs_without_a_cluster_are_refused_not_written_as_an_empty_kubeconfig(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs, out = tmp_path / "outputs.json", tmp_path / "kubeconfig"
    outputs.write_text(json.dumps({"aws/us-east-1/vpcId": "vpc-1", "aws/us-east-1/kubeconfig": ""}))
    assert _refusal(lambda: render("dev", {}, redact=False)) == [Problem("kubeconfig", "no <cloud>/<region>/kubeconfig output found")]
    assert main(["kubeconfig", "--stack", "dev", "--outputs", str(outputs), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "kubeconfig: no <cloud>/<region>/kubeconfig output found" in err
    assert "Traceback" not in err
    assert not out.exists()
