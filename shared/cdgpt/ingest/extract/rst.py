"""reStructuredText (Sphinx and docutils sources): its words without markup, under its underlined titles.

Roles, literals, links, emphasis and substitutions keep their text (":func:`os.walk`" is "os.walk",
"`the guide <u>`_" is "the guide"); admonitions keep a label ("Note:", "Deprecated since version 3.2:");
footnotes keep their text; directives that hold no prose (toctree, include, image, index, raw),
comments and link targets go with their blocks; a directive's options go; code stays as written.
A table's borders go: each row is a paragraph of its cells with " | " between them (`_Table`).
Line by line, then paragraph by paragraph, with linear patterns: the text is untrusted.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Iterator

from cdgpt.ingest.extract.document import Section
from cdgpt.ingest.extract.text import UNDERLINE, fenced, plain_text

EXPLICIT = re.compile(r"^([ \t]*)\.\.(?:[ \t]+|$)(.*)$")  # ".. name:: argument", ".. _target:", ".. comment"
DIRECTIVE = re.compile(r"([\w][\w:.+-]*) ?::(?:[ \t]+(.*))?$")  # docutils allows one space before "::"
FOOTNOTE = re.compile(r"\[(?:#[\w-]*|\*|\d+|[A-Za-z][\w.-]*)\](?:[ \t]+(.*))?$")  # ".. [1] text", ".. [CIT] text"
SUBSTITUTION = re.compile(r"^[ \t]*\.\.[ \t]+\|([^|\n]{1,60})\|[ \t]+replace::[ \t]*(.*)$", re.MULTILINE)
OPTION = re.compile(r"[ \t]+:[\w][\w .-]*:(?:[ \t]|$)")  # ":maxdepth: 2" under a directive
PAGE_FIELD = re.compile(r":(?:orphan|tocdepth|nocomments|nosearch):")  # Sphinx's metadata atop a page
ANONYMOUS_TARGET = re.compile(r"[ \t]*__[ \t]")  # "__ https://..."
# Directives whose block holds no prose of the page: it goes whole.
NO_PROSE = frozenset(
    ["toctree", "include", "literalinclude", "raw", "image", "index", "meta", "highlight", "contents",
     "sectnum", "target-notes", "default-role", "role", "tabularcolumns", "currentmodule", "module",
     "autosummary", "graphviz"]
)  # fmt: skip
# Directives whose argument follows a label ("Note: ...") or comes before a colon ("New in version 3.2:").
LABELS = {
    "note": "Note", "warning": "Warning", "tip": "Tip", "important": "Important", "caution": "Caution",
    "attention": "Attention", "danger": "Danger", "error": "Error", "hint": "Hint", "seealso": "See also",
}  # fmt: skip
VERSIONS = {
    "versionadded": "New in version",
    "versionchanged": "Changed in version",
    "deprecated": "Deprecated since version",
}
CODE = frozenset(["code-block", "code", "sourcecode", "doctest", "testcode", "testoutput", "parsed-literal"])
NO_ARGUMENT = CODE | {"figure", "only", "ifconfig"}  # a language, an image, a condition: not prose
# One pass over a paragraph: each span of markup is read once, a literal's text as written.
INLINE = re.compile(
    r"\\(?P<escaped>.)"
    r"|``(?P<literal>[^`]+)``"
    r"|:[\w][\w.+:-]{0,40}:`(?P<role>[^`]*)`"  # :ref:`text <target>`, :py:func:`~os.walk` (bounded: linear)
    r"|`(?P<link>[^`]+)`_{0,2}"  # `text <url>`_, `text`_, `interpreted text`
    r"|\*\*(?P<strong>[^*]+)\*\*"
    r"|(?<![\w*])\*(?P<emphasis>[^*\s][^*]*)\*(?![\w*])"
    r"|\|(?P<substitution>[^|\s][^|\n]{0,59})\|_{0,2}"
    r"|[ \t]?\[(?:#[\w-]*|\*|\d+|[A-Za-z][\w.-]*)\]_"  # a footnote or citation reference: [1]_, [#note]_
    r"|(?<=[A-Za-z0-9])_{1,2}(?!\w)",  # a named reference: tracker_
    re.DOTALL,
)
TARGET = re.compile(r"<[^<>]*>$")  # a reference's "<url>" or a role's "<target>"
LITERAL_MARK = re.compile(r"::[ \t]*$")  # "as follows::" before a literal block
GRID_BORDER = re.compile(r"[ \t]*\+(?:[-=]+\+)+[ \t]*$")  # "+-----+-----+" of a grid table
SIMPLE_BORDER = re.compile(r"[ \t]*[=-]{2,}(?:[ \t]+[=-]{2,})+[ \t]*$")  # "=====  =====", and "-----  --" under spans
CELL_GAP = re.compile(r"[ \t]{2,}|\t")  # between a simple table's cells
BORDER_PIECE = re.compile(r"[-=+]{3,}")  # a grid row's piece of border, where a cell spans rows


def restructured_text(text: str) -> tuple[str | None, list[Section]]:
    substitutions = {name.strip(): value.strip() for name, value in SUBSTITUTION.findall(text)}
    pieces: list[str] = []
    run: list[str] = []  # lines of one paragraph, whose inline markup is read together
    code: list[str] = []  # lines of one literal block, as written
    for line, literal in [*_lines(text), ("", False)]:
        if run and (literal or not line.strip() or UNDERLINE.fullmatch(line.strip())):
            pieces.append(_inline("\n".join(run), substitutions))
            run.clear()
        if literal:
            code.append(line)
            continue
        if code:
            pieces.append(f"\n{fenced(textwrap.dedent(chr(10).join(code)))}\n")
            code.clear()
        if line.strip() and not UNDERLINE.fullmatch(line.strip()):
            run.append(line)
        else:
            pieces.append(line)  # a blank line or a title's adornment
    return plain_text("\n".join(pieces))


def _lines(text: str) -> Iterator[tuple[str, bool]]:
    """The text's lines without explicit markup and literal-block marks, each with whether it is code."""
    skip_below: int | None = None  # the indent of a block going whole: lines indented deeper go too
    skip_to_blank = False  # an empty comment ("..") ends at a blank line
    options_below: int | None = None  # a directive's indent, while its options may follow
    literal_below: int | None = None  # the indent of the line before a literal block, while in it
    table = _Table()
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" \t"))
        blank = not line.strip()
        if skip_below is not None:
            if (blank and not skip_to_blank) or (not blank and indent > skip_below):
                continue
            skip_below = None
        if options_below is not None:
            if indent > options_below and OPTION.match(line):
                continue
            options_below = None
        if literal_below is not None:
            if blank or indent > literal_below:
                yield line, True
                continue
            literal_below = None
        if GRID_BORDER.match(line) or SIMPLE_BORDER.match(line):
            yield from table.border(line)
            continue
        if table.kind is not None:
            if not blank:
                yield from table.row(line)
                continue
            yield from table.blank()
            if table.kind is not None:  # a blank line between a simple table's rows
                continue
        explicit = EXPLICIT.match(line)
        if explicit is None:
            if PAGE_FIELD.match(line) or ANONYMOUS_TARGET.match(line):
                continue
            if LITERAL_MARK.search(line):
                literal_below = indent
            yield ("" if line.strip() == "::" else LITERAL_MARK.sub(":", line)), False
            continue
        body = explicit.group(2)
        if footnote := FOOTNOTE.match(body):
            yield explicit.group(1) + (footnote.group(1) or ""), False
            continue
        directive = DIRECTIVE.match(body)
        name = directive.group(1).lower() if directive else ""
        if directive is None or name in NO_PROSE:
            skip_below, skip_to_blank = indent, not body  # a comment, a target, a substitution, no prose
            continue
        options_below = indent
        if name in CODE:
            literal_below = indent
        yield explicit.group(1) + _directive_line(name, directive.group(2) or ""), False
    yield from table.flush()


