"""Refreshed offers over the packaged ones: `$GPUFLEET_CATALOG_DIR/offers.csv`.

`gpufleet catalog refresh --out DIR` writes that file (the clouds' price APIs, each row naming
its API and the UTC time of the look-up). With GPUFLEET_CATALOG_DIR=DIR (or `plan --catalog-dir
DIR`, which sets it for that run) the catalog reads it after the packaged offers.csv: a row
replaces the packaged row of the same cloud, instance type and region, or adds one. The spec's
price book still comes last. An environment variable rather than a plan flag only, because the
program `pulumi up` runs must place with the same prices the plan showed.

A bad file is the user's mistake: exit 2 naming the file, the row and the field.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Collection, Generator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from gpufleet.errors import GpufleetError

DIR_VARIABLE = "GPUFLEET_CATALOG_DIR"
FILE_NAME = "offers.csv"
COLUMNS = ("cloud", "instance_type", "region", "price_usd_per_hour", "spot_price_usd_per_hour", "source")
"""The header of the packaged catalog/data/offers.csv, which a refreshed file repeats."""
MAX_BYTES = 8 << 20
"""A refreshed offers file: a hundred times the packaged one."""


class CatalogFileError(GpufleetError):
    """A refreshed offers file that cannot be read as one: exit 2."""


def overlay_path() -> Path | None:
    """The refreshed offers file named by the environment, or None."""
    folder = os.environ.get(DIR_VARIABLE, "")
    return Path(folder) / FILE_NAME if folder else None


def overlay_identity() -> tuple[str, int, int] | None:
    """What the cached catalog depends on: the file's path, size and modification time (a new
    refresh reloads it). A named folder without the file is an error, not a silent packaged plan."""
    path = overlay_path()
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError as error:
        raise CatalogFileError(
            f"{DIR_VARIABLE}={path.parent}: cannot read {path}: {error.strerror} "
            f"(`gpufleet catalog refresh --out {path.parent}` writes it)"
        ) from None
    return str(path), stat.st_size, stat.st_mtime_ns


@contextmanager
def using(folder: Path | None) -> Generator[None]:
    """GPUFLEET_CATALOG_DIR set to `folder` for one command (`plan --catalog-dir`), then restored."""
    if folder is None:
        yield
        return
    before = os.environ.get(DIR_VARIABLE)
    os.environ[DIR_VARIABLE] = str(folder)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(DIR_VARIABLE, None)
        else:
            os.environ[DIR_VARIABLE] = before


# Cells a spreadsheet runs as a formula (OWASP, "CSV Injection": =, +, -, @, tab, carriage
# return): the offers file is opened in spreadsheets and its sources reach cost lines.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_problem(column: str, value: str) -> str | None:
    """What is wrong with a text cell a spreadsheet would run as a formula, or None."""
    if value.startswith(FORMULA_STARTS):
        return (f"{column} {value[:40]!r} starts like a spreadsheet formula; a source names an "
                "API and the time of the look-up")
    return None


def csv_cell(value: str) -> str:
    """A text cell as written: a leading formula character is quoted (OWASP's `'` prefix)."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _price(value: str, column: str) -> str | None:
    """None if the price cell is empty or a positive finite number; else what is wrong."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return f"{column} {value!r} is not a number (USD per hour, or empty for unknown)"
    if not math.isfinite(number) or number <= 0:
        return f"{column} {value!r} must be a positive number of USD per hour, or empty for unknown"
    return None


def row_problem(
    row: Mapping[str, str | None], skus: Collection[tuple[str, str]], regions: Collection[tuple[str, str]]
) -> str | None:
    """What is wrong with one refreshed row, or None: a known SKU in a known region of its cloud,
    prices empty or positive, a source."""
    if None in row or None in row.values():  # csv.DictReader's marks of too many or too few cells
        return f"has the wrong number of cells; a row has the {len(COLUMNS)} columns {', '.join(COLUMNS)}"
    cloud, instance_type, region = row["cloud"] or "", row["instance_type"] or "", row["region"] or ""
    if (cloud, instance_type) not in skus:
        return (f"instance_type {instance_type!r} is not a {cloud!r} SKU of the catalog "
                f"(`gpufleet catalog --cloud {cloud}`)")
    if (cloud, region) not in regions:
        return f"region {region!r} is not a {cloud} region of the catalog"
    for column in COLUMNS[3:5]:
        if problem := _price(row[column] or "", column):
            return problem
    if not row["price_usd_per_hour"] and not row["spot_price_usd_per_hour"]:
        return "has neither price; leave the row out to keep the packaged offer"
    if not (row["source"] or "").strip():
        return "source is empty; name the API and the time of the look-up"
    return formula_problem("source", row["source"] or "")


def read_offers(
    path: Path, skus: Collection[tuple[str, str]], regions: Collection[tuple[str, str]]
) -> list[dict[str, str]]:
    """The rows of a refreshed offers file, every one checked; the first bad one is named."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise CatalogFileError(f"{path} is larger than {MAX_BYTES >> 20} MiB; the packaged offers.csv is "
                                   "about 100 KB: is it the right file?")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CatalogFileError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    reader = csv.DictReader(text.splitlines())
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise CatalogFileError(
            f"{path}: row 1: the header must be {','.join(COLUMNS)} (as catalog/data/offers.csv), "
            f"not {','.join(reader.fieldnames or ()) or 'empty'}"
        )
    rows: list[dict[str, str]] = []
    seen: dict[tuple[str, str, str], int] = {}
    for number, row in enumerate(reader, start=2):
        if problem := row_problem(row, skus, regions):
            raise CatalogFileError(f"{path}: row {number}: {problem}")
        offer = (row["cloud"] or "", row["instance_type"] or "", row["region"] or "")
        if offer in seen:
            raise CatalogFileError(
                f"{path}: row {number}: repeats the offer of row {seen[offer]} ({'/'.join(offer)}); "
                "one row per cloud, instance type and region (which price is meant?)"
            )
        seen[offer] = number
        rows.append({column: row[column] or "" for column in COLUMNS})
    if not rows:  # what a refresh that fetched nothing once wrote: not a refreshed catalog
        raise CatalogFileError(f"{path}: holds no offers, so it refreshes nothing; run `gpufleet catalog refresh "
                               f"--out {path.parent}` again, or remove the file")
    return rows


def write_offers(path: Path, rows: Sequence[Mapping[str, str]]) -> None:
    """The rows in the packaged file's format, sorted as it is (cloud, instance type, region)."""
    from gpufleet.safewrite import write_text

    ordered = sorted(rows, key=lambda r: (r["cloud"], r["instance_type"], r["region"]))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows([csv_cell(row[column]) for column in COLUMNS] for row in ordered)
    write_text(path, text.getvalue())
