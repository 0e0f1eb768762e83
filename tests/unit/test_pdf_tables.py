"""Tables in PDFs: lines whose pieces start in the same columns become records, with their columns' names."""

from __future__ import annotations

import pytest

from cdgpt.ingest.extract import extract
from cdgpt.ingest.sources import RawDocument
from tests.support.pdf import make_pages_pdf, positioned_pdf, positioned_stream, subset_codes, subset_font_pdf

INTRO = "The daily allowances below apply to every business trip approved in advance."
AFTER = "Claims above these limits need the approval of a director before the trip is booked."
HELVETICA = {  # Helvetica's AFM widths by character, thousandths of an em
    **dict.fromkeys("0123456789£#abdeghnopu", 556),
    **dict.fromkeys("cksvy", 500),
    **dict.fromkeys(",. ft/", 278),
    **dict.fromkeys("il", 222),
    **dict.fromkeys("r-()", 333),
    **dict.fromkeys("wC", 722),
    "m": 833,
}


def text_of(lines: list[list[tuple[float, str]]], fonts: list[str] | None = None) -> str:
    doc = extract(
        RawDocument(source="s", content=positioned_pdf(lines, fonts), content_type="application/pdf", name="/t.pdf")
    )
    return "\n\n".join(section.text for section in doc.sections)


def helvetica(text: str, size: int = 10) -> float:
    """The text's width in Helvetica (its AFM widths, thousandths of an em) at `size` points."""
    return sum(HELVETICA[char] for char in text) * size / 1000


def ending_at(edge: float, *figures: str) -> list[tuple[float, str]]:
    """Figures set right: each placed to end at `edge`."""
    return [(edge - helvetica(figure), figure) for figure in figures]


def row(*cells: str, at: tuple[float, ...] = (72, 200, 330)) -> list[tuple[float, str]]:
    return [(x, cell) for x, cell in zip(at, cells, strict=False) if cell]


def test_a_tables_rows_become_records_named_by_its_bold_header():
    lines = [
        [(72, INTRO)],
        row("City", "Hotel per night", "Meals per day"),
        row("London", "£180", "£45"),
        row("New York", "$260", "$75"),
        [(72, AFTER)],
    ]
    fonts = ["F1", "F2", "F1", "F1", "F1"]
    assert text_of(lines, fonts) == (
        f"{INTRO}\n\n"
        "City: London\nHotel per night: £180\nMeals per day: £45\n\n"
        "City: New York\nHotel per night: $260\nMeals per day: $75\n\n"
        f"{AFTER}"  # the last row no longer runs into the paragraph after it
    )


def test_a_cell_wrapped_onto_the_next_line_stays_in_its_row():
    lines = [
        row("Item", "Rate", "Notes"),
        row("Car", "45p", "for the first"),
        row("", "", "10,000 miles"),
        row("Bicycle", "20p", "any distance"),
    ]
    assert text_of(lines, ["F2", "F1", "F1", "F1"]) == (
        "Item: Car\nRate: 45p\nNotes: for the first 10,000 miles\n\nItem: Bicycle\nRate: 20p\nNotes: any distance"
    )


def test_an_amount_under_an_amount_starts_a_row_though_its_first_cell_is_empty():
    """A region's cell spans its countries' rows (LibreOffice draws it in the first), and a total has no
    first cell: an amount does not wrap, so neither line goes on with the row above."""
    lines = [
        row("Region", "Country", "Hotel"),
        row("Europe", "France", "£150"),
        row("", "Germany", "£140"),
        row("Asia", "Japan", "£200"),
        row("", "Total", "£490"),
    ]
    assert text_of(lines, ["F2", "F1", "F1", "F1", "F1"]) == (
        "Region: Europe\nCountry: France\nHotel: £150\n\nCountry: Germany\nHotel: £140\n\n"
        "Region: Asia\nCountry: Japan\nHotel: £200\n\nCountry: Total\nHotel: £490"
    )


