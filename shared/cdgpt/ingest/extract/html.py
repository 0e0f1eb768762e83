"""HTML: the main content without page chrome, headings kept as the sections' heading paths.

One walk over lxml's tree, linear in the page: text goes to a flat list of pieces, headings become
markers in it, and chrome candidates, `<main>` and `role=main` are recorded as ranges of that list.
Whether a candidate really is chrome (under half the page's text, or mostly links) is only known at
the end, so ranges are dropped then, in one more pass over the list. Weaker names make chrome only an
element whose text is mostly links: a "sidebar" class (DocBook calls a boxed note in the text a
sidebar), and the id of a section, link or span (often a heading's slug: "file-menu").
"""

from __future__ import annotations

import codecs
import re
import sys
from bisect import bisect_left, bisect_right
from dataclasses import replace
from functools import cached_property, lru_cache
from itertools import accumulate
from typing import TYPE_CHECKING

from cdgpt.errors import SourceFailed
from cdgpt.ingest.extract.document import Section
from cdgpt.ingest.extract.outline import BOLD_LEVEL, bold_level, reads_as_heading
from cdgpt.ingest.extract.preformatted import text_page
from cdgpt.ingest.extract.text import CELL_END, FENCE, check_text, decode_as, paragraphs, plain_text, without_fences

if TYPE_CHECKING:
    from cdgpt.ingest.extract.budget import Budget

NOISE_TAGS = frozenset(
    ["script", "style", "noscript", "template", "nav", "footer", "aside", "form", "svg", "iframe", "button", "head"]
)
NOISE_ROLES = frozenset(["navigation", "banner", "contentinfo", "search"])
CHROME_WORDS = frozenset(
    ["nav", "navbar", "navigation", "menu", "menubar", "breadcrumb", "breadcrumbs", "toc", "footer",
     "pagination", "pager", "related", "skip", "banner", "headerlink"]
)  # fmt: skip
# word endings of chrome names: docnav, topNav, sphinxsidebar, navheader
CHROME_SUFFIXES = ("nav", "sidebar", "navbar", "navheader", "navfooter", "breadcrumbs", "menubar")  # fmt: skip
SIDEBAR = "sidebar"  # a page's sidebar, or a boxed note in the text (DocBook's CAUTION, TIP): its links tell which
TEXINFO_HEADER = "header"  # a class of its own: Texinfo's links to the next node and up (not Bootstrap's "card-header")
SWITCHER_LABEL = 40  # characters (spaces aside) a language switcher may hold besides its links
MAX_OPEN_MAYBE = 8  # maybe-chrome elements within each other whose links are counted (each reads its subtree)
NEVER_CHROME = frozenset(["html", "body", "main", "article"])
BLOCK_TAGS = frozenset(
    ["p", "div", "section", "article", "main", "ul", "ol", "li", "table", "tr", "pre", "blockquote", "dl", "dt", "dd",
     "br", "hr", "figure", "figcaption", "header", "caption", "details", "summary", "address"]
)  # fmt: skip
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
DEFINITION_LEVEL = 7  # an API reference's definition heads its description: under h6, deeper when nested
MAX_DEFINITION_DEPTH = 3  # definitions within definitions (a class's methods) deeper than this share a level
TERM_HEADS = frozenset(["dt", "summary"])  # a term or an accordion's label that may head what it opens
QUESTION_CHARS = 200  # a FAQ's question, at most
BOLD_LINE_TAGS = frozenset(["p", "div"])  # a block that may be a heading written as one bold line
BOLD_TAGS = frozenset(["b", "strong"])
WRAPPER_TAGS = frozenset(["span", "font", "u", "i", "em", "big"])  # around a bold line: <font size="+1"><b>
BOLD_WRAPPERS = 2
BOLD_STYLE = re.compile(r"font-weight\s*:\s*(?:bold|[6-9]00)")  # pasted from an editor: <span style="font-weight:700">
CLASS_RULE = re.compile(r"\.([A-Za-z_][\w-]*)\s*\{([^{}]*)\}")  # ".c4{font-weight:700;...}" (Google Docs' export)
NOT_HEADED_IN = frozenset(["li", "dt", "dd", "td", "th", "figure", "caption", "blockquote", "summary", "label"])
SLUG_TAGS = frozenset(["section", "a", "span"])  # whose id is often a heading's slug (a heading's is its anchor)
TERM_TAGS = frozenset(["dt", "dd"])  # whose id names a term ("index-toc" on Texinfo's <dt>), never chrome
VISIBLE_TEXT = ".//text()[not(ancestor::script or ancestor::style or ancestor::noscript or ancestor::template)]"
INLINE = frozenset(
    ["span", "code", "em", "strong", "b", "i", "u", "s", "small", "sub", "sup", "mark", "kbd", "samp", "var", "abbr",
     "cite", "q", "dfn", "time", "tt", "big", "font", "label", "bdi", "bdo", "wbr", "del", "ins", "data", "img", "a"]
)  # fmt: skip
INERT = frozenset(["class", "href", "title"])  # attributes that leave inline markup plain (a class if known plain)
MAX_DEPTH = 512  # deeper elements are flattened to their text (browsers stop nesting there too)
META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([-\w.:]+)|<\?xml[^>]+encoding\s*=\s*["']([-\w.:]+)""", re.I
)
SITE_SEPARATOR = re.compile(r" [|\-–—:·»] |: | -- ")  # between a page's name and its site's in a title
PERMALINK = "¶"  # Sphinx and MkDocs end each heading with a pilcrow link
SELF_LINKS = frozenset(["#", "¶"])  # not "§": legal text links its section signs ("see § 2")
SOURCE_PATHS = ("src/", "_modules/")  # where API references link a declaration's source, relative to the page
WRAPPER_PIECES = 32  # pieces of whitespace an enclosing id may stand before the heading it lends its id to
# a page that sends the browser on at once ("0; url=target.html"), with at most REDIRECT_CHARS word characters
REFRESH = re.compile(r"\s*(?:0+(?:\.0*)?|\.0+)\s*[;,]\s*(?:url\s*=\s*)?['\"]?([^'\"\s]+)", re.IGNORECASE)
REDIRECT_CHARS = 200
# a footnote's mark: "3", "[3]", "*", "†" (a link to it, in <sup> or named a footnote reference)
FOOTNOTE_MARK = re.compile(r"\[?\d{1,3}\]?|[*†‡]")
FOOTNOTE_NAMES = ("footnote", "fnref", "noteref")
ROW_CHARS = 2000  # a table row up to this long is one line (`_fold_row`)
ROW_BLOCKS = 2  # blocks (paragraphs, line breaks) a row may hold per cell and still be one line
HOLDS_LINES = frozenset(["ul", "ol", "dl", "table", "tr", "pre", *HEADINGS])  # a row holding one keeps its lines
# a section of at least LIST_LINKS links that make LIST_SHARE of its word characters: an index, a table of contents
LIST_LINKS = 10
LIST_SHARE = 0.9

