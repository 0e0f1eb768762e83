"""The text of a slide's charts and SmartArt diagrams, which live in parts of their own.

A chart gives its title, then a line per series: its name and its values by category ("Revenue: Q1 120,
Q2 135"), at most MAX_POINTS in all. A SmartArt diagram gives the text of its nodes, in their order.
"""

from __future__ import annotations

from typing import Any

from cdgpt.ingest.safexml import local

MAX_POINTS = 500  # values of a chart's series read, in all


def _texts(element: Any, tag: str = "t") -> list[str]:
    return [text for node in element.iter("{*}" + tag) if (text := " ".join((node.text or "").split()))]


def chart_paragraphs(chart: Any) -> list[str]:
    """A chart part's title and series."""
    paragraphs = []
    plot = next(chart.iter("{*}plotArea"), None)
    title = next((t for t in chart.iter("{*}title") if plot is None or plot not in t.iterancestors()), None)
    if title is not None and (words := " ".join(_texts(title))):
        paragraphs.append(f"Chart: {words}")
    left = MAX_POINTS
    for series in chart.iter("{*}ser"):
        name = next((" ".join(_texts(tx, "v") or _texts(tx)) for tx in series if local(tx) == "tx"), "")
        categories = next((_points(c) for c in series if local(c) in ("cat", "xVal")), {})
        values = next((_points(v) for v in series if local(v) in ("val", "yVal")), {})
        points = [f"{categories.get(i, '')} {value}".strip() for i, value in sorted(values.items())][: max(left, 0)]
        left -= len(points)
        if name or points:
            paragraphs.append(f"{name}: {', '.join(points)}" if name else ", ".join(points))
    return paragraphs


def _points(element: Any) -> dict[int, str]:
    """A series' categories or values by index (`c:pt idx`), from its cache."""
    points = {}
    for point in element.iter("{*}pt"):
        index = point.get("idx", "")
        value = next((" ".join((v.text or "").split()) for v in point if local(v) == "v"), "")
        if index.isdigit() and value:
            points[int(index)] = value
    return points


def smartart_paragraphs(data: Any) -> list[str]:
    """A SmartArt data part's node texts, a paragraph each (connections and placeholders carry none)."""
    paragraphs = []
    for point in data.iter("{*}pt"):
        if point.get("type", "node") == "node" and (words := " ".join(_texts(point))):
            paragraphs.append(words)
    return paragraphs
