"""The docstore: every chunk's text and metadata, in index order, read one chunk at a time.

    docstore.jsonl  one JSON record per line: {"source", "title", "headings", "position", "text"}
    docstore.npz    offsets (int64, chunks + 1: where each line starts, the last is the file's size),
                    document (int32 per chunk: its source's place in `sources`),
                    sources (the distinct sources in order of first chunk, a JSON list as UTF-8)

Loading parses only the small `.npz`; a chunk's line is parsed when it is asked for, and ranking
by document needs only the int32 array. Shards concatenate: the `.jsonl` files byte for byte, the
offsets shifted by the preceding files' sizes, the sources tables appended and the document numbers
shifted (or mapped, for a source two shards share). Models trained before this format keep one JSON
document, `docstore.json` (`{"format": 1, "chunks": [...]}`), which loads into the same interface.
"""

from __future__ import annotations

import io
import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from zipfile import BadZipFile

import numpy as np

from cdgpt.errors import ModelDamaged

LEGACY_FORMAT = 1
PARSED_KEPT = 4096  # parsed chunks kept per docstore (the same dict object while it stays)


class DocstoreError(ValueError):
    """The files are not a docstore (damaged, or not belonging together)."""


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # json.dumps would build one a call


def _encode(record: dict[str, Any]) -> bytes:
    return _ENCODER.encode(record).encode() + b"\n"


class DocstoreWriter:
    """Chunks appended to a `.jsonl` file as they come; `finish` writes the `.npz` beside it."""

    def __init__(self, text_path: Path) -> None:
        self._handle = open(text_path, "wb")  # noqa: SIM115 (closed by finish)
        self._offsets = [0]
        self._document: list[int] = []
        self._sources: dict[str, int] = {}

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            line = _encode(record)
            self._handle.write(line)
            self._offsets.append(self._offsets[-1] + len(line))
            self._document.append(self._sources.setdefault(record["source"], len(self._sources)))

    def finish(self, index_path: Path) -> None:
        self._handle.close()
        sources = json.dumps(list(self._sources), ensure_ascii=False).encode()
        with open(index_path, "wb") as handle:
            np.savez(
                handle,
                offsets=np.array(self._offsets, dtype=np.int64),
                document=np.array(self._document, dtype=np.int32),
                sources=np.frombuffer(sources, dtype=np.uint8),
            )


class Docstore:
    """The chunks of a model: `docstore[i]` is chunk i's record (a dict), parsed on first use."""

    def __init__(
        self,
        document: np.ndarray,
        sources: list[str],
        text: Any = b"",
        offsets: np.ndarray | None = None,
        records: list[dict[str, Any]] | None = None,
        name: str = "",
    ) -> None:
        self.name = name  # the model's, for messages
        self.document = document  # int32: each chunk's index in `sources`
        self.sources = sources  # the distinct sources
        self._text = text  # bytes or a read-only mmap of the .jsonl
        self._offsets = offsets
        self._records = records  # a legacy docstore's chunks, all parsed
        self._parsed: OrderedDict[int, dict[str, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.document)

    def __getitem__(self, i: int) -> dict[str, Any]:
        i = int(i)
        if self._records is not None:
            return self._records[i]
        record = self._parsed.get(i)
        if record is None:
            if not 0 <= i < len(self) or self._offsets is None:
                raise IndexError(i)
            start, stop = int(self._offsets[i]), int(self._offsets[i + 1])
            try:
                record = _record(self._text[start:stop])
            except DocstoreError as exc:
                raise ModelDamaged(f"model {self.name!r} is damaged (chunk {i} cannot be read); retrain it") from exc
            self._parsed[i] = record
            while len(self._parsed) > PARSED_KEPT:
                self._parsed.popitem(last=False)
        return record

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield self[i]

    def source(self, i: int) -> str:
        return self.sources[int(self.document[i])]


def _record(line: bytes | str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise DocstoreError("a chunk's record is not JSON") from exc
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("text"), str)
        or not isinstance(record.get("source"), str)
        or not isinstance(record.get("title"), str)
        or not isinstance(headings := record.get("headings"), list)
        or not all(isinstance(heading, str) for heading in headings)
    ):
        raise DocstoreError("a chunk's record has no text, source, title or headings")
    return record


def read_docstore(text: Any, index: bytes, name: str = "") -> Docstore:
    """A docstore from its `.jsonl` (bytes or a read-only mmap) and its `.npz`; DocstoreError if they do not fit."""
    try:
        with np.load(io.BytesIO(index), allow_pickle=False) as arrays:
            offsets, document = arrays["offsets"], arrays["document"]
            sources = json.loads(arrays["sources"].tobytes())
    except (ValueError, KeyError, OSError, EOFError, BadZipFile) as exc:
        raise DocstoreError("the docstore's index cannot be read") from exc
    n = len(document)
    sound = (
        offsets.dtype == np.int64
        and document.dtype == np.int32
        and offsets.shape == (n + 1,)
        and offsets[0] == 0
        and offsets[-1] == len(text)
        and bool(np.all(np.diff(offsets) > 0))
        and isinstance(sources, list)
        and all(isinstance(s, str) for s in sources)
        and (not n or (document.min() >= 0 and document.max() < len(sources)))
    )
    if not sound:
        raise DocstoreError("the docstore's index does not match its text")
    return Docstore(document, sources, text, offsets, name=name)


def read_legacy_docstore(data: bytes, name: str = "") -> Docstore:
    """A model's `docstore.json` from before the line format, in the same interface."""
    try:
        chunks = json.loads(data)["chunks"]
        if not isinstance(chunks, list):
            raise TypeError("chunks must be a list")
        if not all(
            isinstance(c, dict) and isinstance(c.get("text"), str) and isinstance(c.get("source"), str) for c in chunks
        ):
            raise TypeError("chunks must be records with a text and a source")
    except (ValueError, KeyError, TypeError) as exc:
        raise DocstoreError("the docstore cannot be read") from exc
    sources: dict[str, int] = {}
    document = np.array([sources.setdefault(c["source"], len(sources)) for c in chunks], dtype=np.int32)
    return Docstore(document, list(sources), records=chunks, name=name)
