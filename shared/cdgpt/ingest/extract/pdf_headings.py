"""An outline for a PDF without one, from the sizes its lines are set in: a short line set larger than
the body text is a heading, and larger sizes head smaller ones (a title over chapters over sections).
Word exports without bookmarks are like this; their pages were headed "Page N" alone. A short line in
bold between lines that are not (Normal text made bold for a heading) heads under all of them."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

from cdgpt.index.terms import LETTER
from cdgpt.ingest.extract.outline import reads_as_heading
from cdgpt.ingest.extract.pdf_layout import HEADING_WORDS, MAX_OUTLINE, OutlineEntry, folded_line
from cdgpt.ingest.extract.pdf_pieces import Line, in_bold

LARGER = 1.08  # a heading's size, at least, against the body text's (the size most characters are set in): Word sets
# its third level in 12 points over 11
HEADING_CHARS = 120
RUNNING = 3  # a large line starting or ending this many pages or more is a running line, not a heading
# a sentence ends inside the line (a paragraph's first line), not a number ("2.1. NAME", "IV. Scope")
SENTENCE_BREAK = re.compile(r"[a-z][.!?]\s+\S|[。！？]\S")

CLOSING = "\"'”’」』)]"  # quotes and brackets that may close a sentence
NUMBERING = re.compile(r"\d+(?:\.\d+)*\.?")  # "2", "2.", "2.1", "2.1."
# a letter's or an invoice's large figures: a line that is a date alone, or holds a sum of money
MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
DATE = re.compile(
    rf"(?:\d{{1,2}}(?:st|nd|rd|th)?\s+{MONTH},?|{MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?)\s+\d{{4}}"
    r"|\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}|\d{4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?",
    re.IGNORECASE,
)
MONEY = re.compile(r"[$€£¥]\s?\d|\d\s?(?:(?:EUR|USD|GBP|CNY|RMB)\b|元)")

BOLD_HEIGHT = 0.05  # points over the body text's size that a bold line heading is counted at: under every larger one
# a line of a page's text, the smallest size its text is set in, and whether it is a line in bold alone
SizedLine = tuple[str, float | None, bool]


def sized_lines(lines: Sequence[Line], table_lines: Collection[int] = ()) -> list[SizedLine]:
    """The page's lines with the smallest size their text is drawn at (a table's lines have none), and
    whether each is wholly bold between lines that are not."""
    sizes = [None if index in table_lines else _smallest(line) for index, line in enumerate(lines)]
    bold = [size is not None and in_bold(line) for size, line in zip(sizes, lines, strict=True)]  # with text
    return [
        (
            "".join(piece.text for piece in line),
            sizes[index],
            bold[index] and not (index and bold[index - 1]) and not (index + 1 < len(bold) and bold[index + 1]),
        )
        for index, line in enumerate(lines)
    ]


def _smallest(line: Line) -> float | None:
    return min((piece.size for piece in line if piece.text.strip()), default=None)


def text_size(font_size: float, cm: Any, tm: Any) -> float:
    """The size text is drawn at: the font's size scaled by the text and current matrices (vertically)."""
    return float(font_size) * math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3])


def headings(pages: list[tuple[int, list[SizedLine]]]) -> list[OutlineEntry]:
    """Outline entries for the headings found, in page order, each under the larger ones before it (a
    heading of a size seen before closes the headings of its size and smaller: siblings stay siblings)."""
    sizes: Counter[float] = Counter()
    for _, lines in pages:
        for line, size, _ in lines:
            if size:
                sizes[round(size, 1)] += len(line.strip())
    if not sizes:
        return []
    body = sizes.most_common(1)[0][0]
    large = [
        [_height(folded_line(line), size, bold, body) for line, size, bold in lines if line.strip()]
        for _, lines in pages
    ]
    running = _running([[(title, heads) for title, _, heads in titled] for titled in large])
    found: list[tuple[int, str, float]] = []
    for (number, _), titled in zip(pages, large, strict=True):
        before = 0.0
        for title, height, heads in titled:
            if title in running:
                continue
            if heads and _titled(title) and height != before:
                found.append((number, title, height))
            before = height  # a heading's second line, in its size, stays its text
    return _nested(found)[:MAX_OUTLINE]


def _height(line: str, size: float | None, bold: bool, body: float) -> tuple[str, float, bool]:
    """A line, the height it heads at (its size, but a line in bold no larger than the body's just over
    that), and whether it may head: larger than the body, or in bold and reading as a heading."""
    height = round(size or 0.0, 1)
    if height >= LARGER * body:
        return line, height, True
    if bold and height and reads_as_heading(line):
        return line, body + BOLD_HEIGHT, True
    return line, height, False


def _nested(found: list[tuple[int, str, float]]) -> list[OutlineEntry]:
    """Each heading under the larger ones open before it; one closes those of its size or smaller. A
    cover page's lines in sizes no later page uses (a subtitle, an author) close with it, but its first."""
    later = {height for number, _, height in found if found and number != found[0][0]}
    entries: list[OutlineEntry] = []
    above: list[tuple[float, str]] = []  # the headings the next one may stand under: (size, title)
    page = found[0][0] if found else 0
    for number, title, height in found:
        if number != page and page == found[0][0]:
            above = above[:1] + [heading for heading in above[1:] if heading[0] in later]
        page = number
        while above and above[-1][0] <= height:
            above.pop()
        above.append((height, title))
        entries.append(OutlineEntry(number, tuple(heading for _, heading in above)))
    return entries


def _running(pages: list[list[tuple[str, bool]]]) -> set[str]:
    """Large lines that start or end RUNNING pages or more: a running header or footer, not a heading.
    A subheading used in every chapter ("Purpose", "Scope") stands inside its pages, and stays one."""
    edges: Counter[str] = Counter()
    for lines in pages:
        edges.update({title for title, large in (lines[:1] + lines[-1:]) if large})
    return {title for title, count in edges.items() if count >= RUNNING}


def _titled(line: str) -> bool:
    """A heading's words: few, with letters, no sentence in them ("All prices exclude VAT.", a pull quote),
    a number first only as its numbering ("2.1 Scope", not a figure: "4,500 employees", "98% ..."), and
    neither a date alone nor a sum ("14 March 2025", "Total due: $5,430.00")."""
    first = line.split(maxsplit=1)[0] if line.strip() else ""
    return (
        DATE.fullmatch(line.strip()) is None
        and MONEY.search(line) is None
        and len(line) <= HEADING_CHARS
        and len(line.split()) <= HEADING_WORDS
        and LETTER.search(line) is not None
        and not line.rstrip(CLOSING).endswith((",", ";", ".", "。"))
        and not SENTENCE_BREAK.search(line)
        and (not first[:1].isdigit() or NUMBERING.fullmatch(first) is not None)
    )
