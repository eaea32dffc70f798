"""The CLI never ends in a traceback: random argv from the known commands and flags, over files
of random bytes, other encodings, folders, missing and unreadable paths. Every run either
returns 0, 1 or 2 or leaves through argparse (SystemExit 0 for --help, 2 for a usage error).

Kept fast: no file here is a valid spec that a command would plan (that takes seconds), so
every example fails before the Pulumi program runs, or runs a cheap command; `catalog` lists
one region unless the drawn flags choose another."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet.cli import main

# A spec that validation refuses (unknown accelerator), so no example plans for seconds.
REFUSED_SPEC = """\
# flotte d'essai: café
name: mlfleet
network: {supernet: 10.64.0.0/10}
clouds: {aws: {regions: [us-east-1]}}
pools:
  - {name: infer, accelerator: H1000, gpus: 8}
"""

CONTENTS = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(["utf-8", "latin-1", "utf-16", "utf-32", "cp1252", "utf-8-sig"]).map(
        REFUSED_SPEC.encode
    ),
    st.text(max_size=120).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b"{}", b"[]", b"null", b"config: 3", b"config: {}", b"a: &a [*a]",
                     b'{"pools": 1}', b'{"pools": [], "gap": Infinity}', b"\x00\x01", b"---\n- -"]),
)
KINDS = ("file.yaml", "file.json", "Pulumi.x.yaml", "folder", "missing", "under-a-file")
COMMANDS = ("plan", "diff", "check", "schema", "catalog", "pr-comment", "policy-config", "nope")
FLAGS = ("--stack", "--spec", "--stack-name", "--format", "--out", "--previous", "--resources",
         "--cloud", "--accelerator", "--region", "--help", "-h")
WORDS = ("table", "json", "markdown", "yaml", "aws", "azure", "gcp", "h100", "H1000", "t4",
         "eu-north-1", "nowhere", "prod eu", "dev.2", "../x", "", "-")


def make_path(folder: Path, kind: str, content: bytes, index: int) -> Path:
    """A path of the given kind: a file holding `content`, a folder, or a path that is missing."""
    if kind == "folder":
        return folder
    if kind == "missing":
        return folder / f"missing-{index}.yaml"
    if kind == "under-a-file":
        return folder / f"{index}-{KINDS[0]}" / "x.yaml"
    path = folder / f"{index}-{kind}"
    path.write_bytes(content)
    return path


FORMATS = ("table", "markdown", "json")


@st.composite
def argvs(draw: st.DrawFn, folder: Path) -> list[str]:
    """Mostly a well-formed command line of one command over the drawn paths (so the file
    cases are reached), sometimes random words and flags (argparse's cases)."""
    paths = [
        str(make_path(folder, draw(st.sampled_from(KINDS)), draw(CONTENTS), i)) for i in range(3)
    ]
    path = st.sampled_from(paths)
    word = st.sampled_from(WORDS)
    if draw(st.integers(0, 4)) == 0:  # noise: any command, any words and flags
        noise = st.one_of(path, word, st.sampled_from(FLAGS))
        return [draw(st.sampled_from(COMMANDS)), *draw(st.lists(noise, max_size=6))]
    source = st.one_of(st.tuples(st.just("--stack"), word), st.tuples(st.just("--spec"), path))
    optional = {
        "--stack-name": word, "--format": st.sampled_from(FORMATS), "--out": path,
        "--previous": path, "--resources": path,
    }
    shapes: dict[str, tuple[list[str], list[str], bool]] = {  # positionals, flags, needs source
        "plan": ([], ["--stack-name", "--format", "--out", "--previous"], True),
        "check": ([], ["--stack-name", "--format", "--out", "--resources"], False),
        "policy-config": ([], ["--stack-name", "--out"], True),
        "diff": (["base", "head"], ["--stack-name", "--format", "--out"], False),
        "pr-comment": (["base", "head"], ["--out"], False),
        "schema": ([], [], False),
    }
    command = draw(st.sampled_from([*shapes, "catalog"]))
    if command == "catalog":  # one region: the whole catalog's table takes 1.5 s to render
        argv = ["catalog", "--region", draw(st.sampled_from(["eastus", *WORDS]))]
        for flag, value in (("--accelerator", word), ("--cloud", st.sampled_from(["aws", "azure"])),
                            ("--format", st.sampled_from(["table", "json"])), ("--out", path)):
            if draw(st.booleans()):
                argv += [flag, draw(value)]
        return argv
    positionals, flags, needs_source = shapes[command]
    argv = [command, *(draw(path) for _ in positionals)]
    if needs_source or draw(st.booleans()):
        argv += list(draw(source))
    for flag in flags:
        if draw(st.booleans()):
            argv += [flag, draw(optional[flag])]
    return argv


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-property")


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_the_cli_never_raises_and_exits_0_1_or_2(folder: Path, data: st.DataObject) -> None:
    argv = data.draw(argvs(folder))
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exited:  # argparse: --help, or a usage error
            code = exited.code
            assert code in (0, 2), argv
            return
    assert code in (0, 1, 2), argv
    assert "Traceback" not in err.getvalue()
    if code == 2:
        assert err.getvalue().startswith(f"gpufleet {argv[0]}: "), (argv, err.getvalue())


def test_an_unreadable_spec_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "secret.yaml"
    spec.write_text(REFUSED_SPEC, encoding="utf-8")
    spec.chmod(0)
    if os.access(spec, os.R_OK):  # root reads every file: there is no unreadable file to try
        pytest.skip("running as root: chmod 000 does not make a file unreadable")
    assert main(["plan", "--spec", str(spec)]) == 2
    assert f"{spec}: cannot read spec file: Permission denied" in capsys.readouterr().err
