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
