"""Word (.docx) and PowerPoint (.pptx), read from their XML with lxml.

Word: paragraphs and tables in order, content controls and tracked insertions included; heading
styles (and outline levels) become the heading path, and so does a short paragraph set wholly in bold;
a table with a header row becomes records.
PowerPoint: one section per slide (its title as the heading, its number as the page), with its
text boxes, tables, charts, SmartArt and speaker notes. (python-pptx needs Pillow at import, about 22 MB of the
Lambda layers; python-docx reads neither content controls nor tracked insertions.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from cdgpt.errors import SourceFailed
from cdgpt.ingest.extract.archive import MB, Archive, core_title, inherited
from cdgpt.ingest.extract.budget import Budget
from cdgpt.ingest.extract.diagrams import chart_paragraphs, smartart_paragraphs
from cdgpt.ingest.extract.document import Section
from cdgpt.ingest.extract.outline import Outline, bold_level, reads_as_heading
from cdgpt.ingest.extract.records import said_header, table_paragraphs
from cdgpt.ingest.safexml import attr, child, children, local, rel_id
from cdgpt.limits import MAX_XML_PART_BYTES

HEADING_NAME = re.compile(r"^heading ([1-9])$", re.IGNORECASE)
# Not text: properties, field codes, deleted text, text moved elsewhere by a tracked change (it is there too)
SKIPPED = frozenset(["Fallback", "pPr", "rPr", "instrText", "delText", "moveFrom", "sdtPr", "tcPr", "trPr", "tblPr"])
TOC_STYLE = re.compile(r"^toc (?:[1-9]|heading)$", re.IGNORECASE)  # a table of contents' entries and heading
BREAKS = frozenset(["tab", "br", "cr"])
TITLE = 0  # level given to the Title style
BODY = -1  # an outline level of 9: body text, whatever the style it is based on
CONTENTS = -2  # a table of contents' styles: not read
HEADER_ROW = -3  # a table style that sets the first row apart (Word's "Grid Table 4"): a header
BOLD = -4  # a paragraph or character style that sets its text bold (the character style "Strong")
NOT_BOLD = -5  # one that sets bold off


def _runs(element: Any, text: list[str], boxes: list[Any], notes: dict[str, Any]) -> None:
    """Collect a paragraph's text in order; text boxes and the notes it refers to are kept aside for later."""
    for node in element:
        tag = local(node)
        if tag == "t":
            text.append(node.text or "")
        elif tag in BREAKS:
            text.append(" ")
        elif tag == "noBreakHyphen":
            text.append("-")
        elif tag == "txbxContent":
            boxes.append(node)
        elif tag in ("footnoteReference", "endnoteReference"):  # each note read once: notes cite notes
            if (note := notes.pop(tag[:-9] + (attr(node, "id") or ""), None)) is not None:
                boxes.append(note)
        elif tag not in SKIPPED and not _hidden(node, tag):
            _runs(node, text, boxes, notes)


def _hidden(node: Any, tag: str) -> bool:
    """A run of hidden text (`vanish`), or a content control showing its placeholder ("Click or tap here")."""
    if tag == "r":
        vanish = child(properties, "vanish") if (properties := child(node, "rPr")) is not None else None
        return vanish is not None and attr(vanish, "val") not in ("0", "false")
    if tag == "sdt":
        return (properties := child(node, "sdtPr")) is not None and child(properties, "showingPlcHdr") is not None
    return False


def paragraph_text(element: Any, notes: dict[str, Any] | None = None) -> tuple[str, list[Any]]:
    """A paragraph's text, and what to read after it: its text boxes, and its footnotes and endnotes (`notes`,
    by kind and id: "footnote2"; a note read is taken out, so that one citing itself or another is read once)."""
    text: list[str] = []
    boxes: list[Any] = []
    _runs(element, text, boxes, {} if notes is None else notes)
    return " ".join("".join(text).split()), boxes


# --- Word ---------------------------------------------------------------------------------------


