"""HTML: the main content without page chrome, headings kept as the sections' heading paths."""

from __future__ import annotations

import re
import warnings

from cdgpt.ingest.extract.document import Section
from cdgpt.ingest.extract.text import parse_markup

HTML_MARK = "\x00"  # marks the headings of an HTML page; the parser turns any NUL in the page into U+FFFD
HTML_HEADING = re.compile(r"^(\x00{1,6}) (.+)$")
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


def html(content: bytes, charset: str | None) -> tuple[str | None, list[Section]]:
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
