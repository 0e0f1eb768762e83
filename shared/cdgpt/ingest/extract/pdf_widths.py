"""Where a piece of PDF text ends: the widths of its font's glyphs (read by pypdf), by the characters
they draw, so that a table's figures set right line up (`pdf_tables`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Widths:
    """A font's glyph widths by the characters they draw, in thousandths of an em."""

    by_char: dict[str, float]
    default: float

    def of(self, text: str) -> float:
        """The text's width in ems, without the spaces around it (pypdf adds one before a piece drawn apart)."""
        return sum(self.by_char.get(char, self.default) for char in text.strip()) / 1000


class FontWidths:
    """A document's fonts' widths, each font read once: a shared font by its object number, a page's own
    font (a direct object) by its identity, for that page only (`new_page`)."""

    def __init__(self) -> None:
        self._shared: dict[tuple[int, int], Widths | None] = {}
        self._page: dict[int, Widths | None] = {}

    def new_page(self) -> None:
        self._page.clear()

    def end(self, text: str, x: float, font: Any, font_size: float, cm: Any, tm: Any) -> float | None:
        """Where text drawn from x ends on the page, or None when its font's widths are unknown (character
        and word spacing and horizontal scaling are not counted: pypdf's visitor does not give them)."""
        widths = self._widths(font)
        if widths is None:
            return None
        end = x + widths.of(text) * float(font_size) * math.hypot(tm[0], tm[1]) * math.hypot(cm[0], cm[1])
        return end if math.isfinite(end) else None  # a font's widths may be unreadable (NaN)

    def _widths(self, font: Any) -> Widths | None:
        ref = getattr(font, "indirect_reference", None)
        if ref is not None:
            key = (ref.idnum, ref.generation)
            if key not in self._shared:
                self._shared[key] = _read(font)
            return self._shared[key]
        if id(font) not in self._page:
            self._page[id(font)] = _read(font)
        return self._page[id(font)]


def _read(font: Any) -> Widths | None:
    """The font's widths by character (pypdf keys them by the codes that draw them), or None."""
    from pypdf.generic import DictionaryObject
    from pypdf.generic._font import Font

    if not isinstance(font, DictionaryObject) or font.get("/Subtype") == "/Type3":
        return None  # a Type 3 font's widths are in its own glyph space (its /FontMatrix), not thousandths
    try:
        parsed = Font.from_font_resource(font)
    except Exception:  # a malformed font: its pieces' ends are estimated
        return None
    widths, by_char = parsed.character_widths, dict[str, float]()
    default = widths.get("default", 500)
    for code, char in parsed.character_map.items():  # a mapped code's width, else the font's default (/DW)
        if isinstance(char, str):
            by_char.setdefault(char, widths.get(code, default))
    if not parsed.character_map:  # no ToUnicode map: the codes are the characters (but for a few, as €)
        by_char.update((code, width) for code, width in widths.items() if code != "default")
    return Widths(by_char, default)
