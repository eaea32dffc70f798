"""Which inputs of which resource types hold a physical name, and the name a provider makes when
the program gives none.

`data/name_inputs.csv` holds one row per (type token, input path, name kind of
`name_rules.csv`, autoname strategy); a type whose resources have no physical name has one row
with an empty input and a note saying why, so every type the program declares is accounted for
(tests/test_names.py fails on a recorded type with no row). Input paths: `a.b` reads a nested
key, `a[].b` the key of every item of a list, `a.*` every value of a mapping.

When a name input is absent the provider fills it from the resource's logical name
(`autoname`): this is the name the cloud will see, so it is the one checked.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

# What each provider appends to the logical name when it names a resource (the random part
# shown as zeros: every rule allows digits there):
# - pulumi-aws: every resource with a `name` input, through the Terraform bridge's AutoName
#   (separator '-', 7 random hex; provider/autonaming.go and resources.go, e.g. aws_iam_role
#   `tfbridge.AutoName("name", 64, "-")`); S3 `bucket` alike.
# - pulumi-azure-native: the `random` strategy appends 8 random hex with no separator
#   (provider/pkg/provider/provider.go getDefaultName, `resource.NewUniqueName(seed, name, 8,
#   0, nil)`; autonaming_test.go expects "test614742c2" for logical name "test"); `uuid`
#   names are random GUIDs. Which strategy a type has is in the provider's metadata, not
#   read offline: `random`, the longer, is assumed for every type named `azure` here.
# - pulumi-kubernetes: `metadata.name` (and a Helm release's `name`) is the logical name, '-'
#   and 8 random characters (provider/pkg/metadata/naming.go AssignNameIfAutonamable,
#   `NewUniqueName(seed, urn.Name()+"-", 0, 0, nil)`: 8 by default).
AUTONAME_SUFFIXES: Mapping[str, str] = {"aws": "-" + "0" * 7, "azure": "0" * 8, "k8s": "-" + "0" * 8}
RANDOM_NAMES = frozenset({"uuid"})  # random GUIDs: nothing of the logical name to check


@dataclass(frozen=True, slots=True)
class NameInput:
    """One input of a type that holds a physical name (empty `input`: the type has none)."""

    type: str
    input: str
    kind: str
    autoname: str
    note: str

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.input.split(".")) if self.input else ()


@cache
def _table() -> Mapping[str, tuple[NameInput, ...]]:
    text = resources.files("gpufleet.catalog").joinpath("data", "name_inputs.csv").read_text(encoding="utf-8")
    found: dict[str, list[NameInput]] = {}
    for row in csv.DictReader(text.splitlines()):
        found.setdefault(row["type"], []).append(NameInput(
            row["type"], row["input"], row["kind"], row["autoname"], row["note"],
        ))
    return {token: tuple(rows) for token, rows in found.items()}


def name_inputs(type_token: str) -> tuple[NameInput, ...] | None:
    """The rows of a type (its name inputs, or one empty row: no physical name); None: no row."""
    rows = _table().get(type_token)
    return None if rows is None else tuple(r for r in rows if r.input)


def known_types() -> frozenset[str]:
    """Every type token the table accounts for."""
    return frozenset(_table())


def autonamed(strategy: str, logical_name: str) -> str | None:
    """The name the provider makes from a logical name (random part as zeros); None when the
    strategy makes no name from it (a GUID) or the program must give one."""
    suffix = AUTONAME_SUFFIXES.get(strategy)
    return None if suffix is None else logical_name + suffix


def longest(kind: str) -> int:
    """The most characters a name of this kind may have (its `.{min,max}` rule)."""
    from gpufleet.catalog.limits import name_rules

    for rule in name_rules(kind):
        found = re.fullmatch(r"\.\{(\d+),(\d+)\}", rule.pattern.pattern)
        if found:
            return int(found[2])
    raise KeyError(f"no length rule for names of kind {kind!r}")


def logical_room(kind: str, strategy: str) -> int:
    """The longest logical name whose autoname still fits a name of this kind."""
    return longest(kind) - len(AUTONAME_SUFFIXES[strategy])
