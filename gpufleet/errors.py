"""Errors a person can act on, and the exit codes the CLI maps them to (docs/design.md contract)."""

from __future__ import annotations

import reprlib
from dataclasses import dataclass

EXIT_OK = 0
EXIT_POLICY = 1
EXIT_INVALID = 2


class _Bounded(reprlib.Repr):
    """reprlib's bounds (depth, items, string length) and integers shown by their size: Python
    refuses to write an integer of more than 4,300 digits."""

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:
            return f"<an integer of about {int(x.bit_length() * 0.30103):,} digits>"
        return super().repr_int(x, level)


_SHOWN = _Bounded()
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother = 3, 60, 60
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxdict = _SHOWN.maxset = 4


def shown(value: object) -> str:
    """A user's value in a message, bounded: a value from a file may be deeply nested, huge, or
    (through YAML aliases) vast, and a message that renders it whole may never end."""
    return _SHOWN.repr(value)


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


class DecisionError(GpufleetError):
    """A plan one cloud's components cannot build as asked (`components/<cloud>/decisions.py`).

    `path` names what to change: a spec field (`pools[0].interconnect`, `network.overrides`)
    where one is to blame, else the part of the plan the value came from (`pools`).
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")
class CommandLineError(SpecError):
    """A command-line value is invalid (a flag, a path, a missing argument); each problem
    names the flag or argument."""

    what = "invalid command line"


class InfeasibleError(GpufleetError):
    """No placement satisfies the spec; the message says which limits bind and what to change."""

    exit_code = EXIT_POLICY

    @classmethod
    def solver_stopped(cls, status: str, time_limit_seconds: float) -> InfeasibleError:
        """The solver gave no trustworthy placement: its status (HiGHS's words, kept for a bug
        report) with what it means and what a person can change."""
        if status == "Time limit reached":
            meaning = (
                f"the placement search used its {time_limit_seconds:g} s time limit without "
                "finding a placement; make the model smaller: fewer regions or pools, or "
                "gpus_per_node to narrow the SKUs each pool may use"
            )
        elif status == "Infeasible":
            meaning = (
                "the solver found a placement and then called the model infeasible, which "
                "happens when numbers are far outside the range its tolerances are made for; "
                "look for values far too large in pools[].gpus, prices: and quotas:"
            )
        else:
            meaning = (
                "the solver stopped without a placement, which happens when numbers are far "
                "outside the range it is made for; look for values far too large in "
                "pools[].gpus, prices: and quotas:, and report it with the spec if there are none"
            )
        return cls(f"no placement: {meaning} (HiGHS status: {status})")


class LookupFailedError(GpufleetError):
    """A live look-up that could not bring back what was asked (a region that did not answer,
    no price at all): exit 1 with the cause, nothing written that could pass for its result."""

    exit_code = EXIT_POLICY