# What an element's end must undo; one small int per open element.
STRUCTURE = sorted(BLOCK_TAGS | NOISE_TAGS | NEVER_CHROME | set(HEADINGS) | {"td", "th", "title"})  # what a walk marks

PLAIN, BLOCK, CELL, HEADING, SKIPPED, LINK, CODE, KIND = 0, 1, 2, 3, 4, 5, 6, 7
CODE_LINE = f"\n{FENCE}\n"  # before and after a <pre>'s text: `paragraphs` keeps its lines as written
WORD_CHAR = re.compile(r"\w")
NOT_WORD = re.compile(r"\W+")
PROSE_CHARS = 20  # word characters of a block of prose kept from a preamble of links
SENTENCE_END = re.compile(r"[.!?。！？]\s*$")
MAIN_FLAG, ROLE_MAIN_FLAG, CHROME_FLAG, ARTICLE_FLAG, ID_FLAG, MAYBE_FLAG, FLAGS = 8, 16, 32, 64, 128, 256, 504
ROW_FLAG = 512  # a table row: folded onto one line at its end (`_fold_row`)
NOT_CHROME, CHROME, MAYBE_CHROME = 0, 1, 2  # what class and id words say of an element


@lru_cache(maxsize=4096)
def _chrome_name(names: str) -> int:
    """What class or id words say: chrome (a nav bar, table of contents, footer...), maybe (a sidebar), or not."""
    words = re.split(r"[\s_-]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", names).lower())
    if "table-of-contents" in names or any(
        word != SIDEBAR and (word in CHROME_WORDS or word.endswith(CHROME_SUFFIXES)) for word in words
    ):
        return CHROME
    return MAYBE_CHROME if SIDEBAR in words or names.strip() == TEXINFO_HEADER else NOT_CHROME


def _mostly_links(el) -> bool:
    """Whether links make at least half the element's visible text and it holds no heading (a maybe-chrome
    element is chrome then: a header holding the page's title is no site header)."""
    visible, linked = _visible_and_linked(el)
    return linked * 2 >= visible and next(el.iter(*HEADINGS), None) is None


def _defines(el, cls: str | None, ident: str | None) -> bool:
    """Whether a <dt> (or <summary>) is a signature that an API reference defines, heading its description:
    Sphinx's (class "sig", with an id: os.getcwd) and Texinfo's (a "def..." class, or an "index-" id over a
    name in bold)."""
    if cls:
        names = cls.split()
        if names[0].startswith("def") or ("sig" in names and ident is not None):
            return True
    return ident is not None and ident.startswith("index-") and next(el.iter("strong"), None) is not None


def _words_of(el) -> str:
    """An element's text, its whitespace folded."""
    return " ".join("".join(el.itertext()).split())


def _asks(el) -> bool:
    """Whether a term or an accordion's label is a question, a FAQ's, heading its answer; not a link to one
    (a contents list's entry)."""
    text = _words_of(el)
    asks = 0 < len(text) <= QUESTION_CHARS and text.endswith(("?", "？"))
    return asks and next(el.iter("a"), None) is None


def _bold_classes(root) -> frozenset[str]:
    """Classes that a style sheet in the page's head sets bold, by rules of one class (Google Docs' export
    sets its bold text in <span class="c4"> so)."""
    head = root.find("head")
    sheets = [] if head is None else [style.text or "" for style in head.iter("style")]
    return frozenset(name for sheet in sheets for name, rule in CLASS_RULE.findall(sheet) if BOLD_STYLE.search(rule))


