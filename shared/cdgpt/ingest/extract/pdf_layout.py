"""A PDF's pages as sections: running headers and footers dropped, lines joined into paragraphs, and the
heading path from the document's outline (bookmarks), split where a heading starts inside a page."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cdgpt.index.terms import IS_CJK
from cdgpt.ingest.extract.document import Section

MAX_OUTLINE = 10_000  # outline entries read; a larger outline is ignored (pages keep "Page N")
BULLET = re.compile(r"[•◦▪‣∙●○■□➢►–—∗*-]\s")  # a list item's first line
SENTENCE_END = (".", "!", "?", ":", "。", "！", "？", "：")
PAGE_NUMBER = re.compile(r"\d+|\b[ivxlc]+\b")
SHORT_LINE = 0.8  # a line ending a sentence under this share of the page's widest line ends a paragraph
NUMBERING = re.compile(r"(?:[\dIVXivx]+[.)]?)+|[A-Z][.)]|Chapter\s+\d+|Appendix\s+[A-Z]|第.{1,3}[章节]")


@dataclass(frozen=True)
class OutlineEntry:
    page: int  # 1-based
    path: tuple[str, ...]  # the titles from the top of the outline down to this entry


def outline(reader: Any, pages: int) -> list[OutlineEntry]:
    """The outline's entries in page order, or none when it is missing, broken or too large."""
    entries: list[OutlineEntry] = []

    def walk(items: list, parent: tuple[str, ...]) -> None:
        path = parent
        for item in items:
            if isinstance(item, list):  # the children of the entry before it
                walk(item, path)
                continue
            title = " ".join(str(item.title).split())
            page = reader.get_destination_page_number(item) + 1
            if not title or not 1 <= page <= pages or len(entries) >= MAX_OUTLINE:
                continue
            path = (*parent, title)
            entries.append(OutlineEntry(page, path))

    try:
        walk(reader.outline, ())
    except Exception:
        return []
    return sorted(entries, key=lambda entry: entry.page)  # stable: the outline's order within a page


def running_lines(pages: list[list[str]]) -> set[str]:
    """Headers and footers: the shapes (digits aside) of first or last lines that half the pages share."""
    if len(pages) < 3:
        return set()
    shapes: Counter[str] = Counter()
    for lines in pages:
        shapes.update({_shape(line) for line in (lines[:1] + lines[-1:])})
    return {shape for shape, count in shapes.items() if count >= len(pages) / 2 and shape}


def sections(pages: list[tuple[int, str]], entries: list[OutlineEntry]) -> list[Section]:
    """One section per page, or per part of a page under one outline entry."""
    lined = [[line.strip() for line in text.splitlines()] for _, text in pages]
    running = running_lines([[line for line in lines if line] for lines in lined])
    out: list[Section] = []
    path: tuple[str, ...] = ()
    upcoming = iter(entries)
    entry = next(upcoming, None)
    for (number, _), lines in zip(pages, lined, strict=True):
        lines = _without_running(lines, running)
        while entry is not None and entry.page < number:  # entries of pages skipped (no text, or repeated)
            path, entry = entry.path, next(upcoming, None)
        starts: list[tuple[int, tuple[str, ...]]] = []  # (line index, path) where a heading starts on this page
        at = 0
        while entry is not None and entry.page == number:
            found = _heading_line(lines, entry.path[-1], at)
            at = found + 1 if found is not None else at
            starts.append((found if found is not None else -1, entry.path))
            entry = next(upcoming, None)
        for part_path, part in _split(lines, starts, path):
            text = paragraphs(part)
            if text:
                out.append(Section(part_path or (f"Page {number}",), text, page=number))
            path = part_path
    return out


def _split(
    lines: list[str], starts: list[tuple[int, tuple[str, ...]]], path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], list[str]]]:
    """The page's lines in parts, each under its heading path (a heading found in the text is left out)."""
    begin = 0
    for index, entry_path in starts:
        if index < 0:  # not found in the text: it heads the page
            path = entry_path
            continue
        yield path, lines[begin:index]
        path, begin = entry_path, index + 1
    yield path, lines[begin:]


def paragraphs(lines: list[str]) -> str:
    """Lines joined into paragraphs: a blank line, a list item, or a short line ending a sentence ends one."""
    widest = max((len(line) for line in lines), default=0)
    out: list[str] = []
    current = ""
    for line in lines:
        if not line or (BULLET.match(line) and current):
            if current:
                out.append(current)
            current = ""
        if not line:
            continue
        current = _join(current, line)
        if line.endswith(SENTENCE_END) and len(line) < SHORT_LINE * widest:
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return "\n\n".join(out)


def _join(text: str, line: str) -> str:
    """A line after the text before it: with a space, but none between two CJK characters."""
    if not text:
        return line
    if IS_CJK.match(text[-1]) and IS_CJK.match(line[0]):
        return text + line
    return f"{text} {line}"


def _heading_line(lines: list[str], title: str, start: int) -> int | None:
    """The line from `start` on that is the title, alone or after its numbering ("6.3 Installing")."""
    wanted = " ".join(title.split()).casefold()
    for index in range(start, len(lines)):
        line = " ".join(lines[index].split()).casefold()
        if line == wanted or (line.endswith(wanted) and NUMBERING.fullmatch(line[: -len(wanted)].strip())):
            return index
    return None


def _without_running(lines: list[str], running: set[str]) -> list[str]:
    """The page's lines without a running header (its first line) or footer (its last); a page's only line
    is its text."""
    text = [index for index, line in enumerate(lines) if line]
    if len(text) < 2 or not running:
        return lines
    first, last = text[0], text[-1]
    drop = {i for i in {first, last} if _shape(lines[i]) in running}
    return [line for index, line in enumerate(lines) if index not in drop]


def _shape(line: str) -> str:
    """A line with its numbers made alike: page numbers, in digits or lower-case Roman (front matter)."""
    return PAGE_NUMBER.sub("#", " ".join(line.split()))
