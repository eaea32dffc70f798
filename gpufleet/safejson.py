"""JSON from a user's file, read within bounds: a clear exit 2 where `json.loads` would end in a
traceback or hand on a value no reader expects.

- Depth: Python's parser recurses once per level and raises RecursionError near 1,000 levels;
  every reader after it (policies, copies, error messages) recurses too. Nesting is bounded.
- Numbers: an integer of thousands of digits raises ValueError ("exceeds the limit for integer
  string conversion"); `1e999` parses as infinity; `NaN` and `Infinity` are not JSON at all.
  Integers are bounded in digits and every number is finite.
- Size: the file is bounded by `textfile.JSON_BYTES` before it is parsed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, cast

from gpufleet.errors import Problem, SpecError
from gpufleet.textfile import JSON_BYTES, read_utf8

MAX_DEPTH = 64
"""Nesting levels: a plan nests about 10 (resources, inputs, a provider's nested inputs)."""
MAX_DIGITS = 100
"""Digits of one integer: more than any count or id a plan holds."""


class _Refused(ValueError):
    """A number the parser's hooks refuse (raised from inside `json.loads`)."""


def _integer(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_DIGITS:
        raise _Refused(f"an integer of {digits:,} digits (at most {MAX_DIGITS})")
    return int(text)


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"{text[:40]} is beyond the largest finite number")
    return value


def _constant(text: str) -> Any:
    raise _Refused(f"{text} is not a JSON value (JSON numbers are finite)")


def depth(value: object) -> int:
    """How deeply a parsed value nests (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in cast(dict[str, object], item).values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in cast(list[object], item))
    return deepest


def loads(text: str, source: str, error: type[SpecError] = SpecError) -> Any:
    """The JSON value in `text`; anything beyond the bounds raises `error` naming `source`."""
    try:
        value = json.loads(text, parse_int=_integer, parse_float=_number, parse_constant=_constant)
    except json.JSONDecodeError as failure:
        raise error([Problem(f"{source}:line {failure.lineno}", f"not JSON: {failure.msg}")]) from None
    except _Refused as refused:
        raise error([Problem(source, str(refused))]) from None
    except RecursionError:
        raise error([Problem(source, f"nested more than {MAX_DEPTH} levels deep")]) from None
    if depth(value) > MAX_DEPTH:
        raise error([Problem(source, f"nested more than {MAX_DEPTH} levels deep")])
    return value


def read(path: Path, what: str, error: type[SpecError] = SpecError, source: str = "") -> Any:
    """The JSON value of a file within the bounds; problems name `source` (a flag and the path,
    say) or the path."""
    text = read_utf8(path, what, error, limit=JSON_BYTES)
    return loads(text, source or str(path), error)
