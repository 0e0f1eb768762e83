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

from cdgpt.index.terms import IS_CJK
from cdgpt.ingest.extract.records import said_header, table_paragraphs

RECORD_BREAK = "\ue000"  # a record's line break inside one line of the page's text, restored in its section
ALIGNED = 2.0  # points: cells of one column start (or end) this close
MIN_ROWS = 3  # rows in the same columns, at least, that make a table (a header and two rows)
NARROW, WIDE = 0.45, 0.65  # ems: a Latin character's width on average, at least and at most
GAP = 1.5  # ems between two pieces of one cell, at most: farther apart they are two cells
SPACE = 0.15  # ems between two pieces drawn apart, at least, that a space parts
CELL_GAP = 0.4  # ems between two cells, at least, by the font's widths (a word space is 0.25-0.33)
CONTINUED_WITHIN = 5  # lines: a table starting this near a page's top may continue the page before's
BASELINE = 1.0  # points: lines this close in height are on one baseline
DRAWN_BACK = 30  # lines: how far a row drawn a cell at a time may go back up to its top
ROW_GAP = 3.0  # sizes: a line farther below the one before it is not the table's (a page's footer)
SHORT_CELL = 24  # characters: at least half of a table's cells are this short (two columns of prose are no table)
# a list's or footnotes' marks: a bullet (any one symbol, a symbol font's private-use one included) or a number
LIST_MARK = re.compile(r"(?:[^\w\s]|[\ue000-\uf8ff]|\d{1,3}|\(?(?:\d{1,3}|[a-z]|[ivx]+)[.)])(?:\s|$)", re.IGNORECASE)
DIGIT = re.compile(r"\d")
# a cell that is an amount ("6,684", "(1,208)", "25.6%", "£45"): no column's name, as a year (2024) may be
YEAR = re.compile(r"(?:19|20)\d\d")
AMOUNT = re.compile(r"[(\-−]?[$£€¥]?\s?\d[\d,.]*\s?(?:%|元|万元)?\)?")
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
    end: float | None = None  # where it ends, by its font's widths (None: unknown)
    parts: int = 1  # the pieces pypdf drew it in (`_runs` joins them)


Line = list[Piece]


@dataclass(frozen=True)
class Column:
    """Where a column's cells start, end, or both (the cells of the first rows alike); `low` is where the
    cells of the column before it end, beyond which a piece belongs to this one (`_column_of`)."""

    start: float | None
    end: float | None
    low: float


def lines_of(pieces: Sequence[Piece], text: str) -> list[Line] | None:
    """The page's lines as the pieces that draw them, or None when the pieces do not make its text."""
    if "".join(piece.text for piece in pieces) != text:
        return None
    lines: list[Line] = [[]]
    for piece in pieces:
        parts = piece.text.split("\n")
        whole = sum(1 for part in parts if part.strip()) == 1  # its width is known for its text as a whole
        for index, part in enumerate(parts):
            if index:
                lines.append([])
            if part:
                lines[-1].append(replace(piece, text=part, end=piece.end if whole else None))
    return lines


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
    lines, origins = _regrouped([_runs(line) for line in lines])
    out: dict[int, list[str]] = {}
    last: Header | None = None
    index = 0
    while index + 2 <= len(lines):
        seed = next((i for i in range(index + 1, len(lines)) if not _continued(lines[i])), index)
        columns = [] if _continued(lines[index]) or seed == index else _columns([lines[index], lines[seed]])
        end = index
        while columns and end < len(lines) and (end in (index, seed) or _close(lines[end - 1], lines[end])):
            row = _row_end(lines, end)  # the row's line and its own lines below it, if it was drawn a cell at a time
            if (end in (index, seed) or _fits(lines[end], columns)) and _goes_on(lines[end + 1 : row], columns):
                end = row
            elif (
                row == end + 1 < len(lines)
                and _first_only(lines[end], columns)
                and _fits(lines[row], columns)
                and _goes_on(lines[row + 1 : _row_end(lines, row)], columns)
                and _close(lines[end], lines[row])
            ):
                end = _row_end(lines, row)  # a row whose other cells are empty, between two rows
            else:
                break
        start, rows = index, _rows(lines[index:end], columns) if columns else []
        above = index - 1 if index and index - 1 not in out and not _continued(lines[index - 1]) else None
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
    found: dict[int, list[str]] = {}
    for at, value in out.items():  # back to the page's lines: a regrouped row's first one takes its place
        found.update((line, value if n == 0 else []) for n, line in enumerate(origins[at]))
    return found, last


