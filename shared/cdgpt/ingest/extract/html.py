"""HTML: the main content without page chrome, headings kept as the sections' heading paths.

One walk over lxml's tree, linear in the page: text goes to a flat list of pieces, headings become
markers in it, and chrome candidates, `<main>` and `role=main` are recorded as ranges of that list.
Whether a candidate really is chrome (it must not hold half the page's text) is only known at the
end, so ranges are dropped then, in one more pass over the list.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from cdgpt.errors import SourceFailed
from cdgpt.ingest.extract.document import Section
from cdgpt.ingest.extract.text import check_text, decode, paragraphs

if TYPE_CHECKING:
    from cdgpt.ingest.extract.budget import Budget

NOISE_TAGS = frozenset(
    ["script", "style", "noscript", "template", "nav", "footer", "aside", "form", "svg", "iframe", "button", "head"]
)
NOISE_ROLES = frozenset(["navigation", "banner", "contentinfo", "search"])
CHROME_WORDS = frozenset(
    ["nav", "navbar", "navigation", "menu", "menubar", "sidebar", "breadcrumb", "breadcrumbs", "toc", "footer",
     "pagination", "pager", "related", "skip"]
)  # fmt: skip
CHROME_SUFFIXES = ("sidebar", "navbar", "navheader", "navfooter", "breadcrumbs", "menubar")  # sphinxsidebar
NEVER_CHROME = frozenset(["html", "body", "main", "article"])
BLOCK_TAGS = frozenset(
    ["p", "div", "section", "article", "main", "ul", "ol", "li", "table", "tr", "pre", "blockquote", "dl", "dt", "dd",
     "br", "hr", "figure", "figcaption", "header", "caption", "details", "summary", "address"]
)  # fmt: skip
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
MAX_DEPTH = 512  # deeper elements are flattened to their text (browsers stop nesting there too)
META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([-\w.:]+)|<\?xml[^>]+encoding\s*=\s*["']([-\w.:]+)""", re.I
)
PERMALINK = "¶"  # Sphinx and MkDocs end each heading with a pilcrow link

# What an element's end must undo; one small int per open element.
PLAIN, BLOCK, CELL, HEADING, SKIPPED, KIND = 0, 1, 2, 3, 4, 7
MAIN_FLAG, ROLE_MAIN_FLAG, CHROME_FLAG, ARTICLE_FLAG, ID_FLAG, FLAGS = 8, 16, 32, 64, 128, 248


@lru_cache(maxsize=4096)
def _chrome_name(names: str) -> bool:
    """Whether class and id words name page chrome: a nav bar, sidebar, table of contents, footer..."""
    words = re.split(r"[\s_-]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", names).lower())
    return any(word in CHROME_WORDS or word.endswith(CHROME_SUFFIXES) for word in words) or "table-of-contents" in names


def _parse(content: bytes, charset: str | None):
    from lxml import etree

    text = decode(content, charset, _declared_charset(content[:4096]))
    check_text(text)
    parser = etree.HTMLParser(
        encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True, huge_tree=True, default_doctype=False
    )
    root = etree.fromstring(text.encode("utf-8"), parser)
    fatal = parser.error_log.filter_from_fatals()
    if fatal:
        what = "nested too deeply" if "depth" in fatal[0].message.lower() else "malformed"
        raise SourceFailed(f"HTML {what} (the parser stopped at line {fatal[0].line})")
    return root


def _declared_charset(head: bytes) -> str | None:
    """The charset a page declares in a `<meta>` tag or an XML declaration near its start."""
    match = META_CHARSET.search(head)
    return (match.group(1) or match.group(2)).decode("ascii") if match else None


def html(content: bytes, charset: str | None, budget: Budget | None = None) -> tuple[str | None, list[Section]]:
    from cdgpt.ingest.extract.budget import Budget

    root = _parse(content, charset)
    if root is None:
        return None, []
    return _Walk(budget or Budget()).run(root)


