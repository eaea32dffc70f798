#!/usr/bin/env bash
# The package as a user installs it: build a wheel, install it (not editable) into a venv of its
# own, and run every command from a folder outside the checkout, so nothing can come from the
# source tree. Dependencies come from requirements.lock (uv's cache is warm from `make`).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
uv=$(command -v uv || echo "$repo/.venv/bin/uv")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$uv" build --quiet --wheel --out-dir "$work/dist" "$repo"
wheel=$(echo "$work"/dist/gpufleet-*.whl)
python3 - "$wheel" <<'PY'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = {"gpufleet/program.py", "gpufleet/catalog/README.md", "components/__init__.py",
        "components/aws/__init__.py", "components/azure/__init__.py"}
missing = sorted(need - names)
csvs = [n for n in names if n.startswith("gpufleet/catalog/data/") and n.endswith(".csv")]
stray = sorted(n for n in names if n.split("/")[0] in {"tests", "__main__.py", "stacks", "benchmarks"})
assert not missing and csvs and not stray, f"wheel: missing {missing}, catalog CSVs {csvs}, stray {stray}"
print(f"wheel: {len(names)} files, {len(csvs)} catalog CSVs")
PY

"$uv" venv --quiet --python python3 "$work/venv"
"$uv" pip install --quiet --compile-bytecode --python "$work/venv/bin/python" -r "$repo/requirements.lock"
"$uv" pip install --quiet --compile-bytecode --python "$work/venv/bin/python" --no-deps "$wheel"

cd "$work"
gpufleet=$work/venv/bin/gpufleet
spec=$repo/stacks/Pulumi.dev.yaml
"$gpufleet" plan --spec "$spec" --format json --out plan.json
"$gpufleet" check --spec "$spec" --format json --out check.json
"$gpufleet" diff plan.json plan.json --format json --out diff.json
"$gpufleet" catalog > catalog.txt
"$gpufleet" schema > schema.json
mkdir -p project/stacks/sub && cp "$repo/Pulumi.yaml" project/ && cp "$repo"/stacks/Pulumi.*.yaml project/stacks/
(cd project/stacks/sub && "$gpufleet" plan --stack dev --format json --out ../../../stack.json)  # found as Pulumi finds it
python3 -c 'import json, sys; [json.load(open(f)) for f in sys.argv[1:]]' plan.json check.json diff.json schema.json stack.json
echo "installed wheel: plan (--spec and --stack), check, diff, catalog and schema ran from $work"
