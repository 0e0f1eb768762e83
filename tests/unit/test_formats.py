"""Company documents: Word, PowerPoint, Excel, OpenDocument text, EPUB, CSV/TSV and JSON, each written by
the test itself (python-docx, python-pptx, openpyxl; zipfile for EPUB and ODT), and hostile packages."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from cdgpt.errors import SourceFailed
from cdgpt.ingest.chunking import chunk_document
from cdgpt.ingest.extract import SUPPORTED, extract
from cdgpt.ingest.sources import RawDocument
from tests.support.documents import ODT_NS, make_docx, make_epub, make_odt, make_pptx, make_xlsx, zip_bytes


def raw(content: bytes | str, name: str, content_type: str | None = None) -> RawDocument:
    body = content.encode() if isinstance(content, str) else content
    return RawDocument(source=f"docs/{name}", content=body, content_type=content_type, name=name)


def rezip(content: bytes, member: str, change) -> bytes:
    """The package with one member's text changed."""
    with zipfile.ZipFile(io.BytesIO(content)) as package:
        members = {name: package.read(name) for name in package.namelist()}
    members[member] = change(members[member].decode()).encode()
    return zip_bytes(members)


def failure(content: bytes | str, name: str, content_type: str | None = None) -> str:
    with pytest.raises(SourceFailed) as caught:
        extract(raw(content, name, content_type))
    return str(caught.value)


# --- Word ----------------------------------------------------------------------------------------


def test_given_a_docx_when_extracted_then_headings_make_paths_and_table_rows_are_records():
    doc = extract(raw(make_docx(), "handbook.docx"))
    assert doc.title == "Staff Handbook"
    assert [s.headings for s in doc.sections] == [("Contacts",), ("Travel", "Per diem")]
    contacts = doc.sections[0].text.split("\n\n")
    assert contacts == [
        "Call the people below for help.",
        "Name: Marta Quill\nRole: Helpdesk lead\nExtension: 4417",
        "Name: Olaf Brenner\nRole: Facilities\nExtension: 4499",
    ]
    assert doc.sections[1].text == "The per diem in Lisbon is 85 euros a day."


def test_given_a_docx_with_content_controls_and_tracked_changes_when_extracted_then_inserted_text_is_read():
    control = "<w:sdt><w:sdtContent><w:p><w:r><w:t>Form field: badge 7731</w:t></w:r></w:p></w:sdtContent></w:sdt>"
    changes = (
        '<w:p><w:r><w:t xml:space="preserve">Parking is </w:t></w:r>'
        '<w:ins w:id="1" w:author="HR" w:date="2025-01-01T00:00:00Z"><w:r><w:t>free</w:t></w:r></w:ins>'
        '<w:del w:id="2" w:author="HR" w:date="2025-01-01T00:00:00Z"><w:r><w:delText>paid</w:delText></w:r></w:del>'
        "<w:r><w:t>.</w:t></w:r></w:p>"
    )
    content = rezip(
        make_docx(), "word/document.xml", lambda xml: xml.replace("<w:sectPr", control + changes + "<w:sectPr", 1)
    )
    text = extract(raw(content, "handbook.docx")).sections[-1].text
    assert "Form field: badge 7731" in text
    assert "Parking is free." in text and "paid" not in text


def test_a_docx_leaves_out_its_table_of_contents_hidden_and_moved_away_text_and_placeholders():
    run = '<w:r><w:t xml:space="preserve">{}</w:t></w:r>'.format
    contents = (  # Word's contents: a "TOC Heading" paragraph (based on Heading 1), then a field in a control
        '<w:p><w:pPr><w:pStyle w:val="TOCHeading"/></w:pPr>' + run("Contents") + "</w:p>"
        '<w:sdt><w:sdtPr><w:docPartObj><w:docPartGallery w:val="Table of Contents"/></w:docPartObj></w:sdtPr>'
        "<w:sdtContent><w:p>" + run("Travel 2") + "</w:p></w:sdtContent></w:sdt>"
    )
    body = (
        "<w:p>"
        + run("Report incidents at once.")
        + "<w:r><w:rPr><w:vanish/></w:rPr><w:t>[DRAFT: check]</w:t></w:r></w:p>"
        '<w:p><w:moveFrom w:id="1" w:author="a">' + run("Accounts lock after five attempts.") + "</w:moveFrom></w:p>"
        "<w:p>"
        + run("Owner: ")
        + "<w:sdt><w:sdtPr><w:showingPlcHdr/></w:sdtPr><w:sdtContent>"
        + run("Click or tap here to enter text.")
        + "</w:sdtContent></w:sdt></w:p>"
        '<w:p><w:moveTo w:id="2" w:author="a">' + run("Accounts lock after five attempts.") + "</w:moveTo></w:p>"
    )
    content = rezip(
        make_docx(),
        "word/document.xml",
        lambda xml: xml.replace("<w:body>", "<w:body>" + contents, 1).replace("<w:sectPr", body + "<w:sectPr", 1),
    )
    doc = extract(raw(content, "handbook.docx"))
    assert [s.headings for s in doc.sections] == [("Contacts",), ("Travel", "Per diem")]
    assert doc.sections[-1].text.split("\n\n")[1:] == [
        "Report incidents at once.", "Owner:", "Accounts lock after five attempts.",
    ]  # fmt: skip


