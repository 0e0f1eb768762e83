"""Arrays of an uncompressed `.npz` (what `np.savez` writes) used in place: each array is a view of the
buffer holding the file (bytes, or a memory-mapped file), so loading copies nothing and a query reads
only the pages it touches. Like `np.load(..., allow_pickle=False)`, object arrays are refused."""

from __future__ import annotations

import io
import struct
import zipfile
from typing import Any

import numpy as np

LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., file name length, extra field length


def read_npz(buffer: Any) -> dict[str, np.ndarray]:
    """{name: array} viewing `buffer`; ValueError when it is not an uncompressed .npz of plain arrays."""
    view = memoryview(buffer)
    try:
        members = zipfile.ZipFile(_Reader(view)).infolist()  # reads the directory only
    except zipfile.BadZipFile as exc:
        raise ValueError("not an .npz file") from exc
    arrays = {}
    for member in members:
        if member.compress_type != zipfile.ZIP_STORED or not member.filename.endswith(".npy"):
            raise ValueError(f"unexpected member {member.filename!r}")
        if not 0 <= member.header_offset <= len(view) - LOCAL_HEADER.size:
            raise ValueError("an .npz member is out of bounds")
        signature, name_length, extra_length = LOCAL_HEADER.unpack_from(view, member.header_offset)
        if signature != b"PK\x03\x04":
            raise ValueError("damaged .npz member")
        start = member.header_offset + LOCAL_HEADER.size + name_length + extra_length
        if start + member.file_size > len(view):
            raise ValueError("an .npz member is out of bounds")
        arrays[member.filename[:-4]] = _array(view[start : start + member.file_size])
    return arrays


class _Reader(io.RawIOBase):
    """A seekable file over a buffer, without copying it."""

    def __init__(self, view: memoryview) -> None:
        self.view, self.position = view, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: len(self.view)}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, target: Any) -> int:
        count = max(0, min(len(target), len(self.view) - self.position))
        target[:count] = self.view[self.position : self.position + count]
        self.position += count
        return count


def _array(data: memoryview) -> np.ndarray:
    handle = io.BytesIO(data[:65536].tobytes())
    version = np.lib.format.read_magic(handle)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(handle)
    if dtype.hasobject or fortran:
        raise ValueError("object or Fortran-ordered arrays are refused")
    count = int(np.prod(shape, dtype=np.int64))
    start = handle.tell()
    if start + count * dtype.itemsize != len(data):
        raise ValueError("an array's size does not match its member")
    return np.frombuffer(data, dtype=dtype, count=count, offset=start).reshape(shape)
