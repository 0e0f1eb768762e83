"""A PDF's pages as sections: running headers and footers dropped, lines joined into paragraphs, and the
heading path from the document's outline (bookmarks), split where a heading starts inside a page."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cdgpt.index.terms import CJK, LETTER  # LETTER: a running line has words, a table's last row of figures none
from cdgpt.ingest.extract.document import Section
from cdgpt.ingest.extract.pdf_tables import RECORD_BREAK

MAX_OUTLINE = 10_000  # outline entries read; a larger outline is ignored (pages keep "Page N")
BULLET = re.compile(r"[•◦▪‣∙●○■□➢►–—∗*-]\s")  # a list item's first line
NUMBERED = re.compile(r"(\d{1,3})[.)]\s")  # a numbered item's first line ("2. ", "3) "), or a wrapped sentence's end
SENTENCE_END = (".", "!", "?", ":", "。", "！", "？", "：")
PAGE_NUMBER = re.compile(r"\d+|\b[ivxlc]+\b")
PAGE_NUMBER_ALONE = re.compile(r"[^\w#]*#[^\w#]*")  # "3", "- 3 -", "[3]"
HEADING_LINE, HEADING_WORDS = 0.6, 12  # a heading's line: under this share of the widest line, at most these words
SHORT_LINE = 0.8  # a line ending a sentence under this share of the page's widest line ends a paragraph
# A heading's numbering, in a line without its spaces, lower-cased: 6.3.6, iv., a), chapter6, 第二章
NUMBERING = re.compile(r"[\divx]+(?:[.)][\divx]+)*[.)]?|[a-z][.)]|chapter\d+|appendix[a-z]|第.{1,3}[章节]")
MAX_NUMBERING = 16  # characters of numbering before a title
CHAPTER_GAP = 2  # pages between two pages under one chapter's running header (left and right pages differ)
EDGE_LINES = 2  # lines at a page's top or bottom that may be a running header or footer
CJK_TEXT = re.compile(f"[{CJK}\u3000-\u303f\uff00-\uffef\u201c\u201d\u2018\u2019]")  # and its punctuation
SPACED_CJK = re.compile(f"[{CJK}](?: [{CJK}]){{2,}}")  # justified Chinese drawn letter-spaced: "标 准 执 行"
LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
                           "\ufb05": "st", "\ufb06": "st"})  # fmt: skip
LEADER = re.compile(r"(?:\s?\.){4,}\s*(\d+|[ivxlc]+)$", re.IGNORECASE)  # a contents entry's end: "...... 7"
CONTINUED_LINES = 5  # a sentence running on to the next page ends within this many of its lines, or stays cut
CONTENTS_ENTRIES = 3  # a page's entries of a table of contents, at least, with page numbers that never go down
PAGE_LABEL = re.compile(r"(?:page |p\. ?)?#(?: ?(?:of|/) ?#)?", re.IGNORECASE)  # "3", "Page 3 of 4", "3 / 4"
BROKEN_WORD = re.compile(r"([^\W\d_]+) ?-$")  # a word broken at the line's end ("Per-", LibreOffice's "un -")
WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
NOTE = re.compile(r"(\d{1,3}) +\S")  # a footnote's first line: its number, a space, its text
# what a footnote's mark is glued to: a word's last two letters, or a Chinese character, and the
# punctuation after them ("employment1", "probation.2", "计算3，")
MARKED = f"(?:[^\\W\\d_]{{2}}[.,;:!?)\\]\"'’”]?|[{CJK}][，。；：！？）」]?)"
GLUED = re.compile(r"\w+(?:[^\w\s]\d+)?")  # a word, and a number after its punctuation ("probation.2")


@dataclass(frozen=True)
class OutlineEntry:
    page: int  # 1-based
    path: tuple[str, ...]  # the titles from the top of the outline down to this entry


def outline(reader: Any, pages: int) -> list[OutlineEntry]:
    """The outline's entries that go forward through the pages, in its order; none when it is missing or
    broken. An entry pointing back (a list of figures after the chapters) or nowhere (a web link) heads
    no text, though its children keep its title in their path."""
    entries: list[OutlineEntry] = []

    def walk(items: list, parent: tuple[str, ...]) -> None:
        path = parent
        for item in items:
            if isinstance(item, list):  # the children of the entry before it
                walk(item, path)
                continue
            title = " ".join(str(item.title).split())
            path = (*parent, title) if title else parent
            index = reader.get_destination_page_number(item)
            forward = isinstance(index, int) and 0 <= index < pages and (not entries or index + 1 >= entries[-1].page)
            if title and forward and len(entries) < MAX_OUTLINE:
                entries.append(OutlineEntry(index + 1, path))

    try:
        walk(reader.outline, ())
    except Exception:  # a malformed outline only costs its headings (pypdf raises many kinds)
        return []
    return entries


def running_lines(pages: list[list[str]]) -> set[str]:
    """Headers and footers: the shapes (digits aside) of lines among the EDGE_LINES first or last that half the
    pages share (both pages of two); in a document of one page, only a page number ("1", "Page 1 of 1")."""
    shapes: Counter[str] = Counter()
    for lines in pages:
        shapes.update({_shape(line) for line in (lines[:EDGE_LINES] + lines[-EDGE_LINES:])})
    if len(pages) == 1:
        return {shape for shape in shapes if PAGE_LABEL.fullmatch(shape) or PAGE_NUMBER_ALONE.fullmatch(shape)}
    shared = len(pages) / 2 if len(pages) >= 3 else len(pages)
    return {shape for shape, count in shapes.items() if count >= shared and _running_shape(shape)}


def _running_shape(shape: str) -> bool:
    """Whether a line of this shape may be a header or footer: words, or a page number alone ("- 3 -")."""
    return LETTER.search(shape) is not None or PAGE_NUMBER_ALONE.fullmatch(shape) is not None


def chapter_headers(pages: list[list[str]], running: set[str]) -> dict[int, str]:
    """Running headers of chapters, by page index: a first line with words whose shape (numbers aside) is
    the first line of another page at most CHAPTER_GAP pages away, differing from it in one number at
    most ("Chapter 1: Musical terms A-Z 4" atop pages 3 to 40; not a statement's rows of dates and
    amounts). A shape the whole document shares (in `running`: "Acme Handbook 3 / 4") heads only when
    another shape heads a page beyond its first and last: then it is a chapter's, most of the book. A
    page's only line is its text, not a header. `pages`: each page's lines that are not blank."""
    firsts: dict[str, list[int]] = {}
    lines: dict[int, str] = {}  # the first line of each page that may be a header
    for index, text in enumerate(pages):
        if len(text) >= 2 and LETTER.search(shape := _shape(text[0])):
            firsts.setdefault(shape, []).append(index)
            lines[index] = text[0]
    headed: dict[str, list[int]] = {}
    for shape, indexes in firsts.items():
        runs = [indexes[:1]]
        for index in indexes[1:]:
            last = runs[-1][-1]
            if index - last <= CHAPTER_GAP and _numbers_differing(lines[last], lines[index]) <= 1:
                runs[-1].append(index)
            else:
                runs.append([index])
        if near := [index for run in runs if len(run) >= 2 for index in run]:
            headed[shape] = near
    for shape in running & set(headed):
        first, last = min(headed[shape]), max(headed[shape])
        if not any(i < first or i > last for other, near in headed.items() if other != shape for i in near):
            del headed[shape]
    return {index: lines[index] for near in headed.values() for index in near}


def _numbered(headers: dict[int, str]) -> dict[int, str]:
    """The chapter headers that carry a page number: one number differs from a nearby page's header of
    their shape ("Chapter 6: Legal Matters 3" / "... 4"), unlike a slide's title repeated on its slides."""
    nearby = [d for gap in range(1, CHAPTER_GAP + 1) for d in (-gap, gap)]
    return {
        index: line
        for index, line in headers.items()
        if any(
            (near := headers.get(index + d)) is not None
            and _shape(line) == _shape(near)
            and _numbers_differing(line, near) == 1
            for d in nearby
        )
    }


