"""Plain text: decoding (declared charset, UTF-8, detection), and sections by titles underlined (and maybe
overlined) with one punctuation mark, as in plain text and reStructuredText, their levels in order of first
appearance."""

from __future__ import annotations

import codecs
import re

from cdgpt.errors import SourceFailed
from cdgpt.index.terms import CJK, LETTER, without_surrogates
from cdgpt.ingest.chunking import FENCE, is_code
from cdgpt.ingest.extract.document import Section

# A whole line of one mark, 3 or more: a title's underline (not "_": a form's or a signature's blank)
UNDERLINE_MARKS = r"([=\-~^\"'`#*+<>:.])\1{2,}"
UNDERLINE = re.compile(UNDERLINE_MARKS)
UNDERLINED = re.compile(rf"^[^\S\n]*\S.*\n[^\S\n]*{UNDERLINE_MARKS}[^\S\n]*$", re.MULTILINE)  # a line, then one
RULE = re.compile(r"([-*=_~#+])\1{2,}")  # a line of one of these alone, outside code, is a rule: no words
NOT_TITLE = re.compile(r"[-*+>|](?:\s|$)|.*[,;:]$")  # a bullet, quote or table row; "Regards,"
SPACES = re.compile(r"\s+")
# A numbered title of plain text, at the left margin: "1. Scope", "2.3. Leave", "Chapter 4. Upgrading"
NUMBERED_TITLE = re.compile(
    r"((?:chapter|part|appendix)\s+[\dIVXLC]+[.:]?|\d{1,2}(?:\.\d{1,2})*\.?)\s+\S.{0,198}", re.I
)
MIN_TITLES = 3
RULED = re.compile(r"[ \t]*([-=*~#+_])\1{9,}[ \t]*")  # a rule over a title (Vim's help), at least ten marks
TITLE_CHARS = 100  # a title under a rule is no longer
CAPITAL_TITLE_CHARS = 80  # nor one in capitals
CODE_FENCE_LINE = re.compile(r"^[ \t]*```[ \t]*$", re.MULTILINE)
WRAPPED_LINE = 20  # characters of a line that a text wrapped (a list's items are shorter)
CJK_BREAK = re.compile(rf"(?<=[{CJK}。，、；：！？）」』])[ \t]*\n[ \t]*(?=[{CJK}（「『])")  # a wrapped line of Chinese
ITEM_LINE = re.compile(r"\n(?=[ \t]*(?:[-*+•]|\d{1,3}[.)]|:\w[^:\n]*:)[ \t])")  # "- x", "2. x", ":Author: x"
BLANK_LINE = re.compile(r"\n\s*\n")
NOT_TEXT = re.compile("[\x00-\x08\x0b\x0e-\x1f\ufffd]")  # controls other than \t \n \f \r, and U+FFFD
SPACELESS = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"  # scripts written without spaces between words
WORD_SEPARATOR = re.compile(f"(?<=[{SPACELESS}])\u200b(?=[{SPACELESS}])")
# HTML's table cells end with a noncharacter (for internal use): "|" between cells, none at a line's ends
CELL_END = "\ufdd0"
# Characters that show nothing and split words: soft hyphen, zero-width space, word joiner, a BOM within the text
# (Docusaurus ends each heading with a zero-width space; "inter&shy;national" is one word); the private use
# area, where icon fonts draw their icons (MkDocs' link icon after every heading); and control characters but
# tabs and line breaks (a PDF's icon font maps its glyph to U+0000)
INVISIBLE = re.compile("[\x00-\x08\x0e-\x1f\x7f\u00ad\u200b\u2060\ufeff\ue000-\uf8ff]")
NON_ASCII = re.compile(r"[^\x00-\x7f]+")
WESTERN = re.compile("[À-ÖØ-öø-ÿŒœŠšŽžŸ€£¥©®°±«»¿¡·–—‘’‚“”„•…§¶]+")  # Windows-1252's letters and marks of prose
# What Czech and Croatian in Windows-1250 become in Windows-1252: ř with ě or ů ("pøíspìvek"), č with ć or
# đ ("kuæa", "è"): pairs that no Western language writes, where each letter alone is French, Italian or Danish
CENTRAL_TELL = re.compile("(?=.*[øØ])(?=.*[ìÌùÙ])|(?=.*[èÈ])(?=.*[æÆðÐ])", re.DOTALL)
WESTERN_SHARE = 0.2  # of a Western European text's characters, at most this many are not ASCII (short French: 15%)
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))  # fmt: skip
UTF = frozenset(["utf-8", "utf-8-sig", "utf-16", "utf-32"])
WESTERN_LABELS = frozenset(["iso8859-1", "cp1252", "iso8859-15"])  # whose text is seldom valid UTF-8 beyond ASCII
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


