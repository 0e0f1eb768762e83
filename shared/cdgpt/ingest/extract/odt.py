"""OpenDocument text (.odt): headings by outline level, paragraphs, lists and tables, read with lxml."""

from __future__ import annotations

from typing import Any

from cdgpt.ingest.extract.archive import Archive
from cdgpt.ingest.extract.document import Section
from cdgpt.ingest.extract.outline import Outline
from cdgpt.ingest.extract.records import said_header
from cdgpt.ingest.safexml import attr, local
from cdgpt.limits import MAX_TABLE_COLUMNS

SPACES = frozenset(["s", "tab", "line-break"])
RUNNING = frozenset(["header", "footer", "header-left", "footer-left", "header-first", "footer-first"])
SKIPPED = frozenset(["note", "annotation", "frame", "bookmark-ref", "sequence-decls", "tracked-changes"])
CONTAINERS = frozenset(["list", "list-item", "list-header", "section", "text-box", "body", "text"])  # tables of
# contents, indexes and tracked deletions are not among them: they are left out


def _inline(element: Any, out: list[str], frames: list[Any]) -> None:
    """Mixed content in order: text, spans and links; frames (text boxes) and notes' text kept aside."""
    out.append(element.text or "")
    for node in element:
        tag = local(node)
        if tag in SPACES:
            out.append(" ")
        elif tag == "frame":
            frames.append(node)
        elif tag == "note":  # a footnote or endnote: its text follows its paragraph
            frames.extend(body for body in node if local(body) == "note-body")
        elif tag not in SKIPPED:
            _inline(node, out, frames)
        out.append(node.tail or "")


def _text(element: Any) -> tuple[str, list[Any]]:
    out: list[str] = []
    frames: list[Any] = []
    _inline(element, out, frames)
    return "".join(out), frames


def _repeat(element: Any, name: str, empty: bool) -> int:
    """table:number-*-repeated, capped: an empty run of cells or rows counts once."""
    value = attr(element, name) or "1"
    return 1 if empty or not value.isdigit() else max(1, min(int(value), MAX_TABLE_COLUMNS))


def _rows(table: Any) -> list[list[str]]:
    rows = []
    for row in table.iter("{*}table-row"):
        if next(row.iterancestors("{*}table")) is not table:
            continue
        cells: list[str] = []
        for cell in row:
            if local(cell) in ("table-cell", "covered-table-cell"):
                text = " ".join(" ".join(_text(p)[0].split()) for p in cell.iter("{*}p", "{*}h"))
                cells.extend([text.strip()] * _repeat(cell, "number-columns-repeated", not text.strip()))
        rows.extend([cells] * _repeat(row, "number-rows-repeated", not any(cells)))
    return rows


def _blocks(parent: Any, out: Outline) -> None:
    for element in parent:
        tag = local(element)
        if tag in ("p", "h"):
            text, frames = _text(element)
            level = attr(element, "outline-level") if tag == "h" else None
            if tag == "h":
                out.heading(int(level) if level and level.isdigit() and 0 < int(level) < 11 else 1, text)
            else:
                out.paragraph(text)
            for frame in frames:
                _blocks(frame, out)
        elif tag == "table":
            rows = _rows(element)
            out.table(rows, said_header(any(True for _ in element.iter("{*}table-header-rows")), rows))
        elif tag in CONTAINERS:
            _blocks(element, out)


def odt(content: bytes, name: str) -> tuple[str | None, list[Section]]:
    package = Archive(content, name)
    out = Outline()
    if package.has("styles.xml"):  # the master pages' headers and footers
        pages = package.xml("styles.xml").iter("{*}master-page")
        out.running_lines(
            _text(p)[0] for page in pages for part in page for p in part.iter("{*}p") if local(part) in RUNNING
        )
    for body in package.xml("content.xml").iter("{*}body"):
        _blocks(body, out)
    title = None
    if package.has("meta.xml"):
        title = next(
            (" ".join(e.text.split()) for e in package.xml("meta.xml").iter("{*}title") if (e.text or "").strip()), None
        )
    sections = out.done()
    return title or out.title, sections
