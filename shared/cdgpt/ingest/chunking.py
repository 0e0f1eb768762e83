"""Chunking: a document's sections into bounded, overlapping chunks that follow its structure.

Paragraphs stay whole when they fit; longer ones split at sentence ends (`.!?;` followed by a space,
or the full-width `。！？；` that need none), code at its lines; a sentence longer than a chunk splits at
the size bound. Chunks never cross a section, so each carries one heading path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cdgpt.index.terms import Counted
    from cdgpt.ingest.extract import Budget, Document, Section

# A sentence ends with its stop, and the spaces after it go; not a full stop before a lowercase letter or
# after "e.g" and "i.e" ("see e.g. Writer", "version 2. then")
SENTENCE_END = re.compile(r"(?<!e\.g)(?<!i\.e)\.\s++(?![a-z])|[!?;]\s+|[。！？；]")
LIST_NUMBER = re.compile(r"\d{1,3}\.")  # "2." opening a list item: not a sentence, but part of the next one
BULLET = r"[-*+•]"  # a bullet opening a line opens a list item, a sentence whatever precedes it
BULLET_LINE = re.compile(rf"\n(?=[ \t]*{BULLET}[ \t])")
LIST_ITEM = re.compile(rf"(?:{LIST_NUMBER.pattern}|{BULLET})\s")  # a list item's sentence goes on a line of its own
CJK_STOPS = "。！？；"
FENCE = "```"  # the first and last lines of a code block in a section's text
# What stands before a piece of a chunk: a space (or none), a blank line, a line break
SENTENCE, NEW_PARAGRAPH, NEW_LINE = 0, 1, 2


@dataclass(frozen=True)
class Chunk:
    source: str
    title: str
    headings: tuple[str, ...]
    position: int  # order of the chunk within its document
    text: str
    anchor: str | None = None  # where in the document (see Section)
    page: int | None = None
    # Its BM25 term counts (of `context`) when extraction counted them; not part of its record.
    terms: Counted | None = field(default=None, compare=False, repr=False)

    @property
    def context(self) -> str:
        """The chunk as it is embedded and indexed: title and heading path, then the text."""
        path = " > ".join((self.title, *self.headings))
        return f"{path}\n{self.text}"


def split_sentences(paragraph: str) -> list[str]:
    return [sentence for item in BULLET_LINE.split(paragraph) for sentence in _item_sentences(item)]


def _item_sentences(paragraph: str) -> list[str]:
    sentences, start = [], 0
    for end in SENTENCE_END.finditer(paragraph):  # no look-behind: the scan jumps from stop to stop
        piece = paragraph[start : end.start() + 1]
        line = piece.rfind("\n") + 1
        if LIST_NUMBER.fullmatch(piece[line:].strip()):  # a list item's number: its sentence goes on
            if before := piece[:line].strip():
                sentences.append(before)
            start += line
            continue
        if sentence := piece.strip():
            sentences.append(sentence)
        start = end.end()
    if sentence := paragraph[start:].strip():
        sentences.append(sentence)
    return sentences


def is_code(paragraph: str) -> bool:
    """Whether a paragraph is code: its lines as written between fence lines (see extract's `text.fenced`)."""
    return paragraph.startswith(FENCE + "\n") and paragraph.endswith("\n" + FENCE)


def _pieces(text: str, size: int) -> Iterator[tuple[str, int]]:
    """Yield (piece, what goes before it): sentences, a code block's lines, and slices of either longer
    than size."""
    for paragraph in text.split("\n\n"):
        code = is_code(paragraph)
        for n, part in enumerate(paragraph.split("\n") if code else split_sentences(paragraph)):
            before = NEW_PARAGRAPH if n == 0 else NEW_LINE if code else SENTENCE
            for start in range(0, len(part), size):
                yield part[start : start + size], before if start == 0 else SENTENCE


def _join(parts: list[tuple[str, int]]) -> str:
    out = ""
    for piece, before in parts:
        if out:
            if before == SENTENCE:
                out += "\n" if LIST_ITEM.match(piece) else "" if out[-1] in CJK_STOPS else " "
            else:
                out += "\n\n" if before == NEW_PARAGRAPH else "\n"
        out += piece
    return out


def _cost(part: tuple[str, int]) -> int:
    """A piece's length plus the widest separator `_join` may put before it."""
    return len(part[0]) + (2 if part[1] == NEW_PARAGRAPH else 1)


def chunk_document(doc: Document, size: int, overlap: int, budget: Budget | None = None) -> list[Chunk]:
    """The document's chunks; SourceFailed as soon as they outnumber the budget's chunks."""
    chunks: list[Chunk] = []

    def add(section: Section, parts: list[tuple[str, int]]) -> None:
        chunks.append(
            Chunk(doc.source, doc.title, section.headings, len(chunks), _join(parts), section.anchor, section.page)
        )
        if budget:
            budget.check_chunks(len(chunks))

    for section in doc.sections:
        current: list[tuple[str, int]] = []
        length = 0  # sum of _cost: at least one more than the joined text
        for piece, before in _pieces(section.text, size):
            cost = _cost((piece, before))
            if current and length + cost > size + 1:
                add(section, current)
                tail: list[tuple[str, int]] = []
                kept = 0
                for old in reversed(current):
                    if kept + len(old[0]) > overlap:
                        break
                    tail.insert(0, old)
                    kept += _cost(old)
                while tail and kept + cost > size + 1:  # the overlap must leave room for the new piece
                    kept -= _cost(tail.pop(0))
                current, length = tail, kept
            current.append((piece, before))
            length += cost
        if current:
            add(section, current)
    return chunks


CHUNK_FIELDS = frozenset(f.name for f in fields(Chunk)) - {"terms"}


def chunk_record(chunk: Chunk) -> dict[str, Any]:
    """The chunk's docstore record."""
    return {
        "source": chunk.source,
        "title": chunk.title,
        "headings": chunk.headings,
        "position": chunk.position,
        "text": chunk.text,
        "anchor": chunk.anchor,
        "page": chunk.page,
    }


def chunk_from_record(record: dict[str, Any]) -> Chunk:
    """A Chunk from its docstore record (fields this version does not know are left out)."""
    known = {k: v for k, v in record.items() if k in CHUNK_FIELDS}
    return Chunk(**{**known, "headings": tuple(record.get("headings") or ())})