def test_a_cell_spanning_rows_set_above_them_starts_its_rows():
    """Chromium sets a region's cell, spanning its countries' rows, on a line of its own above them."""
    at = (72, 180, 300, 380)
    lines = [
        row("Region", "Country", "2023", "2024", at=at),
        row("Europe", at=at),
        row("", "France", "120", "130", at=at),
        row("", "Germany", "140", "150", at=at),
        row("Asia", at=at),
        row("", "Japan", "90", "95", at=at),
    ]
    assert text_of(lines, ["F2", "F1", "F1", "F1", "F1", "F1"]) == (
        "Region: Europe\nCountry: France\n2023: 120\n2024: 130\n\nCountry: Germany\n2023: 140\n2024: 150\n\n"
        "Region: Asia\nCountry: Japan\n2023: 90\n2024: 95"
    )


@pytest.mark.parametrize("fonts", [["F2", "F2", "F1", "F1"], ["F1", "F1", "F1", "F1"]])
def test_a_header_over_two_lines_names_each_column_after_its_group(fonts):
    """The groups "UK" and "Overseas" each head two columns, "Hotel" and "Meals"; "Band" heads the first. In
    bold, or plain over figures."""
    at = (72, 160, 240, 320, 400)
    lines = [
        row("Band", "UK", "", "Overseas", at=at),
        row("", "Hotel", "Meals", "Hotel", "Meals", at=at),
        row("Band A", "£262", "£53", "£251", "£78", at=at),
        row("Band B", "£248", "£65", "£217", "£97", at=at),
    ]
    assert text_of(lines, fonts) == (
        "Band: Band A\nUK Hotel: £262\nUK Meals: £53\nOverseas Hotel: £251\nOverseas Meals: £78\n\n"
        "Band: Band B\nUK Hotel: £248\nUK Meals: £65\nOverseas Hotel: £217\nOverseas Meals: £97"
    )


def test_a_first_row_with_a_year_alone_in_a_cell_is_data_not_a_header():
    """A year beside words may name a column ("2024 actual"); a year alone is a figure."""
    lines = [
        row("Moon landing", "1969", "Apollo"),
        row("Berlin Wall falls", "1989", "Germany"),
        row("First iPhone", "2007", "USA"),
    ]
    assert (
        text_of(lines)
        == "Moon landing | 1969 | Apollo\n\nBerlin Wall falls | 1989 | Germany\n\nFirst iPhone | 2007 | USA"
    )


def test_two_columns_without_a_header_are_labels_and_their_values():
    lines = [
        row("Policy owner", "Chief Information Security Officer"),
        row("Review", "Every year"),
        row("Version", "2.3"),
    ]
    assert text_of(lines) == "Policy owner: Chief Information Security Officer\nReview: Every year\nVersion: 2.3"


def test_a_list_two_columns_of_prose_and_aligned_code_are_no_tables():
    bullets = [
        [(72, "- Always"), (130, item)] for item in ("lock your screen.", "report lost laptops.", "use the VPN.")
    ]
    assert ":" not in text_of(bullets) and "|" not in text_of(bullets)
    prose = [
        row("Our offices open at eight and close at six", "Visitors sign in at reception and wear", at=(72, 320)),
        row("on weekdays, and staff may work from home", "a badge, and a host meets them there", at=(72, 320)),
        row("two days a week with their manager's", "and walks them out when they leave", at=(72, 320)),
    ]
    assert ":" not in text_of(prose)
    code = [row(*tokens.split(), at=(72, 96, 120)) for tokens in ("int x 1;", "int y 2;", "int z 3;")]
    assert text_of(code, ["F3"] * 3) == "int x 1; int y 2; int z 3;"


def test_without_a_bold_header_names_over_figures_head_a_table_and_a_grid_of_words_has_none():
    priced = [row("Item", "Size", "Price"), row("Bolt", "M8", "0.20"), row("Nut", "M8", "0.05")]
    assert text_of(priced) == "Item: Bolt\nSize: M8\nPrice: 0.20\n\nItem: Nut\nSize: M8\nPrice: 0.05"
    grid = [row("Mon", "Tue", "Wed"), row("gym", "swim", "rest"), row("run", "yoga", "bike")]
    assert text_of(grid) == "Mon | Tue | Wed\n\ngym | swim | rest\n\nrun | yoga | bike"


