"""The text of a slide's charts and SmartArt diagrams, which live in parts of their own.

A chart gives its title, then a line per series: its name and its values by category ("Revenue: Q1 120,
Q2 135"), at most MAX_POINTS in all. A SmartArt diagram gives the text of its nodes, in their order.
"""

from __future__ import annotations

from typing import Any

from cdgpt.ingest.safexml import local

MAX_POINTS = 500  # values of a chart's series read, in all


def _texts(element: Any) -> list[str]:
    """The element's paragraphs of drawing text, their runs joined as written ("CO" "2": "CO2"), or its cached
    values (`c:v`) when it has none (a title or name linked to a cell)."""
    paragraphs = [" ".join("".join(t.text or "" for t in p.iter("{*}t")).split()) for p in element.iter("{*}p")]
    return [text for text in paragraphs if text] or [
        text for v in element.iter("{*}v") if (text := " ".join((v.text or "").split()))
    ]


def chart_paragraphs(chart: Any) -> list[str]:
    """A chart part's title and series."""
    paragraphs = []
    plot = next(chart.iter("{*}plotArea"), None)
    title = next((t for t in chart.iter("{*}title") if plot is None or plot not in t.iterancestors()), None)
    if title is not None and (words := " ".join(_texts(title))):
        paragraphs.append(f"Chart: {words}")
    left = MAX_POINTS
    for series in chart.iter("{*}ser"):
        name = next((" ".join(_texts(tx)) for tx in series if local(tx) == "tx"), "")
        categories = next((_points(c) for c in series if local(c) in ("cat", "xVal")), {})
        values = next((_points(v) for v in series if local(v) in ("val", "yVal")), {})
        if left <= 0:
            break  # the values past the limit, series and all
        points = [f"{categories.get(i, '')} {value}".strip() for i, value in sorted(values.items())][:left]
        left -= len(points)
        if name or points:
            paragraphs.append(f"{name}: {', '.join(points)}" if name else ", ".join(points))
    return paragraphs


def _points(element: Any) -> dict[int, str]:
    """A series' categories or values by index (`c:pt idx`), from its cache; of categories in several levels
    (quarters within years), the innermost."""
    points = {}
    level = next(element.iter("{*}lvl"), element)
    for point in level.iter("{*}pt"):
        index = point.get("idx", "")
        value = next((" ".join((v.text or "").split()) for v in point if local(v) == "v"), "")
        if index.isdigit() and value:
            points[int(index)] = value
    return points


def smartart_paragraphs(data: Any) -> list[str]:
    """A SmartArt data part's node texts (assistants' too), a paragraph each (connections carry none)."""
    paragraphs = []
    for point in data.iter("{*}pt"):
        if point.get("type", "node") in ("node", "asst") and (words := " ".join(_texts(point))):
            paragraphs.append(words)
    return paragraphs
