"""Plain text and Markdown: decoding (declared charset, UTF-8, detection) and `#`-heading sections."""

from __future__ import annotations

import re

from cdgpt.errors import SourceFailed
from cdgpt.ingest.extract.document import Section

HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
MD_MARKS = re.compile(r"\*\*|__|`")
FENCE = re.compile(r"^\s*(```|~~~)")


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


def check_text(text: str) -> None:
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


def markdown(text: str) -> tuple[str | None, list[Section]]:
    title, sections = parse_markup(text)
    title = title and plain_markdown(title)
    return title, [Section(tuple(map(plain_markdown, s.headings)), plain_markdown(s.text)) for s in sections]


def plain_text(text: str) -> list[Section]:
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    body = "\n\n".join(p for p in paragraphs if p)
    return [Section((), body)] if body else []
