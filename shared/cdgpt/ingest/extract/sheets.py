"""Excel (.xlsx): one section per sheet (its name as the heading, its number as the page), rows as records.

openpyxl (about 1 MB) reads the cells, in read-only mode (rows streamed) with cached formula values;
dates come out as dates. The first row of two or more names that spans the table is taken as the
header (see `sheet_paragraphs`); rows above it (a sheet's title) stay plain text.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from io import BytesIO
from typing import Any

from cdgpt.errors import CdgptError, SourceFailed
from cdgpt.ingest.extract.archive import MB, Archive
from cdgpt.ingest.extract.budget import Budget
from cdgpt.ingest.extract.document import Section
from cdgpt.ingest.extract.records import table_paragraphs
from cdgpt.limits import MAX_STYLES_BYTES, MAX_TABLE_CELLS, MAX_TABLE_COLUMNS, MAX_TABLE_ROWS

STYLES = "xl/styles.xml"  # where openpyxl reads a workbook's styles, whatever its relationships say

warnings.filterwarnings("ignore", module="openpyxl")  # unsupported extensions, missing default styles


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return f"{value:.15g}"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return " ".join(str(value).split())


def sheet_paragraphs(rows: Sequence[Sequence[Any]]) -> list[str]:
    """Rows above the header as text; the rest as records. The header is the first row of two or more
    names (text, or years: "Region | 2023 | 2024") with no fewer cells than the row below it (a sheet's
    title is narrower than its table's header)."""
    rows = [row for row in rows if any(v is not None and v != "" for v in row)]
    filled = [sum(1 for v in row if v not in (None, "")) for row in rows]
    header = next(
        (
            i
            for i, row in enumerate(rows)
            if filled[i] >= 2
            and all(isinstance(v, str) or _year(v) for v in row if v not in (None, ""))
            and any(isinstance(v, str) and v for v in row)
            and filled[i] >= filled[min(i + 1, len(rows) - 1)]
        ),
        len(rows),
    )
    above = [" | ".join(t for v in row if (t := cell_text(v))) for row in rows[:header]]
    return above + table_paragraphs([[cell_text(v) for v in row] for row in rows[header:]])


def _year(value: Any) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and value == int(value) and 1900 <= value <= 2100
    )


def _rows(cells: Iterable[tuple[Any, ...]], where: str, cells_left: int) -> tuple[list[tuple[Any, ...]], int]:
    """A sheet's non-empty rows, trailing empty cells trimmed, within the row, column and (workbook) cell limits."""
    rows = []
    gap = None  # openpyxl yields one shared tuple for every missing row: skipped without a scan
    for number, row in enumerate(cells, start=1):
        if row is gap:
            continue
        filled = len(row) - row.count(None)
        if not filled:
            gap = row
            continue
        if number > MAX_TABLE_ROWS:
            raise SourceFailed(f"{where} has more than {MAX_TABLE_ROWS} rows")
        if len(row) > MAX_TABLE_COLUMNS and row[MAX_TABLE_COLUMNS:].count(None) < len(row) - MAX_TABLE_COLUMNS:
            raise SourceFailed(f"{where} has more than {MAX_TABLE_COLUMNS} columns")
        cells_left -= filled
        if cells_left < 0:
            raise SourceFailed(f"{where} takes the workbook past {MAX_TABLE_CELLS} cells")
        width = len(row)
        while row[width - 1] is None:
            width -= 1
        rows.append(row[:width])
    return rows, cells_left


def _width(sheet: Any) -> int:
    """The columns to read: the sheet's declared width when it is within the limit, else one past the limit."""
    declared = sheet.max_column
    return declared if isinstance(declared, int) and 0 < declared <= MAX_TABLE_COLUMNS else MAX_TABLE_COLUMNS + 1


def xlsx(content: bytes, name: str, budget: Budget) -> tuple[str | None, list[Section]]:
    package = Archive(content, name)  # the package's bounds, checked before openpyxl unpacks anything
    styles = package.members.get(STYLES)
    if styles is not None and styles.file_size > MAX_STYLES_BYTES:  # openpyxl makes an object of every style
        raise SourceFailed(f"{name}: its styles ({STYLES}) are larger than {MAX_STYLES_BYTES // MB} MB")
    from openpyxl import load_workbook

    try:
        book = load_workbook(BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise SourceFailed(f"{name} is not a readable Excel workbook") from exc
    sections = []
    cells_left = MAX_TABLE_CELLS
    try:
        for number, sheet in enumerate(book.worksheets, start=1):
            where = f"{name}: sheet {sheet.title!r}"
            if sheet.max_row == 1 and sheet.max_column == 1:  # "A1" declared by some writers (WPS) for any sheet
                sheet.reset_dimensions()  # read to the last row; `_width` then reads to the column limit
            cells = sheet.iter_rows(values_only=True, max_col=_width(sheet))
            try:
                rows, cells_left = _rows(cells, where, cells_left)
            except CdgptError:
                raise
            except Exception as exc:
                raise SourceFailed(f"{where} is damaged") from exc
            body = "\n\n".join(sheet_paragraphs(rows))
            budget.spend(len(body))
            if body:
                sections.append(Section((sheet.title,), body, page=number))
        title = book.properties.title if book.properties else None
    finally:
        book.close()
    return title, sections