class _Table:
    """The table being read, if any: its rows as their cells, " | " between them, without borders. A grid
    row is split at its bars, a cell's lines joined; a simple one where two spaces or more stand, and a
    simple row whose first column is blank continues the row before (its text joins the last cell). A
    simple table ends at its third "=" border (the one under a header is its second), and at a blank
    line but between the rows of a table with a header; a grid table at a blank line."""

    def __init__(self) -> None:
        self.kind: str | None = None  # "grid" or "simple" while open
        self.equals = 0  # a simple table's "=" borders so far ("-" rules under a header's spans aside)
        self.after_border = False
        self.first_column = 0  # where a simple table's first column ends
        self.cells: list[str] = []  # the simple row being read
        self.continued: list[str] = []  # its continuation lines' text, for its last cell
        self.lines: list[list[str]] = []  # the grid row being read: each line's pieces between bars

    def border(self, line: str) -> Iterator[tuple[str, bool]]:
        yield from self.flush()
        kind = "grid" if line.lstrip().startswith("+") else "simple"
        if kind != self.kind:
            self.equals = 0
        self.kind, self.after_border = kind, True
        if kind == "simple":
            spaced = line.expandtabs()
            self.first_column = len(spaced) - len(spaced.lstrip().lstrip("=-"))
            self.equals += spaced.lstrip().startswith("=")
            if self.equals == 3:
                self.kind = None
        yield "", False

    def row(self, line: str) -> Iterator[tuple[str, bool]]:
        self.after_border = False
        if self.kind == "grid":
            pieces = line.strip().strip("|").split("|")
            self.lines.append([piece for piece in pieces if not BORDER_PIECE.fullmatch(piece.strip())])
            return
        spaced = line.expandtabs()  # for its indent; a tab parts cells wherever it stands
        cells = CELL_GAP.split(line.strip())
        if self.cells and len(spaced) - len(spaced.lstrip()) >= self.first_column:
            self.continued.extend(cells)
            return
        yield from self.flush()
        self.cells = cells

    def blank(self) -> Iterator[tuple[str, bool]]:
        yield from self.flush()
        if self.kind == "grid" or self.after_border or self.equals != 2:
            self.kind = None

    def flush(self) -> Iterator[tuple[str, bool]]:
        if self.cells:
            last = " ".join([self.cells[-1], *self.continued])
            yield _cells([*self.cells[:-1], last]), False
            yield "", False
            self.cells, self.continued = [], []
        if len({len(pieces) for pieces in self.lines}) == 1:  # a grid row's lines: each cell's lines join
            self.lines = [[" ".join(piece.strip() for piece in column) for column in zip(*self.lines, strict=True)]]
        for pieces in self.lines:  # else (a cell spans columns on some lines) line by line
            yield _cells(pieces), False
            yield "", False
        self.lines = []