def _bold_line(el, cls: str | None, bold_classes: frozenset[str]) -> str | None:
    """The text of a paragraph that is one short line in bold and nothing else (<p><b>Eligibility</b></p>, also
    through plain wrappers: <font size="+1"><b>...</b></font>): a heading written without a heading tag. Not
    inside a list, a table or a figure, nor a figure's or table's title or caption (DocBook's <p class="title">
    <b>Table 2.1. ...</b></p>), which heads only what it names."""
    parent = el.getparent()
    if parent is not None and (parent.tag in NOT_HEADED_IN or _names_a_caption(parent.get("class"))):
        return None
    if _names_a_caption(cls):
        return None
    node = el
    for _ in range(BOLD_WRAPPERS + 1):
        if (only := _only_child(node)) is None:
            return None
        if _set_in_bold(only, bold_classes):
            text = _words_of(only)
            return text if reads_as_heading(text) else None
        if only.tag not in WRAPPER_TAGS or only.get("class"):  # not a key's name (<span class="keycap">)
            return None
        node = only
    return None


def _names_a_caption(cls: str | None) -> bool:
    return cls is not None and ("title" in cls or "caption" in cls)


def _only_child(el):
    """The element's one child when it holds nothing else (line breaks and empty elements aside: Word's
    <o:p></o:p>, an anchor), else None."""
    if el.text and not el.text.isspace():
        return None
    found = None
    for inner in el:
        if inner.tail and not inner.tail.isspace():
            return None
        if inner.tag == "br" or (not len(inner) and (not inner.text or inner.text.isspace())):
            continue
        if found is not None:
            return None
        found = inner
    return found


def _set_in_bold(el, bold_classes: frozenset[str]) -> bool:
    if el.tag in BOLD_TAGS:
        return True
    if el.tag != "span":
        return False
    styled = BOLD_STYLE.search(el.get("style", "")) is not None
    return styled or not bold_classes.isdisjoint(el.get("class", "").split())


def _source_link(el) -> bool:
    """A link beside a name to its source or to itself, in every declaration of an API reference: "[source]"
    (Sphinx), "[src]" (gi-docgen), "Source" and "#" (Haddock)."""
    text = el.text if len(el) == 0 else "".join(el.itertext())  # most links: text, no markup inside
    if not text or len(text) > 32:
        return False
    text = text.strip().casefold()
    href = el.get("href") or ""
    if text in SELF_LINKS:
        return href.startswith("#") and len(href) > 1
    relative = "://" not in href and not href.startswith("/")
    in_source = relative and any(href.startswith(p) or f"/{p}" in href for p in SOURCE_PATHS)
    return text in ("[source]", "[src]") or (text in ("source", "src") and in_source)


def _footnote_mark(el) -> bool:
    """A link to a footnote on the page, its mark alone ("3", "[3]"): in <sup> or named a footnote reference.
    Left out: glued to the word before it ("restrictions<sup>3</sup>"), it would make another word."""
    href = el.get("href") or ""
    if not href.startswith("#") or len(el) > 1 or (len(el) == 1 and len(el[0])):
        return False
    text = (el.text or "") + ("".join((el[0].text or "", el[0].tail or "")) if len(el) else "")
    if not FOOTNOTE_MARK.fullmatch(text.strip()):
        return False
    parent = el.getparent()
    names = f"{el.get('class') or ''} {el.get('role') or ''}".lower()
    return (
        (parent is not None and parent.tag == "sup")
        or el.find("sup") is not None
        or any(name in names for name in FOOTNOTE_NAMES)
    )


def _redirect(root) -> str | None:
    """Where a page that only sends the browser on at once leads (a `<meta http-equiv="refresh">` of no delay
    and a line of text: Texinfo's page for each indexed name), else None."""
    head = root.find("head")
    for meta in () if head is None else head.iter("meta"):  # not one in <noscript>: for browsers without scripts
        if (meta.get("http-equiv") or "").lower() == "refresh" and meta.getparent().tag != "noscript":
            target = REFRESH.match(meta.get("content") or "")
            return target[1] if target and _short(root.find("body")) else None
    return None


def _short(body) -> bool:
    """Whether the body holds at most REDIRECT_CHARS word characters (its scripts' too: counted, not read)."""
    count = 0
    for text in () if body is None else body.itertext():
        count += len(WORD_CHAR.findall(text))
        if count > REDIRECT_CHARS:
            return False
    return True


def _titled(el) -> bool:
    """Whether a header inside a section of content holds the page's title, an h1 that is not a link: the
    page's own header (gi-docgen's), not a site's banner (at the top of the body or of a wrapper around it)."""
    h1 = next(el.iter("h1"), None)
    if h1 is None or not any(a.tag == "section" or a.get("role") == "main" for a in el.iterancestors()):
        return False
    visible, linked = _visible_and_linked(h1)
    return visible > 2 * linked


def _visible_and_linked(el) -> tuple[int, int]:
    """Characters of the element's visible text, and of its links' text, spaces aside."""
    visible = len("".join("".join(el.xpath(VISIBLE_TEXT)).split()))
    linked = sum(len("".join("".join(a.itertext()).split())) for a in el.iterdescendants("a"))  # linear, unlike XPath
    return visible, linked


