"""Tables on a PDF page, found from where pypdf draws each piece of text (`visitor_text`): lines whose
pieces start in the same columns, or end there (figures set right), far enough apart to be cells, are a
table's rows. They become records (`records.table_paragraphs`: "Hotel per night: £180") instead of lines
of words without their columns' names ("London £180 £45"), which ran together into one paragraph."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cdgpt.ingest.extract.pdf_pieces import (
    WIDE,
    Line,
    Piece,
    apart_by,
    end_of,
    in_bold,
    inside_gap,
    is_continued,
    joined,
    regrouped,
    row_end,
    runs,
    solid,
)
from cdgpt.ingest.extract.records import (
    DIGIT,
    YEAR_IN_NAME,
    column_names,
    names_a_figure,
    said_header,
    table_paragraphs,
)

RECORD_BREAK = "\ue000"  # a record's line break inside one line of the page's text, restored in its section
ALIGNED = 2.0  # points: cells of one column start (or end) this close
MIN_ROWS = 3  # rows in the same columns, at least, that make a table (a header and two rows)
CONTINUED_WITHIN = 5  # lines: a table starting this near a page's top may continue the page before's
ROW_GAP = 3.0  # sizes: a line farther below the one before it is not the table's (a page's footer)
SHORT_CELL = 24  # characters: at least half of a table's cells are this short (two columns of prose are no table)
# a list's or footnotes' marks: a bullet (any one symbol, a symbol font's private-use one included) or a number
LIST_MARK = re.compile(r"(?:[^\w\s]|[\ue000-\uf8ff]|\d{1,3}|\(?(?:\d{1,3}|[a-z]|[ivx]+)[.)])(?:\s|$)", re.IGNORECASE)
# a cell that is an amount ("6,684", "(1,208)", "25.6%", "£45"): no column's name, as a year (2024) may be
AMOUNT = re.compile(r"[(\-−]?[$£€¥]?\s?\d[\d,.]*\s?(?:%|元|万元)?\)?")
BLANK = re.compile(r"[_.\-…\s]*")  # a form's line to write on is no value
LEADER = re.compile(r"(?:\s?\.){4,}\s*$")  # a table of contents' entry before its page number


@dataclass(frozen=True)
class Column:
    """Where a column's cells start, end, or both (the cells of the first rows alike); `low` is where the
    cells of the column before it end, beyond which a piece belongs to this one (`_column_of`)."""

    start: float | None
    end: float | None
    low: float


@dataclass(frozen=True)
class Header:
    """A table's columns and the names its first row gives them, carried to the next page."""

    columns: tuple[Column, ...]
    names: tuple[str, ...]


def tables(lines: Sequence[Line], before: Header | None = None) -> tuple[dict[int, list[str]], Header | None]:
    """Line index -> what the line becomes: a table's first line, its records (each one line with a
    RECORD_BREAK between its `name: value` pairs, blank lines around each); its other lines, nothing.
    A table near the page's top without a header of its own, in the columns of the last table of the page
    `before`, takes that table's header (a table continued on the next page); the last table's is returned.
    """
    lines, origins = regrouped([runs(line) for line in lines])
    out: dict[int, list[str]] = {}
    last: Header | None = None
    index = 0
    while index + 2 <= len(lines):
        seed = _seed(lines, index)
        columns = [] if is_continued(lines[index]) or seed == index else _columns([lines[index], lines[seed]])
        end = index
        while columns and end < len(lines) and (end in (index, seed) or _close(lines[end - 1], lines[end])):
            row = row_end(lines, end)  # the row's line and its own lines below it, if it was drawn a cell at a time
            if (end in (index, seed) or _fits(lines[end], columns)) and _goes_on(lines[end + 1 : row], columns):
                end = row
            elif (
                row == end + 1 < len(lines)
                and _first_only(lines[end], columns)
                and _fits(lines[row], columns)
                and _goes_on(lines[row + 1 : row_end(lines, row)], columns)
                and _close(lines[end], lines[row])
            ):
                end = row_end(lines, row)  # a row whose other cells are empty, between two rows
            else:
                break
        start, rows = index, _rows(lines[index:end], columns) if columns else []
        above = _row_above(lines, index, out)
        if rows and above is not None and not in_bold(lines[index]) and _heads(lines[above], lines[index], columns):
            named = [*_rows(lines[above:index], columns), *rows]
            if in_bold(lines[above]) or _names_over_figures(named):
                start, rows = above, named  # its header, above it
        if len(rows) >= MIN_ROWS and _tabular(rows):
            header = start < index or _header(lines[index], rows)
            group = _group_above(lines, start, columns, out) if header else None
            if group is not None:  # a header over two lines: "UK" over "Hotel" and "Meals" (`column_names`)
                start, rows = group, [*_rows([lines[group]], columns), *rows]
            if not header and before and not out and start < CONTINUED_WITHIN and _same(before.columns, columns):
                header, rows = True, [list(before.names), *rows]
            names, first = column_names(rows)
            last = Header(tuple(columns), tuple(names)) if header else None
            records = [paragraph.replace("\n", RECORD_BREAK) for paragraph in table_paragraphs(rows, header)]
            unfilled = _unfilled(names, rows[first:]) if header else ""
            out[start] = ["", *([unfilled, ""] if unfilled else []), *(line for r in records for line in (r, ""))]
            out.update((skipped, []) for skipped in range(start + 1, end))
            index = end
        else:
            index = max(index + 1, end - 1)  # lines in the same columns but no table: none starts inside them
    found: dict[int, list[str]] = {}
    for at, value in out.items():  # back to the page's lines: a regrouped row's first one takes its place
        found.update((line, value if n == 0 else []) for n, line in enumerate(origins[at]))
    return found, last


