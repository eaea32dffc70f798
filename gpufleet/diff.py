"""What changes between two plan documents: resources, GPUs, money and policy verdicts.

Replacement is judged by URN plus the input properties that force a new resource on the real
providers (a short, explicit table); removing or replacing a protected resource is an error,
because `pulumi up` would refuse it and because it would lose data. Taking the protection away
(`protect` or `retain_on_delete` from true to false) is the same error: it is the step before a
removal that `pulumi up` would then let through. A replacement names what depends on the
replaced resource (`takes_down`: a network's subnets, clusters, node groups), which goes with it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, cast

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from gpufleet import clouds
from gpufleet.errors import EXIT_OK, EXIT_POLICY
from gpufleet.moves import MOVED_HEADER, Move, MoveDoc, moves, recorded_causes
from gpufleet.planjson import placements_from_document

DIFF_VERSION = 1
Action = Literal["add", "remove", "replace", "update"]
TunnelChange = tuple[str, Action, str | None, str | None]  # key, action, before, after
_closed = with_config(ConfigDict(extra="forbid"))


@_closed
class ResourceChangeDoc(TypedDict):
    """`properties` lists changed inputs, and `protect` / `retain_on_delete` where those options
    change; `takes_down`, on a replacement, the URNs that depend on the resource."""

    urn: str
    type: str
    action: Action
    protected: bool
    properties: list[str]
    error: bool
    takes_down: NotRequired[list[str]]


@_closed
class GpuChangeDoc(TypedDict):
    pool: str
    cloud: str
    region: str
    before: int
    after: int


@_closed
class CostChangeDoc(TypedDict):
    scope: str
    before_usd: float
    after_usd: float


@_closed
class TunnelChangeDoc(TypedDict):
    """A fleet-link tunnel added or removed (or whose inside CIDR or ASNs changed)."""

    key: str
    action: Action
    before: str | None  # "inside CIDR, ASN endpoint-ASN gateway", None when absent
    after: str | None


@_closed
class PolicyChangeDoc(TypedDict):
    policy: str
    enforcement: str
    before: int
    after: int


@_closed
class BurnChangeDoc(TypedDict):
    """A contract checkpoint's planned burn and shortfall before and after (absent: 0)."""

    cloud: str
    checkpoint: str
    burn_before_usd: float
    burn_after_usd: float
    shortfall_before_usd: float
    shortfall_after_usd: float


@_closed
class DiffDocument(TypedDict):
    """What changes between two plans (`gpufleet diff --format json`); `errors` counts protected
    resources that would be removed, replaced or unprotected. `version` changes when a key's
    meaning does."""

    version: int
    base: str
    head: str
    resources: list[ResourceChangeDoc]
    gpus: list[GpuChangeDoc]
    cost: list[CostChangeDoc]
    policies: list[PolicyChangeDoc]
    errors: int
    moved: NotRequired[list[MoveDoc]]
    tunnels: NotRequired[list[TunnelChangeDoc]]
    commitments: NotRequired[list[BurnChangeDoc]]


def diff_schema() -> dict[str, Any]:
    """The JSON Schema of the diff document (`gpufleet schema --diff`)."""
    from pydantic import TypeAdapter

    return TypeAdapter(DiffDocument).json_schema()

Row = tuple[str, ...]


PROTECTION = ("protect", "retain_on_delete")
"""The resource options that keep stored data: turning one off is as grave as a removal."""


@dataclass(frozen=True)
class ResourceChange:
    urn: str
    type: str
    action: Action
    protected: bool
    properties: tuple[str, ...] = ()
    unprotects: bool = False
    """`protect` or `retain_on_delete` goes from true to false."""
    takes_down: tuple[str, ...] = ()

    @property
    def is_error(self) -> bool:
        return (self.protected and self.action in ("remove", "replace")) or self.unprotects


