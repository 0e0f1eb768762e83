"""Tables on a PDF page, found from where pypdf draws each piece of text (`visitor_text`): lines whose
pieces start in the same columns, far enough apart to be cells, are a table's rows. They become records
(`records.table_paragraphs`: "Hotel per night: £180") instead of lines of words without their columns'
names ("London £180 £45"), which ran together into one paragraph."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cdgpt.index.terms import IS_CJK
from cdgpt.ingest.extract.records import said_header, table_paragraphs

RECORD_BREAK = "\ue000"  # a record's line break inside one line of the page's text, restored in its section
ALIGNED = 2.0  # points: cells of one column start this close
MIN_ROWS = 3  # rows in the same columns, at least, that make a table (a header and two rows)
NARROW, WIDE = 0.45, 0.65  # ems: a Latin character's width on average, at least and at most
GAP = 1.5  # ems between two pieces of one cell, at most: farther apart they are two cells
CONTINUED_WITHIN = 5  # lines: a table starting this near a page's top may continue the page before's
ROW_GAP = 3.0  # sizes: a line farther below the one before it is not the table's (a page's footer)
SHORT_CELL = 24  # characters: at least half of a table's cells are this short (two columns of prose are no table)
# a list's or footnotes' marks: a bullet (any one symbol, a symbol font's private-use one included) or a number
LIST_MARK = re.compile(r"(?:[^\w\s]|[\ue000-\uf8ff]|\d{1,3}|\(?(?:\d{1,3}|[a-z]|[ivx]+)[.)])(?:\s|$)", re.IGNORECASE)
DIGIT = re.compile(r"\d")
BLANK = re.compile(r"[_.\-…\s]*")  # a form's line to write on is no value
LEADER = re.compile(r"(?:\s?\.){4,}\s*$")  # a table of contents' entry before its page number
BOLD = re.compile(r"bold|black|heavy|semibold|demi", re.IGNORECASE)
FIXED = re.compile(r"mono|courier|consol|code|cmtt|typewriter", re.IGNORECASE)  # code's aligned tokens are no cells


@dataclass(frozen=True)
class Piece:
    text: str
    x: float  # where it starts, in page space
    size: float  # the size it is drawn at, in points
    y: float = 0.0  # its baseline, in page space
    bold: bool = False
    fixed: bool = False  # a monospaced font's


Line = list[Piece]


def lines_of(pieces: Sequence[Piece], text: str) -> list[Line] | None:
    """The page's lines as the pieces that draw them, or None when the pieces do not make its text."""
    if "".join(piece.text for piece in pieces) != text:
        return None
    lines: list[Line] = [[]]
    for piece in pieces:
        for index, part in enumerate(piece.text.split("\n")):
            if index:
                lines.append([])
            if part:
                lines[-1].append(replace(piece, text=part))
    return lines


@dataclass(frozen=True)
class Header:
    """A table's columns and the names its first row gives them, carried to the next page."""

    columns: tuple[float, ...]
    names: tuple[str, ...]


