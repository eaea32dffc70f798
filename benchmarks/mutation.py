"""Mutation testing of the safety-critical modules (issue 32): does the suite notice a mistake?

Run: make mutate                          every module in benchmarks/mutation.json, one at a time
     make mutate SCOPE=gpufleet/ipam.py   one module (or every module under a folder: SCOPE=gpufleet/policy/)
     .venv/bin/python benchmarks/mutation.py --check    the ratchet alone (what CI runs, no mutmut)
     .venv/bin/python benchmarks/mutation.py --mistakes the issue's hand-made mistakes, each caught?

mutmut (pinned in pyproject's dev extra: its operators decide the scores) changes one thing at a
time in a module (an operator, a constant, a comparison, a string, a call's argument) and runs the
tests that reach the changed function; a mutant is killed when a test fails. Each module runs with
only the tests mapped to it in benchmarks/mutation.json, so a run stays bounded, in a work folder
of its own (.mutmut/<module>/, links to the checkout and a pyproject.toml with the module's
[tool.mutmut] table), from scratch, with the `mutation` Hypothesis profile (tests/conftest.py:
derandomized, few examples) so that a score does not depend on luck.

A run records per module: killed (timeouts count as killed: the mutant made a test hang) / total,
the survivors with their change, the date, the commit and the command, into
benchmarks/mutation.json, and renders benchmarks/mutation.md from it. The floor only rises: a
recorded score below its floor, or below the 90 % target, needs a written reason in the file
(`below_floor`, `below_target`); a module not measured yet is named, not refused; and a
surviving mutant that changes nothing observable is listed with its `reason` (kept across runs
while the same change survives). `--check` (and
tests/test_mutation_scores.py) read the file and fail on a score that fell without one.
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCORES = ROOT / "benchmarks" / "mutation.json"
PAGE = ROOT / "benchmarks" / "mutation.md"
WORK = ROOT / ".mutmut"
TARGET = 0.90
SOURCE_PATHS = ("gpufleet", "components", "policies")
# Every top-level entry a test may read through its own path (stacks, examples, docs, workflows).
LINKED = ("gpufleet", "components", "policies", "tests", "stacks", "examples", "docs", "benchmarks",
          "scripts", ".github", ".ci", "Pulumi.yaml", "__main__.py", "README.md", "requirements.lock",
          "requirements-dev.lock", "requirements.txt", "Makefile")
KILLED = {"killed", "timeout"}  # a mutant that makes a test hang is noticed too


@dataclass(frozen=True)
class Result:
    """One module's run: every mutant's status, and the change each survivor makes."""

    status: dict[str, str]
    changes: dict[str, str]

    @property
    def killed(self) -> int:
        return sum(s in KILLED for s in self.status.values())

    @property
    def survivors(self) -> list[str]:
        return sorted((name for name, s in self.status.items() if s not in KILLED), key=_natural)


def _natural(name: str) -> tuple[str, int]:
    """`...x_f__mutmut_10` after `...x_f__mutmut_9`."""
    stem, _, number = name.rpartition("_")
    return stem, int(number) if number.isdigit() else 0


def load() -> dict[str, Any]:
    return json.loads(SCORES.read_text(encoding="utf-8"))


def save(scores: dict[str, Any]) -> None:
    SCORES.write_text(json.dumps(scores, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    PAGE.write_text(render(scores), encoding="utf-8")


def score(entry: dict[str, Any]) -> float | None:
    measured = entry.get("measured")
    if not measured or not measured["total"]:
        return None
    return measured["killed"] / measured["total"]


def _percent(value: float | None) -> str:
    return "not measured" if value is None else f"{100 * value:.1f} %"


def unmeasured(scores: dict[str, Any]) -> list[str]:
    """Modules with no recorded score yet: shown as such, not refused (no score has fallen)."""
    return [module for module, entry in scores["modules"].items() if score(entry) is None]


def problems(scores: dict[str, Any], modules: list[str] | None = None) -> list[str]:
    """What the ratchet refuses: a score below its floor or the target without a written reason,
    an empty reason, a module or mapped test that is gone. A module not measured yet is listed
    by `unmeasured` instead: the ratchet holds what was measured."""
    found: list[str] = []
    for module, entry in scores["modules"].items():
        if modules is not None and module not in modules:
            continue
        if not (ROOT / module).is_file():
            found.append(f"{module}: no such module")
        for test in entry["tests"]:
            if test.startswith("-"):  # a pytest option (--deselect=...), not a test
                continue
            if not (ROOT / test.split("::")[0]).is_file():
                found.append(f"{module}: mapped test {test} does not exist")
        value = score(entry)
        if value is None:
            continue
        if value < entry["floor"] and not entry.get("below_floor"):
            found.append(f"{module}: {_percent(value)} is below its floor {_percent(entry['floor'])}; "
                         "add tests, or say why in `below_floor`")
        if value < TARGET and not entry.get("below_target"):
            found.append(f"{module}: {_percent(value)} is below the {_percent(TARGET)} target; "
                         "add tests, or say why in `below_target`")
        for survivor in entry.get("survivors", []):
            if survivor.get("reason") == "":
                found.append(f"{module}: survivor {survivor['mutant']} has an empty reason")
    return found


def render(scores: dict[str, Any]) -> str:
    """benchmarks/mutation.md: the recorded figures, every survivor and every written reason."""
    lines = [
        "# Mutation scores of the safety-critical modules",
        "",
        "Generated by `benchmarks/mutation.py` from `benchmarks/mutation.json`; do not edit by hand.",
        "A mutant is one small change to a module (mutmut "
        f"{scores['mutmut']}); it is killed when one of the module's mapped tests fails (a timeout",
        "counts as killed). Score = killed / total. Target "
        f"{_percent(TARGET)}; the floor is the best score recorded",
        "and a score below it needs a written reason (`make mutate-check`, tests/test_mutation_scores.py).",
        "Run: `make mutate SCOPE=<module>` (one module) or `make mutate` (all, one at a time).",
        "Times were taken on a shared 2-core machine under load.",
        "",
        "| module | killed / total | score | floor | measured at | date | time |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for module, entry in scores["modules"].items():
        measured = entry.get("measured")
        if not measured:
            lines.append(f"| `{module}` | | not measured | | | | |")
            continue
        lines.append(
            f"| `{module}` | {measured['killed']} / {measured['total']} | {_percent(score(entry))} | "
            f"{_percent(entry['floor'])} | {measured['commit'][:10]} | {measured['date']} | "
            f"{measured['seconds']} s |")
    lines += ["", "## Hand-made mistakes that once passed the suite", "",
              "Each is replayed by `benchmarks/mutation.py --mistakes`: the change is made, the test run, "
              "the change undone.", ""]
    lines += [f"{i}. {m['mistake']}: `{m['module']}`, caught by `{m['caught_by']}`."
              for i, m in enumerate(scores.get("mistakes", []), 1)]
    for module, entry in scores["modules"].items():
        reasons = [(key, entry[key]) for key in ("below_target", "below_floor") if entry.get(key)]
        survivors = entry.get("survivors", [])
        if not reasons and not survivors:
            continue
        lines += ["", f"## `{module}`", ""]
        lines += [f"**{key.replace('_', ' ')}:** {text}" for key, text in reasons]
        if reasons:
            lines.append("")
        lines += [f"Tests: {', '.join(f'`{t}`' for t in entry['tests'])}.", ""]
        for survivor in survivors:
            reason = survivor.get("reason") or "**not yet killed**"
            status = "" if survivor["status"] == "survived" else f" ({survivor['status']})"
            lines.append(f"- `{survivor['mutant']}`{status} — {reason}")
            lines += ["", "  ```diff", *(f"  {line}" for line in survivor["change"].splitlines()), "  ```"]
    return "\n".join(lines) + "\n"


def _slug(module: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", module.removesuffix(".py"))


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def prepare(module: str, tests: list[str]) -> Path:
    """A fresh work folder: links to the checkout and this module's [tool.mutmut] table."""
    work = WORK / _slug(module)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in LINKED:
        if (ROOT / name).exists():
            (work / name).symlink_to(ROOT / name)
    # The tests run inside mutants/ (mutmut's copy); the policy pack's test finds the project's
    # virtualenv beside it, as policies/PulumiPolicy.yaml names it (linked, never copied).
    (work / "mutants").mkdir()
    (work / "mutants" / ".venv").symlink_to(ROOT / ".venv")
    selection = [t for t in tests if not t.startswith("-")]
    options = [t for t in tests if t.startswith("-")]
    table = "\n".join([
        "", "[tool.mutmut]",
        f"source_paths = {_toml_list(list(SOURCE_PATHS))}",
        f"only_mutate = {_toml_list([module])}",
        f"also_copy = {_toml_list([n for n in LINKED if n not in SOURCE_PATHS and (ROOT / n).exists()])}",
        f"pytest_add_cli_args_test_selection = {_toml_list(selection)}",
        f"pytest_add_cli_args = {_toml_list(['--hypothesis-profile=mutation', '-p', 'no:cacheprovider', *options])}",
        'process_isolation = "forkserver"',  # each mutant from a process that ran no test: no warm cache hides it
        "use_git_change_detection = false",
        "",
    ])
    (work / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text(encoding="utf-8") + table,
                                         encoding="utf-8")
    return work


