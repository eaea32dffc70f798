"""What a set of address ranges covers, judged by arithmetic, never by spelling.

One rule for every guard that judges a CIDR: the spec (`access.cidrs`, `network.supernet`,
`network.overrides`), the security controls (security groups, NSGs, the EKS and AKS API server
allowlists) and so `check --resources`. Ranges are collapsed per address family and compared
with the special-purpose blocks below, so `0.0.0.0/1` + `128.0.0.0/1`, `0::/0` or 300 /8s are
the internet as surely as `0.0.0.0/0` is. Pure `ipaddress` arithmetic: no SDK, no policy import.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

Range = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Block:
    """A special-purpose block: what it is, and where that is defined."""

    network: Range
    kind: str
    source: str

    def __str__(self) -> str:
        return f"{self.network} ({self.kind}, {self.source})"


def _block(cidr: str, kind: str, source: str) -> Block:
    return Block(ipaddress.ip_network(cidr), kind, source)


# IANA IPv4 Special-Purpose Address Registry (www.iana.org/assignments/iana-ipv4-special-registry/),
# with multicast (RFC 5771) and the reserved class E block (RFC 1112; 255.255.255.255 inside it).
PRIVATE_USE = (
    _block("10.0.0.0/8", "private-use", "RFC 1918"),
    _block("172.16.0.0/12", "private-use", "RFC 1918"),
    _block("192.168.0.0/16", "private-use", "RFC 1918"),
)
SPECIAL_V4 = (
    _block("0.0.0.0/8", "'this network'", "RFC 791"),
    *PRIVATE_USE,
    _block("100.64.0.0/10", "shared address space (carrier-grade NAT)", "RFC 6598"),
    _block("127.0.0.0/8", "loopback", "RFC 1122"),
    _block("169.254.0.0/16", "link-local", "RFC 3927"),
    _block("192.0.0.0/24", "IETF protocol assignments", "RFC 6890"),
    _block("192.0.2.0/24", "documentation (TEST-NET-1)", "RFC 5737"),
    _block("192.88.99.0/24", "6to4 relay anycast, deprecated", "RFC 7526"),
    _block("198.18.0.0/15", "benchmarking", "RFC 2544"),
    _block("198.51.100.0/24", "documentation (TEST-NET-2)", "RFC 5737"),
    _block("203.0.113.0/24", "documentation (TEST-NET-3)", "RFC 5737"),
    _block("224.0.0.0/4", "multicast", "RFC 5771"),
    _block("240.0.0.0/4", "reserved", "RFC 1112"),
)
# IPv6: only 2000::/3 is global unicast (RFC 4291 section 2.4; IANA IPv6 Address Space registry,
# www.iana.org/assignments/ipv6-address-space/); the rest is special or reserved by the IETF.
# Inside it, the IANA IPv6 Special-Purpose Address Registry's blocks that are not global.
GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
SPECIAL_V6 = (
    _block("::/128", "unspecified", "RFC 4291"),
    _block("::1/128", "loopback", "RFC 4291"),
    _block("::ffff:0:0/96", "IPv4-mapped", "RFC 4291"),
    _block("64:ff9b::/96", "IPv4/IPv6 translation", "RFC 6052"),
    _block("100::/64", "discard-only", "RFC 6666"),
    _block("2001::/23", "IETF protocol assignments", "RFC 2928"),
    _block("2001:db8::/32", "documentation", "RFC 3849"),
    _block("3fff::/20", "documentation", "RFC 9637"),
    _block("fc00::/7", "unique-local", "RFC 4193"),
    _block("fe80::/10", "link-local", "RFC 4291"),
    _block("ff00::/8", "multicast", "RFC 4291"),
)
RESERVED_V6 = "reserved by the IETF (outside 2000::/3, global unicast; RFC 4291)"

# The widest a list of public sources may reach: a /8 of IPv4 (the largest block one
# organisation holds, the legacy class A allocations) or a /32 of IPv6 (the minimum allocation
# to an internet registry's member, RIPE-738 section 5.1.2). Beyond that a list names the
# internet, not the ranges of runners and operators.
WIDEST = {4: 1 << 24, 6: 1 << 96}
WIDEST_TEXT = "a /8 of IPv4 or a /32 of IPv6"
SHOWN = 3  # ranges or blocks named in one message; the rest are counted


def _within(inner: Range, outer: Range) -> bool:
    return (inner.version == outer.version
            and int(outer.network_address) <= int(inner.network_address)
            and int(inner.broadcast_address) <= int(outer.broadcast_address))


def _overlap(a: Range, b: Range) -> int:
    """Addresses two ranges share: CIDR blocks nest or are disjoint."""
    if _within(a, b):
        return a.num_addresses
    return b.num_addresses if _within(b, a) else 0


def _inside_universe(block: Block) -> bool:
    return block.network.version == 4 or _within(block.network, GLOBAL_UNICAST_V6)


def _collapse(ranges: Iterable[Range], version: int) -> list[Range]:
    """The ranges of one version, merged where they touch or nest."""
    if version == 4:
        return list(ipaddress.collapse_addresses(r for r in ranges if isinstance(r, ipaddress.IPv4Network)))
    return list(ipaddress.collapse_addresses(r for r in ranges if isinstance(r, ipaddress.IPv6Network)))


_UNIVERSE: dict[int, Range] = {4: ipaddress.IPv4Network("0.0.0.0/0"), 6: GLOBAL_UNICAST_V6}
_NOT_PUBLIC_INSIDE: dict[int, list[Range]] = {
    version: _collapse((b.network for b in (*SPECIAL_V4, *SPECIAL_V6) if _inside_universe(b)), version)
    for version in (4, 6)
}
PUBLIC_TOTAL = {
    version: _UNIVERSE[version].num_addresses - sum(b.num_addresses for b in _NOT_PUBLIC_INSIDE[version])
    for version in (4, 6)
}


def parse(value: object) -> Range | None:
    """A CIDR or bare address written as text (host bits allowed, as the clouds read them), or
    None for anything else (a service tag, a typo, a value not known yet)."""
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def public_addresses(ranges: Iterable[Range]) -> dict[int, int]:
    """Public addresses the ranges cover, per IP version (overlaps counted once)."""
    listed = list(ranges)
    covered: dict[int, int] = {}
    for version in (4, 6):
        total = 0
        for r in _collapse(listed, version):
            total += _overlap(r, _UNIVERSE[version])
            total -= sum(_overlap(r, b) for b in _NOT_PUBLIC_INSIDE[version])
        covered[version] = total
    return covered


def not_public(network: Range) -> list[str]:
    """The special-purpose blocks a range reaches into, each named with its source."""
    special = SPECIAL_V4 if network.version == 4 else SPECIAL_V6
    found = [str(b) for b in special if _overlap(network, b.network)]
    outside = network.version == 6 and not _within(network, GLOBAL_UNICAST_V6)
    if outside and not any(_within(network, b.network) for b in SPECIAL_V6):
        found.append(RESERVED_V6)
    return found


def _listed(items: Sequence[str]) -> str:
    more = len(items) - SHOWN
    return ", ".join(items[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def reach(ranges: Iterable[Range]) -> str | None:
    """What an address set opens too widely, in words, or None: beyond WIDEST of either
    version, or the whole public internet of one."""
    covered = public_addresses(ranges)
    for version in (4, 6):
        if covered[version] >= PUBLIC_TOTAL[version]:
            return f"covers the whole public IPv{version} internet"
        if covered[version] > WIDEST[version]:
            prefix = (32 if version == 4 else 128) - covered[version].bit_length() + 1
            return (
                f"covers at least a /{prefix}'s worth of public IPv{version} addresses; "
                f"the networks of runners and operators reach at most {WIDEST_TEXT}"
            )
    return None


def outside_public(network: Range) -> str | None:
    """How a range reaches beyond public space (the block it lies in, or the blocks it reaches
    into), or None when it is wholly public."""
    special = SPECIAL_V4 if network.version == 4 else SPECIAL_V6
    home = next((b for b in special if _within(network, b.network)), None)
    if home is not None:
        return f"{network} is {home.kind} ({home.network}, {home.source})"
    inside = not_public(network)
    return f"{network} reaches {_listed(inside)}" if inside else None


class Opening(NamedTuple):
    """Sources that reach too far: the widest of them, named, and how far they reach."""

    ranges: str
    reach: str


def opening(values: Iterable[object]) -> Opening | None:
    """Sources (an allowlist, a security group's or NSG rule's) that together cover more than
    WIDEST of the public internet, or None; entries that are not CIDRs add nothing."""
    parsed = [r for r in (parse(v) for v in values) if r is not None]
    wide = reach(parsed)
    if wide is None:
        return None
    widest = sorted(parsed, key=lambda r: (-r.num_addresses, r.version, int(r.network_address)))
    return Opening(_listed([str(r) for r in widest]), wide)


def allowlist_problems(values: Iterable[object]) -> list[str]:
    """What is wrong with a list of public sources that may reach an API server: every entry a
    CIDR, each wholly public (a public endpoint never sees a private, loopback, multicast or
    documentation source), and together no wider than WIDEST."""
    listed = list(values)
    problems: list[str] = []
    bad = [repr(v)[:40] for v in listed if parse(v) is None]
    if bad:
        problems.append(f"includes {_listed(bad)}, not a CIDR")
    if (wide := opening(listed)) is not None:
        problems.append(f"includes {wide.ranges}: the list {wide.reach}")
    private = [text for text in (outside_public(r) for r in map(parse, listed) if r is not None) if text]
    if private:
        more = f"; and {len(private) - SHOWN} more" if len(private) > SHOWN else ""
        problems.append(f"includes ranges that are not public: {'; '.join(private[:SHOWN])}{more}")
    return problems


def private_block_problem(network: Range) -> str | None:
    """Why a network cannot be laid out as the fleet's private address space, or None: it must
    lie inside one RFC 1918 block (a cloud network from public or special space would shadow
    the internet, loopback or multicast from the nodes)."""
    if any(_within(network, b.network) for b in PRIVATE_USE):
        return None
    inside = [b for b in not_public(network) if "RFC 1918" not in b]
    home = next((b for b in SPECIAL_V4 if _within(network, b.network)), None)
    if home is not None:
        reason = f"is {home.kind} ({home.network}, {home.source})"
    elif inside:
        reason = f"reaches {_listed(inside)}"
    elif any(_overlap(network, b.network) for b in PRIVATE_USE):
        reason = "reaches public address space beyond its private-use block"
    else:
        reason = "is public address space"
    allowed = ", ".join(str(b.network) for b in PRIVATE_USE)
    return f"{network} {reason}; allowed: a block inside {allowed} (RFC 1918)"


# -- ingress judged per port: what every rule of one group lets in there, together -------------

ANY_PROTOCOL = "any protocol"
EVERY_PORT = (0, 65535)
MOST_GRANTS = 2000
"""Port ranges with CIDR sources judged in one group: twice the most rules either cloud takes in
one (AWS: rules per security group x groups per interface at most 1,000, docs.aws.amazon.com/vpc/
latest/userguide/amazon-vpc-limits.html; Azure: 1,000 rules per NSG, learn.microsoft.com/azure/
azure-resource-manager/management/azure-subscription-service-limits#networking-limits). Beyond
it a group is refused unjudged: the sweep below is quadratic in the grants."""


class Grant(NamedTuple):
    """Sources one rule lets in on a port range of a protocol (ANY_PROTOCOL: of every one), and
    who grants them (a rule of a group, or a resource of a stack)."""

    owner: str
    protocol: str
    low: int
    high: int
    sources: tuple[Range, ...]


class Exposure(NamedTuple):
    """A port range the owners' sources open too widely together, though none of them alone does."""

    ports: str
    owners: str
    opening: Opening


def ports_text(protocol: str, low: int, high: int) -> str:
    span = f"port {low}" if low == high else f"ports {low}-{high}"
    return f"{span} of any protocol" if protocol == ANY_PROTOCOL else f"{protocol} {span}"


def _runs(grants: Sequence[Grant]) -> list[tuple[int, int, tuple[Grant, ...]]]:
    """The port axis cut where any grant starts or ends: (low, high, grants open there) per piece,
    pieces with the same grants merged."""
    cuts = sorted({g.low for g in grants} | {g.high + 1 for g in grants})
    runs: list[tuple[int, int, tuple[Grant, ...]]] = []
    for low, end in pairwise(cuts):
        open_here = tuple(g for g in grants if g.low <= low <= g.high)
        if runs and runs[-1][2] == open_here:
            runs[-1] = (runs[-1][0], end - 1, open_here)
        else:
            runs.append((low, end - 1, open_here))
    return runs


def exposures(grants: Sequence[Grant]) -> list[Exposure]:
    """Port ranges where the sources of several owners together reach further than WIDEST, and
    further than any one owner's there (what one owner opens alone is that owner's own finding).
    A port of a protocol is judged with the grants of that protocol and of ANY_PROTOCOL."""
    found: list[Exposure] = []
    for protocol in sorted({g.protocol for g in grants}):
        mine = [g for g in grants if g.protocol in (protocol, ANY_PROTOCOL)]
        for low, high, open_here in _runs(mine):
            if protocol != ANY_PROTOCOL and all(g.protocol == ANY_PROTOCOL for g in open_here):
                continue  # judged once, as ANY_PROTOCOL
            owners = list(dict.fromkeys(g.owner for g in open_here))
            wide = _only_together(open_here, owners) if len(owners) > 1 else None
            if wide is not None:
                found.append(Exposure(ports_text(protocol, low, high), _listed(owners), wide))
    return found


def _only_together(grants: Sequence[Grant], owners: list[str]) -> Opening | None:
    """What the grants open too widely, in an IP version where no one owner's sources alone
    cover as much as all of them do; None where there is no such version."""
    union = [s for g in grants for s in g.sources]
    total = public_addresses(union)
    alone = [public_addresses(s for g in grants if g.owner == owner for s in g.sources) for owner in owners]
    versions = [v for v in (4, 6) if total[v] > WIDEST[v] and all(a[v] < total[v] for a in alone)]
    return opening(r for r in union if r.version in versions) if versions else None
