"""Zip packages (Office Open XML, OpenDocument, EPUB), opened only within bounds.

The member count, the unpacked size and the compression ratio are checked from the zip's directory
before anything is read; zipfile never unpacks a member past its declared size (a member that lies
fails its CRC), so the declared sizes bound the work. XML parts are parsed by `safexml`.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
import zlib
from io import BytesIO
from typing import Any
from urllib.parse import unquote

from cdgpt.errors import SourceFailed
from cdgpt.ingest.safexml import attr, local, parse_xml
from cdgpt.limits import MAX_ARCHIVE_BYTES, MAX_ARCHIVE_MEMBERS, MAX_ARCHIVE_RATIO, MAX_XML_PART_BYTES

RATIO_FLOOR = 16 * 1024 * 1024  # small packages may compress as well as they like
MB = 1024 * 1024
XML_PARTS = (".xml", ".rels", ".xhtml", ".html", ".htm", ".opf", ".ncx")


class Archive:
    def __init__(self, content: bytes, name: str) -> None:
        self.name = name
        try:
            self.zip = zipfile.ZipFile(BytesIO(content))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise SourceFailed(f"{name} is damaged (not a readable zip package)") from exc
        if len(infos) > MAX_ARCHIVE_MEMBERS:
            raise SourceFailed(f"{name} holds more than {MAX_ARCHIVE_MEMBERS} files")
        unpacked = sum(info.file_size for info in infos)
        if unpacked > MAX_ARCHIVE_BYTES:
            raise SourceFailed(f"{name} unpacks to more than {MAX_ARCHIVE_BYTES // MB} MB")
        if unpacked > RATIO_FLOOR and unpacked > MAX_ARCHIVE_RATIO * len(content):
            raise SourceFailed(f"{name} is compressed more than {MAX_ARCHIVE_RATIO} to 1 (a zip bomb?)")
        for info in infos:  # checked up front too, for openpyxl, which unpacks parts itself
            if info.filename.lower().endswith(XML_PARTS) and info.file_size > MAX_XML_PART_BYTES:
                raise SourceFailed(f"{name}: {info.filename} is larger than {MAX_XML_PART_BYTES // MB} MB")
        self.members = {info.filename: info for info in infos}

    def has(self, member: str) -> bool:
        return member in self.members

    def read(self, member: str) -> bytes:
        info = self.members.get(member)
        if info is None:
            raise SourceFailed(f"{self.name} is damaged: {member} is missing")
        if info.flag_bits & 0x1:
            raise SourceFailed(f"{self.name} is password-protected")
        if info.file_size > MAX_XML_PART_BYTES:
            raise SourceFailed(f"{self.name}: {member} is larger than {MAX_XML_PART_BYTES // MB} MB")
        try:
            return self.zip.read(info)
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
            raise SourceFailed(f"{self.name} is damaged: {member} cannot be unpacked") from exc

    def xml(self, member: str) -> Any:
        return parse_xml(self.read(member), f"{self.name} ({member})")

    def relationships(self, part: str) -> dict[str, tuple[str, str]]:
        """An OOXML part's relationships: {id: (type, target part)}; the type is the URI's last segment."""
        folder, file = posixpath.split(part)
        rels = posixpath.join(folder, "_rels", f"{file}.rels")
        if not self.has(rels):
            return {}
        found = {}
        for rel in self.xml(rels):
            target, kind, rid = attr(rel, "Target"), attr(rel, "Type"), attr(rel, "Id")
            if local(rel) == "Relationship" and target and kind and rid and attr(rel, "TargetMode") != "External":
                found[rid] = (kind.rsplit("/", 1)[-1], resolve(folder, target))
        return found

    def main_part(self, default: str) -> str:
        """The package's main document, as its root relationships name it."""
        for kind, target in self.relationships("").values():
            if kind == "officeDocument" and self.has(target):
                return target
        return default


DEFAULT_TITLE = re.compile(
    r"(?:(?:powerpoint )?presentation|(?:word )?document|slide \d+|title|untitled|microsoft (?:word|powerpoint) - .*)",
    re.IGNORECASE,
)


def resolve(folder: str, target: str) -> str:
    """A relative (or package-absolute) link inside the package as a member name; never above the root."""
    target = unquote(target.split("#", 1)[0])
    path = posixpath.normpath(target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target))
    return "" if path.startswith("../") or path == ".." else path.removeprefix("./")


def core_title(package: Archive) -> str | None:
    """The title in an OOXML package's document properties (docProps/core.xml), if set and not a
    template's ("PowerPoint Presentation", "Microsoft Word - memo.doc")."""
    if not package.has("docProps/core.xml"):
        return None
    for element in package.xml("docProps/core.xml"):
        if local(element) == "title" and element.text and element.text.strip():
            title = " ".join(element.text.split())
            return None if DEFAULT_TITLE.fullmatch(title) else title
    return None


def package_kind(content: bytes) -> str | None:
    """docx, pptx, xlsx, odt or epub for a zip package of that kind; None for anything else. The caller
    has seen the zip signature at the start (`ZIP_MAGIC`): a file with a zip appended is not a package."""
    try:
        with zipfile.ZipFile(BytesIO(content)) as package:
            names = package.namelist()
            with package.open("mimetype") if "mimetype" in names else BytesIO() as first:
                mimetype = first.read(100)  # bounded: the member is not trusted yet
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, OSError, ValueError, EOFError):
        return None
    if mimetype.startswith(b"application/epub+zip"):
        return "epub"
    if mimetype.startswith(b"application/vnd.oasis.opendocument.text"):
        return "odt"
    if "[Content_Types].xml" in names:
        for folder, kind in (("word/", "docx"), ("ppt/", "pptx"), ("xl/", "xlsx")):
            if any(n.startswith(folder) for n in names):
                return kind
    return None


def inherited[V](own: dict[str, V | None], parents: dict[str, str]) -> dict[str, V]:
    """Each style's value: its own, else that of its nearest ancestor (by `parents`) that has one."""
    found: dict[str, V] = {}
    for name in own:
        current: str | None = name
        for _ in range(10):  # a short chain; loops end here
            if current is None or own.get(current) is not None:
                break
            current = parents.get(current)
        if current is not None and (value := own.get(current)) is not None:
            found[name] = value
    return found