def _switches_language(el) -> bool:
    """A language switcher: two or more links to the page in other languages (`hreflang`), side by side
    in a paragraph or division of inline markup, or one per item of a list, with a label at most besides
    them ("Available Languages:")."""
    if el.tag in ("ul", "ol"):
        if any(item.tag != "li" or len(item) != 1 or item[0].tag != "a" for item in el):
            return False
        links = [item[0] for item in el]
    elif el.tag in ("p", "div", "li") and all(child.tag in INLINE for child in el):
        links = [child for child in el if child.tag == "a"]
    else:
        return False
    alternates = sum(1 for link in links if link.get("hreflang"))
    if alternates < 2 or 2 * alternates < len(links):
        return False
    visible, linked = _visible_and_linked(el)
    return visible - linked <= SWITCHER_LABEL


def _first_inside(pieces: list[int], ranges: list[tuple[int, int]]) -> int | None:
    """The first of the pieces (ascending) inside one of the ranges (sorted, apart): one pass over both."""
    j = 0
    for piece in pieces:
        while j < len(ranges) and ranges[j][1] <= piece:
            j += 1
        if j == len(ranges):
            return None
        if ranges[j][0] <= piece:
            return piece
    return None


def _page_title(title: str | None, h1: str | None) -> str | None:
    """The page's title without its site's name ("File system | Node.js v18 Documentation"): its first
    h1 when the title is a separator and more before or after that heading, or its first words ("Getting
    Started - MkDocs" for "Getting Started with MkDocs"); else the title, or the h1 without one."""
    if not title or not h1:
        return title or h1
    parts = SITE_SEPARATOR.split(title, maxsplit=1)
    page = {parts[0], title.rsplit(SITE_SEPARATOR.findall(title)[-1], 1)[-1]} if len(parts) == 2 else set()
    if any(h1.startswith(part) and not h1[len(part) : len(part) + 1].isalnum() for part in page):
        return h1
    return title


def _plain_inside(el) -> bool:
    """Whether an element holds nothing but text and markup that the walk would pass through unchanged."""
    return next(el.iterdescendants(*STRUCTURE), None) is None


def _parse(content: bytes, charset: str | None):
    from lxml import etree

    text, codec = decode_as(content, charset, _declared_charset(content[:4096]))
    check_text(text)
    if codec == "utf-8":  # as it came: no second copy
        data = content
    elif codec == "utf-8-sig":
        data = content[len(codecs.BOM_UTF8) :]
    else:
        data = text.encode("utf-8")
    del text
    parser = etree.HTMLParser(
        encoding="utf-8",
        remove_comments=True,
        remove_pis=True,
        no_network=True,
        huge_tree=True,
        default_doctype=False,
        collect_ids=False,  # no lookups by id: the table of ids would only cost time
    )
    root = etree.fromstring(data, parser)
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

    budget = budget or Budget()
    root = _parse(content, charset)
    if root is None:
        return None, []
    if (target := _redirect(root)) is not None:
        raise SourceFailed(f"a page that only redirects (to {target[:200]})")
    if (found := text_page(root)) is not None:
        text, anchors = found
        budget.check_chars(len(text))  # before parsing it, as a .txt file's
        heading = root.find(".//h1")
        title = _page_title(root.findtext(".//title"), None if heading is None else "".join(heading.itertext()))
        named, sections = plain_text(text)
        anchored = [replace(s, anchor=anchors.get(s.headings[-1])) if s.headings else s for s in sections]
        return " ".join((title or named or "").split()) or None, anchored
    return _Walk(budget).run(root)


