"""Reading a user's text file (spec, plan JSON, resources JSON): every failure is a message
that names the file, never a traceback."""

from __future__ import annotations

from pathlib import Path

from gpufleet.errors import Problem, SpecError


def read_utf8(path: Path, what: str, error: type[SpecError] = SpecError) -> str:
    """The file's text; a missing, unreadable or non-UTF-8 file raises `error` naming the file
    (and, for bad bytes, the byte offset and line, so an editor can find them)."""
    try:
        data = path.read_bytes()
    except OSError as failure:
        reason = "it is a folder" if path.is_dir() else failure.strerror or str(failure)
        raise error([Problem(str(path), f"cannot read {what}: {reason}")]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as failure:
        line = data.count(b"\n", 0, failure.start) + 1
        raise error([Problem(
            f"{path}:byte {failure.start} (line {line})",
            f"{what} is not UTF-8 text (byte 0x{data[failure.start]:02x}); save it as UTF-8",
        )]) from None