def _numbers_differing(a: str, b: str) -> int:
    """How many of two lines' numbers (in digits or Roman) differ, the lines being of one shape."""
    return sum(x != y for x, y in zip(PAGE_NUMBER.findall(a), PAGE_NUMBER.findall(b), strict=False))


def sections(pages: list[tuple[int, str]], entries: list[OutlineEntry], outlined: bool = True) -> list[Section]:
    """One section per page, or per part of a page under one outline entry. Without an outline, a page
    under a chapter's running header is headed by it ("Chapter 1: Musical terms A-Z 4") instead of
    "Page N"; the header, page number and all, leaves the text. Entries not `outlined` (headings found
    by their size) head the pages instead, and the headers still leave the text."""
    lined = [[folded_line(line) for line in text.splitlines()] for _, text in pages]
    lined = [_without_contents(lines) for lines in lined]
    tokens = Counter(token for lines in lined for line in lines for token in GLUED.findall(line))
    lined = [_without_note_marks(lines, tokens) for lines in lined]
    texts = [[line for line in lines if line] for lines in lined]
    words = _words(texts)
    running = running_lines(texts)
    headers = chapter_headers(texts, running)
    if entries and outlined:  # with an outline they head nothing; those carrying page numbers leave the text
        headers = _numbered(headers)
    lined = [_without_edges(lines, _shape, running) for lines in lined]
    lined = _continued(
        [_without_edges(lines, str, {headers[i]}) if i in headers else lines for i, lines in enumerate(lined)]
    )
    out: list[Section] = []
    path: tuple[str, ...] = ()
    bare = ""  # the title of a part without text (no section has it): it starts the next section's text
    headed: tuple[str, ...] = ()  # the last section's path
    upcoming = iter(entries)
    entry = next(upcoming, None)
    for index, ((number, _), lines) in enumerate(zip(pages, lined, strict=True)):
        if index in headers and not entries:
            path = (headers[index],)
        elif not entries:
            path = ()
        while entry is not None and entry.page < number:  # entries of pages skipped (no text, or repeated)
            path, entry = entry.path, next(upcoming, None)
        here: list[OutlineEntry] = []
        while entry is not None and entry.page == number:
            here.append(entry)
            entry = next(upcoming, None)
        if not here:  # a page inside a chapter: its chapter's title atop (or below) it is a running header
            lines = _without_edges(lines, _compact, {_compact(title) for title in path})
        starts = _starts(lines, here)
        for part_path, part in _split(lines, starts, path):
            path = part_path
            text = paragraphs(part, words)
            if not text:
                bare = part_path[-1] if part_path and part_path != headed else bare
                continue
            if bare and bare not in part_path:  # a heading with no text of its own, heading nothing after
                text = f"{bare}\n\n{text}"
            out.append(Section(part_path or (f"Page {number}",), text, page=number))
            bare, headed = "", part_path
    return out


