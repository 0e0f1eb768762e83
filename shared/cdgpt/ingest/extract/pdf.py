"""PDF text (pypdf), a section per page or per outline entry within a page (`pdf_layout`), within the
document's budget of pages, text and CPU time."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from functools import lru_cache
from io import BytesIO
from typing import TYPE_CHECKING, Any

from cdgpt.errors import SourceFailed
from cdgpt.ingest.extract.archive import DEFAULT_TITLE
from cdgpt.ingest.extract.document import Section
from cdgpt.ingest.extract.pdf_headings import SizedLine, headings, sized_lines, text_size
from cdgpt.ingest.extract.pdf_layout import OutlineEntry, outline, sections
from cdgpt.ingest.extract.pdf_pieces import BOLD, FIXED, Piece, lines_of
from cdgpt.ingest.extract.pdf_tables import RECORD_BREAK, Header, tables
from cdgpt.ingest.extract.pdf_widths import FontWidths

if TYPE_CHECKING:
    from cdgpt.ingest.extract.budget import Budget

CONTENTS_TITLE = re.compile(r"(?:table of )?contents|目录|目錄|inhalt|sommaire", re.IGNORECASE)
CHECK_EVERY = 1024  # content-stream operators between two looks at the CPU clock
NO_SPACE = "\ufffe"  # the space character of a font without one: a noncharacter, which no code decodes to


def _page_count(reader: Any, budget: Budget) -> int:
    """The page count, refused before pypdf walks a page tree larger than the budget allows."""
    from pypdf import apply_configuration

    declared = reader.trailer["/Root"]["/Pages"].get("/Count")
    if isinstance(declared, int):
        budget.check_pages(declared)
    with apply_configuration(page_tree_maximum_entries=2 * min(budget.limits.pages, 50_000) + 100):
        count = len(reader.pages)  # the real count: /Count may lie
    budget.check_pages(count)
    return count


def _content_key(page: Any) -> tuple:
    """What a page's text depends on: its content streams and resources, by object number where they are
    shared objects, by value where they are small direct ones (pages repeat `<< /Font << /F1 3 0 R >> >>`)."""

    def key(value: Any, depth: int = 0) -> object:
        if hasattr(value, "idnum"):
            return (value.idnum, value.generation)
        if depth < 4 and isinstance(value, dict) and len(value) <= 64:
            return tuple(sorted((str(k), key(v, depth + 1)) for k, v in dict.items(value)))
        if depth < 4 and isinstance(value, list) and len(value) <= 64:
            return tuple(key(v, depth + 1) for v in value)
        if isinstance(value, (str, int, float, bytes)):
            return value
        return id(value)  # large or deep: equal only when it is the very same object

    return tuple(key(page.raw_get(name)) if name in page else None for name in ("/Contents", "/Resources"))


@lru_cache(maxsize=1)
def _gaps_for_fonts_without_space() -> None:
    """Word gaps for a font with no space character (TeX's, through xdvipdfmx): pypdf takes the width
    of the glyph at code 32 for its space (pypdf issue 3978). When that glyph is wider than the font's
    glyphs are on average (a "Q", an em), no word gap reaches half of it: gaps read as kerning and words
    run together ("Thisdocumentgives"). Such a font's space (NO_SPACE) is then half the mean width:
    a quarter of an em in a Latin font, where a word space is a quarter to a third. Otherwise pypdf's
    guess stands (a Korean font's narrow glyph at 32 happens to set its words apart)."""
    from pypdf.generic._font import Font

    space_char, space_width = Font._get_space_char, Font._add_space_width

    def found_or_none(encoding: Any, character_map: dict[Any, Any]) -> str:
        char = space_char(encoding, character_map)
        codes = encoding.values() if isinstance(encoding, dict) else ()
        return char if char != " " or " " in character_map.values() or " " in codes else NO_SPACE

    def width(character_widths: dict[str, float], flags: int, char: str) -> float:
        if char != NO_SPACE:
            return space_width(character_widths, flags, char)
        at_32 = character_widths.get(" ", 0)
        glyphs = [w for key, w in character_widths.items() if key not in ("default", " ") and w > 0]
        mean = sum(glyphs) / len(glyphs) if glyphs else 0
        character_widths[NO_SPACE] = mean / 2 if at_32 > mean > 0 else at_32  # none: extract_text's default
        return character_widths[NO_SPACE] or space_width(character_widths, flags, " ")

    Font._get_space_char = staticmethod(found_or_none)  # type: ignore[method-assign]
    Font._add_space_width = staticmethod(width)  # type: ignore[method-assign,assignment]


def _page_text(
    page: Any, budget: Budget, sized: bool, before: Header | None, fonts: FontWidths
) -> tuple[str, list[SizedLine] | None, Header | None]:
    """The page's text, its tables as records (`pdf_tables`, `before`: the header of the last table of the
    page before), when `sized` its lines with the sizes they are set in (for headings without an outline),
    and the header of its own last table."""
    operators = 0
    pieces: list[Piece] = []
    fonts.new_page()

    def tick(*_: object) -> None:
        nonlocal operators
        operators += 1
        if operators % CHECK_EVERY == 0:
            budget.check_time()

    def piece(text: str, cm: Any, tm: Any, font: Any, font_size: float) -> None:
        x, y = (float(tm[4]) * float(cm[i]) + float(tm[5]) * float(cm[i + 2]) + float(cm[i + 4]) for i in (0, 1))
        name = str(font.get("/BaseFont", "")) if isinstance(font, dict) else ""
        size = text_size(font_size, cm, tm)
        end = fonts.end(text, x, font, font_size, cm, tm)
        pieces.append(Piece(text, x, size, y, BOLD.search(name) is not None, FIXED.search(name) is not None, end))

    text = page.extract_text(visitor_operand_before=tick, visitor_text=piece) or ""
    lines = lines_of(pieces, text)
    if lines is None:
        return text, None, None
    found, last = tables(lines, before)
    if found:
        text = "\n".join(part for index, line in enumerate(text.split("\n")) for part in found.get(index, [line]))
    return text, sized_lines(lines, found) if sized else None, last


def _pages(
    content: bytes, name: str, budget: Budget
) -> tuple[str | None, list[tuple[int, str]], list[OutlineEntry], bool]:
    """The title, the pages' text, and the outline's entries, or headings found by size (then False)."""
    from pypdf import PasswordType, PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings (fonts it reads around) are not the user's
    reader = PdfReader(BytesIO(content))
    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:  # "" opens an owner-only lock
        raise SourceFailed(f"{name} is password-protected")
    texts: list[tuple[int, str]] = []
    sized: list[tuple[int, list[SizedLine]]] = []
    seen: set[tuple] = set()
    count = _page_count(reader, budget)
    entries = outline(reader, count)
    _gaps_for_fonts_without_space()
    header: Header | None = None  # of the last table of the page before
    fonts = FontWidths()
    for number in range(1, count + 1):
        page = reader.pages[number - 1]
        key = _content_key(page)
        if key in seen:  # the same content stream again: same text, extracted and indexed once
            continue
        seen.add(key)
        text, lines, header = _page_text(page, budget, not entries, header, fonts)
        budget.spend(len(text))
        texts.append((number, text))
        if lines is not None:
            sized.append((number, lines))
    meta_title = reader.metadata.get("/Title") if reader.metadata else None
    return _title(meta_title), texts, entries or headings(sized), bool(entries)


def _title(meta_title: object) -> str | None:
    """The document information's title, unless a template's or a print driver's ("Microsoft Word - memo.doc")."""
    title = " ".join(str(meta_title).split()) if meta_title else ""
    return title if title and not DEFAULT_TITLE.fullmatch(title) else None


def pdf(content: bytes, name: str, budget: Budget) -> tuple[str | None, list[Section]]:
    from pypdf.errors import DependencyError, LimitReachedError, PyPdfError

    malformed = (PyPdfError, DependencyError, ValueError, KeyError, TypeError, AttributeError, IndexError,
                 ZeroDivisionError, OverflowError, AssertionError, NotImplementedError)  # fmt: skip
    try:
        title, pages, entries, outlined = _pages(content, name, budget)
    except SourceFailed:
        raise
    except LimitReachedError as exc:  # a content-stream or page-tree bomb, refused by pypdf's own limits
        raise SourceFailed(f"PDF over a safety limit ({str(exc)[:200]})") from exc
    except RecursionError as exc:
        raise SourceFailed(f"unreadable PDF {name}: nested too deeply") from exc
    except malformed as exc:  # what pypdf raises on malformed input
        raise SourceFailed(f"unreadable PDF {name}") from exc
    if title is None and pages and entries and entries[0].page == pages[0][0] and len(entries[0].path) == 1:
        top = entries[0].path[0]  # the outline's first entry, heading the first page and every other entry
        if all(entry.path[0] == top for entry in entries) and not CONTENTS_TITLE.fullmatch(top):
            title = top  # a Markdown document's title, not its first chapter ("Purpose")
    found = sections(pages, entries, outlined)
    return title, [replace(s, text=s.text.replace(RECORD_BREAK, "\n")) if RECORD_BREAK in s.text else s for s in found]
