"""PDF text, one section per page (pypdf)."""

from __future__ import annotations

import re
from io import BytesIO

from cdgpt.errors import SourceFailed
from cdgpt.ingest.extract.document import Section


def pdf(content: bytes, name: str) -> tuple[str | None, list[Section]]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, PdfReadError

    try:
        reader = PdfReader(BytesIO(content))
        if reader.is_encrypted:
            reader.decrypt("")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = reader.metadata.get("/Title") if reader.metadata else None
    except (PdfReadError, DependencyError, ValueError, KeyError, TypeError, NotImplementedError) as exc:
        raise SourceFailed(f"unreadable PDF {name}") from exc
    sections = []
    for number, page in enumerate(pages, start=1):
        paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", page)]
        text = "\n\n".join(p for p in paragraphs if p)
        if text:
            sections.append(Section((f"Page {number}",), text, page=number))
    return (str(meta_title) if meta_title else None), sections
