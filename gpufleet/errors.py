"""Errors a person can act on, and the exit codes the CLI maps them to (DESIGN.md contract)."""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_POLICY = 1
EXIT_INVALID = 2


@dataclass(frozen=True, slots=True)
class Problem:
    """One bad field: where (`pools[0].accelerator`) and what is wrong and allowed."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class GpufleetError(Exception):
    """A user's mistake or an infeasible request: printed without a traceback."""

    exit_code = EXIT_INVALID


class SpecError(GpufleetError):
    """The spec is invalid; every problem names its field."""

    what = "invalid fleet spec"

    def __init__(self, problems: list[Problem], source: str = "") -> None:
        self.problems = problems
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.what}{f' in {self.source}' if self.source else ''}"
        return head + ":\n" + "\n".join(f"  {problem}" for problem in self.problems)


class CommandLineError(SpecError):
    """A command-line value is invalid (a flag, a path, a missing argument); each problem
    names the flag or argument."""

    what = "invalid command line"


class InfeasibleError(GpufleetError):
    """No placement satisfies the spec; the message says which limits bind and what to change."""

    exit_code = EXIT_POLICY