def _group_above(lines: Sequence[Line], start: int, columns: Sequence[Column], out: dict[int, list[str]]) -> int | None:
    """The line above a table's header that names groups of its columns, if any: close above, in fewer
    pieces than columns (two or more), each starting where a column does, without figures."""
    above = _row_above(lines, start, out)
    if above is None:
        return None
    pieces, starts = solid(lines[above]), [_left(column) for column in columns]
    if not 2 <= len(pieces) < len(columns):
        return None
    if not _close(lines[above], lines[start]) or any(names_a_figure(p.text) for p in pieces):
        return None
    return above if all(any(_close_to(p.x, at) for at in starts) for p in pieces) else None


def _left(column: Column) -> float:
    """Where a column's cells start, or start past (figures set right)."""
    return column.start if column.start is not None else column.low


def _seed(lines: Sequence[Line], index: int) -> int:
    """The line that finds a table's columns with the one at index: the next row's first line, or, under a
    bold header, the row's after it when the next is one short cell alone in the first column (a cell
    spanning rows, set above them)."""
    rows = list(itertools.islice((i for i in range(index + 1, len(lines)) if not is_continued(lines[i])), 2))
    if not rows:
        return index
    pieces, first = solid(lines[rows[0]]), solid(lines[index])
    lone = len(pieces) == 1 and bool(first) and in_bold(lines[index]) and _close_to(pieces[0].x, first[0].x)
    lone = lone and len(pieces[0].text.strip()) <= SHORT_CELL  # in the first column, short
    return rows[1] if lone and len(rows) == 2 and len(solid(lines[rows[1]])) >= 2 else rows[0]


def _row_above(lines: Sequence[Line], index: int, out: dict[int, list[str]]) -> int | None:
    """The first line of the row above the line at index (drawn a cell at a time or not), unless there is
    none or it is a table's already."""
    above = index - 1
    while above > 0 and is_continued(lines[above]):
        above -= 1
    return None if above < 0 or above in out or is_continued(lines[above]) else above


def _goes_on(continued: Sequence[Line], columns: Sequence[Column]) -> bool:
    """Whether a row's own lines below its first are its cells' (two columns of prose side by side also
    go back up to their top): each within its columns and short."""
    return all(
        _apart(line, columns) and all(len(piece.text.strip()) <= 2 * SHORT_CELL for piece in solid(line))
        for line in continued
    )


def _same(columns: Sequence[Column], others: Sequence[Column]) -> bool:
    return len(columns) == len(others) and all(
        _close_to(a.start, b.start) or _close_to(a.end, b.end) for a, b in zip(columns, others, strict=True)
    )


def _close_to(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) <= ALIGNED


def _anchored(piece: Piece, column: Column) -> bool:
    """Whether the piece starts where the column's cells start, or ends where they end and starts past
    the column before (a centred caption may end where a column of figures does)."""
    return _close_to(piece.x, column.start) or (_close_to(end_of(piece), column.end) and piece.x >= column.low)


def _column_of(piece: Piece, columns: Sequence[Column]) -> int:
    """The column the piece starts or ends in line with, else the last whose `low` it starts beyond."""
    anchored = [i for i, column in enumerate(columns) if _anchored(piece, column)]
    if anchored:
        return anchored[0]
    return max((i for i, column in enumerate(columns) if piece.x >= column.low), default=0)


