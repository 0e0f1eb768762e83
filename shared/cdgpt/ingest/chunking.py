"""Chunking: a document's sections into bounded, overlapping chunks that follow its structure.

Paragraphs stay whole when they fit; longer ones split at sentence ends (`.!?;` followed by a space,
or the full-width `。！？；` that need none), code at its lines; a sentence longer than a chunk splits at
the size bound. Chunks never cross a section, so each carries one heading path. A code block cut between
two chunks is closed at the end of the first and opened again at the start of the second, so every chunk's
code stands between fences (an answer's passages are joined one after another: an open fence would make
the next passages read as code).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
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
OPEN, CLOSE = FENCE + "\n", "\n" + FENCE  # what a chunk gains where it cuts a code block
# What stands before a piece of a chunk: a space (or none), a blank line, a line break
SENTENCE, NEW_PARAGRAPH, NEW_LINE = 0, 1, 2
# What a piece is: prose, a code block's fence line, or one of its lines (or a slice of one)
PROSE, FENCE_LINE, CODE_LINE = 0, 1, 2
Piece = tuple[str, int, int]  # its text, what stands before it, what it is


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
        """The chunk as it is embedded and indexed."""
        return embedded_text(self.title, self.headings, self.text)


def embedded_text(title: str, headings: Sequence[str], text: str) -> str:
    """A chunk as it is embedded and indexed (and reranked): title and heading path, then the text."""
    path = " > ".join((title, *headings))
    return f"{path}\n{text}"


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


def _pieces(text: str, size: int) -> Iterator[Piece]:
    """Sentences, a code block's lines, and slices of either longer than size (a code line's leave
    room for the fences of a chunk it fills alone)."""
    for paragraph in text.split("\n\n"):
        if is_code(paragraph):
            lines = paragraph.split("\n")
            yield lines[0], NEW_PARAGRAPH, FENCE_LINE
            width = size - len(OPEN) - len(CLOSE)
            for line in lines[1:-1]:
                for start in range(0, len(line), width):
                    yield line[start : start + width], NEW_LINE if start == 0 else SENTENCE, CODE_LINE
            yield lines[-1], NEW_LINE, FENCE_LINE
            continue
        for n, part in enumerate(split_sentences(paragraph)):
            for start in range(0, len(part), size):
                yield part[start : start + size], NEW_PARAGRAPH if n == 0 and start == 0 else SENTENCE, PROSE


def _join(parts: list[Piece]) -> str:
    out = ""
    for piece, before, _ in parts:
        if out:
            if before == SENTENCE:
                out += "\n" if LIST_ITEM.match(piece) else "" if out[-1] in CJK_STOPS else " "
            else:
                out += "\n\n" if before == NEW_PARAGRAPH else "\n"
        out += piece
    return out


def _text(parts: list[Piece]) -> str:
    """A chunk's text: a fence whose block's lines are all in the chunk beside it left out, and a code
    block the chunk cuts closed at its end or opened again at its start."""
    if parts and parts[0][2] == FENCE_LINE and parts[0][1] == NEW_LINE:  # the end of a block before
        parts = parts[1:]
    if parts and parts[-1][2] == FENCE_LINE and parts[-1][1] == NEW_PARAGRAPH:  # the start of a block after
        parts = parts[:-1]
    if not parts:
        return ""
    return (OPEN if parts[0][2] == CODE_LINE else "") + _join(parts) + (CLOSE if parts[-1][2] == CODE_LINE else "")


def _cost(part: Piece) -> int:
    """A piece's length plus the widest separator `_join` may put before it."""
    return len(part[0]) + (2 if part[1] == NEW_PARAGRAPH else 1)


def _fences(first: Piece, last: Piece) -> int:
    """What `_text` adds to a chunk from first to last: the fences of a code block it cuts."""
    return len(OPEN) * (first[2] == CODE_LINE) + len(CLOSE) * (last[2] == CODE_LINE)


def chunk_document(doc: Document, size: int, overlap: int, budget: Budget | None = None) -> list[Chunk]:
    """The document's chunks; SourceFailed as soon as they outnumber the budget's chunks."""
    chunks: list[Chunk] = []

    def add(section: Section, parts: list[Piece]) -> None:
        if not (text := _text(parts)):
            return
        chunks.append(Chunk(doc.source, doc.title, section.headings, len(chunks), text, section.anchor, section.page))
        if budget:
            budget.check_chunks(len(chunks))

    for section in doc.sections:
        current: list[Piece] = []
        length = 0  # sum of _cost: at least one more than the joined text
        for part in _pieces(section.text, size):
            cost = _cost(part)
            if current and length + cost + _fences(current[0], part) > size + 1:
                add(section, current)
                tail: list[Piece] = []
                kept = 0
                for old in reversed(current):
                    if kept + len(old[0]) > overlap:
                        break
                    tail.insert(0, old)
                    kept += _cost(old)
                while tail and kept + cost + _fences(tail[0], part) > size + 1:  # the overlap must leave room
                    kept -= _cost(tail.pop(0))
                current, length = tail, kept
            current.append(part)
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
