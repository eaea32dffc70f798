"""Terminal tables that never cut a value (docs/output.md).

A number, CIDR, name or ASN is printed whole or not at all. A table is printed as a table when
every column fits at the console's width: free-text columns (`WRAPPING_COLUMNS`) wrap at spaces,
never inside a word; every other column keeps each cell on one line. When it does not fit, the
optional columns (`OPTIONAL_COLUMNS`, in that order) are left out whole and named under the
table; when it still does not fit, the table is printed as a list, one block per row, one line
per column, with every column. A word longer than the whole width is printed whole on a line of
its own, wider than the terminal, rather than cut.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

Row = Sequence[str]

# Columns left out first, in this order, when a table does not fit (markdown and JSON keep them).
OPTIONAL_COLUMNS = ("GPU", "capacity", "GPUs", "burned", "left", "pod CIDR", "enforcement", "vCPUs",
                    "endpoint inside", "gateway inside", "tunnel")
# Free text that wraps at spaces; every other column keeps a cell on one line.
WRAPPING_COLUMNS = frozenset({"item", "source", "verdict", "what is wrong and how to fix it", "properties",
                              "jurisdictions", "name", "resource", "why", "rule", "copy path", "copies"})
_EDGES = 1  # a table's left border; each column adds its padding (2) and its right border (1)
_PER_COLUMN = 3
LIST_MARK = "- "
LIST_INDENT = "  "
CONTINUED = "    "
SEPARATOR = "; "


def console_for(width: int) -> Console:
    """A console that renders plain text into memory at `width` columns."""
    import io

    from rich.console import Console

    return Console(
        file=io.StringIO(), record=True, width=width, force_terminal=False, color_system=None,
        soft_wrap=False,
    )


def _cells(header: Row, rows: Sequence[Row], i: int) -> list[str]:
    return [header[i], *(row[i] for row in rows)]


def _least(header: Row, rows: Sequence[Row], i: int) -> int:
    """The narrowest column i can be without folding a cell: a wrapping column its longest
    word, any other its longest cell."""
    from rich.cells import cell_len

    if header[i] in WRAPPING_COLUMNS:
        return max(cell_len(word) for cell in _cells(header, rows, i) for word in [*cell.split(), ""])
    return max(cell_len(cell) for cell in _cells(header, rows, i))


def _most(header: Row, rows: Sequence[Row], i: int) -> int:
    from rich.cells import cell_len

    return max(cell_len(cell) for cell in _cells(header, rows, i))


def _widths(header: Row, rows: Sequence[Row], keep: Sequence[int], width: int) -> list[int] | None:
    """Each kept column's width in a table of at most `width` columns, or None if the table
    cannot fit without folding a cell. Room beyond the least goes to the wrapping columns, a
    column at a time to the narrowest that is shorter than its longest cell."""
    widths = [_least(header, rows, i) for i in keep]
    room = width - sum(widths) - _PER_COLUMN * len(keep) - _EDGES
    if room < 0:
        return None
    most = {n: _most(header, rows, i) for n, i in enumerate(keep) if header[i] in WRAPPING_COLUMNS}
    while room and (short := [n for n in most if widths[n] < most[n]]):
        widths[min(short, key=lambda n: (widths[n], n))] += 1
        room -= 1
    return widths


@dataclass(frozen=True, slots=True)
class Layout:
    """How a table is printed at one width: the columns kept, their widths, those left out."""

    keep: tuple[int, ...]
    widths: tuple[int, ...]
    dropped: tuple[str, ...]


def layout(header: Row, rows: Sequence[Row], width: int) -> Layout | None:
    """The table at `width`: every column, or without optional columns in order until it fits;
    None when even that does not fit (a list, `print_list`)."""
    keep = list(range(len(header)))
    dropped: list[str] = []
    widths = _widths(header, rows, keep, width)
    for column in OPTIONAL_COLUMNS:
        if widths is not None:
            break
        if column in header:
            keep.remove(header.index(column))
            dropped.append(column)
            widths = _widths(header, rows, keep, width)
    return None if widths is None else Layout(tuple(keep), tuple(widths), tuple(dropped))


def print_table(console: Console, title: str, header: Row, rows: Sequence[Row]) -> None:
    """The table at the console's width: whole, without its optional columns (named), or as
    a list (the module's rules). Cells are plain text, never rich markup. A table without rows
    is its title and "none", as the Markdown says it, not a header over nothing."""
    from rich.table import Table
    from rich.text import Text

    if not rows:
        console.print(Text(f"{title}: none"))
        return
    shape = layout(header, rows, console.width)
    if shape is None:
        print_list(console, title, header, rows)
        return
    caption = Text(f"not shown at this width: {', '.join(shape.dropped)}") if shape.dropped else None
    table = Table(title=Text(title), title_justify="left", caption=caption, caption_justify="left")
    for i, column_width in zip(shape.keep, shape.widths, strict=True):
        table.add_column(Text(header[i]), width=column_width, no_wrap=header[i] not in WRAPPING_COLUMNS)
    for row in rows:
        table.add_row(*(Text(row[i]) for i in shape.keep))
    console.print(table)


def print_list(console: Console, title: str, header: Row, rows: Sequence[Row]) -> None:
    """A table too wide for the console as a list, a block per row: on one line
    (`- column: value; column: value`) where it fits and no value holds `; `, else a line per
    column; free text wraps at spaces onto lines indented by four, other values move whole to
    such a line when they do not fit after their name."""
    from rich.cells import cell_len

    heading = f"{title} (a list: the table is wider than {console.width} columns)"
    lines = textwrap.wrap(heading, console.width, break_long_words=False, break_on_hyphens=False)
    for row in rows:
        compact = compact_row(header, row)
        if cell_len(compact) <= console.width and not any(SEPARATOR in value for value in row):
            lines.append(compact)
            continue
        for i, (column, value) in enumerate(zip(header, row, strict=True)):
            lead = (LIST_MARK if i == 0 else LIST_INDENT) + f"{column}:"
            lines += _field(lead, value, column in WRAPPING_COLUMNS, console.width)
    if not rows:
        lines.append(f"{LIST_INDENT}(none)")
    console.print("\n".join(lines), highlight=False, markup=False, soft_wrap=True)


def compact_row(header: Row, row: Row) -> str:
    """A row of a list on one line."""
    return LIST_MARK + SEPARATOR.join(f"{column}: {value}" for column, value in zip(header, row, strict=True))


def _field(lead: str, value: str, wraps: bool, width: int) -> list[str]:
    from rich.cells import cell_len

    if not value:
        return [lead]
    if cell_len(lead) + 1 + cell_len(value) <= width:
        return [f"{lead} {value}"]
    if not wraps:
        return [lead, CONTINUED + value]
    wrapped = textwrap.wrap(value, width - len(CONTINUED), break_long_words=False, break_on_hyphens=False)
    return [lead, *(CONTINUED + part for part in wrapped)]