def tables(lines: Sequence[Line], before: Header | None = None) -> tuple[dict[int, list[str]], Header | None]:
    """Line index -> what the line becomes: a table's first line, its records (each one line with a
    RECORD_BREAK between its `name: value` pairs, blank lines around each); its other lines, nothing.
    A table near the page's top without a header of its own, in the columns of the last table of the page
    `before`, takes that table's header (a table continued on the next page); the last table's is returned.
    """
    out: dict[int, list[str]] = {}
    last: Header | None = None
    index = 0
    while index + 2 <= len(lines):
        columns = _columns(lines[index : index + 2])
        end = index + 2 if columns else index
        while columns and end < len(lines) and _close(lines[end - 1], lines[end]):
            if _fits(lines[end], columns):
                end += 1
            elif (
                end + 1 < len(lines)
                and _first_only(lines[end], columns)
                and _fits(lines[end + 1], columns)
                and _close(lines[end], lines[end + 1])
            ):
                end += 2  # a row whose other cells are empty, between two rows
            else:
                break
        start, rows = index, _rows(lines[index:end], columns) if columns else []
        above = index - 1 if index and index - 1 not in out else None
        if rows and above is not None and not _bold(lines[index]) and _heads(lines[above], lines[index], columns):
            named = [*_rows(lines[above:index], columns), *rows]
            if _bold(lines[above]) or _names_over_figures(named):
                start, rows = above, named  # its header, above it
        if len(rows) >= MIN_ROWS and _tabular(rows):
            header = start < index or _header(lines[index], rows)
            if not header and before and not out and start < CONTINUED_WITHIN and _same(before.columns, columns):
                header, rows = True, [list(before.names), *rows]
            last = Header(tuple(columns), tuple(rows[0])) if header else None
            records = [paragraph.replace("\n", RECORD_BREAK) for paragraph in table_paragraphs(rows, header)]
            out[start] = ["", *(line for record in records for line in (record, ""))]
            out.update((skipped, []) for skipped in range(start + 1, end))
            index = end
        else:
            index = max(index + 1, end - 1)  # lines in the same columns but no table: none starts inside them
    return out, last


def _same(columns: Sequence[float], others: Sequence[float]) -> bool:
    return len(columns) == len(others) and all(abs(a - b) <= ALIGNED for a, b in zip(columns, others, strict=True))


def _starts(line: Line) -> list[float]:
    return [piece.x for piece in line if piece.text.strip()]


def _near(x: float, columns: Sequence[float]) -> bool:
    return any(abs(x - column) <= ALIGNED for column in columns)


def _columns(seed: Sequence[Line]) -> list[float]:
    """The columns that both of a table's first lines have a cell in (two or more, the first line's
    first piece starting the first), when both lines are `_apart` and `_aligned` in them; else none."""
    if any(piece.fixed for line in seed for piece in line):
        return []
    first = _starts(seed[0])
    columns = sorted({x for x in first if all(_near(x, _starts(line)) for line in seed[1:])})
    if len(columns) < 2 or not first or abs(first[0] - columns[0]) > ALIGNED:
        return []
    return columns if all(_apart(line, columns) and _aligned(line, columns) for line in seed) else []


def _fits(line: Line, columns: Sequence[float]) -> bool:
    """A row (its first cell in the first column and another in a later one) or a wrapped cell's next
    line (nothing in the first column, everything in later ones), each cell apart from the next column."""
    starts = _starts(line)
    if not starts or not _apart(line, columns) or not _aligned(line, columns):
        return False
    if _near(starts[0], columns[:1]):
        return sum(_near(x, columns[1:]) for x in starts) >= 1
    return starts[0] >= columns[1] - ALIGNED and _near(starts[0], columns[1:])


def _first_only(line: Line, columns: Sequence[float]) -> bool:
    """A short line in the first column alone: a row with its other cells empty, or a line of text."""
    starts = _starts(line)
    text = "".join(piece.text for piece in line).strip()
    return bool(starts) and _near(starts[0], columns[:1]) and len(text) <= SHORT_CELL and _apart(line, columns)


def _aligned(line: Line, columns: Sequence[float]) -> bool:
    """Whether half of the line's pieces or more start a column: prose switching fonts (a Latin word in
    Chinese text, a bold one) has many pieces, and some start where another line's do."""
    starts = _starts(line)
    return 2 * sum(_near(x, columns) for x in starts) >= len(starts)


def _close(above: Line, line: Line) -> bool:
    return abs(above[0].y - line[0].y) <= ROW_GAP * max(line[0].size, 1.0)


