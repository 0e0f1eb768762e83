"""reStructuredText (Sphinx and docutils sources): its words without markup, under its underlined titles.

Roles, literals, links and emphasis keep their text (":func:`os.walk`" is "os.walk", "`the guide <u>`_" is
"the guide"); admonitions keep a label ("Note:", "Deprecated since version 3.2:"); directives that hold
no prose (toctree, include, image, index, raw), comments and link targets go with their blocks; a
directive's options go. Line by line and with linear patterns: the text is untrusted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from cdgpt.ingest.extract.document import Section
from cdgpt.ingest.extract.text import plain_text

EXPLICIT = re.compile(r"^([ \t]*)\.\.(?:[ \t]+|$)(.*)$")  # ".. name:: argument", ".. _target:", ".. comment"
DIRECTIVE = re.compile(r"([\w][\w:.+-]*)::(?:[ \t]+(.*))?$")
OPTION = re.compile(r"[ \t]+:[\w][\w .-]*:(?:[ \t]|$)")  # ":maxdepth: 2" under a directive
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
ROLE = re.compile(r":[\w][\w.+:-]{0,40}:`([^`]*)`")  # :ref:`text <target>`, :py:func:`~os.walk` (bounded: linear)
LITERAL = re.compile(r"``([^`]+)``")
LINK = re.compile(r"`([^`]+)`_{0,2}")  # `text <url>`_, `text`_, `interpreted text`
TARGET = re.compile(r"<[^<>]*>$")  # a reference's "<url>" or a role's "<target>"
STRONG = re.compile(r"\*\*([^*]+)\*\*")
EMPHASIS = re.compile(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])")
NOTE_REFERENCE = re.compile(r"[ \t]?\[(?:#[\w-]*|\*|\d+|[A-Za-z][\w.-]*)\]_")  # [1]_, [#note]_, [CIT2002]_
LITERAL_MARK = re.compile(r"::[ \t]*$")  # "as follows::" before a literal block
BLOCKS = re.compile(r"(\n[ \t]*\n)")  # inline markup may span the lines of a paragraph, not paragraphs


def restructured_text(text: str) -> tuple[str | None, list[Section]]:
    pieces: list[str] = []
    prose: list[str] = []
    for line, literal in _lines(text):
        if literal:  # code keeps its backticks and asterisks
            if prose:
                pieces.append(_inline("\n".join(prose)))
                prose.clear()
            pieces.append(line)
        else:
            prose.append(line)
    pieces.append(_inline("\n".join(prose)))
    return plain_text("\n".join(pieces))


def _lines(text: str) -> Iterator[tuple[str, bool]]:
    """The text's lines without explicit markup and literal-block marks, each with whether it is code."""
    skip_below: int | None = None  # the indent of a block going whole: lines indented deeper go too
    options_below: int | None = None  # a directive's indent, while its options may follow
    literal_below: int | None = None  # the indent of the line before a literal block, while in it
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" \t"))
        blank = not line.strip()
        if skip_below is not None:
            if blank or indent > skip_below:
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
        explicit = EXPLICIT.match(line)
        if explicit is None:
            if LITERAL_MARK.search(line):
                literal_below = indent
            yield ("" if line.strip() == "::" else LITERAL_MARK.sub(":", line)), False
            continue
        directive = DIRECTIVE.match(explicit.group(2))
        name = directive.group(1).lower() if directive else ""
        if directive is None or name in NO_PROSE:
            skip_below = indent  # a comment, a target, a substitution or a directive without prose
            continue
        options_below = indent
        if name in CODE:
            literal_below = indent
        yield explicit.group(1) + _directive_line(name, directive.group(2) or ""), False


def _directive_line(name: str, argument: str) -> str:
    """What a directive's own line shows: a label and its argument (a title, a version, an object's
    signature: ".. confval:: project"), or nothing for code's language and a figure's image."""
    if name in LABELS:
        return f"{LABELS[name]}: {argument}".rstrip()
    if name in VERSIONS:
        return f"{VERSIONS[name]} {argument}:"
    return "" if name in CODE or name == "figure" else argument


def _inline(line: str) -> str:
    line = LITERAL.sub(r"\1", line)
    line = ROLE.sub(lambda m: _shown(m.group(1)).lstrip("~!"), line)
    line = LINK.sub(lambda m: _shown(m.group(1)), line)
    line = STRONG.sub(r"\1", line)
    line = EMPHASIS.sub(r"\1", line)
    return NOTE_REFERENCE.sub("", line)


def _shown(text: str) -> str:
    """A reference's text without its target: "the guide <https://...>" is "the guide"."""
    return TARGET.sub("", text).rstrip() or text