def _continued(pages: list[list[str]]) -> list[list[str]]:
    """Pages whose last sentence runs on to the next page ("... and agree a" / "review date, ...") end it:
    the next page's lines up to the one ending it (CONTINUED_LINES at most, starting in lower case or
    with Chinese) move back, so that a paragraph is not cut in two sections."""
    for page, after in itertools.pairwise(pages):
        last = next((line for line in reversed(page) if line), "")
        begin = next((i for i, line in enumerate(after) if line), None)
        if not last or begin is None or last.endswith(SENTENCE_END) or BULLET.match(after[begin]):
            continue
        if not (after[begin][0].islower() or (CJK_TEXT.match(last[-1]) and CJK_TEXT.match(after[begin][0]))):
            continue
        ends = [i for i in range(begin, min(begin + CONTINUED_LINES, len(after))) if after[i].endswith(SENTENCE_END)]
        if ends and all(after[begin : ends[0] + 1]):
            page.extend(after[begin : ends[0] + 1])
            del after[begin : ends[0] + 1]
    return pages


def _starts(lines: list[str], entries: list[OutlineEntry]) -> list[tuple[int, tuple[str, ...]]]:
    """(line, path) where each of the page's entries starts: the line that is its title, alone or after
    its numbering ("6.3 Installing"), in order down the page; when none is found, the last heads the page."""
    if not entries:
        return []
    at: dict[str, list[int]] = {}  # a line without spaces, lower-cased, and without its numbering -> lines
    for index, line in enumerate(lines):
        compact = _compact(line)
        at.setdefault(compact, []).append(index)
        for cut in range(1, min(MAX_NUMBERING, len(compact) - 1) + 1):
            if NUMBERING.fullmatch(compact[:cut]):
                at.setdefault(compact[cut:], []).append(index)
    starts: list[tuple[int, tuple[str, ...]]] = []
    after = -1
    for entry in entries:
        found = next((i for i in at.get(_compact(entry.path[-1]), ()) if i > after), None)
        if found is not None:
            starts.append((found, entry.path))
            after = found
    return starts or [(-1, entries[-1].path)]


