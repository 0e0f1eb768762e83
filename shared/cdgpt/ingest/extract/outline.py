"""Sections from a document read in order: each heading opens a section under its heading path."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from cdgpt.ingest.extract.document import Section
from cdgpt.ingest.extract.records import table_paragraphs

PAGE_NUMBER = re.compile(  # "Page 2 of 9", "2/9", "Seite 2 von 9", "Page 2 sur 9", "第2页，共9页"
    r"(?:page|p\.|seite|página|第)?\s*\d+\s*页?\s*[,，]?\s*(?:(?:of|/|von|de|sur|共)\s*\d+\s*页?)?", re.IGNORECASE
)


class Outline:
    def __init__(self) -> None:
        self.title: str | None = None  # the first top-level heading
        self.sections: list[Section] = []
        self._path: list[tuple[int, str]] = []
        self._paragraphs: list[str] = []

    def heading(self, level: int, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            return
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
            self._paragraphs.append(text)

    def table(self, rows: Sequence[Sequence[str]], header: bool | None = None) -> None:
        self._paragraphs.extend(table_paragraphs(rows, header))

    def _close(self) -> None:
        if self._paragraphs:
            self.sections.append(Section(tuple(h for _, h in self._path), "\n\n".join(self._paragraphs)))
            self._paragraphs = []

    def done(self) -> list[Section]:
        self._close()
        return self.sections
