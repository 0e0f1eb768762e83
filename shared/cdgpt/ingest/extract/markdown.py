"""Markdown: a CommonMark parser's blocks (with GitHub's tables) into sections by headings.

Paragraphs keep their words: emphasis marks, link targets, reference definitions, escapes and HTML tags go.
Code keeps every character and its indentation, a paragraph of its own (`text.fenced`). A list is a
paragraph of its items, a line each ("- ", "2. "); a table a paragraph per row of its cells ("a | b").
The title is the front matter's `title`, else the first level-1 heading.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import TYPE_CHECKING

from cdgpt.ingest.extract.document import Section
from cdgpt.ingest.extract.outline import bold_level, reads_as_heading, unhead_bold_line
from cdgpt.ingest.extract.text import fenced, joined_cjk_lines

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

# YAML metadata atop a page: "---", then "key: value" lines (or indented, list or comment lines), "---"
FRONT_MATTER = re.compile(  # each line matches one way only: no backtracking across lines
    r"\A---[ \t]*\n[A-Za-z_][\w.-]*[ \t]*:.*\n(?:[A-Za-z_][\w.-]*[ \t]*:.*\n|[ \t#-].*\n|\n)*?---[ \t]*(?:\n|\Z)"
)
FRONT_FIELD = re.compile(r"^(title|description)[ \t]*:[ \t]*(.*?)[ \t]*$", re.MULTILINE)
TAG = re.compile(r"</?[A-Za-z][^<>]*>")  # in HTML written into the page (not "a < b and c > d")
HTML_HEADING = re.compile(r"<h([1-6])\b[^>]*>(.*?)</h\1>", re.DOTALL | re.IGNORECASE)
ADMONITION = re.compile(r'(?:!!!|\?\?\?\+?)[ \t]*([\w-]+)(?:[ \t]+"([^"\n]*)")?[ \t]*')  # MkDocs' "!!! note"
FENCED_CALLOUT = re.compile(r"^:::[ \t]*(\w+)?[ \t]*(.*)$", re.MULTILINE)  # Docusaurus: ":::tip Title" ... ":::"
MAX_CALLOUT_DEPTH = 8  # admonitions within admonitions read as Markdown; deeper ones' text is code
ALERT = re.compile(r"\A\[!(NOTE|TIP|IMPORTANT|WARNING|CAUTION)\]\s*", re.IGNORECASE)  # GitHub's "> [!NOTE]"


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def markdown(text: str) -> tuple[str | None, list[Section]]:
    front = FRONT_MATTER.match(text)
    fields = dict(FRONT_FIELD.findall(front.group())) if front else {}
    title = _unquoted(fields.get("title", "")) or None
    blocks = _Blocks()
    if description := _unquoted(fields.get("description", "")):
        blocks.add(description)
    blocks.read(_parser().parse(text[front.end() :] if front else text))
    blocks.finish()
    return title or blocks.title, blocks.sections


class _Blocks:
    """Sections built from the parser's tokens, in order."""

    def __init__(self) -> None:
        self.title: str | None = None
        self.sections: list[Section] = []
        self.path: list[tuple[int, str]] = []
        self.paragraphs: list[str] = []
        self.items: list[str] = []  # the lines of the list being read, one paragraph when it ends
        self.lists: list[int | None] = []  # each open list's next number, None when bulleted
        self.marker = ""  # the open list item's marker, for its first line
        self.row: list[str] | None = None  # the cells of the table row being read
        self.level = 0  # the open heading's level
        self.callout = False  # whether an admonition's line ("!!! note") was the last block read

    def read(self, tokens: list[Token], depth: int = 0) -> None:
        for token in tokens:
            kind = token.type
            callout, self.callout = self.callout, self.callout and kind == "paragraph_close"
            if kind == "inline":
                self._inline_block(token.children or [])
            elif kind == "code_block" and callout and depth < MAX_CALLOUT_DEPTH:  # an admonition's text: Markdown
                self.read(_parser().parse(token.content), depth + 1)
            elif kind == "heading_open":
                self.level = int(token.tag[1])
            elif kind in ("bullet_list_open", "ordered_list_open"):
                self.lists.append(int(token.attrGet("start") or 1) if kind == "ordered_list_open" else None)
            elif kind in ("bullet_list_close", "ordered_list_close"):
                self.lists.pop()
                if not self.lists:
                    self._end_list_paragraph()
            elif kind == "list_item_open":
                number = self.lists[-1]
                self.marker = "- " if number is None else f"{number}. "
                if number is not None:
                    self.lists[-1] = number + 1
            elif kind == "tr_open":
                self.row = []
            elif kind == "tr_close" and self.row is not None:
                self.add(" | ".join(self.row))
                self.row = None
            elif kind in ("fence", "code_block"):
                self.add_code(token.content)
            elif kind == "html_block" and (heading := HTML_HEADING.fullmatch(token.content.strip())):
                self.level = int(heading.group(1))  # a README's <h1 align="center">
                self._inline(_html_text(heading.group(2)))
            elif kind == "html_block":
                self.add("\n".join(" ".join(line.split()) for line in _html_text(token.content).splitlines()))

    def _inline_block(self, children: list[Token]) -> None:
        """A paragraph's (or heading's, or cell's) inline tokens. A paragraph that is one line in bold
        ("**Eligibility**") or opens with one ("**Q: Can I park here?**", then the answer on the next line)
        heads what follows, when the line reads as a heading."""
        lead = None if self.level or self.row is not None or self.lists else _bold_lead(children)
        if lead is not None:
            head, rest = _words(children[: lead[0]]), children[lead[1] :]
            if reads_as_heading(head):
                self.level = bold_level(head)
                self._inline(head)
                if rest:
                    self._inline(_words(rest))
                return
        self._inline(_words(children))

    def _inline(self, words: str) -> None:
        if self.level:
            heading = " ".join(words.split())
            if heading:
                if not self.items:
                    unhead_bold_line(self.path, self.paragraphs, self.sections)
                self.end_section()
                if self.level == 1 and self.title is None:
                    self.title = heading
                self.path = [(lvl, h) for lvl, h in self.path if lvl < self.level] + [(self.level, heading)]
            self.level = 0
        elif self.row is not None:
            self.row.append(" ".join(words.split()))
        else:
            first, _, rest = words.partition("\n")
            if admonition := ADMONITION.fullmatch(first):  # MkDocs: its text follows, indented
                self.callout = not rest  # after a blank line, the indented text is a code block to read
                label = (admonition.group(1) or "note").capitalize()
                words = f"{label}: {admonition.group(2) or ''}".strip() + (f"\n{rest}" if rest else "")
            lines = (" ".join(line.split()) for line in FENCED_CALLOUT.sub(_callout_label, words).splitlines())
            self.add("\n".join(line for line in lines if line))

    def add(self, text: str) -> None:
        """A block's text: a paragraph, or a line of the list being read (its item's marker on the first)."""
        text = text.strip("\n")
        if not text.strip():
            return
        if self.lists:
            self.items.append(self.marker + text)
            self.marker = ""
        else:
            self.paragraphs.append(text)

    def add_code(self, code: str) -> None:
        """Code: a paragraph of its own, as written (inside a list, between two paragraphs of its items)."""
        if block := fenced(code):
            self._end_list_paragraph()
            self.paragraphs.append(block)

    def _end_list_paragraph(self) -> None:
        if self.items:
            self.paragraphs.append("\n".join(self.items))
            self.items.clear()

    def finish(self) -> None:
        if not self.items:
            unhead_bold_line(self.path, self.paragraphs, self.sections)
        self.end_section()

    def end_section(self) -> None:
        self._end_list_paragraph()  # a heading inside a list item ends the list's paragraph
        if self.paragraphs:
            self.sections.append(Section(tuple(h for _, h in self.path), "\n\n".join(self.paragraphs)))
            self.paragraphs.clear()


