"""Real Office, OpenDocument and EPUB files, written by each test: python-docx, python-pptx and openpyxl
for Office; zipfile for EPUB and ODT (simple zips of XML). Nothing binary is committed."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from xml.sax.saxutils import escape


def make_docx(title: str = "Staff Handbook") -> bytes:
    """A handbook: title, headings, paragraphs and a staff table with a header row."""
    from docx import Document

    document = Document()
    document.core_properties.title = title
    document.add_heading(title, level=0)
    document.add_heading("Contacts", level=1)
    document.add_paragraph("Call the people below for help.")
    table = document.add_table(rows=1, cols=3)
    for cell, text in zip(table.rows[0].cells, ["Name", "Role", "Extension"], strict=True):
        cell.text = text
    for row in [("Marta Quill", "Helpdesk lead", "4417"), ("Olaf Brenner", "Facilities", "4499")]:
        for cell, text in zip(table.add_row().cells, row, strict=True):
            cell.text = text
    document.add_heading("Travel", level=1)
    document.add_heading("Per diem", level=2)
    document.add_paragraph("The per diem in Lisbon is 85 euros a day.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_pptx() -> bytes:
    """Three slides: a title slide, one with a body and speaker notes, one with a table."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[0])
    first.shapes.title.text = "Quarterly Review"
    first.placeholders[1].text = "Operations, third quarter"
    second = deck.slides.add_slide(deck.slide_layouts[1])
    second.shapes.title.text = "Warehouse moves"
    second.placeholders[1].text = "The Tilburg warehouse closes in March."
    second.notes_slide.notes_text_frame.text = "Remind everyone that the forklift licence course is on 14 May."
    third = deck.slides.add_slide(deck.slide_layouts[5])
    third.shapes.title.text = "Headcount"
    grid = third.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for r, row in enumerate([("Site", "People"), ("Tilburg", "41"), ("Gdansk", "57")]):
        for c, text in enumerate(row):
            grid.cell(r, c).text = text
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def make_xlsx() -> bytes:
    """Two sheets: a budget with a title row above its header, and a holiday list with dates."""
    from openpyxl import Workbook

    book = Workbook()
    budget = book.active
    budget.title = "Budget"
    budget.append(["Operating budget 2025"])
    budget.append([])
    budget.append(["Item", "Owner", "Amount"])
    budget.append(["Travel", "Ines Duarte", 12500])
    budget.append(["Training", "Marek Nowak", 8300.5])
    holidays = book.create_sheet("Holidays")
    holidays.append(["Holiday", "Date"])
    holidays.append(["Founders day", date(2025, 6, 12)])
    book.properties.title = "Finance workbook"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def zip_bytes(members: dict[str, bytes | str], stored_first: str | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        if stored_first:
            package.writestr(stored_first, members[stored_first], compress_type=zipfile.ZIP_STORED)
        for name, data in members.items():
            if name != stored_first:
                package.writestr(name, data)
    return out.getvalue()


ODT_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" office:version="1.3"'
)


def make_odt(body: str, title: str = "Office guide", styles: str = "") -> bytes:
    """An OpenDocument text whose office:text holds `body` (ODF XML), with `styles` as its automatic styles."""
    content = f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODT_NS}><office:automatic-styles>{styles}</office:automatic-styles><office:body><office:text>{body}</office:text></office:body></office:document-content>'
    meta = f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta {ODT_NS}><office:meta><dc:title>{escape(title)}</dc:title></office:meta></office:document-meta>'
    manifest = '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>'
    return zip_bytes(
        {
            "mimetype": "application/vnd.oasis.opendocument.text",
            "content.xml": content,
            "meta.xml": meta,
            "META-INF/manifest.xml": manifest,
        },
        stored_first="mimetype",
    )


def make_epub(chapters: list[tuple[str, str]], title: str = "Field Manual", extra: dict | None = None) -> bytes:
    """An EPUB 3 book with a nav document; each chapter is (toc title, XHTML body)."""
    items, refs, links, files = [], [], [], {}
    for n, (toc, body) in enumerate(chapters, start=1):
        files[f"OEBPS/text/ch{n}.xhtml"] = (
            '<?xml version="1.0" encoding="utf-8"?><!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml">'
            f"<head><title>{escape(toc)}</title></head><body>{body}</body></html>"
        )
        items.append(f'<item id="ch{n}" href="text/ch{n}.xhtml" media-type="application/xhtml+xml"/>')
        refs.append(f'<itemref idref="ch{n}"/>')
        links.append(f'<li><a href="text/ch{n}.xhtml">{escape(toc)}</a></li>')
    nav = (
        '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml" '
        'xmlns:epub="http://www.idpf.org/2007/ops"><body><nav epub:type="toc"><ol>'
        + "".join(links)
        + "</ol></nav></body></html>"
    )
    opf = (
        '<?xml version="1.0" encoding="utf-8"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" '
        'unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<dc:identifier id="id">urn:test</dc:identifier><dc:title>{escape(title)}</dc:title></metadata>'
        '<manifest><item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
        + "".join(items)
        + '</manifest><spine><itemref idref="nav"/>'
        + "".join(refs)
        + "</spine></package>"
    )
    container = (
        '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
        '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
        "</rootfiles></container>"
    )
    members = {"mimetype": "application/epub+zip", "META-INF/container.xml": container, "OEBPS/content.opf": opf}
    members |= {"OEBPS/nav.xhtml": nav, **files, **(extra or {})}
    return zip_bytes(members, stored_first="mimetype")
