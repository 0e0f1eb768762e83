"""Plain text and Markdown: decoding (declared charset, UTF-8, detection) and `#`-heading sections."""

from __future__ import annotations

import codecs
import re

from cdgpt.errors import SourceFailed
from cdgpt.ingest.extract.document import Section

HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
MD_MARKS = re.compile(r"\*\*|__|`")
FENCE = re.compile(r"^\s*(```|~~~)")
SPACES = re.compile(r"\s+")
BLANK_LINE = re.compile(r"\n\s*\n")
NOT_TEXT = re.compile("[\x00-\x08\x0b\x0e-\x1f\ufffd]")  # controls other than \t \n \f \r, and U+FFFD
SURROGATE = re.compile("[\ud800-\udfff]")
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))  # fmt: skip
UTF = frozenset(["utf-8", "utf-8-sig", "utf-16", "utf-32"])
# Codecs Python counts as text encodings that are really escapes or transforms: a page may not pick them.
NOT_CHARSETS = frozenset(["unicode-escape", "raw-unicode-escape", "punycode", "idna", "undefined", "utf-7"])


def text_codec(charset: str | None) -> str | None:
    """The codec for a declared charset when it names a real text encoding, else None."""
    if not charset or len(charset) > 40:
        return None
    try:
        info = codecs.lookup(charset)
    except LookupError:
        return None
    if not info._is_text_encoding or info.name in NOT_CHARSETS:  # rot13, base64, unicode_escape...
        return None
    return info.name


def without_surrogates(text: str) -> str:
    """Lone surrogates (from a broken decoder or PDF font map) cannot be encoded: make them U+FFFD."""
    return SURROGATE.sub("\ufffd", text) if SURROGATE.search(text) else text


def _try(content: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    try:
        return content.decode(codec).removeprefix("\ufeff")
    except (UnicodeDecodeError, LookupError):
        return None


def decode(content: bytes, charset: str | None, sniffed: str | None = None) -> str:
    """A byte order mark first, then the declared charset, the one the document declares itself, UTF-8, detection."""
    return decode_as(content, charset, sniffed)[0]


def decode_as(content: bytes, charset: str | None, sniffed: str | None = None) -> tuple[str, str]:
    """The text and the codec that decoded it (see decode)."""
    bom = next((codec for mark, codec in BOMS if content.startswith(mark)), None)
    for codec in (bom, text_codec(charset), text_codec(sniffed), "utf-8"):
        text = _try(content, codec)
        if text is not None:  # the UTF decoders refuse lone surrogates themselves
            return (text if codec in UTF else without_surrogates(text)), str(codec)
    from charset_normalizer import from_bytes

    best = from_bytes(content).best()
    if best is None or text_codec(best.encoding) is None:
        raise SourceFailed("binary data, not text")
    return without_surrogates(str(best)), best.encoding


def plain_markdown(text: str) -> str:
    """Inline Markdown to its words: links and images keep their text; **, __ and ` go."""
    text = MD_LINK.sub(r"\1", text)
    return MD_MARKS.sub("", text)


def check_text(text: str) -> None:
    """Refuse text that is mostly control characters or replacement marks: binary data decoded as text."""
    sample = text[:20000]
    if sample and len(NOT_TEXT.findall(sample)) / len(sample) > 0.02:
        raise SourceFailed("binary data, not text")


def paragraphs(text: str) -> str:
    """Paragraphs separated by blank lines; each line's whitespace folded and bare table separators dropped."""
    done: list[str] = []
    current: list[str] = []
    for raw_line in text.splitlines():
        line = " ".join(raw_line.split()).strip("| ") if raw_line else ""  # most lines of a page's text are empty
        if line:
            current.append(line)
        elif current:
            done.append("\n".join(current))
            current = []
    if current:
        done.append("\n".join(current))
    return "\n\n".join(done)


def parse_markup(text: str) -> tuple[str | None, list[Section]]:
    """Split Markdown-like text into sections by `#` headings; return (first H1, sections)."""
    title: str | None = None
    path: list[tuple[int, str]] = []
    sections: list[Section] = []
    lines: list[str] = []
    in_fence = False

    def end_section() -> None:
        body = paragraphs("\n".join(lines))
        lines.clear()
        if body:
            sections.append(Section(tuple(h for _, h in path), body))

    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else HEADING.match(" ".join(line.split()).strip("| "))
        if match:
            end_section()
            level, heading = len(match.group(1)), match.group(2)
            if level == 1 and title is None:
                title = heading
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading)]
        else:
            lines.append(line)
    end_section()
    return title, sections


def markdown(text: str) -> tuple[str | None, list[Section]]:
    title, sections = parse_markup(text)
    title = title and plain_markdown(title)
    return title, [Section(tuple(map(plain_markdown, s.headings)), plain_markdown(s.text)) for s in sections]


def plain_text(text: str) -> list[Section]:
    """Paragraphs with their whitespace folded (a regex, not a list of every word: texts can be large)."""
    folded = (SPACES.sub(" ", p).strip() for p in BLANK_LINE.split(text))
    body = "\n\n".join(p for p in folded if p)
    return [Section((), body)] if body else []