def _split(
    lines: list[str], starts: list[tuple[int, tuple[str, ...]]], path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], list[str]]]:
    """The page's lines in parts, each under its heading path (a heading found in the text is left out)."""
    begin = 0
    for index, entry_path in starts:
        if index < 0:  # not found in the text: it heads the page
            path = entry_path
            continue
        yield path, lines[begin:index]
        path, begin = entry_path, index + 1
    yield path, lines[begin:]


def paragraphs(lines: list[str], words: frozenset[str] = frozenset()) -> str:
    """Lines joined into paragraphs: a blank line, a list item, or a short line ending a sentence ends one.
    A numbered item starts one after a sentence's end or after the item numbered one less; else its number
    may end a wrapped sentence ("... the exit status, which is" / "0. The next call ..."). `words`: the
    document's, which tell a hyphenated word from a compound broken at its hyphen (`_join`)."""
    widest = max((len(line) for line in lines if RECORD_BREAK not in line), default=0)  # a table's records aside
    out: list[str] = []
    current = ""
    for index, line in enumerate(lines):
        number, before = NUMBERED.match(line), NUMBERED.match(current)
        numbered = number and (current.endswith(SENTENCE_END) or (before and int(before[1]) + 1 == int(number[1])))
        if not line or ((BULLET.match(line) or numbered) and current):
            if current:
                out.append(current)
            current = ""
        if not line:
            continue
        heading = not current and _heading(line, lines[index + 1] if index + 1 < len(lines) else "", widest)
        current = _join(current, line, words)
        if heading or (line.endswith(SENTENCE_END) and len(line) < SHORT_LINE * widest):
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return "\n\n".join(out)


def _heading(line: str, after: str, widest: int) -> bool:
    """Whether a line starting a paragraph is a heading of its own: short, with words and no sentence's end,
    capitalised, as is the line after it ("Passwords" / "Passwords must be ...")."""
    return (
        len(line) < HEADING_LINE * widest
        and len(line.split()) <= HEADING_WORDS
        and not line.endswith((*SENTENCE_END, ",", ";"))
        and line[0].isupper()
        and after[:1].isupper()
        and LETTER.search(line) is not None
    )


def _join(text: str, line: str, words: frozenset[str] = frozenset()) -> str:
    """A line after the text before it: with a space, but none between Chinese characters or punctuation.
    A word hyphenated at the line's end ("Per-" / "sonal") is whole again; a compound broken at its hyphen
    keeps it ("third-" / "party"): the document uses it so, or both its parts as words of their own. After
    a space, only a word the document uses whole closes up ("un -" / "der"); else it is a dash."""
    if not text:
        return line
    if CJK_TEXT.match(text[-1]) and CJK_TEXT.match(line[0]):
        return text + line
    broken, rest = BROKEN_WORD.search(text[-64:]), WORD.match(line)
    if broken and rest and line[0].islower():
        head, tail, before = broken[1], rest[0].split("-")[0], text[: len(text) - len(broken[0])]
        whole, parts = (head + tail).casefold(), {head.casefold(), tail.casefold()}
        if " " in broken[0]:  # "un -" / "der", unless a dash ("closed -" / "except"): the whole word is known
            return f"{before}{head}{line}" if whole in words else f"{text} {line}"
        if whole in words or not (f"{head}-{tail}".casefold() in words or parts <= words):
            return f"{before}{head}{line}"
        return f"{before}{head}-{line}"
    return f"{text} {line}"


