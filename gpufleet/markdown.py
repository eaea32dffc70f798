"""User strings in Markdown that cannot forge it: for the PR comment and every markdown render.

What a plan names comes from a spec, a plan file or a stack file name, all in the pull request.
Rendered as it is, a name with a newline starts a heading ("**Verdict:** all pass"), a backtick
run closes a code fence, `<!--` hides the real verdict, and `@someone` pings a person. So:
- `cell` and `text` (inline, table cells): Markdown and HTML punctuation escaped, line breaks
  folded, mentions neutralised (a zero-width space after an `@` that could start one, as
  Renovate does);
- `fenced` (a block shown as it is): a fence longer than any backtick run inside it.
"""

from __future__ import annotations

import re

# CommonMark backslash escapes (spec 2.4) of what opens or closes an inline construct (code,
# emphasis, links, table cells, strikethrough), and of a block marker where a line starts.
_SPECIAL = re.compile(r"([\\`*_\[\]|])")
_MARKER = re.compile(r"^(\s*)([#>+=-])")
_NUMBERED = re.compile(r"^(\s*\d+)([.)])")
_MENTION = re.compile(r"(?<![0-9A-Za-z_])@")
"""An `@` that can start a mention (not one inside a word: `user@host`, `repo@sha`)."""
_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")


def cell(value: object) -> str:
    """`value` as inline Markdown (a table cell, a phrase) that reads as written and no more."""
    plain = _BREAKS.sub(" ", str(value))
    plain = plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = _SPECIAL.sub(r"\\\1", plain)
    if escaped.count("~") > 1:  # strikethrough takes a pair
        escaped = escaped.replace("~", "\\~")
    return unmentioned(escaped)


def text(value: object) -> str:
    """`value` as inline Markdown that may start a line (a heading's text, a paragraph)."""
    return _NUMBERED.sub(r"\1\\\2", _MARKER.sub(r"\1\\\2", cell(value)))


def fenced(value: str, info: str = "") -> str:
    """`value` as a fenced code block it cannot close; mentions inside stay plain text."""
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{unmentioned(value)}\n{fence}"


def unmentioned(value: str) -> str:
    """`value` with every `@` that could ping someone followed by a zero-width space."""
    return _MENTION.sub("@\u200b", value)
