"""A minimal, valid one-page PDF 1.4 with Helvetica text, written by hand (no PDF library needed)."""

from __future__ import annotations


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(lines: list[str] | str, title: str | None = None) -> bytes:
    """Return the bytes of a PDF whose single page shows `lines` (ASCII), one per text line."""
    if isinstance(lines, str):
        lines = [lines]
    ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
    for i, line in enumerate(lines):
        ops.append(f"({_escape(line)}) Tj" if i == 0 else f"({_escape(line)}) '")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")

    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    if title is not None:
        objects.append(f"<< /Title ({_escape(title)}) >>".encode("latin-1"))

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    trailer = b"<< /Size %d /Root 1 0 R" % (len(objects) + 1)
    if title is not None:
        trailer += b" /Info %d 0 R" % len(objects)
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def text_stream(lines: list[str]) -> bytes:
    ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
    ops += [f"({_escape(line)}) Tj" if i == 0 else f"({_escape(line)}) '" for i, line in enumerate(lines)]
    return "\n".join([*ops, "ET"]).encode("latin-1")


def write_pdf(objects: list[bytes], info: int | None = None) -> bytes:
    """A PDF of these objects (numbered from 1, object 1 the catalog), with its cross-reference table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = b"<< /Size %d /Root 1 0 R" % (len(objects) + 1) + (b" /Info %d 0 R" % info if info else b"")
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def stream(data: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


FONTS = {"F1": "Helvetica", "F2": "Helvetica-Bold", "F3": "Courier"}


def make_pages_pdf(
    streams: list[bytes], pages: list[int], declared_count: int | None = None, to_unicode: bytes | None = None
) -> bytes:
    """A PDF whose page i draws content stream `streams[pages[i]]`: pages may share one stream.

    `declared_count` is the page count the page tree claims (a lie when it differs); `to_unicode` is a
    CMap for the font F1, mapping its character codes to text. The pages have the FONTS.
    """
    first_page = 3 + len(FONTS)  # 1 catalog, 2 page tree, 3... the fonts, then the pages, the streams, the CMap
    first_stream = first_page + len(pages)
    cmap = first_stream + len(streams)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % (first_page + i) for i in range(len(pages))), declared_count or len(pages)),
    ]
    objects += [
        b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding" % base.encode()
        + (b" /ToUnicode %d 0 R >>" % cmap if to_unicode and name == "F1" else b" >>")
        for name, base in FONTS.items()
    ]
    resources = b" ".join(b"/%s %d 0 R" % (name.encode(), 3 + i) for i, name in enumerate(FONTS))
    objects += [
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << %s >> >> "
        b"/Contents %d 0 R >>" % (resources, first_stream + index)
        for index in pages
    ]
    objects += [stream(data) for data in streams]
    if to_unicode:
        objects.append(stream(to_unicode))
    return write_pdf(objects)


def deep_page_tree_pdf(depth: int) -> bytes:
    """A PDF whose one page sits under `depth` nested page-tree nodes (a page-tree bomb when deep)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for level in range(depth):  # node 2 + level holds node 3 + level
        objects.append(b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % (3 + level))
    objects.append(b"<< /Type /Page /MediaBox [0 0 612 792] /Contents %d 0 R >>" % (len(objects) + 2))
    objects.append(stream(text_stream(["Deep."])))
    return write_pdf(objects)


def spaceless_font_pdf(tj: bytes, font_size: int = 10) -> bytes:
    """A PDF whose one text operator is the TJ array `tj` in a font that, like TeX's, has no space
    character: its code 32 draws a wide "Q", and words are set apart by the array's offsets."""
    widths = b" ".join([b"778"] + [b"500"] * 90)  # codes 32 to 122
    return write_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
            b"/Contents 5 0 R >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /CMR10 /FirstChar 32 /LastChar 122 /Widths [%s] "
            b"/Encoding << /Type /Encoding /Differences [32 /Q] >> >>" % widths,
            stream(b"BT /F1 %d Tf 72 720 Td [%s] TJ ET" % (font_size, tj)),
        ]
    )


