"""Shared fixtures: the sample stacks' config, and whole-program recordings under mocks."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from hypothesis import settings

from gpufleet.offline import OfflinePlan, SpecSource, run_plan
from gpufleet.preview import Recording, record_program
from gpufleet.specfile import read_yaml, stack_path

# Mutation runs (benchmarks/mutation.py) pass --hypothesis-profile=mutation: the same examples every
# run, so a mutant's verdict never depends on luck, and few of them where a test does not say.
settings.register_profile("mutation", derandomize=True, database=None, deadline=None, max_examples=20)


def stack_config(stack: str) -> dict[str, Any]:
    """The `config:` mapping of stacks/Pulumi.<stack>.yaml (full keys, e.g. 'gpufleet:fleet')."""
    return dict(read_yaml(stack_path(stack))["config"])


def fleet_of(stack: str) -> dict[str, Any]:
    return dict(stack_config(stack)["gpufleet:fleet"])


@cache
def planned_stack(stack: str, stage_two: bool = False) -> OfflinePlan:
    """`gpufleet plan --stack` of a sample stack (with the in-cluster layer when `stage_two`), once
    per test process: a whole plan costs seconds, and many modules read the same two stacks.
    Callers only read it (copy before changing)."""
    return run_plan(SpecSource(stack=stack, cluster_software=True if stage_two else None))


def _recorded(stack: str) -> Recording:
    return planned_stack(stack).recording


def record_stage_two(stack: str) -> Recording:
    """Whole-program recording of a sample stack with the in-cluster layer (the second stage)."""
    return planned_stack(stack, stage_two=True).recording


def record_fleet(fleet: dict[str, Any], stack: str = "test") -> Recording:
    """Run the whole program for an ad-hoc fleet mapping."""
    return record_program(stack, {"gpufleet:fleet": fleet})


@pytest.fixture
def recorded() -> Callable[[str], Recording]:
    """Whole-program recording of a sample stack (run once per test session per stack)."""
    return _recorded