class Continued(list[Piece]):
    """A line of a row drawn a cell at a time, below the row's first: it goes on with the row's cells."""


def _regrouped(lines: list[Line]) -> tuple[list[Line], list[list[int]]]:
    """The lines with each row drawn a cell at a time put back together, and the page's lines each one
    stands for. LibreOffice and Chromium draw a row's wrapped cells one after another, each going down
    its lines, so the next cell's first line goes back up to the row's top, to the right: the lines from
    a line to the one that goes back up to it are one row. They are regrouped by baseline: the top one is the
    row's line (standing for all of them), the others `Continued`."""
    ys = [line[0].y if line else None for line in lines]
    blocks: list[list[int]] = []  # [first, last] line of each row drawn a cell at a time
    for i in range(1, len(lines)):
        here, before = ys[i], ys[i - 1]
        if here is None or before is None or here <= before + BASELINE or lines[i][0].x <= lines[i - 1][0].x:
            continue  # not back up to the right: the next cell of a row is right of the one before
        for j in range(i - 1, max(-1, i - DRAWN_BACK), -1):
            y = ys[j]
            if y is None or y > here + BASELINE:
                break  # a line above where it went back up to: not a row's cells
            if abs(y - here) <= BASELINE:
                if blocks and j <= blocks[-1][1]:
                    blocks[-1][1] = i
                else:
                    blocks.append([j, i])
                break
    grouped: list[Line] = []
    origins: list[list[int]] = []
    done = 0
    for first, last in [*blocks, [len(lines), len(lines)]]:
        grouped += lines[done:first]
        origins += [[i] for i in range(done, first)]
        rows: list[list[Piece]] = []
        for i in sorted(range(first, min(last + 1, len(lines))), key=lambda i: -(ys[i] or 0.0)):
            if rows and abs(rows[-1][0].y - (ys[i] or 0.0)) <= BASELINE:
                rows[-1].extend(lines[i])
            else:
                rows.append(list(lines[i]))
        for n, pieces in enumerate(rows):
            pieces.sort(key=lambda piece: piece.x)
            grouped.append(Continued(pieces) if n else pieces)
            origins.append([] if n else list(range(first, last + 1)))
        done = last + 1
    return grouped, origins


def _continued(line: Line) -> bool:
    return isinstance(line, Continued)


def _row_end(lines: Sequence[Line], index: int) -> int:
    """Where the row of the line at index ends: past the `Continued` lines after it."""
    end = index + 1
    while end < len(lines) and _continued(lines[end]):
        end += 1
    return end


def _goes_on(continued: Sequence[Line], columns: Sequence[Column]) -> bool:
    """Whether a row's own lines below its first are its cells' (two columns of prose side by side also
    go back up to their top): each within its columns and short."""
    return all(
        _apart(line, columns) and all(len(piece.text.strip()) <= 2 * SHORT_CELL for piece in _solid(line))
        for line in continued
    )


def _runs(line: Line) -> Line:
    """The line's pieces, those closer than two cells are (`_apart_by`) joined: a cell drawn in parts
    ("667" and "元", a word in bold)."""
    runs: Line = []
    for piece in line:
        last = runs[-1] if runs else None
        if last is None or not last.text.strip():
            runs.append(piece)
        elif not piece.text.strip():
            runs[-1] = replace(last, text=last.text + piece.text)
        elif piece.text.strip() == last.text.strip() and abs(piece.x - last.x) < SPACE * piece.size:
            continue  # drawn twice, a little apart: bold made by hand
        elif last.x <= piece.x < _end(last) + _apart_by(last):
            runs[-1] = _merged(last, piece)
        else:
            runs.append(piece)
    return runs


def _merged(first: Piece, then: Piece) -> Piece:
    """Two pieces of a line as one: a space between them where they are drawn apart (their widths
    known), else as `_joined` puts one."""
    if first.end is None or then.end is None:
        text, end = _joined(first.text, then.text), None
    else:
        spaced = then.x - first.end > SPACE * then.size and not (first.text[-1].isspace() or then.text[0].isspace())
        text, end = (f"{first.text} {then.text}" if spaced else first.text + then.text), then.end
    bold, fixed, parts = first.bold and then.bold, first.fixed or then.fixed, first.parts + then.parts
    return replace(first, text=text, bold=bold, fixed=fixed, end=end, parts=parts)