@dataclass(frozen=True)
class PlanDiff:
    base: str
    head: str
    resources: tuple[ResourceChange, ...]
    gpus: tuple[tuple[str, str, str, int, int], ...]  # pool, cloud, region, before, after
    cost: tuple[tuple[str, float, float], ...]  # scope, before, after
    policies: tuple[tuple[str, str, int, int], ...]  # policy, enforcement, before, after
    head_mandatory_violations: int
    moved: tuple[Move, ...] = ()
    """With a head planned around capacity rules or from --previous: nodes moved, and why."""
    tunnels: tuple[TunnelChange, ...] = ()
    burns: tuple[BurnChange, ...] = ()
    """Contract checkpoints whose planned burn or shortfall changed (plans over a horizon)."""
    head_horizon: dict[str, Any] | None = None
    """The head's `horizon` and `commitments`, for its burn-down chart in markdown."""

    @property
    def errors(self) -> list[ResourceChange]:
        return [c for c in self.resources if c.is_error]

    @property
    def exit_code(self) -> int:
        return EXIT_POLICY if self.errors or self.head_mandatory_violations else EXIT_OK

    def count(self, action: str) -> int:
        return sum(1 for c in self.resources if c.action == action)

    def headline(self) -> str:
        before, after = self.cost[0][1], self.cost[0][2]
        text = (
            f"gpufleet diff {self.base} → {self.head}: +{self.count('add')} "
            f"~{self.count('update')} ±{self.count('replace')} -{self.count('remove')} resources; "
            f"${before:,.0f} → ${after:,.0f} per month"
        )
        if self.errors:
            text += f"; ERROR: {len(self.errors)} protected resource(s) would be removed, replaced or unprotected"
        if taken := {u for c in self.resources for u in c.takes_down}:
            text += f"; replacements take down {len(taken)} resource(s) that depend on them"
        if self.head_mandatory_violations:
            text += f"; {self.head_mandatory_violations} mandatory policy violation(s)"
        return text

    def sections(self) -> list[tuple[str, Row, list[Row]]]:
        changes: list[Row] = [
            (("ERROR " if c.is_error else "") + c.action, c.type, c.urn.split("::")[-1],
             ", ".join(c.properties) or "-")
            for c in self.resources if c.action != "update" or c.is_error
        ]
        updates: list[Row] = [
            (c.type, c.urn.split("::")[-1], ", ".join(c.properties))
            for c in self.resources if c.action == "update" and not c.is_error
        ]
        taken: list[Row] = [
            (c.urn.split("::")[-1], str(len(c.takes_down)), _named(c.takes_down))
            for c in self.resources if c.takes_down
        ]
        return [
            ("Resources", ("action", "type", "name", "properties"), changes),
            ("Updated in place", ("type", "name", "properties"), updates),
            ("Taken down with a replacement", ("replaced", "dependents", "what depends on it"), taken),
            ("GPUs", ("pool", "cloud", "region", "before", "after"),
             [(p, c, r, str(b), str(a)) for p, c, r, b, a in self.gpus if b != a]),
            ("Cost per month", ("scope", "before", "after", "change"),
             [(s, f"${b:,.0f}", f"${a:,.0f}", f"{a - b:+,.0f}") for s, b, a in self.cost]),
            ("Policy verdicts", ("policy", "enforcement", "violations before", "after"),
             [(p, e, str(b), str(a)) for p, e, b, a in self.policies if b != a]),
            *([("Moved", MOVED_HEADER,
                [(m.pool, m.offer, str(m.before), str(m.after), m.reason, m.sentence) for m in self.moved])]
              if self.moved else []),
            ("Link tunnels", ("action", "tunnel", "before", "after"),
             [(action, key, b or "-", a or "-") for key, action, b, a in self.tunnels]),
            ("Commitments", ("cloud", "checkpoint", "burn before", "after", "shortfall before", "after"),
             [(b.cloud, b.checkpoint, f"${b.burn[0]:,.0f}", f"${b.burn[1]:,.0f}", f"${b.shortfall[0]:,.0f}",
               f"${b.shortfall[1]:,.0f}") for b in self.burns]),
        ]

    def to_json(self) -> DiffDocument:
        document: DiffDocument = {
            "version": DIFF_VERSION, "base": self.base, "head": self.head,
            "resources": [_change_json(c) for c in self.resources],
            "gpus": [{"pool": p, "cloud": c, "region": r, "before": b, "after": a} for p, c, r, b, a in self.gpus],
            "cost": [{"scope": s, "before_usd": round(b, 2), "after_usd": round(a, 2)} for s, b, a in self.cost],
            "policies": [{"policy": p, "enforcement": e, "before": b, "after": a} for p, e, b, a in self.policies],
            "errors": len(self.errors),
        }
        if self.moved:
            document["moved"] = [m.to_json() for m in self.moved]
        if self.tunnels:  # only where a plan has a link: diffs of other plans stay as they were
            document["tunnels"] = [
                {"key": k, "action": action, "before": b, "after": a} for k, action, b, a in self.tunnels
            ]
        if self.burns:  # only where a plan has contracts
            document["commitments"] = [
                {"cloud": b.cloud, "checkpoint": b.checkpoint, "burn_before_usd": b.burn[0],
                 "burn_after_usd": b.burn[1], "shortfall_before_usd": b.shortfall[0],
                 "shortfall_after_usd": b.shortfall[1]}
                for b in self.burns
            ]
        return document