def visible(text: str) -> str:
    """The text without invisible characters, and with lone surrogates made U+FFFD. Between Thai, Lao, Khmer
    or Burmese letters a zero-width space separates words: it becomes a space."""
    if INVISIBLE.search(text):
        text = INVISIBLE.sub("", WORD_SEPARATOR.sub(" ", text))
    return without_surrogates(text)


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
    declared = [codec for codec in (text_codec(charset), text_codec(sniffed)) if codec]
    if declared and declared[0] in WESTERN_LABELS and not content.isascii() and _try(content, "utf-8"):
        declared = ["utf-8"]  # labelled Western, but multi-byte UTF-8 throughout: mislabelled (Vim's pages)
    for codec in (bom, *declared, "utf-8"):
        text = _try(content, codec)
        if text is not None:  # the UTF decoders refuse lone surrogates themselves
            return (text if codec in UTF else without_surrogates(text)), str(codec)
    if (western := _western(content)) is not None:
        return western, "cp1252"
    from charset_normalizer import from_bytes

    best = from_bytes(content).best()
    if best is None or text_codec(best.encoding) is None:
        raise SourceFailed("binary data, not text")
    return without_surrogates(str(best)), best.encoding


def _western(content: bytes) -> str | None:
    """The text as Windows-1252 when it reads as Western European text there: a few accented letters and
    typographic marks among ASCII words ("Señor Peña", "Größe"), never runs of them (two-byte Chinese). The
    detector takes short Spanish or French for Central European ("Seńor")."""
    text = _try(content, "cp1252")
    if text is None:
        return None
    runs = NON_ASCII.findall(text)
    if (
        sum(map(len, runs)) > WESTERN_SHARE * len(text)
        or any(len(run) > 3 or not WESTERN.fullmatch(run) for run in runs)
        or CENTRAL_TELL.match(text)
    ):
        return None
    return text


def check_text(text: str) -> None:
    """Refuse text that is mostly control characters or replacement marks: binary data decoded as text."""
    sample = text[:20000]
    if sample and len(NOT_TEXT.findall(sample)) / len(sample) > 0.02:
        raise SourceFailed("binary data, not text")


def fenced(code: str) -> str:
    """Code as a paragraph of its own: its lines as written between fence lines, without blank ones (a blank
    line ends a paragraph). `paragraphs`, plain text and chunking keep such a paragraph's lines as they are."""
    lines = [line.rstrip() for line in without_fences(code).splitlines() if line.strip()]
    return "\n".join([FENCE, *lines, FENCE]) if lines else ""


def without_fences(code: str) -> str:
    """Code whose own fence lines (a page showing Markdown) are marked, so that none closes the block it is in:
    a zero-width space after them, which extraction's last step takes out again (`visible`)."""
    return CODE_FENCE_LINE.sub("\\g<0>\u200b", code) if FENCE in code else code


def paragraphs(text: str) -> str:
    """Paragraphs separated by blank lines; each line's whitespace folded and cell ends (CELL_END) at its ends
    dropped, "|" between cells, but for code between fence lines, a paragraph as written."""
    done: list[str] = []
    current: list[str] = []
    lines = text.splitlines()
    code = _code_blocks(lines)
    i = 0
    while i < len(lines):
        if i in code:
            if current:
                done.append(joined_cjk_lines("\n".join(current)))
                current = []
            if block := fenced("\n".join(lines[i + 1 : code[i]])):
                done.append(block.replace(CELL_END, "|"))
            i = code[i] + 1
            continue
        raw_line = lines[i]
        line = " ".join(raw_line.split()).strip(CELL_END + " ") if raw_line else ""  # most lines are empty
        line = line.replace(CELL_END, "|")
        if line:
            current.append(line)
        elif current:
            done.append(joined_cjk_lines("\n".join(current)))
            current = []
        i += 1
    if current:
        done.append(joined_cjk_lines("\n".join(current)))
    return "\n\n".join(done)