def _same(columns: Sequence[Column], others: Sequence[Column]) -> bool:
    return len(columns) == len(others) and all(
        _close_to(a.start, b.start) or _close_to(a.end, b.end) for a, b in zip(columns, others, strict=True)
    )


def _close_to(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) <= ALIGNED


def _solid(line: Line) -> list[Piece]:
    return [piece for piece in line if piece.text.strip()]


def _anchored(piece: Piece, column: Column) -> bool:
    """Whether the piece starts where the column's cells start, or ends where they end and starts past
    the column before (a centred caption may end where a column of figures does)."""
    return _close_to(piece.x, column.start) or (_close_to(_end(piece), column.end) and piece.x >= column.low)


def _column_of(piece: Piece, columns: Sequence[Column]) -> int:
    """The column the piece starts or ends in line with, else the last whose `low` it starts beyond."""
    anchored = [i for i, column in enumerate(columns) if _anchored(piece, column)]
    if anchored:
        return anchored[0]
    return max((i for i, column in enumerate(columns) if piece.x >= column.low), default=0)


def _columns(seed: Sequence[Line]) -> list[Column]:
    """The columns that both of a table's first lines have a cell in (two or more, the first line's
    first piece starting the first): cells that start alike, or end alike (figures set right), when both
    lines are `_apart` and `_aligned` in them; else none."""
    if any(piece.fixed for line in seed for piece in line):
        return []
    first, others = _solid(seed[0]), [_solid(line) for line in seed[1:]]
    columns: list[Column] = []
    for piece in first:
        start = piece.x if all(any(_close_to(piece.x, p.x) for p in line) for line in others) else None
        end = _end(piece) if all(any(_close_to(_end(piece), _end(p)) for p in line) for line in others) else None
        if (start is not None or end is not None) and not (columns and _anchored(piece, columns[-1])):
            columns.append(Column(start, end, -math.inf))
    if len(columns) < 2 or columns[0].start is None or not _close_to(first[0].x, columns[0].start):
        return []
    columns = _bounded(columns, seed)
    return columns if all(_apart(line, columns) and _aligned(line, columns) for line in seed) else []


def _bounded(columns: list[Column], seed: Sequence[Line]) -> list[Column]:
    """The columns with their `low`: a column whose cells start alike starts there; one whose cells end
    alike (a left-aligned name may head figures set right) starts past the cells of the column before."""
    ends: list[float] = [-math.inf] * len(columns)
    for line in seed:
        for piece in _solid(line):
            i = next((i for i, column in enumerate(columns) if _anchored(piece, column)), None)
            if i is not None:
                ends[i] = max(ends[i], _end(piece))
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
    pieces = _solid(line)
    if not pieces or not _apart(line, columns) or not _aligned(line, columns):
        return False
    if _anchored(pieces[0], columns[0]):  # and another piece in a later column (prose may end where figures do)
        return any(_anchored(piece, column) for piece in pieces[1:] for column in columns[1:])
    return _column_of(pieces[0], columns) >= 1 and any(_anchored(pieces[0], column) for column in columns[1:])


def _first_only(line: Line, columns: Sequence[Column]) -> bool:
    """A short line in the first column alone: a row with its other cells empty, or a line of text."""
    pieces = _solid(line)
    text = "".join(piece.text for piece in line).strip()
    return bool(pieces) and _anchored(pieces[0], columns[0]) and len(text) <= SHORT_CELL and _apart(line, columns)


def _aligned(line: Line, columns: Sequence[Column]) -> bool:
    """Whether half of the pieces pypdf drew the line in or more start or end a column: prose switching
    fonts (a Latin word in Chinese text, a bold one) or code drawn a word at a time has many pieces, and
    some start where another line's do."""
    pieces = _solid(line)
    anchored = sum(any(_anchored(piece, column) for column in columns) for piece in pieces)
    return 2 * anchored >= sum(piece.parts for piece in pieces)


def _close(above: Line, line: Line) -> bool:
    return abs(above[0].y - line[0].y) <= ROW_GAP * max(line[0].size, 1.0)


