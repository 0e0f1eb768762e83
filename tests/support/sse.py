"""Reading server-sent events, as a client of `POST /chat` with `"stream": true` does."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


def events(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """(event name, parsed JSON data) for each event of a stream of lines (without their newlines)."""
    name, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


def parse(body: str) -> list[tuple[str, Any]]:
    """Every event of a whole body."""
    return list(events(body.split("\n")))