def _code_blocks(lines: list[str]) -> dict[int, int]:
    """Each code block's opening fence line and its closing one; a fence left open is text."""
    fences = [i for i, line in enumerate(lines) if line.strip() == FENCE]
    return dict(zip(fences[::2], fences[1::2], strict=False))


def parse_markup(text: str) -> tuple[str | None, list[Section]]:
    """Split plain text or reStructuredText into sections by its underlined titles; return (the first
    title, sections)."""
    title: str | None = None
    path: list[tuple[int, str]] = []
    sections: list[Section] = []
    lines: list[str] = []
    styles: dict[tuple[str, bool], int] = {}  # (mark, overlined) -> level, as first seen

    def end_section() -> None:
        kept = (line for line, fenced in zip(lines, in_code, strict=True) if fenced or not RULE.fullmatch(line.strip()))
        body = paragraphs("\n".join(kept))
        lines.clear()
        in_code.clear()
        if body:
            sections.append(Section(tuple(h for _, h in path), body))

    all_lines = text.splitlines()
    code = _code_blocks(all_lines)
    in_code: list[bool] = []  # whether each of the lines is code (or its fence)
    closing = -1  # the open code block's closing fence line
    for i, line in enumerate(all_lines):
        closing = code.get(i, closing)
        folded = " ".join(line.split()).strip("| ")
        if i <= closing or not _underlined(lines, folded):
            lines.append(line)
            in_code.append(i <= closing)
            continue
        heading, overlined = " ".join(lines.pop().split()), bool(lines) and lines[-1].strip() == folded
        in_code.pop()
        if overlined:
            lines.pop()
            in_code.pop()
        level = styles.setdefault((folded[0], overlined), len(styles) + 1)
        end_section()
        if level == 1 and title is None:
            title = heading
        path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading)]
    end_section()
    return title, sections


def _underlined(lines: list[str], line: str) -> bool:
    """Whether `line` underlines the line before it, a title standing alone (after a blank line or its overline)."""
    if not lines or not UNDERLINE.fullmatch(line):
        return False
    title = lines[-1].strip()
    if not title or UNDERLINE.fullmatch(title) or NOT_TITLE.match(title) or len(title) > len(line) + 2:
        return False
    return len(lines) < 2 or not lines[-2].strip() or lines[-2].strip() == line


def plain_text(text: str) -> tuple[str | None, list[Section]]:
    """Paragraphs with their whitespace folded (a regex, not a list of every word: texts can be large),
    under the titles underlined in the text, if any (reStructuredText, many a README); else under its
    numbered titles or its titles under rules, whichever make more sections, else its titles in capitals."""
    if UNDERLINED.search(text) is None:
        if titled := max(_ruled_sections(text), _numbered_sections(text), key=len) or _capital_sections(text):
            return None, titled
        return None, [Section((), body)] if (body := _folded(text)) else []
    title, sections = parse_markup(text)
    return title, [Section(s.headings, _folded(s.text)) for s in sections]


def _numbered_sections(text: str) -> list[Section]:
    """Sections under numbered titles ("1.2. Scope", "Chapter 3. Upgrading"): up to three lines of their own
    from the left margin, between blank lines, not ending a sentence, before text or a deeper title; at
    least MIN_TITLES of them, else none (a numbered list is no outline). Levels by their numbers."""
    blocks = BLANK_LINE.split(text)
    levels = [_title_level(block) for block in blocks]
    titles = {
        i: (level, " ".join(block.split()))
        for i, (block, level) in enumerate(zip(blocks[:-1], levels, strict=False))
        if level and (not levels[i + 1] or levels[i + 1] > level)
    }
    return _outlined(blocks, titles, "\n\n")