def sized_pdf(pages: list[list[tuple[int, str]]], bold: frozenset[str] = frozenset()) -> bytes:
    """A PDF of Helvetica lines, each (size in points, ASCII text), a page per list, without an outline; the
    lines whose text is in `bold` in Helvetica-Bold."""
    streams = []
    for lines in pages:
        ops, y = ["BT"], 760
        for size, text in lines:
            y -= size + 6
            font = "F2" if text in bold else "F1"
            ops += [f"/{font} {size} Tf", f"1 0 0 1 72 {y} Tm", f"({_escape(text)}) Tj"]
        streams.append("\n".join([*ops, "ET"]).encode("latin-1"))
    return make_pages_pdf(streams, list(range(len(pages))))


def positioned_stream(lines: list[list[tuple[float, str]]], fonts: list[str] | None = None, size: int = 10) -> bytes:
    """A page's content: lines of pieces of text, each (x in points, ASCII or Latin-1 text) drawn where a
    table's cells are; line i in font `fonts[i]` (F1 Helvetica, F2 its bold, F3 Courier)."""
    ops, y = ["BT"], 720
    for index, pieces in enumerate(lines):
        font = fonts[index] if fonts else "F1"
        for x, text in pieces:
            ops += [f"/{font} {size} Tf", f"1 0 0 1 {x} {y} Tm", f"({_escape(text)}) Tj"]
        y -= size + 4
    return "\n".join([*ops, "ET"]).encode("latin-1")


def positioned_pdf(lines: list[list[tuple[float, str]]], fonts: list[str] | None = None, size: int = 10) -> bytes:
    """A one-page PDF of `positioned_stream`'s lines."""
    return make_pages_pdf([positioned_stream(lines, fonts, size)], [0])


SUBSET_CODES = 0x41  # a subset font's codes of the digits 0-9 (A-J); codes 1-9 are in its widths, unused


def subset_font_pdf(lines: list[list[tuple[str, float, str]]]) -> bytes:
    """A one-page PDF of lines of pieces (font, x, text), F1 Helvetica and F5 a subset font that draws the
    digits 0-9 by the codes A-J (its ToUnicode map says so) and whose widths also list codes 1-9 (width 0),
    which no character maps to: as in the subsets Chromium embeds. `subset_codes` writes digits for F5."""
    first, last = 0x31, SUBSET_CODES + 9
    widths = b" ".join(b"%d" % (0 if code < SUBSET_CODES else 556) for code in range(first, last + 1))
    pairs = b" ".join(b"<%02X> <%04X>" % (SUBSET_CODES + d, 0x30 + d) for d in range(10))
    cmap = (
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
        b"1 begincodespacerange <00> <FF> endcodespacerange\n10 beginbfchar " + pairs + b" endbfchar\n"
        b"endcmap CMapName currentdict /CMap defineresource pop end end"
    )
    ops, y = ["BT"], 720
    for pieces in lines:
        for font, x, text in pieces:
            ops += [f"/{font} 10 Tf", f"1 0 0 1 {x:.2f} {y} Tm", f"({_escape(text)}) Tj"]
        y -= 14
    return write_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 4 0 R /F5 5 0 R >> >> /Contents 7 0 R >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
            b"<< /Type /Font /Subtype /TrueType /BaseFont /ABCDEF+Subset /FirstChar %d /LastChar %d "
            b"/Widths [%s] /ToUnicode 6 0 R >>" % (first, last, widths),
            stream(cmap),
            stream("\n".join([*ops, "ET"]).encode("latin-1")),
        ]
    )


def subset_codes(digits: str) -> str:
    """The codes that draw these digits in `subset_font_pdf`'s font F5."""
    return "".join(chr(SUBSET_CODES + int(digit)) for digit in digits)
