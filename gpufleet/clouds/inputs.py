"""Reading resource inputs as the engine sends them: camelCase, proxied, maybe unknown.

The CrossGuard runtime hands validators `Mapping`/`Sequence` proxies (not dicts and lists), and
a provider's nested inputs arrive JSON-encoded (the SDK serialises them), so every read goes
through these helpers. A leaf module: the policies and the clouds' security controls
(`gpufleet/clouds/*_controls.py`) read inputs the same way. It imports pulumi_policy's proxy, so
cloud models load it only where a policy runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from pulumi_policy.proxy import UnknownValueError

from gpufleet.clouds.declared import decoded, number

__all__ = ["get", "is_true", "items", "mapping", "number", "text"]

mapping = decoded  # the value as a mapping; JSON-encoded provider inputs decoded; else empty


def items(value: object) -> list[Any]:
    """The value as a list (proxied sequences included); a string or scalar gives [].

    Elements not known during preview are left out.
    """
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return []
    sequence = cast(Sequence[Any], value)
    found: list[Any] = []
    for index in range(len(sequence)):
        try:
            found.append(sequence[index])
        except UnknownValueError:
            continue
    return found


def get(props: object, *path: str) -> Any:
    """props[a][b]... or None where a step is missing or not known during preview.

    An unknown value reads as missing, so a guard that needs it fails closed instead of the
    runtime skipping the whole policy with an advisory note.
    """
    value: Any = props
    for key in path:
        current = mapping(value)
        try:
            if key not in current:
                return None
            value = current[key]
        except UnknownValueError:
            return None
    return value


def text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None



def is_true(value: object) -> bool:
    """True for True and 'true' (some inputs, e.g. launch-template EBS `encrypted`, are strings)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")
