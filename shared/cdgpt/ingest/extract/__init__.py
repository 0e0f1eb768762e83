"""Text extraction: raw bytes + content type in, a titled document of sections out (one module per format)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import PurePosixPath

from cdgpt.errors import SourceFailed
from cdgpt.ingest.extract.budget import Budget, Limits
from cdgpt.ingest.extract.document import Document, Raw, Section
from cdgpt.ingest.extract.text import check_text, decode, plain_text, visible

__all__ = ["EXTRACTION_VERSION", "Budget", "Document", "Limits", "Raw", "Section", "decode", "detect_kind", "extract"]

# Bump when extraction or chunking changes what a document yields: a retraining then reads unchanged documents again
# instead of reusing their chunks (see ingest/incremental.py).
EXTRACTION_VERSION = 22

KINDS = {
    "text/html": "html", "application/xhtml+xml": "html", "text/markdown": "markdown",
    "text/x-markdown": "markdown", "text/x-rst": "rst", "text/plain": "text", "application/pdf": "pdf",
    "text/csv": "csv", "text/tab-separated-values": "tsv", "application/json": "json",
    "application/x-ndjson": "jsonl", "application/jsonl": "jsonl", "application/epub+zip": "epub",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.oasis.opendocument.text": "odt",
}  # fmt: skip
EXTENSIONS = {
    ".html": "html", ".htm": "html", ".xhtml": "html", ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown",
    ".txt": "text", ".text": "text", ".rst": "rst", ".pdf": "pdf", ".csv": "csv", ".tsv": "tsv",
    ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".docx": "docx", ".pptx": "pptx",
    ".xlsx": "xlsx", ".odt": "odt", ".epub": "epub",
}  # fmt: skip
PACKAGES = frozenset(["docx", "pptx", "xlsx", "odt", "epub"])
SUPPORTED = (
    "HTML, Markdown, plain text, PDF, Word (.docx), PowerPoint (.pptx), Excel (.xlsx), "
    "OpenDocument text (.odt), EPUB, CSV, TSV, JSON and JSON lines"
)
# a name's suffixes after its type that say its language or charset (Apache's "index.html.zh-cn", "a.html.ja.utf8")
VARIANT_SUFFIX = re.compile(r"\.(?!(?:gz|xz|zst|zip|rar|tar|tgz)$)(?:[a-z]{2,3}(?:-[a-z0-9]{2,8})?|utf-?8)$", re.I)
# the start of an HTML page, after an XML declaration and comments (XHTML pages start with both); linear: a
# comment's text cannot run past its own "-->"
HTML_START = re.compile(rb"(?:\s|<\?xml[^>]*>|<!--(?:[^-]|-(?!->))*-->)*<(?:!doctype\s+html|html)", re.IGNORECASE)
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Office 97-2003 files, and encrypted Office files
ZIP_MAGIC = b"PK\x03\x04"
WORD = re.compile(r"\w")


def unsupported(name: str, why: str) -> SourceFailed:
    return SourceFailed(f"{name}: {why}; supported formats: {SUPPORTED}")


def detect_kind(raw: Raw) -> tuple[str, str | None]:
    """Return (kind, declared charset) from the content type, the name, then the bytes."""
    mime, charset = None, None
    if raw.content_type:
        parts = [p.strip() for p in raw.content_type.split(";")]
        mime = parts[0].lower()
        for p in parts[1:]:
            if p.lower().startswith("charset="):
                charset = p.split("=", 1)[1].strip("\"' ") or None
    name = _name(raw)
    if raw.content.startswith(OLE_MAGIC):
        raise unsupported(name, "a Word, Excel or PowerPoint 97-2003 file, or a password-protected one")
    declared = KINDS.get(mime or "") or _kind_of_name(raw.name)
    if raw.content.startswith(ZIP_MAGIC):  # zipfile is imported for a zip only: a worker that reads none starts sooner
        from cdgpt.ingest.extract.archive import package_kind

        if package := package_kind(raw.content):
            return package, charset
    if declared in PACKAGES:
        raise unsupported(name, f"not a readable {declared.upper()} file (damaged zip package)")
    if declared:
        return declared, charset
    head = raw.content[:1024].lstrip().lower()
    if head.startswith(b"%pdf-"):
        return "pdf", charset
    if HTML_START.match(raw.content, 0, 4096) or b"<body" in head:
        return "html", charset
    if mime and not mime.startswith("text/") and mime not in ("application/octet-stream", "binary/octet-stream"):
        raise unsupported(name, f"unsupported content type {mime}")
    return "text", charset


def _kind_of_name(name: str) -> str | None:
    """The kind a file name's suffix says; for HTML, looking past suffixes of language or charset ("mpm.html.en",
    as a server that negotiates languages names its pages; "settings.json.js" is no JSON)."""
    path = PurePosixPath(name)
    if kind := EXTENSIONS.get(path.suffix.lower()):
        return kind
    for _ in range(2):
        if not VARIANT_SUFFIX.search(path.name) or not path.stem:
            return None
        path = path.with_name(path.stem)
        if EXTENSIONS.get(path.suffix.lower()) == "html":
            return "html"
    return None


def _name(raw: Raw) -> str:
    """The document as its reasons name it: its file name, else its source."""
    return PurePosixPath(raw.name).name or raw.source


def _read(kind: str, raw: Raw, charset: str | None, budget: Budget) -> tuple[str | None, list[Section]]:
    name = _name(raw)
    if kind == "pdf":
        from cdgpt.ingest.extract.pdf import pdf

        return pdf(raw.content, raw.name, budget)
    if kind == "html":
        from cdgpt.ingest.extract.html import html

        return html(raw.content, charset, budget)
    if kind in PACKAGES:
        from cdgpt.ingest.extract import epub, odt, office, sheets

        reader = {"docx": office.docx, "pptx": office.pptx, "xlsx": sheets.xlsx, "odt": odt.odt, "epub": epub.epub}
        return reader[kind](raw.content, name, budget)
    try:
        text = decode(raw.content, charset)
        check_text(text)
    except SourceFailed as exc:
        raise unsupported(name, str(exc)) from exc
    budget.check_chars(len(text))  # before parsing it
    if kind in ("csv", "tsv", "json", "jsonl"):
        from cdgpt.ingest.extract import records

        if kind == "json":
            return None, records.json_sections(text, name)
        if kind == "jsonl":
            return None, records.json_lines_sections(text, name)
        return None, records.csv_sections(text, name, "\t" if kind == "tsv" else None)
    if kind == "rst":
        from cdgpt.ingest.extract.rst import restructured_text

        return restructured_text(text)
    if kind == "markdown":
        from cdgpt.ingest.extract.markdown import markdown

        return markdown(text)
    return plain_text(text)


def _clean(section: Section) -> Section:
    """The section without invisible characters, and without lone surrogates, which no encoder accepts (a
    broken charset or PDF font map)."""
    text, headings = visible(section.text), tuple(filter(None, map(visible, section.headings)))
    if text is section.text and headings == section.headings:
        return section
    return dataclasses.replace(section, text=text, headings=headings)


def extract(raw: Raw, budget: Budget | None = None) -> Document:
    """The document's text; SourceFailed when it has none, cannot be read, or goes over the budget."""
    budget = budget or Budget()
    kind, charset = detect_kind(raw)
    title, read = _read(kind, raw, charset, budget)
    sections = tuple(s for s in map(_clean, read) if WORD.search(s.text))  # not an icon or a rule alone
    if not sections:
        raise SourceFailed("no text found")
    budget.check_chars(sum(len(s.text) for s in sections))
    budget.check_time()
    fallback = PurePosixPath(raw.name).stem or raw.source
    title = visible(title) if title else fallback
    return Document(source=raw.source, title=title, sections=sections)