def _without_contents(lines: list[str]) -> list[str]:
    """The page without the entries of a table of contents ("1.2 Leave ........ 7"), when it holds at least
    CONTENTS_ENTRIES whose page numbers never go down (a price list's leaders end in any amount)."""
    entries = {i: m[1] for i, line in enumerate(lines) if LETTER.search(line) and (m := LEADER.search(line[-80:]))}
    numbers = [int(n) for n in entries.values() if n.isdigit()]
    if len(entries) < CONTENTS_ENTRIES or numbers != sorted(numbers):
        return lines
    return [line for i, line in enumerate(lines) if i not in entries]


def _without_note_marks(lines: list[str], tokens: Counter[str]) -> list[str]:
    """A page ending with footnotes numbered in order ("1 Fixed-term contracts ...", "2 Unless ...") loses
    their marks where they are glued to the text above (the superscript "employment1", "probation.2"),
    which would make other words of them: each number's first mark, when what it is glued to is found
    nowhere else in the document (`tokens`, by GLUED: "sda2" and "amd64" are words of their own)."""
    notes: list[tuple[int, int]] = []  # (line, number) of the last run of consecutive numbers, last first
    for index in reversed(range(len(lines))):
        note = NOTE.match(lines[index])
        if note and (not notes or int(note[1]) == notes[-1][1] - 1):
            notes.append((index, int(note[1])))
        elif note:
            break
    if not notes:
        return lines
    first = notes[-1][0]
    body = lines[:first]
    for _, number in reversed(notes):
        mark = re.compile(f"({MARKED}){number}(?!\\w|[.,]\\d)")  # not "H2O", "Python3.12"
        found = next(((i, m) for i, line in enumerate(body) if (m := mark.search(line))), None)
        if found is None:
            continue
        index, match = found
        glued = GLUED.findall(body[index][: match.end()])[-1]
        if tokens[glued] == 1:
            body[index] = body[index][: match.end(1)] + body[index][match.end() :]
    return body + lines[first:]


def folded_line(line: str) -> str:
    """A line with its spaces folded (justified text), ligatures spelt out (ﬁ), and letter-spaced Chinese closed up."""
    line = " ".join(line.translate(LIGATURES).split())
    return SPACED_CJK.sub(lambda run: run[0].replace(" ", ""), line) if " " in line else line


def _words(pages: list[list[str]]) -> frozenset[str]:
    """The document's words and hyphenated compounds, lower-cased, but not the fragments a line ends or
    begins with (they may be halves of a hyphenated word)."""
    found: set[str] = set()
    for lines in pages:
        for line in lines:
            found.update(word.casefold() for word in WORD.findall(line)[1:-1])
    return frozenset(found)


def _compact(line: str) -> str:
    return "".join(line.split()).casefold()


def _without_edges(lines: list[str], key: Callable[[str], str], edges: set[str]) -> list[str]:
    """The page's lines without the first or last lines whose key is among `edges` (a running header or
    footer), up to EDGE_LINES at each end: a browser draws its header after the page's text, just before
    its footer. A page's only line is its text."""
    text = [index for index, line in enumerate(lines) if line]
    if len(text) < 2 or not edges:
        return lines
    drop: set[int] = set()
    for end in (text[:EDGE_LINES], text[::-1][:EDGE_LINES]):
        for i in end:
            if key(lines[i]) not in edges:
                break
            drop.add(i)
    return [line for index, line in enumerate(lines) if index not in drop]


def _shape(line: str) -> str:
    """A line with its numbers made alike: page numbers, in digits or lower-case Roman (front matter)."""
    return PAGE_NUMBER.sub("#", " ".join(line.split()))