def _heading_levels(package: Archive, document: str) -> dict[str, int]:
    """Paragraph style id -> heading level (TITLE for the Title style, CONTENTS for a table of contents, BOLD
    for a style that only sets bold), character style id -> BOLD when it sets bold, and table style id ->
    HEADER_ROW when the style sets its first row apart, following `basedOn` links."""
    styles = next((t for kind, t in package.relationships(document).values() if kind == "styles"), None)
    if not styles or not package.has(styles):
        return {}
    own: dict[str, int | None] = {}
    weights: dict[str, int | None] = {}  # BOLD or NOT_BOLD, of paragraph and character styles
    based: dict[str, str] = {}
    for style in package.xml(styles):
        sid, kind = attr(style, "styleId"), attr(style, "type")
        if local(style) != "style" or kind not in ("paragraph", "character", "table") or not sid:
            continue
        named = child(style, "name")
        name = (attr(named, "val") or "") if named is not None else ""
        if kind == "table":
            own[sid] = HEADER_ROW if any(attr(p, "type") == "firstRow" for p in children(style, "tblStylePr")) else None
        elif kind == "paragraph":
            own[sid] = CONTENTS if TOC_STYLE.match(name) else _level(style, name)
        weights[sid] = _sets_bold(style)
        if (parent := child(style, "basedOn")) is not None and (parent_id := attr(parent, "val")):
            based[sid] = parent_id
    bold = {sid: BOLD for sid, weight in inherited(weights, based).items() if weight == BOLD}
    return bold | {sid: level for sid, level in inherited(own, based).items() if level != BODY}


def _level(element: Any, name: str = "") -> int | None:
    """A heading level from a style's name, or from the outline level in its (or a paragraph's) pPr."""
    if name.lower() == "title":
        return TITLE
    if match := HEADING_NAME.match(name):
        return int(match.group(1))
    properties = child(element, "pPr")
    outline = child(properties, "outlineLvl") if properties is not None else None
    value = attr(outline, "val") if outline is not None else None
    if value is None or not value.isdigit():
        return None
    return int(value) + 1 if int(value) < 9 else BODY


def _paragraph_level(paragraph: Any, levels: dict[str, int]) -> int | None:
    properties = child(paragraph, "pPr")
    style = child(properties, "pStyle") if properties is not None else None
    sid = attr(style, "val") if style is not None else None
    direct = _level(paragraph)
    level = direct if direct is not None else levels.get(sid or "")
    return None if level in (BODY, HEADER_ROW, BOLD) else level


def _cell_text(cell: Any) -> str:
    return " ".join(text for p in cell.iter("{*}p") if (text := paragraph_text(p)[0]))


def _table_rows(table: Any) -> list[list[str]]:
    rows = []
    for row in table.iter("{*}tr"):
        if next(row.iterancestors("{*}tbl")) is not table:
            continue  # a nested table's row: its text is in the enclosing cell
        cells: list[str] = []
        for cell in row.iter("{*}tc"):
            if next(cell.iterancestors("{*}tr")) is not row:
                continue
            props = child(cell, "tcPr")
            merge = child(props, "vMerge") if props is not None else None
            span = child(props, "gridSpan") if props is not None else None
            continued = merge is not None and attr(merge, "val") != "restart"
            cells.append("" if continued else _cell_text(cell))
            width = attr(span, "val") if span is not None else None
            cells.extend([""] * (min(int(width), 64) - 1 if width and width.isdigit() and int(width) > 1 else 0))
        rows.append(cells)
    return rows


def _table_header(table: Any, rows: list[list[str]], styles: dict[str, int]) -> bool | None:
    """Whether the table's first row is a header (`said_header`): marked by being repeated on each page, by
    a table style that sets it apart (unless the table turns that off), or by being all bold while the
    second row is not."""
    first = [row for row in table.iter("{*}tr") if next(row.iterancestors("{*}tbl")) is table][:2]
    repeated = bool(first) and any(True for _ in first[0].iter("{*}tblHeader"))
    return said_header(
        repeated
        or _styled_header(table, styles)
        or (len(first) == 2 and _bold(first[0], styles) and not _bold(first[1], styles)),
        rows,
    )


def _styled_header(table: Any, styles: dict[str, int]) -> bool:
    properties = child(table, "tblPr")
    style = child(properties, "tblStyle") if properties is not None else None
    if style is None or styles.get(attr(style, "val") or "") != HEADER_ROW:
        return False
    look = child(properties, "tblLook")
    if look is None:
        return True
    if (first := attr(look, "firstRow")) is not None:
        return first in ("1", "true", "on")
    value = attr(look, "val") or ""
    return not value or (
        len(value) <= 4 and all(c in "0123456789abcdefABCDEF" for c in value) and bool(int(value, 16) & 0x20)
    )


def _sets_bold(element: Any) -> int | None:
    """BOLD when a style's (or a run's) run properties set bold, NOT_BOLD when they set it off, else None."""
    properties = child(element, "rPr")
    bold = child(properties, "b") if properties is not None else None
    if bold is None:
        return None
    return NOT_BOLD if attr(bold, "val") in ("0", "false") else BOLD