def _apart(line: Line, columns: Sequence[float]) -> bool:
    """Whether each cell ends an em or more before the next column starts (a sentence's first word set
    apart in another font, or a wider text, is no cell)."""
    for column, after in itertools.pairwise([*columns, math.inf]):
        cell = [piece for piece in line if column - ALIGNED <= piece.x < after - ALIGNED and piece.text.strip()]
        if cell and after < math.inf and cell[0].x + sum(_width(piece) for piece in cell) + cell[0].size > after:
            return False
        if any(b.x > a.x + _width(a, WIDE) + GAP * a.size for a, b in itertools.pairwise(cell)):
            return False  # a column right-aligned or centred in the cell was missed: its pieces would mix
    return True


def _width(piece: Piece, latin: float = NARROW) -> float:
    """The text's width, about: an em for a CJK character, `latin` ems for any other (NARROW, a
    proportional font's lower case, is under most texts' width; WIDE is over it)."""
    text = piece.text.strip()
    wide = len(IS_CJK.findall(text))
    return piece.size * (wide + latin * (len(text) - wide))


def _rows(lines: Sequence[Line], columns: Sequence[float]) -> list[list[str]]:
    """Cell texts by column; a line with nothing in the first column continues the row before it, and
    the bold lines atop rows that are not make one header ("Annual" / "leave" over "Hotel per" / "night")."""
    rows: list[list[str]] = []
    heading = bool(lines) and _bold(lines[0]) and not all(_bold(line) for line in lines)
    for line in lines:
        cells = [""] * len(columns)
        for piece in line:
            column = max((i for i, x in enumerate(columns) if piece.x >= x - ALIGNED), default=0)
            cells[column] = _joined(cells[column], piece.text)
        heading = heading and _bold(line)
        if rows and (not cells[0] or (heading and len(rows) == 1)):
            rows[-1] = [_joined(before, more) for before, more in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    return [["" if BLANK.fullmatch(cell) else " ".join(cell.split()) for cell in row] for row in rows]


def _joined(text: str, more: str) -> str:
    if not text.strip() or not more.strip():
        return text + more
    if IS_CJK.match(text.rstrip()[-1]) and IS_CJK.match(more.lstrip()[0]):
        return text.rstrip() + more.lstrip()
    return text + more if text.endswith(" ") or more.startswith(" ") else f"{text} {more}"


def _heads(line: Line, below: Line, columns: Sequence[float]) -> bool:
    """Whether the line just above a table may name its columns though it does not start where they do
    (centred headings): close above, in two columns or more, each within its column."""
    starts = _starts(line)
    if len(starts) < 2 or min(starts) < columns[0] - ALIGNED or not _close(line, below) or not _apart(line, columns):
        return False
    return len({max(i for i, x in enumerate(columns) if start >= x - ALIGNED) for start in starts}) >= 2


def _bold(line: Line) -> bool:
    return all(piece.bold for piece in line if piece.text.strip())


def _header(first: Line, rows: list[list[str]]) -> bool:
    """Whether the first row names the columns: set in bold; or, not in two columns (labels and their
    values), names without figures over rows with some ("City | Hotel per night" over "London | £180")."""
    said = said_header(_bold(first), rows)
    return said if said is not None else _names_over_figures(rows)


def _names_over_figures(rows: list[list[str]]) -> bool:
    return not any(DIGIT.search(cell) for cell in rows[0]) and any(DIGIT.search(c) for row in rows[1:] for c in row)


def _tabular(rows: list[list[str]]) -> bool:
    """Rows of short cells: not a list (its marks in the first column), a table of contents (leader dots
    before the page numbers) nor two columns of prose."""
    cells = [cell for row in rows for cell in row if cell]
    if all(LIST_MARK.match(row[0]) for row in rows if row[0]) or any(LEADER.search(cell) for cell in cells):
        return False
    if all(cell.endswith((":", "：")) for row in rows for cell in row[1:] if cell):  # a form's lines to write on
        return False
    return 2 * sum(len(cell) <= SHORT_CELL for cell in cells) >= len(cells)