def _apart(line: Line, columns: Sequence[Column]) -> bool:
    """Whether each cell ends `_apart_by` before the next one starts, and before the next column's
    cells start (a sentence's first word set apart in another font, or a wider text, is no cell)."""
    cells: list[list[Piece]] = [[] for _ in columns]
    for piece in _solid(line):
        cells[_column_of(piece, columns)].append(piece)
    for index, cell in enumerate(cells):
        if any(b.x > _end(a, WIDE) + _inside(a) for a, b in itertools.pairwise(cell)):
            return False  # a column (centred, or not in the first rows) was missed: its pieces would mix
        later = [column.start for column in columns[index + 1 : index + 2] if column.start is not None]
        later += [piece.x for after in cells[index + 1 :] for piece in after[:1]]
        if cell and later and _end(cell[-1]) + _apart_by(cell[-1]) > min(later):
            return False
    return True


def _inside(piece: Piece) -> float:
    """The widest gap after the piece inside its cell: none between runs by the font's widths (they are
    two cells' apart), GAP ems by `_width`'s."""
    return piece.size * (CELL_GAP if piece.end is not None else GAP)


def _apart_by(piece: Piece) -> float:
    """The least gap after the piece to the next cell: CELL_GAP ems by its font's widths, an em by
    `_width`'s (which underestimates most texts)."""
    return piece.size * (CELL_GAP if piece.end is not None else 1.0)


def _end(piece: Piece, latin: float = NARROW) -> float:
    """Where the piece ends: by its font's widths, else about (`_width`, with `latin` ems a character)."""
    return piece.end if piece.end is not None else piece.x + _width(piece, latin)


def _width(piece: Piece, latin: float = NARROW) -> float:
    """The text's width, about: an em for a CJK character, `latin` ems for any other (NARROW, a
    proportional font's lower case, is under most texts' width; WIDE is over it)."""
    text = piece.text.strip()
    wide = len(IS_CJK.findall(text))
    return piece.size * (wide + latin * (len(text) - wide))


def _rows(lines: Sequence[Line], columns: Sequence[Column]) -> list[list[str]]:
    """Cell texts by column; a line with nothing in the first column continues the row before it, and
    the bold lines atop rows that are not make one header ("Annual" / "leave" over "Hotel per" / "night")."""
    rows: list[list[str]] = []
    heading = bool(lines) and _bold(lines[0]) and not all(_bold(line) for line in lines)
    for line in lines:
        cells = [""] * len(columns)
        for piece in line:
            column = _column_of(piece, columns)
            cells[column] = _joined(cells[column], piece.text)
        heading = heading and _bold(line) and not any(_amount(cell) for cell in cells[1:])  # no subtotal
        if rows and (not cells[0] or _continued(line) or (heading and len(rows) == 1)):
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


def _heads(line: Line, below: Line, columns: Sequence[Column]) -> bool:
    """Whether the line just above a table may name its columns though it does not start where they do
    (centred headings; names set left over figures set right): close above, in two columns or more."""
    pieces = _solid(line)
    first = columns[0].start if columns[0].start is not None else -math.inf
    if len(pieces) < 2 or pieces[0].x < first - ALIGNED or not _close(line, below) or not _apart(line, columns):
        return False
    return len({_column_of(piece, columns) for piece in pieces}) >= 2


def _bold(line: Line) -> bool:
    return all(piece.bold for piece in line if piece.text.strip())


def _header(first: Line, rows: list[list[str]]) -> bool:
    """Whether the first row names the columns: set in bold, without amounts past its first cell (a
    statement's subtotals are bold too; "£000" may head its labels); or, not in two columns (labels and
    their values), names without figures over rows with some ("City | Hotel per night" over "London | £180")."""
    said = said_header(_bold(first) and not any(_amount(cell) for cell in rows[0][1:]), rows)
    return said if said is not None else _names_over_figures(rows)


def _amount(cell: str) -> bool:
    cell = " ".join(cell.split())
    return AMOUNT.fullmatch(cell) is not None and YEAR.fullmatch(cell) is None


def _names_over_figures(rows: list[list[str]]) -> bool:
    """A first row without a digit over a column of figures: digits in half its other cells or more."""
    if any(DIGIT.search(cell) for cell in rows[0]):
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
