"""Attachment contents on disk, named by their SHA-256: ``<root>/ab/cd/abcd…``.

Content addressing makes a repeated upload free and a write idempotent; the ``attachments``
table holds names, types and links. A blob is written to a temporary file in the same folder
and renamed into place, so a reader never sees half a file, even across processes.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .database import data_dir

__all__ = ["Blob", "BlobStore", "BlobTooLarge"]

_CHUNK = 1 << 16
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobTooLarge(ValueError):
    """The upload exceeded the size limit; nothing was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"file is larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Blob:
    """A stored blob: its SHA-256 (hex) and size in bytes."""

    sha256: str
    size: int


class _Writer:
    """Hashes and writes chunks to a temporary file, then renames it into place."""

    def __init__(self, store: BlobStore, max_size: int | None) -> None:
        self.store = store
        self.max_size = max_size
        self.hash = hashlib.sha256()
        self.size = 0
        store.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".upload-", dir=store.root)
        self.tmp = Path(name)
        self.file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.max_size is not None and self.size > self.max_size:
            raise BlobTooLarge(self.max_size)
        self.hash.update(chunk)
        self.file.write(chunk)

    def finish(self) -> Blob:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        digest = self.hash.hexdigest()
        target = self.store.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.tmp, target)
        return Blob(digest, self.size)

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


class BlobStore:
    """Content-addressed files under ``root`` (default ``<data dir>/blobs``)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else data_dir() / "blobs"

    def path(self, sha256: str) -> Path:
        """Where the blob lives; ``ValueError`` for anything but a lowercase hex SHA-256."""
        if not _SHA256.match(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        """Read a stored blob; ``FileNotFoundError`` when it is not there."""
        return self.path(sha256).open("rb")

    def put(self, data: bytes | BinaryIO | Iterable[bytes], max_size: int | None = None) -> Blob:
        """Store bytes, a binary file or an iterable of chunks; returns its digest and size."""
        writer = _Writer(self, max_size)
        try:
            if isinstance(data, bytes | bytearray):
                writer.write(bytes(data))
            elif hasattr(data, "read"):
                while chunk := data.read(_CHUNK):
                    writer.write(chunk)
            else:
                for chunk in data:
                    writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()

    async def put_stream(self, chunks: AsyncIterable[bytes], max_size: int | None = None) -> Blob:
        """Store an upload as it arrives (e.g. a request body stream)."""
        writer = _Writer(self, max_size)
        try:
            async for chunk in chunks:
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()

    def delete(self, sha256: str) -> bool:
        """Remove a blob no attachment row names any more; False when it was not there."""
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            return False
        return True
