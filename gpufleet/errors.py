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
    """The spec (or a command-line value) is invalid; every problem names its field."""

    def __init__(self, problems: list[Problem], source: str = "") -> None:
        self.problems = problems
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"invalid fleet spec{f' in {self.source}' if self.source else ''}"
        return head + ":\n" + "\n".join(f"  {problem}" for problem in self.problems)


class DecisionError(GpufleetError):
    """A plan one cloud's components cannot build as asked (`components/<cloud>/decisions.py`).

    `path` names what to change: a spec field (`pools[0].interconnect`, `network.overrides`)
    where one is to blame, else the part of the plan the value came from (`pools`).
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


class InfeasibleError(GpufleetError):
    """No placement satisfies the spec; the message says which limits bind and what to change."""

    exit_code = EXIT_POLICY
