"""Extraction under hostile input: linear work, bounded nesting, document budgets, refused charsets, binary pages."""

from __future__ import annotations

import random
import sys

import pytest

from cdgpt.errors import SourceFailed
from cdgpt.ingest.chunking import chunk_document
from cdgpt.ingest.extract import Budget, Limits, decode, extract
from cdgpt.ingest.sources import RawDocument
from tests.support.pdf import deep_page_tree_pdf, make_pages_pdf, text_stream


def raw(content: bytes | str, content_type: str | None = None, name: str = "/doc") -> RawDocument:
    body = content.encode("utf-8") if isinstance(content, str) else content
    return RawDocument(source="src", content=body, content_type=content_type, name=name)


def traced_steps(fn) -> int:
    """How many Python calls and lines `fn` runs: a count of work that does not depend on the machine."""
    steps = 0

    def tracer(frame, event, arg):
        nonlocal steps
        steps += 1
        return tracer

    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(None)
    return steps


def table_page(rows: int) -> str:
    body = "".join(f"<tr><td>r{i}</td><td>{i * 3}</td><td>cell text</td></tr>" for i in range(rows))
    return f"<html><body><h1>Prices</h1><table>{body}</table></body></html>"


def nested_sidebars(depth: int) -> str:
    return "<html><body><p>" + "Main text. " * 200 + "</p>" + '<div class="sidebar">x ' * depth + "</div>" * depth


# --- HTML: linear work, bounded nesting ----------------------------------------------------------


@pytest.mark.parametrize("page", [table_page, nested_sidebars])
def test_html_extraction_work_grows_linearly_with_the_page(page):
    # Given a page and one four times its size (a table, or nested chrome whose text each rule measures)
    small, large = page(400), page(1600)
    # When both are extracted, counting the Python steps taken
    work_small = traced_steps(lambda: extract(raw(small, "text/html")))
    work_large = traced_steps(lambda: extract(raw(large, "text/html")))
    # Then four times the input costs at most ~four times the work (a quadratic walk would cost 16x)
    assert work_large <= 4.5 * work_small


def simple_table(size: int) -> str:
    """A reStructuredText border of `size` columns over `size` one-cell rows."""
    return "= " * size + "\n" + "x\n" * size


def test_restructured_text_tables_cost_their_rows_not_their_border_per_row():
    from cdgpt.ingest.extract.rst import restructured_text

    # Given a wide simple table and one four times as wide and long
    work_small = traced_steps(lambda: restructured_text(simple_table(500)))
    work_large = traced_steps(lambda: restructured_text(simple_table(2000)))
    # Then four times the input costs at most ~four times the work (a row read column by column: 16x)
    assert work_large <= 4.5 * work_small


def test_a_20000_row_table_is_extracted_whole_with_its_cells_separated():
    doc = extract(raw(table_page(20000), "text/html"))
    rows = doc.sections[0].text.split("\n\n")
    assert doc.title == "Prices" and len(rows) == 20000
    assert rows[0] == "r0 | 0 | cell text" and rows[-1] == "r19999 | 59997 | cell text"


def test_nesting_deeper_than_the_cap_is_flattened_to_its_text():
    # Given 1,000 nested divs (past the 512-element cap of the walk, within what the parser builds)
    html = "<html><body>" + "<div>level " * 1000 + "deepest words" + "</div>" * 1000 + "<p>After.</p></body></html>"
    # When extracted, then the deep text is kept, flattened, and what follows is still there
    text = extract(raw(html, "text/html")).text
    assert "deepest words" in text and text.endswith("After.")
    assert text.count("level") == 1000


def test_nesting_past_what_the_parser_builds_fails_with_a_clear_reason():
    html = "<html><body>" + "<div>" * 100_000 + "deep" + "</div>" * 100_000 + "</body></html>"
    with pytest.raises(SourceFailed, match="nested too deeply"):
        extract(raw(html, "text/html"))


def test_a_content_wrapper_is_kept_whole_when_chrome_nests_inside_it():
    # Given a sidebar-named wrapper holding the page, and a real sidebar (of links) nested inside it
    html = (
        '<html><body><div class="with-sidebar"><p>' + "Leave is twenty days. " * 30 + "</p>"
        '<div class="sidebar"><a href="/">MENU</a></div></div></body></html>'
    )
    text = extract(raw(html, "text/html")).text
    assert "Leave is twenty days." in text and "MENU" not in text


# --- binary input named as HTML ------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_random_bytes_named_html_are_refused_as_binary(seed):
    junk = random.Random(seed).randbytes(200_000)
    with pytest.raises(SourceFailed, match="binary"):
        extract(raw(junk, None, "/page.html"))
    with pytest.raises(SourceFailed, match="binary"):
        extract(raw(junk, "text/html; charset=iso-8859-1", "/page"))


# --- declared charsets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "charset", ["unicode_escape", "raw_unicode_escape", "punycode", "idna", "rot13", "base64", "hex", "utf-7"]
)
def test_a_declared_charset_that_is_not_a_text_encoding_is_ignored(charset):
    # Given a page declaring a codec that transforms or unescapes rather than decodes
    body = b"Caf\\xe9 +AGEAYgBj- \\ud800 Uryyb"
    # When extracted, then the bytes are read as UTF-8, never through that codec
    doc = extract(raw(body, f"text/plain; charset={charset}", "/t.txt"))
    assert doc.text == body.decode()