def test_a_line_far_below_the_table_is_not_its_row():
    lines = [row("Item", "Size", "Price"), row("Bolt", "M8", "0.20"), row("Nut", "M8", "0.05")]
    footer = row("Brightwheel Components", "", "Page 3")
    pdf_lines = [*lines, [], [], [], footer]  # three empty lines: 42 points lower
    assert text_of(pdf_lines).endswith("Price: 0.05\n\nBrightwheel Components Page 3")


def test_prose_switching_fonts_is_no_table_where_some_pieces_line_up():
    """Each name is a piece of its own (another font), and two of them start where the other's does."""
    prose = [
        [(72, "Our office in "), (131, "Shanghai"), (176, " opens at nine; the "), (262, "IT"), (275, " desk at ten.")],
        [(72, "Staff use "), (118, "Slack"), (146, " and "), (170, "Teams"), (203, " for chat, and "), (262, "VPN")],
        [(72, "Visitors sign in on "), (162, "RoomDesk"), (208, " at reception, "), (262, "badges"), (300, " on.")],
    ]
    assert ":" not in text_of(prose) and "|" not in text_of(prose)


def test_a_header_above_the_columns_it_names_heads_them():
    """Centred headings start inside their columns, not where the cells below do."""
    lines = [row("Item", "Size", "Price", at=(90, 215, 345)), row("Bolt", "M8", "0.20"), row("Nut", "M8", "0.05")]
    assert text_of(lines) == "Item: Bolt\nSize: M8\nPrice: 0.20\n\nItem: Nut\nSize: M8\nPrice: 0.05"


def test_a_column_whose_cells_neither_start_nor_end_in_line_is_missed_so_the_rows_stay_text():
    """Centred figures start and end wherever their width puts them: no column is found for them, and
    rather than read "Hotel £180" as one cell, the rows stay as they were."""
    centred = [(x - 2 + (i % 3) * 3, figure) for i, (x, figure) in enumerate(ending_at(350, "£180", "£1,190", "£95"))]
    lines = [
        [(72, city), (200, "Hotel"), piece] for city, piece in zip(("London", "Paris", "Rome"), centred, strict=True)
    ]
    assert ":" not in text_of(lines) and "|" not in text_of(lines)


def test_figures_set_right_make_columns_under_names_set_left():
    """Figures end where their column does, whatever their width. The last column ends at the margin, as
    a justified paragraph's lines do: a line of prose there is still no row."""
    margin = 72 + helvetica(AFTER)
    lines = [
        [(72, "Cost line"), (200, "Budget"), (margin - 60, "Actual")],  # names set left, over figures set right
        *(
            [(72, name), *ending_at(300, budget), *ending_at(margin, actual)]
            for name, budget, actual in (("Salaries", "£282,707", "£1,406,639"), ("Rent", "£21,030", "£944"))
        ),
        [(72, "Travel"), *ending_at(300, "£9,237"), *ending_at(margin, "£10,717")],
        [(72, AFTER)],
    ]
    assert text_of(lines, ["F2", "F1", "F1", "F1", "F1"]) == (
        "Cost line: Salaries\nBudget: £282,707\nActual: £1,406,639\n\n"
        "Cost line: Rent\nBudget: £21,030\nActual: £944\n\n"
        f"Cost line: Travel\nBudget: £9,237\nActual: £10,717\n\n{AFTER}"
    )


@pytest.mark.parametrize(
    ("rows", "fonts"),
    [
        ([("Gross profit", "18,838", "17,784"), ("Distribution costs", "(3,104)", "(2,987)")], ["F2", "F1", "F2"]),
        ([("Current assets", "18,838", "17,784"), ("Total assets", "26,104", "25,512")], ["F2", "F2", "F1"]),
        ([("Gross profit", "812", "745"), ("Distribution costs", "(310)", "(298)")], ["F2", "F1", "F2"]),
    ],
)
def test_a_bold_row_of_amounts_is_a_subtotal_not_a_header(rows, fonts):
    """A statement's subtotals are bold, one or two of them may start a table (a wrapped row broke it
    off), and an amount may have no comma; a year may head a column."""
    rows = [*rows, ("Operating profit", "6,684", "5,323")]
    lines = [
        [(72, name), *ending_at(300, this_year), *ending_at(400, last_year)] for name, this_year, last_year in rows
    ]
    assert text_of(lines, fonts) == "\n\n".join(" | ".join(row) for row in rows)


