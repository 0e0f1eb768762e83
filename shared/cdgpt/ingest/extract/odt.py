"""OpenDocument text (.odt): headings by outline level, paragraphs, lists and tables, read with lxml. A short
paragraph set wholly in bold (by its style or its spans' styles) is a heading too."""

from __future__ import annotations

import re
from typing import Any

from cdgpt.errors import SourceFailed
from cdgpt.ingest.extract.archive import Archive, inherited
from cdgpt.ingest.extract.budget import Budget
from cdgpt.ingest.extract.document import Section
from cdgpt.ingest.extract.outline import Outline, bold_level, reads_as_heading
from cdgpt.ingest.extract.records import said_header
from cdgpt.ingest.safexml import attr, local
from cdgpt.limits import MAX_TABLE_CELLS, MAX_TABLE_COLUMNS

SPACES = frozenset(["s", "tab", "line-break"])
RUNNING = frozenset(["header", "footer", "header-left", "footer-left", "header-first", "footer-first"])
SKIPPED = frozenset(["note", "annotation", "frame", "bookmark-ref", "sequence-decls", "tracked-changes"])
CONTAINERS = frozenset(["list", "list-item", "list-header", "section", "text-box", "body", "text"])  # tables of
# contents, indexes and tracked deletions are not among them: they are left out
BOLD_WEIGHT = re.compile(r"bold|[6-9]00")
MARKS = frozenset([*SPACES, "soft-page-break", "bookmark", "bookmark-start", "bookmark-end"])  # no text of their own


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


def _rows(table: Any, budget: Budget) -> list[list[str]]:
    """The table's rows with their repeats spelt out, checked against the document's budget as they grow (the
    outline counts the table's text once it is written): a few bytes of repeated cells spell out millions."""
    rows: list[list[str]] = []
    cells_left, chars = MAX_TABLE_CELLS, 0
    for row in table.iter("{*}table-row"):
        if next(row.iterancestors("{*}table")) is not table:
            continue
        cells: list[str] = []
        for cell in row:
            if local(cell) in ("table-cell", "covered-table-cell"):
                text = " ".join(" ".join(_text(p)[0].split()) for p in cell.iter("{*}p", "{*}h")).strip()
                cells.extend([text] * _repeat(cell, "number-columns-repeated", not text))
        repeat = _repeat(row, "number-rows-repeated", not any(cells))
        cells_left -= len(cells) * repeat
        if cells_left < 0:
            raise SourceFailed(f"a table of more than {MAX_TABLE_CELLS} cells")
        chars += sum(map(len, cells)) * repeat
        budget.check_chars(budget.chars + chars)
        budget.check_time()
        rows.extend([cells] * repeat)
    return rows


def _bold_styles(*roots: Any) -> set[str]:
    """Names of the paragraph and text styles that set bold, themselves or through their parents."""
    weights: dict[str, str | None] = {}
    parents: dict[str, str] = {}
    for root in roots:
        for style in root.iter("{*}style"):
            if not (name := attr(style, "name")):
                continue
            properties = next(style.iter("{*}text-properties"), None)
            weights[name] = attr(properties, "font-weight") if properties is not None else None
            if parent := attr(style, "parent-style-name"):
                parents[name] = parent
    return {name for name, weight in inherited(weights, parents).items() if BOLD_WEIGHT.fullmatch(weight)}


def _in_bold(paragraph: Any, bold: set[str]) -> bool:
    """Whether all of a paragraph's text is bold: by its own style, or in spans of bold styles."""
    if attr(paragraph, "style-name") in bold:
        return True
    if (paragraph.text or "").strip():
        return False
    spans = [node for node in paragraph if local(node) not in MARKS]
    return bool(spans) and all(
        local(node) == "span" and attr(node, "style-name") in bold and not (node.tail or "").strip() for node in spans
    )


def _blocks(parent: Any, out: Outline, bold: set[str]) -> None:
    for element in parent:
        tag = local(element)
        if tag in ("p", "h"):
            text, frames = _text(element)
            level = attr(element, "outline-level") if tag == "h" else None
            if tag == "h":
                out.heading(int(level) if level and level.isdigit() and 0 < int(level) < 11 else 1, text)
            elif _in_bold(element, bold) and reads_as_heading(text):
                out.heading(bold_level(text), text)
            else:
                out.paragraph(text)
            for frame in frames:
                _blocks(frame, out, bold)
        elif tag == "table":
            rows = _rows(element, out.budget)
            out.table(rows, said_header(any(True for _ in element.iter("{*}table-header-rows")), rows))
        elif tag in CONTAINERS:
            _blocks(element, out, bold)


def odt(content: bytes, name: str, budget: Budget) -> tuple[str | None, list[Section]]:
    package = Archive(content, name)
    out = Outline(budget)
    styles = package.xml("styles.xml") if package.has("styles.xml") else None
    if styles is not None:  # the master pages' headers and footers
        out.running_lines(
            _text(p)[0]
            for page in styles.iter("{*}master-page")
            for part in page
            for p in part.iter("{*}p")
            if local(part) in RUNNING
        )
    document = package.xml("content.xml")
    bold = _bold_styles(*(root for root in (styles, document) if root is not None))
    for body in document.iter("{*}body"):
        _blocks(body, out, bold)
    title = None
    if package.has("meta.xml"):
        title = next(
            (" ".join(e.text.split()) for e in package.xml("meta.xml").iter("{*}title") if (e.text or "").strip()), None
        )
    sections = out.done()
    return title or out.title, sections