def test_a_page_whose_declared_charset_makes_a_lone_surrogate_extracts_as_clean_text():
    # Given the page from the issue: text/plain; charset=unicode_escape, whose escape decodes to a lone surrogate
    doc = extract(raw(b"Temperature \\ud800 readings.", "text/plain; charset=unicode_escape", "/t"))
    # Then the text is encodable (chunk hashing encodes it) and holds no surrogate
    doc.text.encode("utf-8")
    assert "readings." in doc.text


def test_a_lone_surrogate_from_a_pdf_font_map_becomes_a_replacement_character():
    # Given a PDF whose font maps "A" to the lone surrogate U+D800 (pypdf decodes maps with surrogatepass)
    cmap = (
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /T def\n"
        b"1 begincodespacerange <00> <FF> endcodespacerange\n1 beginbfchar <41> <D800> endbfchar\n"
        b"endcmap CMapName currentdict /CMap defineresource pop end end"
    )
    pdf = make_pages_pdf([text_stream(["ABC is here."])], [0], to_unicode=cmap)
    doc = extract(raw(pdf, "application/pdf", "/s.pdf"))
    assert doc.text == "\ufffdBC is here."
    doc.text.encode("utf-8")


def test_decode_prefers_a_byte_order_mark_to_a_declared_charset():
    assert decode("\ufeffnaïve".encode(), "latin-1") == "naïve"


# --- PDF budgets ---------------------------------------------------------------------------------

LONG_PAGE = [f"Line {i} of a long page repeated on every page of the document." for i in range(300)]


def test_pages_sharing_one_content_stream_are_extracted_once(monkeypatch):
    # Given 20 pages that all draw the same content stream, and a second stream on the last page
    pdf = make_pages_pdf([text_stream(LONG_PAGE), text_stream(["The last page."])], [0] * 19 + [1])
    from pypdf import PageObject

    calls = []
    real = PageObject.extract_text
    monkeypatch.setattr(PageObject, "extract_text", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    # When extracted
    doc = extract(raw(pdf, "application/pdf", "/shared.pdf"))
    # Then the shared stream is read once and indexed once: page 1 and page 20
    assert len(calls) == 2
    assert [s.page for s in doc.sections] == [1, 20]
    assert len(chunk_document(doc, 1200, 150)) < 30


def test_a_pdf_with_more_pages_than_its_budget_is_skipped():
    pdf = make_pages_pdf([text_stream([f"Page {i}."]) for i in range(6)], list(range(6)))
    with pytest.raises(SourceFailed, match="more than 5 pages"):
        extract(raw(pdf, "application/pdf", "/six.pdf"), Budget(Limits(pages=5)))
    assert len(extract(raw(pdf, "application/pdf", "/six.pdf"), Budget(Limits(pages=6))).sections) == 6


def test_a_pdf_whose_page_tree_lies_about_its_count_is_still_held_to_its_budget():
    pdf = make_pages_pdf([text_stream([f"Page {i}."]) for i in range(6)], list(range(6)), declared_count=1)
    with pytest.raises(SourceFailed, match="more than 5 pages"):
        extract(raw(pdf, "application/pdf", "/liar.pdf"), Budget(Limits(pages=5)))


def test_a_pdf_with_more_text_than_its_budget_is_skipped():
    pdf = make_pages_pdf([text_stream(LONG_PAGE)], [0])
    with pytest.raises(SourceFailed, match="more than 1000 characters"):
        extract(raw(pdf, "application/pdf", "/long.pdf"), Budget(Limits(chars=1000)))


def test_a_pdf_over_its_cpu_time_is_stopped_inside_a_page():
    # Given a page of 3,000 operators and a CPU budget any real work exceeds
    pdf = make_pages_pdf([text_stream(LONG_PAGE * 10)], [0])
    with pytest.raises(SourceFailed, match="more than 1e-09 s of CPU time"):
        extract(raw(pdf, "application/pdf", "/slow.pdf"), Budget(Limits(cpu_s=1e-9)))


def test_a_page_tree_bomb_is_reported_as_over_a_safety_limit_not_an_internal_error():
    with pytest.raises(SourceFailed, match=r"PDF over a safety limit.*page tree depth"):
        extract(raw(deep_page_tree_pdf(150), "application/pdf", "/bomb.pdf"))


def test_a_content_stream_over_pypdfs_parsing_limit_is_reported_as_such():
    from pypdf import apply_configuration

    pdf = make_pages_pdf([text_stream(LONG_PAGE)], [0])
    with apply_configuration(stream_parsing_work_maximum_count=100), pytest.raises(SourceFailed, match="safety limit"):
        extract(raw(pdf, "application/pdf", "/bomb.pdf"))


# --- text and chunk budgets ----------------------------------------------------------------------


def test_text_over_its_character_budget_is_skipped():
    with pytest.raises(SourceFailed, match="more than 100 characters"):
        extract(raw("word " * 50, "text/plain"), Budget(Limits(chars=100)))


def test_a_document_making_more_chunks_than_its_budget_is_skipped_as_soon_as_it_does():
    doc = extract(raw("\n\n".join(f"# H{i}\n\nText {i}." for i in range(100)), "text/markdown"))
    with pytest.raises(SourceFailed, match="more than 10 chunks"):
        chunk_document(doc, 1200, 150, Budget(Limits(chunks=10)))
    assert len(chunk_document(doc, 1200, 150, Budget(Limits(chunks=100)))) == 100