def test_footnotes_follow_the_paragraph_that_cites_them_in_word_and_opendocument(monkeypatch):
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    notes = (
        f'<?xml version="1.0" encoding="UTF-8"?><w:footnotes {w}>'
        '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
        '<w:footnote w:id="1"><w:p><w:r><w:footnoteRef/></w:r><w:r><w:t>Singapore works 8:30 to 17:00.</w:t></w:r>'
        '<w:r><w:footnoteReference w:id="1"/></w:r></w:p></w:footnote></w:footnotes>'  # a note citing itself: read once
    )
    cite = '<w:p><w:r><w:t>Hours are 9:00 to 17:30.</w:t></w:r><w:r><w:footnoteReference w:id="1"/></w:r></w:p>'
    relationship = (
        '<Relationship Id="rIdNotes" Target="footnotes.xml" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/footnotes"/></Relationships>'
    )
    content = rezip(make_docx(), "word/document.xml", lambda xml: xml.replace("<w:sectPr", cite + "<w:sectPr", 1))
    content = rezip(content, "word/_rels/document.xml.rels", lambda xml: xml.replace("</Relationships>", relationship))
    with zipfile.ZipFile(io.BytesIO(content)) as package:
        members = {name: package.read(name) for name in package.namelist()}
    word = extract(raw(zip_bytes({**members, "word/footnotes.xml": notes}), "handbook.docx"))
    assert word.sections[-1].text.split("\n\n")[-2:] == ["Hours are 9:00 to 17:30.", "Singapore works 8:30 to 17:00."]
    odt = make_odt(
        '<text:p>Hours are 9:00 to 17:30.<text:note text:note-class="footnote"><text:note-citation>1</text:note-citation>'
        "<text:note-body><text:p>Singapore works 8:30 to 17:00.</text:p></text:note-body></text:note></text:p>"
    )
    assert extract(raw(odt, "hours.odt")).text == "Hours are 9:00 to 17:30.\n\nSingapore works 8:30 to 17:00."
    # The body and its notes are trees at once: together they get one part's bound
    import cdgpt.ingest.extract.office as office

    monkeypatch.setattr(office, "MAX_XML_PART_BYTES", len(members["word/document.xml"]) + len(notes.encode()) - 1)
    with pytest.raises(SourceFailed, match="its body and notes are larger than"):
        extract(raw(zip_bytes({**members, "word/footnotes.xml": notes}), "handbook.docx"))