def _change_json(change: ResourceChange) -> ResourceChangeDoc:
    doc: ResourceChangeDoc = {
        "urn": change.urn, "type": change.type, "action": change.action, "protected": change.protected,
        "properties": list(change.properties), "error": change.is_error,
    }
    if change.takes_down:  # only on replacements with dependents: other diffs stay as they were
        doc["takes_down"] = list(change.takes_down)
    return doc


SHOWN_DEPENDENTS = 6


def _named(urns: Sequence[str]) -> str:
    """Dependents by name (type in brackets), a few of them, and how many more."""
    names = [f"{u.split('::')[-1]} ({u.split('::')[-2].split('$')[-1].rsplit(':', 1)[-1]})" for u in urns]
    more = len(names) - SHOWN_DEPENDENTS
    return ", ".join(names[:SHOWN_DEPENDENTS]) + (f" and {more} more" if more > 0 else "")


def _changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k)))


def _users(resources: Sequence[dict[str, Any]]) -> dict[str, set[str]]:
    """URN -> the URNs that depend on it (the `dependencies` the engine recorded)."""
    users: dict[str, set[str]] = defaultdict(set)
    for r in resources:
        for used in r.get("dependencies", ()):
            users[used].add(r["urn"])
    return users


def _dependents(users: dict[str, set[str]], replaced: str) -> tuple[str, ...]:
    """Every resource that depends on `replaced`, directly or through others: those that take
    the most others down with them first (a cluster before its add-ons), then in URN order, so
    the few a report names are the ones a reviewer must see."""
    found = _reach(users, replaced)
    reach = {urn: len(_reach(users, urn)) for urn in found}
    return tuple(sorted(found, key=lambda urn: (-reach[urn], urn)))


def _reach(users: dict[str, set[str]], start: str) -> set[str]:
    """The URNs that depend on `start`, directly or through others."""
    found: set[str] = set()
    waiting = [start]
    while waiting:
        for user in users.get(waiting.pop(), set()) - found - {start}:
            found.add(user)
            waiting.append(user)
    return found


def resource_changes(base: Sequence[dict[str, Any]], head: Sequence[dict[str, Any]]) -> tuple[ResourceChange, ...]:
    old = {r["urn"]: r for r in base}
    new = {r["urn"]: r for r in head}
    users = _users([*base, *head])
    changes: list[ResourceChange] = []
    for urn in sorted(old.keys() | new.keys()):
        before, after = old.get(urn), new.get(urn)
        if before is None and after is not None:
            changes.append(ResourceChange(urn, after["type"], "add", False))
        elif after is None and before is not None:
            changes.append(ResourceChange(urn, before["type"], "remove", bool(before["protect"])))
        elif before is not None and after is not None:
            changed = _changed(before["inputs"], after["inputs"])
            if before.get("region") != after.get("region"):
                changed = (*changed, "region")
            options = tuple(k for k in PROTECTION if bool(before.get(k)) != bool(after.get(k)))
            if not changed and not options:
                continue
            owner = clouds.owner_of(after["type"])
            replacing = owner.replace_on_change.get(after["type"], ()) if owner else ()
            forcing = tuple(p for p in changed if p in replacing or p == "region")
            action: Action = "replace" if forcing else "update"
            unprotects = any(before.get(k) and not after.get(k) for k in options)
            takes_down = _dependents(users, urn) if action == "replace" else ()
            changes.append(ResourceChange(
                urn, after["type"], action, bool(before["protect"]), (forcing or changed) + options,
                unprotects, takes_down,
            ))
    return tuple(changes)


def _gpus(doc: dict[str, Any]) -> dict[tuple[str, str, str], int]:
    found: dict[tuple[str, str, str], int] = defaultdict(int)
    for pool in doc["pools"]:
        for p in pool["placements"]:
            found[(pool["name"], p["cloud"], p["region"])] += int(p["gpus"])
    return found


