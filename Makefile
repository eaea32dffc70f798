# Two commands do all set-up on a fresh machine: `make plan` (the main job) and `make test`.
VENV := .venv
BIN := $(VENV)/bin
STACK ?= dev

.PHONY: plan test lint typecheck bench ci clean

$(BIN)/gpufleet: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

plan: $(BIN)/gpufleet  ## offline plan of stacks/Pulumi.$(STACK).yaml
	$(BIN)/gpufleet plan --stack $(STACK)

test: $(BIN)/gpufleet  ## the whole test suite
	$(BIN)/pytest -n 2

lint: $(BIN)/gpufleet
	$(BIN)/ruff check .

typecheck: $(BIN)/gpufleet
	$(BIN)/pyright

bench: $(BIN)/gpufleet  ## placement and offline-plan benchmarks
	$(BIN)/python benchmarks/placement.py
	$(BIN)/python benchmarks/plan.py

ci: lint typecheck test

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
