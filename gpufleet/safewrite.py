"""The one way gpufleet writes a file (`--out`, kubeconfigs, the refreshed offers, `init`).

A temporary file in the target's folder, created exclusively and never through a link, with its
mode set at creation (0600 for credentials: the bytes never sit in a file others can read), all
bytes written and flushed to disk, then renamed over the target in one step: a reader sees the
old file or the new one, never half of one. A target that is a symbolic link is refused, not
followed (a planted link would otherwise have its target overwritten); a folder is refused.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from gpufleet.errors import CommandLineError, Problem

PRIVATE = 0o600
"""Credentials and what names private endpoints: the owner only."""
SHARED = 0o666
"""Everything else: readable as the user's umask allows, as any tool's output."""


def _refuse(flag: str, path: Path, reason: str) -> CommandLineError:
    return CommandLineError([Problem(flag, f"cannot write {path}: {reason}")])


def write_text(path: Path, text: str, *, mode: int = SHARED, flag: str = "--out") -> None:
    """Write `text` to `path` atomically with `mode` (less the umask); errors name `flag`."""
    try:
        found = path.lstat()
    except FileNotFoundError:
        found = None
    except OSError as error:
        raise _refuse(flag, path, error.strerror or str(error)) from None
    if found is not None and stat.S_ISLNK(found.st_mode):
        raise _refuse(flag, path, (
            f"it is a symbolic link (to {os.readlink(path)}); gpufleet does not write through "
            "links: remove it, or give the file it points to"
        ))
    if found is not None and stat.S_ISDIR(found.st_mode):
        raise _refuse(flag, path, "it is a folder; give a file name in it")
    temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(temporary, flags, mode)
    except OSError as error:
        raise _refuse(flag, path, error.strerror or str(error)) from None
    try:
        # backslashreplace: a lone surrogate read from a JSON escape is written, not fatal
        with os.fdopen(descriptor, "w", encoding="utf-8", errors="backslashreplace", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            temporary.unlink()
        if isinstance(error, OSError):
            raise _refuse(flag, path, error.strerror or str(error)) from None
        raise