class _Walk:
    """The walk's state. `start` and `end` run once per element: they keep to plain lists and ints, and
    every piece of text goes straight to `out` (a heading's pieces are taken back out when it closes)."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.title: str | None = None
        self.out: list[str] = []  # the page's text in pieces, a heading's text one piece
        self.marks: list[tuple[int, int, str, str | None]] = []  # (piece, level, text, anchor) of each heading
        self.stack: list[int] = []  # one code per open element: what its end must do
        self.opened: list[tuple[int, int]] = []  # (piece, articles begun before) where flagged elements began
        self.ids: list[tuple[str, int]] = []  # (id, piece where it began) of the open elements with an id
        self.articles = self.articles_seen = 0  # open <article>/<main> elements; how many began so far
        self.heading = -1  # where the open heading's text begins in `out`, -1 outside one
        self.code_depth = 0  # <pre> elements open: one inside another (gi-docgen's highlighting) is no new block
        self.skipped: list[int] = []  # where elements left out whole (navigation, forms, scripts) stood in `out`
        self.level, self.own, self.inner, self.wrapper = 0, "", "", ""  # its level and candidate anchors
        self.chrome: list[tuple[int, int]] = []  # ranges of `out` that `_kept` drops
        self.main: tuple[int, int] | None = None
        self.role_main: tuple[int, int] | None = None
        self.plain_classes: set[str] = set()  # class attributes known not to name chrome
        self.bold_classes: frozenset[str] = frozenset()  # classes the page's style sheet sets bold
        self.open_maybe = 0  # open maybe-chrome elements (`_mostly_links` decides at their end)
        self.links: list[tuple[int, int]] = []  # ranges of `out` that are a link's text (outermost links)
        self.link_depth = self.link_begun = 0
        self.empty_id: tuple[str, int] = ("", -WRAPPER_PIECES - 1)  # the last empty element with an id, where it ended
        self.rows: list[list[int]] = []  # each open table row: [where its text begins in `out`, cells, blocks]

    def run(self, root) -> tuple[str | None, list[Section]]:
        from lxml import etree

        self.bold_classes = _bold_classes(root)
        walker = etree.iterwalk(root, events=("start", "end"))
        start, end, emit, push, pop = self.start, self.end, self.out.append, self.stack.append, self.stack.pop
        plain = self.plain_classes
        for count, (event, el) in enumerate(walker):
            if event == "end":
                code = pop()
                if code:
                    end(el, code)
                elif tail := el.tail:  # the commonest end, inline: a plain element's
                    emit(tail)
                continue
            if (
                el.tag == "a" and self.heading < 0 and (_source_link(el) or _footnote_mark(el))
            ):  # in a heading, "#" names its anchor
                push(SKIPPED)
                walker.skip_subtree()
                continue
            tag = el.tag  # the commonest start, inline: links, plainly classed markup (not a bold line heading)
            if tag in INLINE and self.heading < 0 and (tag not in BOLD_TAGS or self._bold_lead(el) is None):
                names = el.keys()
                if not names or (INERT.issuperset(names) and ("class" not in names or el.get("class") in plain)):
                    push(self._open_link() if el.tag == "a" else PLAIN)
                    if text := el.text:
                        emit(text)
                    continue
            if start(el):
                walker.skip_subtree()
            elif count & 4095 == 0:
                self.budget.check_time()
        return self._sections()

    def start(self, el) -> bool:
        """Open an element; True when its content is to be skipped."""
        tag, out, stack = el.tag, self.out, self.stack
        if type(tag) is not str:  # an entity or other non-element node the parser kept
            stack.append(SKIPPED)
            return True
        cls = ident = role = None
        hidden = False
        for name, value in el.items():
            if name == "class":
                cls = value
            elif name == "id":
                ident = value
            elif name == "role":
                role = value
            elif name == "aria-hidden" and value == "true":
                role = "navigation"  # hidden from readers: dropped like navigation
            elif name == "hidden":
                hidden = True
            elif name == "name" and tag == "a" and ident is None:  # an anchor of older HTML: <a name="SEC175">
                ident = value
        # a bold first line over the rest of its paragraph: <p><b>Can I park?</b><br>Yes, ...</p>
        if tag in BOLD_TAGS and (lead := self._bold_lead(el)) is not None:
            stack.append(HEADING)
            self._open_heading(bold_level(lead), ident)
            if text := el.text:
                out.append(text)
            return False
        if (  # inline markup with no id, no role, no chrome class
            tag in INLINE
            and ident is None
            and role is None
            and not hidden
            and (cls is None or not _chrome_name(f"{cls} "))
            and len(stack) < MAX_DEPTH
            and (tag != "a" or self.heading < 0)
        ):
            if cls is not None and len(stack) < MAX_DEPTH // 2:  # later ones go by the quick path in `run`
                self.plain_classes.add(cls)
            stack.append(self._open_link() if tag == "a" else PLAIN)
            if text := el.text:
                out.append(text)
            return False
        if tag in NOISE_TAGS or role in NOISE_ROLES or (tag == "header" and not self.articles and not _titled(el)):
            if tag == "head":
                self._title(el)
            if self.heading < 0:  # an icon or a hidden span inside a heading leaves nothing out under it
                self.skipped.append(len(out))
            self.stack.append(SKIPPED)
            return True
        if len(self.stack) >= MAX_DEPTH:  # flattened: its text, without structure or chrome rules
            out.append("".join(el.itertext()))
            self.stack.append(SKIPPED)
            return True
        code = PLAIN
        if self.rows:  # what the innermost open row holds: one line or lines (`_fold_row`)
            row = self.rows[-1]
            if tag in HOLDS_LINES:
                row[2] = sys.maxsize  # more blocks than any row may hold
            elif tag in BLOCK_TAGS:
                row[2] += 1
            elif tag == "td" or tag == "th":
                row[1] += 1
        if tag == "pre" and not self.code_depth:
            code = CODE
            out.append(CODE_LINE)
            self.code_depth += 1
        elif tag in TERM_HEADS and self.heading < 0 and not self.rows and (_defines(el, cls, ident) or _asks(el)):
            code = HEADING  # a signature, or a FAQ's question (<dt>, an accordion's <summary>), heads its answer
            depth = sum(1 for _ in el.iterancestors("dd", "details")) - (tag == "summary")
            self._open_heading(DEFINITION_LEVEL + min(depth, MAX_DEFINITION_DEPTH), ident)
        elif (
            tag in BOLD_LINE_TAGS
            and self.heading < 0
            and not self.rows
            and (bold := _bold_line(el, cls, self.bold_classes))
        ):
            code = HEADING
            self._open_heading(bold_level(bold), ident)
        elif tag in BLOCK_TAGS:
            code = BLOCK | (CHROME_FLAG if _switches_language(el) else 0)
            out.append("\n")
            if tag == "tr":
                code |= ROW_FLAG
                self.rows.append([len(out), 0, 0])
        elif tag == "td" or tag == "th":
            code = CELL
        elif tag in HEADINGS and self.heading < 0:
            code = HEADING
            self._open_heading(HEADINGS[tag], ident)
        elif self.heading >= 0 and tag == "a":
            if not self.inner:
                self.inner = ident or el.get("name") or ""  # DocBook: <h2><a id="s3.1"></a>3.1 Title</h2>
            href = el.get("href") or ""
            if href.startswith("#") and not WORD_CHAR.search("".join(el.itertext())):
                self.inner = self.inner or href[1:]  # the heading's link to itself names its anchor (Doxygen)
                stack.append(SKIPPED)  # its text: "#" (Node.js), "◆" (Doxygen), an icon
                return True
            if _source_link(el):  # gi-docgen's "[src]"
                stack.append(SKIPPED)
                return True
        elif tag == "a":  # outside a heading: its text counts as links (`_kept`)
            code = self._open_link()
        if tag == "main" or tag == "article":
            code |= ARTICLE_FLAG | (MAIN_FLAG if tag == "main" else 0)
            self.articles += 1
            self.articles_seen += 1
        if role == "main":
            code |= ROLE_MAIN_FLAG
        known_plain = ident is None and cls in self.plain_classes  # what _chrome_name said of f"{cls} "
        if (cls or ident) and tag not in NEVER_CHROME and tag not in HEADINGS and not known_plain:
            chrome = _chrome_name(f"{cls} ") if cls else NOT_CHROME
            if chrome != CHROME and ident is not None and tag not in TERM_TAGS and _chrome_name(ident):
                slug = tag in SLUG_TAGS or (cls is not None and "sect" in cls)  # DocBook: <div class="sect1">
                titles = ident == TEXINFO_HEADER and self._titles_page(el)  # Asciidoctor's title block
                chrome = MAYBE_CHROME if slug or titles else CHROME
            if chrome == CHROME or (chrome == MAYBE_CHROME and self.open_maybe >= MAX_OPEN_MAYBE):
                code |= CHROME_FLAG
            elif chrome == MAYBE_CHROME:
                code |= MAYBE_FLAG
                self.open_maybe += 1
        if hidden:  # one of alternatives that a script shows: apart from the one before ("Command Ctrl+Tab")
            out.append(" ")
        if ident is not None and code & KIND != HEADING:  # a heading's own id is its anchor already
            code |= ID_FLAG
            self.ids.append((ident, len(out)))
        if code == CODE and _plain_inside(el):  # code blocks: thousands of spans, one string
            out.append(without_fences("".join(el.itertext())))
            stack.append(code)
            return True
        if code & FLAGS:
            self.opened.append((len(out), self.articles_seen))
        stack.append(code)
        if text := el.text:
            out.append(text)
        return False

    def end(self, el, code: int) -> None:
        """Close an element that is not plain: end its block, cell or heading, record its range."""
        kind, tail = code & KIND, el.tail
        if kind == BLOCK:
            if code & ROW_FLAG:
                self._fold_row(self.rows.pop())
            self.out.append("\n")
        elif kind == CODE:
            self.out.append(CODE_LINE)
            self.code_depth -= 1
        elif kind == CELL:
            self.out.append(f" {CELL_END} ")
        elif kind == HEADING:
            self._close_heading()
        elif kind == LINK:
            self.link_depth -= 1
            if not self.link_depth:
                self.links.append((self.link_begun, len(self.out)))
        if code & FLAGS:
            self._close_flagged(el, code)
        if tail:
            self.out.append(tail)

    def _fold_row(self, row: list[int]) -> None:
        """A table row's text on one line, its cells' paragraphs and the line breaks of its source folded to
        spaces (Asciidoctor and DocBook put each cell's text in a <p>): "Key | Effect", not a line each. Not a
        row holding lines (a list, code, a heading, another table), more than ROW_BLOCKS blocks a cell or
        ROW_CHARS characters: a page laid out in a table keeps its paragraphs."""
        begun, cells, blocks = row
        out, size = self.out, 0
        if blocks > ROW_BLOCKS * max(cells, 1):
            return
        for i in range(begun, len(out)):  # stops at ROW_CHARS: a row's pieces are read at most twice
            size += len(out[i])
            if size > ROW_CHARS:
                return
        for i in range(begun, len(out)):
            if "\n" in out[i]:
                out[i] = out[i].replace("\n", " ")

    def _bold_lead(self, el) -> str | None:
        """The text of a bold element that is the first line of its paragraph (a line break after it) and heads
        the rest of it, else None."""
        if self.heading >= 0 or self.rows or (el.tail and not el.tail.isspace()):
            return None
        after, parent = el.getnext(), el.getparent()
        if (
            after is None
            or after.tag != "br"
            or parent is None
            or parent.tag not in BOLD_LINE_TAGS
            or parent[0] is not el
        ):
            return None
        if (parent.text and not parent.text.isspace()) or _bold_line(parent, parent.get("class"), self.bold_classes):
            return None  # words before it, or the paragraph is this line alone (a heading already)
        above = parent.getparent()
        if above is not None and (above.tag in NOT_HEADED_IN or _names_a_caption(above.get("class"))):
            return None
        text = _words_of(el)
        return text if reads_as_heading(text) else None

    def _open_link(self) -> int:
        """Start a link's range (unless inside another link); its code, LINK."""
        if not self.link_depth:
            self.link_begun = len(self.out)
        self.link_depth += 1
        return LINK

    def _titles_page(self, el) -> bool:
        """Whether the element's h1 is the page's <title> itself (a site's header names the site instead)."""
        h1 = next(el.iter("h1"), None)
        return h1 is not None and self.title is not None and _words_of(h1) == self.title

    def _title(self, head) -> None:
        found = head.find("title")
        if self.title is None and found is not None:
            self.title = _words_of(found) or None

    def _open_heading(self, level: int, ident: str | None) -> None:
        # Its anchor: its own id, an anchor inside it, or the nearest enclosing id with no text between it
        # and the heading (Sphinx: <section id="install"><span id="..."></span><h2>), else an empty element's
        # with an id just before it (Texinfo: <span id="..."></span><h3>); a few pieces are looked at.
        out = self.out
        self.level, self.own, self.inner, self.wrapper = level, ident or "", "", ""
        for wrapper, begun in (*self.ids[-1:], self.empty_id):
            if len(out) - begun <= WRAPPER_PIECES and all(p.isspace() for p in out[begun:]):
                self.wrapper = wrapper
                break
        self.heading = len(out)

    def _close_heading(self) -> None:
        out, begun = self.out, self.heading
        text = " ".join("".join(out[begun:]).split()).removesuffix(PERMALINK).rstrip()
        if DEFINITION_LEVEL <= self.level < BOLD_LEVEL:
            text = text.lstrip(": ")  # Texinfo's empty category before a signature
        del out[begun:]
        while self.chrome and self.chrome[-1][0] >= begun:  # ranges inside the heading: it is whole or gone
            self.chrome.pop()
        self.heading = -1
        if text:
            bold = self.level >= BOLD_LEVEL
            if bold:
                out.append("\n")  # a paragraph of its own when it heads nothing (`_heading_marks`)
            self.marks.append((len(out), self.level, text, self.own or self.inner or self.wrapper or None))
            out.append(text)
            if bold:
                out.append("\n")

    def _close_flagged(self, el, code: int) -> None:
        begun, articles_seen = self.opened.pop()
        if code & MAYBE_FLAG:
            self.open_maybe -= 1
            if _mostly_links(el):
                code |= CHROME_FLAG
        if code & CHROME_FLAG and self.articles_seen == articles_seen:  # never one holding an article
            self.chrome.append((begun, len(self.out)))
        if code & MAIN_FLAG and self.main is None:
            self.main = (begun, len(self.out))
        if code & ROLE_MAIN_FLAG and self.role_main is None:
            self.role_main = (begun, len(self.out))
        if code & ARTICLE_FLAG:
            self.articles -= 1
        if code & ID_FLAG:
            ident, begun = self.ids.pop()
            if all(p.isspace() for p in self.out[begun:]):  # an empty anchor: the heading after it may take it
                self.empty_id = (ident, len(self.out))

    def _kept(self) -> list[tuple[int, int]]:
        """Ranges of `out` to keep: the main region, without its chrome. Chrome that holds half the page's
        text or more is dropped only when links make most of its text (a site's table of contents beside
        a short page) and words are left outside headings: else its class or id misnamed the content."""
        out = self.out
        sizes = [0, *accumulate(map(len, out))]  # characters before each piece
        half = sizes[-1] / 2
        start, end = self.main or self.role_main or (0, len(out))
        chrome = [(s, e) for s, e in self.chrome if e > start and s < end]
        drops = [(s, e) for s, e in chrome if sizes[e] - sizes[s] < half]
        if len(drops) == len(chrome):
            return self._between(start, end, sorted(drops))
        solid, linked = self._solid_and_linked
        large = [
            (s, e)
            for s, e in chrome
            if sizes[e] - sizes[s] >= half and 2 * (linked[e] - linked[s]) >= solid[e] - solid[s]
        ]
        kept = self._between(start, end, sorted(drops + large))
        headings = {mark[0] for mark in self.marks}
        if any(i not in headings and WORD_CHAR.search(out[i]) for b, e in kept for i in range(b, e)):
            return kept
        return self._between(start, end, sorted(drops))

    def _without_link_preamble(self, kept: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The ranges without the text before the page's first heading when links make most of it: a site's
        name, breadcrumbs and menus above the title, which no class named (the Apache manual's)."""
        first = _first_inside([mark[0] for mark in self.marks], kept)
        if first is None:
            return kept
        solid_before, linked_before = self._solid_and_linked
        above = [(b, min(e, first)) for b, e in kept if b < first]
        solid = sum(solid_before[e] - solid_before[b] for b, e in above)
        linked = sum(linked_before[e] - linked_before[b] for b, e in above)
        if not solid or 2 * linked < solid:
            return kept
        prose = [block for b, e in above for block in self._blocks(b, e, solid_before, linked_before)]
        return prose + [(max(b, first), e) for b, e in kept if e > first]

    def _blocks(
        self, begin: int, end: int, solid: list[int], linked: list[int], prose: bool = True
    ) -> list[tuple[int, int]]:
        """The blocks of a range (between line breaks) that read as prose beside its links, PROSE_CHARS word
        characters or more: with `prose`, without a link and ending a sentence (a module's description above
        its list of functions); else less than half links (a table of contents' introduction)."""
        out, blocks, start = self.out, [], begin
        for i in range(begin, end + 1):
            if i < end and out[i] != "\n":
                continue
            chars, in_links = solid[i] - solid[start], linked[i] - linked[start]
            if chars >= PROSE_CHARS and (
                not in_links and SENTENCE_END.search("".join(out[start:i])) if prose else 2 * in_links < chars
            ):
                blocks.append((start, i))
            start = i + 1
        return blocks

    @staticmethod
    def _lists_links(spans: list[tuple[int, int]], solid: list[int], linked: list[int], starts: list[int]) -> bool:
        """Whether a section is a list of links: LIST_LINKS or more, LIST_SHARE of its word characters."""
        links = sum(bisect_left(starts, e) - bisect_left(starts, b) for b, e in spans)
        chars = sum(solid[e] - solid[b] for b, e in spans)
        return links >= LIST_LINKS and sum(linked[e] - linked[b] for b, e in spans) >= LIST_SHARE * chars

    @cached_property
    def _solid_and_linked(self) -> tuple[list[int], list[int]]:
        """Word characters before each piece of `out`, in all pieces and in links' pieces (counted once, when the
        walk is over): the ">" and "|" between a breadcrumb's links are not text that stands apart from them."""
        counts = [len(NOT_WORD.sub("", piece)) for piece in self.out]
        in_link = [0] * (len(counts) + 1)
        for begun, ended in self.links:
            in_link[begun] += 1
            in_link[ended] -= 1
        linked = [count if depth else 0 for count, depth in zip(counts, accumulate(in_link), strict=False)]
        return [0, *accumulate(counts)], [0, *accumulate(linked)]

    @staticmethod
    def _between(start: int, end: int, drops: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The ranges from start to end outside the drops (sorted by start)."""
        kept, position = [], start
        for drop_start, drop_end in drops:
            if drop_start > position:
                kept.append((position, min(drop_start, end)))
            position = max(position, drop_end)
        if position < end:
            kept.append((position, end))
        return kept

    def _heading_marks(self) -> list[tuple[int, int, str, str | None]]:
        """The headings' marks, but a bold line's that heads nothing (a cover's lines one after another, a
        bold line before a heading): its text stays where it stands, a paragraph."""
        out, marks = self.out, self.marks
        ends = [mark[0] for mark in marks[1:]] + [len(out)] if marks else []
        return [
            mark
            for mark, end in zip(marks, ends, strict=True)
            if mark[1] < BOLD_LEVEL or "".join(out[mark[0] + 1 : end]).strip()
        ]

    def _sections(self) -> tuple[str | None, list[Section]]:
        """Sections by heading. A heading that a heading of its level or higher follows with nothing between
        them starts the next section's text (Erlang's function signature above its "Types", Qt's overloads
        headed one after the other): it was in neither the text nor a heading path. A heading above what was
        left out (a table of contents, a form) is not carried."""
        out = self.out
        solid, linked = self._solid_and_linked
        link_starts = [begun for begun, _ in self.links]
        lists = 0  # sections that were lists of links
        sections: list[Section] = []
        path: list[tuple[int, str]] = []
        anchor: str | None = None
        h1: str | None = None
        spans: list[tuple[int, int]] = []  # the open section's ranges of `out`
        bare: list[str] = []  # headings without text, for the next section's text

        def end_section() -> bool:
            nonlocal lists
            listed = self._lists_links(spans, solid, linked, link_starts)
            if listed:  # an index or a table of contents: only its blocks of prose are kept
                lists += 1
                spans[:] = [block for b, e in spans for block in self._blocks(b, e, solid, linked, prose=False)]
            body = paragraphs(("\n" if listed else "").join("".join(out[b:e]) for b, e in spans))
            spans.clear()
            if body:
                sections.append(Section(tuple(h for _, h in path), "\n\n".join([*bare, body]), anchor))
                bare.clear()
            return bool(body) or listed

        marks = iter(self._heading_marks())
        none = (len(out), 0, "", None)
        mark, level, text, anchor_of = next(marks, none)
        last = -2  # the last heading's place in `out`
        for begin, finish in self._without_link_preamble(self._kept()):
            while mark < begin:  # a heading in a dropped range
                mark, level, text, anchor_of = next(marks, none)
            while mark < finish:  # a heading inside this range: the text before it ends a section
                spans.append((begin, mark))
                nothing_between = begin == last + 1 and bisect_right(self.skipped, mark) == bisect_right(
                    self.skipped, last
                )
                if not end_section() and path and 1 < level <= path[-1][0] and nothing_between:
                    bare.append(path[-1][1])
                last = mark
                if level == 1 and h1 is None:
                    h1 = text
                path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, text)]
                anchor = anchor_of
                begin = mark + 1
                mark, level, text, anchor_of = next(marks, none)
            spans.append((begin, finish))
        end_section()
        if lists and not sections:
            raise SourceFailed("a page of links only (an index or a table of contents)")
        return _page_title(self.title, h1), sections
