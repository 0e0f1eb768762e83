"""A web page that is a plain-text document shown in one `<pre>` (Vim's help, an RFC, a mailing list's
message): read as plain text, its paragraphs and titles found as in a .txt file, not kept line by line
as code under the page's title alone."""

from __future__ import annotations

import re
from typing import Any

MIN_CHARS = 2_000  # a shorter <pre> is an example, whatever the page
PAGE_SHARE = 0.7  # of the page's text, at least, in the <pre>
PROSE_SHARE = 0.15  # of its lines, at least, starting with five words (code has some, in its comments)
HIGHLIGHTED = 0.1  # elements with a class per line, at most: more is highlighted code (a source listing)
PROSE_LINE = re.compile(r"[ \t]*(?:[^\W\d_][\w'’,.:-]*(?:[ \t]+|$)){5}")  # five words first ("#" is no word)
CODE_MARK = re.compile(r"[{}();=<>\[\]\\`$]")
# the <pre> elements near the body's top, MIN_CHARS long or more: a page of plain text is not nested deep
NEAR_TOP = "(/html/body/pre | /html/body/*/pre | /html/body/*/*/pre)[string-length() >= $least]"


def text_page(root: Any) -> tuple[str, dict[str, str]] | None:
    """The text of the page's one `<pre>` when it is the page's text and reads as prose, and the first
    anchor on each of its lines with one (by the line's text, its whitespace folded); else None. The
    page's other text (at most 30%: a link back to an index, a mail's From and Date lines) is left out."""
    found = root.xpath(NEAR_TOP, least=MIN_CHARS)  # lengths counted in libxml2: no string is made
    if not found:
        return None
    largest = max(found, key=lambda pre: pre.xpath("string-length()"))
    if largest.xpath("string-length()") < PAGE_SHARE * root.xpath("string-length(/html/body)"):
        return None
    text, anchors = _text_and_anchors(largest)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    classed = sum(1 for el in largest.iterdescendants() if el.get("class"))
    if classed > HIGHLIGHTED * len(lines):
        return None
    prose = sum(1 for line in lines if PROSE_LINE.match(line) and len(CODE_MARK.findall(line)) <= 1)
    return (text, anchors) if prose >= PROSE_SHARE * len(lines) else None


def _text_and_anchors(pre: Any) -> tuple[str, dict[str, str]]:
    """The element's text (as `itertext`), and the first anchor (`<a name>` or an id inside it) on each line."""
    from lxml import etree

    pieces: list[str] = []
    named: list[tuple[int, str]] = []  # (where in the text, name)
    size = 0
    for event, el in etree.iterwalk(pre, events=("start", "end")):
        piece = el.text if event == "start" else (el.tail if el is not pre else None)
        if event == "start" and el is not pre and (name := el.get("name") or el.get("id")):
            named.append((size, name))
        if piece:
            pieces.append(piece)
            size += len(piece)
    text = "".join(pieces)
    anchors: dict[str, str] = {}
    for at, name in named:
        start, end = text.rfind("\n", 0, at) + 1, text.find("\n", at)
        anchors.setdefault(" ".join(text[start : end if end >= 0 else len(text)].split()), name)
    return text, anchors
