"""Tabular data as records: each row (CSV, TSV, a sheet, a table) or object (JSON, JSON lines) becomes one
paragraph of `header: value` lines, so a row is retrieved, and quoted, with the names of its values.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from cdgpt.errors import SourceFailed
from cdgpt.ingest.extract.document import Section
from cdgpt.limits import MAX_TABLE_COLUMNS, MAX_TABLE_ROWS

MAX_NESTING = 20  # JSON levels flattened into dotted keys; deeper values are kept as compact JSON
DIGIT = re.compile(r"\d")
YEAR_IN_NAME = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")  # a year in a column's name ("2024 actual") is no figure
NESTED_CHARS = 1000


def record(pairs: Iterable[tuple[str, str]]) -> str:
    """One record: a `name: value` line per non-empty value."""
    return "\n".join(f"{name}: {value}" if name else value for name, value in pairs if value)


def column_name(index: int) -> str:
    return f"Column {index + 1}"


def _labelled(label: str, value: str | None) -> str:
    """A label and its value; a label whose value is blank stays ("Signature:"), a lone cell is itself. A
    label's own colon is not doubled ("Name:" | "Ada": "Name: Ada")."""
    if value is None or not label:
        return label or value or ""
    label = label.rstrip(":：").rstrip() or label
    return f"{label}: {value}" if value else f"{label}:"


def said_header(marked: bool, rows: Sequence[Sequence[str]]) -> bool | None:
    """What a document's table says of its first row: a header when the document marks one; else none in a
    two-column table (labels and their values); else unsaid (`table_paragraphs` decides from the cells)."""
    if marked:
        return True
    return False if rows and max(map(len, rows)) == 2 else None


def table_paragraphs(rows: Sequence[Sequence[str]], header: bool | None = None) -> list[str]:
    """Rows of cell texts as paragraphs: below a header row of two or more names, records; else cells joined.
    Whether the first row is a header is found from it unless the document says (`header`); a two-column
    table said to have none is labels and their values ("Policy owner | CISO"), one record."""
    return list(each_table_paragraph(rows, header))


def each_table_paragraph(rows: Sequence[Sequence[str]], header: bool | None = None) -> Iterator[str]:
    """table_paragraphs one at a time: a record repeats its columns' names, so a table's text can be many
    times its cells'; a reader counting it stops at its budget before all of it is written."""
    rows = [row for row in rows if any(row)]
    if header is False and rows and max(map(len, rows)) == 2:
        yield "\n".join(_labelled(row[0], row[1] if len(row) == 2 else None) for row in rows)
    elif len(rows) >= 2 and sum(1 for cell in rows[0] if cell) >= 2 and header is not False:
        found, first = column_names(rows)
        names = [found[i] if i < len(found) and found[i] else column_name(i) for i in range(max(map(len, rows)))]
        yield from (text for row in rows[first:] if (text := record(zip(names, row, strict=False))))
    else:
        yield from (" | ".join(cell for cell in row if cell) for row in rows)


def names_a_figure(text: str) -> bool:
    """Whether a text holds a figure: a digit, but for a year beside words (a column's name over figures
    may say "2024 actual"); a year alone is a figure (a row of data: "1969")."""
    without = YEAR_IN_NAME.sub("", text)
    return DIGIT.search(without) is not None or (without != text and not without.strip())


def column_names(rows: Sequence[Sequence[str]]) -> tuple[list[str], int]:
    """A table's column names and the row its records start at: its first row's; or, for a header over
    two rows (merged cells: "UK" over "Hotel" and "Meals"), each lower name after the upper one at or
    before it ("UK Hotel", "UK Meals"; "Band" over an empty cell stays "Band"), when the lower row's first
    cell is empty, it names a column the upper row leaves empty past a name, and it holds no figure
    (`names_a_figure`)."""
    upper, lower = list(rows[0]), list(rows[1]) if len(rows) > 2 else []
    spanned = any(not upper[i] and any(upper[:i]) and lower[i] for i in range(1, min(len(upper), len(lower))))
    if not lower or lower[0] or not spanned or any(map(names_a_figure, lower)):
        return upper, 1
    names: list[str] = []
    group = ""
    for i in range(max(len(upper), len(lower))):
        group = upper[i] if i < len(upper) and upper[i] else group
        name = lower[i] if i < len(lower) else ""
        names.append(name if name == group else " ".join(part for part in (group, name) if part))
    return names, 2


def _check_shape(name: str, rows: int, columns: int) -> None:
    if rows > MAX_TABLE_ROWS:
        raise SourceFailed(f"{name} has more than {MAX_TABLE_ROWS} rows")
    if columns > MAX_TABLE_COLUMNS:
        raise SourceFailed(f"{name} has more than {MAX_TABLE_COLUMNS} columns")


def csv_sections(text: str, name: str, delimiter: str | None = None) -> list[Section]:
    """CSV or TSV: the first row names the columns. The delimiter is sniffed among , ; tab and | when not given."""
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text[:16384], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows: list[list[str]] = []
    try:
        for row in reader:
            _check_shape(name, len(rows), len(row))
            rows.append([" ".join(cell.split()) for cell in row])
    except csv.Error as exc:
        raise SourceFailed(f"{name} is not valid CSV (line {reader.line_num}: {exc})") from exc
    body = "\n\n".join(table_paragraphs(rows))
    return [Section((), body)] if body else []


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return " ".join(str(value).split())


def _flatten(value: Any, key: str, depth: int) -> Iterator[tuple[str, str]]:
    """(dotted key, text) for each scalar inside value; a list of scalars is one comma-separated value."""
    if depth > MAX_NESTING and isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        yield key, text if len(text) <= NESTED_CHARS else text[: NESTED_CHARS - 1] + "…"
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _flatten(item, f"{key}.{name}" if key else str(name), depth + 1)
    elif isinstance(value, list) and not any(isinstance(item, dict | list) for item in value):
        yield key, ", ".join(text for item in value if (text := _scalar(item)))
    elif isinstance(value, list):
        for number, item in enumerate(value, start=1):
            yield from _flatten(item, f"{key}[{number}]", depth + 1)
    else:
        yield key, _scalar(value)


def _items(items: list[Any], name: str) -> str:
    _check_shape(name, len(items), 0)
    return "\n\n".join(text for item in items if (text := record(_flatten(item, "", 0))))


def _is_collection(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(item, dict) for item in value)


def json_sections(text: str, name: str) -> list[Section]:
    """A list of objects: one record each. An object: its plain fields as one record, and each list of
    objects inside it as a section of records named by its key."""
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise SourceFailed(f"{name} is nested too deeply") from exc
    except ValueError as exc:
        raise SourceFailed(f"{name} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        body = _items(data if isinstance(data, list) else [data], name)
        return [Section((), body)] if body else []
    plain = {key: value for key, value in data.items() if not _is_collection(value)}
    sections = [Section((), body)] if (body := record(_flatten(plain, "", 0))) else []
    for key, value in data.items():
        if _is_collection(value) and (body := _items(value, name)):
            sections.append(Section((str(key),), body))
    return sections


def json_lines_sections(text: str, name: str) -> list[Section]:
    """JSON lines: one value per line, each a record."""
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except (ValueError, RecursionError) as exc:
                raise SourceFailed(f"{name}: line {number} is not valid JSON") from exc
            _check_shape(name, len(items), 0)
    body = _items(items, name)
    return [Section((), body)] if body else []
