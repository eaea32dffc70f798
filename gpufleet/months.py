"""Calendar months, the unit horizons, pool schedules and commitment contracts count in.

A month is written `YYYY-MM` in the spec and the plan; inside, it is an integer (year × 12 +
month − 1), so "three months later" is `+ 3` and a range of months is a Python `range`.
"""

from __future__ import annotations

import datetime
import re

MONTH_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MONTH_FORMAT = "YYYY-MM, e.g. 2026-01"


def month_index(text: str) -> int:
    """The integer of a month written YYYY-MM (the spec has validated the spelling)."""
    found = MONTH_PATTERN.match(text)
    if found is None:
        raise ValueError(f"'{text}' is not a month written {MONTH_FORMAT}")
    return int(found.group(1)) * 12 + int(found.group(2)) - 1


def month_text(index: int) -> str:
    """A month's integer written YYYY-MM."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_problem(value: object) -> str | None:
    """Why a value is not a month written YYYY-MM, or None. YAML reads `2026-01-15` as a date
    and `2026-01` as text; a day or a number is refused with the spelling to use."""
    if isinstance(value, datetime.date):
        return f"a month is written {MONTH_FORMAT} (got the date {value.isoformat()}; leave out the day)"
    if not isinstance(value, str):
        return f"a month is written {MONTH_FORMAT}, as text"
    if MONTH_PATTERN.match(value) is None:
        return f"a month is written {MONTH_FORMAT} (month 01-12)"
    return None


def current_month() -> int:
    """This month in UTC: the period a deployment falls in unless one is pinned."""
    today = datetime.datetime.now(datetime.UTC).date()
    return today.year * 12 + today.month - 1