def _violations(doc: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {(v["policy"], v["enforcement"]): len(v["violations"]) for v in doc.get("policies", [])}


def _tunnels(doc: dict[str, Any]) -> dict[str, str]:
    """Each tunnel of a plan's link as 'inside CIDR, ASN a–b' (a plan without a link: none)."""
    link = cast(dict[str, list[dict[str, Any]]], doc.get("interconnect") or {})
    asn = {f"{s['cloud']}/{s['region']}": s["asn"] for s in link.get("sites", [])}
    return {
        str(t["key"]): f"{t['inside_cidr']}, ASN {asn.get(t['endpoint'])}–{asn.get(t['gateway'])}"
        for t in link.get("tunnels", [])
    }


def tunnel_changes(base: dict[str, Any], head: dict[str, Any]) -> tuple[TunnelChange, ...]:
    """Tunnels added, removed or changed between two plans, by stable key."""
    before, after = _tunnels(base), _tunnels(head)
    changes: list[TunnelChange] = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old != new:
            action: Action = "add" if old is None else "remove" if new is None else "replace"
            changes.append((key, action, old, new))
    return tuple(changes)


def diff_documents(base: dict[str, Any], head: dict[str, Any]) -> PlanDiff:
    gpus_before, gpus_after = _gpus(base), _gpus(head)
    clouds = sorted(set(base["cost"]["by_cloud"]) | set(head["cost"]["by_cloud"]))
    cost = [("total", float(base["cost"]["monthly_usd"]), float(head["cost"]["monthly_usd"]))]
    cost += [
        (cloud, float(base["cost"]["by_cloud"].get(cloud, 0.0)), float(head["cost"]["by_cloud"].get(cloud, 0.0)))
        for cloud in clouds
    ]
    verdicts_before, verdicts_after = _violations(base), _violations(head)
    return PlanDiff(
        base=str(base.get("stack", "base")),
        head=str(head.get("stack", "head")),
        resources=resource_changes(base["resources"], head["resources"]),
        gpus=tuple(
            (pool, cloud, region, gpus_before.get(key, 0), gpus_after.get(key, 0))
            for key in sorted(gpus_before.keys() | gpus_after.keys())
            for pool, cloud, region in [key]
        ),
        cost=tuple(cost),
        policies=tuple(
            (policy, enforcement, verdicts_before.get(key, 0), verdicts_after.get(key, 0))
            for key in sorted(verdicts_before.keys() | verdicts_after.keys())
            for policy, enforcement in [key]
        ),
        head_mandatory_violations=sum(n for (_, e), n in verdicts_after.items() if e == "mandatory"),
        moved=_moved(base, head),
        tunnels=tunnel_changes(base, head),
        burns=burn_changes(base, head),
        head_horizon={"horizon": head["horizon"], "commitments": head.get("commitments", [])}
        if head.get("horizon") else None,
    )


@dataclass(frozen=True)
class BurnChange:
    cloud: str
    checkpoint: str  # label and the month it is judged through, e.g. "year 2 to 2027-10"
    burn: tuple[float, float]  # before, after
    shortfall: tuple[float, float]


def _burns(doc: dict[str, Any]) -> dict[tuple[str, str], tuple[float, float]]:
    """(cloud, checkpoint) → (burn, shortfall) of a plan's burn report (none without one)."""
    return {
        (str(c["cloud"]), f"{w['label']} to {w['end']}"): (float(w["burn_usd"]), float(w["shortfall_usd"]))
        for c in cast(list[dict[str, Any]], doc.get("commitments") or [])
        for w in cast(list[dict[str, Any]], c["periods"])
    }


def burn_changes(base: dict[str, Any], head: dict[str, Any]) -> tuple[BurnChange, ...]:
    """Each contract checkpoint whose planned burn or shortfall differs between the plans."""
    before, after = _burns(base), _burns(head)
    return tuple(
        BurnChange(cloud, checkpoint, (old[0], new[0]), (old[1], new[1]))
        for cloud, checkpoint in sorted(before.keys() | after.keys())
        if (old := before.get((cloud, checkpoint), (0.0, 0.0))) != (new := after.get((cloud, checkpoint), (0.0, 0.0)))
    )


def _moved(base: dict[str, Any], head: dict[str, Any]) -> tuple[Move, ...]:
    """Moves only where the head was re-planned (capacity rules or --previous): between two
    unrelated specs, changed node counts are the spec's doing, not moves."""
    if not head.get("capacity") and not head.get("previous"):
        return ()
    before = placements_from_document(base)
    return tuple(moves(before, placements_from_document(head), recorded_causes(before, head)))