def _cells(cells: Iterable[str]) -> str:
    return " | ".join(cell for cell in map(str.strip, cells) if cell)


def _directive_line(name: str, argument: str) -> str:
    """What a directive's own line shows: a label and its argument (a title, a version, an object's
    signature: ".. confval:: project"), or nothing for code's language, a figure's image, a condition."""
    if name in LABELS:
        return f"{LABELS[name]}: {argument}".rstrip()
    if name in VERSIONS:
        return f"{VERSIONS[name]} {argument}:"
    return "" if name in NO_ARGUMENT else argument


def _inline(text: str, substitutions: dict[str, str]) -> str:
    def shown(match: re.Match[str]) -> str:
        kind, value = match.lastgroup, match.group(match.lastgroup or 0)
        if kind in ("escaped", "literal", "strong", "emphasis"):
            return value
        if kind == "substitution":
            return substitutions.get(value.strip(), "")  # an image's substitution shows no words
        if kind == "role":
            return _without_target(value).lstrip("~!")
        if kind == "link":
            return _without_target(value)
        return ""  # a footnote reference, a named reference's underscore

    return INLINE.sub(shown, text)


def _without_target(text: str) -> str:
    """A reference's text without its target: "the guide <https://...>" is "the guide"."""
    return TARGET.sub("", text).rstrip() or text
