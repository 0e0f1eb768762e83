"""An outline for a PDF without one, from the sizes its lines are set in: a short line set larger than
the body text is a heading, and larger sizes head smaller ones (a title over chapters over sections).
Word exports without bookmarks are like this; their pages were headed "Page N" alone."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from cdgpt.index.terms import LETTER
from cdgpt.ingest.extract.pdf_layout import HEADING_WORDS, MAX_OUTLINE, OutlineEntry

LARGER = 1.08  # a heading's size, at least, against the body text's (the size most characters are set in): Word sets
# its third level in 12 points over 11
HEADING_CHARS = 120
RUNNING = 3  # a large line on this many pages or more is a running header or footer, not a heading

SizedLine = tuple[str, float | None]  # a line of a page's text and the smallest size its text is set in


def sized_lines(text: str, pieces: Sequence[tuple[str, float]]) -> list[SizedLine] | None:
    """The page's lines with their sizes, from the pieces of text pypdf emitted (`visitor_text`), or None
    when the pieces do not make the page's text."""
    if "".join(piece for piece, _ in pieces) != text:
        return None
    lines: list[SizedLine] = []
    line, size = "", None
    for piece, piece_size in pieces:
        for index, part in enumerate(piece.split("\n")):
            if index:
                lines.append((line, size))
                line, size = "", None
            line += part
            if part.strip():
                size = piece_size if size is None else min(size, piece_size)
    lines.append((line, size))
    return lines


def text_size(font_size: float, cm: Any, tm: Any) -> float:
    """The size text is drawn at: the font's size scaled by the text and current matrices (vertically)."""
    return float(font_size) * math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3])


def headings(pages: list[tuple[int, list[SizedLine]]]) -> list[OutlineEntry]:
    """Outline entries for the headings found, in page order, each under the larger ones before it."""
    sizes: Counter[float] = Counter()
    for _, lines in pages:
        for line, size in lines:
            if size:
                sizes[round(size, 1)] += len(line.strip())
    if not sizes:
        return []
    body = sizes.most_common(1)[0][0]
    found: list[tuple[int, str, float]] = []
    for number, lines in pages:
        before: float | None = None
        for line, size in lines:
            title, size = " ".join(line.split()), round(size, 1) if size else None
            if size and size >= LARGER * body and _titled(title) and size != before:
                found.append((number, title, size))
            before = size if title else before  # a heading's second line, in its size, stays its text
    running = {title for title, count in Counter(title for _, title, _ in found).items() if count >= RUNNING}
    found = [heading for heading in found if heading[1] not in running]
    levels = {size: level for level, size in enumerate(sorted({size for *_, size in found}, reverse=True))}
    entries: list[OutlineEntry] = []
    path: tuple[str, ...] = ()
    for number, title, size in found[:MAX_OUTLINE]:
        path = (*path[: levels[size]], title)
        entries.append(OutlineEntry(number, path))
    return entries


def _titled(line: str) -> bool:
    return (
        len(line) <= HEADING_CHARS
        and len(line.split()) <= HEADING_WORDS
        and LETTER.search(line) is not None
        and not line.endswith((",", ";"))
    )
