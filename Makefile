# Two commands do all set-up on a fresh machine: `make plan` (the main job) and `make test`.
# The environment comes from requirements-dev.lock (pinned and hashed, shared with CI), installed
# with uv, which installs the same wheels as pip in a fraction of the time. uv is used from PATH
# when there, otherwise bootstrapped into the venv from PyPI. Plain pip works with the same lock:
# `pip install -r requirements-dev.lock && pip install --no-deps -e .`. Both compile bytecode at
# install (uv only when asked: --compile-bytecode), so a run under PYTHONDONTWRITEBYTECODE does not
# compile the cloud SDKs on every plan (docs/output.md, "Install").
VENV := .venv
BIN := $(VENV)/bin
STACK ?= dev
UV ?= $(or $(shell command -v uv 2>/dev/null),$(abspath $(BIN)/uv))
# uv reads UV_DEFAULT_INDEX, not pip's settings: a mirror set for pip (PIP_INDEX_URL or pip.conf's
# index-url) is used by uv too; unset everywhere, both use PyPI.
PIP_INDEX := $(or $(PIP_INDEX_URL),$(shell python3 -m pip config get global.index-url 2>/dev/null))
export UV_DEFAULT_INDEX ?= $(PIP_INDEX)
ifeq ($(UV_DEFAULT_INDEX),)
unexport UV_DEFAULT_INDEX
endif

.PHONY: plan test lint typecheck audit bench mutate mutate-check ci lock clean

# No uv on PATH: uv from PyPI into a bare venv by this Python's pip (a venv with its own pip costs
# seconds more), or by the venv's pip where this Python has none.
$(abspath $(BIN)/uv):
	if python3 -m pip --version >/dev/null 2>&1; then \
	  python3 -m venv --without-pip $(VENV) && python3 -m pip --python $(BIN)/python install --quiet uv; \
	else python3 -m venv $(VENV) && $(BIN)/python -m pip install --quiet uv; fi

$(BIN)/gpufleet: pyproject.toml requirements-dev.lock | $(UV)
	test -x $(BIN)/python || $(UV) venv --quiet --seed --python python3 $(VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements-dev.lock
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps -e .
	test -x $(BIN)/pip || $(UV) pip install --quiet --compile-bytecode --python $(BIN)/python pip  # for `pulumi install`
	touch $@

plan: $(BIN)/gpufleet  ## offline plan of stacks/Pulumi.$(STACK).yaml
	$(BIN)/gpufleet plan --stack $(STACK)

test: $(BIN)/gpufleet  ## the whole test suite
	$(BIN)/pytest -n 2

lint: $(BIN)/gpufleet
	$(BIN)/ruff check .

typecheck: $(BIN)/gpufleet
	$(BIN)/pyright

audit: $(BIN)/gpufleet  ## zizmor over the workflows: nothing above informational may remain
	$(BIN)/zizmor --offline --min-severity low .github/workflows

bench: $(BIN)/gpufleet  ## placement (one period and over a horizon), explain, offline-plan and live look-up benchmarks
	$(BIN)/python benchmarks/placement.py --runs 3 --seeds 2
	$(BIN)/python benchmarks/horizon.py
	$(BIN)/python benchmarks/regionscale.py --runs 1
	$(BIN)/python benchmarks/explain.py
	$(BIN)/python benchmarks/plan.py
	$(BIN)/python benchmarks/live.py

# Mutation testing (benchmarks/mutation.py, issue 32): CPU-heavy, so one module at a time with
# its mapped tests; SCOPE=<module> (or a folder ending in /) for one, JOBS=<n> mutants at once.
# Not part of `ci`: the scheduled workflow runs it; CI runs the cheap ratchet over the recorded file.
SCOPE ?=
JOBS ?= 1
mutate: $(BIN)/gpufleet  ## mutation scores into benchmarks/mutation.json and .md (SCOPE=gpufleet/ipam.py for one)
	$(BIN)/python benchmarks/mutation.py --jobs $(JOBS) $(if $(SCOPE),--scope $(SCOPE))

mutate-check: $(BIN)/gpufleet  ## the recorded mutation scores meet their floors (no mutmut run)
	$(BIN)/python benchmarks/mutation.py --check

ci: lint typecheck audit test

lock: | $(UV)  ## re-pin requirements*.lock after a change to pyproject.toml's dependencies
	$(UV) pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --quiet \
	  --custom-compile-command "make lock" -o requirements.lock
	$(UV) pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes --quiet \
	  --custom-compile-command "make lock" -o requirements-dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mutmut
