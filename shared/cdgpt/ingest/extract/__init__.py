"""Text extraction: raw bytes + content type in, a titled document of sections out (one module per format)."""

from __future__ import annotations

import dataclasses
from pathlib import PurePosixPath

from cdgpt.errors import SourceFailed
from cdgpt.ingest.extract.budget import Budget, Limits
from cdgpt.ingest.extract.document import Document, Raw, Section
from cdgpt.ingest.extract.text import check_text, decode, markdown, plain_text, without_surrogates

__all__ = ["Budget", "Document", "Limits", "Raw", "Section", "decode", "detect_kind", "extract"]

KINDS = {
    "text/html": "html", "application/xhtml+xml": "html", "text/markdown": "markdown",
    "text/x-markdown": "markdown", "text/plain": "text", "application/pdf": "pdf",
}  # fmt: skip
EXTENSIONS = {
    ".html": "html", ".htm": "html", ".xhtml": "html", ".md": "markdown", ".markdown": "markdown",
    ".txt": "text", ".text": "text", ".rst": "text", ".csv": "text", ".pdf": "pdf",
}  # fmt: skip


def detect_kind(raw: Raw) -> tuple[str, str | None]:
    """Return (kind, declared charset) from the content type, the name, then the bytes."""
    mime, charset = None, None
    if raw.content_type:
        parts = [p.strip() for p in raw.content_type.split(";")]
        mime = parts[0].lower()
        for p in parts[1:]:
            if p.lower().startswith("charset="):
                charset = p.split("=", 1)[1].strip("\"' ") or None
    if mime in KINDS:
        return KINDS[mime], charset
    suffix = PurePosixPath(raw.name).suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix], charset
    head = raw.content[:1024].lstrip().lower()
    if head.startswith(b"%pdf-"):
        return "pdf", charset
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
        return "html", charset
    if mime and not mime.startswith("text/") and mime != "application/octet-stream":
        raise SourceFailed(f"unsupported content type {mime}")
    return "text", charset


def _clean(section: Section) -> Section:
    """The section without lone surrogates, which no encoder accepts (a broken charset or PDF font map)."""
    text, headings = without_surrogates(section.text), tuple(map(without_surrogates, section.headings))
    if text is section.text and all(a is b for a, b in zip(headings, section.headings, strict=True)):
        return section
    return dataclasses.replace(section, text=text, headings=headings)


def extract(raw: Raw, budget: Budget | None = None) -> Document:
    budget = budget or Budget()
    kind, charset = detect_kind(raw)
    if kind == "pdf":
        from cdgpt.ingest.extract.pdf import pdf

        title, sections = pdf(raw.content, raw.name, budget)
    elif kind == "html":
        from cdgpt.ingest.extract.html import html

        title, sections = html(raw.content, charset, budget)
    else:
        text = decode(raw.content, charset)
        check_text(text)
        budget.add_chars(len(text))
        title, sections = markdown(text) if kind == "markdown" else (None, plain_text(text))
    if not sections:
        raise SourceFailed("no text found")
    budget.check_time()
    fallback = PurePosixPath(raw.name).stem or raw.source
    title = without_surrogates(title) if title else fallback
    return Document(source=raw.source, title=title, sections=tuple(map(_clean, sections)))