def mutmut(work: Path, *args: str, log: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("mutmut")), *args]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    if log is None:
        return subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, check=False)
    with log.open("w", encoding="utf-8") as out:
        return subprocess.run(command, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
                              check=False)


def patterns(module: str, entry: dict[str, Any]) -> list[str]:
    """mutmut's names of the mutants counted: all of the module's, or those of the entry's
    `functions` only (a module where only some functions build a safety-critical document)."""
    dotted = module.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    return [f"{dotted}.x{_mangled(function)}__mutmut_*" for function in entry.get("functions", [])]


def _mangled(function: str) -> str:
    """mutmut's name of a function (`_f`) or method (`ǁClassǁmethod`), for `Class.method`."""
    owner, _, name = function.rpartition(".")
    return f"ǁ{owner}ǁ{name}" if owner else f"_{name}"


def results(work: Path, module: str, entry: dict[str, Any]) -> Result:
    from mutmut.stats import status_by_exit_code

    meta = json.loads((work / "mutants" / (module + ".meta")).read_text(encoding="utf-8"))
    wanted = patterns(module, entry)
    status = {name: status_by_exit_code[code] for name, code in meta["exit_code_by_key"].items()
              if not wanted or any(fnmatch.fnmatchcase(name, p) for p in wanted)}
    changes: dict[str, str] = {}
    for name, value in status.items():
        if value not in KILLED:
            shown = mutmut(work, "show", name).stdout
            changes[name] = "\n".join(line for line in shown.splitlines()[1:] if line.startswith(("-", "+"))
                                      and not line.startswith(("---", "+++")))
    return Result(status, changes)