def test_figures_set_right_in_a_font_set_once_per_change_make_columns():
    """pypdf gives the last piece of a line its line break (" 24,119\\n"): its end is still known."""
    ops, y, current = ["BT"], 720, None
    for label, this_year, last_year in (
        ("Revenue", "25,512", "24,119"),
        ("Costs", "(6,674)", "(635)"),
        ("Profit", "18,838", "23,484"),
    ):
        for font, x, text in (
            ("F1", 72, label),
            ("F2", 300 - helvetica(this_year), this_year),
            ("F1", 400 - helvetica(last_year), last_year),
        ):
            ops += [f"/{font} 10 Tf"] if font != current else []
            ops += [f"1 0 0 1 {x:.2f} {y} Tm", f"({text}) Tj"]
            current = font
        y -= 14
    pdf = make_pages_pdf(["\n".join([*ops, "ET"]).encode("latin-1")], [0])
    doc = extract(RawDocument(source="s", content=pdf, content_type="application/pdf", name="/t.pdf"))
    assert doc.sections[0].text == "Revenue | 25,512 | 24,119\n\nCosts | (6,674) | (635)\n\nProfit | 18,838 | 23,484"


def test_a_figure_in_a_column_the_first_rows_leave_empty_is_not_read_into_the_next_cell():
    """Hours by day, set right in narrow columns: the first two rows leave Tuesday empty, so no column is found for it, and
    the third row's Tuesday would join its Wednesday ("3.0 0.5"). The rows stay as they were."""
    hours = [("Apollo", "4.0", "", "5.0"), ("Support", "2.0", "", "1.5"), ("Meetings", "1.5", "3.0", "0.5")]
    lines = [
        [
            (72, name),
            *(piece for edge, h in zip((150, 176, 202), days, strict=True) if h for piece in ending_at(edge, h)),
        ]
        for name, *days in hours
    ]
    assert text_of(lines) == "Apollo 4.0 5.0 Support 2.0 1.5 Meetings 1.5 3.0 0.5"


def test_a_subset_fonts_widths_are_read_by_the_characters_its_codes_draw():
    """Its digits are drawn by codes A-J; its widths also list codes 1-9, which draw nothing: read as the
    characters "1"-"9", they gave the digits a width of 0, and no figure ended where its column does."""
    rows = [("Rent", "1200", "950"), ("Travel", "15310", "2004"), ("Training", "780", "11245")]
    lines = [
        [("F1", 72, name), *(("F5", edge - 5.56 * len(f), subset_codes(f)) for edge, f in ((300, a), (400, b)))]
        for name, a, b in rows
    ]
    pdf = subset_font_pdf(lines)
    doc = extract(RawDocument(source="s", content=pdf, content_type="application/pdf", name="/t.pdf"))
    assert doc.sections[0].text == "\n\n".join(" | ".join(row) for row in rows)


def drawn(pieces: list[tuple[str, float, float, str]]) -> str:
    """The text of a page that draws these pieces (font, x, baseline, text) in this order."""
    ops = ["BT"]
    for font, x, y, text in pieces:
        ops += [f"/{font} 10 Tf", f"1 0 0 1 {x} {y} Tm", f"({text}) Tj"]
    pdf = make_pages_pdf(["\n".join([*ops, "ET"]).encode("latin-1")], [0])
    doc = extract(RawDocument(source="s", content=pdf, content_type="application/pdf", name="/t.pdf"))
    return "\n\n".join(section.text for section in doc.sections)


