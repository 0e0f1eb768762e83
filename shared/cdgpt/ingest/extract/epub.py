"""EPUB (2 and 3): the chapters in reading order, each read by the HTML extractor.

A chapter's headings make its sections' heading paths; a chapter without headings is headed by its
table-of-contents entry. DRM-encrypted books are refused (font obfuscation is not DRM).
"""

from __future__ import annotations

import posixpath

from cdgpt.errors import SourceFailed
from cdgpt.ingest.extract.archive import MB, Archive, resolve
from cdgpt.ingest.extract.budget import Budget
from cdgpt.ingest.extract.document import Section
from cdgpt.ingest.safexml import attr, local
from cdgpt.limits import MAX_CHAPTER_BYTES

CHAPTER_TYPES = frozenset(["application/xhtml+xml", "text/html"])
FONT_OBFUSCATION = frozenset(["http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"])


def _package_path(book: Archive) -> str:
    for rootfile in book.xml("META-INF/container.xml").iter("{*}rootfile"):
        if path := attr(rootfile, "full-path"):
            return resolve("", path)
    raise SourceFailed(f"{book.name} is damaged: its container names no package document")


def _check_drm(book: Archive) -> None:
    if not book.has("META-INF/encryption.xml"):
        return
    for method in book.xml("META-INF/encryption.xml").iter("{*}EncryptionMethod"):
        if attr(method, "Algorithm") not in FONT_OBFUSCATION:
            raise SourceFailed(f"{book.name} is DRM-protected (encrypted)")


def _toc_titles(book: Archive, folder: str, items: dict[str, tuple[str, str, str]], toc_id: str | None) -> dict:
    """Chapter path -> its first title in the table of contents (EPUB 3 nav, else the EPUB 2 NCX)."""
    titles: dict[str, str] = {}
    nav = next((path for path, _, props in items.values() if "nav" in props.split()), None)
    ncx = items[toc_id][0] if toc_id in items else None
    try:
        if nav:
            for link in book.xml(nav).iter("{*}a"):
                text = " ".join("".join(link.itertext()).split())
                titles.setdefault(resolve(posixpath.dirname(nav), attr(link, "href") or ""), text)
        elif ncx:
            for point in book.xml(ncx).iter("{*}navPoint"):
                label = next(point.iter("{*}text"), None)
                src = next((attr(c, "src") for c in point if local(c) == "content"), None)
                if label is not None and src:
                    titles.setdefault(resolve(posixpath.dirname(ncx), src), " ".join("".join(label.itertext()).split()))
    except SourceFailed:
        return {}  # titles are a nicety: a table of contents that does not parse is ignored
    return titles


def epub(content: bytes, name: str, budget: Budget) -> tuple[str | None, list[Section]]:
    from cdgpt.ingest.extract.html import html

    book = Archive(content, name)
    _check_drm(book)
    opf_path = _package_path(book)
    opf = book.xml(opf_path)
    folder = posixpath.dirname(opf_path)
    items: dict[str, tuple[str, str, str]] = {}  # id -> (path, media type, properties)
    for item in opf.iter("{*}item"):
        if (item_id := attr(item, "id")) and (href := attr(item, "href")):
            items[item_id] = (resolve(folder, href), attr(item, "media-type") or "", attr(item, "properties") or "")
    spine = next(opf.iter("{*}spine"), None)
    if spine is None:
        raise SourceFailed(f"{name} is damaged: its package has no spine")
    titles = _toc_titles(book, folder, items, attr(spine, "toc"))
    title = next((" ".join(e.text.split()) for e in opf.iter("{*}title") if (e.text or "").strip()), None)
    contents = {  # EPUB 2's table of contents page, named whole in its guide (EPUB 3's is the nav document)
        resolve(folder, href)
        for ref in opf.iter("{*}reference")
        if attr(ref, "type") == "toc" and (href := attr(ref, "href")) and "#" not in href
    }
    sections: list[Section] = []
    for ref in spine.iter("{*}itemref"):
        path, media, props = items.get(attr(ref, "idref") or "", ("", "", ""))
        if media not in CHAPTER_TYPES or "nav" in props.split() or path in contents or not book.has(path):
            continue
        if book.members[path].file_size > MAX_CHAPTER_BYTES:  # its tree takes some twenty times that
            raise SourceFailed(f"{name}: chapter {path} is larger than {MAX_CHAPTER_BYTES // MB} MB")
        chapter_title, found = html(book.read(path), None, budget)
        budget.spend(sum(len(s.text) for s in found))  # the chapters together, as they come
        heading = titles.get(path) or chapter_title
        sections.extend(
            s if s.headings or not heading else Section((heading,), s.text, s.anchor, s.page) for s in found
        )
    return title, sections
