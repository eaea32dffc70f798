#!/usr/bin/env bash
# First contact: a fresh clone of this checkout's HEAD → `make plan`, timed step by step.
#
#   benchmarks/first_plan.sh [uv|pip] [runs]
#
# uv (default): what `make plan` does on a machine without uv: a venv with pip, uv into it from
#   PyPI, requirements-dev.lock and the project with uv, then the plan.
# pip: the same lock with pip alone (python3 -m venv, pip install -r, pip install --no-deps -e .).
#
# Cold: every run gets empty uv and pip caches (UV_CACHE_DIR, PIP_CACHE_DIR in a temp folder), so
# every wheel is downloaded again. What stays warm: the Python interpreter, the OS page cache, and
# any package index or mirror between this machine and PyPI.
set -euo pipefail
mode=${1:-uv}
runs=${2:-1}
repo=$(cd "$(dirname "$0")/.." && pwd)

seconds() { python3 -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.1f}")' "$1"; }

TIMEFORMAT="first_plan cpu: user=%Us sys=%Ss (wall is load-sensitive on a shared machine; cpu less so)"
for run in $(seq "$runs"); do time {
  work=$(mktemp -d)
  git clone --quiet "$repo" "$work/clone"
  export UV_CACHE_DIR="$work/uv-cache" PIP_CACHE_DIR="$work/pip-cache"
  cd "$work/clone"
  start=$(date +%s.%N)
  step=$start
  report=""
  mark() { report+=" $1=$(seconds "$step")s"; step=$(date +%s.%N); }
  if [ "$mode" = pip ]; then
    python3 -m venv .venv; mark venv
    .venv/bin/pip install --quiet -r requirements-dev.lock 2>/dev/null; mark lock
    .venv/bin/pip install --quiet --no-deps -e . 2>/dev/null; mark project
  else
    # UV pointing into the venv makes make bootstrap uv even where one is on PATH
    make --quiet "$PWD/.venv/bin/uv" UV="$PWD/.venv/bin/uv" >/dev/null; mark venv+uv
    make --quiet .venv/bin/gpufleet UV="$PWD/.venv/bin/uv" >/dev/null; mark install
  fi
  planned=$(.venv/bin/gpufleet plan --stack dev 2>&1 >/dev/null | grep -o 'done in [0-9.]* s' || true); mark plan
  echo "first_plan mode=$mode run=$run total=$(seconds "$start")s$report ($planned) venv=$(du -sh .venv | cut -f1)"
  cd "$repo"
  rm -rf "$work"
}; done
