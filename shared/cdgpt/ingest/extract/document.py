"""What extraction produces: a titled document of sections, whatever the format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Raw(Protocol):
    """What extraction reads from a raw document (sources' RawDocument, or the bytes a worker receives)."""

    @property
    def source(self) -> str: ...
    @property
    def content(self) -> bytes: ...
    @property
    def content_type(self) -> str | None: ...
    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class Section:
    headings: tuple[str, ...]  # heading path, outermost first
    text: str  # paragraphs separated by blank lines
    anchor: str | None = None  # id of the nearest heading, for `url#anchor` (HTML)
    page: int | None = None  # page (PDF), slide (PowerPoint) or sheet (Excel) number, from 1


@dataclass(frozen=True)
class Document:
    source: str
    title: str
    sections: tuple[Section, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)