def _columns(seed: Sequence[Line]) -> list[Column]:
    """The columns that both of a table's first lines have a cell in (two or more, the first line's
    first piece starting the first): cells that start alike, or end alike (figures set right), and where
    a bold first line over a plain one has its other cells (a header over a row with empty cells); when
    both lines are `_apart` and `_aligned` in them; else none."""
    if any(piece.fixed for line in seed for piece in line):
        return []
    first, others = solid(seed[0]), [solid(line) for line in seed[1:]]
    columns: list[Column] = []
    for piece in first:
        start = piece.x if all(any(_close_to(piece.x, p.x) for p in line) for line in others) else None
        end = end_of(piece) if all(any(_close_to(end_of(piece), end_of(p)) for p in line) for line in others) else None
        if (start is not None or end is not None) and not (columns and _anchored(piece, columns[-1])):
            columns.append(Column(start, end, -math.inf))
    if len(columns) < 2:
        return []
    if in_bold(seed[0]) and not in_bold(seed[1]):  # a header names the columns its first row leaves empty too
        named = [Column(p.x, None, -math.inf) for p in first if not any(_anchored(p, c) for c in columns)]
        columns = sorted([*columns, *named], key=lambda c: c.start if c.start is not None else c.end or 0.0)
    if columns[0].start is None or not _close_to(first[0].x, columns[0].start):
        return []
    columns = _bounded(columns, seed)
    return columns if all(_apart(line, columns) and _aligned(line, columns) for line in seed) else []


def _bounded(columns: list[Column], seed: Sequence[Line]) -> list[Column]:
    """The columns with their `low`: a column whose cells start alike starts there; one whose cells end
    alike (a left-aligned name may head figures set right) starts past the cells of the column before."""
    ends: list[float] = [-math.inf] * len(columns)
    for line in seed:
        for piece in solid(line):
            i = next((i for i, column in enumerate(columns) if _anchored(piece, column)), None)
            if i is not None:
                ends[i] = max(ends[i], end_of(piece))
    bounded = []
    for i, column in enumerate(columns):
        if column.end is None and column.start is not None:
            low = column.start - ALIGNED
        else:
            low = ends[i - 1] + ALIGNED if i else -math.inf
        bounded.append(replace(column, low=low))
    return bounded


def _fits(line: Line, columns: Sequence[Column]) -> bool:
    """A row (its first cell in the first column and another in a later one) or a wrapped cell's next
    line (nothing in the first column, everything in later ones), each cell apart from the next column."""
    pieces = solid(line)
    if not pieces or not _apart(line, columns) or not _aligned(line, columns):
        return False
    if _anchored(pieces[0], columns[0]):  # and another piece in a later column (prose may end where figures do)
        return any(_anchored(piece, column) for piece in pieces[1:] for column in columns[1:])
    return _column_of(pieces[0], columns) >= 1 and any(_anchored(pieces[0], column) for column in columns[1:])


def _first_only(line: Line, columns: Sequence[Column]) -> bool:
    """A short line in the first column alone: a row with its other cells empty, or a line of text."""
    pieces = solid(line)
    text = "".join(piece.text for piece in line).strip()
    return bool(pieces) and _anchored(pieces[0], columns[0]) and len(text) <= SHORT_CELL and _apart(line, columns)


def _aligned(line: Line, columns: Sequence[Column]) -> bool:
    """Whether half of the pieces pypdf drew the line in or more start or end a column: prose switching
    fonts (a Latin word in Chinese text, a bold one) or code drawn a word at a time has many pieces, and
    some start where another line's do."""
    pieces = solid(line)
    anchored = sum(any(_anchored(piece, column) for column in columns) for piece in pieces)
    return 2 * anchored >= sum(piece.parts for piece in pieces)


def _close(above: Line, line: Line) -> bool:
    return abs(above[0].y - line[0].y) <= ROW_GAP * max(line[0].size, 1.0)


