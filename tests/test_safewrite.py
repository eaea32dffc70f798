"""Safe writes (issue 31): every file gpufleet writes goes through gpufleet.safewrite, which never
follows a link, never leaves credentials in a file others can read, and replaces the target in
one step."""

from __future__ import annotations

import ast
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from gpufleet import safewrite
from gpufleet.catalog.overlay import COLUMNS, read_offers, write_offers
from gpufleet.cli import main
from gpufleet.errors import CommandLineError

ROOT = Path(__file__).resolve().parent.parent
KUBECONFIG = (
    "apiVersion: v1\nclusters: [{name: c, cluster: {server: 'https://x.gr7.us-east-1.eks.amazonaws.com'}}]\n"
    "users: [{name: u, user: {token: secret-token}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
)


def outputs_file(tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"aws/us-east-1/kubeconfig": KUBECONFIG}))
    return path


def test_kubeconfig_out_refuses_a_planted_link_and_leaves_its_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    link = tmp_path / "kubeconfig"
    link.symlink_to(victim)
    assert main(["kubeconfig", "--stack", "dev", "--outputs", str(outputs_file(tmp_path)), "--out", str(link)]) == 2
    assert f"cannot write {link}: it is a symbolic link (to {victim})" in capsys.readouterr().err
    assert victim.read_text() == "precious\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert link.is_symlink()


def test_a_dangling_link_does_not_create_its_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "elsewhere" / "created"
    link = tmp_path / "plan.json"
    link.symlink_to(target)
    assert main(["schema", "--plan"]) == 0  # stdout: nothing written
    capsys.readouterr()
    assert main(["kubeconfig", "--stack", "dev", "--outputs", str(outputs_file(tmp_path)), "--out", str(link)]) == 2
    assert not target.exists()
    assert not (tmp_path / "elsewhere").exists()


def test_an_existing_world_readable_file_is_replaced_by_a_private_one(tmp_path: Path) -> None:
    out = tmp_path / "kubeconfig"
    out.write_text("old\n")
    out.chmod(0o644)
    before = out.stat().st_ino
    assert main(["kubeconfig", "--stack", "dev", "--outputs", str(outputs_file(tmp_path)), "--out", str(out)]) == 0
    assert "secret-token" in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.stat().st_ino != before  # a new file renamed over the old one, never rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kubeconfig", "outputs.json"]


def test_the_mode_is_set_before_the_first_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int]] = []
    real_fdopen = os.fdopen

    def spy(descriptor: int, *args: Any, **kwargs: Any) -> Any:  # the file before any byte
        found = os.fstat(descriptor)
        seen.append((stat.S_IMODE(found.st_mode), found.st_size))
        return real_fdopen(descriptor, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", spy)
    safewrite.write_text(tmp_path / "k", "token\n", mode=safewrite.PRIVATE)
    assert seen == [(0o600, 0)]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    with pytest.raises(CommandLineError, match="it is a folder"):
        safewrite.write_text(tmp_path, "x")
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "plan.json").write_text("old\n")
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: a read-only folder is writable")
        with pytest.raises(CommandLineError, match="Permission denied"):
            safewrite.write_text(folder / "plan.json", "new\n")
        assert [p.name for p in folder.iterdir()] == ["plan.json"]
        assert (folder / "plan.json").read_text() == "old\n"
    finally:
        folder.chmod(0o700)


def test_text_that_is_not_unicode_is_written_escaped(tmp_path: Path) -> None:
    safewrite.write_text(tmp_path / "diff.md", "a lone surrogate from a JSON escape: \ud800\n")
    assert (tmp_path / "diff.md").read_text() == "a lone surrogate from a JSON escape: \\ud800\n"