def _bold(element: Any, styles: dict[str, int]) -> bool:
    """Whether every run of text in the element (a table row, a paragraph) is bold: by its own properties,
    else its character style, else its paragraph's style."""
    runs = [run for run in element.iter("{*}r") if any(True for _ in run.iter("{*}t"))]
    return bool(runs) and all(_run_bold(run, styles) for run in runs)


def _run_bold(run: Any, styles: dict[str, int]) -> bool:
    if (own := _sets_bold(run)) is not None:
        return own == BOLD
    properties = child(run, "rPr")
    style = child(properties, "rStyle") if properties is not None else None
    if style is not None and (sid := attr(style, "val")) in styles:
        return styles[sid] == BOLD
    paragraph = next(run.iterancestors("{*}p"), None)
    paragraph_properties = child(paragraph, "pPr") if paragraph is not None else None
    paragraph_style = child(paragraph_properties, "pStyle") if paragraph_properties is not None else None
    return paragraph_style is not None and styles.get(attr(paragraph_style, "val") or "") == BOLD


def _bold_lead(paragraph: Any, styles: dict[str, int]) -> str | None:
    """The paragraph's first line when it is wholly in bold and a line break (Shift+Enter) ends it, with text
    after it: a question over its answer. Its whitespace folded; None otherwise."""
    lead: list[str] = []
    for run in paragraph.iter("{*}r"):
        for node in run:
            tag = local(node)
            if tag == "t" and (node.text or "").strip():
                if not _run_bold(run, styles):
                    return None
                lead.append(node.text)
            elif tag in ("br", "cr") and attr(node, "type") in (None, "textWrapping"):
                return " ".join("".join(lead).split()) or None
    return None


def _blocks(parent: Any, levels: dict[str, int], out: Outline, notes: dict[str, Any]) -> None:
    for element in parent:
        tag = local(element)
        if tag == "p":
            text, boxes = paragraph_text(element, notes)
            level = _paragraph_level(element, levels)
            if level == CONTENTS:
                continue
            if level == TITLE and out.title is None and text:
                out.title = text
            elif level:
                out.heading(level, text)
            elif _bold(element, levels) and reads_as_heading(text):  # a heading typed in bold, with no heading style
                out.heading(bold_level(text), text)
            elif (lead := _bold_lead(element, levels)) and reads_as_heading(lead) and text.startswith(lead):
                out.heading(bold_level(lead), lead)  # a FAQ's question over its answer, in one paragraph
                out.paragraph(text[len(lead) :].strip())
            else:
                out.paragraph(text)
            for box in boxes:
                _blocks(box, levels, out, notes)
        elif tag == "tbl":
            rows = _table_rows(element)
            out.table(rows, _table_header(element, rows, levels))
        elif tag == "AlternateContent":
            _blocks(element[:1], levels, out, notes)  # mc:Choice; mc:Fallback repeats it
        elif tag in ("sdt", "sdtContent", "customXml", "ins", "smartTag", "Choice") and not _contents(element):
            _blocks(element, levels, out, notes)


def _contents(element: Any) -> bool:
    """A content control holding a table of contents, or showing its placeholder text."""
    if local(element) != "sdt" or (properties := child(element, "sdtPr")) is None:
        return False
    gallery = next(properties.iter("{*}docPartGallery"), None)
    return _hidden(element, "sdt") or (gallery is not None and attr(gallery, "val") == "Table of Contents")


def docx(content: bytes, name: str, budget: Budget) -> tuple[str | None, list[Section]]:
    package = Archive(content, name)
    document = package.main_part("word/document.xml")
    _check_held_together(package, document)
    levels = _heading_levels(package, document)
    body = child(package.xml(document), "body")
    out = Outline(budget)
    out.running_lines(_running_texts(package, document))
    if body is not None:
        _blocks(body, levels, out, _notes(package, document))
    sections = out.done()
    return core_title(package) or out.title, sections


def _running_texts(package: Archive, document: str) -> Iterator[str]:
    """The paragraphs of the document's headers and footers."""
    parts = {target for kind, target in package.relationships(document).values() if kind in ("header", "footer")}
    for target in sorted(parts):  # each part once, however many sections use it
        if package.has(target):
            for paragraph in package.xml(target).iter("{*}p"):
                yield paragraph_text(paragraph)[0]


def _check_held_together(package: Archive, document: str) -> None:
    """The body and its notes are parsed trees at the same time: together they get one part's bound (a tree
    of tiny runs takes some twenty times its bytes)."""
    notes = [t for kind, t in package.relationships(document).values() if kind in ("footnotes", "endnotes")]
    together = sum(package.members[part].file_size for part in (document, *notes) if package.has(part))
    if together > MAX_XML_PART_BYTES:
        raise SourceFailed(f"{package.name}: its body and notes are larger than {MAX_XML_PART_BYTES // MB} MB together")


