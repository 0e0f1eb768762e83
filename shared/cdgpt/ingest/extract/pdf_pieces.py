"""The pieces of text pypdf draws on a PDF page (`visitor_text`) made into lines: where each piece ends
(by its font's widths, else about), the pieces of one cell joined (`runs`), and rows drawn a cell at a
time put back together by baseline (`regrouped`). `pdf_tables` finds tables in these lines."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cdgpt.index.terms import IS_CJK

NARROW, WIDE = 0.45, 0.65  # ems: a Latin character's width on average, at least and at most
GAP = 1.5  # ems between two pieces of one cell, at most: farther apart they are two cells
SPACE = 0.15  # ems between two pieces drawn apart, at least, that a space parts
CELL_GAP = 0.4  # ems between two cells, at least, by the font's widths (a word space is 0.25-0.33)
BASELINE = 1.0  # points: lines this close in height are on one baseline
DRAWN_BACK = 30  # lines: how far a row drawn a cell at a time may go back up to its top
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
    parts: int = 1  # the pieces pypdf drew it in (`runs` joins them)


Line = list[Piece]


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


class Continued(list[Piece]):
    """A line of a row drawn a cell at a time, below the row's first: it goes on with the row's cells."""


def regrouped(lines: list[Line]) -> tuple[list[Line], list[list[int]]]:
    """The lines with each row drawn a cell at a time put back together, and the page's lines each one
    stands for. LibreOffice and Chromium draw a row's wrapped cells one after another, each going down
    its lines, so the next cell's first line goes back up to the row's top, to the right: the lines from
    a line to the one that goes back up to it are one row. They are regrouped by baseline: the top one is the
    row's line (standing for all of them), the others `Continued`."""
    ys = [line[0].y if line else None for line in lines]
    blocks: list[list[int]] = []  # [first, last] line of each row drawn a cell at a time
    low = high = 0.0  # the last block's lowest and highest baselines
    for i in range(1, len(lines)):
        here, before = ys[i], ys[i - 1]
        growing = blocks[-1] if blocks and blocks[-1][1] == i - 1 else None  # a block up to the line before
        if (
            growing
            and here is not None
            and low - BASELINE <= here <= high + BASELINE
            and lines[i][0].x > lines[growing[0]][0].x
        ):
            growing[1] = i  # a later cell's next line, between the row's baselines, right of its first ("Procurement")
            low = min(low, here)
            continue
        if here is None or before is None or here <= before + BASELINE or lines[i][0].x <= lines[i - 1][0].x:
            continue  # not back up to the right: the next cell of a row is right of the one before
        for j in range(i - 1, max(-1, i - DRAWN_BACK), -1):
            y = ys[j]
            if y is None or y > here + BASELINE:
                break  # a line above where it went back up to: not a row's cells
            if abs(y - here) <= BASELINE:
                if blocks and j <= blocks[-1][1]:
                    added = ys[blocks[-1][1] + 1 : i + 1]  # each line's height is taken once
                    blocks[-1][1] = i
                else:
                    added = ys[j : i + 1]
                    blocks.append([j, i])
                    low, high = math.inf, -math.inf
                heights = [y for y in added if y is not None]
                low, high = min(low, *heights), max(high, *heights)
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


def is_continued(line: Line) -> bool:
    return isinstance(line, Continued)


def row_end(lines: Sequence[Line], index: int) -> int:
    """Where the row of the line at index ends: past the `Continued` lines after it."""
    end = index + 1
    while end < len(lines) and is_continued(lines[end]):
        end += 1
    return end


def runs(line: Line) -> Line:
    """The line's pieces, those closer than two cells are (`apart_by`) joined: a cell drawn in parts
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
        elif last.x <= piece.x < end_of(last) + apart_by(last):
            runs[-1] = _merged(last, piece)
        else:
            runs.append(piece)
    return runs


def _merged(first: Piece, then: Piece) -> Piece:
    """Two pieces of a line as one: a space between them where they are drawn apart (their widths
    known), else as `joined` puts one."""
    if first.end is None or then.end is None:
        text, end = joined(first.text, then.text), None
    else:
        spaced = then.x - first.end > SPACE * then.size and not (first.text[-1].isspace() or then.text[0].isspace())
        text, end = (f"{first.text} {then.text}" if spaced else first.text + then.text), then.end
    bold, fixed, parts = first.bold and then.bold, first.fixed or then.fixed, first.parts + then.parts
    return replace(first, text=text, bold=bold, fixed=fixed, end=end, parts=parts)


def in_bold(line: Line) -> bool:
    """Whether every piece of the line that has text is set in bold."""
    return all(piece.bold for piece in line if piece.text.strip())


def solid(line: Line) -> list[Piece]:
    return [piece for piece in line if piece.text.strip()]


def inside_gap(piece: Piece) -> float:
    """The widest gap after the piece inside its cell: none between runs by the font's widths (they are
    two cells' apart), GAP ems by `_width`'s."""
    return piece.size * (CELL_GAP if piece.end is not None else GAP)


def apart_by(piece: Piece) -> float:
    """The least gap after the piece to the next cell: CELL_GAP ems by its font's widths, an em by
    `_width`'s (which underestimates most texts)."""
    return piece.size * (CELL_GAP if piece.end is not None else 1.0)


def end_of(piece: Piece, latin: float = NARROW) -> float:
    """Where the piece ends: by its font's widths, else about (`_width`, with `latin` ems a character)."""
    return piece.end if piece.end is not None else piece.x + _width(piece, latin)


def _width(piece: Piece, latin: float = NARROW) -> float:
    """The text's width, about: an em for a CJK character, `latin` ems for any other (NARROW, a
    proportional font's lower case, is under most texts' width; WIDE is over it)."""
    text = piece.text.strip()
    wide = len(IS_CJK.findall(text))
    return piece.size * (wide + latin * (len(text) - wide))


def joined(text: str, more: str) -> str:
    if not text.strip() or not more.strip():
        return text + more
    if IS_CJK.match(text.rstrip()[-1]) and IS_CJK.match(more.lstrip()[0]):
        return text.rstrip() + more.lstrip()
    return text + more if text.endswith(" ") or more.startswith(" ") else f"{text} {more}"
