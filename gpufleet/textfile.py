"""Reading a user's text file (spec, plan JSON, resources JSON): every failure is a message
that names the file, never a traceback; no file is read past its kind's size bound."""

from __future__ import annotations

from pathlib import Path

from gpufleet.errors import Problem, SpecError

MIB = 1 << 20
SPEC_BYTES = 1 * MIB
"""A spec or stack file: a price book for every catalog offer is about 50 KB."""
JSON_BYTES = 32 * MIB
"""A plan, resources or outputs JSON file: a plan takes about 1 KB per resource, so 32 MiB holds
some 30,000 resources, beyond what one stack declares."""


def read_utf8(path: Path, what: str, error: type[SpecError] = SpecError, limit: int = SPEC_BYTES) -> str:
    """The file's text; a missing, unreadable, oversized or non-UTF-8 file raises `error` naming
    the file (and, for bad bytes, the byte offset and line, so an editor can find them)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as failure:
        reason = "it is a folder" if path.is_dir() else failure.strerror or str(failure)
        raise error([Problem(str(path), f"cannot read {what}: {reason}")]) from None
    if len(data) > limit:
        raise error([Problem(str(path), (
            f"{what} is larger than {limit // MIB} MiB, the most gpufleet reads; is it the right file?"
        ))])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as failure:
        line = data.count(b"\n", 0, failure.start) + 1
        raise error([Problem(
            f"{path}:byte {failure.start} (line {line})",
            f"{what} is not UTF-8 text (byte 0x{data[failure.start]:02x}); save it as UTF-8",
        )]) from None
