"""Validation errors in words: every problem names the field path, the bad value and what is
allowed, with a suggestion for a near miss. No spec model here (the root model is passed in), so
the spec and the CLI share it without a cycle.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from gpufleet import errors
from gpufleet.errors import Problem

UNION_TAG = "form:"
"""Tags of a union's members (a commitment's `form:monthly` or `form:contract`) start with it;
pydantic puts the tag into an error's location, and a field's path leaves it out."""


def suggest(value: str, allowed: list[str], names: Mapping[str, str] | None = None) -> str:
    """' (did you mean 'x'?)' for a name people write for x (`names`, lower case) or a close
    match (ignoring case), else ''."""
    named = (names or {}).get(value.strip().lower())
    if named is not None:
        return f" (did you mean '{named}'?)"
    spelling = {a.lower(): a for a in allowed}
    match = difflib.get_close_matches(value.lower(), list(spelling), n=1, cutoff=0.6)
    return f" (did you mean '{spelling[match[0]]}'?)" if match else ""


def spelled_as(value: str, known: Sequence[str]) -> str | None:
    """The known name `value` is, compared without case (`h100` is `H100`), or None: the one
    rule for names the catalog spells (accelerators in the spec, `catalog` filters)."""
    return next((name for name in known if name.lower() == value.lower()), None)


def one_of(kind: str, value: str, allowed: list[str], shown: int = 12, names: Mapping[str, str] | None = None) -> str:
    listed = ", ".join(allowed[:shown]) + (", ..." if len(allowed) > shown else "")
    return f"unknown {kind} {errors.shown(value)}{suggest(value[:100], allowed, names)}; known: {listed}"



def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "fleet"


def _value_at(data: object, loc: tuple[int | str, ...]) -> object:
    for part in loc:
        if isinstance(data, Mapping) and part in data:
            data = typing.cast(Mapping[object, object], data)[part]
        elif isinstance(data, list | tuple) and isinstance(part, int):
            items = typing.cast(Sequence[object], data)
            if part >= len(items):
                return None
            data = items[part]
        else:
            return None
    return data


def _model_at(loc: tuple[int | str, ...], root: type[BaseModel]) -> type[BaseModel] | None:
    """The model class that the location points into, following field annotations."""
    annotation: Any = root
    for part in loc:
        model = _unwrap_model(annotation)
        if model is not None and isinstance(part, str) and part in model.model_fields:
            annotation = model.model_fields[part].annotation
        elif get_origin(annotation) in (tuple, list, dict) or _unwrap_model(annotation) is None:
            args = [a for a in get_args(annotation) if a is not Ellipsis]
            annotation = args[-1] if args else None
        else:
            return None
    return _unwrap_model(annotation)


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is Annotated:
        return _unwrap_model(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            found = _unwrap_model(arg)
            if found is not None:
                return found
    return None


def problem_from_pydantic(error: Any, data: object, root: type[BaseModel]) -> Problem:
    """One pydantic error as a Problem: the field path, the bad value and what is allowed."""
    # pydantic marks an invalid dict key with a '[key]' step after the key itself
    loc: tuple[int | str, ...] = tuple(
        part for part in error["loc"] if part != "[key]" and not str(part).startswith(UNION_TAG)
    )
    kind = error["type"]
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1], root)
        allowed = sorted(model.model_fields) if model else []
        key = str(loc[-1])
        return Problem(
            _path(loc),
            f"unknown key '{key}'{suggest(key, allowed)}; allowed keys: {', '.join(allowed)}",
        )
    if kind == "missing":
        return Problem(_path(loc), "required key is missing")
    value = loc[-1] if "[key]" in error["loc"] else _value_at(data, loc)
    message: str = error["msg"]
    if kind == "literal_error":
        # ctx['expected'] reads "'on-demand', 'spot' or 'reserved'"
        listed = str(error.get("ctx", {}).get("expected", "")).replace(" or ", ", ")
        expected = [a.strip().strip("'") for a in listed.split(",")]
        return Problem(
            _path(loc),
            f"got {errors.shown(value)}{suggest(str(value)[:100], expected)}; allowed: {', '.join(expected)}",
        )
    if kind == "string_pattern_mismatch":
        message = "must be lowercase letters, digits and '-' (2-24 characters, starting with a letter)"
        if "cr-" in str(error.get("ctx", {}).get("pattern", "")):
            message = "must be an EC2 capacity reservation id such as cr-0123456789abcdef0"
    elif kind == "value_error":
        message = message.removeprefix("Value error, ")
    return Problem(_path(loc), f"{message} (got {errors.shown(value)})")