def _notes(package: Archive, document: str) -> dict[str, Any]:
    """The document's footnotes and endnotes by kind and id ("footnote2"), for the paragraphs citing them."""
    notes = {}
    for kind, target in package.relationships(document).values():
        if kind in ("footnotes", "endnotes") and package.has(target):
            for note in package.xml(target):
                if local(note) == kind[:-1] and attr(note, "type") is None:  # not a separator
                    notes[kind[:-1] + (attr(note, "id") or "")] = note
    return notes


# --- PowerPoint ---------------------------------------------------------------------------------


def _placeholder(shape: Any) -> str | None:
    """The placeholder type of a shape (title, body, sldNum, ...), or None for an ordinary shape."""
    for holder in shape.iter("{*}ph"):
        return attr(holder, "type") or "body"
    return None


def _shapes(tree: Any, notes: bool, part: Callable[[str | None], Any] = lambda _: None) -> tuple[str | None, list[str]]:
    """A slide's (title, paragraphs) in shape order; for notes, the notes text only. `part` reads a part
    the slide relates to (a chart, a diagram's data) by its relationship id."""
    title = None
    paragraphs: list[str] = []
    for shape in tree:
        tag = local(shape)
        if tag == "grpSp":
            _, inner = _shapes(shape, notes, part)
            paragraphs.extend(inner)
        elif tag == "graphicFrame" and not notes:
            for table in shape.iter("{*}tbl"):
                rows = _slide_table(table)
                properties = child(table, "tblPr")
                marked = properties is not None and attr(properties, "firstRow") in ("1", "true")
                paragraphs.extend(table_paragraphs(rows, said_header(marked, rows)))
            for chart in shape.iter("{*}chart"):
                if (found := part(rel_id(chart))) is not None:
                    paragraphs.extend(chart_paragraphs(found))
            for diagram in shape.iter("{*}relIds"):
                data = next((v for k, v in diagram.attrib.items() if k.endswith("}dm")), None)
                if (found := part(data)) is not None:
                    paragraphs.extend(smartart_paragraphs(found))
        elif tag == "sp":
            kind = _placeholder(shape)
            if notes and kind != "body":
                continue
            texts = [text for p in shape.iter("{*}p") if local(p) == "p" and (text := paragraph_text(p)[0])]
            if kind in ("title", "ctrTitle") and title is None and texts:
                title = " ".join(texts)
            elif kind not in ("sldNum", "dt", "ftr", "hdr"):
                paragraphs.extend(texts)
    return title, paragraphs


def _slide_table(table: Any) -> list[list[str]]:
    return [
        [" ".join(t for p in cell.iter("{*}p") if (t := paragraph_text(p)[0])) for cell in children(row, "tc")]
        for row in children(table, "tr")
    ]


def _tree(root: Any) -> Any:
    found = next(root.iter("{*}spTree"), None)
    return found if found is not None else []


def pptx(content: bytes, name: str, budget: Budget) -> tuple[str | None, list[Section]]:
    package = Archive(content, name)
    presentation = package.main_part("ppt/presentation.xml")
    targets = package.relationships(presentation)
    order = [rel_id(slide) for slide in package.xml(presentation).iter("{*}sldId")]
    sections = []
    first_title = None
    used: set[str] = set()  # the chart and diagram parts read: each once
    for number, rid in enumerate(order, start=1):
        if rid not in targets:
            continue
        slide = targets[rid][1]
        related = package.relationships(slide)

        def part(rid: str | None, related: dict[str, tuple[str, str]] = related) -> Any:
            """A chart or diagram part, the first time the deck uses it; None after, or when unreadable."""
            target = related.get(rid or "")
            if not target or target[1] in used or not package.has(target[1]):
                return None
            used.add(target[1])
            try:
                return package.xml(target[1])
            except SourceFailed:  # a chart that is no XML: the slide's other text stays
                return None

        title, paragraphs = _shapes(_tree(package.xml(slide)), False, part)
        for kind, target in related.values():
            if kind == "notesSlide" and package.has(target):
                _, notes = _shapes(_tree(package.xml(target)), notes=True)
                if notes:
                    paragraphs.append("Notes: " + "\n\n".join(notes))
        first_title = first_title or title
        budget.spend(sum(map(len, paragraphs)))
        if paragraphs or title:
            sections.append(
                Section((title or f"Slide {number}",), "\n\n".join(paragraphs or [title or ""]), page=number)
            )
    return core_title(package) or first_title, sections