def run_module(module: str, entry: dict[str, Any], jobs: int) -> tuple[Result, float]:
    work = prepare(module, entry["tests"])
    log = work / "mutmut.log"
    print(f"{module}: mutmut over {len(entry['tests'])} test selections, log in {log.relative_to(ROOT)}",
          flush=True)
    started = time.monotonic()
    done = mutmut(work, "run", "--max-children", str(jobs), *patterns(module, entry), log=log)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"{module}: mutmut failed (exit {done.returncode}):\n{tail}")
    return results(work, module, entry), seconds


def _commit() -> str:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", *SOURCE_PATHS, "tests"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.strip()
    return head.stdout.strip() + (" + uncommitted changes" if dirty else "")


def record(entry: dict[str, Any], result: Result, seconds: float, command: str) -> None:
    """The run's figures into the module's entry; reasons of survivors that survive the same way stay."""
    reasons = {(s["mutant"], s["change"]): s["reason"] for s in entry.get("survivors", []) if s.get("reason")}
    entry["measured"] = {
        "killed": result.killed,
        "total": len(result.status),
        "commit": _commit(),
        "date": datetime.date.today().isoformat(),
        "command": command,
        "seconds": round(seconds),
    }
    entry["survivors"] = [
        {"mutant": name, "status": result.status[name], "change": result.changes[name],
         **({"reason": reasons[name, result.changes[name]]} if (name, result.changes[name]) in reasons else {})}
        for name in result.survivors
    ]
    value = score(entry)
    if value is not None and value >= entry["floor"]:
        entry["floor"] = int(value * 1000) / 1000  # rounded down, so the recorded score meets it
        entry.pop("below_floor", None)