class _Walk:
    """The walk's state; `start` and `end` run once per element, so they keep to plain lists and ints."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.title: str | None = None
        self.out: list[str | tuple[int, str, str | None]] = []  # text pieces and (level, heading, anchor) markers
        self.chars = 0  # characters of text in the page so far, chrome included
        self.ink = 0  # pieces of text that are not only whitespace
        self.stack: list[int] = []  # one code per open element: what its end must do
        self.opened: list[tuple[int, int, int]] = []  # (piece, characters, articles) where flagged elements began
        self.ids: list[tuple[str, int]] = []  # (id, ink) of the open elements with an id
        self.articles = self.articles_seen = 0  # open <article>/<main> elements; how many began so far
        self.heading: list[str] | None = None  # the open heading's text
        self.level, self.own, self.inner, self.wrapper = 0, "", "", ""  # its level and candidate anchors
        self.chrome: list[tuple[int, int, int]] = []  # dropped unless big: (start, end, characters)
        self.main: tuple[int, int] | None = None
        self.role_main: tuple[int, int] | None = None

    def run(self, root) -> tuple[str | None, list[Section]]:
        from lxml import etree

        walker = etree.iterwalk(root, events=("start", "end"))
        start, end, emit, pop, check_time = self.start, self.end, self.emit, self.stack.pop, self.budget.check_time
        for count, (event, el) in enumerate(walker):
            if event == "end":
                code = pop()
                if code:
                    end(el, code)
                elif el.tail:  # the common case, inline: a plain element's end
                    emit(el.tail)
            elif start(el):
                walker.skip_subtree()
            elif count & 4095 == 0:
                check_time()
        return self._sections()

    def emit(self, text: str) -> None:
        if self.heading is not None:
            self.heading.append(text)
        else:
            self.out.append(text)
            self.chars += len(text)
            if not text.isspace():
                self.ink += 1

    def start(self, el) -> bool:
        """Open an element; True when its content is to be skipped."""
        tag = el.tag
        if type(tag) is not str:  # an entity or other non-element node the parser kept
            self.stack.append(SKIPPED)
            return True
        cls = ident = role = None
        for name, value in el.items():
            if name == "class":
                cls = value
            elif name == "id":
                ident = value
            elif name == "role":
                role = value
            elif name == "aria-hidden" and value == "true":
                role = "navigation"  # hidden from readers: dropped like navigation
        if tag in NOISE_TAGS or role in NOISE_ROLES or (tag == "header" and not self.articles):  # a site banner
            if tag == "head":
                self._title(el)
            self.stack.append(SKIPPED)
            return True
        if len(self.stack) >= MAX_DEPTH:  # flattened: its text, without structure or chrome rules
            self.emit("".join(el.itertext()))
            self.stack.append(SKIPPED)
            return True
        code = PLAIN
        if tag in BLOCK_TAGS:
            code = BLOCK
            self.emit("\n" if self.heading is None else " ")
        elif tag == "td" or tag == "th":
            code = CELL
        elif tag in HEADINGS and self.heading is None:
            code = HEADING
            self._open_heading(HEADINGS[tag], ident)
        elif self.heading is not None and tag == "a" and not self.inner:
            self.inner = ident or el.get("name") or ""  # DocBook: <h2><a id="s3.1"></a>3.1 Title</h2>
        if tag == "main" or tag == "article":
            code |= ARTICLE_FLAG | (MAIN_FLAG if tag == "main" else 0)
            self.articles += 1
            self.articles_seen += 1
        if role == "main":
            code |= ROLE_MAIN_FLAG
        if (cls or ident) and tag not in NEVER_CHROME and _chrome_name(f"{cls or ''} {ident or ''}"):
            code |= CHROME_FLAG
        if ident is not None and code & KIND != HEADING:  # a heading's own id is its anchor already
            code |= ID_FLAG
            self.ids.append((ident, self.ink))
        if code & FLAGS:
            self.opened.append((len(self.out), self.chars, self.articles_seen))
        self.stack.append(code)
        if el.text:
            self.emit(el.text)
        return False

    def end(self, el, code: int) -> None:
        """Close an element that is not plain: end its block, cell or heading, record its range."""
        kind = code & KIND
        if kind == BLOCK:
            self.emit("\n" if self.heading is None else " ")
        elif kind == CELL:
            self.emit(" | ")
        elif kind == HEADING:
            self._close_heading()
        if code & FLAGS:
            self._close_flagged(code)
        if el.tail:
            self.emit(el.tail)

    def _title(self, head) -> None:
        found = head.find("title")
        if self.title is None and found is not None:
            self.title = " ".join("".join(found.itertext()).split()) or None

    def _open_heading(self, level: int, ident: str | None) -> None:
        # Its anchor: its own id, an anchor inside it, or the nearest enclosing id with no text before the
        # heading (Sphinx: <section id="install"><h2>).
        self.level, self.own, self.inner = level, ident or "", ""
        self.wrapper = self.ids[-1][0] if self.ids and self.ids[-1][1] == self.ink else ""
        self.heading = []

    def _close_heading(self) -> None:
        text = " ".join("".join(self.heading or ()).split()).removesuffix(PERMALINK).rstrip()
        self.heading = None
        if text:
            self.out.append((self.level, text, self.own or self.inner or self.wrapper or None))
            self.chars += len(text)
            self.ink += 1

    def _close_flagged(self, code: int) -> None:
        start, chars, articles_seen = self.opened.pop()
        if code & CHROME_FLAG and self.articles_seen == articles_seen:  # never one holding an article
            self.chrome.append((start, len(self.out), self.chars - chars))
        if code & MAIN_FLAG and self.main is None:
            self.main = (start, len(self.out))
        if code & ROLE_MAIN_FLAG and self.role_main is None:
            self.role_main = (start, len(self.out))
        if code & ARTICLE_FLAG:
            self.articles -= 1
        if code & ID_FLAG:
            self.ids.pop()

    def _kept(self):
        """The pieces of the main region, without the chrome ranges (those under half the page's text)."""
        start, end = self.main or self.role_main or (0, len(self.out))
        drops = sorted((s, e) for s, e, n in self.chrome if n < self.chars / 2 and e > start and s < end)
        position = start
        for drop_start, drop_end in drops:
            if drop_start > position:
                yield from self.out[position : min(drop_start, end)]
            position = max(position, drop_end)
        if position < end:
            yield from self.out[position:end]

    def _sections(self) -> tuple[str | None, list[Section]]:
        sections: list[Section] = []
        path: list[tuple[int, str]] = []
        anchor: str | None = None
        h1: str | None = None
        pieces: list[str] = []

        def end_section() -> None:
            body = paragraphs("".join(pieces))
            pieces.clear()
            if body:
                sections.append(Section(tuple(h for _, h in path), body, anchor))

        for piece in self._kept():
            if isinstance(piece, str):
                pieces.append(piece)
                continue
            end_section()
            level, text, anchor = piece
            if level == 1 and h1 is None:
                h1 = text
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, text)]
        end_section()
        return self.title or h1, sections
