"""Sections from a document read in order: each heading opens a section under its heading path."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from cdgpt.index.terms import CJK, LETTER
from cdgpt.ingest.extract.budget import Budget
from cdgpt.ingest.extract.document import Section
from cdgpt.ingest.extract.records import each_table_paragraph

PAGE_NUMBER = re.compile(  # "Page 2 of 9", "2/9", "Seite 2 von 9", "Page 2 sur 9", "第2页，共9页"
    r"(?:page|p\.|seite|página|第)?\s*\d+\s*页?\s*[,，]?\s*(?:(?:of|/|von|de|sur|共)\s*\d+\s*页?)?", re.IGNORECASE
)

BOLD_LEVEL = 11  # below every real heading level: a bold line heads what follows until the next heading
UNNUMBERED = 9  # levels below BOLD_LEVEL of a bold line without a section number: under the numbered ones
SECTION_NUMBER = re.compile(r"(\d{1,3}(?:\.\d{1,3}){0,5})\.?\s")  # "3. Scope", "2.1.3 Hotels"
BOLD_HEADING_CHARS = 80  # a line set in bold that heads what follows is no longer (Chinese: half)
SENTENCE_STOP = re.compile(r"[.!;,:。！；，、：]$")  # "Note:" labels only what follows it; a question heads its answer
HAS_CJK = re.compile(f"[{CJK}]")


def reads_as_heading(text: str) -> bool:
    """Whether a paragraph set wholly in bold reads as a heading (Word and web pages written without
    heading styles: "Eligibility", "报销流程"): short, with letters, not ending a sentence or a label."""
    text = " ".join(text.split())
    limit = BOLD_HEADING_CHARS // 2 if HAS_CJK.search(text) else BOLD_HEADING_CHARS
    return 0 < len(text) <= limit and LETTER.search(text) is not None and not SENTENCE_STOP.search(text)


def bold_level(text: str) -> int:
    """The level of a heading set in bold: below the real ones, by its number's parts ("2.1.3 Hotels" under
    "2.1 Travel"); one without a number under them all."""
    number = SECTION_NUMBER.match(text)
    return BOLD_LEVEL + (number.group(1).count(".") + 1 if number else UNNUMBERED)


def unhead_bold_line(path: list[tuple[int, str]], paragraphs: list[str], sections: list[Section]) -> None:
    """A bold line that heads nothing (a cover page's lines, one after another) stays text: out of the open
    heading `path`, into `paragraphs`, after the last of `sections` when that one has the path left."""
    if path and path[-1][0] >= BOLD_LEVEL and not paragraphs:
        paragraphs.append(path.pop()[1])
        if sections and sections[-1].headings == tuple(h for _, h in path):
            paragraphs.insert(0, sections.pop().text)  # the section it ended goes on


class Outline:
    """Headings and paragraphs into sections; the text is counted against the document's budget as it comes,
    so a document over its characters or CPU time stops there, not after all of it is built."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.title: str | None = None  # the first top-level heading
        self.sections: list[Section] = []
        self._path: list[tuple[int, str]] = []
        self._paragraphs: list[str] = []

    def heading(self, level: int, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            return
        self.budget.spend(len(text))  # a heading is in every chunk under it: counted once, here
        unhead_bold_line(self._path, self._paragraphs, self.sections)
        self._close()
        if level == 1 and self.title is None:
            self.title = text
        self._path = [(lvl, h) for lvl, h in self._path if lvl < level] + [(level, text)]

    def running_lines(self, texts: Iterable[str]) -> None:
        """A document's headers and footers, once each, before its body: a policy's number, version and
        classification live there. Page numbers ("Page 2 of 9", a number alone) are left out."""
        seen: set[str] = set()
        for text in texts:
            text = " ".join(text.split())
            if text and not PAGE_NUMBER.fullmatch(text) and text not in seen:  # "2.1" and "01/03/2024" stay
                seen.add(text)
                self.paragraph(text)

    def paragraph(self, text: str) -> None:
        if text := " ".join(text.split()):
            self.budget.spend(len(text))
            self._paragraphs.append(text)

    def table(self, rows: Sequence[Sequence[str]], header: bool | None = None) -> None:
        for paragraph in each_table_paragraph(rows, header):
            self.budget.spend(len(paragraph))
            self._paragraphs.append(paragraph)

    def _close(self) -> None:
        if self._paragraphs:
            self.sections.append(Section(tuple(h for _, h in self._path), "\n\n".join(self._paragraphs)))
            self._paragraphs = []

    def done(self) -> list[Section]:
        unhead_bold_line(self._path, self._paragraphs, self.sections)
        self._close()
        return self.sections
