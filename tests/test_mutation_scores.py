"""The mutation-score ratchet (issue 32): the recorded scores in benchmarks/mutation.json meet
their floors and the 90 % target, or say why; the page is the file's rendering; every
safety-critical module is mapped. Reads the file only: mutmut runs in `make mutate` and the
scheduled workflow, never here."""

from __future__ import annotations

import copy
import fnmatch
from pathlib import Path
from typing import Any

import pytest

from benchmarks.mutation import PAGE, ROOT, TARGET, load, problems, record, render, selected, unmeasured

# The modules issue 32 names as safety-critical; each must have an entry.
SAFETY_CRITICAL = (
    "gpufleet/slots.py", "gpufleet/ipam.py", "gpufleet/cidrs.py", "gpufleet/safewrite.py",
    "gpufleet/safeyaml.py", "gpufleet/addresses.py", "gpufleet/nodegroups.py",
    "gpufleet/clouds/aws/vpccni.py", "gpufleet/catalog/limits.py", "gpufleet/interconnect.py",
    "gpufleet/live/*.py", "gpufleet/clouds/*/live.py", "gpufleet/kubeconfig.py",
    "components/aws/replication.py", "components/aws/syncaccess.py", "components/aws/decisions.py",
    "components/azure/decisions.py", "components/aws/autoscaler.py", "gpufleet/policy/[a-z]*.py",
)


def test_every_recorded_score_meets_its_floor_and_the_target_or_says_why() -> None:
    assert problems(load()) == []


def test_the_page_is_the_rendering_of_the_recorded_file() -> None:
    assert PAGE.read_text(encoding="utf-8") == render(load()), "run: .venv/bin/python -c " \
        "'from benchmarks.mutation import load, save; save(load())'"


def test_every_safety_critical_module_is_mapped_to_tests() -> None:
    modules = load()["modules"]
    files = [p.relative_to(ROOT).as_posix() for p in ROOT.glob("**/*.py") if ".venv" not in p.parts]
    for pattern in SAFETY_CRITICAL:
        matched = [f for f in files if fnmatch.fnmatchcase(f, pattern)]
        assert matched, pattern
        assert [f for f in matched if f not in modules] == [], pattern


def _scores(killed: int, total: int, floor: float, **extra: Any) -> dict[str, Any]:
    entry = {"tests": ["tests/test_ipam.py"], "floor": floor, **extra,
             "measured": {"killed": killed, "total": total, "commit": "c", "date": "d", "command": "x", "seconds": 1}}
    return {"mutmut": "3.8.1", "modules": {"gpufleet/ipam.py": entry}}


def test_a_score_below_its_floor_needs_a_written_reason() -> None:
    assert problems(_scores(95, 100, 0.95)) == []
    [problem] = problems(_scores(94, 100, 0.95))
    assert problem == "gpufleet/ipam.py: 94.0 % is below its floor 95.0 %; add tests, or say why in `below_floor`"
    assert problems(_scores(94, 100, 0.95, below_floor="a function was split; its new mutants are listed")) == []


def test_a_score_below_the_target_needs_a_written_reason() -> None:
    [problem] = problems(_scores(89, 100, 0.89))
    assert problem.endswith("is below the 90.0 % target; add tests, or say why in `below_target`")
    assert problems(_scores(int(TARGET * 100), 100, 0.0)) == []


def test_a_missing_module_a_missing_test_and_an_empty_reason_are_refused() -> None:
    scores = _scores(10, 10, 1.0, survivors=[{"mutant": "m", "status": "survived", "change": "-a\n+b", "reason": ""}])
    scores["modules"]["gpufleet/ipam.py"]["tests"] += ["tests/test_gone.py::test_x", "--deselect=tests/test_ipam.py::t"]
    scores["modules"]["gpufleet/gone.py"] = {"tests": [], "floor": 0.0}
    assert problems(scores) == [
        "gpufleet/ipam.py: mapped test tests/test_gone.py::test_x does not exist",
        "gpufleet/ipam.py: survivor m has an empty reason",
        "gpufleet/gone.py: no such module",
    ]
    assert unmeasured(scores) == ["gpufleet/gone.py"]  # named by --check and the page, not refused


def test_recording_raises_the_floor_and_keeps_the_reasons_of_the_same_survivors() -> None:
    from benchmarks.mutation import Result

    entry = copy.deepcopy(_scores(8, 10, 0.8, survivors=[
        {"mutant": "a__mutmut_1", "status": "survived", "change": "-x\n+y", "reason": "equivalent: y == x here"},
        {"mutant": "a__mutmut_2", "status": "survived", "change": "-p\n+q", "reason": "equivalent"},
    ])["modules"]["gpufleet/ipam.py"])
    status = {f"a__mutmut_{i}": "killed" for i in range(3, 12)} | {"a__mutmut_1": "survived", "a__mutmut_2": "killed"}
    record(entry, Result(status, {"a__mutmut_1": "-x\n+y"}), 3.0, "make mutate SCOPE=gpufleet/ipam.py")
    assert (entry["measured"]["killed"], entry["measured"]["total"]) == (10, 11)
    assert entry["floor"] == 0.909  # rounded down: the recorded score meets it
    assert entry["survivors"] == [
        {"mutant": "a__mutmut_1", "status": "survived", "change": "-x\n+y", "reason": "equivalent: y == x here"}]
    record(entry, Result(status | {"a__mutmut_3": "survived"}, {"a__mutmut_1": "-x\n+z", "a__mutmut_3": "-m\n+n"}),
           3.0, "make mutate")
    assert entry["floor"] == 0.909  # a lower score never lowers the floor
    assert [s.get("reason") for s in entry["survivors"]] == [None, None]  # another change: the reason is void


def test_a_scope_is_a_recorded_module_or_a_folder() -> None:
    scores = load()
    assert selected(scores, "gpufleet/ipam.py") == ["gpufleet/ipam.py"]
    assert selected(scores, "gpufleet/live/") == [m for m in scores["modules"] if m.startswith("gpufleet/live/")]
    with pytest.raises(SystemExit, match=r"SCOPE=gpufleet/nope\.py: not a module in benchmarks/mutation\.json"):
        selected(scores, "gpufleet/nope.py")


def test_the_work_folders_stay_out_of_git() -> None:
    assert ".mutmut/" in (ROOT / ".gitignore").read_text().splitlines()
    assert Path(ROOT / "benchmarks" / "mutation.json").is_file()
