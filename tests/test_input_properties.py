"""Random YAML and JSON, of any depth, aliases, types and sizes, fed to every command that reads a
file (issue 31): each run exits 0, 1 or 2, never a traceback, and ends within a bound (a hang,
an alias bomb, a message that renders a vast value, would not).

Kept fast: no example plans (that takes seconds): specs that could be valid go to commands that
only validate them (`policy-config`, `quotas`), plans read back go to `diff` and `pr-comment`,
and `plan --previous` and `init` get a spec the validation refuses. The time bound is checked
per example, loosely (a hang takes minutes), not with hypothesis's deadline: CI runners vary.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet.cli import main
from tests.conftest import fleet_of
from tests.test_cli_properties import REFUSED_SPEC

BOUND_SECONDS = 20.0
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])

SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -1, 2**63, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, math.inf]),
    st.text(max_size=30),
    st.sampled_from(["", "x" * 5000, "0.0.0.0/0", "0::/0", "@octocat", "```", "=cmd|' /C calc'!A0",
                     "aws/us-east-1/g4dn.xlarge", "us-east-1", "H100", "T4", "aws", "azure", "\n# h"]),
)
VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=12), children, max_size=5),
    ),
    max_leaves=30,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON-like value (for replacing one part of a real document)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:3]):
            found += _paths(child, (*prefix, index))
    return found


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    changed = copy.deepcopy(document)
    holder = changed
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value
    return changed


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """A real document with one to three parts replaced by random values."""
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(document)))
        document = _replaced(document, path, draw(VALUES))
    return document


def _json_text(value: Any) -> str:
    """JSON as a careless writer makes it: NaN and Infinity written, huge integers whole."""
    try:
        return json.dumps(value, allow_nan=True)
    except ValueError:  # cannot happen with the values drawn; a refused number if it did
        return "[1e999]"


@st.composite
def json_texts(draw: st.DrawFn, real: Any) -> str:
    depth = draw(st.integers(0, 3000))
    return draw(st.one_of(
        VALUES.map(_json_text),
        mutated(real).map(_json_text),
        st.just("[" * depth + "]" * depth),
        st.just('{"pools": ' + "[" * depth + "]" * depth + ', "cost": {"monthly_usd": 1}}'),
        st.just('{"pools": [], "cost": {"monthly_usd": ' + "9" * 5000 + "}}"),
        st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
    ))


def _alias_text(fanout: int, levels: int, recursive: bool) -> str:
    lines = [f"a0: &a0 [{', '.join(['x'] * fanout)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fanout)}]" for i in range(1, levels)]
    lines.append("name: &self [*self]" if recursive else f"name: *a{levels - 1}")
    return "\n".join(lines) + "\n"


@st.composite
def yaml_texts(draw: st.DrawFn, real: Any) -> str:
    depth = draw(st.integers(0, 1000))
    return draw(st.one_of(
        VALUES.map(lambda v: yaml.safe_dump(v, allow_unicode=True)),
        mutated(real).map(lambda v: yaml.safe_dump(v, allow_unicode=True)),
        st.builds(_alias_text, st.integers(1, 12), st.integers(1, 9), st.booleans()),
        st.just("name: " + "[" * depth + "]" * depth + "\n"),
        st.just("name: " + "{a: " * depth + "1" + "}" * depth + "\n"),
        st.sampled_from(["name: a\nname: b\n", "name: 2024-13-45\n", "x: !!float abc\n",
                         "x: !!python/object:os.system ls\n", "name: " + "9" * 5000 + "\n", "\t- x"]),
        st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
    ))


def _run(argv: list[str]) -> None:
    err = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(argv)
    assert time.perf_counter() - started < BOUND_SECONDS, argv
    assert code in (0, 1, 2), argv
    assert "Traceback" not in err.getvalue()
    if code == 2:
        assert err.getvalue().startswith(f"gpufleet {argv[0]}: "), err.getvalue()[:300]
        assert len(err.getvalue()) < 20_000  # bounded, however vast the input


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inputs")
    (path / "refused.yaml").write_text(REFUSED_SPEC, encoding="utf-8")
    (path / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": {"gpufleet:fleet": fleet_of("dev")}}))
    return path


PLAN = {"stack": "s", "fleet": "f",
        "pools": [{"name": "infer", "placements": [{"cloud": "aws", "region": "us-east-1",
                                                    "instance_type": "g4dn.xlarge", "nodes": 1, "gpus": 1}]}],
        "cost": {"monthly_usd": 1.0, "by_cloud": {"aws": 1.0}},
        "resources": [{"urn": "urn:pulumi:s::p::aws:s3/bucket:Bucket::b", "type": "aws:s3/bucket:Bucket",
                       "protect": True, "retain_on_delete": True, "inputs": {"acl": "private"},
                       "dependencies": []}],
        "policies": [{"policy": "p", "enforcement": "mandatory", "violations": []}]}
OUTPUTS = {"aws/us-east-1/kubeconfig": yaml.safe_dump({
    "clusters": [{"name": "c", "cluster": {"server": "https://x.gr7.us-east-1.eks.amazonaws.com"}}],
    "users": [{"name": "u", "user": {"token": "t"}}], "contexts": [{"name": "c", "context": {"cluster": "c"}}],
})}


@SETTINGS
@given(data=st.data())
def test_spec_files_never_end_in_a_traceback(folder: Path, data: st.DataObject) -> None:
    spec = folder / "spec.yaml"
    spec.write_text(data.draw(yaml_texts({"config": {"gpufleet:fleet": fleet_of("dev")}})), encoding="utf-8")
    command = data.draw(st.sampled_from([["policy-config", "--spec"], ["quotas", "--spec"], ["init"]]))
    argv = [*command, str(spec)]
    if command == ["init"]:
        argv += ["--project-dir", str(folder / "project"), "--force"]
    _run(argv)


@SETTINGS
@given(data=st.data())
def test_plan_files_never_end_in_a_traceback(folder: Path, data: st.DataObject) -> None:
    base, head = folder / "base.json", folder / "head.json"
    base.write_text(data.draw(json_texts(PLAN)), encoding="utf-8")
    head.write_text(data.draw(json_texts(PLAN)), encoding="utf-8")
    fmt = data.draw(st.sampled_from(["table", "markdown", "json"]))
    _run(["diff", str(base), str(head), "--format", fmt])
    _run(["plan", "--spec", str(folder / "refused.yaml"), "--previous", str(head)])
    base_dir, head_dir = folder / "base", folder / "head"
    for path in (base_dir, head_dir):
        path.mkdir(exist_ok=True)
    (base_dir / "s.json").write_text(base.read_text(encoding="utf-8"), encoding="utf-8")
    (head_dir / "s.json").write_text(head.read_text(encoding="utf-8"), encoding="utf-8")
    _run(["pr-comment", str(base_dir), str(head_dir), "--out", str(folder / "comment.md")])


@SETTINGS
@given(data=st.data())
def test_resources_and_outputs_files_never_end_in_a_traceback(folder: Path, data: st.DataObject) -> None:
    resources = folder / "resources.json"
    resources.write_text(data.draw(json_texts(PLAN["resources"])), encoding="utf-8")
    _run(["check", "--resources", str(resources), "--spec", str(folder / "Pulumi.dev.yaml"), "--format", "json"])
    outputs = folder / "outputs.json"
    kubeconfig = data.draw(yaml_texts(yaml.safe_load(OUTPUTS["aws/us-east-1/kubeconfig"])))
    given_outputs = data.draw(st.one_of(
        st.just({"aws/us-east-1/kubeconfig": kubeconfig}), mutated(OUTPUTS), VALUES,
    ))
    outputs.write_text(_json_text(given_outputs), encoding="utf-8")
    _run(["kubeconfig", "--spec", str(folder / "Pulumi.dev.yaml"), "--outputs", str(outputs)])
