"""YAML from a user's file, read within bounds: PyYAML's safe loader, plus what it leaves open.

- Aliases: a 1 KB document of nested aliases expands to billions of nodes (and an error message
  that renders it never ends). The document's size with every alias expanded is counted on the
  node graph, before anything is built, and bounded; an alias that contains itself is refused.
- Depth: the composer recurses once per level; nesting is bounded well before Python's stack.
- Duplicate keys: PyYAML keeps the last, the Pulumi CLI (Go yaml.v3) refuses the file, so a
  plan and `pulumi up` would read different budgets. Refused here too, naming both lines.
- Integers of thousands of digits: Python refuses to convert them (a ValueError, not a YAML
  error); refused with their line, as is any value PyYAML cannot build (a 13th month).

Every refusal is a `BoundsError` (a `yaml.MarkedYAMLError`): it names the line and column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import yaml
from yaml.constructor import ConstructorError
from yaml.error import Mark
from yaml.events import Event
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import ParserError
from yaml.scanner import ScannerError

MAX_DEPTH = 64
"""Nesting levels: a stack file nests about 8 (config, fleet, pools, a pool, pin...)."""
MAX_NODES = 200_000
"""Values with every alias expanded: a price book for every catalog offer is about 2,000."""
MAX_DIGITS = 100
"""Digits of one integer: more than any count or price holds (Python stops at 4,300)."""

MERGE_TAG = "tag:yaml.org,2002:merge"
SYNTAX_ERRORS = (ScannerError, ParserError)
"""What is a syntax error (the others are values or bounds the loader refuses)."""


class BoundsError(yaml.MarkedYAMLError):
    """A document beyond the loader's bounds, or with a key given twice."""


class _Loader(yaml.SafeLoader):
    """The safe loader with bounded depth, expanded size and integers, and unique keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                peek = cast(Callable[[], Event], self.peek_event)  # pyright: ignore[reportUnknownMemberType]
                mark = cast(Mark, peek().start_mark)
                raise BoundsError(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node: Node) -> Any:
        _check_size(node)
        return super().construct_document(node)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """A value PyYAML cannot build (a timestamp with month 13, `!!int 1e5`) raises a plain
        ValueError without a line; here it names the line."""
        try:
            return super().construct_object(node, deep=deep)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        except (ValueError, OverflowError) as error:
            raise ConstructorError(None, None, f"cannot read the value: {str(error)[:100]}", node.start_mark) from None

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        _check_unique_keys(node)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: ScalarNode) -> int:
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_DIGITS:
            raise BoundsError(None, None, f"an integer of {digits:,} digits (at most {MAX_DIGITS})",
                              node.start_mark)
        return super().construct_yaml_int(node)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_size(root: Node) -> None:
    """Count the document's values with every alias expanded (each shared node once per use,
    by its own count), without recursion; refuse an alias inside itself."""
    counted: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            counted[key] = 1 + sum(counted[id(child)] for child in _children(node))
            if counted[key] > MAX_NODES:
                raise BoundsError(None, None, (
                    f"more than {MAX_NODES:,} values once its aliases are expanded (a nest of "
                    "aliases that multiplies the document)"), node.start_mark)
            continue
        if key in counted:
            continue
        if key in on_path:
            raise BoundsError(None, None, "an alias refers to a node that contains it", node.start_mark)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in counted)


def _check_unique_keys(node: MappingNode) -> None:
    """A key given twice in one mapping (merge keys `<<` excepted: YAML lets a mapping's own
    keys override merged ones, and the Pulumi CLI reads them so too)."""
    seen: dict[object, Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG or not isinstance(key_node, ScalarNode):
            continue
        key = (key_node.tag, key_node.value)
        if key in seen:
            first = seen[key].start_mark
            raise ConstructorError(
                f"while reading a mapping (line {first.line + 1})", node.start_mark,
                f"key {str(key_node.value)[:60]!r} is given twice (lines {first.line + 1} and "
                f"{key_node.start_mark.line + 1}); the Pulumi CLI refuses duplicate keys: keep one",
                key_node.start_mark,
            )
        seen[key] = key_node


def load(text: str) -> Any:
    """The document in `text`, within the bounds; a `yaml.YAMLError` (with its mark) otherwise."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