def test_rows_drawn_a_cell_at_a_time_are_put_back_together():
    """LibreOffice draws a row's wrapped cells one after another: each cell's lines go down, then the next
    cell goes back up to the row's top. A first cell that wraps ("Key person" / "loss") is still one row, and
    so is a later cell's line below the one that went back up ("Head of" / "Procurement")."""
    pieces = [
        ("F2", 72, 720, "Risk"), ("F2", 200, 720, "Description"), ("F2", 330, 720, "Owner"),
        ("F1", 72, 700, "Loss of key"), ("F1", 72, 688, "supplier for"), ("F1", 72, 676, "packaging"),
        ("F1", 200, 700, "Find a second"), ("F1", 330, 700, "Head of"), ("F1", 330, 688, "Procurement"),
        ("F1", 72, 650, "Data loss"), ("F1", 200, 650, "Staff must get"), ("F1", 200, 638, "approval first"),
        ("F1", 330, 650, "Head of HR"),
        ("F1", 72, 620, "Supplier failure"), ("F1", 200, 620, "Contracts are"), ("F1", 200, 608, "reviewed yearly"),
        ("F1", 330, 620, "CFO"),
        ("F1", 72, 590, "Key person"), ("F1", 72, 578, "loss"), ("F1", 200, 590, "Train a deputy"),
        ("F1", 330, 590, "Ops lead"),
    ]  # fmt: skip
    assert drawn(pieces) == (
        "Risk: Loss of key supplier for packaging\nDescription: Find a second\nOwner: Head of Procurement\n\n"
        "Risk: Data loss\nDescription: Staff must get approval first\nOwner: Head of HR\n\n"
        "Risk: Supplier failure\nDescription: Contracts are reviewed yearly\nOwner: CFO\n\n"
        "Risk: Key person loss\nDescription: Train a deputy\nOwner: Ops lead"
    )


def test_names_drawn_a_cell_at_a_time_head_the_figures_below_them_years_and_all():
    """Not bold, each name wrapped onto a second line and drawn before the next (LibreOffice), a year in
    each: the names over the figures set right below them still head the table."""
    figures = [("Finance", "1,250.5", "1,312.0"), ("People", "860.0", "905.3"), ("IT", "2,480.7", "2,960.0")]
    pieces = [
        ("F1", 72, 720, "Department"), ("F1", 200, 720, "2024 actual"), ("F1", 205, 708, "(GBP k)"),
        ("F1", 300, 720, "2025 budget"), ("F1", 305, 708, "(GBP k)"),
        *(
            piece
            for n, (name, actual, budget) in enumerate(figures)
            for piece in [("F1", 72, 694 - 14 * n, name), *(
                ("F1", edge - helvetica(figure), 694 - 14 * n, figure) for edge, figure in ((250, actual), (350, budget))
            )]
        ),
    ]  # fmt: skip
    assert drawn(pieces) == (
        "Department: Finance\n2024 actual (GBP k): 1,250.5\n2025 budget (GBP k): 1,312.0\n\n"
        "Department: People\n2024 actual (GBP k): 860.0\n2025 budget (GBP k): 905.3\n\n"
        "Department: IT\n2024 actual (GBP k): 2,480.7\n2025 budget (GBP k): 2,960.0"
    )


def test_two_columns_of_prose_after_a_table_are_not_its_row():
    """The second column goes back up to the first's top, as a row drawn a cell at a time does; it starts
    where the table's last column does, but its lines are prose, not a cell's."""
    left = ["Claims are paid with the salary of the month after", "they are approved by the line manager and finance."]
    right = ["Receipts are kept for six years in the expenses", "system, scanned on the day they are received."]
    pieces = [
        ("F2", 72, 720, "Item"), ("F2", 200, 720, "Size"), ("F2", 330, 720, "Price"),
        ("F1", 72, 706, "Bolt"), ("F1", 200, 706, "M8"), ("F1", 330, 706, "0.20"),
        ("F1", 72, 692, "Nut"), ("F1", 200, 692, "M8"), ("F1", 330, 692, "0.05"),
        *(("F1", 72, 670 - 12 * n, line) for n, line in enumerate(left)),
        *(("F1", 330, 670 - 12 * n, line) for n, line in enumerate(right)),
    ]  # fmt: skip
    text = drawn(pieces)
    assert text.count("Item:") == 2 and all(line in text for line in [*left, *right])