def _ruled_sections(text: str) -> list[Section]:
    """Sections under the lines that follow a rule standing alone (Vim's help: a line of "=" over each
    chapter's title), at least MIN_TITLES of them, else none. A title under a rule is a short
    line of its own that ends no sentence; levels by the rule's mark, in order of first appearance."""
    lines = text.splitlines()
    rules = [RULED.fullmatch(line) for line in lines]
    titles: dict[int, tuple[int, str]] = {}  # title line -> its level and text
    marks: dict[str, int] = {}
    for i, rule in enumerate(rules[:-1]):
        if rule is None or (i and lines[i - 1].strip()):  # a rule under a line underlines it
            continue
        at = i + 2 if not lines[i + 1].strip() else i + 1  # a blank line may stand between them
        title, after = (lines[at].strip() if at < len(lines) else ""), (lines[at + 1] if at + 1 < len(lines) else "")
        short = title and len(title) <= TITLE_CHARS and not title.endswith((".", ",", ";"))
        if short and not RULE.fullmatch(title) and not after.strip():  # a rule after a rule is no title
            titles[at] = (marks.setdefault(rule[1], len(marks) + 1), " ".join(title.split()))
    return _outlined(["" if rule else line for line, rule in zip(lines, rules, strict=True)], titles, "\n")


def _capital_sections(text: str) -> list[Section]:
    """Sections under titles in capitals ("ELIGIBILITY", "HOW TO APPLY"): a short line after a blank one,
    every letter a capital, not ending a sentence, its next line blank or not in capitals (the first line
    of a paragraph in capitals is no title), but the text's first line, its name ("GNU GENERAL PUBLIC
    LICENSE" heading every term was less telling than the licence's own words); at least MIN_TITLES of them,
    else none."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)  # the document's name, not a section's
    titles: dict[int, tuple[int, str]] = {}
    for i, line in enumerate(lines):
        if i == first or (i and lines[i - 1].strip()) or not _in_capitals(line):
            continue
        if i + 1 < len(lines) and lines[i + 1].isupper():  # a paragraph in capitals goes on
            continue
        titles[i] = (1, " ".join(line.split()))
    return _outlined(lines, titles, "\n")


def _in_capitals(line: str) -> bool:
    """A short line of words in capitals that ends no sentence and is no rule, bullet or label."""
    title = line.strip()
    return (
        0 < len(title) <= CAPITAL_TITLE_CHARS
        and title.isupper()
        and len(LETTER.findall(title)) >= 2
        and not title.endswith((".", ",", ";", ":", "!"))
        and not NOT_TITLE.match(title)
    )


def _outlined(pieces: list[str], titles: dict[int, tuple[int, str]], joiner: str) -> list[Section]:
    """Sections of the pieces (blocks or lines) under the titles among them (piece -> level, text), at
    least MIN_TITLES of them, else none; a title's path holds the titles of lower levels before it."""
    if len(titles) < MIN_TITLES:
        return []
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []
    for i, piece in enumerate([*pieces, ""]):
        if i not in titles and i < len(pieces):
            body.append(piece)
            continue
        if folded := _folded(joiner.join(body)):
            sections.append(Section(tuple(h for _, h in path), folded))
        body.clear()
        if i in titles:
            level, title = titles[i]
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, title)]
    return sections


def _title_level(block: str) -> int:
    """A numbered title's level (the count of its numbers; a chapter's 1), or 0 for any other block."""
    block = block.strip("\n")
    if block[:1].isspace() or block.count("\n") > 2 or block.rstrip().endswith((".", ",", ";")):
        return 0
    match = NUMBERED_TITLE.fullmatch(" ".join(block.split()))
    if match is None:
        return 0
    return len(re.findall(r"\d+", match.group(1))) if match.group(1)[0].isdigit() else 1


def joined_cjk_lines(text: str) -> str:
    """The text without the line breaks between two CJK characters after a line of WRAPPED_LINE characters or
    more: a wrapped line of Chinese goes on without a space, and its bigram across the break stays whole (a
    list of short lines keeps its lines)."""
    if "\n" not in text:
        return text
    return CJK_BREAK.sub(lambda m: "" if m.start() - text.rfind("\n", 0, m.start()) > WRAPPED_LINE else m.group(), text)


def _folded(text: str) -> str:
    """Each paragraph's whitespace folded, but for the line breaks before a list's items and a field list's
    fields, which keep their lines, and for code."""
    folded = (
        p if is_code(p) else "\n".join(SPACES.sub(" ", line).strip() for line in ITEM_LINE.split(joined_cjk_lines(p)))
        for p in BLANK_LINE.split(text)
    )
    return "\n\n".join(p.strip("\n") for p in folded if p.strip())
