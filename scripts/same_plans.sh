#!/usr/bin/env bash
# The plans a refactor must not change, byte for byte: `gpufleet plan --format json --stable` of
# every sample stack and example, in both stages (`--cluster-software`), with and without the
# private link (`network.interconnect: vpn`, which adds the link and the cross-cloud sync jobs).
#
#   scripts/same_plans.sh save DIR    before the change: write the plans to DIR
#   scripts/same_plans.sh check DIR   after it: plan again and compare with DIR (exit 1 on a difference)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: same_plans.sh save|check DIR}
dir=${2:?usage: same_plans.sh save|check DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$dir
[ "$mode" = check ] && out=$work/plans
mkdir -p "$out" "$work/specs"

# Each spec as a plain file (the stacks' config key unwrapped), and its variant with the link.
for source in stacks/Pulumi.dev.yaml stacks/Pulumi.prod-eu.yaml examples/*.yaml; do
  name=$(basename "$source" .yaml); name=${name#Pulumi.}
  .venv/bin/python - "$source" "$work/specs/$name.yaml" "$work/specs/$name-vpn.yaml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
spec = doc.get("config", {}).get("gpufleet:fleet", doc)
yaml.safe_dump(spec, open(sys.argv[2], "w", encoding="utf-8"))
spec.setdefault("network", {})["interconnect"] = "vpn"
yaml.safe_dump(spec, open(sys.argv[3], "w", encoding="utf-8"))
PY
done

for spec in "$work"/specs/*.yaml; do
  name=$(basename "$spec" .yaml)
  for stage in 1 2; do
    flags=(); [ $stage = 2 ] && flags=(--cluster-software)
    code=0
    .venv/bin/gpufleet plan --spec "$spec" --stack-name "$name" --format json --stable "${flags[@]}" \
      --out "$out/$name.stage$stage.json" 2>/dev/null || code=$?
    echo "$code" > "$out/$name.stage$stage.exit"
  done
done

# The sample stacks as `--stack` finds them (the project's Pulumi.yaml and stackConfigDir).
for stack in dev prod-eu; do
  code=0
  .venv/bin/gpufleet plan --stack "$stack" --format json --stable --out "$out/stack-$stack.json" 2>/dev/null || code=$?
  echo "$code" > "$out/stack-$stack.exit"
done

if [ "$mode" = check ]; then
  diff -r "$dir" "$out" && echo "same plans: $(ls "$out"/*.json | wc -l) plans byte-identical to $dir"
else
  echo "saved $(ls "$out"/*.json | wc -l) plans to $dir"
fi