def test_plan_out_and_init_refuse_links_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "policy-config.json"
    link.symlink_to(victim)
    assert main(["policy-config", "--stack", "dev", "--out", str(link)]) == 2
    assert "is a symbolic link" in capsys.readouterr().err
    spec = tmp_path / "fleet.yaml"
    spec.write_text((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.dev.yaml").symlink_to(victim)
    assert main(["init", str(spec), "--project-dir", str(tmp_path), "--force"]) == 2
    assert victim.read_text() == "precious\n"


def test_refreshed_offers_are_written_safely_and_read_back_without_formulas(tmp_path: Path) -> None:
    row = {"cloud": "aws", "instance_type": "g4dn.xlarge", "region": "us-east-1",
           "price_usd_per_hour": "0.5", "spot_price_usd_per_hour": "", "source": "=cmd|' /C calc'!A0"}
    path = tmp_path / "offers.csv"
    write_offers(path, [row])
    text = path.read_text()
    assert text.splitlines() == [",".join(COLUMNS), "aws,g4dn.xlarge,us-east-1,0.5,,'=cmd|' /C calc'!A0"]
    assert read_offers(path, {("aws", "g4dn.xlarge")}, {("aws", "us-east-1")})[0]["source"].startswith("'=")


def _writes_outside_safewrite() -> list[str]:
    """Calls that write a file anywhere in the package but safewrite.py: a method write_text or
    write_bytes (Path's), open() with a writing mode, or os.open."""
    found: list[str] = []
    for path in sorted((ROOT / "gpufleet").rglob("*.py")):
        if path.name == "safewrite.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute | ast.Name):
                continue
            method = isinstance(node.func, ast.Attribute)
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            modes = [a.value for a in node.args[:2] if isinstance(a, ast.Constant)]
            modes += [k.value.value for k in node.keywords if k.arg == "mode" and isinstance(k.value, ast.Constant)]
            writing = any(isinstance(m, str) and set(m) & set("wax+") for m in modes)
            os_open = method and name == "open" and isinstance(node.func, ast.Attribute) and (
                isinstance(node.func.value, ast.Name) and node.func.value.id == "os")
            if (method and name in ("write_text", "write_bytes")) or (name == "open" and writing) or os_open:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    return found


def test_every_writer_uses_safewrite() -> None:
    assert _writes_outside_safewrite() == []


# -- what a user sees when a write cannot happen (issue 32): the flag, the path, the reason, and
# nothing left behind; and the modes a new or replaced file gets -----------------------------


def _problem(error: pytest.ExceptionInfo[CommandLineError]) -> str:
    [problem] = error.value.problems
    return str(problem)


def test_a_write_that_fails_at_any_step_names_the_flag_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even as root (a read-only folder does not stop root): a full disk at the rename."""
    out = tmp_path / "kubeconfig"
    out.write_text("old\n")

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(CommandLineError) as caught:
        safewrite.write_text(out, "new\n", mode=safewrite.PRIVATE, flag="--out")
    assert _problem(caught) == f"--out: cannot write {out}: No space left on device"
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["kubeconfig"]  # no temporary left


def test_an_interrupted_write_leaves_no_temporary_and_is_not_swallowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        safewrite.write_text(tmp_path / "plan.json", "{}\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("where", "reason"), [
    ("missing/plan.json", "No such file or directory"),  # the folder does not exist: nothing created
    ("file/plan.json", "Not a directory"),  # a path through a file
])
def test_a_path_that_cannot_hold_a_file_is_refused_naming_the_flag(tmp_path: Path, where: str, reason: str) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(CommandLineError) as caught:
        safewrite.write_text(tmp_path / where, "{}\n", flag="--kubeconfig-out")
    assert _problem(caught) == f"--kubeconfig-out: cannot write {tmp_path / where}: {reason}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_folder_or_link_target_is_refused_in_words(tmp_path: Path) -> None:
    with pytest.raises(CommandLineError) as caught:
        safewrite.write_text(tmp_path, "x", flag="--out")
    assert _problem(caught) == f"--out: cannot write {tmp_path}: it is a folder; give a file name in it"
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    with pytest.raises(CommandLineError) as caught:
        safewrite.write_text(tmp_path / "link", "x", flag="--out")
    assert _problem(caught) == (
        f"--out: cannot write {tmp_path / 'link'}: it is a symbolic link (to {tmp_path / 'nowhere'}); gpufleet "
        "does not write through links: remove it, or give the file it points to")


@pytest.mark.parametrize("existing", [None, 0o644, 0o600])
def test_modes_on_create_and_on_overwrite(tmp_path: Path, existing: int | None) -> None:
    """A shared file gets what the umask allows; a private one the owner only, whatever the old
    file's mode was; the text is exactly what was given (no newline translation)."""
    old = os.umask(0o022)
    try:
        for name, mode, expected in (("shared", safewrite.SHARED, 0o644), ("private", safewrite.PRIVATE, 0o600)):
            path = tmp_path / name
            if existing is not None:
                path.write_text("old\n")
                path.chmod(existing)
            safewrite.write_text(path, "a\r\nb\n", mode=mode)
            assert stat.S_IMODE(path.stat().st_mode) == expected, (name, existing)
            assert path.read_bytes() == b"a\r\nb\n"
    finally:
        os.umask(old)


def test_a_link_planted_at_the_temporary_name_is_never_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attacker who could guess the temporary name plants a link there: the write is refused
    (created exclusively, never through a link) and the link's target is untouched."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    monkeypatch.setattr(safewrite.secrets, "token_hex", lambda _: "guessed")
    (tmp_path / ".kubeconfig.guessed.tmp").symlink_to(victim)
    with pytest.raises(CommandLineError) as caught:
        safewrite.write_text(tmp_path / "kubeconfig", "token\n", mode=safewrite.PRIVATE)
    assert _problem(caught) == f"--out: cannot write {tmp_path / 'kubeconfig'}: File exists"
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "kubeconfig").exists()


def test_text_beyond_ascii_is_written_as_utf_8(tmp_path: Path) -> None:
    safewrite.write_text(tmp_path / "plan.md", "Zürich — 東京\n")
    assert (tmp_path / "plan.md").read_bytes() == "Zürich — 東京\n".encode()


@pytest.mark.parametrize("step", ["lstat", "open", "replace"])
def test_an_error_that_comes_without_a_description_is_still_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """An OSError raised by a Python layer (a network or FUSE file system's binding) may carry a
    message but no strerror: the user still reads why, at every step, and the old file stays."""
    out = tmp_path / "kubeconfig"
    out.write_text("old\n")

    def broken(*_: object, **__: object) -> None:
        raise OSError("the storage gateway went away")

    owner: object = Path if step == "lstat" else os
    with monkeypatch.context() as patched:
        patched.setattr(owner, step, broken)
        with pytest.raises(CommandLineError) as caught:
            safewrite.write_text(out, "new\n", mode=safewrite.PRIVATE)
    assert _problem(caught) == f"--out: cannot write {out}: the storage gateway went away"
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["kubeconfig"]


def test_a_failed_rename_whose_temporary_has_vanished_is_still_a_clear_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process (a cleaner of dot files) removed the temporary before the rename failed:
    removing it again cannot fail the refusal into a traceback."""

    def vanished(source: Path, _: object) -> None:
        source.unlink()
        raise OSError(2, "No such file or directory")

    monkeypatch.setattr(os, "replace", vanished)
    with pytest.raises(CommandLineError) as caught:
        safewrite.write_text(tmp_path / "plan.json", "{}\n")
    assert _problem(caught) == f"--out: cannot write {tmp_path / 'plan.json'}: No such file or directory"
    assert list(tmp_path.iterdir()) == []