def test_code_drawn_a_token_at_a_time_is_no_table():
    """Code set in a proportional font, a token at a time: its lines' first tokens line up, and so does one
    more, but most of the pieces it is drawn in do not."""
    lines = []
    for name, value in (("language", "en"), ("country", "NL"), ("locale", "en_GB")):
        tokens, path = ["#", "d", "-", "i"], f"installer/{name}"
        starts = [72 + helvetica("".join(tokens[:n])) for n in range(len(tokens))]
        lines.append([*zip(starts, tokens, strict=True), (150, path), (156 + helvetica(path), f"string {value}")])
    assert ":" not in text_of(lines) and "|" not in text_of(lines)


def test_a_cell_drawn_in_two_pieces_is_one_cell():
    """A figure and its unit drawn one after the other ("45", then "p") are one cell, without a space."""
    lines = [row("Item", "Rate", "Notes", at=(72, 200, 300))]
    for item, rate, notes in (("Car", "45", "any distance"), ("Van", "55", "with a permit")):
        lines.append([(72, item), (200, rate), (200 + helvetica(rate), "p"), (300, notes)])
    assert text_of(lines, ["F2", "F1", "F1"]) == (
        "Item: Car\nRate: 45p\nNotes: any distance\n\nItem: Van\nRate: 55p\nNotes: with a permit"
    )


def test_a_forms_labels_over_lines_to_write_on_are_no_table():
    form = [row("Name:", "____________", at=(72, 200)), row("Employee number:", "________", at=(72, 200))]
    form.append(row("Signed:", "____________", at=(72, 200)))
    assert text_of(form) == "Name: ____________ Employee number: ________ Signed: ____________"


def test_a_row_with_only_its_first_cell_stays_in_the_table():
    lines = [row("Item", "Size", "Price"), row("Bolt", "M8", "0.20"), row("Washer"), row("Nut", "M8", "0.05")]
    assert text_of(lines, ["F2", "F1", "F1", "F1"]) == (
        "Item: Bolt\nSize: M8\nPrice: 0.20\n\nItem: Washer\n\nItem: Nut\nSize: M8\nPrice: 0.05"
    )


def test_a_table_continued_on_the_next_page_keeps_its_header():
    first = [row("Item", "Size", "Price"), row("Bolt", "M8", "0.20"), row("Nut", "M8", "0.05")]
    second = [row("Washer", "M8", "0.02"), row("Screw", "M6", "0.10"), row("Rivet", "M4", "0.03")]
    pdf = make_pages_pdf([positioned_stream(first), positioned_stream(second)], [0, 1])
    doc = extract(RawDocument(source="s", content=pdf, content_type="application/pdf", name="/t.pdf"))
    assert doc.sections[1].text.split("\n\n")[0] == "Item: Washer\nSize: M8\nPrice: 0.02"


def test_a_bold_header_over_two_lines_is_one_row():
    lines = [row("Leave", "Days per", "Notice"), row("type", "year", "needed"), row("Annual", "25", "2 weeks")]
    lines.append(row("Sick", "10", "none"))
    assert text_of(lines, ["F2", "F2", "F1", "F1"]) == (
        "Leave type: Annual\nDays per year: 25\nNotice needed: 2 weeks\n\n"
        "Leave type: Sick\nDays per year: 10\nNotice needed: none"
    )


def test_a_bold_header_names_the_columns_its_first_row_leaves_empty():
    """A training matrix: each row marks one or two of the header's columns, the first row only the second;
    no row marks the last, so the header stays as a line too (its name is in no record)."""
    at = (72, 200, 300, 400, 500)
    lines = [
        row("Course", "Staff", "Managers", "Contractors", "Visitors", at=at),
        row("Fire safety", "Optional", at=at),
        row("Anti-bribery", "Required", "Required", at=at),
        row("First aid", "", "Optional", "Optional", at=at),
    ]
    assert text_of(lines, ["F2", "F1", "F1", "F1"]) == (
        "Course | Staff | Managers | Contractors | Visitors\n\n"
        "Course: Fire safety\nStaff: Optional\n\n"
        "Course: Anti-bribery\nStaff: Required\nManagers: Required\n\n"
        "Course: First aid\nManagers: Optional\nContractors: Optional"
    )
