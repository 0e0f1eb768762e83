"""The docstore artifact: every chunk's text and metadata, in index order, as one JSON document."""

from __future__ import annotations

import json
from typing import Any

from cdgpt.errors import ModelDamaged

FORMAT = 1


def docstore_to_bytes(chunks: list[dict[str, Any]]) -> bytes:
    return json.dumps({"format": FORMAT, "chunks": chunks}, ensure_ascii=False, separators=(",", ":")).encode()


def docstore_from_bytes(data: bytes, model_name: str) -> list[dict[str, Any]]:
    """The chunks; ModelDamaged when the bytes are not a docstore of this format."""
    try:
        chunks = json.loads(data)["chunks"]
        if not isinstance(chunks, list) or not all(
            isinstance(c, dict) and isinstance(c.get("text"), str) for c in chunks
        ):
            raise TypeError("chunks must be objects with a text")
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelDamaged(f"model {model_name!r} is damaged (its docstore cannot be read); retrain it") from exc
    return chunks