def selected(scores: dict[str, Any], scope: str | None) -> list[str]:
    modules = list(scores["modules"])
    if not scope:
        return modules
    chosen = [m for m in modules if m == scope or (scope.endswith("/") and m.startswith(scope))]
    if not chosen:
        raise SystemExit(f"SCOPE={scope}: not a module in {SCORES.relative_to(ROOT)}; "
                         f"one of: {', '.join(modules)} (or a folder ending in /)")
    return chosen


def replay_mistakes(mistakes: list[dict[str, str]]) -> list[str]:
    """Make each recorded mistake, run the test said to catch it, undo it: the ones not caught."""
    missed: list[str] = []
    for mistake in mistakes:
        path = ROOT / mistake["module"]
        source = path.read_text(encoding="utf-8")
        if source.count(mistake["before"]) != 1:
            missed.append(f"{mistake['module']}: the code the mistake changes is gone ({mistake['before']!r})")
            continue
        path.write_text(source.replace(mistake["before"], mistake["after"]), encoding="utf-8")
        try:
            done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                                   mistake["caught_by"]], cwd=ROOT, capture_output=True, text=True, check=False)
        finally:
            path.write_text(source, encoding="utf-8")
        caught = done.returncode == 1
        print(f"{'caught' if caught else 'MISSED'}: {mistake['mistake']}", flush=True)
        if not caught:
            missed.append(f"{mistake['caught_by']} did not catch: {mistake['mistake']}")
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scope", help="a module of benchmarks/mutation.json, or a folder ending in /")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once (default 1)")
    parser.add_argument("--check", action="store_true", help="the ratchet only: read the file, run nothing")
    parser.add_argument("--mistakes", action="store_true", help="replay the recorded hand-made mistakes")
    args = parser.parse_args(argv)
    scores = load()
    if args.mistakes:
        missed = replay_mistakes(scores.get("mistakes", []))
        for line in missed:
            print(line, file=sys.stderr)
        return 1 if missed else 0
    modules = None if args.check else selected(scores, args.scope)
    if modules is not None:
        command = "make mutate" + (f" SCOPE={args.scope}" if args.scope else "")
        for module in modules:
            result, seconds = run_module(module, scores["modules"][module], args.jobs)
            scores = load()  # edited meanwhile (a reason written while the run went on): keep it
            entry = scores["modules"][module]
            record(entry, result, seconds, command)
            save(scores)
            print(f"{module}: {result.killed} / {len(result.status)} killed ({_percent(score(entry))}), "
                  f"{len(result.survivors)} survivors, {seconds:.0f} s", flush=True)
    for module in unmeasured(scores):
        if modules is None or module in modules:
            print(f"{module}: not measured yet (make mutate SCOPE={module})", file=sys.stderr)
    refused = problems(scores, modules)
    for problem in refused:
        print(problem, file=sys.stderr)
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
