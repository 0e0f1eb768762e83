"""Local files and folders, confined to the configured source root."""

from __future__ import annotations

import os
import stat
from functools import partial
from pathlib import Path

from cdgpt.errors import PayloadTooLarge, SourceFailed, SourceRefused
from cdgpt.ingest.sources import RawDocument, SourceDocument, is_hidden
from cdgpt.settings import Settings


def _why(exc: OSError | RuntimeError) -> str:
    """Why a path cannot be resolved (Python 3.12 reports a symlink loop as a RuntimeError)."""
    return "a symlink loop" if isinstance(exc, RuntimeError) else (exc.strerror or type(exc).__name__)


def confine(entry: str, root: Path) -> Path:
    """Resolve entry (relative to root, or absolute) and refuse anything that leaves root or is hidden."""
    root = root.resolve()
    try:
        path = (root / entry).resolve()  # resolves `..` and symlinks
    except (OSError, RuntimeError) as exc:
        raise SourceFailed(f"cannot resolve {entry!r}: {_why(exc)}") from exc
    if not path.is_relative_to(root):
        raise SourceRefused(f"path {entry!r} is outside the source root (CDGPT_SOURCE_ROOT)")
    if is_hidden(path.relative_to(root).as_posix()):
        raise SourceRefused(f"path {entry!r} is a hidden file or folder")
    return path


def _folder(path: Path | str) -> str:
    """The path as the beginning of the paths inside it."""
    return str(path).rstrip("/") + "/"


def _read(path: Path, source: str, limit: int, root: Path) -> RawDocument:
    """The file at `path` (resolved when it was listed, inside `root`), opened a folder at a time from the
    root without following a symlink, so a folder or file swapped for one since then is not read; and only
    a regular file of at most `limit` bytes (no device, no pipe)."""
    try:
        with os.fdopen(_open_beneath(root, path.relative_to(root)), "rb") as file:
            found = os.fstat(file.fileno())
            if not stat.S_ISREG(found.st_mode):
                raise SourceFailed(f"{source} is not a regular file")
            content = file.read(limit + 1)
    except OSError as exc:
        raise SourceFailed(f"cannot read {source}: {exc.strerror or type(exc).__name__}") from exc
    if len(content) > limit:
        raise PayloadTooLarge(f"{source} is larger than the {limit}-byte limit")
    located = path.relative_to(root).as_posix()
    return RawDocument(source=source, content=content, content_type=None, name=path.name, located=located)


def _open_beneath(root: Path, relative: Path) -> int:
    """A descriptor of root/relative, every part of it opened without following a symlink."""
    *folders, name = relative.parts
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in folders:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            os.close(folder)
            folder = inner
        return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
    finally:
        os.close(folder)


def _unreadable(reason: str) -> RawDocument:
    raise SourceFailed(reason)


def _stores(settings: Settings) -> tuple[str, ...]:
    """The folders of the models' own files (other models' text, jobs, keys, downloads), as path beginnings."""
    return tuple(_folder(folder.resolve()) for folder in (settings.data_dir, settings.cache_dir))


def expand_local(entry: str, settings: Settings) -> list[SourceDocument]:
    if settings.source_root is None:
        raise SourceRefused("local paths are disabled: set CDGPT_SOURCE_ROOT to allow a folder")
    limit = settings.max_source_bytes
    root = settings.source_root.resolve()
    path = confine(entry, root)
    stores = _stores(settings)
    if _folder(path).startswith(stores):
        raise SourceRefused(f"path {entry!r} is in the models' own folder (CDGPT_DATA_DIR or CDGPT_CACHE_DIR)")
    try:
        is_file, is_dir = path.is_file(), path.is_dir()
    except OSError as exc:  # a name too long, a permission denied on the way
        raise SourceFailed(f"cannot read {entry}: {_why(exc)}") from exc
    if is_file:
        return [SourceDocument(entry, partial(_read, path, entry, limit, root))]
    if not is_dir:
        what = (
            "not a file or folder" if path.exists() else "no such file or folder in the source root (CDGPT_SOURCE_ROOT)"
        )
        raise SourceFailed(f"{what}: {entry}")
    documents = []
    try:
        files = sorted(path.rglob("*"))
    except OSError as exc:
        raise SourceFailed(f"cannot list {entry}: {exc.strerror or type(exc).__name__}") from exc
    # In strings: pathlib's relative_to and resolve cost more than reading a small file. Only a symlink
    # is resolved; any other file is where its folder really is (resolved once per folder).
    inside, within, base = _folder(path), _folder(root), str(Path(entry))
    folders: dict[Path, Path] = {}  # each folder's real path
    for file in files:
        relative = str(file)[len(inside) :]
        if is_hidden(relative):
            continue
        source = relative if base == "." else _folder(base) + relative
        try:
            if file.is_symlink():
                real = file.resolve()
            else:
                folder = folders.get(file.parent) or folders.setdefault(file.parent, file.parent.resolve())
                real = folder / file.name
            # files only; a link out of the root is listed, refused; none hidden by its target's name
            if not real.is_file():
                continue
            if not str(real).startswith(within):
                documents.append(SourceDocument(source, partial(_unreadable, "a link to outside the source root")))
                continue
            if is_hidden(str(real)[len(within) :]) or str(real).startswith(stores):  # not a source: other models
                continue
        except (OSError, RuntimeError) as exc:  # a symlink loop, a target name too long: this entry fails alone
            documents.append(SourceDocument(source, partial(_unreadable, f"cannot resolve the path: {_why(exc)}")))
            continue
        documents.append(SourceDocument(source, partial(_read, real, source, limit, root)))
        if len(documents) > settings.max_prefix_objects:
            raise PayloadTooLarge(f"more than {settings.max_prefix_objects} files under {entry}")
    if not documents:
        raise SourceFailed(f"no files under {entry}")
    return documents
