"""The specs the documentation works through plan as it says."""

from __future__ import annotations

from pathlib import Path

from gpufleet.offline import SpecSource, run_plan

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_the_data_gravity_example_follows_its_data_to_azure() -> None:
    doc = run_plan(SpecSource(spec=EXAMPLES / "data-gravity.yaml")).document
    [placement] = doc["pools"][0]["placements"]
    assert (placement["cloud"], placement["region"], placement["nodes"]) == ("azure", "eastus", 2)
    assert doc["cost"]["monthly_usd"] == 192_135.02  # docs/data-gravity.md
    assert all(not p["violations"] for p in doc["policies"])