def _word_tables(*tables: tuple[list[tuple[str, str]], str]) -> bytes:
    """A Word file of two-column tables, each with its first row plain, bold, repeated as a header, or set
    apart by the table's style."""
    from docx import Document
    from docx.oxml import OxmlElement

    document = Document()
    for rows, first in tables:
        table = document.add_table(rows=0, cols=2, style="Light Grid Accent 1" if first == "styled" else None)
        for n, cells in enumerate(rows):
            row = table.add_row()
            for cell, text in zip(row.cells, cells, strict=True):
                cell.paragraphs[0].add_run(text).bold = n == 0 and first == "bold"
            if n == 0 and first == "repeated":
                row._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
        document.add_paragraph("Next.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_a_two_column_table_without_a_header_row_is_labels_and_values():
    control = [("Policy owner", "Security Officer"), ("Approved by", "Executive Committee"), ("Signature", "")]
    staff = [("Name", "Extension"), ("Marta Quill", "4417"), ("Olaf Brenner", "4499")]
    content = _word_tables((control, "plain"), (staff, "bold"), (staff, "repeated"), (staff, "styled"))
    # Then the plain two-column table is one record of its labels, and a marked header names the columns
    by_staff = "Name: Marta Quill\nExtension: 4417\n\nName: Olaf Brenner\nExtension: 4499"
    assert (
        extract(raw(content, "policy.docx")).text
        == "\n\nNext.\n\n".join(
            [
                "Policy owner: Security Officer\nApproved by: Executive Committee\nSignature:",
                by_staff,
                by_staff,
                by_staff,
            ]
        )
        + "\n\nNext."
    )


def test_a_header_over_two_rows_names_each_column_after_its_merged_group():
    from docx import Document

    document = Document()
    cells = [
        ["Band", "UK", "", "Overseas", ""],
        ["", "Hotel", "Meals", "Hotel", "Meals"],
        ["Band A", "£262", "£53", "£51", "£178"],
        ["Band B", "£248", "£165", "£217", "£197"],
    ]
    table = document.add_table(rows=4, cols=5)
    for r, row in enumerate(cells):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    table.cell(0, 1).merge(table.cell(0, 2))
    table.cell(0, 3).merge(table.cell(0, 4))
    table.cell(0, 0).merge(table.cell(1, 0))
    out = io.BytesIO()
    document.save(out)
    assert extract(raw(out.getvalue(), "bands.docx")).text == (
        "Band: Band A\nUK Hotel: £262\nUK Meals: £53\nOverseas Hotel: £51\nOverseas Meals: £178\n\n"
        "Band: Band B\nUK Hotel: £248\nUK Meals: £165\nOverseas Hotel: £217\nOverseas Meals: £197"
    )


def test_a_docx_header_and_footer_are_read_once_before_the_body_without_page_numbers():
    from docx import Document

    document = Document()
    document.sections[0].header.paragraphs[0].text = "Information Security Policy ISP-004 v3.2"
    document.sections[0].header.add_paragraph("01/03/2024")  # a value without a letter stays
    document.sections[0].footer.paragraphs[0].text = "Page 3 of 9"
    document.sections[0].footer.add_paragraph("第3页，共9页")
    document.add_paragraph("Passwords have 14 characters.")
    out = io.BytesIO()
    document.save(out)
    text = extract(raw(out.getvalue(), "policy.docx")).text
    assert text == "Information Security Policy ISP-004 v3.2\n\n01/03/2024\n\nPasswords have 14 characters."


def test_a_templates_default_title_gives_way_to_the_documents_own():
    # Given a core title Word wrote for a converted file, and the document's own Title paragraph
    content = rezip(
        make_docx(), "docProps/core.xml", lambda xml: xml.replace("Staff Handbook", "Microsoft Word - hb.doc")
    )
    assert extract(raw(content, "handbook.docx")).title == "Staff Handbook"


def test_a_docx_paragraph_bold_by_its_style_or_its_runs_character_style_is_a_heading_too():
    from docx import Document
    from docx.enum.style import WD_STYLE_TYPE

    document = Document()
    section_title = document.styles.add_style("Section Title", WD_STYLE_TYPE.PARAGRAPH)
    section_title.font.bold = True
    plain_title = document.styles.add_style("Plain Title", WD_STYLE_TYPE.PARAGRAPH)
    plain_title.base_style = section_title
    plain_title.font.bold = False  # based on a bold style, but set back
    document.add_paragraph("Parking", style="Section Title")
    document.add_paragraph("Staff park behind the warehouse.")
    document.add_paragraph().add_run("Visitors", style="Strong")
    document.add_paragraph("Visitors use the front car park.")
    document.add_paragraph("Bicycles", style="Plain Title")
    document.add_paragraph("Racks stand by the gate.")
    out = io.BytesIO()
    document.save(out)
    doc = extract(raw(out.getvalue(), "parking.docx"))
    assert [(s.headings, s.text) for s in doc.sections] == [
        (("Parking",), "Staff park behind the warehouse."),
        (("Visitors",), "Visitors use the front car park.\n\nBicycles\n\nRacks stand by the gate."),
    ]


def test_given_a_docx_served_as_octet_stream_without_a_name_when_extracted_then_it_is_sniffed():
    doc = extract(RawDocument("s3://b/k", make_docx(), "binary/octet-stream", "k"))
    assert doc.title == "Staff Handbook"


# --- PowerPoint ----------------------------------------------------------------------------------


def test_given_a_pptx_when_extracted_then_each_slide_is_a_section_with_its_number_and_notes():
    doc = extract(raw(make_pptx(), "review.pptx"))
    assert doc.title == "Quarterly Review"
    assert [(s.headings, s.page) for s in doc.sections] == [
        (("Quarterly Review",), 1),
        (("Warehouse moves",), 2),
        (("Headcount",), 3),
    ]
    assert doc.sections[1].text == (
        "The Tilburg warehouse closes in March.\n\n"
        "Notes: Remind everyone that the forklift licence course is on 14 May."
    )
    assert doc.sections[2].text == "Site: Tilburg\nPeople: 41\n\nSite: Gdansk\nPeople: 57"


def test_given_slides_when_chunked_then_chunks_carry_the_slide_number():
    chunks = chunk_document(extract(raw(make_pptx(), "review.pptx")), 1200, 150)
    assert [(c.headings, c.page) for c in chunks][1] == (("Warehouse moves",), 2)


def test_an_epub_2_leaves_out_the_table_of_contents_page_its_guide_names():
    contents = "<h1>Contents</h1><ul><li><a href='ch2.xhtml'>Safety</a></li></ul>"
    book = make_epub([("Contents", contents), ("Safety", "<h1>Safety</h1><p>Wear gloves.</p>")])
    book = rezip(
        book,
        "OEBPS/content.opf",
        lambda opf: opf.replace("</package>", '<guide><reference type="toc" href="text/ch1.xhtml"/></guide></package>'),
    )
    assert [(s.headings, s.text) for s in extract(raw(book, "manual.epub")).sections] == [(("Safety",), "Wear gloves.")]
    within = rezip(
        book,
        "OEBPS/content.opf",
        lambda opf: opf.replace('href="text/ch1.xhtml"/></guide>', 'href="text/ch2.xhtml#toc"/></guide>'),
    )
    assert [s.text for s in extract(raw(within, "manual.epub")).sections][
        -1
    ] == "Wear gloves."  # a chapter holding it stays


def test_a_slides_chart_gives_its_title_and_series_and_smartart_its_nodes():
    from lxml import etree
    from pptx import Presentation
    from pptx.chart.data import CategoryChartData
    from pptx.enum.chart import XL_CHART_TYPE
    from pptx.util import Inches

    from cdgpt.ingest.extract.diagrams import smartart_paragraphs

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Revenue"
    data = CategoryChartData()
    data.categories = ["Q1", "Q2"]
    data.add_series("Europe", (120, 135))
    chart = slide.shapes.add_chart(XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(1), Inches(1), Inches(6), Inches(4), data)
    chart.chart.has_title = True
    chart.chart.chart_title.text_frame.text = "Revenue by quarter"
    out = io.BytesIO()
    deck.save(out)
    [section] = extract(raw(out.getvalue(), "deck.pptx")).sections
    assert (section.headings, section.text) == (("Revenue",), "Chart: Revenue by quarter\n\nEurope: Q1 120, Q2 135")
    diagram = etree.fromstring(
        '<dgm:dataModel xmlns:dgm="http://schemas.openxmlformats.org/drawingml/2006/diagram" '
        'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><dgm:ptLst>'
        '<dgm:pt modelId="0" type="doc"><dgm:t><a:p><a:r><a:t>ignored</a:t></a:r></a:p></dgm:t></dgm:pt>'
        '<dgm:pt modelId="1"><dgm:t><a:p><a:r><a:t>Plan</a:t></a:r></a:p></dgm:t></dgm:pt>'
        '<dgm:pt modelId="2" type="parTrans"/><dgm:pt modelId="3" type="asst"><dgm:t><a:p><a:r><a:t>Bu</a:t></a:r>'
        "<a:r><a:t>ild</a:t></a:r></a:p></dgm:t>"
        "</dgm:pt></dgm:ptLst></dgm:dataModel>"
    )
    assert smartart_paragraphs(diagram) == ["Plan", "Build"]


# --- Excel ---------------------------------------------------------------------------------------


def test_given_an_xlsx_when_extracted_then_each_sheet_is_a_section_and_rows_are_records():
    doc = extract(raw(make_xlsx(), "finance.xlsx"))
    assert doc.title == "Finance workbook"
    budget, holidays = doc.sections
    assert (budget.headings, budget.page, holidays.headings, holidays.page) == (("Budget",), 1, ("Holidays",), 2)
    assert budget.text.split("\n\n") == [
        "Operating budget 2025",
        "Item: Travel\nOwner: Ines Duarte\nAmount: 12500",
        "Item: Training\nOwner: Marek Nowak\nAmount: 8300.5",
    ]
    assert holidays.text == "Holiday: Founders day\nDate: 2025-06-12"


def test_a_sheets_header_spans_its_table_and_may_name_years():
    from openpyxl import Workbook

    book = Workbook()
    for row in [
        ("Revenue", None, "by year"),
        ("Region", 2023, 2024, "Note"),
        ("EMEA", 1200, 1350, "up"),
        ("APAC", 800, 950),
    ]:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    # Then the two-cell title row stays text, and the years name their columns
    assert extract(raw(out.getvalue(), "revenue.xlsx")).text.split("\n\n") == [
        "Revenue | by year",
        "Region: EMEA\n2023: 1200\n2024: 1350\nNote: up",
        "Region: APAC\n2023: 800\n2024: 950",
    ]


def test_a_sheet_declaring_a_single_cell_is_read_whole():
    # Given the workbook's sheets declared "A1" (as WPS Office writes), which read-only openpyxl trusts
    content = rezip(
        make_xlsx(),
        "xl/worksheets/sheet1.xml",
        lambda xml: re.sub(r'<dimension ref="[^"]*"', '<dimension ref="A1"', xml),
    )
    budget = extract(raw(content, "finance.xlsx")).sections[0]
    assert budget.text.split("\n\n")[-1] == "Item: Training\nOwner: Marek Nowak\nAmount: 8300.5"


def test_given_a_sheet_with_a_cell_at_the_last_row_when_extracted_then_it_fails_on_the_row_limit_quickly():
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "Data"
    book.active["A1"] = "start"
    book.active.cell(row=1_048_576, column=1, value="end")
    out = io.BytesIO()
    book.save(out)
    assert failure(out.getvalue(), "huge.xlsx") == "huge.xlsx: sheet 'Data' has more than 100000 rows"


def test_given_a_sheet_wider_than_the_column_limit_when_extracted_then_it_fails_with_the_reason():
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(list(range(600)))
    out = io.BytesIO()
    book.save(out)
    assert "has more than 500 columns" in failure(out.getvalue(), "wide.xlsx")


def test_given_sheets_past_the_cell_limit_when_extracted_then_it_fails(monkeypatch):
    from openpyxl import Workbook

    import cdgpt.ingest.extract.sheets as sheets

    monkeypatch.setattr(sheets, "MAX_TABLE_CELLS", 10)
    book = Workbook()
    for _ in range(4):
        book.active.append(["a", "b", "c"])
    out = io.BytesIO()
    book.save(out)
    assert "past 10 cells" in failure(out.getvalue(), "cells.xlsx")


def test_a_workbooks_styles_past_their_limit_are_refused_before_openpyxl_reads_them(monkeypatch):
    import cdgpt.ingest.extract.sheets as sheets

    monkeypatch.setattr(sheets, "MAX_STYLES_BYTES", sheets.MB)  # openpyxl would make gigabytes of objects of 64 MB
    content = rezip(make_xlsx(), "xl/styles.xml", lambda xml: xml + " " * sheets.MB)
    assert failure(content, "styles.xlsx") == "styles.xlsx: its styles (xl/styles.xml) are larger than 1 MB"


def test_given_a_damaged_workbook_when_extracted_then_it_fails_as_unreadable():
    content = rezip(make_xlsx(), "xl/workbook.xml", lambda xml: xml[: len(xml) // 2])
    assert failure(content, "broken.xlsx") == "broken.xlsx is not a readable Excel workbook"


# --- OpenDocument and EPUB -----------------------------------------------------------------------


def test_given_an_odt_when_extracted_then_outline_levels_make_paths_and_tables_are_records():
    body = (
        '<text:h text:outline-level="1">Printers</text:h>'
        "<text:p>Use the <text:span>third</text:span><text:s/>floor printer.</text:p>"
        '<text:h text:outline-level="2">Rooms</text:h>'
        "<text:list><text:list-item><text:p>Room 3.14 has toner.</text:p></text:list-item></text:list>"
        "<table:table><table:table-row><table:table-cell><text:p>Room</text:p></table:table-cell>"
        "<table:table-cell><text:p>Printer</text:p></table:table-cell></table:table-row>"
        "<table:table-row><table:table-cell><text:p>2.01</text:p></table:table-cell>"
        "<table:table-cell><text:p>HP 4</text:p></table:table-cell>"
        '<table:table-cell table:number-columns-repeated="16000"/></table:table-row></table:table>'
        "<text:table-of-content><text:p>TOC_NOISE</text:p></text:table-of-content>"
    )
    doc = extract(raw(make_odt(body), "guide.odt"))
    assert doc.title == "Office guide"
    assert [(s.headings, s.text) for s in doc.sections] == [
        (("Printers",), "Use the third floor printer."),
        (("Printers", "Rooms"), "Room 3.14 has toner.\n\nRoom: 2.01\nPrinter: HP 4"),
    ]


def repeated_table(text: str, columns: int, rows: int, row_elements: int = 1) -> str:
    """A table of a few hundred bytes whose repeats spell out columns × rows × row_elements cells of text."""
    cell = f'<table:table-cell table:number-columns-repeated="{columns}"><text:p>{text}</text:p></table:table-cell>'
    row = f'<table:table-row table:number-rows-repeated="{rows}">{cell}</table:table-row>'
    return f"<table:table>{row * row_elements}</table:table>"


@pytest.mark.parametrize("kind", ["docx", "odt"])
def test_a_document_of_exactly_its_character_budget_passes(kind):
    """Counted as read, each character once: a table's records as written, not its cells and records both."""
    from cdgpt.ingest.extract import Budget, Limits

    table = "".join(
        f"<table:table-row>{''.join(f'<table:table-cell><text:p>{c}</text:p></table:table-cell>' for c in row)}"
        "</table:table-row>"
        for row in (["Room", "Seats"], ["2.01", "12"], ["2.02", "8"])
    )
    content = make_docx() if kind == "docx" else make_odt(f"<text:p>Rooms.</text:p><table:table>{table}</table:table>")
    document = extract(raw(content, f"rooms.{kind}"))
    headings = {heading for section in document.sections for heading in section.headings}
    whole = sum(len(section.text) for section in document.sections) + sum(map(len, headings)) + len(document.title)
    extract(raw(content, f"rooms.{kind}"), Budget(Limits(chars=whole)))
    with pytest.raises(SourceFailed, match="characters of text"):
        extract(raw(content, f"rooms.{kind}"), Budget(Limits(chars=whole // 2)))


def test_an_odts_repeated_cells_are_counted_as_they_are_spelt_out_not_after():
    from cdgpt.ingest.extract import Budget, Limits

    body = repeated_table("x" * 2000, 500, 500)  # 500 million characters from under 3 KB
    with pytest.raises(SourceFailed, match="more than 100000 characters"):
        extract(raw(make_odt(body), "amplified.odt"), Budget(Limits(chars=100_000)))
    assert failure(make_odt(repeated_table("x", 500, 500, 9)), "cells.odt") == "a table of more than 2000000 cells"


def test_an_odt_paragraph_in_a_bold_style_or_bold_spans_is_a_heading():
    styles = (
        '<style:style style:name="P1" style:family="paragraph"><style:text-properties fo:font-weight="bold"/>'
        '</style:style><style:style style:name="T1" style:family="text" style:parent-style-name="P1"/>'
        '<style:style style:name="T2" style:family="text" style:parent-style-name="P1">'
        '<style:text-properties fo:font-weight="normal"/></style:style>'
    )
    body = (
        '<text:h text:outline-level="1">Printers</text:h>'
        '<text:p text:style-name="P1">Third floor</text:p><text:p>Use the printer by the lift.</text:p>'
        '<text:p><text:span text:style-name="T1">Toner</text:span><text:s/></text:p><text:p>Ask facilities.</text:p>'
        '<text:p><text:span text:style-name="T1">Note: </text:span>jams go to IT.</text:p>'
        '<text:p><text:span text:style-name="T2">Paper</text:span></text:p>'  # its own style sets it back
    )
    doc = extract(raw(make_odt(body, styles=styles), "printers.odt"))
    assert [(s.headings, s.text) for s in doc.sections] == [
        (("Printers", "Third floor"), "Use the printer by the lift."),
        (("Printers", "Toner"), "Ask facilities.\n\nNote: jams go to IT.\n\nPaper"),
    ]


def test_an_odts_master_page_header_and_footer_are_read_once_before_the_body():
    styles = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-styles {ODT_NS}><office:master-styles>'
        '<style:master-page style:name="Standard"><style:header><text:p>Policy HR-001 rev. 7</text:p></style:header>'
        "<style:footer><text:p>Page <text:page-number>2</text:page-number></text:p></style:footer></style:master-page>"
        "</office:master-styles></office:document-styles>"
    )
    with zipfile.ZipFile(io.BytesIO(make_odt("<text:p>Work starts at nine.</text:p>"))) as package:
        members = {name: package.read(name) for name in package.namelist()}
    odt = zip_bytes({**members, "styles.xml": styles}, stored_first="mimetype")
    assert extract(raw(odt, "hours.odt")).text == "Policy HR-001 rev. 7\n\nWork starts at nine."


def test_an_odt_two_column_table_is_labels_and_values_unless_it_marks_header_rows():
    cell = "<table:table-cell><text:p>{}</text:p></table:table-cell>".format
    rows = "".join(
        f"<table:table-row>{cell(a)}{cell(b)}</table:table-row>" for a, b in [("Room", "Printer"), ("2.01", "HP 4")]
    )
    plain = f"<table:table>{rows}</table:table>"
    marked = plain.replace("<table:table-row>", "<table:table-header-rows><table:table-row>", 1).replace(
        "</table:table-row>", "</table:table-row></table:table-header-rows>", 1
    )
    assert extract(raw(make_odt(plain), "a.odt")).text == "Room: Printer\n2.01: HP 4"
    assert extract(raw(make_odt(marked), "b.odt")).text == "Room: 2.01\nPrinter: HP 4"


def test_given_an_epub_when_extracted_then_chapters_are_sections_in_reading_order():
    book = make_epub(
        [
            ("Knots", "<h1>Knots</h1><p>The bowline keeps its loop.</p><h2>Hitches</h2><p>A clove hitch grips.</p>"),
            ("Ropes & care", "<p>Nylon stretches under load.</p>"),
        ]
    )
    doc = extract(raw(book, "manual.epub"))
    assert doc.title == "Field Manual"
    assert [(s.headings, s.text) for s in doc.sections] == [
        (("Knots",), "The bowline keeps its loop."),
        (("Knots", "Hitches"), "A clove hitch grips."),
        (("Ropes & care",), "Nylon stretches under load."),
    ]


def test_an_epub_chapter_larger_than_a_web_page_may_be_is_refused_before_it_is_parsed(monkeypatch):
    import cdgpt.ingest.extract.epub as epub

    monkeypatch.setattr(epub, "MAX_CHAPTER_BYTES", epub.MB)
    book = make_epub([("Short", "<p>A few words.</p>"), ("Long", "<p>" + "word " * 220_000 + "</p>")])
    assert failure(book, "field.epub") == "field.epub: chapter OEBPS/text/ch2.xhtml is larger than 1 MB"


def test_given_a_drm_protected_epub_when_extracted_then_it_is_refused():
    encryption = (
        '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#">'
        '<enc:EncryptedData><enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>'
        "</enc:EncryptedData></encryption>"
    )
    book = make_epub([("One", "<p>Secret.</p>")], extra={"META-INF/encryption.xml": encryption})
    assert failure(book, "locked.epub") == "locked.epub is DRM-protected (encrypted)"


# --- Records: CSV, TSV, JSON, JSON lines -----------------------------------------------------------


def test_given_a_csv_when_extracted_then_each_row_is_a_record_with_its_headers():
    doc = extract(raw("name,extension\nMarta Quill,4417\nOlaf Brenner,4499\n", "phones.csv"))
    assert doc.text == "name: Marta Quill\nextension: 4417\n\nname: Olaf Brenner\nextension: 4499"


def test_given_a_semicolon_csv_with_quotes_and_blanks_when_extracted_then_the_delimiter_is_sniffed():
    text = 'city;office;note\nLyon;"Rue 3; floor 2";\n;;\nOslo;Kai 9;"new, bigger"\n'
    doc = extract(raw(text, "offices.csv", "text/csv; charset=utf-8"))
    assert doc.text.split("\n\n") == [
        "city: Lyon\noffice: Rue 3; floor 2",
        "city: Oslo\noffice: Kai 9\nnote: new, bigger",
    ]


def test_given_a_tsv_and_a_one_column_csv_when_extracted_then_they_read_as_expected():
    assert extract(raw("a\tb\n1\t2\n", "t.tsv")).text == "a: 1\nb: 2"
    assert extract(raw("word\napple\npear\n", "w.csv")).text == "word\n\napple\n\npear"


def test_given_a_csv_past_the_row_limit_when_extracted_then_it_fails(monkeypatch):
    import cdgpt.ingest.extract.records as records

    monkeypatch.setattr(records, "MAX_TABLE_ROWS", 3)
    assert failure("a,b\n" + "1,2\n" * 5, "big.csv") == "big.csv has more than 3 rows"


def test_given_a_json_list_of_objects_when_extracted_then_each_object_is_a_record_with_dotted_keys():
    text = '[{"name": "Marta", "desk": {"floor": 3, "room": "3.14"}, "skills": ["vpn", "printers"], "remote": true}]'
    assert extract(raw(text, "staff.json")).text == (
        "name: Marta\ndesk.floor: 3\ndesk.room: 3.14\nskills: vpn, printers\nremote: true"
    )


def test_given_a_json_object_with_collections_when_extracted_then_each_collection_is_a_section():
    text = '{"company": "Acme", "offices": [{"city": "Lyon"}, {"city": "Oslo"}], "tags": ["a"]}'
    doc = extract(raw(text, "acme.json", "application/json"))
    assert [(s.headings, s.text) for s in doc.sections] == [
        ((), "company: Acme\ntags: a"),
        (("offices",), "city: Lyon\n\ncity: Oslo"),
    ]


def test_given_json_lines_when_extracted_then_each_line_is_a_record_and_a_bad_line_is_named():
    assert extract(raw('{"a": 1}\n\n{"a": 2}\n', "log.jsonl")).text == "a: 1\n\na: 2"
    assert failure('{"a": 1}\n{oops\n', "log.jsonl") == "log.jsonl: line 2 is not valid JSON"


def test_given_deeply_nested_json_when_extracted_then_it_fails_or_keeps_the_depth_bounded():
    deep = "[" * 100_000 + "]" * 100_000
    assert failure(deep, "deep.json") == "deep.json is nested too deeply"
    nested = '{"a": ' * 30 + "1" + "}" * 30
    # 21 levels become a dotted key; the 9 below it stay compact JSON
    assert extract(raw(nested, "n.json")).text == "a" + ".a" * 20 + ": " + '{"a":' * 9 + "1" + "}" * 9


# --- Refusals name the document and the supported formats ------------------------------------------


@pytest.mark.parametrize(
    ("content", "name", "content_type", "why"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "old.doc", None, "a Word, Excel or PowerPoint 97-2003 file"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "logo.png", None, "binary data, not text"),
        (b"GIF89a", "x.key", "application/x-iwork-keynote-sffkey", "unsupported content type application/x-iwork"),
        (zip_bytes({"a.txt": "hello"}), "files.docx", None, "not a readable DOCX file"),
    ],
)
def test_given_an_unsupported_document_when_extracted_then_the_reason_names_it_and_the_formats(
    content, name, content_type, why
):
    reason = failure(content, name, content_type)
    assert reason.startswith(f"{name}: ") and why in reason
    assert reason.endswith(f"supported formats: {SUPPORTED}")
    assert "Word (.docx)" in SUPPORTED and "EPUB" in SUPPORTED


# --- Hostile packages ----------------------------------------------------------------------------


def test_given_a_zip_bomb_docx_when_extracted_then_the_compression_ratio_refuses_it():
    bomb = rezip(make_docx(), "word/document.xml", lambda xml: xml + " " * (40 * 1024 * 1024))
    assert len(bomb) < 1024 * 1024
    assert failure(bomb, "bomb.docx") == "bomb.docx is compressed more than 100 to 1 (a zip bomb?)"


def test_given_a_package_larger_than_the_unpacked_limit_when_extracted_then_it_is_refused(monkeypatch):
    import cdgpt.ingest.extract.archive as archive

    monkeypatch.setattr(archive, "MAX_ARCHIVE_BYTES", 1000)
    assert failure(make_pptx(), "deck.pptx") == "deck.pptx unpacks to more than 0 MB"


def test_given_a_package_with_too_many_members_when_extracted_then_it_is_refused():
    with zipfile.ZipFile(io.BytesIO(make_docx())) as package:
        members = {name: package.read(name) for name in package.namelist()}
    members |= {f"word/media/pad{i}.bin": b"" for i in range(10_001)}
    assert failure(zip_bytes(members), "many.docx") == "many.docx holds more than 10000 files"


def test_given_deeply_nested_xml_in_a_docx_when_extracted_then_it_fails_with_the_depth():
    deep = "<w:customXml>" * 300 + "</w:customXml>" * 300
    content = rezip(make_docx(), "word/document.xml", lambda xml: xml.replace("<w:sectPr", deep + "<w:sectPr", 1))
    assert failure(content, "deep.docx") == "deep.docx (word/document.xml) is nested more than 256 levels deep"


def test_given_an_entity_bomb_in_a_pptx_when_extracted_then_it_fails_without_expanding():
    entities = '<!DOCTYPE p [<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
    )
    bomb = lambda xml: xml.replace("?>", "?>" + entities + "]>", 1).replace("Quarterly Review", "&i;", 1)  # noqa: E731
    reason = failure(rezip(make_pptx(), "ppt/slides/slide1.xml", bomb), "bomb.pptx")
    assert reason == "bomb.pptx (ppt/slides/slide1.xml) declares entities that expand too much"


def test_an_entity_left_unexpanded_keeps_the_text_after_it_and_reads_no_file():
    declared = '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    change = lambda xml: xml.replace("?>", "?>" + declared, 1).replace(  # noqa: E731
        "Call the people below for help.", "Call &x; the people below for help.", 1
    )
    text = extract(raw(rezip(make_docx(), "word/document.xml", change), "entity.docx")).text
    assert "Call the people below for help." in text and "root:" not in text


def test_given_a_damaged_zip_when_extracted_then_it_is_named_as_damaged():
    content = make_docx()
    reason = failure(content[: len(content) // 2], "cut.docx")
    assert reason.startswith("cut.docx: not a readable DOCX file")


def test_given_an_xml_part_past_the_part_limit_when_extracted_then_it_is_refused_before_unpacking(monkeypatch):
    import cdgpt.ingest.extract.archive as archive

    monkeypatch.setattr(archive, "MAX_XML_PART_BYTES", 20_000)  # the theme part is about 10 KB
    big = rezip(make_xlsx(), "xl/worksheets/sheet2.xml", lambda xml: xml + " " * 25_000)
    assert failure(big, "sheets.xlsx") == "sheets.xlsx: xl/worksheets/sheet2.xml is larger than 0 MB"


def test_given_a_custom_style_based_on_a_heading_when_extracted_then_it_is_a_heading_of_that_level():
    from docx import Document
    from docx.enum.style import WD_STYLE_TYPE

    document = Document()
    custom = document.styles.add_style("Policy Heading", WD_STYLE_TYPE.PARAGRAPH)
    custom.base_style = document.styles["Heading 2"]
    document.add_heading("Benefits", level=1)
    document.add_paragraph("Dental cover", style="Policy Heading")
    document.add_paragraph("Two checkups a year are covered.")
    out = io.BytesIO()
    document.save(out)
    doc = extract(raw(out.getvalue(), "benefits.docx"))
    assert doc.title == "Benefits"  # no document title: the first top-level heading
    assert [(s.headings, s.text) for s in doc.sections] == [
        (("Benefits", "Dental cover"), "Two checkups a year are covered.")
    ]


def test_a_docx_paragraphs_bold_first_line_over_a_line_break_heads_the_rest_of_it():
    from docx import Document

    document = Document()
    document.add_heading("Leave FAQ", level=1)
    same_run = document.add_paragraph()
    question = same_run.add_run("Can I carry leave over?")
    question.bold = True
    question.add_break()  # Shift+Enter, in the question's own run
    same_run.add_run("Yes, up to five days.")
    own_run = document.add_paragraph()
    own_run.add_run("Who approves it?").bold = True
    own_run.add_run().add_break()  # in a run of its own
    own_run.add_run("Your manager does.")
    for lead, rest in (("All requests need approval.", "Ask early."), ("Plain first line", "and more.")):
        paragraph = document.add_paragraph()
        first = paragraph.add_run(lead)
        first.bold = lead.startswith("All")  # a sentence in bold, and a plain line: no headings
        first.add_break()
        paragraph.add_run(rest)
    out = io.BytesIO()
    document.save(out)
    doc = extract(raw(out.getvalue(), "faq.docx"))
    assert [(s.headings, s.text) for s in doc.sections] == [
        (("Leave FAQ", "Can I carry leave over?"), "Yes, up to five days."),
        (
            ("Leave FAQ", "Who approves it?"),
            "Your manager does.\n\nAll requests need approval. Ask early.\n\nPlain first line and more.",
        ),
    ]


def test_a_docx_paragraph_typed_in_bold_heads_what_follows_unless_it_heads_nothing_or_ends_a_sentence():
    from docx import Document

    document = Document()
    for cover in ("ACME CORPORATION", "Employee Handbook"):  # bold lines one after another: text
        document.add_paragraph().add_run(cover).bold = True
    document.add_heading("Leave", level=1)
    document.add_paragraph().add_run("2. Eligibility").bold = True
    document.add_paragraph("Staff may take leave after three months.")
    document.add_paragraph().add_run("2.1 Part-time staff").bold = True  # numbered: under "2. Eligibility"
    document.add_paragraph("Part-time staff accrue leave pro rata.")
    note = document.add_paragraph()
    note.add_run("Note: ").bold = True
    note.add_run("ask your manager first.")
    document.add_paragraph().add_run("All requests need approval.").bold = True  # a sentence, not a heading
    document.add_paragraph().add_run("How to apply").bold = True  # no number: under the numbered ones
    document.add_paragraph("Fill in the form.")
    out = io.BytesIO()
    document.save(out)
    doc = extract(raw(out.getvalue(), "leave.docx"))
    assert [(s.headings, s.text) for s in doc.sections] == [
        ((), "ACME CORPORATION\n\nEmployee Handbook"),
        (("Leave", "2. Eligibility"), "Staff may take leave after three months."),
        (
            ("Leave", "2. Eligibility", "2.1 Part-time staff"),
            "Part-time staff accrue leave pro rata.\n\nNote: ask your manager first.\n\nAll requests need approval.",
        ),
        (("Leave", "2. Eligibility", "2.1 Part-time staff", "How to apply"), "Fill in the form."),
    ]