def _apart(line: Line, columns: Sequence[Column]) -> bool:
    """Whether each cell ends `apart_by` before the next one starts, and before the next column's
    cells start (a sentence's first word set apart in another font, or a wider text, is no cell)."""
    cells: list[list[Piece]] = [[] for _ in columns]
    for piece in solid(line):
        cells[_column_of(piece, columns)].append(piece)
    for index, cell in enumerate(cells):
        if any(b.x > end_of(a, WIDE) + inside_gap(a) for a, b in itertools.pairwise(cell)):
            return False  # a column (centred, or not in the first rows) was missed: its pieces would mix
        later = [column.start for column in columns[index + 1 : index + 2] if column.start is not None]
        later += [piece.x for after in cells[index + 1 :] for piece in after[:1]]
        if cell and later and end_of(cell[-1]) + apart_by(cell[-1]) > min(later):
            return False
    return True


def _rows(lines: Sequence[Line], columns: Sequence[Column]) -> list[list[str]]:
    """Cell texts by column; a line with nothing in the first column continues the row before it (a
    wrapped cell), unless it has an amount under one (a cell spanning rows, a total), and the bold lines
    atop rows that are not make one header ("Annual" / "leave" over "Hotel per" / "night")."""
    rows: list[list[str]] = []
    heading = bool(lines) and in_bold(lines[0]) and not all(in_bold(line) for line in lines)
    for line in lines:
        cells = [""] * len(columns)
        for piece in line:
            column = _column_of(piece, columns)
            cells[column] = joined(cells[column], piece.text)
        heading = heading and in_bold(line) and not any(_amount(cell) for cell in cells[1:])  # no subtotal
        wrapped = not cells[0] and not (rows and _figures_under_figures(rows[-1], cells))
        if rows and (wrapped or is_continued(line) or (heading and len(rows) == 1)):
            rows[-1] = [joined(before, more) for before, more in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    return [["" if BLANK.fullmatch(cell) else " ".join(cell.split()) for cell in row] for row in rows]


def _figures_under_figures(above: list[str], cells: list[str]) -> bool:
    """Whether a line's cells hold an amount under one of the row above: an amount does not wrap."""
    return any(_amount(cell) and _amount(over) for over, cell in zip(above, cells, strict=True))


def _heads(line: Line, below: Line, columns: Sequence[Column]) -> bool:
    """Whether the line just above a table may name its columns though it does not start where they do
    (centred headings; names set left over figures set right): close above, in two columns or more."""
    pieces = solid(line)
    first = columns[0].start if columns[0].start is not None else -math.inf
    if len(pieces) < 2 or pieces[0].x < first - ALIGNED or not _close(line, below) or not _apart(line, columns):
        return False
    return len({_column_of(piece, columns) for piece in pieces}) >= 2


def _header(first: Line, rows: list[list[str]]) -> bool:
    """Whether the first row names the columns: set in bold, without amounts past its first cell (a
    statement's subtotals are bold too; "£000" may head its labels); or, not in two columns (labels and
    their values), names without figures over rows with some ("City | Hotel per night" over "London | £180")."""
    said = said_header(in_bold(first) and not any(_amount(cell) for cell in rows[0][1:]), rows)
    return said if said is not None else _names_over_figures(rows)


def _unfilled(names: list[str], rows: list[list[str]]) -> str:
    """The header's names as a line when a column no row fills (a header wider than its table): else empty,
    as the records hold them all."""
    if any(name and not any(row[i] for row in rows) for i, name in enumerate(names)):
        return " | ".join(name for name in names if name)
    return ""


def _amount(cell: str) -> bool:
    cell = " ".join(cell.split())
    return AMOUNT.fullmatch(cell) is not None and YEAR_IN_NAME.fullmatch(cell) is None


def _names_over_figures(rows: list[list[str]]) -> bool:
    """A first row without a digit but in years ("2024年实际") over a column of figures: digits in half its
    other cells or more."""
    if any(map(names_a_figure, rows[0])):
        return False
    columns = [[row[i] for row in rows[1:] if row[i]] for i in range(len(rows[0]))]
    return any(cells and 2 * sum(bool(DIGIT.search(cell)) for cell in cells) >= len(cells) for cells in columns)


def _tabular(rows: list[list[str]]) -> bool:
    """Rows of short cells: not a list (its marks in the first column), a table of contents (leader dots
    before the page numbers) nor two columns of prose."""
    cells = [cell for row in rows for cell in row if cell]
    if all(LIST_MARK.match(row[0]) for row in rows if row[0]) or any(LEADER.search(cell) for cell in cells):
        return False
    if all(cell.endswith((":", "：")) for row in rows for cell in row[1:] if cell):  # a form's lines to write on
        return False
    return 2 * sum(len(cell) <= SHORT_CELL for cell in cells) >= len(cells)
