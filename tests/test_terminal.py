"""What a person at a terminal sees: progress while planning, tables that fit the terminal."""

from __future__ import annotations

import io

import pytest

from gpufleet.cli import main


class Terminal(io.StringIO):
    """stderr as a terminal."""

    def isatty(self) -> bool:
        return True


def test_plan_shows_progress_on_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["plan", "--stack", "dev"]) == 0
    shown = terminal.getvalue()
    assert "gpufleet: planning dev: running the program" in shown
    assert "resources" in shown
    assert "gpufleet: planning dev: done in" in shown.splitlines()[-1]
    assert "Placements" in capsys.readouterr().out


def test_plan_is_silent_on_a_pipe_and_in_json_mode(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--stack", "dev"]) == 0
    assert capsys.readouterr().err == ""  # stderr is a pipe here
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["plan", "--stack", "dev", "--format", "json"]) == 0
    assert terminal.getvalue() == ""
