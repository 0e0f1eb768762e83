"""Text extraction: raw bytes + content type in, a titled document of sections out."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from io import BytesIO
from pathlib import PurePosixPath

from cdgpt.errors import SourceFailed
from cdgpt.ingest.sources import RawDocument

HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
HTML_MARK = "\x00"  # marks the headings of an HTML page; the parser turns any NUL in the page into U+FFFD
HTML_HEADING = re.compile(r"^(\x00{1,6}) (.+)$")
MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
MD_MARKS = re.compile(r"\*\*|__|`")
FENCE = re.compile(r"^\s*(```|~~~)")
NOISE_TAGS = ["script", "style", "noscript", "template", "nav", "footer", "aside", "form", "svg", "iframe", "button"]
NOISE_SELECTORS = '[role="navigation"], [role="banner"], [role="contentinfo"], [role="search"], [aria-hidden="true"]'
CHROME_WORDS = frozenset(
    [
        "nav",
        "navbar",
        "navigation",
        "menu",
        "menubar",
        "sidebar",
        "breadcrumb",
        "breadcrumbs",
        "toc",
        "footer",
        "pagination",
        "pager",
        "related",
        "skip",
    ]
)
CHROME_SUFFIXES = ("sidebar", "navbar", "navheader", "navfooter", "breadcrumbs", "menubar")  # sphinxsidebar
BLOCK_TAGS = [
    "p", "div", "section", "article", "main", "ul", "ol", "li", "table", "tr", "pre", "blockquote",
    "dl", "dt", "dd", "br", "hr", "figure", "figcaption", "header",
]  # fmt: skip
KINDS = {
    "text/html": "html", "application/xhtml+xml": "html", "text/markdown": "markdown",
    "text/x-markdown": "markdown", "text/plain": "text", "application/pdf": "pdf",
}  # fmt: skip
EXTENSIONS = {
    ".html": "html", ".htm": "html", ".xhtml": "html", ".md": "markdown", ".markdown": "markdown",
    ".txt": "text", ".text": "text", ".rst": "text", ".csv": "text", ".pdf": "pdf",
}  # fmt: skip


@dataclass(frozen=True)
class Section:
    headings: tuple[str, ...]  # heading path, outermost first
    text: str  # paragraphs separated by blank lines


@dataclass(frozen=True)
class Document:
    source: str
    title: str
    sections: tuple[Section, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


def detect_kind(raw: RawDocument) -> tuple[str, str | None]:
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


def decode(content: bytes, charset: str | None) -> str:
    """Declared charset first, then UTF-8, then detection."""
    if charset:
        try:
            return content.decode(charset).removeprefix("\ufeff")
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(content).best()
    if best is None:
        raise SourceFailed("binary data, not text")
    return str(best)


def plain_markdown(text: str) -> str:
    """Inline Markdown to its words: links and images keep their text; **, __ and ` go."""
    text = MD_LINK.sub(r"\1", text)
    return MD_MARKS.sub("", text)


def _check_text(text: str) -> None:
    sample = text[:20000]
    bad = sum(1 for c in sample if (ord(c) < 32 and c not in "\n\r\t\f") or c == "\ufffd")
    if sample and bad / len(sample) > 0.02:
        raise SourceFailed("binary data, not text")


def parse_markup(
    text: str, heading_re: re.Pattern[str] = HEADING, fences: bool = True
) -> tuple[str | None, list[Section]]:
    """Split Markdown-like text into sections by `#` headings; return (first H1, sections)."""
    title: str | None = None
    path: list[tuple[int, str]] = []
    sections: list[Section] = []
    paragraphs: list[str] = []
    lines: list[str] = []
    in_fence = False

    def end_paragraph() -> None:
        if lines:
            paragraphs.append("\n".join(lines))
            lines.clear()

    def end_section() -> None:
        end_paragraph()
        if paragraphs:
            sections.append(Section(tuple(h for _, h in path), "\n\n".join(paragraphs)))
            paragraphs.clear()

    for raw_line in text.splitlines():
        if fences and FENCE.match(raw_line):
            in_fence = not in_fence
        line = " ".join(raw_line.split()).strip("| ")  # table cells leave bare separators behind
        match = None if in_fence else heading_re.match(line)
        if match:
            end_section()
            level, heading = len(match.group(1)), match.group(2)
            if level == 1 and title is None:
                title = heading
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading)]
        elif line:
            lines.append(line)
        else:
            end_paragraph()
    end_section()
    return title, sections


def _chrome_name(tag) -> bool:
    """Whether the tag's class or id names page chrome: a nav bar, sidebar, table of contents, footer..."""
    names = " ".join([*(tag.get("class") or []), tag.get("id") or ""])
    if not names.strip() or tag.name in ("html", "body", "main", "article"):
        return False
    words = re.split(r"[\s_-]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", names).lower())
    return any(word in CHROME_WORDS or word.endswith(CHROME_SUFFIXES) for word in words) or "table-of-contents" in names


def _drop_chrome(root) -> None:
    """Drop named chrome, but never an element holding most of the page (`no-sidebar`, `with-toc` wrappers)."""
    total = len(root.get_text())
    for tag in root.find_all(_chrome_name):
        if tag.decomposed or tag.find(["main", "article"]) is not None:
            continue
        if len(tag.get_text()) < total / 2:
            tag.decompose()


def _html(content: bytes, charset: str | None) -> tuple[str | None, list[Section]]:
    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)  # XHTML pages parse fine as HTML
        soup = BeautifulSoup(content, "lxml", from_encoding=charset)
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup(NOISE_TAGS):
        tag.decompose()
    for tag in soup.select(NOISE_SELECTORS):
        tag.decompose()
    _drop_chrome(soup)
    for tag in soup("header"):
        if tag.find_parent(["article", "main"]) is None:
            tag.decompose()  # site banner; an article's own header keeps its heading
    root = soup.find("main") or soup.find(role="main") or soup.body or soup
    for tag in root(["h1", "h2", "h3", "h4", "h5", "h6"]):
        text = " ".join(tag.get_text(" ").split())
        tag.replace_with(f"\n\n{HTML_MARK * int(tag.name[1])} {text}\n\n" if text else "")
    for tag in root(BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    for tag in root(["td", "th"]):
        tag.insert_after(" | ")
    h1, sections = parse_markup(root.get_text(), HTML_HEADING, fences=False)  # `#` in a page is text
    return title or h1, sections


def _pdf(content: bytes, name: str) -> tuple[str | None, list[Section]]:
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
            sections.append(Section((f"Page {number}",), text))
    return (str(meta_title) if meta_title else None), sections


def extract(raw: RawDocument) -> Document:
    kind, charset = detect_kind(raw)
    if kind == "pdf":
        title, sections = _pdf(raw.content, raw.name)
    elif kind == "html":
        title, sections = _html(raw.content, charset)
    else:
        text = decode(raw.content, charset)
        _check_text(text)
        if kind == "markdown":
            title, sections = parse_markup(text)
            title = title and plain_markdown(title)
            sections = [Section(tuple(map(plain_markdown, s.headings)), plain_markdown(s.text)) for s in sections]
        else:
            paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
            body = "\n\n".join(p for p in paragraphs if p)
            title, sections = None, [Section((), body)] if body else []
    if not sections:
        raise SourceFailed("no text found")
    fallback = PurePosixPath(raw.name).stem or raw.source
    return Document(source=raw.source, title=title or fallback, sections=tuple(sections))