def _bold_lead(children: list[Token]) -> tuple[int, int] | None:
    """When inline tokens open with a strong span that is the whole of them or of their first line: where
    the span ends, and where the tokens after it (the next lines) begin; else None."""
    depth, end = 0, None
    for index, child in enumerate(children):
        blank = child.type == "text" and not child.content.strip()
        if end is None:
            if depth == 0 and not blank and child.type != "strong_open":
                return None
            depth += {"strong_open": 1, "strong_close": -1}.get(child.type, 0)
            if depth == 0 and not blank:
                end = index + 1
        elif child.type in ("softbreak", "hardbreak"):
            return end, index + 1
        elif not blank:
            return None
    return (end, len(children)) if end is not None else None


def _words(children: list[Token]) -> str:
    """Inline tokens' words: text and code as written, an image's description, line breaks kept."""
    parts = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)
    return ALERT.sub(lambda m: m.group(1).capitalize() + ": ", joined_cjk_lines("".join(parts))).strip()


def _html_text(written: str) -> str:
    """The text of HTML written into the page: comments and tags go (in one pass: linear), entities are read."""
    kept, at = [], 0
    while (start := written.find("<!--", at)) != -1:
        kept.append(written[at:start])
        end = written.find("-->", start + 4)
        at = len(written) if end == -1 else end + 3
    kept.append(written[at:])
    return html.unescape(TAG.sub(" ", "".join(kept)))


def _callout_label(line: re.Match[str]) -> str:
    return f"{line.group(1).capitalize()}: {line.group(2)}".strip() if line.group(1) else ""


def _unquoted(value: str) -> str:
    return value[1:-1].strip() if len(value) > 1 and value[0] == value[-1] and value[0] in "\"'" else value
