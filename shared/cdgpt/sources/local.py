"""Local files and folders, confined to the configured source root."""

from __future__ import annotations

from pathlib import Path

from ..errors import PayloadTooLarge, SourceFailed, SourceRefused
from ..settings import Settings
from . import RawDocument


def confine(entry: str, root: Path) -> Path:
    """Resolve entry (relative to root, or absolute) and refuse anything that leaves root."""
    root = root.resolve()
    path = (root / entry).resolve()  # resolves `..` and symlinks
    if not path.is_relative_to(root):
        raise SourceRefused(f"path {entry!r} is outside the source root")
    return path


def _read(path: Path, source: str, limit: int) -> RawDocument:
    try:
        if path.stat().st_size > limit:
            raise PayloadTooLarge(f"{source} is larger than the {limit}-byte limit")
        content = path.read_bytes()
    except OSError as exc:
        raise SourceFailed(f"cannot read {source}: {exc.strerror or type(exc).__name__}") from exc
    return RawDocument(source=source, content=content, content_type=None, name=path.name)


def _hidden(relative: Path) -> bool:
    """Dot-files and anything in a dot-folder (.git/, .env) are not documents."""
    return any(part.startswith(".") for part in relative.parts)


def read_local(entry: str, settings: Settings) -> list[RawDocument]:
    if settings.source_root is None:
        raise SourceRefused("local paths are disabled: set CDGPT_SOURCE_ROOT to allow a folder")
    path = confine(entry, settings.source_root)
    if path.is_file():
        return [_read(path, entry, settings.max_source_bytes)]
    if not path.is_dir():
        raise SourceFailed(f"no such file or folder: {entry}")
    root = settings.source_root.resolve()
    files = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path)))
    if len(files) > settings.max_prefix_objects:
        raise PayloadTooLarge(f"more than {settings.max_prefix_objects} files under {entry}")
    docs = []
    for file in files:
        real = file.resolve()
        if not real.is_relative_to(root):
            continue  # a symlink pointing out of the root
        docs.append(_read(real, str(Path(entry) / file.relative_to(path)), settings.max_source_bytes))
    if not docs:
        raise SourceFailed(f"no files under {entry}")
    return docs
